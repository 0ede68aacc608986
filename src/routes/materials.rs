//! `PUT /submissions/{id}/materials/{name}`: the raw body is the file, streamed to disk
//! through SHA-256 and never held in memory.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use serde_json::{Value, json};

use super::json::{AppPath, body_error};
use super::submissions::load_readable;
use crate::auth::Caller;
use crate::body::ReceiveError;
use crate::domain::MaterialName;
use crate::routes::state::AppState;
use crate::service::ServiceError;

#[tracing::instrument(skip_all, fields(caller = %caller.actor(), submission = %id))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((id, name)): AppPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ServiceError> {
    let submission = load_readable(&state, &caller, &id)?;
    caller.may_edit(&submission)?;
    let name = MaterialName::parse(&name).map_err(|e| ServiceError::invalid("name", e))?;
    // Refuse before reading a byte when the answer is already known.
    submission.check_upload(&name)?;
    let limit = state.settings.max_material_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    let stored = state
        .files
        .receive(&submission.id, body.into_data_stream(), limit)
        .await
        .map_err(|e| match e {
            ReceiveError::TooLarge { limit } => too_large(limit),
            ReceiveError::Io(e) => ServiceError::internal(e),
            other => body_error(other, "material"),
        })?;
    let result = state
        .store
        .update_submission(&submission.id, &caller.actor(), |s| {
            s.record_upload(&name, stored.clone())
        })
        .await;
    match result {
        Ok((_, _, replaced)) => {
            if let Some(old) = replaced {
                state.files.remove(&submission.id, &old.file).await;
            }
            Ok(Json(
                json!({"name": name, "sha256": stored.sha256, "size": stored.size}),
            ))
        }
        Err(e) => {
            state.files.remove(&submission.id, &stored.file).await;
            Err(e.into())
        }
    }
}

fn too_large(limit: u64) -> ServiceError {
    ServiceError::too_large(format!(
        "材料超过大小上限 {limit} 字节 / the material is larger than the {limit}-byte limit"
    ))
}
