use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;

use crate::routes::state::AppState;
use crate::service::{ServiceError, keys};

/// The public key set. Verifiers may cache it for five minutes: a rotation or revocation
/// reaches them within that time.
pub async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ServiceError> {
    let jwks = keys::jwks(&*state.keys.read().await);
    Ok(([(CACHE_CONTROL, "public, max-age=300")], Json(jwks)))
}
