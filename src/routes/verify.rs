//! Public verification: `GET /v/{token}` (the QR's target, HTML or JSON), `GET /c/{code}` (the
//! printed short link and typed verification codes) and `POST /api/v1/verify` (a PDF, or
//! `{token}` or `{code}`).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::json;
use crate::body::read_limited;
use crate::domain::Sha256Digest;
use crate::domain::certificate::RevocationReason;
use crate::routes::state::AppState;
use crate::service::verification::{Finding, Presented, Verdict, verify_token};
use crate::service::{ErrorKind, ServiceError};

/// A PDF certificate is tens of kilobytes; anything this large is not one of ours.
const MAX_PDF_BYTES: usize = 10 << 20;

pub async fn check(state: &AppState, token: &str) -> Result<Finding, ServiceError> {
    let ring = state.keys.read().await;
    Ok(verify_token(&ring, token, Utc::now(), |id| {
        state.store.certificate(id)
    })?)
}

/// The verdict for whatever was presented: a token, or the certificate a code names.
pub async fn check_presented(
    state: &AppState,
    presented: Presented,
) -> Result<Finding, ServiceError> {
    match presented {
        Presented::Token(token) => check(state, &token).await,
        Presented::Code(code) => match state.store.certificate_by_code(&code)? {
            Some(certificate) => check(state, &certificate.token).await,
            None => Ok(Finding::of(Verdict::NotIssued)),
        },
        Presented::Malformed => Ok(Finding::of(Verdict::Malformed)),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn titles(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Valid => ("有效", "Valid"),
        Verdict::Revoked => ("已撤销", "Revoked"),
        Verdict::Expired => ("已过期", "Expired"),
        Verdict::KeyRevoked => ("签名密钥已泄露", "Signed by a compromised key"),
        Verdict::UnknownKey => ("未知签名密钥", "Unknown signing key"),
        Verdict::BadSignature => ("签名无效", "Bad signature"),
        Verdict::Malformed => ("无效核验码", "Malformed token"),
        Verdict::NotIssued => ("非本机关签发", "Not issued by us"),
    }
}

fn reason_zh(reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::KeyCompromise => "签名密钥泄露",
        RevocationReason::Superseded => "已被新证替代",
        RevocationReason::CessationOfOperation => "停止经营",
        RevocationReason::HolderRequest => "持证人申请注销",
        RevocationReason::IssuedInError => "错误签发",
    }
}

pub fn respond(
    state: &AppState,
    headers: &HeaderMap,
    finding: Finding,
) -> Result<Response, ServiceError> {
    respond_with(state, headers, StatusCode::OK, finding)
}

fn respond_with(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    finding: Finding,
) -> Result<Response, ServiceError> {
    if wants_json(headers) {
        return Ok((status, Json(finding)).into_response());
    }
    let (title_zh, title_en) = titles(finding.verdict);
    let html = state
        .pages
        .render(
            "verdict.html",
            json!({
                "finding": finding, "title_zh": title_zh, "title_en": title_en,
                "reason_zh": finding.revocation.as_ref().map(|r| reason_zh(r.reason)),
            }),
        )
        .map_err(ServiceError::internal)?;
    Ok((status, Html(html)).into_response())
}

/// Whatever follows `/v/` is answered with a verdict, even a segment that is not UTF-8.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: Result<Path<String>, PathRejection>,
) -> Result<Response, ServiceError> {
    let finding = match token {
        Ok(Path(token)) => check(&state, &token).await?,
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
        Ok(Path(code)) => Presented::read(&format!("/c/{code}")),
        Err(_) => Presented::Malformed,
    };
    let finding = check_presented(&state, presented).await?;
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
        match state.store.certificate_by_pdf(&Sha256Digest::of(&body))? {
            Some(certificate) => check(&state, &certificate.token).await?,
            None => Finding::of(Verdict::NotIssued),
        }
    } else if content_type.starts_with("application/json") {
        let presented = match json::parse::<VerifyBody>(&body)? {
            VerifyBody {
                token: Some(token),
                code: None,
            } => Presented::read(&token),
            VerifyBody {
                token: None,
                code: Some(code),
            } => Presented::read(&format!("/c/{code}")),
            _ => {
                return Err(ServiceError::new(
                    ErrorKind::Invalid,
                    "token_or_code",
                    "请提交 token 或 code 之一 / send exactly one of token and code",
                )
                .with_field("token"));
            }
        };
        check_presented(&state, presented).await?
    } else {
        return Err(ServiceError::new(
            ErrorKind::UnsupportedMediaType,
            "expected_pdf_or_json",
            "请提交 PDF 或 {\"token\": …} / {\"code\": …} / send a PDF (application/pdf) or JSON {\"token\": …} or {\"code\": …}",
        ));
    };
    Ok(Json(finding).into_response())
}
