//! What the HTML routes (`/console`, `/verify`) share: a friendly error page instead of the
//! API's JSON error, and the response headers every page carries.
//!
//! A handler returns `Result<_, HtmlError>`. `HtmlError` cannot render itself (rendering
//! needs the page templates in `AppState`), so it travels to `render_html_errors` as a
//! response extension and is rendered there, once, for every HTML route.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    RETRY_AFTER, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use crate::routes::error::{ErrorBody, ErrorResponse, generic_error, wants_json_error};
use crate::routes::state::AppState;
use crate::service::ServiceError;

/// An error shown to a person: the status, one sentence in Chinese then English, and where
/// to go next.
#[derive(Debug, Clone)]
pub struct HtmlError {
    pub status: StatusCode,
    /// The API's code for it, for a client that asked for JSON.
    pub code: &'static str,
    pub message: String,
    /// A link back (e.g. to the submission page); the console or verify home when `None`.
    pub back: Option<String>,
}

impl HtmlError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: generic_error(status).0,
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
        Self {
            code: e.code,
            ..Self::new(super::error::status_of(e.kind), e.message)
        }
    }
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The header tower-http's request-id layer sets (and keeps when the client sent one).
const REQUEST_ID: &str = "x-request-id";

/// The request's id as an error may quote it: printable ASCII of a sane length, since a
/// client may have chosen it.
fn request_id(request: &Request) -> Option<String> {
    let id = request.headers().get(REQUEST_ID)?.to_str().ok()?;
    let printable = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
    printable.then(|| id.to_owned())
}

/// Renders an `HtmlError` left by a handler as the error page, or as the API's JSON error when
/// the request is under `/api/` or prefers JSON (a script posting the `/verify` form); adds
/// the request's id to the API's JSON errors; and answers in one of those shapes any other
/// error that reaches it (axum's own: bare English text, or nothing). Passes every other
/// response through.
pub async fn render_html_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let console = request.uri().path().starts_with("/console");
    let json = wants_json_error(request.uri(), request.headers());
    let id = request_id(&request);
    let mut response = next.run(request).await;
    let error = if let Some(ErrorBody(body)) = response.extensions_mut().remove::<ErrorBody>() {
        if json {
            return with_request_id(response, body, id);
        }
        // A page's route failed as the API does (`/v/…` when the store cannot answer): its
        // message is shown as a page.
        let message = body["error"]["message"].as_str().unwrap_or_default();
        Some(HtmlError::new(response.status(), message))
    } else {
        response.extensions_mut().remove::<HtmlError>()
    };
    let error = match error {
        Some(error) => error,
        None if is_bare_error(&response) => {
            HtmlError::new(response.status(), generic_error(response.status()).1)
        }
        None => return response,
    };
    if json {
        let body = ErrorResponse::new(error.code, error.message).to_value();
        let (mut parts, _) = response.into_parts();
        parts.status = error.status;
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        parts.headers.remove(CONTENT_LENGTH);
        let response = Response::from_parts(parts, Body::from(body.to_string()));
        return with_request_id(response, body, id);
    }
    // What a client must still be told when the error becomes a page: when to come back,
    // and which methods the address takes.
    let kept: Vec<_> = [RETRY_AFTER, ALLOW]
        .into_iter()
        .filter_map(|name| Some((name.clone(), response.headers().get(&name)?.clone())))
        .collect();
    let home = if console { "/console" } else { "/verify" };
    let page = state.pages.render(
        "console_error.html",
        json!({
            "status": error.status.as_u16(),
            "message": error.message,
            "back": error.back.as_deref().unwrap_or(home),
            "console": console,
            "request_id": id,
        }),
    );
    let mut response = match page {
        Ok(html) => (error.status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the error page");
            (error.status, error.message).into_response()
        }
    };
    response.headers_mut().extend(kept);
    // The page may come from the router's fallback, outside every page's own headers.
    for (name, value) in page_headers() {
        response.headers_mut().entry(name).or_insert(value);
    }
    response
}

/// An error response no handler of ours shaped: axum's rejections and its empty 404 and
/// 405 say a few English words in plain text, or nothing.
fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    let plain = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    (status.is_client_error() || status.is_server_error()) && plain
}

/// `response` (whose body is `body`) with `body` rewritten to carry the request's id, if
/// there is one.
fn with_request_id(response: Response, mut body: Value, id: Option<String>) -> Response {
    let Some(id) = id else {
        return response;
    };
    if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
        error.insert("request_id".into(), Value::String(id));
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// The router's fallback: no route has this path.
pub async fn not_found() -> Response {
    fallback_error(StatusCode::NOT_FOUND)
}

/// A path that exists asked with a method it does not take (axum adds `Allow`).
pub async fn method_not_allowed() -> Response {
    fallback_error(StatusCode::METHOD_NOT_ALLOWED)
}

/// Shaped, like every `HtmlError`, by `render_html_errors`: JSON or a page.
fn fallback_error(status: StatusCode) -> Response {
    HtmlError::new(status, generic_error(status).1).into_response()
}

/// Headers for every HTML page: scripts only from our own `/static/` (and the WebAssembly they
/// compile: the applicant's page hashes files with it), styles only inline (the one
/// stylesheet lives in `base.html`), frames and forms only ours, never framed (a framed
/// console invites click-jacking), no referrer leaving the site, and nothing cached, since
/// console pages show applicants' data. A response that sets its own `Cache-Control` or
/// `Content-Security-Policy` (an uploaded material, in a sandbox) keeps it.
fn page_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'unsafe-inline'; \
                 img-src 'self' data:; frame-src 'self'; connect-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// Sets [`page_headers`] on a response; one that sets its own `Cache-Control` or CSP keeps it.
pub async fn set_page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in page_headers() {
        if name == CACHE_CONTROL || name == CONTENT_SECURITY_POLICY {
            headers.entry(name).or_insert(value);
        } else {
            headers.insert(name, value);
        }
    }
    response
}

/// Sets [`page_headers`] on every response of `router`.
pub fn with_page_headers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn(set_page_headers))
}
