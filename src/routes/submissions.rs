//! Creating, reading, submitting and pre-reviewing submissions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bodies::{CreateBody, PreReviewBody, parse_new, parse_pre_review};
use super::json::{AppJson, AppPath, AppQuery};
use crate::domain::actor::Actor;
use crate::domain::submission::{Event, Submission};
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::submissions::{self, SubmissionView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, due))
        .routes(routes!(read))
        .routes(routes!(submit))
        .routes(routes!(pre_review))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DueQuery {
    /// Submissions due within this many working days.
    due_within: Option<u32>,
    /// `true`: submissions past their due date.
    overdue: Option<bool>,
}

/// 将到期或已逾期的申报 / The submissions a clerk must act on.
///
/// `?due_within=N` (working days) and/or `?overdue=true`.
#[utoipa::path(
    get,
    path = "/submissions",
    tag = "submissions",
    params(DueQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "到期或逾期的申报 / submissions due or overdue", body = [SubmissionView]))
)]
async fn due(
    State(state): State<AppState>,
    caller: Actor,
    AppQuery(query): AppQuery<DueQuery>,
) -> Result<Json<Vec<Value>>, ServiceError> {
    if query.due_within.is_none() && query.overdue.is_none() {
        return Err(ServiceError::bad_request(
            "missing_filter",
            "请指定 due_within=N 或 overdue=true / give due_within=N or overdue=true",
        ));
    }
    let found = submissions::due(
        &state,
        &caller,
        query.due_within,
        query.overdue.unwrap_or(false),
    )
    .await?;
    submissions::views(&state, &found)
        .await?
        .into_iter()
        .map(|v| serde_json::to_value(v).map_err(ServiceError::internal))
        .collect::<Result<_, _>>()
        .map(Json)
}

/// 网上申报：新建申报（草稿） / File a submission (a draft until submitted).
#[utoipa::path(
    post,
    path = "/submissions",
    tag = "submissions",
    request_body = CreateBody,
    security(("bearer" = [])),
    responses((status = 201, description = "已建立 / created", body = SubmissionView))
)]
async fn create(
    State(state): State<AppState>,
    caller: Actor,
    AppJson(body): AppJson<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ServiceError> {
    let submission = submissions::create(&state, &caller, parse_new(body)?).await?;
    Ok((StatusCode::CREATED, view(&state, &submission, None).await?))
}

async fn view(
    state: &AppState,
    submission: &Submission,
    history: Option<&[Event]>,
) -> Result<Json<Value>, ServiceError> {
    serde_json::to_value(submissions::view(state, submission, history).await?)
        .map(Json)
        .map_err(ServiceError::internal)
}

/// 申报及其历史 / A submission and its history.
#[utoipa::path(
    get,
    path = "/submissions/{id}",
    tag = "submissions",
    params(("id" = String, Path, description = "申报编号 / the submission's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "申报 / the submission", body = SubmissionView))
)]
async fn read(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, ServiceError> {
    let (submission, history) = submissions::read(&state, &caller, &id).await?;
    view(&state, &submission, Some(&history)).await
}

/// 提交预审 / Submit for pre-review, once every material is uploaded.
#[utoipa::path(
    post,
    path = "/submissions/{id}/submit",
    tag = "submissions",
    params(("id" = String, Path, description = "申报编号 / the submission's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "已提交 / submitted", body = SubmissionView))
)]
async fn submit(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, ServiceError> {
    view(
        &state,
        &submissions::submit(&state, &caller, &id).await?,
        None,
    )
    .await
}

/// 预审 / Pre-review.
///
/// 通过，或逐项说明退回的材料 / Approve, or return naming each faulty material.
#[utoipa::path(
    post,
    path = "/submissions/{id}/pre-review",
    tag = "submissions",
    params(("id" = String, Path, description = "申报编号 / the submission's id")),
    request_body = PreReviewBody,
    security(("bearer" = [])),
    responses((status = 200, description = "预审结果 / reviewed", body = SubmissionView))
)]
async fn pre_review(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<PreReviewBody>,
) -> Result<Json<Value>, ServiceError> {
    let decision = parse_pre_review(body)?;
    view(
        &state,
        &submissions::pre_review(&state, &caller, &id, decision).await?,
        None,
    )
    .await
}
