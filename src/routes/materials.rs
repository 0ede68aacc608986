//! `PUT /submissions/{id}/materials/{name}`: the raw body is the file, streamed to disk
//! through SHA-256 and never held in memory.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;

use super::json::AppPath;
use super::limits::declared_length;
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
    let declared = declared_length(&headers);
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
