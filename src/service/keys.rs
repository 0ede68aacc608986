//! Signing keys: the ring loaded (or started) at start-up, listed, rotated and revoked by an
//! admin, published as a JWK Set. The store holds the ring for every node: a change is
//! written there first, decided on the ring as stored, and each node opens the ring again
//! when the store's records are not those it holds (before signing, and every second).
//! Private halves are 0600 files in the keys directory, or, with PostgreSQL and a
//! key-encryption key, sealed in the store beside their records (`custody`, `reseal`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::Value;
use tokio::sync::RwLock;

use super::{ErrorKind, ServiceError};
use crate::config::{Mode, Settings};
use crate::domain::Role;
use crate::domain::actor::Actor;
use crate::domain::plan::KeyRingWrite;
use crate::domain::text::quoted;
use crate::signing::{
    Custody, Kek, Keks, KeyRecord, KeyRing, KeyRingError, KeyStatus, SealedKey, first_key,
    is_example_key, pem_of, record_for,
};
use crate::store::{Conflict, Location, Store, StoreError};

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
            KeyRingError::Active(_) => ServiceError::new(
                ErrorKind::Conflict,
                "key_active",
                format!("在用密钥不能吊销，请先轮换 / {e}"),
            ),
            KeyRingError::AlreadyRevoked { .. } => ServiceError::new(
                ErrorKind::Conflict,
                "key_already_revoked",
                format!("密钥已吊销，只能把泄露时间提前 / {e}"),
            ),
        }
    }
}

/// How often a serving node asks the store whether another node changed the ring: a
/// rotation or a revocation anywhere is in every node's answers within this, and before
/// any signature at once ([`refresh`] runs before each).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How many times a change to the ring is decided again after another node changed it first.
const ATTEMPTS: usize = 4;

/// Where this node keeps private keys: sealed in the store under the key-encryption key when
/// the store is PostgreSQL and `key_encryption_key_file` is set, 0600 files in `keys_dir`
/// otherwise (sled always: "Without PostgreSQL, keys stay files").
pub fn custody(settings: &Settings, location: &Location) -> anyhow::Result<Custody> {
    let keys_dir = settings.keys_dir();
    let (Location::Postgres(_), Some(file)) = (location, &settings.key_encryption_key_file) else {
        if settings.key_encryption_key_file.is_some() {
            tracing::warn!(
                "key_encryption_key_file is ignored: with sled, private keys stay 0600 files in the keys directory"
            );
        } else if matches!(location, Location::Postgres(_)) {
            tracing::info!(
                keys_dir = %keys_dir.display(),
                "private keys are files in the keys directory: every node needs the same ones; set ONETRIP_KEY_ENCRYPTION_KEY_FILE to keep them sealed in the database"
            );
        }
        return Ok(Custody::Files(keys_dir));
    };
    let current = Kek::from_file(file)?;
    let previous = settings
        .previous_key_encryption_key_file
        .as_deref()
        .map(Kek::from_file)
        .transpose()?;
    if previous.as_ref().is_some_and(|p| p.id() == current.id()) {
        anyhow::bail!(
            "previous_key_encryption_key_file holds the same key as key_encryption_key_file ({})",
            current.id()
        );
    }
    Ok(Custody::Sealed {
        keks: Keks { current, previous },
        keys_dir,
    })
}

/// Loads the ring from the store and, with files, the keys directory. On first start with no
/// key it takes a PEM already in the keys directory, or creates one (a node starting at the
/// same moment as another takes the other's if it was stored first). With sealed keys, an
/// active key kept as a file before is sealed into the store. Production mode refuses to
/// sign with the demonstration key.
pub async fn load_or_create(
    store: &dyn Store,
    custody: &Custody,
    mode: Mode,
) -> anyhow::Result<KeyRing> {
    let mut records = store.key_records().await?;
    if records.is_empty() {
        let key = first_key(custody)?;
        let record = record_for(&key.verifying_key(), Utc::now());
        let sealed = seal_for(custody, &key)?;
        let first = KeyRingWrite {
            read: &[],
            written: std::slice::from_ref(&record),
            sealed: sealed.as_ref(),
        };
        match store.put_key_records(&first).await {
            Err(StoreError::Conflict(Conflict::Changed(_))) => {}
            other => other?,
        }
        records = store.key_records().await?;
    }
    let sealed = match custody {
        Custody::Files(_) => Vec::new(),
        Custody::Sealed { keks, keys_dir } => {
            seal_kept_files(store, &records, keks, keys_dir).await?;
            store.sealed_keys().await?
        }
    };
    let ring = KeyRing::open(records, &sealed, custody)?;
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

/// `key` sealed under the current key-encryption key, when the store keeps private keys.
fn seal_for(custody: &Custody, key: &SigningKey) -> anyhow::Result<Option<SealedKey>> {
    custody
        .keks()
        .map(|keks| keks.current.seal(key, Utc::now()))
        .transpose()
}

/// Seals into the store the private half of each active key that the store lacks and the
/// keys directory holds (a ring started with files, then given a key-encryption key).
async fn seal_kept_files(
    store: &dyn Store,
    records: &[KeyRecord],
    keks: &Keks,
    keys_dir: &Path,
) -> anyhow::Result<()> {
    let sealed = store.sealed_keys().await?;
    for record in records.iter().filter(|r| r.status == KeyStatus::Active) {
        if sealed.iter().any(|s| s.thumbprint == record.thumbprint) {
            continue;
        }
        let Some(key) = pem_of(keys_dir, &record.thumbprint)? else {
            continue;
        };
        let into_store = keks.current.seal(&key, Utc::now())?;
        match store.replace_sealed_key(None, &into_store).await {
            Err(StoreError::Conflict(Conflict::Changed(_))) => {}
            other => other?,
        }
        tracing::warn!(
            kid = %record.kid,
            file = %keys_dir.join(format!("{}.pem", record.thumbprint)).display(),
            "the signing key kept as a file is now sealed in the store; once every node has the key-encryption key, remove the file"
        );
    }
    Ok(())
}

/// Opens the ring again when the store's records are not those it was opened with (another
/// node rotated or revoked a key); answers whether it did. The store is asked again under the
/// write lock, so an older answer never replaces a newer ring.
pub async fn refresh(
    store: &dyn Store,
    custody: &Custody,
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
    *ring = reopen(store, records, custody).await?;
    tracing::info!(
        active = ring.active().map(|(kid, _)| kid),
        "the key ring changed in the store; reloaded"
    );
    Ok(true)
}

/// [`refresh`] every [`CHECK_EVERY`], for as long as the service runs. A store that does not
/// answer is reported by the health check; the ring is kept until it answers.
pub async fn keep_current(
    store: Arc<dyn Store>,
    custody: Arc<Custody>,
    keys: Arc<RwLock<KeyRing>>,
) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = refresh(&*store, &custody, &keys).await {
            tracing::debug!(error = %e.message, "key ring not checked");
        }
    }
}

/// The ring of `records`, the store's sealed keys read after them (a key's sealed half is
/// written with its record, so it is there).
async fn reopen(
    store: &dyn Store,
    records: Vec<KeyRecord>,
    custody: &Custody,
) -> Result<KeyRing, ServiceError> {
    let sealed = match custody {
        Custody::Files(_) => Vec::new(),
        Custody::Sealed { .. } => store.sealed_keys().await?,
    };
    KeyRing::open(records, &sealed, custody).map_err(|e| ServiceError::internal(format!("{e:#}")))
}

/// Decides a change on the ring as stored now and has the store write it (with `sealed`, the
/// new key's sealed half), deciding again if another node changed the ring meanwhile; the
/// ring is then opened from what is stored.
async fn change_ring(
    store: &dyn Store,
    custody: &Custody,
    keys: &RwLock<KeyRing>,
    sealed: Option<&SealedKey>,
    decide: impl Fn(&KeyRing) -> Result<Vec<KeyRecord>, ServiceError>,
) -> Result<Vec<KeyRecord>, ServiceError> {
    let mut ring = keys.write().await;
    for _ in 0..ATTEMPTS {
        let stored = store.key_records().await?;
        if !ring.is_current(&stored) {
            *ring = reopen(store, stored, custody).await?;
        }
        let written = decide(&ring)?;
        let change = KeyRingWrite {
            read: ring.stored(),
            written: &written,
            sealed,
        };
        match store.put_key_records(&change).await {
            Err(StoreError::Conflict(Conflict::Changed(_))) => continue,
            other => other?,
        }
        *ring = reopen(store, store.key_records().await?, custody).await?;
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
    custody: &Custody,
    keys: &RwLock<KeyRing>,
    actor: &Actor,
) -> Result<KeyRecord, ServiceError> {
    actor.require(&[Role::Admin])?;
    let secret = SigningKey::generate(&mut OsRng);
    let internal = |e: anyhow::Error| ServiceError::internal(format!("{e:#}"));
    let sealed = match custody {
        Custody::Files(keys_dir) => {
            crate::signing::write_pem(keys_dir, &secret).map_err(internal)?;
            None
        }
        Custody::Sealed { keks, .. } => {
            Some(keks.current.seal(&secret, Utc::now()).map_err(internal)?)
        }
    };
    let changed = change_ring(store, custody, keys, sealed.as_ref(), |ring| {
        Ok(ring.rotation(&secret, Utc::now()))
    })
    .await?;
    tracing::info!(kid = %changed[0].kid, by = %actor.label(), "signing key rotated");
    Ok(changed[0].clone())
}

/// Marks a retired key compromised from `since` (admin).
pub async fn revoke(
    store: &dyn Store,
    custody: &Custody,
    keys: &RwLock<KeyRing>,
    actor: &Actor,
    kid: &str,
    since: DateTime<Utc>,
) -> Result<KeyRecord, ServiceError> {
    actor.require(&[Role::Admin])?;
    let changed = change_ring(store, custody, keys, None, |ring| {
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

/// What `onetrip keys reseal` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resealed {
    /// The key-encryption key every sealed key is under now.
    pub kek_id: String,
    /// Sealed again under it now.
    pub resealed: usize,
    /// Already under it.
    pub already: usize,
}

/// Seals every private key in the store again under the current key-encryption key, opening
/// each with whichever key sealed it (the previous one, during a change of key). Nodes keep
/// serving meanwhile: each key is replaced on its own, only while it is as read, and the
/// nodes, started with both keys, open either. Run again after an interruption, it picks up
/// where it stopped (the operator at the command line, or an admin).
pub async fn reseal(
    store: &dyn Store,
    custody: &Custody,
    actor: &Actor,
) -> Result<Resealed, ServiceError> {
    actor.require(&[Role::Admin])?;
    let Some(keks) = custody.keks() else {
        return Err(ServiceError::new(
            ErrorKind::Conflict,
            "keys_not_sealed",
            "私钥以文件保存，无需重新封装（需 PostgreSQL 存储并设置 ONETRIP_KEY_ENCRYPTION_KEY_FILE） / private keys are files here: resealing needs a PostgreSQL store and ONETRIP_KEY_ENCRYPTION_KEY_FILE",
        ));
    };
    let internal = |e: anyhow::Error| ServiceError::internal(format!("{e:#}"));
    let mut done = Resealed {
        kek_id: keks.current.id().to_owned(),
        resealed: 0,
        already: 0,
    };
    for sealed in store.sealed_keys().await? {
        if sealed.kek_id == keks.current.id() {
            done.already += 1;
            continue;
        }
        let secret = keks.open(&sealed).map_err(internal)?;
        let again = keks.current.seal(&secret, Utc::now()).map_err(internal)?;
        match store.replace_sealed_key(Some(&sealed), &again).await {
            Ok(()) => done.resealed += 1,
            // Another reseal running at once came first; it sealed under the same key.
            Err(StoreError::Conflict(Conflict::Changed(_))) => done.already += 1,
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(kek = %done.kek_id, resealed = done.resealed, already = done.already, by = %actor.label(), "signing keys resealed");
    Ok(done)
}
