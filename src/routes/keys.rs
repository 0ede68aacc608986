//! Admin key management on a running server: list, rotate, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::parse_time;
use crate::domain::signing_key::KeyRecord;
use crate::routes::state::AppState;
use crate::service::{ServiceError, keys};

pub async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, ServiceError> {
    let keys = keys::list(&*state.keys.read().await, &caller)?;
    Ok(Json(json!({ "keys": keys })))
}

pub async fn rotate(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<(StatusCode, Json<KeyRecord>), ServiceError> {
    let keys_dir = state.settings.keys_dir();
    let mut ring = state.keys.write().await;
    let record = keys::rotate(&*state.store, &keys_dir, &mut ring, &caller).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    compromised_since: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(kid): AppPath<String>,
    AppJson(body): AppJson<RevokeBody>,
) -> Result<Json<KeyRecord>, ServiceError> {
    let since = parse_time(&body.compromised_since)
        .map_err(|e| ServiceError::invalid("compromised_since", e))?;
    let mut ring = state.keys.write().await;
    Ok(Json(
        keys::revoke(&*state.store, &mut ring, &caller, &kid, since).await?,
    ))
}
