//! Creating, reading, submitting and pre-reviewing submissions.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::{AppJson, AppPath, AppQuery};
use crate::domain::actor::Actor;
use crate::domain::holder::Holder;
use crate::domain::identifier::Identifier;
use crate::domain::submission::{Event, FiledItem, NewSubmission, ReturnReason, Submission};
use crate::domain::{DepartmentCode, ItemCode, MaterialName, check_reason};
use crate::routes::state::AppState;
use crate::service::submissions::{self, PreReview, SubmissionView};
use crate::service::{ErrorKind, ServiceError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, due))
        .routes(routes!(read))
        .routes(routes!(submit))
        .routes(routes!(pre_review))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HolderBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ItemBody {
    code: String,
    department: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaterialBody {
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    holder: HolderBody,
    kind: String,
    items: Vec<ItemBody>,
    /// Absent: the catalogue's list for the items.
    materials: Option<Vec<MaterialBody>>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    /// The identifier of the certificate this submission amends.
    amends: Option<String>,
    /// Renew (延续) the certificate `amends` names.
    #[serde(default)]
    renew: bool,
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

pub(crate) fn parse_new(body: CreateBody) -> Result<NewSubmission, ServiceError> {
    let holder = Holder::parse(&body.holder.kind, &body.holder.id, &body.holder.name)
        .map_err(|e| ServiceError::invalid(format!("holder.{}", e.field), e.error))?;
    let items = body
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let code = ItemCode::parse(&item.code)
                .map_err(|e| ServiceError::invalid(format!("items[{i}].code"), e))?;
            let department = item
                .department
                .map(|d| {
                    DepartmentCode::parse(&d)
                        .map_err(|e| ServiceError::invalid(format!("items[{i}].department"), e))
                })
                .transpose()?;
            let name = item
                .name
                .map(|n| {
                    crate::domain::check_item_name(&n)
                        .map_err(|e| ServiceError::invalid(format!("items[{i}].name"), e))
                })
                .transpose()?;
            Ok(FiledItem {
                code,
                department,
                name,
            })
        })
        .collect::<Result<_, ServiceError>>()?;
    let materials = body
        .materials
        .map(|materials| {
            materials
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    MaterialName::parse(&m.name)
                        .map_err(|e| ServiceError::invalid(format!("materials[{i}].name"), e))
                })
                .collect::<Result<Vec<_>, ServiceError>>()
        })
        .transpose()?;
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
        renew: body.renew,
    })
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    material: String,
    reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreReviewBody {
    decision: String,
    #[serde(default)]
    reasons: Vec<ReasonBody>,
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

/// The pre-review decision as the API takes it (the console's form is turned into it).
pub(crate) fn parse_pre_review(body: PreReviewBody) -> Result<PreReview, ServiceError> {
    Ok(match body.decision.as_str() {
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
    })
}
