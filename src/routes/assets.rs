//! The pages' few scripts, compiled into the binary so the service needs no static directory
//! and no CDN: `/static/console.js`, `/static/verify.js`, the applicant's `/static/upload.js`
//! with the SHA-256 it computes in the browser (pages work without them), and the
//! vendored Swagger UI of `/api/docs` (`static/api-docs/`).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const CONSOLE_JS: &str = include_str!("../../static/console.js");
const VERIFY_JS: &str = include_str!("../../static/verify.js");
const UPLOAD_JS: &str = include_str!("../../static/upload.js");
/// hash-wasm 4.13.0's SHA-256 build, vendored (MIT; `static/NOTICE-hash-wasm.txt`).
const HASH_WASM_JS: &str = include_str!("../../static/hash-wasm-sha256.js");
const API_DOCS_JS: &str = include_str!("../../static/api-docs/api-docs.js");
const SWAGGER_UI_JS: &str = include_str!("../../static/api-docs/swagger-ui-bundle.js");
const SWAGGER_UI_CSS: &str = include_str!("../../static/api-docs/swagger-ui.css");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

pub async fn serve(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "console.js" => (JAVASCRIPT, CONSOLE_JS),
        "verify.js" => (JAVASCRIPT, VERIFY_JS),
        "upload.js" => (JAVASCRIPT, UPLOAD_JS),
        "hash-wasm-sha256.js" => (JAVASCRIPT, HASH_WASM_JS),
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
