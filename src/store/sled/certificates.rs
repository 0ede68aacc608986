use chrono::Utc;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::Trees;
use super::codec::{decode, encode};
use super::submissions::{InTransaction, abort, abort_with, write_submission};
use crate::domain::certificate::{CertContent, CertStatus, Certificate};
use crate::domain::identifier::Identifier;
use crate::domain::plan::{CertificateWrite, Issuance, SubmissionWrite};
use crate::domain::{Sha256Digest, VerificationCode};
use crate::store::{Conflict, StoreError, Unique};

fn taken(
    constraint: Unique,
    value: &str,
    holder: Option<&[u8]>,
) -> ConflictableTransactionError<StoreError> {
    abort(Conflict::Taken {
        constraint,
        value: value.to_owned(),
        holder: holder.map(|h| String::from_utf8_lossy(h).into_owned()),
    })
}

/// A certificate identifier an index holds.
fn identifier(bytes: &[u8]) -> Result<Identifier, StoreError> {
    let text = String::from_utf8_lossy(bytes);
    Identifier::parse(&text).map_err(|e| StoreError::Corrupt {
        key: text.into_owned(),
        reason: e.to_string(),
    })
}

/// Writes a changed certificate while the stored one is still as read, keeping the status
/// index in step: it lists every certificate whose status is not plainly valid.
fn write_certificate(
    certs: &TransactionalTree,
    statuses: &TransactionalTree,
    write: &CertificateWrite,
) -> InTransaction<()> {
    let id = write.after.content.id.as_str();
    let key = id.as_bytes();
    let stored: Option<Certificate> = match certs.get(key)? {
        Some(bytes) => Some(decode(key, &bytes).map_err(abort)?),
        None => None,
    };
    if stored.as_ref() != Some(&write.before) {
        return Err(abort(Conflict::Changed(format!("certificate {id}"))));
    }
    certs.insert(key, encode(&write.after).map_err(abort)?)?;
    if write.after.status == CertStatus::Valid {
        statuses.remove(key)?;
    } else {
        statuses.insert(key, encode(&write.after.status).map_err(abort)?)?;
    }
    Ok(())
}

/// The key of a holder's line of certificates of one kind: `<kind> NUL <holder id>`.
fn holder_key(kind: &str, holder_id: &str) -> Vec<u8> {
    [kind.as_bytes(), &[0], holder_id.as_bytes()].concat()
}

fn holder_key_of(content: &CertContent) -> Vec<u8> {
    holder_key(&content.kind, content.holder.id())
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

    /// Stores what an issuance planned, with its PDF and photo, in one transaction, then
    /// flushes; refused as a whole when anything is not as planned or a unique value taken.
    pub async fn store_issued(
        &self,
        issuance: &Issuance,
        pdf: &[u8],
        photo: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let certificate = &issuance.certificate;
        let content = &certificate.content;
        let id = content.id.as_str().as_bytes();
        let value = encode(certificate)?;
        let trees = (
            &self.submissions,
            &self.events,
            &self.submission_index,
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
        let line_was = issuance.line_was.as_ref().map(|l| l.as_str().as_bytes());
        let previous = content.supersedes.as_ref().map(|p| p.as_str().as_bytes());
        let transaction = || {
            trees.transaction(
                |(
                    subs,
                    events,
                    index,
                    certs,
                    pdfs,
                    pdf_index,
                    code_index,
                    former_index,
                    statuses,
                    holder_index,
                    photos,
                )| {
                    for write in issuance.submissions() {
                        write_submission((subs, events, index), write)?;
                    }
                    if certs.get(id)?.is_some() {
                        return Err(taken(Unique::CertificateId, content.id.as_str(), None));
                    }
                    if let Some(code) = &content.code {
                        if let Some(holder) = code_index.get(code.as_str())? {
                            return Err(taken(
                                Unique::VerificationCode,
                                code.as_str(),
                                Some(&holder),
                            ));
                        }
                        code_index.insert(code.as_str(), id)?;
                    }
                    for number in content.former_numbers() {
                        if let Some(holder) = former_index.get(number.as_bytes())?
                            && Some(holder.as_ref()) != previous
                        {
                            return Err(taken(Unique::FormerNumber, number, Some(&holder)));
                        }
                        former_index.insert(number.as_bytes(), id)?;
                    }
                    if holder_index.get(&line)?.as_deref() != line_was {
                        return Err(abort(Conflict::Changed(
                            "the holder's current certificate".into(),
                        )));
                    }
                    holder_index.insert(line.as_slice(), id)?;
                    if let Some((superseded, _)) = &issuance.superseded {
                        write_certificate(certs, statuses, superseded)?;
                    }
                    let digest = certificate.pdf_sha256.as_str();
                    if let Some(holder) = pdf_index.get(digest)? {
                        return Err(taken(Unique::PdfDigest, digest, Some(&holder)));
                    }
                    pdf_index.insert(digest, id)?;
                    certs.insert(id, value.as_slice())?;
                    pdfs.insert(id, pdf)?;
                    if let Some(photo) = photo {
                        photos.insert(id, photo)?;
                    }
                    Ok(())
                },
            )
        };
        self.exclusive(|| transaction().map_err(abort_with)).await
    }

    /// Stores a changed certificate and the history its submission gains, in one transaction.
    pub async fn save_certificate(
        &self,
        write: &CertificateWrite,
        history: Option<&SubmissionWrite>,
    ) -> Result<(), StoreError> {
        let trees = (
            &self.certificates,
            &self.submissions,
            &self.events,
            &self.submission_index,
            &self.statuses,
        );
        let transaction = || {
            trees.transaction(|(certs, subs, events, index, statuses)| {
                write_certificate(certs, statuses, write)?;
                if let Some(history) = history {
                    write_submission((subs, events, index), history)?;
                }
                Ok(())
            })
        };
        self.exclusive(|| transaction().map_err(abort_with)).await
    }

    pub fn certificate(&self, id: &Identifier) -> Result<Option<Certificate>, StoreError> {
        let key = id.as_str().as_bytes();
        self.certificates
            .get(key)?
            .map(|bytes| decode(key, &bytes))
            .transpose()
    }

    /// Every certificate whose status is not plainly valid, with that status.
    pub fn listed_statuses(&self) -> Result<Vec<(Identifier, CertStatus)>, StoreError> {
        self.statuses
            .iter()
            .map(|entry| {
                let (key, bytes) = entry?;
                Ok((identifier(&key)?, decode(&key, &bytes)?))
            })
            .collect()
    }

    /// Fills the status index from the certificates, once: stores written before the index
    /// existed have revoked certificates that it does not list yet.
    pub(super) fn index_statuses(&self) -> Result<(), StoreError> {
        self.build_once(b"certificate_status_index_v1", || {
            for entry in self.certificates.iter() {
                let (key, bytes) = entry?;
                let certificate: Certificate = decode(&key, &bytes)?;
                if certificate.status != CertStatus::Valid {
                    self.statuses.insert(&key, encode(&certificate.status)?)?;
                }
            }
            Ok(())
        })
    }

    /// The latest version of the holder's line of certificates of `kind`.
    pub fn current_certificate(
        &self,
        kind: &str,
        holder_id: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        match self.holder_index.get(holder_key(kind, holder_id))? {
            Some(id) => self.certificate(&identifier(&id)?),
            None => Ok(None),
        }
    }

    /// Fills the holder index from the certificates, once: in a store written before it, each
    /// holder's line points to the version that holds today (the latest issued if none does).
    pub(super) fn index_holders(&self) -> Result<(), StoreError> {
        self.build_once(b"holder_index_v1", || {
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
            Ok(())
        })
    }

    pub fn certificate_photo(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.photos.get(id.as_str())?.map(|b| b.to_vec()))
    }

    pub fn certificate_pdf(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.pdfs.get(id.as_str())?.map(|b| b.to_vec()))
    }

    /// The identifier of the certificate whose issued PDF has this digest.
    pub fn certificate_id_by_pdf(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<Identifier>, StoreError> {
        self.pdf_index
            .get(sha256.as_str())?
            .map(|id| identifier(&id))
            .transpose()
    }

    /// The identifier of the certificate a migration issued for this former licence number.
    pub fn certificate_id_by_former_number(
        &self,
        number: &str,
    ) -> Result<Option<Identifier>, StoreError> {
        self.former_index
            .get(number)?
            .map(|id| identifier(&id))
            .transpose()
    }

    /// The identifier of the certificate that carries this verification code, if any.
    pub fn certificate_id_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<Identifier>, StoreError> {
        self.code_index
            .get(code.as_str())?
            .map(|id| identifier(&id))
            .transpose()
    }
}
