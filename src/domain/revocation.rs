//! Why a certificate was revoked (the reasons of RFC 5280, as far as they apply here).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    KeyCompromise,
    Superseded,
    CessationOfOperation,
    HolderRequest,
    IssuedInError,
}
