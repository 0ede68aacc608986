//! API tokens and who is calling. A token is `ot_` + 43 base64url characters (256 random
//! bits); the store keys its record by the token's SHA-256, so a stolen store yields no
//! usable token. Looking a hash up in a B-tree leaks nothing about the token itself, so no
//! secret is ever compared byte by byte.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rand_core::{OsRng, RngCore};

use super::{ServiceError, Services};
use crate::domain::actor::Actor;
use crate::domain::token::TokenRecord;
use crate::domain::{DepartmentCode, Role, Sha256Digest, TokenId};

pub const TOKEN_PREFIX: &str = "ot_";

/// A freshly made token: the secret to show once, and the record to store under its hash.
pub struct NewToken {
    pub secret: String,
    pub hash: Sha256Digest,
    pub record: TokenRecord,
}

pub fn new_token(
    role: Role,
    department: Option<DepartmentCode>,
    holder: Option<String>,
    name: Option<String>,
) -> NewToken {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = Sha256Digest::of(secret.as_bytes());
    let record = TokenRecord {
        id: TokenId(format!("tok_{}", &hash.as_str()[..12])),
        role,
        department,
        holder,
        name,
        created_at: Utc::now(),
        revoked_at: None,
    };
    NewToken {
        secret,
        hash,
        record,
    }
}

/// The actor a stored token speaks for.
pub fn actor_of(record: &TokenRecord) -> Actor {
    Actor {
        token: record.id.clone(),
        role: record.role,
        department: record.department.clone(),
        holder: record.holder.clone(),
        name: record.name.clone(),
    }
}

/// Whether `secret` has the shape of one of our tokens (`ot_…`).
pub fn looks_like_token(secret: &str) -> bool {
    secret.starts_with(TOKEN_PREFIX)
}

/// The live (not revoked) token record behind `secret`, if any.
pub async fn live_token(
    services: &Services,
    secret: &str,
) -> Result<Option<TokenRecord>, ServiceError> {
    live_token_by_hash(services, &Sha256Digest::of(secret.as_bytes())).await
}

/// The live token record stored under `hash` (a console session keeps only the hash).
pub async fn live_token_by_hash(
    services: &Services,
    hash: &Sha256Digest,
) -> Result<Option<TokenRecord>, ServiceError> {
    Ok(services
        .store
        .token(hash)
        .await?
        .filter(|r| r.revoked_at.is_none()))
}

/// The actor behind a presented token, or 401.
pub async fn authenticate(services: &Services, secret: &str) -> Result<Actor, ServiceError> {
    live_token(services, secret)
        .await?
        .map(|record| actor_of(&record))
        .ok_or_else(|| ServiceError::unauthenticated("令牌无效或已吊销 / unknown or revoked token"))
}
