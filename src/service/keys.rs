//! Signing keys: the ring loaded (or started) at start-up, listed, rotated and revoked by an
//! admin, published as a JWK Set. Records are stored before the ring in memory changes.

use std::path::Path;

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::Value;

use super::{ErrorKind, ServiceError};
use crate::config::Mode;
use crate::domain::Role;
use crate::domain::actor::Actor;
use crate::domain::text::quoted;
use crate::signing::{KeyRecord, KeyRing, KeyRingError, first_key, is_example_key, record_for};
use crate::store::Store;

impl From<KeyRingError> for ServiceError {
    fn from(e: KeyRingError) -> Self {
        match e {
            KeyRingError::NotFound(kid) => {
                let kid = quoted(&kid);
                ServiceError::not_found(
                    "key_not_found",
                    format!("密钥 {kid} 不存在 / no key {kid}"),
                )
            }
            KeyRingError::Active(_) => {
                ServiceError::new(ErrorKind::Conflict, "key_active", e.to_string())
            }
            KeyRingError::AlreadyRevoked { .. } => {
                ServiceError::new(ErrorKind::Conflict, "key_already_revoked", e.to_string())
            }
        }
    }
}

/// Loads the ring from the store and the keys directory. On first start with no key it
/// takes a PEM already in the keys directory, or creates a development key. Production mode
/// refuses to sign with the demonstration key.
pub async fn load_or_create(
    store: &dyn Store,
    keys_dir: &Path,
    mode: Mode,
) -> anyhow::Result<KeyRing> {
    let mut records = store.key_records().await?;
    if records.is_empty() {
        let key = first_key(keys_dir)?;
        let record = record_for(&key.verifying_key(), Utc::now());
        store.put_key_records(std::slice::from_ref(&record)).await?;
        records.push(record);
    }
    let ring = KeyRing::open(records, keys_dir)?;
    let Some((kid, key)) = ring.active() else {
        anyhow::bail!(
            "the key ring has no active key: run `onetrip keys rotate` on the stopped store"
        );
    };
    if mode == Mode::Production && is_example_key(key)? {
        anyhow::bail!(
            "production mode refuses the demonstration key from keys-example/ (kid {kid}): its private half is public; rotate to a new key first"
        );
    }
    Ok(ring)
}

/// Every key's public record (admin).
pub fn list(ring: &KeyRing, actor: &Actor) -> Result<Vec<KeyRecord>, ServiceError> {
    actor.require(&[Role::Admin])?;
    Ok(ring.records().cloned().collect())
}

/// A new active key; the previous one is retired and keeps verifying what it signed (admin).
pub async fn rotate(
    store: &dyn Store,
    keys_dir: &Path,
    ring: &mut KeyRing,
    actor: &Actor,
) -> Result<KeyRecord, ServiceError> {
    actor.require(&[Role::Admin])?;
    let secret = SigningKey::generate(&mut OsRng);
    crate::signing::write_pem(keys_dir, &secret)
        .map_err(|e| ServiceError::internal(format!("{e:#}")))?;
    let changed = ring.rotation(&secret, Utc::now());
    store.put_key_records(&changed).await?;
    ring.apply_rotation(&changed, secret);
    tracing::info!(kid = %changed[0].kid, by = %actor.label(), "signing key rotated");
    Ok(changed[0].clone())
}

/// Marks a retired key compromised from `since` (admin).
pub async fn revoke(
    store: &dyn Store,
    ring: &mut KeyRing,
    actor: &Actor,
    kid: &str,
    since: DateTime<Utc>,
) -> Result<KeyRecord, ServiceError> {
    actor.require(&[Role::Admin])?;
    let record = ring.revocation(kid, since)?;
    store.put_key_records(std::slice::from_ref(&record)).await?;
    ring.apply_record(record.clone());
    tracing::warn!(kid = %record.kid, %since, by = %actor.label(), "signing key revoked");
    Ok(record)
}

/// The public JWK Set (anyone).
pub fn jwks(ring: &KeyRing) -> Value {
    ring.jwks()
}
