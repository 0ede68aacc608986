//! What is kept of an API token: never the token itself (the store keys the record by the
//! token's SHA-256), only who it speaks for and when it was made or revoked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::check_text;
use super::{DepartmentCode, ParseError, Role, TokenId};

/// The longest name a token's holder may be given (a person's name with their desk or office).
pub const PERSON_NAME_MAX_CHARS: usize = 40;

/// What the store keeps of an API token: never the token itself, only its hash (the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenRecord {
    pub id: TokenId,
    pub role: Role,
    pub department: Option<DepartmentCode>,
    pub holder: Option<String>,
    /// Whom the token was given to (王芳 · 3 号窗口): shown wherever it acted, in pages and on
    /// receipts, while events keep the token's id. Tokens made before names were kept have
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token holder's name as typed: trimmed, printable, at most [`PERSON_NAME_MAX_CHARS`].
pub fn person_name(input: &str) -> Result<String, ParseError> {
    let name = input.trim();
    check_text(name, PERSON_NAME_MAX_CHARS, "a person's name")
        .map_err(|e| ParseError::new("invalid_name", e.message))?;
    Ok(name.to_owned())
}
