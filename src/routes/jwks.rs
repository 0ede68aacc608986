use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;

use crate::routes::state::AppState;
use crate::service::{ServiceError, keys};

/// 核验公钥 / The public key set.
///
/// Verifiers may cache it for five minutes: a rotation or revocation
/// reaches them within that time.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "verification",
    responses((status = 200, description = "JWK Set（Ed25519） / the JWK Set (Ed25519)", content_type = "application/json"))
)]
pub async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ServiceError> {
    let jwks = keys::jwks(&*state.keys.read().await);
    Ok(([(CACHE_CONTROL, "public, max-age=300")], Json(jwks)))
}
