//! `POST /submissions/{id}/items/{code}/decision`: a department decides its own item.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;

use super::json::{AppJson, AppPath};
use super::submissions::{SubmissionView, load_readable};
use crate::auth::Caller;
use crate::domain::submission::{Decision, DecisionOutcome};
use crate::domain::{ItemCode, Role, check_reason};
use crate::routes::state::AppState;
use crate::service::{ErrorKind, ServiceError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    decision: String,
    #[serde(default)]
    comment: String,
}

#[tracing::instrument(skip_all, fields(caller = %caller.actor(), submission = %id, item = %code))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((id, code)): AppPath<(String, String)>,
    AppJson(body): AppJson<DecisionBody>,
) -> Result<Json<Value>, ServiceError> {
    caller.require(&[Role::Approver, Role::Admin])?;
    let submission = load_readable(&state, &caller, &id)?;
    let item = ItemCode::parse(&code)
        .ok()
        .and_then(|code| submission.items.iter().find(|i| i.code == code))
        .ok_or_else(|| {
            ServiceError::not_found(
                "unknown_item",
                format!("办件没有事项 {code} / no item {code}"),
            )
        })?;
    if caller.role() == Role::Approver && caller.0.department.as_ref() != Some(&item.department) {
        return Err(ServiceError::forbidden(format!(
            "事项 {code} 由 {} 审批 / item {code} is decided by department {}",
            item.department, item.department
        )));
    }
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
    let (code, department) = (item.code.clone(), item.department.clone());
    let actor = caller.actor();
    let (submission, _, ()) = state
        .store
        .update_submission(&submission.id, &actor, |s| {
            let decision = Decision {
                decision: outcome,
                comment: comment.clone(),
                by: actor.clone(),
                at: chrono::Utc::now(),
            };
            Ok((s.decide(&code, &department, decision)?, ()))
        })
        .await?;
    let view = SubmissionView::new(&submission, None);
    Ok(Json(
        serde_json::to_value(view).map_err(ServiceError::internal)?,
    ))
}
