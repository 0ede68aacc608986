//! `POST /submissions/{id}/items/{code}/decision`: a department decides its own item.

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use super::bodies::{DecisionBody, parse_decision};
use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::submissions::{self, SubmissionView};

/// 部门审批本部门的事项 / A department decides its own item.
#[utoipa::path(
    post,
    path = "/submissions/{id}/items/{code}/decision",
    tag = "submissions",
    params(
        ("id" = String, Path, description = "申报编号 / the submission's id"),
        ("code" = String, Path, description = "事项编码 / the item's code")
    ),
    request_body = DecisionBody,
    security(("bearer" = [])),
    responses((status = 200, description = "申报 / the submission", body = SubmissionView))
)]
#[tracing::instrument(skip_all, fields(caller = %caller.label(), submission = %id, item = %code))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Actor,
    AppPath((id, code)): AppPath<(String, String)>,
    AppJson(body): AppJson<DecisionBody>,
) -> Result<Json<Value>, ServiceError> {
    let (outcome, comment) = parse_decision(body)?;
    let submission = submissions::decide(&state, &caller, &id, &code, outcome, comment).await?;
    serde_json::to_value(submissions::view(&state, &submission, None).await?)
        .map(Json)
        .map_err(ServiceError::internal)
}
