//! The pages' few scripts, compiled into the binary so the service needs no static directory
//! and no CDN: `/static/console.js`, `/static/verify.js`. Pages work without them.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const CONSOLE_JS: &str = include_str!("../../static/console.js");
const VERIFY_JS: &str = include_str!("../../static/verify.js");

pub async fn serve(Path(file): Path<String>) -> Response {
    let body = match file.as_str() {
        "console.js" => CONSOLE_JS,
        "verify.js" => VERIFY_JS,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
