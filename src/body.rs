//! Reading request bodies within limits. A body may not exceed its limit, and when it is
//! refused for its size the rest is read and dropped (up to a cap) before the answer, so the
//! client reads a clean 413 instead of a connection reset mid-upload. A body slower than the
//! minimum rate is cut off for every route at once (`routes::limits::body_min_rate`): it ends
//! here as a broken-off body, and the client gets 408.
//!
//! A body read whole into memory (JSON, a PDF to verify, a batch file) takes its bytes from
//! one [`MemoryBudget`] shared by the whole service as they arrive, and gives them back when
//! it is dropped: however many clients send at once, the bodies held never pass the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::Sha256Digest;

/// How much of a refused body is still read so that the refusal reaches the client; past
/// this the connection is simply closed.
const DRAIN_CAP: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request body broke off: {0}")]
    Body(String),
    #[error("the service holds as many request bodies in memory as it may")]
    OverBudget,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The next chunk of a body, or `None` at its end.
pub async fn next_chunk<S, E>(
    body: &mut std::pin::Pin<&mut S>,
) -> Result<Option<Bytes>, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    body.next()
        .await
        .transpose()
        .map_err(|e| ReceiveError::Body(e.to_string()))
}

/// Reads and drops what is left of a refused body, up to `DRAIN_CAP` bytes.
pub async fn discard_rest<S, E>(body: &mut std::pin::Pin<&mut S>)
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut drained: u64 = 0;
    while let Ok(Some(chunk)) = next_chunk(body).await {
        drained += chunk.len() as u64;
        if drained > DRAIN_CAP {
            break;
        }
    }
}

/// Bytes of request bodies held in memory at once, for the whole service (counted in KiB),
/// and how many bodies it has refused.
#[derive(Clone)]
pub struct MemoryBudget {
    kib: Arc<Semaphore>,
    refusals: Arc<AtomicU64>,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> Self {
        let kib = usize::try_from(bytes >> 10).unwrap_or(Semaphore::MAX_PERMITS);
        Self {
            kib: Arc::new(Semaphore::new(kib.min(Semaphore::MAX_PERMITS))),
            refusals: Arc::default(),
        }
    }

    /// What is left of the budget, in bytes.
    pub fn available(&self) -> u64 {
        (self.kib.available_permits() as u64) << 10
    }

    /// The bodies refused for want of room since the budget was made.
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// `kib` more of the budget, or `OverBudget` (counted) when it has not that much left.
    fn take(&self, kib: usize) -> Result<OwnedSemaphorePermit, ReceiveError> {
        u32::try_from(kib)
            .ok()
            .and_then(|kib| Arc::clone(&self.kib).try_acquire_many_owned(kib).ok())
            .ok_or_else(|| {
                self.refusals.fetch_add(1, Ordering::Relaxed);
                ReceiveError::OverBudget
            })
    }
}

/// A body read whole: its bytes, and their share of the [`MemoryBudget`], given back when
/// this is dropped.
pub struct HeldBody {
    bytes: Vec<u8>,
    _held: Option<OwnedSemaphorePermit>,
}

/// A body's share of the [`MemoryBudget`], kept apart from its bytes: given back when dropped.
pub struct BudgetShare {
    _held: Option<OwnedSemaphorePermit>,
}

impl HeldBody {
    /// The bytes, to hand on as a new body, and their share of the budget, to keep for as
    /// long as they are held.
    pub fn into_parts(mut self) -> (Bytes, BudgetShare) {
        let bytes = Bytes::from(std::mem::take(&mut self.bytes));
        (
            bytes,
            BudgetShare {
                _held: self._held.take(),
            },
        )
    }
}

impl std::ops::Deref for HeldBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Collects a body chunk by chunk within `limit` bytes into one buffer, charging the budget
/// for the buffer's capacity as it grows: what is charged is what is held, however the client
/// cuts its body into chunks, and a body that stalls halfway holds what it sent and no more.
pub struct Collector {
    budget: MemoryBudget,
    limit: usize,
    bytes: Vec<u8>,
    held: Option<OwnedSemaphorePermit>,
    charged_kib: usize,
}

impl Collector {
    pub fn new(budget: &MemoryBudget, limit: usize) -> Self {
        Self {
            budget: budget.clone(),
            limit,
            bytes: Vec::new(),
            held: None,
            charged_kib: 0,
        }
    }

    /// Adds a chunk: `TooLarge` past the limit, `OverBudget` when the service's budget has
    /// no room for the buffer it needs.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ReceiveError> {
        let size = self.bytes.len() + chunk.len();
        if size > self.limit {
            return Err(ReceiveError::TooLarge {
                limit: self.limit as u64,
            });
        }
        if size > self.bytes.capacity() {
            // Doubling keeps the copies few; never past the limit.
            let capacity = size.max(self.bytes.capacity() * 2).min(self.limit);
            let needed = capacity.div_ceil(1024).saturating_sub(self.charged_kib);
            if needed > 0 {
                let permit = self.budget.take(needed)?;
                match &mut self.held {
                    Some(held) => held.merge(permit),
                    None => self.held = Some(permit),
                }
                self.charged_kib += needed;
            }
            self.bytes.reserve_exact(capacity - self.bytes.len());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The body, still counted against the budget.
    pub fn finish(mut self) -> HeldBody {
        HeldBody {
            bytes: std::mem::take(&mut self.bytes),
            _held: self.held.take(),
        }
    }
}

/// Collects a whole body of at most `limit` bytes (JSON, a PDF to verify, a batch file)
/// within the service's memory budget.
pub async fn read_limited<S, E>(
    body: S,
    limit: usize,
    budget: &MemoryBudget,
) -> Result<HeldBody, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut collector = Collector::new(budget, limit);
    while let Some(chunk) = next_chunk(&mut body).await? {
        if let Err(e) = collector.push(&chunk) {
            if matches!(e, ReceiveError::TooLarge { .. }) {
                discard_rest(&mut body).await;
            }
            return Err(e);
        }
    }
    Ok(collector.finish())
}

/// Hashes a stream without keeping it, for files shown at the window. Stops past `limit`.
pub async fn hash_stream<S, E>(body: S, limit: u64) -> Result<(Sha256Digest, u64), ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = next_chunk(&mut body).await? {
        size += chunk.len() as u64;
        if size > limit {
            discard_rest(&mut body).await;
            return Err(ReceiveError::TooLarge { limit });
        }
        hasher.update(&chunk);
    }
    Ok((Sha256Digest::from_hasher(hasher), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_charged_for_the_buffer_it_holds_and_gives_it_back_when_dropped() {
        let budget = MemoryBudget::new(64 << 10);
        let mut first = Collector::new(&budget, 48 << 10);
        // One-byte chunks cost what the bytes cost, not a record per chunk.
        for _ in 0..(40 << 10) {
            first.push(b"a").unwrap();
        }
        let held = first.finish();
        assert_eq!(held.len(), 40 << 10);
        assert!(budget.available() <= 24 << 10, "{}", budget.available());
        let mut second = Collector::new(&budget, 48 << 10);
        assert!(matches!(
            second.push(&[0u8; 40 << 10]),
            Err(ReceiveError::OverBudget)
        ));
        assert_eq!(budget.refusals(), 1);
        drop(held);
        drop(second);
        assert_eq!(budget.available(), 64 << 10);
        let mut third = Collector::new(&budget, 8);
        assert!(matches!(
            third.push(&[0u8; 9]),
            Err(ReceiveError::TooLarge { limit: 8 })
        ));
    }
}
