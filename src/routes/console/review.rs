//! The pre-reviewer's and the department approver's pages: their queues, a material viewed
//! in the page, the pre-review (approve, or return naming each faulty material) and a
//! department's decision. Forms are turned into the API's request bodies and parsed by the
//! API's own functions.

use axum::Form;
use axum::body::Body;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use tokio_util::io::ReaderStream;

use super::{SignedIn, field, form_fields, path, render};
use crate::routes::bodies::{DecisionBody, PreReviewBody, parse_decision, parse_pre_review};
use crate::routes::html::HtmlError;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::submissions;

/// Shown inside the page, a material may not run anything, navigate or be framed by another
/// site: it is a document in a sandbox of its own.
const MATERIAL_POLICY: &str = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; \
     object-src 'self'; frame-ancestors 'self'";

/// The pre-reviewer's home: the submitted files, oldest first.
pub async fn review_home(state: &AppState, who: &SignedIn) -> Result<Response, HtmlError> {
    let queue = submissions::review_queue(state, &who.actor).await?;
    let views = serde_json::to_value(submissions::views(state, &queue).await?)
        .map_err(ServiceError::internal)?;
    render(state, who, "review_home.html", json!({"queue": views})).await
}

/// The approver's home: the submissions with an item whose turn is their department's,
/// overdue first, then by due date.
pub async fn approval_home(state: &AppState, who: &SignedIn) -> Result<Response, HtmlError> {
    let queue = submissions::approval_queue(state, &who.actor).await?;
    let department = who.actor.department.as_ref();
    let awaiting: Vec<Vec<serde_json::Value>> = queue
        .iter()
        .map(|s| {
            s.awaiting(department)
                .into_iter()
                .map(|i| json!({"code": i.code, "name": i.name, "step": i.waiting_step().map(|st| &st.name)}))
                .collect()
        })
        .collect();
    let views = serde_json::to_value(submissions::views(state, &queue).await?)
        .map_err(ServiceError::internal)?;
    render(
        state,
        who,
        "approval_home.html",
        json!({"queue": views, "awaiting": awaiting, "department": who.actor.department}),
    )
    .await
}

/// A material as it was uploaded. Shown inline only when its content is a PDF or an image,
/// in a sandbox and never sniffed again by the browser; anything else is a download.
pub async fn material(
    State(state): State<AppState>,
    who: SignedIn,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, HtmlError> {
    let (id, name) = path(ids)?;
    let found = submissions::material(&state, &who.actor, &id, &name).await?;
    let shown = found.inline;
    // `filename*` (RFC 6266, 8187): the material's name, every byte but letters and digits escaped.
    let encoded = utf8_percent_encode(found.name.as_str(), NON_ALPHANUMERIC);
    let disposition = match shown {
        Some(_) => format!("inline; filename*=UTF-8''{encoded}"),
        None => format!("attachment; filename*=UTF-8''{encoded}"),
    };
    let headers = [
        (
            CONTENT_TYPE,
            HeaderValue::from_static(shown.unwrap_or("application/octet-stream")),
        ),
        (
            CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).map_err(ServiceError::internal)?,
        ),
        (CONTENT_LENGTH, HeaderValue::from(found.size)),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(MATERIAL_POLICY),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
    ];
    Ok((headers, Body::from_stream(ReaderStream::new(found.file))).into_response())
}

/// Approves (`decision=approve`) or returns (`decision=return`) with the reasons typed beside
/// the materials (`reason.<material>`; a material without one is not returned).
pub async fn pre_review(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, HtmlError> {
    let pairs = form_fields(form)?;
    who.check_csrf(&headers, field(&pairs, "csrf"))?;
    let id = path(id)?;
    let back = format!("/console/submissions/{id}");
    let decision = field(&pairs, "decision").unwrap_or_default();
    let reasons: Vec<_> = pairs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("reason.")?, v)))
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(material, reason)| json!({"material": material, "reason": reason}))
        .collect();
    let body = json!({"decision": decision, "reasons": reasons});
    let decided = serde_json::from_value::<PreReviewBody>(body)
        .map_err(|e| ServiceError::bad_request("invalid_form", e.to_string()))
        .and_then(parse_pre_review);
    let decision = decided.map_err(|e| HtmlError::from(e).back_to(&back))?;
    submissions::pre_review(&state, &who.actor, &id, decision)
        .await
        .map_err(|e| HtmlError::from(e).back_to(&back))?;
    Ok(Redirect::to("/console").into_response())
}

/// A department decides one item (`decision` approve or reject, `comment`).
pub async fn decide(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    ids: Result<Path<(String, String)>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, HtmlError> {
    let pairs = form_fields(form)?;
    let value = |name: &str| field(&pairs, name).unwrap_or_default();
    who.check_csrf(&headers, Some(value("csrf")))?;
    let (id, item) = path(ids)?;
    let back = format!("/console/submissions/{id}");
    let body = json!({"decision": value("decision"), "comment": value("comment")});
    let (outcome, comment) = serde_json::from_value::<DecisionBody>(body)
        .map_err(|e| ServiceError::bad_request("invalid_form", e.to_string()))
        .and_then(parse_decision)
        .map_err(|e| HtmlError::from(e).back_to(&back))?;
    submissions::decide(&state, &who.actor, &id, &item, outcome, comment)
        .await
        .map_err(|e| HtmlError::from(e).back_to(&back))?;
    Ok(Redirect::to(&format!("{back}#items")).into_response())
}
