//! What the HTML routes (`/console`, `/verify`) share: a friendly error page instead of the
//! API's JSON error, and the response headers every page carries.
//!
//! A handler returns `Result<_, HtmlError>`. `HtmlError` cannot render itself (rendering
//! needs the page templates in `AppState`), so it travels to `render_html_errors` as a
//! response extension and is rendered there, once, for every HTML route.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::routes::state::AppState;
use crate::service::ServiceError;

/// An error shown to a person: the status, one sentence in Chinese then English, and where
/// to go next.
#[derive(Debug, Clone)]
pub struct HtmlError {
    pub status: StatusCode,
    pub message: String,
    /// A link back (e.g. to the submission page); the console or verify home when `None`.
    pub back: Option<String>,
}

impl HtmlError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            back: None,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn back_to(mut self, href: impl Into<String>) -> Self {
        self.back = Some(href.into());
        self
    }
}

/// The API error's status and message are already written for people; internal errors were
/// logged when they were made and say nothing more here.
impl From<ServiceError> for HtmlError {
    fn from(e: ServiceError) -> Self {
        Self::new(super::error::status_of(e.kind), e.message)
    }
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders an `HtmlError` left by a handler; passes every other response through.
pub async fn render_html_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let console = request.uri().path().starts_with("/console");
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<HtmlError>() else {
        return response;
    };
    let home = if console { "/console" } else { "/verify" };
    let page = state.pages.render(
        "console_error.html",
        json!({
            "status": error.status.as_u16(),
            "message": error.message,
            "back": error.back.as_deref().unwrap_or(home),
            "console": console,
        }),
    );
    match page {
        Ok(html) => (error.status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the error page");
            (error.status, error.message).into_response()
        }
    }
}

/// Headers for every HTML page: scripts only from our own `/static/`, styles only inline (the
/// one stylesheet lives in `base.html`), forms only to ourselves, never framed (a framed
/// console invites click-jacking), no referrer leaving the site, and nothing cached, since
/// console pages show applicants' data.
pub fn with_page_headers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}
