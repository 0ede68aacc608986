use sled::Transactional;

use super::Trees;
use super::codec::{decode_all, encode};
use crate::domain::signing_key::KeyRecord;
use crate::store::StoreError;

impl Trees {
    pub fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut records: Vec<KeyRecord> = decode_all(&self.keys)?;
        records.sort_by_key(|r| r.created_at);
        Ok(records)
    }

    /// Writes several key records at once (a rotation changes two) and flushes.
    pub async fn put_key_records(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        let encoded = records
            .iter()
            .map(|r| Ok((r.thumbprint.clone(), encode(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.exclusive(|| {
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
