//! 公民身份号码 (citizen ID number, GB 11643-1999).

use std::fmt;
use utoipa::ToSchema;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::ParseError;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// An 18-character ID number with a real birth date and a correct MOD 11-2 check character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let id = input.trim().to_ascii_uppercase();
        let bytes = id.as_bytes();
        if bytes.len() != 18 {
            return Err(ParseError::new(
                "id_number_length",
                "公民身份号码应为18位 / an ID number has 18 characters",
            ));
        }
        if !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err(ParseError::new(
                "id_number_character",
                "公民身份号码前17位应为数字，末位为数字或X / 17 digits then a digit or X",
            ));
        }
        if NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").is_err() {
            return Err(ParseError::new(
                "id_number_birth_date",
                "公民身份号码中的出生日期无效 / the birth date inside the ID number is not a date",
            ));
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(&b, w)| u32::from(b - b'0') * w)
            .sum();
        let expected = CHECK[(sum % 11) as usize];
        if bytes[17] != expected {
            return Err(ParseError::new(
                "id_number_check_character",
                format!(
                    "公民身份号码校验位错误，应为 {} / the ID number check character should be {}",
                    expected as char, expected as char
                ),
            ));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form printed on certificates and put in tokens: region and check kept, birth date hidden.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

impl TryFrom<String> for IdNumber {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IdNumber> for String {
    fn from(value: IdNumber) -> Self {
        value.0
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_standard_example_and_lowercase_x() {
        assert_eq!(
            IdNumber::parse("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
        assert!(IdNumber::parse("330106199001011234").is_err());
        assert!(IdNumber::parse("33010619900101123X").is_ok());
    }

    #[test]
    fn masks_the_birth_date() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105********002X");
    }

    #[test]
    fn rejects_bad_input() {
        let code = |s: &str| IdNumber::parse(s).unwrap_err().code;
        assert_eq!(code("110105194912310021"), "id_number_check_character");
        assert_eq!(code("11010519491231002"), "id_number_length");
        assert_eq!(code("1101051949123100XX"), "id_number_character");
        assert_eq!(code("11010519491331002X"), "id_number_birth_date");
        assert_eq!(code("11010519490229002X"), "id_number_birth_date");
    }
}
