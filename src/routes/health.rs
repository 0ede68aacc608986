use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::routes::state::AppState;
use crate::service::{ErrorKind, ServiceError};

/// 200 when the store answers a read.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ServiceError> {
    state.store.ping().map_err(|e| {
        tracing::error!(error = %e, "health check: store does not answer");
        ServiceError::new(
            ErrorKind::Unavailable,
            "store_unavailable",
            "存储不可用 / the store does not answer",
        )
    })?;
    Ok(Json(json!({"status": "ok"})))
}
