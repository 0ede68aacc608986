//! The `Actor` extractor: `Authorization: Bearer ot_…` → the authenticated actor, or 401.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::state::AppState;
use crate::domain::actor::Actor;
use crate::service::ServiceError;
use crate::service::auth::{authenticate, looks_like_token};

impl FromRequestParts<AppState> for Actor {
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
            .filter(|t| looks_like_token(t))
            .ok_or_else(|| {
                ServiceError::unauthenticated(
                    "Authorization 头应为 Bearer ot_… / expected Authorization: Bearer ot_…",
                )
            })?;
        authenticate(state, token)
    }
}
