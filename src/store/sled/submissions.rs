use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::Trees;
use super::codec::{decode, decode_all, encode};
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
    subs: &TransactionalTree,
    events: &TransactionalTree,
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
            (&self.submissions, &self.events)
                .transaction(|(subs, events)| write_submission(subs, events, write))
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
        let mut found: Vec<Submission> = decode_all(&self.submissions)?;
        found.retain(|s| s.holder.id() == holder_id);
        found.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(found)
    }

    /// Every submission accepted with a promise and not yet issued (a full scan, like
    /// `submissions_by_holder`).
    pub fn submissions_with_promise(&self) -> Result<Vec<Submission>, StoreError> {
        let mut found: Vec<Submission> = decode_all(&self.submissions)?;
        found.retain(|s| s.due_date.is_some() && !s.status.is_finished());
        Ok(found)
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
