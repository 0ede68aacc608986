use sled::Transactional;

use super::Trees;
use super::codec::{decode_all, encode};
use crate::domain::plan::KeyRingWrite;
use crate::domain::signing_key::KeyRecord;
use crate::store::{Conflict, StoreError};

impl Trees {
    pub fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut records: Vec<KeyRecord> = decode_all(&self.keys)?;
        records.sort_by_key(|r| r.created_at);
        Ok(records)
    }

    /// Writes the change's records at once and flushes, while the ring is as it was read:
    /// writers take turns (`exclusive`), so the check and the write are one step.
    pub async fn put_key_records(&self, change: &KeyRingWrite<'_>) -> Result<(), StoreError> {
        let encoded = change
            .written
            .iter()
            .map(|r| Ok((r.thumbprint.clone(), encode(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.exclusive(|| {
            if !change.decided_on(&self.key_records()?) {
                return Err(Conflict::Changed("the key ring".into()).into());
            }
            (&self.keys,)
                .transaction(|(keys,)| {
                    for (kid, value) in &encoded {
                        keys.insert(kid.as_bytes(), value.as_slice())?;
                    }
                    Ok(())
                })
                .map_err(|e: sled::transaction::TransactionError<()>| match e {
                    sled::transaction::TransactionError::Storage(e) => StoreError::from(e),
                    sled::transaction::TransactionError::Abort(()) => {
                        StoreError::Encode("aborted".into())
                    }
                })
        })
        .await
    }
}
