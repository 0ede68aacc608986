//! The `Actor` extractor: `Authorization: Bearer ot_…` → the authenticated actor, or 401;
//! and whether a request comes from a signed-in caller at all (a live token or console
//! session), which decides the places it is admitted to (`routes::limits`); and that what a
//! caller with credentials is answered is not cached.

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use cookie::Cookie;

use super::state::AppState;
use crate::domain::Role;
use crate::domain::actor::Actor;
use crate::domain::token::TokenRecord;
use crate::service::ServiceError;
use crate::service::auth::{
    actor_of, authenticate, live_token, live_token_by_hash, looks_like_token,
};
use crate::service::sessions;

/// The window console's session cookie.
pub const SESSION_COOKIE: &str = "onetrip_console";

impl FromRequestParts<AppState> for Actor {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ServiceError> {
        if let Some(SignedInByToken(record)) = parts.extensions.get() {
            return Ok(actor_of(record));
        }
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ServiceError::unauthenticated("需要 Bearer 令牌 / a Bearer token is required")
        })?;
        let token = bearer(header).ok_or_else(|| {
            ServiceError::unauthenticated(
                "Authorization 头应为 Bearer ot_… / expected Authorization: Bearer ot_…",
            )
        })?;
        authenticate(state, token).await
    }
}

/// The token of an `Authorization: Bearer ot_…` header.
fn bearer(header: &HeaderValue) -> Option<&str> {
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| looks_like_token(t))
}

/// A live token's record, found when the request was admitted (`routes::limits`), so that
/// the [`Actor`] extractor does not look the token up again.
#[derive(Clone)]
struct SignedInByToken(TokenRecord);

/// The role of the live token or console session the request carries, if any; a live token's
/// record is kept on the request for the [`Actor`] extractor. A store that cannot answer
/// counts as not signed in: the request is then admitted as anyone's, and its own handler
/// reports the store.
pub async fn signed_in_role(state: &AppState, request: &mut Request) -> Option<Role> {
    let headers = request.headers();
    if let Some(token) = headers.get(AUTHORIZATION).and_then(bearer) {
        let record = live_token(state, token).await.ok().flatten()?;
        let role = record.role;
        request.extensions_mut().insert(SignedInByToken(record));
        return Some(role);
    }
    let secret = cookie(headers, SESSION_COOKIE)?;
    let session = sessions::find(&*state.store, &secret, Utc::now())
        .await
        .ok()
        .flatten()?;
    live_token_by_hash(state, &session.token_hash)
        .await
        .ok()
        .flatten()
        .map(|record| record.role)
}

/// Whatever answers a request that carries credentials is that caller's alone: never stored
/// by a browser or a proxy, whatever the handler said (an admin's view of a public resource
/// may show more than the public's).
pub async fn no_store_for_callers(request: Request, next: Next) -> Response {
    let credentialed = request.headers().contains_key(AUTHORIZATION);
    let mut response = next.run(request).await;
    if credentialed {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; onetrip_console=xyz"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, "onetrip_console").as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&headers, "onetrip"), None);
    }
}
