//! `POST /submissions/{id}/window-check`: the clerk hands over the files the applicant
//! brought (multipart, each part streamed through SHA-256 and dropped) or only their digests.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::{AppJson, AppPath};
use super::multipart::{self, MAX_PARTS, Parts, hash_parts, too_many_parts};
use crate::domain::Sha256Digest;
use crate::domain::actor::Actor;
use crate::domain::window_check::{Presented, WindowReport};
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::submissions;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DigestEntry {
    name: String,
    sha256: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DigestsBody {
    digests: Vec<DigestEntry>,
}

/// 窗口核对 / The window check.
///
/// 申请人带来的文件（multipart，逐个计算 SHA-256）或仅其摘要，与预审通过的材料比对 / The
/// files brought in (multipart, each hashed as it streams) or only their digests, compared
/// with the pre-reviewed materials.
#[utoipa::path(
    post,
    path = "/submissions/{id}/window-check",
    tag = "submissions",
    params(("id" = String, Path, description = "申报编号 / the submission's id")),
    request_body(content(
        (DigestsBody = "application/json"),
        ("multipart/form-data")
    )),
    security(("bearer" = [])),
    responses((status = 200, description = "核对结果 / the report", body = WindowReport))
)]
#[tracing::instrument(skip_all, fields(caller = %caller.label(), submission = %id))]
pub async fn window_check(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    request: Request,
) -> Result<Json<WindowReport>, ServiceError> {
    let submission = submissions::ready_for_window_check(&state, &caller, &id).await?;
    let is_multipart = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let presented = if is_multipart {
        let multipart = Parts::from_request(request, &state)
            .await
            .map_err(multipart::rejected)?;
        hash_parts(multipart, state.settings.max_material_bytes).await?
    } else {
        let AppJson(body) = AppJson::<DigestsBody>::from_request(request, &state).await?;
        parse_digests(body)?
    };
    let (_, report) =
        submissions::window_check(&state, &caller, &submission.id, &presented).await?;
    Ok(Json(report))
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
