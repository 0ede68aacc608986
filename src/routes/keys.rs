//! Admin key management on a running server: list, rotate, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::parse_time;
use crate::domain::signing_key::KeyRecord;
use crate::routes::state::AppState;
use crate::service::{ServiceError, keys};

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyRecord>,
}

/// 签名密钥及其状态 / The signing keys and their states (admin).
#[utoipa::path(
    get,
    path = "/keys",
    tag = "administration",
    security(("bearer" = [])),
    responses((status = 200, description = "密钥 / keys", body = KeyList))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<KeyList>, ServiceError> {
    let keys = keys::list(&*state.keys.read().await, &caller)?;
    Ok(Json(KeyList { keys }))
}

/// 轮换签名密钥 / Rotate the signing key (admin).
///
/// 新密钥开始签名，旧密钥仍可核验 / A new key signs; the old one still verifies.
#[utoipa::path(
    post,
    path = "/keys/rotate",
    tag = "administration",
    security(("bearer" = [])),
    responses((status = 201, description = "新密钥 / the new key", body = KeyRecord))
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<(StatusCode, Json<KeyRecord>), ServiceError> {
    let record = keys::rotate(&*state.store, &state.custody, &state.keys, &caller).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// 密钥自何时起不可信（RFC 3339） / since when the key is not to be trusted (RFC 3339).
    compromised_since: String,
}

/// 吊销泄露的密钥 / Revoke a compromised key (admin).
#[utoipa::path(
    post,
    path = "/keys/{kid}/revoke",
    tag = "administration",
    params(("kid" = String, Path, description = "密钥编号 / the key's id")),
    request_body = RevokeBody,
    security(("bearer" = [])),
    responses((status = 200, description = "已吊销 / revoked", body = KeyRecord))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(kid): AppPath<String>,
    AppJson(body): AppJson<RevokeBody>,
) -> Result<Json<KeyRecord>, ServiceError> {
    let since = parse_time(&body.compromised_since)
        .map_err(|e| ServiceError::invalid("compromised_since", e))?;
    Ok(Json(
        keys::revoke(
            &*state.store,
            &state.custody,
            &state.keys,
            &caller,
            &kid,
            since,
        )
        .await?,
    ))
}
