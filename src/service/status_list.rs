//! The signed status list (`GET /.well-known/status-list`): built from the store's listed
//! statuses and the key ring, signed by the active key, and kept until something it says
//! changes or it is due for renewal, so that a crowd of verifiers costs one build.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;

use super::{ServiceError, Services};
use crate::domain::Sha256Digest;
use crate::domain::signing_key::KeyRecord;
use crate::domain::status_list::StatusList;
use crate::signing::sign_jws;

/// How long a list stays current: verifiers should fetch a new one by then.
const VALID_FOR: Duration = Duration::hours(1);
/// A list is rebuilt once it is this old even if nothing changed, so that every list handed
/// out has at least half an hour to run.
const REBUILD_AFTER: Duration = Duration::minutes(30);
/// The `typ` of the JWS header: what the token is, for verifiers that check.
const TYP: &str = "onetrip-status-list+jwt";

/// A signed list as served: the compact JWS and what HTTP caching needs.
#[derive(Debug)]
pub struct PublishedStatusList {
    pub jws: String,
    /// Quoted strong entity tag: the SHA-256 of the JWS.
    pub etag: String,
    pub issued_at: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub entries: usize,
    /// What the list was built from: certificate changes seen, and the key records.
    changes: u64,
    keys: Vec<KeyRecord>,
}

/// The current list and the count of certificate status changes since start-up.
#[derive(Default)]
pub struct StatusListCache {
    current: Mutex<Option<Arc<PublishedStatusList>>>,
    changes: AtomicU64,
}

impl StatusListCache {
    /// A certificate's status changed: the next request builds a new list.
    pub fn certificates_changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

/// The current signed list (public), rebuilt when a certificate's status or a key changed, or
/// when the cached one is due.
pub async fn current(services: &Services) -> Result<Arc<PublishedStatusList>, ServiceError> {
    let cache = &services.status_lists;
    let mut current = cache.current.lock().await;
    let changes = cache.changes.load(Ordering::SeqCst);
    let ring = services.keys.read().await;
    let keys: Vec<KeyRecord> = ring.records().cloned().collect();
    let now = Utc::now();
    if let Some(list) = current.as_ref()
        && list.changes == changes
        && list.keys == keys
        && now < list.issued_at + REBUILD_AFTER
    {
        return Ok(Arc::clone(list));
    }
    let (kid, key) = ring
        .active()
        .ok_or_else(|| ServiceError::internal("no active signing key"))?;
    // The list names each certificate by its identifier as the tokens' `sub` does.
    let statuses: Vec<_> = (services.store.listed_statuses().await?)
        .into_iter()
        .map(|(id, status)| (id.to_string(), status))
        .collect();
    let list = StatusList::build(&services.public_url, now, now + VALID_FOR, &statuses, &keys);
    let jws = sign_jws(key, kid, Some(TYP), &list).map_err(ServiceError::internal)?;
    let published = Arc::new(PublishedStatusList {
        etag: format!("\"{}\"", Sha256Digest::of(jws.as_bytes())),
        jws,
        issued_at: list.issued_at,
        next_update: list.next_update,
        entries: list.certificates.len() + list.keys.len(),
        changes,
        keys,
    });
    tracing::debug!(entries = published.entries, "status list signed");
    *current = Some(Arc::clone(&published));
    Ok(published)
}
