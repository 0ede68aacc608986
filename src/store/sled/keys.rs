use sled::Transactional;

use super::Trees;
use super::codec::{decode, decode_all, encode};
use super::submissions::{InTransaction, abort_with};
use crate::domain::plan::KeyRingWrite;
use crate::domain::signing_key::{KeyRecord, SealedKey};
use crate::store::{Conflict, StoreError};

impl Trees {
    pub fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut records: Vec<KeyRecord> = decode_all(&self.keys)?;
        records.sort_by_key(|r| r.created_at);
        Ok(records)
    }

    pub fn sealed_keys(&self) -> Result<Vec<SealedKey>, StoreError> {
        decode_all(&self.sealed_keys)
    }

    /// Writes the change's records (and the new key's sealed private half) at once and
    /// flushes, while the ring is as it was read: writers take turns (`exclusive`), so the
    /// check and the write are one step.
    pub async fn put_key_records(&self, change: &KeyRingWrite<'_>) -> Result<(), StoreError> {
        let encoded = change
            .written
            .iter()
            .map(|r| Ok((r.thumbprint.clone(), encode(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sealed = change
            .sealed
            .map(|s| Ok::<_, StoreError>((s.thumbprint.clone(), encode(s)?)))
            .transpose()?;
        self.exclusive(|| {
            if !change.decided_on(&self.key_records()?) {
                return Err(Conflict::Changed("the key ring".into()).into());
            }
            (&self.keys, &self.sealed_keys)
                .transaction(|(keys, sealed_keys)| {
                    for (thumbprint, value) in &encoded {
                        keys.insert(thumbprint.as_bytes(), value.as_slice())?;
                    }
                    if let Some((thumbprint, value)) = &sealed {
                        sealed_keys.insert(thumbprint.as_bytes(), value.as_slice())?;
                    }
                    InTransaction::Ok(())
                })
                .map_err(abort_with)
        })
        .await
    }

    /// Puts `sealed` in place of the key's sealed half while that is still `read`.
    pub async fn replace_sealed_key(
        &self,
        read: Option<&SealedKey>,
        sealed: &SealedKey,
    ) -> Result<(), StoreError> {
        let key = sealed.thumbprint.as_bytes();
        let value = encode(sealed)?;
        self.exclusive(|| {
            let stored = self
                .sealed_keys
                .get(key)?
                .map(|bytes| decode::<SealedKey>(key, &bytes))
                .transpose()?;
            if stored.as_ref() != read {
                return Err(Conflict::Changed("the sealed key".into()).into());
            }
            self.sealed_keys.insert(key, value)?;
            Ok(())
        })
        .await
    }
}
