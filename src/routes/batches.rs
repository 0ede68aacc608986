//! Batch issuance on a running server: `POST /batches` takes a JSON Lines file (one
//! `{"submission": …}` or `{"migrate": {…}}` per line) and answers 202 at once; `GET
//! /batches/{id}` reports its progress and each line's result.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::AppPath;
use super::limits::declared_length;
use crate::body::{ReceiveError, read_limited};
use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::batch::{self, BatchProgress};

/// A batch file of 10,000 migration lines is about 8 MiB.
const MAX_BATCH_BYTES: usize = 16 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(progress))
}

fn too_large() -> ServiceError {
    ServiceError::too_large(format!(
        "批次文件超过 {MAX_BATCH_BYTES} 字节 / a batch file is at most {MAX_BATCH_BYTES} bytes"
    ))
}

/// 开始批量签发或迁移（立即 202） / Start a batch of issuances or migrations (202 at once).
///
/// Takes the batch's place before reading a byte of its file, so that no more files are
/// held in memory than batches may run: the next one is answered 503 at once.
#[utoipa::path(
    post,
    path = "/batches",
    tag = "batches",
    request_body(
        content(("application/x-ndjson"), (String = "text/plain")),
        description = "JSON Lines：每行 `{\"submission\": …}` 或 `{\"migrate\": {…}}`，至多 16 MiB / one `{\"submission\": …}` or `{\"migrate\": {…}}` per line, at most 16 MiB"
    ),
    security(("bearer" = [])),
    responses((status = 202, description = "已开始 / started", body = BatchProgress))
)]
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
    // JSON holds no raw NUL, so such a line could never be read; nor can a store keep it
    // (PostgreSQL's text holds no NUL).
    if let Some(at) = text.lines().position(|line| line.contains('\0')) {
        let line = at + 1;
        return Err(ServiceError::bad_request(
            "malformed_batch",
            format!(
                "第 {line} 行含有 NUL 字符，不是 JSON / line {line} holds a NUL character: it is not JSON"
            ),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(batch::start(&state, &caller, slot, text).await?),
    ))
}

/// 批次进度与每行结果 / A batch's progress and each line's result.
#[utoipa::path(
    get,
    path = "/batches/{id}",
    tag = "batches",
    params(("id" = String, Path, description = "批次编号 / the batch's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "进度 / progress", body = BatchProgress))
)]
async fn progress(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<BatchProgress>, ServiceError> {
    Ok(Json(batch::progress(&state, &caller, &id).await?))
}
