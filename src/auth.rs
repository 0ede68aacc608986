//! API tokens and who is calling. A token is `ot_` + 43 base64url characters (256 random
//! bits); the store keys its record by the token's SHA-256, so a stolen store yields no
//! usable token. Looking a hash up in a B-tree leaks nothing about the token itself, so no
//! secret is ever compared byte by byte.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rand_core::{OsRng, RngCore};

use crate::domain::submission::Submission;
use crate::domain::{DepartmentCode, Role, Sha256Digest, TokenId};
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::store::TokenRecord;

const TOKEN_PREFIX: &str = "ot_";

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
        created_at: Utc::now(),
        revoked_at: None,
    };
    NewToken {
        secret,
        hash,
        record,
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenRecord);

impl Caller {
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// How the caller appears in audit events: `clerk:tok_1a2b3c4d5e6f`.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.0.role, self.0.id)
    }

    pub fn require(&self, allowed: &[Role]) -> Result<(), ServiceError> {
        if allowed.contains(&self.0.role) {
            return Ok(());
        }
        Err(ServiceError::forbidden(format!(
            "角色 {} 无权执行此操作 / the {} role may not do this",
            self.0.role, self.0.role
        )))
    }

    fn owns(&self, submission: &Submission) -> bool {
        self.0.role == Role::Applicant && self.0.holder.as_deref() == Some(submission.holder.id())
    }

    /// Owner, reviewer, clerk, approver and admin may read; another applicant may not.
    pub fn may_read(&self, submission: &Submission) -> Result<(), ServiceError> {
        match self.0.role {
            Role::Applicant if !self.owns(submission) => Err(not_yours()),
            _ => Ok(()),
        }
    }

    /// The owner or a clerk (or admin) may upload and submit.
    pub fn may_edit(&self, submission: &Submission) -> Result<(), ServiceError> {
        match self.0.role {
            Role::Clerk | Role::Admin => Ok(()),
            Role::Applicant if self.owns(submission) => Ok(()),
            Role::Applicant => Err(not_yours()),
            _ => self.require(&[Role::Applicant, Role::Clerk, Role::Admin]),
        }
    }
}

fn not_yours() -> ServiceError {
    ServiceError::forbidden("该办件不属于您的主体 / this submission belongs to another holder")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ServiceError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ServiceError::unauthenticated("需要 Bearer 令牌 / a Bearer token is required")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(TOKEN_PREFIX))
            .ok_or_else(|| {
                ServiceError::unauthenticated(
                    "Authorization 头应为 Bearer ot_… / expected Authorization: Bearer ot_…",
                )
            })?;
        let record = state
            .store
            .token(&Sha256Digest::of(token.as_bytes()))?
            .filter(|r| r.revoked_at.is_none())
            .ok_or_else(|| {
                ServiceError::unauthenticated("令牌无效或已吊销 / unknown or revoked token")
            })?;
        Ok(Caller(record))
    }
}
