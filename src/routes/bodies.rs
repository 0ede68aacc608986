//! The request bodies of the use-cases that both the JSON API and the console take — filing a
//! submission, pre-review, a department's decision, a calendar's year — and their parsing into
//! the service's types: a form is turned into the very body the API reads, so a page accepts
//! nothing the API would refuse.

use std::collections::BTreeMap;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::holder::Holder;
use crate::domain::identifier::Identifier;
use crate::domain::submission::{DecisionOutcome, FiledItem, NewSubmission, ReturnReason};
use crate::domain::{DepartmentCode, ItemCode, MaterialName, ParseError, check_reason};
use crate::service::submissions::PreReview;
use crate::service::{ErrorKind, ServiceError};

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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    decision: String,
    #[serde(default)]
    comment: String,
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

/// A year in a path, 2000 to 2100.
pub(crate) fn year(raw: &str) -> Result<i32, ServiceError> {
    raw.parse::<i32>()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| {
            ServiceError::invalid(
                "year",
                ParseError::new(
                    "invalid_year",
                    "年份应为2000至2100 / a year from 2000 to 2100",
                ),
            )
        })
}
