use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::routes::state::AppState;
use crate::service::{ServiceError, health};

/// 200 when the store answers a read and material files can be written; 503 naming what
/// cannot, and why, otherwise.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ServiceError> {
    health::check(&state)?;
    Ok(Json(json!({"status": "ok"})))
}
