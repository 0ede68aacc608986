//! Public verification: `GET /v/{token}` (the QR's target, HTML or JSON), `GET /c/{code}` (the
//! printed short link and typed verification codes) and `POST /api/v1/verify` (`{token}` or
//! `{code}` as JSON; any other body is a file, which should be the PDF). The two `GET`s may be
//! cached a minute (`verdict::with_cache_headers`).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::json_error;
use super::json;
use super::verdict::{respond, respond_with, status_of, with_cache_headers};
use crate::body::{ReceiveError, read_limited};
use crate::domain::presented::Presented;
use crate::routes::state::AppState;
use crate::service::verdict::{Finding, InputProblem, Verdict};
use crate::service::verification::{self, MAX_PDF_BYTES};
use crate::service::{ErrorKind, ServiceError};

/// 扫码核验 / The QR code's target.
///
/// `Accept: application/json` 得到 JSON，否则为页面 / The verdict as JSON when asked for, a
/// page otherwise. Whatever follows `/v/`
/// is answered with a verdict, even a segment that is not UTF-8.
#[utoipa::path(
    get,
    path = "/v/{token}",
    tag = "verification",
    params(("token" = String, Path, description = "二维码中的签名令牌 / the signed token of the QR code")),
    responses(
        (status = 200, description = "结论 / the verdict", content(
            (Finding = "application/json"),
            ("text/html")
        ))
    )
)]
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let finding = match token {
        Ok(Path(token)) => verification::verify(&state, &token).await,
        Err(_) => Ok(Finding::of(Verdict::Malformed)),
    };
    with_cache_headers(finding.and_then(|finding| respond(&state, &headers, finding)))
}

/// 核验码核验 / Verify a verification code (核验码).
///
/// 证照上印的短链接，或以任何写法输入的核验码；从未签发的为 404 `not_issued`，校验位不符的为
/// 400 `code_typo`，不是核验码的为 400 `malformed` / The printed short link, or a code typed in any accepted spelling. A code we never issued is `not_issued` with 404;
/// a mistyped one (its check character fails) `code_typo` with 400; one that is not a code at
/// all, `malformed` with 400.
#[utoipa::path(
    get,
    path = "/c/{code}",
    tag = "verification",
    params(("code" = String, Path, description = "16 位核验码 / the 16-character verification code")),
    responses(
        (status = 200, description = "结论 / the verdict", content((Finding = "application/json"), ("text/html"))),
        (status = 400, description = "核验码有误 / a mistyped or malformed code", content((Finding = "application/json"), ("text/html"))),
        (status = 404, description = "从未签发 / never issued", content((Finding = "application/json"), ("text/html")))
    )
)]
pub async fn code_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    code: Result<Path<String>, PathRejection>,
) -> Response {
    let presented = match code {
        Ok(Path(code)) => Presented::code(&code),
        Err(_) => Presented::Malformed,
    };
    let answer = verification::verify_presented(&state, presented)
        .await
        .and_then(|finding| {
            let status = match finding.verdict {
                Verdict::NotIssued => StatusCode::NOT_FOUND,
                Verdict::Malformed => StatusCode::BAD_REQUEST,
                _ => status_of(&finding),
            };
            respond_with(&state, &headers, status, finding)
        });
    with_cache_headers(answer)
}

/// `{"token": …}` (a token or a pasted link) or `{"code": …}`, exactly one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    /// 二维码中的令牌或扫得的链接 / the QR's token, or the link it holds
    token: Option<String>,
    /// 核验码 / a verification code
    code: Option<String>,
}

/// 核验令牌、核验码或 PDF / Verify a token, a code or a PDF.
///
/// `{token}` or `{code}` as JSON; any other body is the PDF itself. A file over the limit is `unusable_input` (422) with an `error`
/// beside the verdict.
#[utoipa::path(
    post,
    path = "/verify",
    tag = "verification",
    request_body(content(
        (VerifyBody = "application/json"),
        (Vec<u8> = "application/pdf")
    )),
    responses(
        (status = 200, description = "结论 / the verdict", body = Finding),
        (status = 400, description = "核验码有误（结论 `code_typo`，Finding），或请求无法读取（ErrorResponse） / a mistyped code (the verdict `code_typo`, a Finding), or a request that cannot be read (an ErrorResponse)", content_type = "application/json"),
        (status = 415, description = "不是 PDF（结论 `unusable_input`，Finding） / not a PDF (the verdict `unusable_input`, a Finding)", body = Finding),
        (status = 422, description = "文件无法读取或过大（结论 `unusable_input`，Finding，过大时另有 `error`），或请求内容无效（ErrorResponse） / a file unreadable or too large (the verdict `unusable_input`, a Finding, with an `error` when too large), or an invalid request (an ErrorResponse)", content_type = "application/json")
    )
)]
pub async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServiceError> {
    let body = match read_limited(body.into_data_stream(), MAX_PDF_BYTES, &state.memory).await {
        Ok(body) => body,
        Err(ReceiveError::TooLarge { .. }) => return Ok(too_large()),
        Err(e) => return Err(ServiceError::body(e, "PDF")),
    };
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let finding = if content_type.starts_with("application/json") {
        let presented = match json::parse::<VerifyBody>(&body)? {
            VerifyBody {
                token: Some(token),
                code: None,
            } => Presented::read(&token),
            VerifyBody {
                token: None,
                code: Some(code),
            } => Presented::code(&code),
            _ => {
                return Err(ServiceError::new(
                    ErrorKind::Invalid,
                    "token_or_code",
                    "请提交 token 或 code 之一 / send exactly one of token and code",
                )
                .with_field("token"));
            }
        };
        verification::verify_presented(&state, presented).await?
    } else {
        // Anything else is a file: the PDF we issued, or whatever was sent as one.
        verification::verify_pdf(&state, &body).await?
    };
    Ok((status_of(&finding), Json(finding)).into_response())
}

/// The answer to a file over [`MAX_PDF_BYTES`]: the verdict, and an error for clients that
/// read only errors.
fn too_large() -> Response {
    let finding = Finding::unusable(InputProblem::TooLarge);
    let mut body = serde_json::to_value(&finding).unwrap_or_default();
    body["error"] = serde_json::json!({
        "code": "too_large", "message": finding.message, "field": null,
    });
    json_error(StatusCode::UNPROCESSABLE_ENTITY, body)
}
