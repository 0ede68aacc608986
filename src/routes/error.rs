//! The one JSON error shape of the API:
//! `{"error": {"code": "snake_case", "message": "中文 / English", "field": "path", …}}`,
//! with the status each kind of [`ServiceError`] answers, and how a request says it wants
//! JSON rather than a page.

use axum::Json;
use axum::http::header::{ACCEPT, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::service::{ErrorKind, ServiceError};

/// Seconds a client told "busy" (503, 429) is asked to wait.
const RETRY_AFTER_SECS: &str = "2";

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error body travelling with its response, so that `render_html_errors` (which sees the
/// request) can add the request's id to it without parsing the body back.
#[derive(Debug, Clone)]
pub struct ErrorBody(pub Value);

/// `body` (an object with an `error` member) as the JSON response of `status`.
pub fn json_error(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body.clone())).into_response();
    response.extensions_mut().insert(ErrorBody(body));
    response
}

/// The code and message of an error known only by its status: the router's 404 and 405,
/// axum's own rejections (whose English text may name our types), and the console's
/// `HtmlError`s when a script asks for JSON.
pub fn generic_error(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::UNAUTHORIZED => ("unauthenticated", "请先登录 / sign in first"),
        StatusCode::FORBIDDEN => ("forbidden", "无权执行此操作 / not allowed"),
        StatusCode::NOT_FOUND => ("not_found", "找不到该地址 / no such address"),
        StatusCode::CONFLICT => ("conflict", "当前状态下无法执行 / not possible now"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "请求超时 / the request took too long"),
        StatusCode::TOO_MANY_REQUESTS => (
            "too_many_requests",
            "请求过于频繁，请稍后重试 / too many requests; retry shortly",
        ),
        StatusCode::SERVICE_UNAVAILABLE => ("busy", "服务繁忙，请稍后重试 / busy; retry shortly"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "该地址不接受此请求方法 / this address does not take that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("too_large", "请求体过大 / the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "不支持该请求体格式 / the body is not in a format this address takes",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid", "请求内容无效 / the request is not valid"),
        status if status.is_server_error() => (
            "internal",
            "服务内部错误，请稍后重试 / internal error, please try again",
        ),
        _ => ("bad_request", "请求无效 / the request could not be read"),
    }
}

/// The one error shape of the API.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, for programs: `snake_case`, stable (`not_found`, `invalid_uscc`, …).
    pub code: String,
    /// For people: Chinese, then ` / `, then English.
    pub message: String,
    /// The part of the request at fault, as a path into it (`holder.id`, `items[2].code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// More about the error where one has more (the certificate in force that a filing
    /// conflicts with, the materials that differ).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// The request's id, as in its `x-request-id` header and the service's log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorResponse {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorResponse {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                field: None,
                details: None,
                request_id: None,
            },
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let mut body = ErrorResponse::new(self.code, self.message);
        body.error.field = self.field;
        body.error.details = self.details;
        let mut response = json_error(status_of(self.kind), body.to_value());
        // A full store, the batches all taken, one address's share: it passes, so the client
        // is told to retry.
        if matches!(
            self.kind,
            ErrorKind::Unavailable | ErrorKind::TooManyRequests
        ) {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Whether `Accept` ranks JSON at least as high as HTML: a script's `application/json` or
/// `text/html, application/json` does, a browser's `text/html,…,*/*;q=0.8` does not, and
/// `application/json;q=0` refuses it.
pub fn prefers_json(headers: &HeaderMap) -> bool {
    let mut json = 0.0_f32;
    let mut html = 0.0_f32;
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if media.eq_ignore_ascii_case("application/json") {
                json = json.max(q);
            } else if media.eq_ignore_ascii_case("text/html") {
                html = html.max(q);
            }
        }
    }
    json > 0.0 && json >= html
}

/// Whether an error for this request is answered as JSON (the API's shape) rather than as a
/// page: everything under `/api/`, the machines' documents (`/.well-known/…`, `/healthz`,
/// `/metrics`), and any request that prefers JSON.
pub fn wants_json_error(uri: &Uri, headers: &HeaderMap) -> bool {
    let path = uri.path();
    path == "/api"
        || path.starts_with("/api/")
        || path.starts_with("/.well-known/")
        || path == "/healthz"
        || path == "/metrics"
        || prefers_json(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn json_is_preferred_only_when_ranked_as_high_as_html() {
        assert!(prefers_json(&accepting("application/json")));
        assert!(prefers_json(&accepting("text/html, application/json")));
        assert!(!prefers_json(&accepting(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!prefers_json(&accepting("*/*")));
        assert!(!prefers_json(&accepting("application/json;q=0")));
        assert!(!prefers_json(&accepting(
            "application/json;q=0.5, text/html"
        )));
        assert!(!prefers_json(&HeaderMap::new()));
    }
}
