//! Issuing from the console, downloading the PDF, recording the delivery.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{CsrfForm, SignedIn, csrf_of, path};
use crate::domain::SubmissionId;
use crate::domain::certificate::DeliveryMethod;
use crate::routes::files::pdf_download;
use crate::routes::html::HtmlError;
use crate::routes::state::AppState;
use crate::service::certificates::{self, NewDelivery};
use crate::service::{issuance, submission_not_found};

/// Issues through `service::issuance::issue`, as `POST /api/v1/submissions/{id}/issue` does; when
/// something still blocks issuance, the error page says so and leads back to the submission
/// page, which lists the blockers.
#[tracing::instrument(skip_all, fields(caller = %who.actor.label()))]
pub async fn issue(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    who.check_csrf(&headers, csrf_of(form).as_deref())?;
    let raw = path(id)?;
    let id = SubmissionId::parse(&raw).map_err(|_| HtmlError::from(submission_not_found(&raw)))?;
    let page = format!("/console/submissions/{id}");
    issuance::issue(&state, &who.actor, &id)
        .await
        .map_err(|e| HtmlError::from(e).back_to(&page))?;
    Ok(Redirect::to(&format!("{page}#certificate")).into_response())
}

pub async fn pdf(
    State(state): State<AppState>,
    who: SignedIn,
    serial: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let (certificate, pdf) = certificates::pdf(&state, &who.actor, &path(serial)?).await?;
    Ok(pdf_download(&certificate, pdf).into_response())
}

#[derive(Deserialize)]
pub struct DeliveryForm {
    csrf: Option<String>,
    method: DeliveryMethod,
    carrier: Option<String>,
    tracking_number: Option<String>,
    address: Option<String>,
}

/// Records the delivery through the same use-case as the API (a courier needs carrier,
/// tracking number and address).
#[tracing::instrument(skip_all, fields(caller = %who.actor.label()))]
pub async fn delivery(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    serial: Result<Path<String>, PathRejection>,
    form: Result<Form<DeliveryForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let form = match form {
        Ok(Form(form)) => form,
        Err(_) => {
            who.check_csrf(&headers, None)?;
            return Err(HtmlError::bad_request(
                "请选择送达方式 / choose how the certificate is delivered",
            ));
        }
    };
    who.check_csrf(&headers, form.csrf.as_deref())?;
    let certificate = certificates::read(&state, &who.actor, &path(serial)?).await?;
    let page = format!("/console/submissions/{}", certificate.submission);
    let delivery = NewDelivery::parse(
        form.method,
        form.carrier,
        form.tracking_number,
        form.address,
    )
    .map_err(|e| HtmlError::from(e).back_to(&page))?;
    certificates::record_delivery(
        &state,
        &who.actor,
        &certificate.content.id.to_string(),
        delivery,
    )
    .await
    .map_err(|e| HtmlError::from(e).back_to(&page))?;
    Ok(Redirect::to(&format!("{page}#certificate")).into_response())
}
