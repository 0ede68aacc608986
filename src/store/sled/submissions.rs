use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::Trees;
use super::codec::{decode, encode};
use crate::domain::SubmissionId;
use crate::domain::plan::SubmissionWrite;
use crate::domain::submission::{Event, Submission};
use crate::store::{Conflict, StoreError, Unique};

/// Events of one submission sort by (id, seq): the id, a NUL, then seq big-endian.
pub(super) fn event_key(id: &SubmissionId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.as_str().len() + 9);
    key.extend_from_slice(id.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn event_prefix(id: &SubmissionId) -> Vec<u8> {
    let mut key = id.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

/// The submission index's entry of a holder's submission: `h`, the holder's id, a NUL, the
/// submission's id (the holder search reads its holder's entries alone).
fn holder_entry(holder_id: &str, id: &SubmissionId) -> Vec<u8> {
    let mut key = holder_prefix(holder_id);
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

fn holder_prefix(holder_id: &str) -> Vec<u8> {
    [b"h".as_slice(), holder_id.as_bytes(), b"\0"].concat()
}

/// The submission index's entry of a submission whose promise still runs (accepted with a due
/// date, not finished): `p` and its id (the due listing reads these alone).
const PROMISED: &[u8] = b"p";

fn promised_entry(id: &SubmissionId) -> Vec<u8> {
    [PROMISED, id.as_str().as_bytes()].concat()
}

fn is_promised(submission: &Submission) -> bool {
    submission.due_date.is_some() && !submission.status.is_finished()
}

/// The submission index's entry of a submission in a review queue (submitted or pre-approved):
/// `r` and its id (the queues read these alone).
const IN_REVIEW: &[u8] = b"r";

fn in_review_entry(id: &SubmissionId) -> Vec<u8> {
    [IN_REVIEW, id.as_str().as_bytes()].concat()
}

/// Puts `submission` in the index as it is now: under its holder, among the running promises
/// or not, in the review queues or not.
fn index_submission(
    index: &TransactionalTree,
    submission: &Submission,
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    let id = &submission.id;
    index.insert(holder_entry(submission.holder.id(), id), &[])?;
    if is_promised(submission) {
        index.insert(promised_entry(id), &[])?;
    } else {
        index.remove(promised_entry(id))?;
    }
    if submission.status.is_in_review() {
        index.insert(in_review_entry(id), &[])?;
    } else {
        index.remove(in_review_entry(id))?;
    }
    Ok(())
}

pub(super) fn abort_with(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::from(e),
    }
}

pub(super) type InTransaction<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Aborts a transaction with `e`.
pub(super) fn abort(e: impl Into<StoreError>) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e.into())
}

/// Writes a submission and appends its events inside a transaction: a new one only if its
/// id is free, a changed one only while the stored one is at the version it was read at.
pub(super) fn write_submission(
    (subs, events, index): (&TransactionalTree, &TransactionalTree, &TransactionalTree),
    write: &SubmissionWrite,
) -> InTransaction<()> {
    let id = &write.submission.id;
    let key = id.as_str().as_bytes();
    let stored_at = match subs.get(key)? {
        Some(bytes) => Some(
            decode::<Submission>(key, &bytes)
                .map_err(abort)?
                .event_count,
        ),
        None => None,
    };
    match (write.read_at, stored_at) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(abort(Conflict::Taken {
                constraint: Unique::SubmissionId,
                value: id.to_string(),
                holder: None,
            }));
        }
        (Some(read), Some(stored)) if read == stored => {}
        (Some(_), _) => return Err(abort(Conflict::Changed(format!("submission {id}")))),
    }
    subs.insert(key, encode(&write.submission).map_err(abort)?)?;
    index_submission(index, &write.submission)?;
    for event in &write.events {
        events.insert(event_key(id, event.seq), encode(event).map_err(abort)?)?;
    }
    Ok(())
}

impl Trees {
    /// Stores a submission and appends its events, in one transaction.
    #[tracing::instrument(skip_all, fields(submission = %write.submission.id))]
    pub async fn save_submission(&self, write: &SubmissionWrite) -> Result<(), StoreError> {
        self.exclusive(|| {
            (&self.submissions, &self.events, &self.submission_index)
                .transaction(|(subs, events, index)| write_submission((subs, events, index), write))
                .map_err(abort_with)
        })
        .await
    }

    pub fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
        self.submissions
            .get(id.as_str())?
            .map(|bytes| decode(id.as_str().as_bytes(), &bytes))
            .transpose()
    }

    /// Every submission of one holder (USCC or ID number, as stored), newest first.
    ///
    /// A full scan of the submissions tree: a service centre files thousands of submissions a
    /// year, which decode in milliseconds, so the window console's holder search needs no
    /// index yet. Past a few hundred thousand, add a `holder_id_to_submission_ids` tree kept
    /// in the same transactions as the submissions.
    pub fn submissions_by_holder(&self, holder_id: &str) -> Result<Vec<Submission>, StoreError> {
        let prefix = holder_prefix(holder_id);
        let mut found = self.indexed(&prefix)?;
        found.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(found)
    }

    /// Every submission accepted with a promise and not yet issued.
    pub fn submissions_with_promise(&self) -> Result<Vec<Submission>, StoreError> {
        self.indexed(PROMISED)
    }

    /// Every submission submitted or pre-approved, oldest first.
    pub fn submissions_in_review(&self) -> Result<Vec<Submission>, StoreError> {
        let mut found = self.indexed(IN_REVIEW)?;
        found.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(found)
    }

    /// The submissions whose index entries start with `prefix` (their ids follow it).
    fn indexed(&self, prefix: &[u8]) -> Result<Vec<Submission>, StoreError> {
        let mut found = Vec::new();
        for entry in self.submission_index.scan_prefix(prefix) {
            let (key, _) = entry?;
            let id = &key[prefix.len()..];
            let bytes = self
                .submissions
                .get(id)?
                .ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "an index entry of a submission the store does not hold".into(),
                })?;
            found.push(decode(id, &bytes)?);
        }
        Ok(found)
    }

    /// Builds the submission index of a store written before it existed (once: a marker
    /// records that it is built; from then on every write keeps it).
    pub(super) fn index_submissions(&self) -> Result<(), StoreError> {
        // v2: the review queues' entries joined the index.
        self.build_once(b"submission_index_v2", || {
            for entry in self.submissions.iter() {
                let (key, bytes) = entry?;
                let submission: Submission = decode(&key, &bytes)?;
                self.put_in_index(&submission)?;
            }
            Ok(())
        })
    }

    /// [`index_submission`] on its own (a store being indexed or copied into).
    pub(super) fn put_in_index(&self, submission: &Submission) -> Result<(), StoreError> {
        self.submission_index
            .transaction(|index| Ok(index_submission(index, submission)?))
            .map_err(abort_with)
    }

    /// The submission's audit history, oldest first.
    pub fn events(&self, id: &SubmissionId) -> Result<Vec<Event>, StoreError> {
        self.events
            .scan_prefix(event_prefix(id))
            .map(|entry| {
                let (key, value) = entry?;
                decode(&key, &value)
            })
            .collect()
    }
}
