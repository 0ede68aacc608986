//! Public verification: `GET /v/{token}` (the QR's target, HTML or JSON) and
//! `POST /api/v1/verify` (a PDF, or `{token}`).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::json;
use crate::app::AppState;
use crate::body::read_limited;
use crate::domain::Sha256Digest;
use crate::domain::certificate::RevocationReason;
use crate::error::ApiError;
use crate::verification::{Finding, Verdict, verify_token};

/// A PDF certificate is tens of kilobytes; anything this large is not one of ours.
const MAX_PDF_BYTES: usize = 10 << 20;

pub async fn check(state: &AppState, token: &str) -> Result<Finding, ApiError> {
    let ring = state.keys.read().await;
    Ok(verify_token(&ring, token, Utc::now(), |id| {
        state.store.certificate(id)
    })?)
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
) -> Result<Response, ApiError> {
    if wants_json(headers) {
        return Ok(Json(finding).into_response());
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
        .map_err(ApiError::internal)?;
    Ok(Html(html).into_response())
}

/// Whatever follows `/v/` is answered with a verdict, even a segment that is not UTF-8.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let finding = match token {
        Ok(Path(token)) => check(&state, &token).await?,
        Err(_) => Finding::of(Verdict::Malformed),
    };
    respond(&state, &headers, finding)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

/// Takes a bare token or a pasted verification link (`…/v/<token>`).
fn token_of(input: &str) -> &str {
    let input = input.trim();
    input.rsplit_once("/v/").map_or(input, |(_, token)| token)
}

pub async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_limited(body.into_data_stream(), MAX_PDF_BYTES)
        .await
        .map_err(|e| json::body_error(e, "PDF"))?;
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
        let body: TokenBody = json::parse(&body)?;
        check(&state, token_of(&body.token)).await?
    } else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected_pdf_or_json",
            "请提交 PDF 或 {\"token\": …} / send a PDF (application/pdf) or JSON {\"token\": …}",
        ));
    };
    Ok(Json(finding).into_response())
}
