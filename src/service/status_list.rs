//! The signed status list (`GET /.well-known/status-list`): built from the store's listed
//! statuses and the key ring, signed by the active key, and kept until something it says
//! changes or it is due for renewal, so that a crowd of verifiers costs one build.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;

use super::keys::CHECK_EVERY;
use super::{ServiceError, Services};
use crate::domain::Sha256Digest;
use crate::domain::certificate::CertStatus;
use crate::domain::identifier::Identifier;
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
}

/// The list last signed and what it was built from: certificate changes seen here, the key
/// records, the listed statuses as stored, and when the store was last asked about them.
struct Cached {
    list: Arc<PublishedStatusList>,
    changes: u64,
    keys: Vec<KeyRecord>,
    statuses: Vec<(Identifier, CertStatus)>,
    checked_at: Instant,
}

/// The current list and the count of certificate status changes since start-up.
#[derive(Default)]
pub struct StatusListCache {
    current: Mutex<Option<Cached>>,
    changes: AtomicU64,
}

impl StatusListCache {
    /// A certificate's status changed: the next request builds a new list.
    pub fn certificates_changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

/// The current signed list (public), rebuilt when a certificate's status or a key changed, or
/// when the cached one is due. A change made here shows at once; one made on another node
/// (seen in the listed statuses or the key ring) within [`CHECK_EVERY`].
pub async fn current(services: &Services) -> Result<Arc<PublishedStatusList>, ServiceError> {
    let cache = &services.status_lists;
    let mut current = cache.current.lock().await;
    let changes = cache.changes.load(Ordering::SeqCst);
    let ring = services.keys.read().await;
    let keys: Vec<KeyRecord> = ring.records().cloned().collect();
    let now = Utc::now();
    let mut statuses = None;
    if let Some(cached) = current.as_mut()
        && cached.changes == changes
        && cached.keys == keys
        && now < cached.list.issued_at + REBUILD_AFTER
    {
        if cached.checked_at.elapsed() < CHECK_EVERY {
            return Ok(Arc::clone(&cached.list));
        }
        let stored = services.store.listed_statuses().await?;
        if stored == cached.statuses {
            cached.checked_at = Instant::now();
            return Ok(Arc::clone(&cached.list));
        }
        statuses = Some(stored);
    }
    let statuses = match statuses {
        Some(statuses) => statuses,
        None => services.store.listed_statuses().await?,
    };
    let checked_at = Instant::now();
    let (kid, key) = ring
        .active()
        .ok_or_else(|| ServiceError::internal("no active signing key"))?;
    // The list names each certificate by its identifier as the tokens' `sub` does.
    let named: Vec<_> = statuses
        .iter()
        .map(|(id, status)| (id.to_string(), status.clone()))
        .collect();
    let list = StatusList::build(&services.public_url, now, now + VALID_FOR, &named, &keys);
    let jws = sign_jws(key, kid, Some(TYP), &list).map_err(ServiceError::internal)?;
    let published = Arc::new(PublishedStatusList {
        etag: format!("\"{}\"", Sha256Digest::of(jws.as_bytes())),
        jws,
        issued_at: list.issued_at,
        next_update: list.next_update,
        entries: list.certificates.len() + list.keys.len(),
    });
    tracing::debug!(entries = published.entries, "status list signed");
    *current = Some(Cached {
        list: Arc::clone(&published),
        changes,
        keys,
        statuses,
        checked_at,
    });
    Ok(published)
}
