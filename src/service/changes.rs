//! Units of work on the store: read what a change depends on, let the domain decide, and
//! have the store write the result as a whole. A store refuses a write computed from a state
//! that another writer has changed since ([`Conflict::Changed`]); the change is then decided
//! again on what is stored now, a bounded number of times.

use chrono::Utc;

use super::{ServiceError, Services, submission_not_found};
use crate::domain::certificate::Certificate;
use crate::domain::identifier::Identifier;
use crate::domain::plan::{
    CertificateWrite, Issuance, IssuanceBasis, Provenance, SubmissionWrite, certificate_not_found,
};
use crate::domain::submission::{Action, Event, Submission};
use crate::domain::text::quoted;
use crate::domain::{Refusal, SubmissionId};
use crate::store::{Conflict, StoreError};

/// How many times a change is decided again after other writers came first. Each retry
/// follows a write that succeeded, so running out means this one kept losing to others.
const ATTEMPTS: usize = 16;

/// Whether a write lost to another writer and should be decided again.
fn lost_race<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(Conflict::Changed(_))))
}

fn kept_losing(what: &str) -> ServiceError {
    tracing::warn!(
        what,
        attempts = ATTEMPTS,
        "a change kept losing to other writers"
    );
    ServiceError::new(
        super::ErrorKind::Unavailable,
        "busy",
        "同一记录正被频繁修改，请稍后重试 / the record is changing too often right now; retry shortly",
    )
}

/// Applies `change` to the stored submission and appends the event it returns; `change` may
/// run again on a newer state if another writer came first. Returns the submission as
/// stored, the event, and what `change` returned besides.
pub async fn update_submission<T>(
    services: &Services,
    id: &SubmissionId,
    actor: &str,
    mut change: impl FnMut(&mut Submission) -> Result<(Action, T), Refusal>,
) -> Result<(Submission, Event, T), ServiceError> {
    for _ in 0..ATTEMPTS {
        let mut submission = services
            .store
            .submission(id)
            .await?
            .ok_or_else(|| submission_not_found(id.as_str()))?;
        let (action, value) = change(&mut submission)?;
        let write = SubmissionWrite::change(submission, action, actor, Utc::now());
        let result = services.store.save_submission(&write).await;
        if lost_race(&result) {
            continue;
        }
        result?;
        let event = write.events.into_iter().next_back();
        let event = event.ok_or_else(|| ServiceError::internal("a change without an event"))?;
        return Ok((write.submission, event, value));
    }
    Err(kept_losing("submission"))
}

/// Changes a certificate's status: `change` returns the event its submission's history
/// records, stored together with it.
pub async fn update_status(
    services: &Services,
    id: &str,
    actor: &str,
    change: impl Fn(&mut Certificate) -> Result<Action, Refusal>,
) -> Result<Certificate, ServiceError> {
    for _ in 0..ATTEMPTS {
        let before = stored_certificate(services, id).await?;
        let mut after = before.clone();
        let action = change(&mut after)?;
        let submission = services
            .store
            .submission(&after.submission)
            .await?
            .ok_or_else(|| submission_not_found(after.submission.as_str()))?;
        let history = SubmissionWrite::change(submission, action, actor, Utc::now());
        let write = CertificateWrite { before, after };
        let result = services
            .store
            .save_certificate(&write, Some(&history))
            .await;
        if lost_race(&result) {
            continue;
        }
        result?;
        return Ok(write.after);
    }
    Err(kept_losing("certificate"))
}

/// Changes a stored certificate (its delivery), which its submission's history does not
/// record.
pub async fn update_certificate(
    services: &Services,
    id: &str,
    change: impl Fn(&mut Certificate) -> Result<(), Refusal>,
) -> Result<Certificate, ServiceError> {
    for _ in 0..ATTEMPTS {
        let before = stored_certificate(services, id).await?;
        let mut after = before.clone();
        change(&mut after)?;
        let write = CertificateWrite { before, after };
        let result = services.store.save_certificate(&write, None).await;
        if lost_race(&result) {
            continue;
        }
        result?;
        return Ok(write.after);
    }
    Err(kept_losing("certificate"))
}

async fn stored_certificate(services: &Services, id: &str) -> Result<Certificate, ServiceError> {
    let found = match Identifier::parse(id) {
        Ok(id) => services.store.certificate(&id).await?,
        Err(_) => None,
    };
    Ok(found.ok_or_else(|| certificate_not_found(quoted(id)))?)
}

/// Stores an issued certificate, its PDF and photo, with what its provenance calls for,
/// planned by the domain on what the store holds now ([`Issuance::plan`]).
pub async fn store_issued(
    services: &Services,
    certificate: &Certificate,
    pdf: &[u8],
    photo: Option<&[u8]>,
    actor: &str,
    provenance: Provenance<'_>,
) -> Result<Issuance, ServiceError> {
    let store = &services.store;
    for _ in 0..ATTEMPTS {
        let content = &certificate.content;
        let previous = match &content.supersedes {
            Some(previous) => store.certificate(previous).await?,
            None => None,
        };
        let previous_submission = match &previous {
            Some(p) if p.submission != certificate.submission => {
                store.submission(&p.submission).await?
            }
            _ => None,
        };
        let basis = IssuanceBasis {
            submission: store.submission(&certificate.submission).await?,
            current: store
                .current_certificate(&content.kind, content.holder.id())
                .await?,
            previous,
            previous_submission,
        };
        let issuance = Issuance::plan(certificate.clone(), provenance, basis, actor)?;
        let result = store.store_issued(&issuance, pdf, photo).await;
        if lost_race(&result) {
            continue;
        }
        result?;
        return Ok(issuance);
    }
    Err(kept_losing("issuance"))
}
