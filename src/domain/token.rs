//! What is kept of an API token: never the token itself (the store keys the record by the
//! token's SHA-256), only who it speaks for and when it was made or revoked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DepartmentCode, Role, TokenId};

/// What the store keeps of an API token: never the token itself, only its hash (the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenRecord {
    pub id: TokenId,
    pub role: Role,
    pub department: Option<DepartmentCode>,
    pub holder: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}
