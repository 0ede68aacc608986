use chrono::{DateTime, Utc};
use sled::Transactional;

use super::Trees;
use super::codec::{decode, decode_all, encode};
use super::submissions::{InTransaction, abort_with};
use crate::domain::batch::{BatchRecord, Lease, NumberedLine, NumberedResult};
use crate::store::{Conflict, StoreError, Unique};

/// The key of a line's result: the batch's id, then the line number (big-endian, so a
/// batch's results come in line order).
pub(super) fn result_key(id: &str, line: usize) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&(line as u64).to_be_bytes());
    key
}

fn result_prefix(id: &str) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.push(0);
    key
}

impl Trees {
    pub async fn insert_batch(
        &self,
        batch: &BatchRecord,
        lines: &[NumberedLine],
    ) -> Result<(), StoreError> {
        let (record, lines) = (encode(batch)?, encode(&lines)?);
        self.exclusive(|| {
            if self.batches.contains_key(&batch.id)? {
                return Err(Conflict::Taken {
                    constraint: Unique::BatchId,
                    value: batch.id.clone(),
                    holder: None,
                }
                .into());
            }
            (&self.batches, &self.batch_lines)
                .transaction(|(batches, batch_lines)| {
                    batches.insert(batch.id.as_bytes(), record.as_slice())?;
                    batch_lines.insert(batch.id.as_bytes(), lines.as_slice())?;
                    InTransaction::Ok(())
                })
                .map_err(abort_with)
        })
        .await
    }

    pub fn batch(&self, id: &str) -> Result<Option<BatchRecord>, StoreError> {
        self.batches
            .get(id)?
            .map(|bytes| decode(id.as_bytes(), &bytes))
            .transpose()
    }

    pub fn latest_batches(&self, limit: usize) -> Result<Vec<BatchRecord>, StoreError> {
        let mut batches: Vec<BatchRecord> = decode_all(&self.batches)?;
        batches.sort_by(|a, b| (b.started_at, &a.id).cmp(&(a.started_at, &b.id)));
        batches.truncate(limit);
        Ok(batches)
    }

    pub fn batch_lines(&self, id: &str) -> Result<Vec<NumberedLine>, StoreError> {
        self.batch_lines
            .get(id)?
            .map(|bytes| decode(id.as_bytes(), &bytes))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    pub fn batch_results(&self, id: &str) -> Result<Vec<NumberedResult>, StoreError> {
        self.batch_results
            .scan_prefix(result_prefix(id))
            .map(|entry| {
                let (key, value) = entry?;
                decode(&key, &value)
            })
            .collect()
    }

    /// Writers take turns (`exclusive`): the result and the count are written together.
    pub async fn record_batch_result(
        &self,
        id: &str,
        result: &NumberedResult,
    ) -> Result<bool, StoreError> {
        let (key, value) = (result_key(id, result.line), encode(result)?);
        self.exclusive(|| {
            if self.batch_results.contains_key(&key)? {
                return Ok(false);
            }
            let Some(mut batch) = self.batch(id)? else {
                return Err(Conflict::Changed(format!("batch {id}")).into());
            };
            batch.count(&result.result);
            let record = encode(&batch)?;
            (&self.batches, &self.batch_results)
                .transaction(|(batches, results)| {
                    results.insert(key.as_slice(), value.as_slice())?;
                    batches.insert(id.as_bytes(), record.as_slice())?;
                    InTransaction::Ok(())
                })
                .map_err(abort_with)?;
            Ok(true)
        })
        .await
    }

    pub async fn renew_batch_lease(
        &self,
        id: &str,
        read: &Lease,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        self.change_batch(id, read, |batch| batch.lease = lease.clone())
            .await
    }

    pub async fn finish_batch(
        &self,
        id: &str,
        read: &Lease,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.change_batch(id, read, |batch| batch.finished_at = Some(at))
            .await
    }

    /// Applies `change` to batch `id` while its lease is still `read`.
    async fn change_batch(
        &self,
        id: &str,
        read: &Lease,
        change: impl FnOnce(&mut BatchRecord),
    ) -> Result<(), StoreError> {
        self.exclusive(|| {
            let mut batch = match self.batch(id)? {
                Some(batch) if &batch.lease == read => batch,
                _ => return Err(Conflict::Changed(format!("batch {id}'s lease")).into()),
            };
            change(&mut batch);
            self.batches.insert(id.as_bytes(), encode(&batch)?)?;
            Ok(())
        })
        .await
    }

    pub async fn remove_old_batches(&self, keep: usize) -> Result<u64, StoreError> {
        self.exclusive(|| {
            let mut removed = 0;
            for batch in self.latest_batches(usize::MAX)?.into_iter().skip(keep) {
                if batch.finished_at.is_none() {
                    continue;
                }
                self.batches.remove(&batch.id)?;
                self.batch_lines.remove(&batch.id)?;
                for entry in self.batch_results.scan_prefix(result_prefix(&batch.id)) {
                    let (key, _) = entry?;
                    self.batch_results.remove(key)?;
                }
                removed += 1;
            }
            Ok(removed)
        })
        .await
    }
}
