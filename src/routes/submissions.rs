//! Creating, reading, submitting and pre-reviewing submissions.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::{AppJson, AppPath};
use crate::auth::Caller;
use crate::domain::holder::Holder;
use crate::domain::submission::{Event, Item, NewSubmission, ReturnReason, Status, Submission};
use crate::domain::{DepartmentCode, ItemCode, MaterialName, Role, Sha256Digest, SubmissionId};
use crate::routes::state::AppState;
use crate::service::{ErrorKind, ServiceError, submission_not_found};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/submissions", post(create))
        .route("/submissions/{id}", get(read))
        .route("/submissions/{id}/submit", post(submit))
        .route("/submissions/{id}/pre-review", post(pre_review))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolderBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    code: String,
    department: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterialBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    holder: HolderBody,
    kind: String,
    items: Vec<ItemBody>,
    materials: Vec<MaterialBody>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// A material as clients see it: its digest and size, never the file's name on disk.
#[derive(Serialize)]
struct MaterialView<'a> {
    name: &'a MaterialName,
    sha256: Option<&'a Sha256Digest>,
    size: Option<u64>,
    uploaded_at: Option<DateTime<Utc>>,
    returned_reason: Option<&'a str>,
}

#[derive(Serialize)]
pub struct SubmissionView<'a> {
    id: &'a SubmissionId,
    status: Status,
    holder: &'a Holder,
    kind: &'a str,
    items: &'a [Item],
    materials: Vec<MaterialView<'a>>,
    fields: &'a BTreeMap<String, String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    certificate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<&'a [Event]>,
}

impl<'a> SubmissionView<'a> {
    pub fn new(s: &'a Submission, history: Option<&'a [Event]>) -> Self {
        Self {
            id: &s.id,
            status: s.status,
            holder: &s.holder,
            kind: &s.kind,
            items: &s.items,
            materials: s
                .materials
                .iter()
                .map(|m| MaterialView {
                    name: &m.name,
                    sha256: m.upload.as_ref().map(|u| &u.sha256),
                    size: m.upload.as_ref().map(|u| u.size),
                    uploaded_at: m.upload.as_ref().map(|u| u.uploaded_at),
                    returned_reason: m.returned_reason.as_deref(),
                })
                .collect(),
            fields: &s.fields,
            created_at: s.created_at,
            updated_at: s.updated_at,
            certificate: s.certificate.as_deref(),
            history,
        }
    }
}

fn parse_new(body: CreateBody) -> Result<NewSubmission, ServiceError> {
    let holder = Holder::parse(&body.holder.kind, &body.holder.id, &body.holder.name)
        .map_err(|e| ServiceError::invalid(format!("holder.{}", e.field), e.error))?;
    let items = body
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let code = ItemCode::parse(&item.code)
                .map_err(|e| ServiceError::invalid(format!("items[{i}].code"), e))?;
            let department = DepartmentCode::parse(&item.department)
                .map_err(|e| ServiceError::invalid(format!("items[{i}].department"), e))?;
            // Without a name, the code is printed in its place, within the same limits.
            let name =
                crate::domain::check_item_name(item.name.as_deref().unwrap_or(code.as_str()))
                    .map_err(|e| ServiceError::invalid(format!("items[{i}].name"), e))?;
            Ok((code, department, name))
        })
        .collect::<Result<_, ServiceError>>()?;
    let materials = body
        .materials
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            MaterialName::parse(&m.name)
                .map_err(|e| ServiceError::invalid(format!("materials[{i}].name"), e))
        })
        .collect::<Result<_, ServiceError>>()?;
    Ok(NewSubmission {
        holder,
        kind: body.kind,
        items,
        materials,
        fields: body.fields,
    })
}

#[tracing::instrument(skip_all, fields(caller = %caller.actor()))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    caller.require(&[Role::Applicant, Role::Clerk, Role::Admin])?;
    let new = parse_new(body)?;
    if caller.role() == Role::Applicant && caller.0.holder.as_deref() != Some(new.holder.id()) {
        return Err(ServiceError::forbidden(
            "申请人令牌只能为其绑定的主体申报 / an applicant token files only for its own holder",
        ));
    }
    let template = state.templates.get(&new.kind).ok_or_else(|| {
        ServiceError::new(
            ErrorKind::Invalid,
            "unknown_kind",
            format!(
                "未知证照类型 {} / unknown certificate kind; known: {}",
                new.kind,
                state.templates.kinds().collect::<Vec<_>>().join(", ")
            ),
        )
        .with_field("kind")
    })?;
    let submission = Submission::create(SubmissionId::generate(), new, template, Utc::now())?;
    crate::service::issuance::check_printable(&state.fonts, &submission)?;
    state
        .store
        .create_submission(&submission, &caller.actor())
        .await?;
    let view = serde_json::to_value(SubmissionView::new(&submission, None))
        .map_err(ServiceError::internal)?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Loads a submission the caller may read, or answers 404/403.
pub fn load_readable(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Submission, ServiceError> {
    let id = SubmissionId::parse(id).map_err(|_| submission_not_found(id))?;
    let submission = state
        .store
        .submission(&id)?
        .ok_or_else(|| submission_not_found(id.as_str()))?;
    caller.may_read(&submission)?;
    Ok(submission)
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let submission = load_readable(&state, &caller, &id)?;
    let history = state.store.events(&submission.id)?;
    let view = SubmissionView::new(&submission, Some(&history));
    Ok(Json(
        serde_json::to_value(view).map_err(ServiceError::internal)?,
    ))
}

async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let submission = load_readable(&state, &caller, &id)?;
    caller.may_edit(&submission)?;
    let (submission, _, ()) = state
        .store
        .update_submission(&submission.id, &caller.actor(), |s| Ok((s.submit()?, ())))
        .await?;
    Ok(Json(
        serde_json::to_value(SubmissionView::new(&submission, None))
            .map_err(ServiceError::internal)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    material: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreReviewBody {
    decision: String,
    #[serde(default)]
    reasons: Vec<ReasonBody>,
}

async fn pre_review(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<PreReviewBody>,
) -> Result<Json<serde_json::Value>, ServiceError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    let submission = load_readable(&state, &caller, &id)?;
    let reasons = body
        .reasons
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(ReturnReason {
                material: MaterialName::parse(&r.material)
                    .map_err(|e| ServiceError::invalid(format!("reasons[{i}].material"), e))?,
                reason: crate::domain::check_reason(&r.reason)
                    .map_err(|e| ServiceError::invalid(format!("reasons[{i}].reason"), e))?,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    let approve = match body.decision.as_str() {
        "approve" => true,
        "return" => false,
        _ => {
            return Err(ServiceError::new(
                ErrorKind::Invalid,
                "invalid_decision",
                "预审决定应为 approve 或 return / decision is approve or return",
            )
            .with_field("decision"));
        }
    };
    let (submission, _, ()) = state
        .store
        .update_submission(&submission.id, &caller.actor(), |s| {
            let action = if approve {
                s.approve_pre_review()?
            } else {
                s.return_pre_review(reasons.clone())?
            };
            Ok((action, ()))
        })
        .await?;
    Ok(Json(
        serde_json::to_value(SubmissionView::new(&submission, None))
            .map_err(ServiceError::internal)?,
    ))
}
