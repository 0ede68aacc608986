//! Records of every sort, paged by key, and records copied in from another store as they are.

use std::ops::Bound;

use super::Trees;
use super::codec::{decode, decode_all, encode};
use crate::domain::Sha256Digest;
use crate::domain::batch::BatchRecord;
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::ServiceItem;
use crate::domain::certificate::{CertStatus, Certificate};
use crate::domain::signing_key::KeyRecord;
use crate::domain::submission::Submission;
use crate::domain::token::TokenRecord;
use crate::store::{Conflict, Record, Sort, StoreError, Unique};

/// The entries of `tree` after `after`, in key order.
fn page(tree: &sled::Tree, after: Option<&str>) -> sled::Iter {
    match after {
        Some(key) => tree.range::<&[u8], _>((Bound::Excluded(key.as_bytes()), Bound::Unbounded)),
        None => tree.iter(),
    }
}

fn text(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// A record that another store holds differently: a copy will not overwrite it.
fn differs(record: &Record) -> StoreError {
    StoreError::Conflict(Conflict::Taken {
        constraint: Unique::CopiedRecord,
        value: format!("{:?} {}", record.sort(), record.key()),
        holder: None,
    })
}

impl Trees {
    pub fn records(
        &self,
        sort: Sort,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        if sort.is_small() {
            if after.is_some() {
                return Ok(Vec::new());
            }
            return self.small_records(sort);
        }
        let tree = match sort {
            Sort::Submissions => &self.submissions,
            Sort::Certificates => &self.certificates,
            Sort::HolderLines => &self.holder_index,
            Sort::FormerNumbers => &self.former_index,
            Sort::Tokens => &self.tokens,
            Sort::Sessions => &self.sessions,
            Sort::SealedKeys => &self.sealed_keys,
            Sort::Batches => &self.batches,
            _ => &self.keys,
        };
        let mut records = Vec::new();
        for entry in page(tree, after).take(limit) {
            let (key, value) = entry?;
            records.push(match sort {
                Sort::Submissions => {
                    let submission: Submission = decode(&key, &value)?;
                    let events = self.events(&submission.id)?;
                    Record::Submission { submission, events }
                }
                Sort::Certificates => {
                    let certificate: Certificate = decode(&key, &value)?;
                    let pdf = self.pdfs.get(&key)?.ok_or_else(|| StoreError::Corrupt {
                        key: text(&key),
                        reason: "a certificate without its PDF".into(),
                    })?;
                    Record::Certificate {
                        certificate: Box::new(certificate),
                        pdf: pdf.to_vec(),
                        photo: self.photos.get(&key)?.map(|p| p.to_vec()),
                    }
                }
                Sort::HolderLines => {
                    let line = text(&key);
                    let (kind, holder_id) = line.split_once('\0').unwrap_or((&line, ""));
                    Record::HolderLine {
                        kind: kind.to_owned(),
                        holder_id: holder_id.to_owned(),
                        certificate: text(&value),
                    }
                }
                Sort::FormerNumbers => Record::FormerNumber {
                    number: text(&key),
                    certificate: text(&value),
                },
                Sort::Tokens => Record::Token {
                    hash: Sha256Digest::parse(&text(&key)).map_err(|e| StoreError::Corrupt {
                        key: text(&key),
                        reason: e.to_string(),
                    })?,
                    record: decode(&key, &value)?,
                },
                Sort::Sessions => Record::Session(decode(&key, &value)?),
                Sort::SealedKeys => Record::SealedKey(decode(&key, &value)?),
                Sort::Batches => {
                    let batch: BatchRecord = decode(&key, &value)?;
                    Record::Batch {
                        lines: self.batch_lines(&batch.id)?,
                        results: self.batch_results(&batch.id)?,
                        batch,
                    }
                }
                _ => {
                    let mut record: KeyRecord = decode(&key, &value)?;
                    // The first version's records name their key by this tree's key alone.
                    if record.thumbprint.is_empty() {
                        record.thumbprint = text(&key);
                    }
                    Record::SigningKey(record)
                }
            });
        }
        Ok(records)
    }

    fn small_records(&self, sort: Sort) -> Result<Vec<Record>, StoreError> {
        Ok(match sort {
            Sort::ServiceItems => decode_all::<ServiceItem>(&self.services)?
                .into_iter()
                .map(Record::ServiceItem)
                .collect(),
            Sort::Calendars => decode_all::<YearCalendar>(&self.calendars)?
                .into_iter()
                .map(Record::Calendar)
                .collect(),
            _ => self
                .counters
                .iter()
                .map(|entry| {
                    let (key, value) = entry?;
                    let year = <[u8; 4]>::try_from(key.as_ref()).map(i32::from_be_bytes);
                    let last = <[u8; 8]>::try_from(value.as_ref()).map(u64::from_be_bytes);
                    match (year, last) {
                        (Ok(year), Ok(last)) => Ok(Record::Sequence { year, last }),
                        _ => Err(StoreError::Corrupt {
                            key: format!("year_to_last_sequence/{key:?}"),
                            reason: "not a year and a count".into(),
                        }),
                    }
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }

    /// Stores a copied record; `false` if an equal one is there.
    pub async fn put_record(&self, record: &Record) -> Result<bool, StoreError> {
        self.exclusive(|| self.put_record_now(record)).await
    }

    fn put_record_now(&self, record: &Record) -> Result<bool, StoreError> {
        match record {
            Record::Submission { submission, events } => {
                let key = submission.id.as_str().as_bytes();
                if let Some(stored) = self.submissions.get(key)? {
                    let stored: Submission = decode(key, &stored)?;
                    let same = stored == *submission && self.events(&submission.id)? == *events;
                    return if same {
                        Ok(false)
                    } else {
                        Err(differs(record))
                    };
                }
                for event in events {
                    let event_key = super::submissions::event_key(&submission.id, event.seq);
                    self.events.insert(event_key, encode(event)?)?;
                }
                self.submissions.insert(key, encode(submission)?)?;
                self.put_in_index(submission)?;
            }
            Record::Certificate {
                certificate,
                pdf,
                photo,
            } => {
                let key = certificate.content.id.as_str().as_bytes();
                if let Some(stored) = self.certificates.get(key)? {
                    let stored: Certificate = decode(key, &stored)?;
                    let same = stored == **certificate
                        && self
                            .pdfs
                            .get(key)?
                            .is_some_and(|p| p.as_ref() == pdf.as_slice());
                    return if same {
                        Ok(false)
                    } else {
                        Err(differs(record))
                    };
                }
                self.pdfs.insert(key, pdf.as_slice())?;
                if let Some(photo) = photo {
                    self.photos.insert(key, photo.as_slice())?;
                }
                self.pdf_index
                    .insert(certificate.pdf_sha256.as_str(), key)?;
                if let Some(code) = &certificate.content.code {
                    self.code_index.insert(code.as_str(), key)?;
                }
                if certificate.status != CertStatus::Valid {
                    self.statuses.insert(key, encode(&certificate.status)?)?;
                }
                self.certificates.insert(key, encode(&**certificate)?)?;
            }
            Record::HolderLine { certificate, .. } | Record::FormerNumber { certificate, .. } => {
                let tree = match record {
                    Record::HolderLine { .. } => &self.holder_index,
                    _ => &self.former_index,
                };
                let key = record.key();
                if let Some(stored) = tree.get(key.as_bytes())? {
                    return match stored.as_ref() == certificate.as_bytes() {
                        true => Ok(false),
                        false => Err(differs(record)),
                    };
                }
                tree.insert(key.as_bytes(), certificate.as_bytes())?;
            }
            Record::Token {
                hash,
                record: token,
            } => {
                let key = hash.as_str().as_bytes();
                return self.put_once::<TokenRecord>(&self.tokens, key, token, record);
            }
            Record::Session(session) => {
                let key = session.id.as_str().as_bytes();
                let written = self.put_once(&self.sessions, key, session, record)?;
                let index = super::sessions::by_token(&session.token_hash, &session.id);
                self.sessions_by_token.insert(index.as_bytes(), &[])?;
                return Ok(written);
            }
            Record::SigningKey(key) => {
                let thumbprint = key.thumbprint.as_bytes();
                return self.put_once::<KeyRecord>(&self.keys, thumbprint, key, record);
            }
            Record::SealedKey(sealed) => {
                let thumbprint = sealed.thumbprint.as_bytes();
                return self.put_once(&self.sealed_keys, thumbprint, sealed, record);
            }
            Record::Batch {
                batch,
                lines,
                results,
            } => {
                if let Some(stored) = self.batch(&batch.id)? {
                    let same = stored == *batch
                        && self.batch_lines(&batch.id)? == *lines
                        && self.batch_results(&batch.id)? == *results;
                    return if same {
                        Ok(false)
                    } else {
                        Err(differs(record))
                    };
                }
                for result in results {
                    let key = super::batches::result_key(&batch.id, result.line);
                    self.batch_results.insert(key, encode(result)?)?;
                }
                self.batch_lines
                    .insert(batch.id.as_bytes(), encode(lines)?)?;
                self.batches.insert(batch.id.as_bytes(), encode(batch)?)?;
            }
            Record::ServiceItem(item) => {
                let key = super::catalogue::version_key(item.code.as_str(), item.version);
                let written = self.put_once(&self.services, &key, item, record)?;
                let latest =
                    super::catalogue::latest_of(self.service_latest.get(item.code.as_str())?);
                if item.version > latest {
                    self.service_latest
                        .insert(item.code.as_str(), &item.version.to_be_bytes())?;
                }
                return Ok(written);
            }
            Record::Calendar(calendar) => {
                let key = calendar.year.to_be_bytes();
                if let Some(stored) = self.calendars.get(key)? {
                    let stored: YearCalendar = decode(&key, &stored)?;
                    return if stored == *calendar {
                        Ok(false)
                    } else {
                        Err(differs(record))
                    };
                }
                self.calendars.insert(key, encode(calendar)?)?;
            }
            Record::Sequence { year, last } => {
                let key = year.to_be_bytes();
                let stored = self
                    .counters
                    .get(key)?
                    .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
                    .map(u64::from_be_bytes);
                if stored.is_some_and(|s| s >= *last) {
                    return Ok(false);
                }
                self.counters.insert(key, &last.to_be_bytes())?;
            }
        }
        Ok(true)
    }

    /// Inserts `value` under `key` unless an equal one is there (`false`); another is refused.
    fn put_once<T>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        value: &T,
        record: &Record,
    ) -> Result<bool, StoreError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq,
    {
        if let Some(stored) = tree.get(key)? {
            let stored: T = decode(key, &stored)?;
            return if stored == *value {
                Ok(false)
            } else {
                Err(differs(record))
            };
        }
        tree.insert(key, encode(value)?)?;
        Ok(true)
    }
}
