//! Issuing a certificate and reading it back: record, PDF, QR image, revocation, delivery.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use serde::Deserialize;

use super::files::pdf_download;
use super::json::{AppJson, AppPath};
use crate::domain::SubmissionId;
use crate::domain::actor::Actor;
use crate::domain::certificate::{Certificate, DeliveryMethod, RevocationReason};
use crate::domain::{check_label, check_reason};
use crate::routes::state::AppState;
use crate::service::certificates::{self, NewDelivery, optional};
use crate::service::{ServiceError, issuance, submission_not_found};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/submissions/{id}/issue", post(issue))
        .route("/certificates/{id}", get(read))
        .route("/certificates/{id}/pdf", get(pdf))
        .route("/certificates/{id}/qr.png", get(qr_png))
        .route("/certificates/{id}/revoke", post(revoke))
        .route("/certificates/{id}/delivery", put(record_delivery))
        .route("/certificates/{id}/delivery/events", post(delivery_event))
}

async fn issue(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<(StatusCode, Json<Certificate>), ServiceError> {
    let id = SubmissionId::parse(&id).map_err(|_| submission_not_found(&id))?;
    let certificate = issuance::issue(&state, &caller, &id).await?;
    Ok((StatusCode::CREATED, Json(certificate)))
}

async fn read(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<Certificate>, ServiceError> {
    Ok(Json(certificates::read(&state, &caller, &id)?))
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
) -> Result<Json<Certificate>, ServiceError> {
    let text = optional(Some(body.text), "text", check_reason)?.unwrap_or_default();
    Ok(Json(
        certificates::revoke(&state, &caller, &id, body.reason, text).await?,
    ))
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
) -> Result<Json<Certificate>, ServiceError> {
    let delivery = NewDelivery::parse(
        body.method,
        body.carrier,
        body.tracking_number,
        body.address,
    )?;
    Ok(Json(
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
) -> Result<Json<Certificate>, ServiceError> {
    let status = check_label(&body.status).map_err(|e| ServiceError::invalid("status", e))?;
    let note = optional(body.note, "note", check_label)?;
    Ok(Json(
        certificates::delivery_event(&state, &caller, &id, status, note).await?,
    ))
}
