//! Signing in with an API token and signing out.
//!
//! The sign-in form has no session yet, so it is protected by a double-submit token: the page
//! sets a short-lived random cookie and puts the same value in the form; a cross-site page can
//! neither read the cookie nor (SameSite=Strict) make the browser send it.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{CsrfForm, SESSION_COOKIE, SignedIn, cookie, csrf_of, set_cookie};
use crate::domain::Sha256Digest;
use crate::domain::session::{SESSION_HOURS, same_secret};
use crate::routes::html::HtmlError;
use crate::routes::state::AppState;
use crate::service::auth::live_token_by_hash;
use crate::service::sessions::{self, random_secret};

const LOGIN_COOKIE: &str = "onetrip_login";
/// Long enough to find and paste a token.
const LOGIN_FORM_SECS: i64 = 15 * 60;

pub async fn page(State(state): State<AppState>) -> Result<Response, HtmlError> {
    login_page(&state, StatusCode::OK, None)
}

/// The sign-in page with a fresh double-submit token, and `error` when the last try failed.
fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, HtmlError> {
    let csrf = random_secret();
    let html = state
        .pages
        .render("console_login.html", json!({"csrf": csrf, "error": error}))
        .map_err(crate::service::ServiceError::internal)?;
    let cookie = set_cookie(state, LOGIN_COOKIE, &csrf, LOGIN_FORM_SECS);
    Ok((status, [(SET_COOKIE, cookie)], Html(html)).into_response())
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// Never logs the form: it holds the token.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let Ok(Form(form)) = form else {
        return Err(HtmlError::bad_request(
            "登录表单无效 / the sign-in form was malformed",
        ));
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&expected, &form.csrf) {
        return Err(HtmlError::forbidden(
            "登录页面已过期，请重新打开登录页 / the sign-in page expired: open it again",
        )
        .back_to("/console/login"));
    }
    let token = form.token.trim();
    let hash = Sha256Digest::of(token.as_bytes());
    let record = live_token_by_hash(&state, &hash).await?;
    let Some(record) = record else {
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("令牌无效或已吊销 / unknown or revoked token"),
        );
    };
    let token_id = record.id.clone();
    let (session_id, _) = sessions::open(&*state.store, hash, Utc::now()).await?;
    tracing::info!(token = %token_id, "console sign-in");
    let session = set_cookie(&state, SESSION_COOKIE, &session_id, SESSION_HOURS * 3600);
    let clear_login = set_cookie(&state, LOGIN_COOKIE, "", 0);
    let cookies = AppendHeaders([(SET_COOKIE, session), (SET_COOKIE, clear_login)]);
    Ok((cookies, Redirect::to("/console")).into_response())
}

pub async fn sign_out(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    who.check_csrf(&headers, csrf_of(form).as_deref())?;
    sessions::close(&*state.store, &who.session_id).await?;
    let clear = set_cookie(&state, SESSION_COOKIE, "", 0);
    Ok(([(SET_COOKIE, clear)], Redirect::to("/console/login")).into_response())
}
