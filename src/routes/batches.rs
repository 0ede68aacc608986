//! Batch issuance on a running server: `POST /batches` takes a JSON Lines file (one
//! `{"submission": …}` or `{"migrate": {…}}` per line) and answers 202 at once; `GET
//! /batches/{id}` reports its progress and each line's result.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::json::AppPath;
use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::batch::{self, BatchProgress};

/// A batch file of 10,000 migration lines is about 8 MiB.
const MAX_BATCH_BYTES: usize = 16 << 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/batches",
            post(start).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
        )
        .route("/batches/{id}", get(progress))
}

async fn start(
    State(state): State<AppState>,
    caller: Actor,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BatchProgress>), ServiceError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServiceError::too_large(format!(
                "批次文件超过 {MAX_BATCH_BYTES} 字节 / a batch file is at most {MAX_BATCH_BYTES} bytes"
            ))
        } else {
            ServiceError::bad_request("malformed_batch", e.body_text())
        }
    })?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        ServiceError::bad_request(
            "malformed_batch",
            "批次文件应为 UTF-8 编码的 JSON Lines / a batch is JSON Lines in UTF-8",
        )
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(batch::start(&state, &caller, text)?),
    ))
}

async fn progress(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<BatchProgress>, ServiceError> {
    Ok(Json(batch::progress(&state, &caller, &id)?))
}
