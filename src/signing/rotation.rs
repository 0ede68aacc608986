//! Changing the ring while the service runs: rotation and revocation. The store is written
//! first; only then does the ring in memory change, under the caller's write lock.

use std::path::Path;

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;

use super::keyring::{KeyRecord, KeyRing, KeyStatus, RingKey, record_for, write_pem};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("no key with kid {0}")]
    NotFound(String),
    #[error("key {0} is the active key: rotate to a new key first, then revoke it")]
    Active(String),
    #[error("{0:#}")]
    Storage(anyhow::Error),
}

impl KeyRing {
    /// Creates a new active key and retires the previous one, atomically in the store.
    pub async fn rotate(
        &mut self,
        store: &Store,
        keys_dir: &Path,
    ) -> Result<KeyRecord, KeyRingError> {
        let secret = SigningKey::generate(&mut OsRng);
        write_pem(keys_dir, &secret).map_err(KeyRingError::Storage)?;
        let now = Utc::now();
        let new = record_for(&secret.verifying_key(), now);
        let mut changed = vec![new.clone()];
        let previous = self
            .keys
            .iter()
            .position(|k| k.record.status == KeyStatus::Active);
        if let Some(i) = previous {
            let mut retired = self.keys[i].record.clone();
            retired.status = KeyStatus::Retired;
            retired.retired_at = Some(now);
            changed.push(retired);
        }
        store
            .put_key_records(&changed)
            .await
            .map_err(|e| KeyRingError::Storage(e.into()))?;
        if let Some(i) = previous {
            self.keys[i].record = changed[1].clone();
            self.keys[i].secret = None;
        }
        self.keys.push(RingKey {
            record: new.clone(),
            public: secret.verifying_key(),
            secret: Some(secret),
        });
        Ok(new)
    }

    /// Marks a key compromised from `since`: what it signed before stays valid, what it
    /// signed from then on is `key_revoked`.
    pub async fn revoke(
        &mut self,
        store: &Store,
        kid: &str,
        since: DateTime<Utc>,
    ) -> Result<KeyRecord, KeyRingError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.record.names(kid))
            .ok_or_else(|| KeyRingError::NotFound(kid.to_owned()))?;
        if key.record.status == KeyStatus::Active {
            return Err(KeyRingError::Active(kid.to_owned()));
        }
        let mut record = key.record.clone();
        record.status = KeyStatus::Revoked;
        record.compromised_since = Some(since);
        store
            .put_key_records(std::slice::from_ref(&record))
            .await
            .map_err(|e| KeyRingError::Storage(e.into()))?;
        key.record = record.clone();
        Ok(record)
    }
}
