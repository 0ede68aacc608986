//! Admin key management on a running server: list, rotate, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::{ParseError, Role};
use crate::routes::state::AppState;
use crate::service::{ErrorKind, ServiceError};
use crate::signing::{KeyRecord, KeyRingError};

impl From<KeyRingError> for ServiceError {
    fn from(e: KeyRingError) -> Self {
        match e {
            KeyRingError::NotFound(kid) => ServiceError::not_found(
                "key_not_found",
                format!("密钥 {kid} 不存在 / no key {kid}"),
            ),
            KeyRingError::Active(_) => {
                ServiceError::new(ErrorKind::Conflict, "key_active", e.to_string())
            }
            KeyRingError::Storage(e) => ServiceError::internal(format!("{e:#}")),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, ServiceError> {
    caller.require(&[Role::Admin])?;
    let ring = state.keys.read().await;
    let keys: Vec<&KeyRecord> = ring.records().collect();
    Ok(Json(json!({ "keys": keys })))
}

pub async fn rotate(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<(StatusCode, Json<KeyRecord>), ServiceError> {
    caller.require(&[Role::Admin])?;
    let keys_dir = state.settings.keys_dir();
    let record = state
        .keys
        .write()
        .await
        .rotate(&state.store, &keys_dir)
        .await?;
    tracing::info!(kid = %record.kid, by = %caller.label(), "signing key rotated");
    Ok((StatusCode::CREATED, Json(record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    compromised_since: String,
}

pub fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, ServiceError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ServiceError::invalid(
                field,
                ParseError::new(
                    "invalid_time",
                    "时间应为 RFC 3339 格式 / expected an RFC 3339 time",
                ),
            )
        })
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(kid): AppPath<String>,
    AppJson(body): AppJson<RevokeBody>,
) -> Result<Json<KeyRecord>, ServiceError> {
    caller.require(&[Role::Admin])?;
    let since = parse_time("compromised_since", &body.compromised_since)?;
    let record = state
        .keys
        .write()
        .await
        .revoke(&state.store, &kid, since)
        .await?;
    tracing::warn!(kid = %record.kid, %since, by = %caller.label(), "signing key revoked");
    Ok(Json(record))
}
