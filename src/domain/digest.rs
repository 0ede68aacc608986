use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ParseError;

/// A SHA-256 digest, held as 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Digest(String);

impl Sha256Digest {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.len() != 64 || !input.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseError::new(
                "invalid_sha256",
                "SHA-256 摘要应为64位十六进制 / a SHA-256 digest is 64 hex characters",
            ));
        }
        Ok(Self(input.to_ascii_lowercase()))
    }

    pub fn from_hasher(hasher: Sha256) -> Self {
        Self(hex::encode(hasher.finalize()))
    }

    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest's bytes in base64url without padding (43 characters), as a token's `dig`.
    pub fn to_base64url(&self) -> String {
        use base64::Engine;
        let bytes = hex::decode(&self.0).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

impl TryFrom<String> for Sha256Digest {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sha256Digest> for String {
    fn from(value: Sha256Digest) -> Self {
        value.0
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_abc_matches_fips_180_example() {
        assert_eq!(
            Sha256Digest::of(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_lowercases_and_rejects_bad_input() {
        let upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        assert_eq!(
            Sha256Digest::parse(upper).unwrap(),
            Sha256Digest::of(b"abc")
        );
        assert!(Sha256Digest::parse(&upper[1..]).is_err());
        assert!(Sha256Digest::parse(&format!("{}g", &upper[1..])).is_err());
        assert!(Sha256Digest::parse("").is_err());
    }
}
