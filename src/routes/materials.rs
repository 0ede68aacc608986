//! `PUT /submissions/{id}/materials/{name}`: the raw body is the file, streamed to disk
//! through SHA-256 and never held in memory.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;

use super::json::AppPath;
use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::submissions::{self, Uploaded};

#[tracing::instrument(skip_all, fields(caller = %caller.label(), submission = %id))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Actor,
    AppPath((id, name)): AppPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Uploaded>, ServiceError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let uploaded = submissions::upload(
        &state,
        &caller,
        &id,
        &name,
        declared,
        body.into_data_stream(),
    )
    .await?;
    Ok(Json(uploaded))
}
