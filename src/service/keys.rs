//! Signing keys: the ring loaded (or started) at start-up, listed, rotated and revoked by an
//! admin, published as a JWK Set. The store holds the ring for every node: a change is
//! written there first, decided on the ring as stored, and each node opens the ring again
//! when the store's records are not those it holds (before signing, and every second).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::Value;
use tokio::sync::RwLock;

use super::{ErrorKind, ServiceError};
use crate::config::Mode;
use crate::domain::Role;
use crate::domain::actor::Actor;
use crate::domain::plan::KeyRingWrite;
use crate::domain::text::quoted;
use crate::signing::{KeyRecord, KeyRing, KeyRingError, first_key, is_example_key, record_for};
use crate::store::{Conflict, Store, StoreError};

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

/// How often a serving node asks the store whether another node changed the ring: a
/// rotation or a revocation anywhere is in every node's answers within this, and before
/// any signature at once ([`refresh`] runs before each).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How many times a change to the ring is decided again after another node changed it first.
const ATTEMPTS: usize = 4;

/// Loads the ring from the store and the keys directory. On first start with no key it
/// takes a PEM already in the keys directory, or creates a development key (a node starting
/// at the same moment as another takes the other's if it was stored first). Production mode
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
        let first = KeyRingWrite {
            read: &[],
            written: std::slice::from_ref(&record),
        };
        match store.put_key_records(&first).await {
            Err(StoreError::Conflict(Conflict::Changed(_))) => {}
            other => other?,
        }
        records = store.key_records().await?;
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

/// Opens the ring again when the store's records are not those it was opened with (another
/// node rotated or revoked a key); answers whether it did. The store is asked again under the
/// write lock, so an older answer never replaces a newer ring.
pub async fn refresh(
    store: &dyn Store,
    keys_dir: &Path,
    keys: &RwLock<KeyRing>,
) -> Result<bool, ServiceError> {
    let records = store.key_records().await?;
    if keys.read().await.is_current(&records) {
        return Ok(false);
    }
    let mut ring = keys.write().await;
    let records = store.key_records().await?;
    if ring.is_current(&records) {
        return Ok(false);
    }
    *ring = reopen(records, keys_dir)?;
    tracing::info!(
        active = ring.active().map(|(kid, _)| kid),
        "the key ring changed in the store; reloaded"
    );
    Ok(true)
}

/// [`refresh`] every [`CHECK_EVERY`], for as long as the service runs. A store that does not
/// answer is reported by the health check; the ring is kept until it answers.
pub async fn keep_current(store: Arc<dyn Store>, keys_dir: PathBuf, keys: Arc<RwLock<KeyRing>>) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = refresh(&*store, &keys_dir, &keys).await {
            tracing::debug!(error = %e.message, "key ring not checked");
        }
    }
}

fn reopen(records: Vec<KeyRecord>, keys_dir: &Path) -> Result<KeyRing, ServiceError> {
    KeyRing::open(records, keys_dir).map_err(|e| ServiceError::internal(format!("{e:#}")))
}

/// Decides a change on the ring as stored now and has the store write it, deciding again if
/// another node changed the ring meanwhile; the ring is then opened from what is stored.
async fn change_ring(
    store: &dyn Store,
    keys_dir: &Path,
    keys: &RwLock<KeyRing>,
    decide: impl Fn(&KeyRing) -> Result<Vec<KeyRecord>, ServiceError>,
) -> Result<Vec<KeyRecord>, ServiceError> {
    let mut ring = keys.write().await;
    for _ in 0..ATTEMPTS {
        let stored = store.key_records().await?;
        if !ring.is_current(&stored) {
            *ring = reopen(stored, keys_dir)?;
        }
        let written = decide(&ring)?;
        let change = KeyRingWrite {
            read: ring.stored(),
            written: &written,
        };
        match store.put_key_records(&change).await {
            Err(StoreError::Conflict(Conflict::Changed(_))) => continue,
            other => other?,
        }
        *ring = reopen(store.key_records().await?, keys_dir)?;
        return Ok(written);
    }
    Err(ServiceError::new(
        ErrorKind::Conflict,
        "key_ring_changing",
        "密钥环正被其他节点修改，请稍后重试 / the key ring is being changed on another node; try again",
    ))
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
    keys: &RwLock<KeyRing>,
    actor: &Actor,
) -> Result<KeyRecord, ServiceError> {
    actor.require(&[Role::Admin])?;
    let secret = SigningKey::generate(&mut OsRng);
    crate::signing::write_pem(keys_dir, &secret)
        .map_err(|e| ServiceError::internal(format!("{e:#}")))?;
    let changed = change_ring(store, keys_dir, keys, |ring| {
        Ok(ring.rotation(&secret, Utc::now()))
    })
    .await?;
    tracing::info!(kid = %changed[0].kid, by = %actor.label(), "signing key rotated");
    Ok(changed[0].clone())
}

/// Marks a retired key compromised from `since` (admin).
pub async fn revoke(
    store: &dyn Store,
    keys_dir: &Path,
    keys: &RwLock<KeyRing>,
    actor: &Actor,
    kid: &str,
    since: DateTime<Utc>,
) -> Result<KeyRecord, ServiceError> {
    actor.require(&[Role::Admin])?;
    let changed = change_ring(store, keys_dir, keys, |ring| {
        Ok(vec![ring.revocation(kid, since)?])
    })
    .await?;
    let record = changed[0].clone();
    tracing::warn!(kid = %record.kid, %since, by = %actor.label(), "signing key revoked");
    Ok(record)
}

/// The public JWK Set (anyone).
pub fn jwks(ring: &KeyRing) -> Value {
    ring.jwks()
}
