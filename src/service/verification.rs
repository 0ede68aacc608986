//! Verification as the service answers it: a token, a code or a PDF against the service's
//! keys and records, each verdict counted in the metrics. The verdict logic itself is in
//! `verdict`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::verdict::{
    Finding, InputProblem, Latest, Successor, Verdict, check_signature, judge_issued, verify_token,
};
use super::{ServiceError, Services};
use crate::domain::Sha256Digest;
use crate::domain::certificate::{CertStatus, Certificate, changes};
use crate::domain::identifier::Identifier;
use crate::domain::presented::Presented;
use crate::render::RenderError;

/// The most versions followed from a superseded one (identifiers number versions with three
/// digits), so that a damaged record cannot loop.
const MAX_CHAIN: usize = 1000;

/// The verdict for a token, against the service's keys and records. A superseded version's
/// verdict names its successor and what changed, and the end of its chain: the version now
/// in force, or none.
pub async fn verify(services: &Services, token: &str) -> Result<Finding, ServiceError> {
    counted(services, judge_token(services, token).await)
}

/// The verdict for whatever was presented: a token, or the certificate a code names. A code
/// found in the store is answered whatever its check character says (codes issued before
/// check characters keep verifying); one not found is a typo if its check character fails,
/// and never issued if it holds.
pub async fn verify_presented(
    services: &Services,
    presented: Presented,
) -> Result<Finding, ServiceError> {
    counted(services, judge_presented(services, presented).await)
}

/// The verdict for a file: the issued PDF byte for byte is answered as its certificate; a
/// file that is not a PDF, or a PDF without a readable QR code, is unusable; a PDF that is
/// not the issued file but carries a certificate's QR code is an altered copy of it, named
/// with its own verdict; one whose QR code names no certificate of ours gets that verdict.
pub async fn verify_pdf(services: &Services, pdf: &[u8]) -> Result<Finding, ServiceError> {
    counted(services, judge_pdf(services, pdf).await)
}

/// Each verdict given is counted once, whichever way it was asked for.
fn counted(
    services: &Services,
    finding: Result<Finding, ServiceError>,
) -> Result<Finding, ServiceError> {
    if let Ok(finding) = &finding {
        services.metrics.verdict(finding.verdict.as_str());
    }
    finding
}

async fn judge_token(services: &Services, token: &str) -> Result<Finding, ServiceError> {
    judge(services, token, None).await
}

/// The verdict for `token`; `read` is the certificate holding it when the caller has already
/// read it from the store (by its code or its PDF's digest), so that it is not read twice.
async fn judge(
    services: &Services,
    token: &str,
    read: Option<Certificate>,
) -> Result<Finding, ServiceError> {
    let now = Utc::now();
    let mut superseded = None;
    let signed = check_signature(&*services.keys.read().await, token);
    let mut finding = match signed {
        Err(finding) => finding,
        Ok(signed) => {
            let found = match read {
                Some(c) if c.content.id.to_string() == signed.claims.sub => Some(c),
                // A subject that is no identifier names nothing we issued.
                _ => match Identifier::parse(&signed.claims.sub) {
                    Ok(id) => services.store.certificate(&id).await?,
                    Err(_) => None,
                },
            };
            if let Some(c) = &found
                && matches!(c.status, CertStatus::Superseded { .. })
            {
                superseded = Some(c.clone());
            }
            judge_issued(signed, token, found, now)
        }
    };
    if finding.verdict == Verdict::Superseded
        && let Some(old) = superseded
        && let CertStatus::Superseded {
            superseded_by,
            superseded_at,
        } = &old.status
        && let Some(new) = services.store.certificate(superseded_by).await?
    {
        finding.successor = Some(Box::new(Successor {
            id: new.content.id.to_string(),
            code: new.content.code.as_ref().map(ToString::to_string),
            link: link_of(&new),
            superseded_at: *superseded_at,
            changes: changes(&old.content, &new.content),
        }));
        finding.latest = Some(Box::new(latest(services, new, now).await?));
    }
    Ok(finding)
}

fn link_of(c: &Certificate) -> String {
    c.code_url.clone().unwrap_or_else(|| c.verify_url.clone())
}

/// Follows the chain of successors from `next` to its end, and judges that version.
async fn latest(
    services: &Services,
    mut next: Certificate,
    now: DateTime<Utc>,
) -> Result<Latest, ServiceError> {
    for _ in 0..MAX_CHAIN {
        let CertStatus::Superseded { superseded_by, .. } = &next.status else {
            break;
        };
        match services.store.certificate(superseded_by).await? {
            Some(after) => next = after,
            None => break,
        }
    }
    let verdict = {
        let ring = services.keys.read().await;
        let end = next.clone();
        verify_token(&ring, &next.token, now, move |_| {
            Ok::<_, ServiceError>(Some(end))
        })?
        .verdict
    };
    Ok(Latest {
        id: next.content.id.to_string(),
        code: next.content.code.as_ref().map(ToString::to_string),
        link: link_of(&next),
        verdict,
        in_force: matches!(verdict, Verdict::Valid | Verdict::Suspended),
    })
}

async fn judge_presented(
    services: &Services,
    presented: Presented,
) -> Result<Finding, ServiceError> {
    match presented {
        Presented::Token(token) => judge_token(services, &token).await,
        Presented::Code(code) => match services.store.certificate_by_code(&code).await? {
            Some(certificate) => {
                let token = certificate.token.clone();
                judge(services, &token, Some(certificate)).await
            }
            None if code.check_character_holds() => Ok(Finding::of(Verdict::NotIssued)),
            None => Ok(Finding::of(Verdict::CodeTypo)),
        },
        Presented::Malformed => Ok(Finding::of(Verdict::Malformed)),
    }
}

/// The largest PDF any verify route reads: a certificate is tens of kilobytes, so anything
/// this large is not one of ours.
pub const MAX_PDF_BYTES: usize = 10 << 20;

async fn judge_pdf(services: &Services, pdf: &[u8]) -> Result<Finding, ServiceError> {
    if let Some(certificate) = services
        .store
        .certificate_by_pdf(&Sha256Digest::of(pdf))
        .await?
    {
        let token = certificate.token.clone();
        return judge(services, &token, Some(certificate)).await;
    }
    if !is_pdf(pdf) {
        return Ok(Finding::unusable(InputProblem::NotPdf));
    }
    // The same budgeted reader as the offline verifier's: anyone may upload, so a bomb is
    // refused from what the file declares before it is expanded. The reading takes its place
    // before it starts and keeps it to its end: a client that hangs up stops waiting, not the
    // reading, so the places, not the clients, bound how many run.
    let place = Arc::clone(&services.pdf_readings)
        .acquire_owned()
        .await
        .map_err(ServiceError::internal)?;
    let bytes = pdf.to_vec();
    let read = tokio::task::spawn_blocking(move || {
        let read = crate::render::read_qr_from_pdf(&bytes);
        drop(place);
        read
    })
    .await
    .map_err(ServiceError::internal)?;
    let presented = match read {
        Ok(link) => Presented::read(&link),
        Err(RenderError::TooComplex(_)) => {
            return Ok(Finding::unusable(InputProblem::TooComplex));
        }
        Err(_) => return Ok(Finding::unusable(InputProblem::NoQr)),
    };
    if presented == Presented::Malformed {
        return Ok(Finding::unusable(InputProblem::NoQr));
    }
    let finding = judge_presented(services, presented).await?;
    if finding.certificate.is_some() {
        return Ok(finding.altered_copy());
    }
    Ok(finding)
}

/// A PDF begins with `%PDF-` within its first kilobyte (ISO 32000-1, 7.5.2, as readers
/// accept it).
fn is_pdf(bytes: &[u8]) -> bool {
    bytes.windows(5).take(1024).any(|window| window == b"%PDF-")
}
