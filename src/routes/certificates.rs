//! Issuing a certificate and reading it back: record, PDF, QR image, revocation, delivery.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue))
        .routes(routes!(read))
        .routes(routes!(pdf))
        .routes(routes!(qr_png))
        .routes(routes!(revoke))
        .routes(routes!(suspend))
        .routes(routes!(reinstate))
        .routes(routes!(withdraw_items))
        .routes(routes!(record_delivery))
        .routes(routes!(delivery_event))
}

/// The certificate record as the API shows it: the stored record and its `version` (the
/// identifier's version segment).
#[derive(Serialize, ToSchema)]
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

/// 签发：所有部门通过后生成签名证照 / Issue the signed certificate once every department approved.
#[utoipa::path(
    post,
    path = "/submissions/{id}/issue",
    tag = "certificates",
    params(("id" = String, Path, description = "申报编号 / the submission's id")),
    security(("bearer" = [])),
    responses((status = 201, description = "已签发 / issued", body = Record))
)]
async fn issue(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<(StatusCode, Json<Record>), ServiceError> {
    let id = SubmissionId::parse(&id).map_err(|_| submission_not_found(&id))?;
    let certificate = issuance::issue(&state, &caller, &id).await?;
    Ok((StatusCode::CREATED, record(certificate)))
}

/// 证照记录 / The certificate record.
#[utoipa::path(
    get,
    path = "/certificates/{id}",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    security(("bearer" = [])),
    responses((status = 200, description = "证照记录 / the certificate record", body = Record))
)]
async fn read(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<Record>, ServiceError> {
    Ok(record(certificates::read(&state, &caller, &id).await?))
}

/// 证照 PDF（签名） / The signed PDF.
#[utoipa::path(
    get,
    path = "/certificates/{id}/pdf",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    security(("bearer" = [])),
    responses((status = 200, description = "PDF", content_type = "application/pdf", body = Vec<u8>))
)]
async fn pdf(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let (certificate, pdf) = certificates::pdf(&state, &caller, &id).await?;
    Ok(pdf_download(&certificate, pdf))
}

/// 证照二维码 / The certificate's QR code.
#[utoipa::path(
    get,
    path = "/certificates/{id}/qr.png",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    security(("bearer" = [])),
    responses((status = 200, description = "PNG", content_type = "image/png", body = Vec<u8>))
)]
async fn qr_png(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let png = certificates::qr_png(&state, &caller, &id).await?;
    Ok(([(CONTENT_TYPE, "image/png")], png))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: RevocationReason,
    #[serde(default)]
    text: String,
}

/// 撤销 / Revoke.
#[utoipa::path(
    post,
    path = "/certificates/{id}/revoke",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    request_body = RevokeBody,
    security(("bearer" = [])),
    responses((status = 200, description = "证照记录 / the certificate record", body = Record))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SuspendBody {
    reason: String,
    /// The last day of the suspension (China date), if it has one.
    until: Option<String>,
}

fn reason(text: &str) -> Result<String, ServiceError> {
    check_reason(text).map_err(|e| ServiceError::invalid("reason", e))
}

/// 暂扣 / Suspend.
#[utoipa::path(
    post,
    path = "/certificates/{id}/suspend",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    request_body = SuspendBody,
    security(("bearer" = [])),
    responses((status = 200, description = "证照记录 / the certificate record", body = Record))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReinstateBody {
    reason: String,
}

/// 恢复 / Reinstate a suspended certificate.
#[utoipa::path(
    post,
    path = "/certificates/{id}/reinstate",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    request_body = ReinstateBody,
    security(("bearer" = [])),
    responses((status = 200, description = "证照记录 / the certificate record", body = Record))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    items: Vec<String>,
    reason: String,
}

/// 撤回部分事项 / Withdraw items.
///
/// 201 新版本；若已无事项，200 已撤销的证照 / 201 with the new version, or 200 with the
/// revoked certificate when the last items left.
#[utoipa::path(
    post,
    path = "/certificates/{id}/withdraw-items",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    request_body = WithdrawBody,
    security(("bearer" = [])),
    responses((status = 201, description = "新版本 / the new version", body = Record), (status = 200, description = "最后的事项撤回后证照已撤销 / revoked, no item left", body = Record))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeliveryBody {
    method: DeliveryMethod,
    carrier: Option<String>,
    tracking_number: Option<String>,
    address: Option<String>,
}

/// 寄递信息 / How the certificate reaches its holder.
#[utoipa::path(
    put,
    path = "/certificates/{id}/delivery",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    request_body = DeliveryBody,
    security(("bearer" = [])),
    responses((status = 200, description = "证照记录 / the certificate record", body = Record))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeliveryEventBody {
    status: String,
    note: Option<String>,
}

/// 寄递进度 / How the parcel moved (`picked_up`, `in_transit`, `delivered`, …).
#[utoipa::path(
    post,
    path = "/certificates/{id}/delivery/events",
    tag = "certificates",
    params(("id" = String, Path, description = "证照编号（含版本） / the certificate identifier, with its version")),
    request_body = DeliveryEventBody,
    security(("bearer" = [])),
    responses((status = 200, description = "证照记录 / the certificate record", body = Record))
)]
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
