//! Batch issuance on a running server: `POST /batches` takes a JSON Lines file (one
//! `{"submission": …}` or `{"migrate": {…}}` per line) and answers 202 at once; `GET
//! /batches/{id}` reports its progress and each line's result.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::json::AppPath;
use super::limits::declared_length;
use crate::body::{ReceiveError, read_limited};
use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::batch::{self, BatchProgress};

/// A batch file of 10,000 migration lines is about 8 MiB.
const MAX_BATCH_BYTES: usize = 16 << 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/batches", post(start))
        .route("/batches/{id}", get(progress))
}

fn too_large() -> ServiceError {
    ServiceError::too_large(format!(
        "批次文件超过 {MAX_BATCH_BYTES} 字节 / a batch file is at most {MAX_BATCH_BYTES} bytes"
    ))
}

/// Takes the batch's place before reading a byte of its file, so that no more files are
/// held in memory than batches may run: the next one is answered 503 at once.
async fn start(
    State(state): State<AppState>,
    caller: Actor,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<BatchProgress>), ServiceError> {
    let slot = batch::reserve(&state, &caller)?;
    if declared_length(&headers).is_some_and(|len| len > MAX_BATCH_BYTES as u64) {
        return Err(too_large());
    }
    let body = read_limited(body.into_data_stream(), MAX_BATCH_BYTES, &state.memory)
        .await
        .map_err(|e| match e {
            ReceiveError::TooLarge { .. } => too_large(),
            other => ServiceError::body(other, "batch"),
        })?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        ServiceError::bad_request(
            "malformed_batch",
            "批次文件应为 UTF-8 编码的 JSON Lines / a batch is JSON Lines in UTF-8",
        )
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(batch::start(&state, &caller, slot, text)?),
    ))
}

async fn progress(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<BatchProgress>, ServiceError> {
    Ok(Json(batch::progress(&state, &caller, &id)?))
}
