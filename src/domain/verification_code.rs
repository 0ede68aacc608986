//! The verification code (核验码) printed beside the QR code, for people who type instead of
//! scan: 80 random bits as 16 characters of Crockford base32, shown in four groups
//! (`XK7M-2QPD-9VTR-4HWB`).
//!
//! Crockford's alphabet has no `I`, `L`, `O` or `U`, so what a person reads aloud or retypes
//! survives: input is case-insensitive, dashes and spaces are ignored, and `O` reads as `0`,
//! `I` and `L` as `1`. Eighty random bits cannot be enumerated: at a million guesses a second
//! against a million issued codes, finding any one takes about 38 years on average.

use std::fmt;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use super::ParseError;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LEN: usize = 16;
const GROUP: usize = 4;

/// A well-formed code, held in its canonical form (16 characters, no dashes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VerificationCode(String);

impl VerificationCode {
    /// A fresh code from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 10];
        OsRng.fill_bytes(&mut bytes);
        let bits = bytes
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        let code = (0..LEN)
            .rev()
            .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 0x1F) as usize]))
            .collect();
        Self(code)
    }

    /// Reads a code as a person typed it: any case, with or without dashes or spaces,
    /// `O`/`I`/`L` for `0`/`1`/`1`.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let invalid = || {
            ParseError::new(
                "invalid_code",
                "核验码为16位字母或数字 / a verification code is 16 letters or digits, like XK7M-2QPD-9VTR-4HWB",
            )
        };
        let mut code = String::with_capacity(LEN);
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' | '\u{3000}' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => return Err(invalid()),
            };
            if code.len() == LEN {
                return Err(invalid());
            }
            code.push(c);
        }
        if code.len() != LEN {
            return Err(invalid());
        }
        Ok(Self(code))
    }

    /// The canonical form, as stored and indexed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The printed form, in groups of four: `XK7M-2QPD-9VTR-4HWB`.
impl fmt::Display for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.0.as_bytes().chunks(GROUP).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl TryFrom<String> for VerificationCode {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// Serialised in its printed form, so records and the canonical digest show what is printed.
impl From<VerificationCode> for String {
    fn from(value: VerificationCode) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_16_characters_of_the_alphabet_and_differ() {
        let a = VerificationCode::generate();
        let b = VerificationCode::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(a.to_string().len(), 19);
        assert_eq!(VerificationCode::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn every_accepted_spelling_reads_the_same_code() {
        let code = VerificationCode::parse("XK7M-2QPD-9VTR-4HWB").unwrap();
        assert_eq!(code.to_string(), "XK7M-2QPD-9VTR-4HWB");
        for spelling in [
            "XK7M2QPD9VTR4HWB",
            "xk7m-2qpd-9vtr-4hwb",
            " XK7M 2QPD 9VTR 4HWB ",
            "XK7M-2QPD-9VTR-4HWB\u{3000}",
        ] {
            assert_eq!(
                VerificationCode::parse(spelling).unwrap(),
                code,
                "{spelling}"
            );
        }
        let confusable = VerificationCode::parse("1100-0000-0000-0000").unwrap();
        for spelling in ["IL0O-oooo-0000-0000", "il00 0000 0000 0000"] {
            assert_eq!(VerificationCode::parse(spelling).unwrap(), confusable);
        }
    }

    #[test]
    fn refuses_wrong_lengths_and_letters_outside_the_alphabet() {
        for bad in [
            "",
            "XK7M-2QPD-9VTR-4HW",
            "XK7M-2QPD-9VTR-4HWBX",
            "XK7M-2QPD-9VTR-4HWU",
            "XK7M_2QPD_9VTR_4HWB",
            "核验码核验码核验码核验码核验码核验",
        ] {
            assert!(VerificationCode::parse(bad).is_err(), "{bad}");
        }
    }
}
