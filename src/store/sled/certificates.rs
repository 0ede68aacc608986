use chrono::Utc;
use sled::Transactional;

use super::Trees;
use super::codec::{decode, encode};
use super::submissions::{abort, abort_with, append_event, load_in};
use crate::domain::{Sha256Digest, VerificationCode};
use crate::store::{Provenance, StatusChange, StoreError, UpdateError};

use crate::domain::Refusal;
use crate::domain::certificate::{CertContent, CertStatus, Certificate};
use crate::domain::submission::{Action, Event, Submission};

fn already_migrated(number: &str, issued: &[u8]) -> Refusal {
    let issued = String::from_utf8_lossy(issued);
    Refusal::Conflict {
        code: "already_migrated",
        message: format!(
            "原证书 {number} 已迁移为 {issued} / licence {number} was already migrated as {issued}"
        ),
        details: Some(serde_json::json!({ "identifier": issued })),
    }
}

/// The key of a holder's line of certificates of one kind: `<kind> NUL <holder id>`.
fn holder_key(kind: &str, holder_id: &str) -> Vec<u8> {
    [kind.as_bytes(), &[0], holder_id.as_bytes()].concat()
}

fn holder_key_of(content: &CertContent) -> Vec<u8> {
    holder_key(&content.kind, content.holder.id())
}

fn certificate_not_found(id: &str) -> UpdateError {
    UpdateError::Refused(Refusal::NotFound {
        code: "certificate_not_found",
        message: format!("证照 {id} 不存在 / no certificate {id}"),
    })
}

impl Trees {
    /// Hands out the next sequence number of `year`. Atomic, so concurrent issuances never get
    /// the same number. It is not flushed on its own: it reaches the disk with (and before) the
    /// certificate that uses it, so a number printed on a stored certificate is never handed
    /// out again, even after a crash.
    pub async fn next_sequence(&self, year: i32) -> Result<u64, StoreError> {
        let _gate = self.gate.lock().await;
        let next = self
            .counters
            .update_and_fetch(year.to_be_bytes(), |old| {
                let last = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                Some((last + 1).to_be_bytes().to_vec())
            })?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map_or(1, u64::from_be_bytes);
        Ok(next)
    }

    /// Stores a certificate, its PDF and what its provenance calls for in one transaction,
    /// then flushes. Refused if the submission is no longer issuable, the identifier, code or
    /// former number exists, or the version it supersedes is no longer in force.
    pub async fn store_issued(
        &self,
        certificate: &Certificate,
        pdf: &[u8],
        photo: Option<&[u8]>,
        actor: &str,
        provenance: Provenance<'_>,
    ) -> Result<(Submission, Event), UpdateError> {
        let content = &certificate.content;
        let id = content.id.as_str().as_bytes();
        let value = encode(certificate)?;
        let code = content.code.as_ref().map(|c| c.as_str().as_bytes());
        let at = certificate.issued_at;
        let trees = (
            &self.submissions,
            &self.events,
            &self.certificates,
            &self.pdfs,
            &self.pdf_index,
            &self.code_index,
            &self.former_index,
            &self.statuses,
            &self.holder_index,
            &self.photos,
        );
        let line = holder_key_of(content);
        // Whether the holder's current certificate still holds is judged on the day of issue
        // (a migrated licence's own issue date lies in the past).
        let today = crate::domain::calendar::china_date(certificate.issued_at);
        let transaction = || {
            trees.transaction(
                |(
                    subs,
                    events,
                    certs,
                    pdfs,
                    pdf_index,
                    code_index,
                    former_index,
                    statuses,
                    holder_index,
                    photos,
                )| {
                    if certs.get(id)?.is_some() {
                        return Err(abort(Refusal::Conflict {
                            code: "identifier_taken",
                            message: format!("identifier {} already exists", content.id),
                            details: None,
                        }));
                    }
                    if let Some(code) = code {
                        if code_index.get(code)?.is_some() {
                            return Err(abort(Refusal::Conflict {
                                code: "verification_code_taken",
                                message: "核验码重复，请重新出证 / the verification code is taken: issue again".into(),
                                details: None,
                            }));
                        }
                        code_index.insert(code, id)?;
                    }
                    // A number already migrated may only move on to the next version of the
                    // licence that holds it (a merge keeps every former number).
                    let previous = content.supersedes.as_ref().map(|p| p.as_str().as_bytes());
                    for number in content.former_numbers() {
                        if let Some(issued) = former_index.get(number.as_bytes())?
                            && Some(issued.as_ref()) != previous
                        {
                            return Err(abort(already_migrated(number, &issued)));
                        }
                        former_index.insert(number.as_bytes(), id)?;
                    }
                    // A first version needs the holder's current certificate of the kind not
                    // to hold; a next version must replace the current one itself.
                    let current = holder_index.get(&line)?;
                    match (previous, &current) {
                        (None, Some(current)) => {
                            let bytes = certs.get(current)?.ok_or_else(|| {
                                abort(certificate_not_found(&String::from_utf8_lossy(current)))
                            })?;
                            let current: Certificate = decode(current, &bytes).map_err(abort)?;
                            current.refuse_second_licence(today).map_err(abort)?;
                        }
                        (Some(previous), Some(current)) if previous != current.as_ref() => {
                            let current = String::from_utf8_lossy(current).into_owned();
                            return Err(abort(Refusal::Conflict {
                                code: "not_the_current_version",
                                message: format!(
                                    "该主体的现行证照是 {current}，请对其办理 / the holder's current certificate is {current}: act on that one"
                                ),
                                details: Some(serde_json::json!({ "identifier": current })),
                            }));
                        }
                        _ => {}
                    }
                    holder_index.insert(line.as_slice(), id)?;
                    if let Provenance::Migration {
                        submission,
                        former_number,
                    } = provenance
                    {
                        if subs.get(submission.id.as_str())?.is_some() {
                            return Err(abort(Refusal::Conflict {
                                code: "submission_exists",
                                message: format!("submission {} already exists", submission.id),
                                details: None,
                            }));
                        }
                        let mut filed = submission.clone();
                        filed.event_count = 0;
                        append_event(subs, events, &mut filed, Action::Created, actor, at)?;
                        let migrated = Action::Migrated {
                            former_number: former_number.to_owned(),
                        };
                        append_event(subs, events, &mut filed, migrated, actor, at)?;
                    }
                    let mut submission = load_in(subs, &certificate.submission)?;
                    let action = match provenance {
                        Provenance::Submission | Provenance::Migration { .. } => submission
                            .mark_issued(
                                content.id.to_string(),
                                certificate.pdf_sha256.clone(),
                                certificate.content_digest.clone(),
                            )
                            .map_err(abort)?,
                        Provenance::Withdrawal { items, reason } => {
                            submission.certificate = Some(content.id.to_string());
                            Action::ItemsWithdrawn {
                                certificate: content
                                    .supersedes
                                    .as_ref()
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                                successor: Some(content.id.to_string()),
                                items: items.to_vec(),
                                reason: reason.to_owned(),
                            }
                        }
                    };
                    let event = append_event(subs, events, &mut submission, action, actor, at)?;
                    if let Some(previous) = &content.supersedes {
                        let key = previous.as_str().as_bytes();
                        let bytes = certs
                            .get(key)?
                            .ok_or_else(|| abort(certificate_not_found(previous.as_str())))?;
                        let mut old: Certificate = decode(key, &bytes).map_err(abort)?;
                        let superseded = old
                            .supersede(&content.id, at, content.issue_date)
                            .map_err(abort)?;
                        if old.submission != submission.id {
                            let mut theirs = load_in(subs, &old.submission)?;
                            append_event(subs, events, &mut theirs, superseded, actor, at)?;
                        }
                        certs.insert(key, encode(&old).map_err(abort)?)?;
                        statuses.insert(key, encode(&old.status).map_err(abort)?)?;
                    }
                    certs.insert(id, value.as_slice())?;
                    pdfs.insert(id, pdf)?;
                    if let Some(photo) = photo {
                        photos.insert(id, photo)?;
                    }
                    pdf_index.insert(certificate.pdf_sha256.as_str().as_bytes(), id)?;
                    Ok((submission, event))
                },
            )
        };
        self.exclusive(|| transaction().map_err(abort_with)).await
    }

    /// Changes a certificate's status and appends the event to its submission's history,
    /// keeping the status index in step, in one transaction.
    pub async fn change_status(
        &self,
        id: &str,
        actor: &str,
        change: StatusChange<'_>,
    ) -> Result<Certificate, UpdateError> {
        let key = id.as_bytes();
        let trees = (
            &self.certificates,
            &self.submissions,
            &self.events,
            &self.statuses,
        );
        let transaction = || {
            trees.transaction(|(certs, subs, events, statuses)| {
                let bytes = certs
                    .get(key)?
                    .ok_or_else(|| abort(certificate_not_found(id)))?;
                let mut certificate: Certificate = decode(key, &bytes).map_err(abort)?;
                let action = change(&mut certificate).map_err(abort)?;
                let mut submission = load_in(subs, &certificate.submission)?;
                append_event(subs, events, &mut submission, action, actor, Utc::now())?;
                certs.insert(key, encode(&certificate).map_err(abort)?)?;
                if certificate.status == CertStatus::Valid {
                    statuses.remove(key)?;
                } else {
                    statuses.insert(key, encode(&certificate.status).map_err(abort)?)?;
                }
                Ok(certificate)
            })
        };
        self.exclusive(|| transaction().map_err(abort_with)).await
    }

    pub fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError> {
        self.certificates
            .get(id)?
            .map(|bytes| decode(id.as_bytes(), &bytes))
            .transpose()
    }

    /// Every certificate whose status is not plainly valid, with that status.
    pub fn listed_statuses(&self) -> Result<Vec<(String, CertStatus)>, StoreError> {
        self.statuses
            .iter()
            .map(|entry| {
                let (key, bytes) = entry?;
                let id = String::from_utf8_lossy(&key).into_owned();
                Ok((id, decode(&key, &bytes)?))
            })
            .collect()
    }

    /// Fills the status index from the certificates, once: stores written before the index
    /// existed have revoked certificates that it does not list yet.
    pub(super) fn index_statuses(&self) -> Result<(), StoreError> {
        const MARKER: &[u8] = b"certificate_status_index_v1";
        if self.db.get(MARKER)?.is_some() {
            return Ok(());
        }
        for entry in self.certificates.iter() {
            let (key, bytes) = entry?;
            let certificate: Certificate = decode(&key, &bytes)?;
            if certificate.status != CertStatus::Valid {
                self.statuses.insert(&key, encode(&certificate.status)?)?;
            }
        }
        self.db.insert(MARKER, &[])?;
        self.db.flush()?;
        Ok(())
    }

    /// The latest version of the holder's line of certificates of `kind`.
    pub fn current_certificate(
        &self,
        kind: &str,
        holder_id: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        match self.holder_index.get(holder_key(kind, holder_id))? {
            Some(id) => self.certificate(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Fills the holder index from the certificates, once: in a store written before it, each
    /// holder's line points to the version that holds today (the latest issued if none does).
    pub(super) fn index_holders(&self) -> Result<(), StoreError> {
        const MARKER: &[u8] = b"holder_index_v1";
        if self.db.get(MARKER)?.is_some() {
            return Ok(());
        }
        let today = crate::domain::calendar::china_date(Utc::now());
        let mut current: std::collections::HashMap<Vec<u8>, Certificate> = Default::default();
        for entry in self.certificates.iter() {
            let (key, bytes) = entry?;
            let certificate: Certificate = decode(&key, &bytes)?;
            let line = holder_key_of(&certificate.content);
            let rank = |c: &Certificate| (c.holds_licence(today), c.issued_at);
            if current
                .get(&line)
                .is_none_or(|held| rank(&certificate) > rank(held))
            {
                current.insert(line, certificate);
            }
        }
        for (line, certificate) in current {
            self.holder_index
                .insert(line, certificate.content.id.as_str().as_bytes())?;
        }
        self.db.insert(MARKER, &[])?;
        self.db.flush()?;
        Ok(())
    }

    pub fn certificate_photo(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.photos.get(id)?.map(|b| b.to_vec()))
    }

    pub fn certificate_pdf(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.pdfs.get(id)?.map(|b| b.to_vec()))
    }

    /// The identifier of the certificate whose issued PDF has this digest.
    pub fn certificate_id_by_pdf(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .pdf_index
            .get(sha256.as_str())?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    /// The identifier of the certificate a migration issued for this former licence number.
    pub fn certificate_id_by_former_number(
        &self,
        number: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .former_index
            .get(number)?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    /// The identifier of the certificate that carries this verification code, if any.
    pub fn certificate_id_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .code_index
            .get(code.as_str())?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    /// Changes a stored certificate (delivery, revocation) in one atomic read-modify-write.
    pub async fn update_certificate<F>(
        &self,
        id: &str,
        change: F,
    ) -> Result<Certificate, UpdateError>
    where
        F: Fn(&mut Certificate) -> Result<(), Refusal>,
    {
        let key = id.as_bytes();
        let transaction = || {
            (&self.certificates, &self.statuses).transaction(|(certs, statuses)| {
                let bytes = certs
                    .get(key)?
                    .ok_or_else(|| abort(certificate_not_found(id)))?;
                let mut certificate: Certificate = decode(key, &bytes).map_err(abort)?;
                change(&mut certificate).map_err(abort)?;
                certs.insert(key, encode(&certificate).map_err(abort)?)?;
                if certificate.status == CertStatus::Valid {
                    statuses.remove(key)?;
                } else {
                    statuses.insert(key, encode(&certificate.status).map_err(abort)?)?;
                }
                Ok(certificate)
            })
        };
        self.exclusive(|| transaction().map_err(abort_with)).await
    }
}
