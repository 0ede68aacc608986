//! Public verification: `GET /v/{token}` (the QR's target, HTML or JSON), `GET /c/{code}` (the
//! printed short link and typed verification codes) and `POST /api/v1/verify` (a PDF, or
//! `{token}` or `{code}`).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::json;
use super::verdict::{respond, respond_with};
use crate::body::read_limited;
use crate::domain::presented::Presented;
use crate::routes::state::AppState;
use crate::service::verdict::{Finding, Verdict};
use crate::service::verification::{self, MAX_PDF_BYTES};
use crate::service::{ErrorKind, ServiceError};

/// Whatever follows `/v/` is answered with a verdict, even a segment that is not UTF-8.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: Result<Path<String>, PathRejection>,
) -> Result<Response, ServiceError> {
    let finding = match token {
        Ok(Path(token)) => verification::verify(&state, &token).await?,
        Err(_) => Finding::of(Verdict::Malformed),
    };
    respond(&state, &headers, finding)
}

/// `/c/{code}`: the printed short link, or a code typed in any accepted spelling. A code we
/// never issued is `not_issued` with 404; one that is not a code at all, `malformed` with 400.
pub async fn code_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    code: Result<Path<String>, PathRejection>,
) -> Result<Response, ServiceError> {
    let presented = match code {
        Ok(Path(code)) => Presented::code(&code),
        Err(_) => Presented::Malformed,
    };
    let finding = verification::verify_presented(&state, presented).await?;
    let status = match finding.verdict {
        Verdict::NotIssued => StatusCode::NOT_FOUND,
        Verdict::Malformed => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    respond_with(&state, &headers, status, finding)
}

/// `{"token": …}` (a token or a pasted link) or `{"code": …}`, exactly one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    token: Option<String>,
    code: Option<String>,
}

pub async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServiceError> {
    let body = read_limited(body.into_data_stream(), MAX_PDF_BYTES)
        .await
        .map_err(|e| ServiceError::body(e, "PDF"))?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let finding = if content_type.starts_with("application/pdf") {
        verification::verify_pdf(&state, &body).await?
    } else if content_type.starts_with("application/json") {
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
        return Err(ServiceError::new(
            ErrorKind::UnsupportedMediaType,
            "expected_pdf_or_json",
            "请提交 PDF 或 {\"token\": …} / {\"code\": …} / send a PDF (application/pdf) or JSON {\"token\": …} or {\"code\": …}",
        ));
    };
    Ok(Json(finding).into_response())
}
