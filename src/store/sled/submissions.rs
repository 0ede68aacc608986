use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::Trees;
use super::codec::{decode, decode_all, encode};
use crate::domain::Refusal;
use crate::domain::SubmissionId;
use crate::domain::submission::{Action, Event, Submission};
use crate::store::{StoreError, UpdateError};

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

pub(super) fn abort_with(e: TransactionError<UpdateError>) -> UpdateError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => UpdateError::Store(StoreError::from(e)),
    }
}

pub(super) type InTransaction<T> = Result<T, ConflictableTransactionError<UpdateError>>;

/// Aborts a transaction with `e`.
pub(super) fn abort(e: impl Into<UpdateError>) -> ConflictableTransactionError<UpdateError> {
    ConflictableTransactionError::Abort(e.into())
}

/// Reads a submission inside a transaction.
pub(super) fn load_in(subs: &TransactionalTree, id: &SubmissionId) -> InTransaction<Submission> {
    let key = id.as_str().as_bytes();
    let bytes = subs
        .get(key)?
        .ok_or_else(|| abort(UpdateError::NotFound(id.clone())))?;
    decode(key, &bytes).map_err(abort)
}

/// Appends `action` to the submission's history and writes both, inside a transaction: the
/// one place that numbers events, so `seq` runs without gaps.
pub(super) fn append_event(
    subs: &TransactionalTree,
    events: &TransactionalTree,
    submission: &mut Submission,
    action: Action,
    actor: &str,
    at: DateTime<Utc>,
) -> InTransaction<Event> {
    let event = Event {
        seq: submission.event_count,
        at,
        actor: actor.to_owned(),
        action,
    };
    submission.event_count += 1;
    submission.updated_at = at;
    subs.insert(
        submission.id.as_str().as_bytes(),
        encode(&*submission).map_err(abort)?,
    )?;
    events.insert(
        event_key(&submission.id, event.seq),
        encode(&event).map_err(abort)?,
    )?;
    Ok(event)
}

impl Trees {
    /// Stores a new submission and its `created` event together.
    #[tracing::instrument(skip_all, fields(submission = %submission.id))]
    pub async fn create_submission(
        &self,
        submission: &Submission,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut submission = submission.clone();
        let event = Event {
            seq: 0,
            at: submission.created_at,
            actor: actor.to_owned(),
            action: Action::Created,
        };
        submission.event_count = 1;
        let value = encode(&submission)?;
        let event_value = encode(&event)?;
        let id = submission.id.as_str().as_bytes();
        self.exclusive(|| {
            (&self.submissions, &self.events)
                .transaction(|(subs, events)| {
                    subs.insert(id, value.as_slice())?;
                    events.insert(event_key(&submission.id, 0), event_value.as_slice())?;
                    Ok(())
                })
                .map_err(|e: TransactionError<StoreError>| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => StoreError::from(e),
                })
        })
        .await
    }

    pub fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
        self.submissions
            .get(id.as_str())?
            .map(|bytes| decode(id.as_str().as_bytes(), &bytes))
            .transpose()
    }

    /// Applies `change` to the stored submission and appends the event it returns, in one
    /// transaction. `change` may run more than once if another writer got there first, so it
    /// must be a pure function of the submission it is given. A refusal stores nothing.
    pub async fn update_submission<T, F>(
        &self,
        id: &SubmissionId,
        actor: &str,
        change: F,
    ) -> Result<(Submission, Event, T), UpdateError>
    where
        F: Fn(&mut Submission) -> Result<(Action, T), Refusal>,
    {
        let transaction = || {
            (&self.submissions, &self.events).transaction(|(subs, events)| {
                let mut submission = load_in(subs, id)?;
                let (action, extra) = change(&mut submission).map_err(abort)?;
                let event = append_event(subs, events, &mut submission, action, actor, Utc::now())?;
                Ok((submission, event, extra))
            })
        };
        self.exclusive(|| transaction().map_err(abort_with)).await
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
