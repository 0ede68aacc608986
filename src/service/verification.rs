//! Verification as the service answers it: a token, a code or a PDF against the service's
//! keys and records. The verdict logic itself is in `verdict`.

use chrono::Utc;

use super::verdict::{Finding, Successor, Verdict, verify_token};
use super::{ServiceError, Services};
use crate::domain::Sha256Digest;
use crate::domain::certificate::{CertStatus, changes};
use crate::domain::presented::Presented;

/// The verdict for a token, against the service's keys and records. A superseded version's
/// verdict names its successor and what changed.
pub async fn verify(services: &Services, token: &str) -> Result<Finding, ServiceError> {
    let mut superseded = None;
    let mut finding = {
        let ring = services.keys.read().await;
        verify_token(&ring, token, Utc::now(), |id| {
            let found = services.store.certificate(id)?;
            if let Some(c) = &found
                && matches!(c.status, CertStatus::Superseded { .. })
            {
                superseded = Some(c.clone());
            }
            Ok::<_, ServiceError>(found)
        })?
    };
    if finding.verdict == Verdict::Superseded
        && let Some(old) = superseded
        && let CertStatus::Superseded {
            superseded_by,
            superseded_at,
        } = &old.status
        && let Some(new) = services.store.certificate(superseded_by.as_str())?
    {
        finding.successor = Some(Box::new(Successor {
            id: new.content.id.to_string(),
            code: new.content.code.as_ref().map(ToString::to_string),
            link: new
                .code_url
                .clone()
                .unwrap_or_else(|| new.verify_url.clone()),
            superseded_at: *superseded_at,
            changes: changes(&old.content, &new.content),
        }));
    }
    Ok(finding)
}

/// The verdict for whatever was presented: a token, or the certificate a code names.
pub async fn verify_presented(
    services: &Services,
    presented: Presented,
) -> Result<Finding, ServiceError> {
    match presented {
        Presented::Token(token) => verify(services, &token).await,
        Presented::Code(code) => match services.store.certificate_by_code(&code)? {
            Some(certificate) => verify(services, &certificate.token).await,
            None => Ok(Finding::of(Verdict::NotIssued)),
        },
        Presented::Malformed => Ok(Finding::of(Verdict::Malformed)),
    }
}

/// The largest PDF any verify route reads: a certificate is tens of kilobytes, so anything
/// this large is not one of ours.
pub const MAX_PDF_BYTES: usize = 10 << 20;

/// The verdict for a PDF: ours if its SHA-256 is one we issued.
pub async fn verify_pdf(services: &Services, pdf: &[u8]) -> Result<Finding, ServiceError> {
    match services.store.certificate_by_pdf(&Sha256Digest::of(pdf))? {
        Some(certificate) => verify(services, &certificate.token).await,
        None => Ok(Finding::of(Verdict::NotIssued)),
    }
}
