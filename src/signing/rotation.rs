//! Changing the ring while the service runs: rotation and revocation, as pure steps that
//! compute the changed records. The caller (`service::keys`) has the store write them and
//! then opens the ring again from what is stored.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;

use super::keyring::{KeyRecord, KeyRing, KeyStatus, record_for};

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("no key with kid {0}")]
    NotFound(String),
    #[error("key {0} is the active key: rotate to a new key first, then revoke it")]
    Active(String),
    /// Revoking again may only move the compromise earlier: moving it later would make what
    /// the key signed in between valid again.
    #[error(
        "key {kid} is already revoked as compromised since {since}; a new revocation may only \
         move that time earlier"
    )]
    AlreadyRevoked { kid: String, since: DateTime<Utc> },
}

impl KeyRing {
    /// The records a rotation to `secret` writes: the new active key first, then the previous
    /// active key retired.
    pub fn rotation(&self, secret: &SigningKey, now: DateTime<Utc>) -> Vec<KeyRecord> {
        let mut changed = vec![record_for(&secret.verifying_key(), now)];
        if let Some(previous) = self
            .keys
            .iter()
            .find(|k| k.record.status == KeyStatus::Active)
        {
            let mut retired = previous.record.clone();
            retired.status = KeyStatus::Retired;
            retired.retired_at = Some(now);
            changed.push(retired);
        }
        changed
    }

    /// The record of `kid` marked compromised from `since`: what it signed before stays valid,
    /// what it signed from then on is `key_revoked`. The active key cannot be revoked.
    pub fn revocation(&self, kid: &str, since: DateTime<Utc>) -> Result<KeyRecord, KeyRingError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.record.names(kid))
            .ok_or_else(|| KeyRingError::NotFound(kid.to_owned()))?;
        if key.record.status == KeyStatus::Active {
            return Err(KeyRingError::Active(kid.to_owned()));
        }
        if let Some(recorded) = key.record.compromised_since
            && since >= recorded
        {
            return Err(KeyRingError::AlreadyRevoked {
                kid: key.record.kid.clone(),
                since: recorded,
            });
        }
        let mut record = key.record.clone();
        record.status = KeyStatus::Revoked;
        record.compromised_since = Some(since);
        Ok(record)
    }
}
