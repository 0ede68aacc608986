//! `POST /submissions/{id}/items/{code}/decision`: a department decides its own item.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::check_reason;
use crate::domain::submission::DecisionOutcome;
use crate::routes::state::AppState;
use crate::service::submissions::{self, SubmissionView};
use crate::service::{ErrorKind, ServiceError};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    decision: String,
    #[serde(default)]
    comment: String,
}

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

/// A department's decision and comment as the API takes them (the console's form is turned
/// into them).
pub(crate) fn parse_decision(
    body: DecisionBody,
) -> Result<(DecisionOutcome, String), ServiceError> {
    let outcome = match body.decision.as_str() {
        "approve" => DecisionOutcome::Approve,
        "reject" => DecisionOutcome::Reject,
        _ => {
            return Err(ServiceError::new(
                ErrorKind::Invalid,
                "invalid_decision",
                "审批决定应为 approve 或 reject / decision is approve or reject",
            )
            .with_field("decision"));
        }
    };
    let comment = if body.comment.trim().is_empty() {
        String::new()
    } else {
        check_reason(&body.comment).map_err(|e| ServiceError::invalid("comment", e))?
    };
    Ok((outcome, comment))
}
