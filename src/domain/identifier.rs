//! The certificate identifier, shaped like the national electronic-licence identifier
//! (GB/T 36904): `<root>.<type code>.<authority code>.<sequence>.<version>.<check>`.

use std::fmt;
use utoipa::ToSchema;

use serde::{Deserialize, Serialize};

use super::ParseError;

const MOD37_36_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// ISO/IEC 7064 MOD 37,36 (hybrid system) check character over `0-9A-Z`, or `None` if the
/// input holds any other character.
pub fn mod37_36(input: &str) -> Option<char> {
    const M: usize = 36;
    let mut p = M;
    for b in input.bytes() {
        let value = MOD37_36_ALPHABET.iter().position(|&a| a == b)?;
        let mut s = (p + value) % M;
        if s == 0 {
            s = M;
        }
        p = (s * 2) % (M + 1);
    }
    Some(MOD37_36_ALPHABET[(M + 1 - p) % M] as char)
}

/// A parsed and checked identifier. The sequence is the year followed by a 7-digit serial.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Identifier(String);

impl Identifier {
    /// Builds the identifier for `serial` (1-based, per year) and computes its check character.
    pub fn new(
        root: &str,
        type_code: &str,
        authority: &str,
        year: i32,
        serial: u64,
        version: u16,
    ) -> Result<Self, ParseError> {
        let body = format!("{type_code}.{authority}.{year:04}{serial:07}.{version:03}");
        let check = mod37_36(&body.replace('.', "")).ok_or_else(|| {
            ParseError::new(
                "invalid_identifier",
                "type and authority codes must be digits and capitals",
            )
        })?;
        Self::parse(&format!("{root}.{body}.{check}"))
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let invalid = |message: &'static str| ParseError::new("invalid_identifier", message);
        let parts: Vec<&str> = input.rsplitn(6, '.').collect();
        let [check, version, sequence, authority, type_code, root] = parts[..] else {
            return Err(invalid(
                "证照标识应有六段 / an identifier has six dot-separated segments",
            ));
        };
        let root_ok = !root.is_empty()
            && root
                .split('.')
                .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        if !root_ok {
            return Err(invalid(
                "证照标识根应为数字 OID / the root is a numeric OID",
            ));
        }
        if version.len() != 3 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("版本号应为3位数字 / the version is three digits"));
        }
        if sequence.len() != 11 || !sequence.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "顺序号应为年份加7位序号 / the sequence is a year and 7 digits",
            ));
        }
        if type_code.len() != 21 || authority.len() != 18 {
            return Err(invalid(
                "证照类型代码或颁证机构代码长度错误 / a type or authority code has the wrong length",
            ));
        }
        let expected = mod37_36(&format!("{type_code}{authority}{sequence}{version}"))
            .ok_or_else(|| invalid("代码只能含数字和大写字母 / codes are digits and capitals"))?;
        if check.len() != 1 || !check.starts_with(expected) {
            return Err(invalid(
                "证照标识校验位错误 / the identifier's check character is wrong",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The version segment: 1 for a first issue, one more for each version that replaced it.
    pub fn version(&self) -> u16 {
        self.segments().4.parse().unwrap_or(1)
    }

    /// The identifier of the next version (GB/T 36904 keeps the sequence and raises the
    /// version segment), with its own check character; `None` past version 999.
    pub fn next_version(&self) -> Option<Self> {
        let (root, type_code, authority, sequence, version) = self.segments();
        let next: u16 = version.parse::<u16>().ok()?.checked_add(1)?;
        if next > 999 {
            return None;
        }
        let body = format!("{type_code}.{authority}.{sequence}.{next:03}");
        let check = mod37_36(&body.replace('.', ""))?;
        Self::parse(&format!("{root}.{body}.{check}")).ok()
    }

    /// (root, type code, authority, sequence, version) of an identifier that parsed.
    fn segments(&self) -> (&str, &str, &str, &str, &str) {
        let mut parts = self.0.rsplitn(6, '.').skip(1);
        let mut next = || parts.next().unwrap_or_default();
        let (version, sequence, authority, type_code, root) =
            (next(), next(), next(), next(), next());
        (root, type_code, authority, sequence, version)
    }
}

impl TryFrom<String> for Identifier {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Identifier> for String {
    fn from(value: Identifier) -> Self {
        value.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISHED: &str =
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";

    #[test]
    fn published_identifier_has_check_character_u() {
        assert_eq!(
            mod37_36(
                "11100000000013338W0111143000000612224 4L20230000403001"
                    .replace(' ', "")
                    .as_str()
            ),
            Some('U')
        );
        let built = Identifier::new(
            "1.2.156.3005.2",
            "11100000000013338W011",
            "11430000006122244L",
            2023,
            403,
            1,
        )
        .unwrap();
        assert_eq!(built.as_str(), PUBLISHED);
        assert_eq!(Identifier::parse(PUBLISHED).unwrap(), built);
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let body = "11100000000013338W0111143000000612224 4L20230000403001".replace(' ', "");
        for (i, original) in body.char_indices() {
            for replacement in MOD37_36_ALPHABET.iter().map(|&b| b as char) {
                if replacement == original {
                    continue;
                }
                let mut changed = body.clone();
                changed.replace_range(i..i + 1, &replacement.to_string());
                assert_ne!(mod37_36(&changed), Some('U'), "{changed}");
            }
        }
    }

    #[test]
    fn each_next_version_keeps_the_sequence_and_has_a_valid_check_character() {
        let first = Identifier::parse(PUBLISHED).unwrap();
        assert_eq!(first.version(), 1);
        let second = first.next_version().unwrap();
        let third = second.next_version().unwrap();
        assert_eq!(
            third.as_str()[..PUBLISHED.len() - 6],
            PUBLISHED[..PUBLISHED.len() - 6]
        );
        assert!(third.as_str().contains(".20230000403.003."));
        assert_eq!((second.version(), third.version()), (2, 3));
        assert_eq!(Identifier::parse(third.as_str()).unwrap(), third);
        let last = Identifier::new(
            "1.2.156.3005.2",
            "11100000000013338W011",
            "11430000006122244L",
            2023,
            403,
            999,
        )
        .unwrap();
        assert_eq!(last.next_version(), None);
    }

    #[test]
    fn rejects_malformed_identifiers() {
        for bad in [
            "",
            "1.2.3",
            &PUBLISHED.replace(".U", ".V"),
            &PUBLISHED.replace(".001.", ".01."),
            &PUBLISHED.replace("1.2.156", "x.2.156"),
            &PUBLISHED.replace("20230000403", "2023000403"),
            &PUBLISHED.replace(".U", ".UU"),
            &PUBLISHED.replace("W011", "w011"),
        ] {
            assert!(Identifier::parse(bad).is_err(), "{bad}");
        }
    }
}
