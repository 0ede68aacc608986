//! Creating, reading, submitting and pre-reviewing submissions.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::holder::Holder;
use crate::domain::identifier::Identifier;
use crate::domain::submission::{Event, NewSubmission, ReturnReason, Submission};
use crate::domain::{DepartmentCode, ItemCode, MaterialName, check_reason};
use crate::routes::state::AppState;
use crate::service::submissions::{self, PreReview, SubmissionView};
use crate::service::{ErrorKind, ServiceError};

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
    /// The identifier of the certificate this submission amends.
    amends: Option<String>,
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
    let amends = body
        .amends
        .map(|id| Identifier::parse(id.trim()).map_err(|e| ServiceError::invalid("amends", e)))
        .transpose()?;
    Ok(NewSubmission {
        holder,
        kind: body.kind,
        items,
        materials,
        fields: body.fields,
        amends,
    })
}

async fn create(
    State(state): State<AppState>,
    caller: Actor,
    AppJson(body): AppJson<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ServiceError> {
    let submission = submissions::create(&state, &caller, parse_new(body)?).await?;
    Ok((StatusCode::CREATED, view(&submission, None)?))
}

fn view(submission: &Submission, history: Option<&[Event]>) -> Result<Json<Value>, ServiceError> {
    serde_json::to_value(SubmissionView::new(submission, history))
        .map(Json)
        .map_err(ServiceError::internal)
}

async fn read(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, ServiceError> {
    let (submission, history) = submissions::read(&state, &caller, &id)?;
    view(&submission, Some(&history))
}

async fn submit(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, ServiceError> {
    view(&submissions::submit(&state, &caller, &id).await?, None)
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
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<PreReviewBody>,
) -> Result<Json<Value>, ServiceError> {
    let decision = match body.decision.as_str() {
        "approve" => PreReview::Approve,
        "return" => PreReview::Return(
            body.reasons
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    Ok(ReturnReason {
                        material: MaterialName::parse(&r.material).map_err(|e| {
                            ServiceError::invalid(format!("reasons[{i}].material"), e)
                        })?,
                        reason: check_reason(&r.reason).map_err(|e| {
                            ServiceError::invalid(format!("reasons[{i}].reason"), e)
                        })?,
                    })
                })
                .collect::<Result<Vec<_>, ServiceError>>()?,
        ),
        _ => {
            return Err(ServiceError::new(
                ErrorKind::Invalid,
                "invalid_decision",
                "预审决定应为 approve 或 return / decision is approve or return",
            )
            .with_field("decision"));
        }
    };
    view(
        &submissions::pre_review(&state, &caller, &id, decision).await?,
        None,
    )
}
