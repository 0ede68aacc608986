//! The verdict as a page (Chinese first, English beneath) or as JSON when the client asks
//! for it: one answer for `/v/{token}`, `/c/{code}` and the `/verify` page.

use axum::Json;
use axum::http::header::{CACHE_CONTROL, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use chrono::{DateTime, Utc};

use crate::domain::calendar::beijing_time;
use crate::domain::certificate::RevocationReason;
use crate::routes::error::prefers_json;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::verdict::{Finding, InputProblem, Verdict};

fn titles(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Valid => ("有效", "Valid"),
        Verdict::Revoked => ("已撤销", "Revoked"),
        Verdict::Expired => ("已过期", "Expired"),
        Verdict::KeyRevoked => ("签名密钥已泄露", "Signed by a compromised key"),
        Verdict::UnknownKey => ("未知签名密钥", "Unknown signing key"),
        Verdict::BadSignature => ("签名无效", "Bad signature"),
        Verdict::Malformed => ("无法识别", "Not a code or link"),
        Verdict::NotIssued => ("非本机关签发", "Not issued by us"),
        Verdict::Suspended => ("已暂扣", "Suspended"),
        Verdict::Superseded => ("已变更（旧版本）", "Superseded by a newer version"),
        Verdict::AlteredCopy => ("文件已被改动", "Altered copy"),
        Verdict::CodeTypo => ("请核对核验码", "Check the code"),
        Verdict::UnusableInput => ("无法读取", "Unusable input"),
        Verdict::UntrustedIssuer => ("发证机关不受信任", "Untrusted issuer"),
        Verdict::StatusUnknown => ("状态未知", "Status unknown"),
    }
}

/// The HTTP status of a verdict on every verify route: a mistyped code is the caller's to
/// fix (400), a file that is not a PDF is of the wrong type (415), one we cannot read is
/// unprocessable (422). Other verdicts are answers (200); `/c/` answers 404 for a code never
/// issued.
pub fn status_of(finding: &Finding) -> StatusCode {
    match (finding.verdict, finding.problem) {
        (Verdict::CodeTypo, _) => StatusCode::BAD_REQUEST,
        (Verdict::UnusableInput, Some(InputProblem::NotPdf)) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        (Verdict::UnusableInput, _) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
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

/// What a cache (a browser's, a proxy's) may do with an answer of `/v/…` or `/c/…`: keep a
/// verdict a minute at most, so that a revocation or a suspension shows through any cache
/// within a minute. Errors and refusals of what was presented (a mistyped or unknown code,
/// 4xx, 5xx) are not kept: they say nothing lasting about a certificate. The answer depends
/// on `Accept` (a page or JSON), so caches keep one of each.
pub fn with_cache_headers(answer: Result<Response, ServiceError>) -> Response {
    let mut response = answer.into_response();
    let cache = if response.status() == StatusCode::OK {
        "public, max-age=60"
    } else {
        "no-store"
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.append(VARY, HeaderValue::from_static("accept"));
    response
}

/// The verdict with the status [`status_of`] gives it.
pub fn respond(
    state: &AppState,
    headers: &HeaderMap,
    finding: Finding,
) -> Result<Response, ServiceError> {
    let status = status_of(&finding);
    respond_with(state, headers, status, finding)
}

/// A moment of the finding (an RFC 3339 string in its JSON) as people read it.
fn shown(moment: Option<DateTime<Utc>>) -> Option<String> {
    moment.map(beijing_time)
}

pub fn respond_with(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    finding: Finding,
) -> Result<Response, ServiceError> {
    if prefers_json(headers) {
        return Ok((status, Json(finding)).into_response());
    }
    let (title_zh, title_en) = titles(finding.verdict);
    let claimed = finding
        .certificate_verdict
        .as_ref()
        .map(|c| titles(c.verdict));
    let latest = finding.latest.as_ref().map(|l| titles(l.verdict));
    let times = json!({
        "checked_at": beijing_time(Utc::now()),
        "signed_at": shown(finding.signed_at),
        "revoked_at": shown(finding.revocation.as_ref().map(|r| r.revoked_at)),
        "suspended_at": shown(finding.suspension.as_ref().map(|s| s.suspended_at)),
        "superseded_at": shown(finding.successor.as_ref().map(|s| s.superseded_at)),
    });
    let html = state
        .pages
        .render(
            "verdict.html",
            json!({
                "finding": finding, "title_zh": title_zh, "title_en": title_en,
                "tone": finding.verdict.tone(),
                "reason_zh": finding.revocation.as_ref().map(|r| reason_zh(r.reason)),
                "claimed_zh": claimed.map(|t| t.0), "claimed_en": claimed.map(|t| t.1),
                "latest_zh": latest.map(|t| t.0), "latest_en": latest.map(|t| t.1),
                "times": times,
            }),
        )
        .map_err(ServiceError::internal)?;
    Ok((status, Html(html)).into_response())
}
