//! `POST /submissions/{id}/window-check`: the clerk hands over the files the applicant
//! brought (multipart, each part streamed through SHA-256 and dropped) or only their digests.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::CONTENT_TYPE;
use chrono::Utc;
use serde::Deserialize;

use super::json::{AppJson, AppPath};
use super::submissions::load_readable;
use crate::auth::Caller;
use crate::body::{ReceiveError, hash_stream};
use crate::domain::window_check::{Presented, WindowReport, compare};
use crate::domain::{Role, Sha256Digest, SubmissionId};
use crate::routes::state::AppState;
use crate::service::{ErrorKind, ServiceError};

/// More parts than this is not an applicant's folder of materials but an attack.
const MAX_PARTS: usize = 200;
/// A part past `MAX_PARTS` is read only this far before the connection is given up.
const DRAIN_PART_CAP: u64 = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestEntry {
    name: String,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestsBody {
    digests: Vec<DigestEntry>,
}

#[tracing::instrument(skip_all, fields(caller = %caller.actor(), submission = %id))]
pub async fn window_check(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    request: Request,
) -> Result<Json<WindowReport>, ServiceError> {
    caller.require(&[Role::Clerk, Role::Admin])?;
    let submission = load_readable(&state, &caller, &id)?;
    submission.check_window_check()?;
    let is_multipart = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let presented = if is_multipart {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ServiceError::bad_request("malformed_multipart", e.body_text()))?;
        hash_parts(multipart, state.settings.max_material_bytes).await?
    } else {
        let AppJson(body) = AppJson::<DigestsBody>::from_request(request, &state).await?;
        parse_digests(body)?
    };
    let (_, report) = record_check(&state, &submission.id, &caller.actor(), &presented).await?;
    Ok(Json(report))
}

/// Compares what was presented with the frozen manifest and stores the check, in one
/// transaction; returns the audit event's `seq` and the report. The API and the window
/// console (`/console`) both come through here.
pub async fn record_check(
    state: &AppState,
    id: &SubmissionId,
    actor: &str,
    presented: &[Presented],
) -> Result<(u64, WindowReport), ServiceError> {
    let (_, event, report) = state
        .store
        .update_submission(id, actor, |s| {
            let report = compare(&s.manifest(), presented, actor.to_owned(), Utc::now());
            Ok((s.record_window_check(report.clone())?, report))
        })
        .await?;
    Ok((event.seq, report))
}

fn parse_digests(body: DigestsBody) -> Result<Vec<Presented>, ServiceError> {
    if body.digests.len() > MAX_PARTS {
        return Err(too_many_parts());
    }
    body.digests
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            Ok(Presented {
                sha256: Sha256Digest::parse(&d.sha256)
                    .map_err(|e| ServiceError::invalid(format!("digests[{i}].sha256"), e))?,
                part: d.name,
                filename: None,
            })
        })
        .collect()
}

/// Hashes every remaining part of `multipart` as a presented file, keeping no bytes.
pub async fn hash_parts(
    mut multipart: Multipart,
    limit: u64,
) -> Result<Vec<Presented>, ServiceError> {
    let mut presented = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ServiceError::bad_request("malformed_multipart", e.body_text()))?
    {
        if presented.len() == MAX_PARTS {
            let _ = hash_stream(field, DRAIN_PART_CAP).await;
            discard_parts(&mut multipart).await;
            return Err(too_many_parts());
        }
        let part = decode_name(field.name().unwrap_or_default());
        let filename = field.file_name().map(decode_name);
        let (sha256, _) = hash_stream(field, limit).await.map_err(|e| match e {
            ReceiveError::TooLarge { limit } => ServiceError::too_large(format!(
                "文件 {part} 超过大小上限 {limit} 字节 / part {part} is over the {limit}-byte limit"
            )),
            other => ServiceError::bad_request("malformed_multipart", other.to_string()),
        })?;
        presented.push(Presented {
            part,
            filename,
            sha256,
        });
    }
    Ok(presented)
}

/// Browsers and curl send a non-ASCII part name as raw UTF-8; some clients (reqwest, for one)
/// percent-encode it as RFC 7578 allows. Both mean the same material.
fn decode_name(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_or_else(|_| raw.to_owned(), |decoded| decoded.into_owned())
}

/// Reads and drops the remaining parts (bounded like any refused body), so the client gets
/// the refusal rather than a reset connection.
async fn discard_parts(multipart: &mut Multipart) {
    let mut parts = 0usize;
    while let Ok(Some(field)) = multipart.next_field().await {
        parts += 1;
        if parts > 100 * MAX_PARTS || hash_stream(field, DRAIN_PART_CAP).await.is_err() {
            break;
        }
    }
}

fn too_many_parts() -> ServiceError {
    ServiceError::new(
        ErrorKind::TooLarge,
        "too_many_parts",
        format!("一次核对最多 {MAX_PARTS} 个文件 / at most {MAX_PARTS} files per check"),
    )
}
