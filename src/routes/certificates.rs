//! Issuing a certificate and reading it back: record, PDF, QR image, revocation, delivery.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::files::pdf_download;
use super::json::{AppJson, AppPath};
use crate::domain::SubmissionId;
use crate::domain::actor::Actor;
use crate::domain::certificate::{Certificate, DeliveryMethod, RevocationReason};
use crate::domain::{ItemCode, ParseError, check_label, check_reason};
use crate::routes::state::AppState;
use crate::service::certificates::{self, NewDelivery, optional};
use crate::service::lifecycle::{self, Withdrawal};
use crate::service::{ServiceError, issuance, submission_not_found};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/submissions/{id}/issue", post(issue))
        .route("/certificates/{id}", get(read))
        .route("/certificates/{id}/pdf", get(pdf))
        .route("/certificates/{id}/qr.png", get(qr_png))
        .route("/certificates/{id}/revoke", post(revoke))
        .route("/certificates/{id}/suspend", post(suspend))
        .route("/certificates/{id}/reinstate", post(reinstate))
        .route("/certificates/{id}/withdraw-items", post(withdraw_items))
        .route("/certificates/{id}/delivery", put(record_delivery))
        .route("/certificates/{id}/delivery/events", post(delivery_event))
}

/// The certificate record as the API shows it: the stored record and its `version` (the
/// identifier's version segment).
#[derive(Serialize)]
struct Record {
    #[serde(flatten)]
    certificate: Certificate,
    version: u16,
}

fn record(certificate: Certificate) -> Json<Record> {
    let version = certificate.content.id.version();
    Json(Record {
        certificate,
        version,
    })
}

async fn issue(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<(StatusCode, Json<Record>), ServiceError> {
    let id = SubmissionId::parse(&id).map_err(|_| submission_not_found(&id))?;
    let certificate = issuance::issue(&state, &caller, &id).await?;
    Ok((StatusCode::CREATED, record(certificate)))
}

async fn read(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<Record>, ServiceError> {
    Ok(record(certificates::read(&state, &caller, &id)?))
}

async fn pdf(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let (certificate, pdf) = certificates::pdf(&state, &caller, &id)?;
    Ok(pdf_download(&certificate, pdf))
}

async fn qr_png(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let png = certificates::qr_png(&state, &caller, &id)?;
    Ok(([(CONTENT_TYPE, "image/png")], png))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: RevocationReason,
    #[serde(default)]
    text: String,
}

async fn revoke(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<RevokeBody>,
) -> Result<Json<Record>, ServiceError> {
    let text = optional(Some(body.text), "text", check_reason)?.unwrap_or_default();
    Ok(record(
        certificates::revoke(&state, &caller, &id, body.reason, text).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspendBody {
    reason: String,
    /// The last day of the suspension (China date), if it has one.
    until: Option<String>,
}

fn reason(text: &str) -> Result<String, ServiceError> {
    check_reason(text).map_err(|e| ServiceError::invalid("reason", e))
}

async fn suspend(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<SuspendBody>,
) -> Result<Json<Record>, ServiceError> {
    let until = body
        .until
        .map(|d| {
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                ServiceError::invalid(
                    "until",
                    ParseError::new(
                        "invalid_date",
                        "日期格式应为 YYYY-MM-DD / a date is YYYY-MM-DD",
                    ),
                )
            })
        })
        .transpose()?;
    let reason = reason(&body.reason)?;
    Ok(record(
        lifecycle::suspend(&state, &caller, &id, reason, until).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReinstateBody {
    reason: String,
}

async fn reinstate(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ReinstateBody>,
) -> Result<Json<Record>, ServiceError> {
    let reason = reason(&body.reason)?;
    Ok(record(
        lifecycle::reinstate(&state, &caller, &id, reason).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    items: Vec<String>,
    reason: String,
}

/// 201 with the new version, or 200 with the revoked certificate when the last items left.
async fn withdraw_items(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<WithdrawBody>,
) -> Result<(StatusCode, Json<Record>), ServiceError> {
    let items = body
        .items
        .iter()
        .enumerate()
        .map(|(i, code)| {
            ItemCode::parse(code).map_err(|e| ServiceError::invalid(format!("items[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let reason = reason(&body.reason)?;
    Ok(
        match lifecycle::withdraw_items(&state, &caller, &id, items, reason).await? {
            Withdrawal::Successor(next) => (StatusCode::CREATED, record(next)),
            Withdrawal::Revoked(revoked) => (StatusCode::OK, record(revoked)),
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryBody {
    method: DeliveryMethod,
    carrier: Option<String>,
    tracking_number: Option<String>,
    address: Option<String>,
}

async fn record_delivery(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<DeliveryBody>,
) -> Result<Json<Record>, ServiceError> {
    let delivery = NewDelivery::parse(
        body.method,
        body.carrier,
        body.tracking_number,
        body.address,
    )?;
    Ok(record(
        certificates::record_delivery(&state, &caller, &id, delivery).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryEventBody {
    status: String,
    note: Option<String>,
}

/// Appends how the parcel moved (`picked_up`, `in_transit`, `delivered`, …).
async fn delivery_event(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<DeliveryEventBody>,
) -> Result<Json<Record>, ServiceError> {
    let status = check_label(&body.status).map_err(|e| ServiceError::invalid("status", e))?;
    let note = optional(body.note, "note", check_label)?;
    Ok(record(
        certificates::delivery_event(&state, &caller, &id, status, note).await?,
    ))
}
