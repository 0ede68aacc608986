//! Issuing a certificate and reading it back: record, PDF, QR image, delivery.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use chrono::Utc;
use serde::Deserialize;

use super::json::{AppJson, AppPath};
use crate::auth::Caller;
use crate::domain::Refusal;
use crate::domain::certificate::{
    Certificate, Delivery, DeliveryEvent, DeliveryMethod, RevocationReason,
};
use crate::domain::{Role, SubmissionId, check_label, check_reason};
use crate::routes::state::AppState;
use crate::service::{ErrorKind, ServiceError, submission_not_found};

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
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<(StatusCode, Json<Certificate>), ServiceError> {
    caller.require(&[Role::Clerk, Role::Admin])?;
    let id = SubmissionId::parse(&id).map_err(|_| submission_not_found(&id))?;
    let certificate = crate::service::issuance::issue(&state, &id, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(certificate)))
}

pub(super) fn certificate_not_found(id: &str) -> ServiceError {
    ServiceError::not_found(
        "certificate_not_found",
        format!("证照 {id} 不存在 / no certificate {id}"),
    )
}

/// The holder's applicant, a clerk or an admin may read a certificate; nobody else.
fn load_readable(state: &AppState, caller: &Caller, id: &str) -> Result<Certificate, ServiceError> {
    caller.require(&[Role::Applicant, Role::Clerk, Role::Admin])?;
    let certificate = state
        .store
        .certificate(id)?
        .ok_or_else(|| certificate_not_found(id))?;
    if caller.role() == Role::Applicant
        && caller.0.holder.as_deref() != Some(certificate.content.holder.id())
    {
        return Err(ServiceError::forbidden(
            "该证照不属于您的主体 / this certificate belongs to another holder",
        ));
    }
    Ok(certificate)
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<Certificate>, ServiceError> {
    Ok(Json(load_readable(&state, &caller, &id)?))
}

async fn pdf(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let certificate = load_readable(&state, &caller, &id)?;
    pdf_download(&state, &certificate)
}

/// The stored PDF as a download, never cached by a shared proxy. Also serves the console.
pub(super) fn pdf_download(
    state: &AppState,
    certificate: &Certificate,
) -> Result<impl IntoResponse + use<>, ServiceError> {
    let id = certificate.content.id.to_string();
    let pdf = state
        .store
        .certificate_pdf(&id)?
        .ok_or_else(|| ServiceError::internal(format!("certificate {id} has no stored PDF")))?;
    let filename = format!("{id}.pdf");
    Ok((
        [
            (CONTENT_TYPE, "application/pdf".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        pdf,
    ))
}

async fn qr_png(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let certificate = load_readable(&state, &caller, &id)?;
    let png = crate::render::qr_png(&certificate.verify_url).map_err(ServiceError::internal)?;
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
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<RevokeBody>,
) -> Result<Json<Certificate>, ServiceError> {
    caller.require(&[Role::Admin])?;
    let text = if body.text.trim().is_empty() {
        String::new()
    } else {
        check_reason(&body.text).map_err(|e| ServiceError::invalid("text", e))?
    };
    let certificate = state
        .store
        .revoke_certificate(&id, body.reason, &text, &caller.actor())
        .await?;
    tracing::warn!(certificate = %id, reason = ?body.reason, by = %caller.actor(), "certificate revoked");
    Ok(Json(certificate))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliveryBody {
    pub(super) method: DeliveryMethod,
    pub(super) carrier: Option<String>,
    pub(super) tracking_number: Option<String>,
    pub(super) address: Option<String>,
}

fn optional_label(field: &str, value: Option<String>) -> Result<Option<String>, ServiceError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| check_label(&v).map_err(|e| ServiceError::invalid(field, e)))
        .transpose()
}

async fn record_delivery(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<DeliveryBody>,
) -> Result<Json<Certificate>, ServiceError> {
    caller.require(&[Role::Clerk, Role::Admin])?;
    Ok(Json(record(&state, &id, &caller.actor(), body).await?))
}

/// Checks and records how certificate `id` leaves the office (the API and the console).
pub(super) async fn record(
    state: &AppState,
    id: &str,
    actor: &str,
    body: DeliveryBody,
) -> Result<Certificate, ServiceError> {
    let carrier = optional_label("carrier", body.carrier)?;
    let tracking_number = optional_label("tracking_number", body.tracking_number)?;
    let address = body
        .address
        .filter(|v| !v.trim().is_empty())
        .map(|v| check_reason(&v).map_err(|e| ServiceError::invalid("address", e)))
        .transpose()?;
    if body.method == DeliveryMethod::Courier {
        for (field, value) in [
            ("carrier", &carrier),
            ("tracking_number", &tracking_number),
            ("address", &address),
        ] {
            if value.is_none() {
                return Err(ServiceError::new(
                    ErrorKind::Invalid,
                    "field_required",
                    format!("邮寄须填写 {field} / courier delivery needs {field}"),
                )
                .with_field(field));
            }
        }
    }
    let certificate = state
        .store
        .update_certificate(id, |c| {
            let mut events = c.delivery.take().map(|d| d.events).unwrap_or_default();
            events.push(DeliveryEvent {
                at: Utc::now(),
                by: actor.to_owned(),
                status: "recorded".into(),
                note: None,
            });
            c.delivery = Some(Delivery {
                method: body.method,
                carrier: carrier.clone(),
                tracking_number: tracking_number.clone(),
                address: address.clone(),
                events,
            });
            Ok(())
        })
        .await?;
    Ok(certificate)
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
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<DeliveryEventBody>,
) -> Result<Json<Certificate>, ServiceError> {
    caller.require(&[Role::Clerk, Role::Admin])?;
    let status = check_label(&body.status).map_err(|e| ServiceError::invalid("status", e))?;
    let note = optional_label("note", body.note)?;
    let actor = caller.actor();
    let certificate = state
        .store
        .update_certificate(&id, |c| {
            let delivery = c.delivery.as_mut().ok_or_else(|| Refusal::Conflict {
                code: "no_delivery",
                message: "尚未登记送达方式 / record the delivery method first".into(),
                details: None,
            })?;
            delivery.events.push(DeliveryEvent {
                at: Utc::now(),
                by: actor.clone(),
                status: status.clone(),
                note: note.clone(),
            });
            Ok(())
        })
        .await?;
    Ok(Json(certificate))
}
