//! The verdict as a page (Chinese first, English beneath) or as JSON when the client asks
//! for it: one answer for `/v/{token}`, `/c/{code}` and the `/verify` page.

use axum::Json;
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::domain::certificate::RevocationReason;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::verdict::{Finding, Verdict};

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
        Verdict::Suspended => ("已暂扣", "Suspended"),
        Verdict::Superseded => ("已变更（旧版本）", "Superseded by a newer version"),
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

pub fn respond_with(
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
