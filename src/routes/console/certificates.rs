//! Issuing from the console, downloading the PDF, recording the delivery.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Clerk;
use crate::domain::SubmissionId;
use crate::domain::certificate::{Certificate, DeliveryMethod};
use crate::routes::certificates::{DeliveryBody, certificate_not_found, pdf_download, record};
use crate::routes::html::HtmlError;
use crate::routes::state::AppState;
use crate::service::submission_not_found;

#[derive(Deserialize)]
pub struct IssueForm {
    csrf: Option<String>,
}

fn path(path: Result<Path<String>, PathRejection>) -> Result<String, HtmlError> {
    path.map(|Path(p)| p)
        .map_err(|_| HtmlError::new(StatusCode::NOT_FOUND, "页面不存在 / no such page"))
}

/// Issues through `crate::service::issuance::issue`, as `POST /api/v1/submissions/{id}/issue` does; when
/// something still blocks issuance, the error page says so and leads back to the submission
/// page, which lists the blockers.
#[tracing::instrument(skip_all, fields(caller = %clerk.caller.actor()))]
pub async fn issue(
    State(state): State<AppState>,
    clerk: Clerk,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<IssueForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let csrf = form.ok().and_then(|Form(f)| f.csrf);
    clerk.check_csrf(&headers, csrf.as_deref())?;
    let raw = path(id)?;
    let id = SubmissionId::parse(&raw).map_err(|_| HtmlError::from(submission_not_found(&raw)))?;
    let page = format!("/console/submissions/{id}");
    crate::service::issuance::issue(&state, &id, &clerk.caller.actor())
        .await
        .map_err(|e| HtmlError::from(e).back_to(&page))?;
    Ok(Redirect::to(&format!("{page}#certificate")).into_response())
}

fn load(state: &AppState, serial: &str) -> Result<Certificate, HtmlError> {
    state
        .store
        .certificate(serial)?
        .ok_or_else(|| certificate_not_found(serial).into())
}

pub async fn pdf(
    State(state): State<AppState>,
    _clerk: Clerk,
    serial: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let certificate = load(&state, &path(serial)?)?;
    Ok(pdf_download(&state, &certificate)?.into_response())
}

#[derive(Deserialize)]
pub struct DeliveryForm {
    csrf: Option<String>,
    method: DeliveryMethod,
    carrier: Option<String>,
    tracking_number: Option<String>,
    address: Option<String>,
}

/// Records the delivery with the API's own checks (a courier needs carrier, tracking number
/// and address).
#[tracing::instrument(skip_all, fields(caller = %clerk.caller.actor()))]
pub async fn delivery(
    State(state): State<AppState>,
    clerk: Clerk,
    headers: HeaderMap,
    serial: Result<Path<String>, PathRejection>,
    form: Result<Form<DeliveryForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let form = match form {
        Ok(Form(form)) => form,
        Err(_) => {
            clerk.check_csrf(&headers, None)?;
            return Err(HtmlError::bad_request(
                "请选择送达方式 / choose how the certificate is delivered",
            ));
        }
    };
    clerk.check_csrf(&headers, form.csrf.as_deref())?;
    let certificate = load(&state, &path(serial)?)?;
    let page = format!("/console/submissions/{}", certificate.submission);
    let body = DeliveryBody {
        method: form.method,
        carrier: form.carrier,
        tracking_number: form.tracking_number,
        address: form.address,
    };
    record(
        &state,
        &certificate.content.id.to_string(),
        &clerk.caller.actor(),
        body,
    )
    .await
    .map_err(|e| HtmlError::from(e).back_to(&page))?;
    Ok(Redirect::to(&format!("{page}#certificate")).into_response())
}
