//! The console (`/console`): server-rendered pages for every role, phone first. Applicants
//! file, upload, fix a return and download their certificate; pre-reviewers work through the
//! submitted files; approvers through their department's items; clerks check files at the
//! window and issue; admins manage tokens and keys.
//!
//! Everyone signs in once with their API token; the browser then holds only a session cookie
//! (HttpOnly, SameSite=Strict, Path=/console, 8 hours; see `domain::session`). Every form
//! carries the session's CSRF token in a hidden `csrf` field, and script requests also send it
//! as `X-CSRF-Token`; both are checked here. The pages call the same functions as the JSON API,
//! so a check or an issuance made here is the very same as one made with curl.

mod admin;
mod applicant;
mod batches;
mod certificates;
mod review;
mod sign_in;
mod submissions;

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::json;

use super::html::{HtmlError, with_page_headers};
use super::multipart::{self, Parts as Multipart, small_text};
use crate::domain::actor::Actor;
use crate::domain::session::ConsoleSession;
use crate::domain::submission::Submission;
use crate::routes::caller::{SESSION_COOKIE, cookie};
use crate::routes::state::AppState;
use crate::service::auth::{actor_of, live_token_by_hash};
use crate::service::sessions;

const CSRF_HEADER: &str = "x-csrf-token";
/// The console's forms carry a token, a CSRF token and a few short fields; the sign-in form
/// is anyone's to send, so it may not make the service hold more.
const FORM_LIMIT: usize = 16 << 10;

pub fn router() -> Router<AppState> {
    let router = Router::new()
        .route("/console", get(submissions::home))
        // Anyone may send the sign-in form: one declared larger than a form is refused before
        // its body is waited for.
        .route(
            "/console/login",
            get(sign_in::page)
                .post(sign_in::sign_in)
                .layer(axum::middleware::from_fn_with_state(
                    FORM_LIMIT as u64,
                    super::limits::declared_length_within,
                )),
        )
        .route("/console/logout", post(sign_in::sign_out))
        .route("/console/submissions/{id}", get(submissions::show))
        .route("/console/batches", get(batches::list))
        .route("/console/batches/{id}", get(batches::show))
        .route(
            "/console/submissions/{id}/window-check",
            post(submissions::window_check).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/console/submissions/{id}/checks/{seq}",
            get(submissions::report),
        )
        .route(
            "/console/submissions/{id}/receipt",
            get(submissions::receipt),
        )
        .route("/console/submissions/{id}/issue", post(certificates::issue))
        .route("/console/services", get(applicant::services))
        .route(
            "/console/apply/{code}",
            get(applicant::form).post(applicant::apply),
        )
        .route(
            "/console/submissions/{id}/materials",
            post(applicant::upload_form).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/console/submissions/{id}/materials/{name}",
            get(review::material)
                .put(applicant::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/console/submissions/{id}/submit", post(applicant::submit))
        .route(
            "/console/submissions/{id}/pre-review",
            post(review::pre_review),
        )
        .route(
            "/console/submissions/{id}/items/{code}/decision",
            post(review::decide),
        )
        .route(
            "/console/admin/tokens",
            get(admin::list_tokens).post(admin::create_token),
        )
        .route(
            "/console/admin/tokens/{id}/revoke",
            post(admin::revoke_token),
        )
        .route("/console/admin/catalogue", get(admin::catalogue))
        .route(
            "/console/admin/catalogue/{code}",
            get(admin::service_form).post(admin::save_service),
        )
        .route(
            "/console/admin/calendar/{year}",
            get(admin::calendar_form).post(admin::save_calendar),
        )
        .route("/console/admin/keys", get(admin::list_keys))
        .route("/console/admin/keys/rotate", post(admin::rotate_key))
        .route("/console/admin/keys/{kid}/revoke", post(admin::revoke_key))
        .route("/console/certificates/{serial}/pdf", get(certificates::pdf))
        .route(
            "/console/certificates/{serial}/delivery",
            post(certificates::delivery),
        )
        .layer(DefaultBodyLimit::max(FORM_LIMIT));
    with_page_headers(router)
}

/// Whoever is signed in (any role), from the session cookie. Without a live session the browser
/// is sent to the sign-in page.
pub struct SignedIn {
    pub session_id: String,
    pub session: ConsoleSession,
    pub actor: Actor,
}

impl SignedIn {
    /// Refuses a state-changing request whose CSRF token (form field, header, or both when both
    /// are sent) is not this session's.
    pub fn check_csrf(&self, headers: &HeaderMap, field: Option<&str>) -> Result<(), HtmlError> {
        let header = headers.get(CSRF_HEADER).map(|v| v.to_str().unwrap_or(""));
        let presented: Vec<&str> = header.into_iter().chain(field).collect();
        if !presented.is_empty() && presented.iter().all(|t| self.session.csrf_matches(t)) {
            return Ok(());
        }
        tracing::warn!(caller = %self.actor.label(), "console request without a valid CSRF token");
        Err(HtmlError::forbidden(
            "请求缺少有效的安全令牌，请刷新页面后重试 / this request lacks a valid CSRF token: reload the page and try again",
        ))
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let sign_in = || Redirect::to("/console/login").into_response();
        let session_id = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(sign_in)?;
        let session = sessions::find(&*state.store, &session_id, Utc::now())
            .await
            .map_err(|e| HtmlError::from(e).into_response())?
            .ok_or_else(sign_in)?;
        let record = live_token_by_hash(state, &session.token_hash)
            .await
            .map_err(|e| HtmlError::from(e).into_response())?;
        let Some(record) = record else {
            sessions::close(&*state.store, &session_id)
                .await
                .map_err(|e| HtmlError::from(e).into_response())?;
            return Err(sign_in());
        };
        Ok(SignedIn {
            session_id,
            session,
            actor: actor_of(&record),
        })
    }
}

/// The fields of a posted form. One that cannot be read is answered with its own status —
/// 413 past [`FORM_LIMIT`], 400 or 415 when it is not a form — not as a missing CSRF token;
/// nothing was done either way.
fn form_fields<T>(form: Result<Form<T>, FormRejection>) -> Result<T, HtmlError> {
    form.map(|Form(fields)| fields).map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "表单超过 {} KB / the form is larger than {} KB",
                FORM_LIMIT >> 10,
                FORM_LIMIT >> 10
            )
        } else {
            "表单无法读取 / the form could not be read".to_owned()
        };
        HtmlError::new(status, message)
    })
}

/// Turns a path that did not parse into the page a person expects: not found.
fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, HtmlError> {
    path.map(|Path(p)| p)
        .map_err(|_| HtmlError::new(StatusCode::NOT_FOUND, "页面不存在 / no such page"))
}

/// The first value of field `name` of a form read as pairs (a form whose field names are not
/// known in advance: `field.<key>`, `reason.<material>`, repeated `item`).
fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A form that carries nothing but the CSRF token (sign out, issue, submit, revoke).
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// The token of a [`CsrfForm`]; `None` when the form could not be read, which the CSRF check
/// then refuses.
fn csrf_of(form: Result<Form<CsrfForm>, FormRejection>) -> Option<String> {
    form.ok().and_then(|Form(f)| f.csrf)
}

/// A multipart form of the console posted to a submission (the window check, uploads
/// without script): its first part, `csrf`, checked, then the submission the caller may read
/// loaded, before any file part is read. A CSRF token is 43 characters; a larger first part
/// is refused without reading it whole.
async fn multipart_form(
    state: &AppState,
    who: &SignedIn,
    headers: &HeaderMap,
    id: Result<Path<String>, PathRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(Multipart, Submission), HtmlError> {
    let mut multipart = multipart.map_err(multipart::rejected)?;
    let csrf = match multipart.next_field().await.map_err(multipart::malformed)? {
        Some(part) if part.name() == Some("csrf") => Some(small_text(part, 256).await?),
        _ => None,
    };
    who.check_csrf(headers, csrf.as_deref())?;
    let submission = crate::service::submissions::load(state, &who.actor, &path(id)?).await?;
    Ok((multipart, submission))
}

/// Renders a console page with what every page needs: who is signed in, the CSRF token for
/// its forms, the role's menu, and the names of people and departments that the page prints
/// instead of token ids and codes (`context` must be a JSON object).
async fn render(
    state: &AppState,
    who: &SignedIn,
    page: &str,
    mut context: serde_json::Value,
) -> Result<Response, HtmlError> {
    let people = crate::service::tokens::names(state).await?;
    if let Some(map) = context.as_object_mut() {
        map.insert("csrf".into(), who.session.csrf.clone().into());
        map.insert("actor".into(), who.actor.display_name().into());
        map.insert("role".into(), who.actor.role.to_string().into());
        map.insert(
            "signed_in_until".into(),
            crate::domain::calendar::beijing_time(who.session.expires_at).into(),
        );
        map.insert("people".into(), json!(*people));
        map.insert("departments".into(), json!(state.settings.departments));
    }
    let html = state
        .pages
        .render(page, context)
        .map_err(crate::service::ServiceError::internal)?;
    Ok(axum::response::Html(html).into_response())
}

/// A console cookie: never readable by script, never sent cross-site, only under `/console`,
/// and `Secure` when the service is published over HTTPS.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    let lifetime = cookie::time::Duration::seconds(max_age_secs);
    Cookie::build((name, value))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(lifetime)
        .expires(cookie::time::OffsetDateTime::now_utc() + lifetime)
        .secure(state.public_url.starts_with("https://"))
        .build()
        .to_string()
}
