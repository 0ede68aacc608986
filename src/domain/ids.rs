use std::fmt;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ParseError;

/// Crockford base32: no I, L, O, U, so an id read aloud at a window is not misheard.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const SUBMISSION_RANDOM_LEN: usize = 12;

/// A submission id, `S` followed by 12 Crockford base32 characters (60 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct SubmissionId(String);

impl SubmissionId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SUBMISSION_RANDOM_LEN];
        OsRng.fill_bytes(&mut bytes);
        let mut id = String::with_capacity(1 + SUBMISSION_RANDOM_LEN);
        id.push('S');
        id.extend(bytes.iter().map(|b| CROCKFORD[(b & 31) as usize] as char));
        Self(id)
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let id = input.trim().to_ascii_uppercase();
        let valid = id.len() == 1 + SUBMISSION_RANDOM_LEN
            && id.starts_with('S')
            && id[1..].bytes().all(|b| CROCKFORD.contains(&b));
        if !valid {
            return Err(ParseError::new(
                "invalid_submission_id",
                "办件编号格式错误 / a submission id is S followed by 12 letters or digits",
            ));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SubmissionId {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SubmissionId> for String {
    fn from(value: SubmissionId) -> Self {
        value.0
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public, non-secret name of an API token (a prefix of its hash), used in audit events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct TokenId(pub String);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = SubmissionId::generate();
        let b = SubmissionId::generate();
        assert_ne!(a, b);
        assert_eq!(SubmissionId::parse(a.as_str()).unwrap(), a);
        assert_eq!(SubmissionId::parse(&a.as_str().to_lowercase()).unwrap(), a);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "S",
            "SABC",
            "X0123456789AB",
            "S0123456789AI",
            "S0123456789ABC",
        ] {
            assert!(SubmissionId::parse(bad).is_err(), "{bad}");
        }
    }
}
