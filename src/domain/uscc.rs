//! 统一社会信用代码 (Unified Social Credit Code, GB 32100-2015).

use std::fmt;
use utoipa::ToSchema;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// The 31 characters a USCC may use: digits and capitals without I, O, Z, S, V.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A USCC whose length, alphabet and MOD 31 check character are right.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Uscc(String);

impl Uscc {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let code = input.trim().to_ascii_uppercase();
        if code.len() != 18 {
            return Err(ParseError::new(
                "uscc_length",
                "统一社会信用代码应为18位 / a USCC has 18 characters",
            ));
        }
        let values = code
            .bytes()
            .map(|b| ALPHABET.iter().position(|&a| a == b))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ParseError::new(
                    "uscc_character",
                    "统一社会信用代码含有不允许的字符 / a USCC uses digits and capitals except I, O, Z, S, V",
                )
            })?;
        let sum: u32 = values[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(&v, w)| v as u32 * w)
            .sum();
        let expected = ((31 - sum % 31) % 31) as usize;
        if values[17] != expected {
            return Err(ParseError::new(
                "uscc_check_character",
                format!(
                    "统一社会信用代码校验位错误，应为 {} / the USCC check character should be {}",
                    ALPHABET[expected] as char, ALPHABET[expected] as char
                ),
            ));
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Uscc {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Uscc> for String {
    fn from(value: Uscc) -> Self {
        value.0
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_published_codes() {
        for code in [
            "11430000006122244L",
            "11100000000013338W",
            "91350100M000100Y43",
            "91110108558521630L",
        ] {
            assert_eq!(Uscc::parse(code).unwrap().as_str(), code);
        }
    }

    #[test]
    fn normalises_case_and_spaces() {
        assert_eq!(
            Uscc::parse(" 91350100m000100y43 ").unwrap().as_str(),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn rejects_wrong_check_character() {
        let err = Uscc::parse("91350100M000100Y44").unwrap_err();
        assert_eq!(err.code, "uscc_check_character");
        assert!(err.message.contains('3'));
    }

    #[test]
    fn rejects_wrong_length_and_alphabet() {
        assert_eq!(Uscc::parse("9135").unwrap_err().code, "uscc_length");
        assert_eq!(Uscc::parse("").unwrap_err().code, "uscc_length");
        assert_eq!(
            Uscc::parse("91350100M000100I43").unwrap_err().code,
            "uscc_character"
        );
        assert_eq!(
            Uscc::parse("9135010０M000100Y4").unwrap_err().code,
            "uscc_length"
        );
    }
}
