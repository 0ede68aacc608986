//! The pages' few scripts, compiled into the binary so the service needs no static directory
//! and no CDN: `/static/console.js`, `/static/verify.js` (pages work without them), and the
//! vendored Swagger UI of `/api/docs` (`static/api-docs/`).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const CONSOLE_JS: &str = include_str!("../../static/console.js");
const VERIFY_JS: &str = include_str!("../../static/verify.js");
const API_DOCS_JS: &str = include_str!("../../static/api-docs/api-docs.js");
const SWAGGER_UI_JS: &str = include_str!("../../static/api-docs/swagger-ui-bundle.js");
const SWAGGER_UI_CSS: &str = include_str!("../../static/api-docs/swagger-ui.css");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

pub async fn serve(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "console.js" => (JAVASCRIPT, CONSOLE_JS),
        "verify.js" => (JAVASCRIPT, VERIFY_JS),
        "api-docs.js" => (JAVASCRIPT, API_DOCS_JS),
        "swagger-ui-bundle.js" => (JAVASCRIPT, SWAGGER_UI_JS),
        "swagger-ui.css" => ("text/css; charset=utf-8", SWAGGER_UI_CSS),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}
