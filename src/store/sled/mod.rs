//! The sled implementation of the store: the only code that names sled. Trees are named by
//! what they map, every value carries a schema version (see `codec`), and each method that
//! changes something flushes before it returns, so an answered request survives `kill -9`.

mod certificates;
mod codec;
mod keys;
mod submissions;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::{CertificateChange, StoreError, SubmissionChange, UpdateError};
use crate::domain::certificate::{CertStatus, Certificate, RevocationReason};
use crate::domain::signing_key::KeyRecord;
use crate::domain::submission::{Event, Submission};
use crate::domain::token::TokenRecord;
use crate::domain::{Sha256Digest, SubmissionId, TokenId, VerificationCode};

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(Box::new(e))
    }
}

/// The store over one sled directory. It watches its own writes: when one fails in the
/// engine (a full disk, an I/O error) `ping` reports it (so `/healthz` says 503 with the
/// reason) and, once the file system has room again, the database is closed and reopened in
/// the background, which is what sled 0.34 needs to write again. A later successful write
/// clears the report. What was acknowledged was flushed before the answer, so the reopened
/// store still has it.
#[derive(Clone)]
pub struct SledStore {
    dir: PathBuf,
    trees: Arc<RwLock<Option<Arc<Trees>>>>,
    /// Why the last write failed in the engine, until one succeeds again.
    failure: Arc<Mutex<Option<String>>>,
    reopening: Arc<AtomicBool>,
}

/// Handle on the sled database and its trees.
pub(super) struct Trees {
    db: sled::Db,
    /// One writer at a time. sled 0.34 can deadlock when a transaction overlaps a flush (seen
    /// here: 50 concurrent issuances hung for good), so every write takes this gate, writes,
    /// flushes and only then lets the next one in. A flush costs ~0.2 ms, so the gate still
    /// allows thousands of writes a second.
    gate: Arc<tokio::sync::Mutex<()>>,
    tokens: sled::Tree,
    submissions: sled::Tree,
    events: sled::Tree,
    certificates: sled::Tree,
    pdfs: sled::Tree,
    pdf_index: sled::Tree,
    code_index: sled::Tree,
    /// The status of every certificate that is not plainly valid (for the status list).
    statuses: sled::Tree,
    counters: sled::Tree,
    keys: sled::Tree,
}

impl Trees {
    fn open(dir: &Path) -> Result<Self, StoreError> {
        remove_empty_snapshots(dir)?;
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                StoreError::Locked(dir.display().to_string())
            }
            sled::Error::Io(io) if io.to_string().contains("lock") => {
                StoreError::Locked(dir.display().to_string())
            }
            other => StoreError::from(other),
        })?;
        let store = Self {
            tokens: db.open_tree("token_hash_to_token")?,
            submissions: db.open_tree("submission_id_to_submission")?,
            events: db.open_tree("submission_id_seq_to_event")?,
            certificates: db.open_tree("certificate_id_to_certificate")?,
            pdfs: db.open_tree("certificate_id_to_pdf")?,
            pdf_index: db.open_tree("pdf_sha256_to_certificate_id")?,
            code_index: db.open_tree("verification_code_to_certificate_id")?,
            statuses: db.open_tree("certificate_id_to_listed_status")?,
            counters: db.open_tree("year_to_last_sequence")?,
            keys: db.open_tree("kid_to_signing_key")?,
            db,
            gate: Arc::new(tokio::sync::Mutex::new(())),
        };
        store.index_statuses()?;
        Ok(store)
    }

    /// Runs `write` alone and makes it durable before returning, so a request that wrote is
    /// answered only once its write would survive `kill -9`.
    async fn exclusive<T, E>(&self, write: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let _gate = self.gate.lock().await;
        let value = write()?;
        self.db
            .flush_async()
            .await
            .map_err(|e| E::from(StoreError::from(e)))?;
        Ok(value)
    }

    /// Proves the store answers (a read that goes through the engine).
    fn ping(&self) -> Result<(), StoreError> {
        self.db.get(b"ping")?;
        Ok(())
    }
}

/// Removes the empty `snap.*.generating` files a snapshot that failed half-way (a full disk)
/// leaves behind: sled 0.34 reads them at the next open and refuses the store ("Read corrupted
/// data") even once space is free again. An empty file holds nothing to lose.
fn remove_empty_snapshots(dir: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Engine(Box::new(e))),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let empty = entry.metadata().is_ok_and(|m| m.is_file() && m.len() == 0);
        if name.starts_with("snap.") && name.ends_with(".generating") && empty {
            tracing::warn!(file = %name, "removing an empty, unfinished sled snapshot");
            std::fs::remove_file(entry.path()).map_err(|e| StoreError::Engine(Box::new(e)))?;
        }
    }
    Ok(())
}

/// The port, by delegation to the methods above (each file holds one area's trees).
#[async_trait::async_trait]
impl super::Store for SledStore {
    fn ping(&self) -> Result<(), StoreError> {
        if let Some(reason) = self.failure() {
            return Err(StoreError::Unavailable(reason));
        }
        self.trees()?.ping()
    }

    async fn create_submission(
        &self,
        submission: &Submission,
        actor: &str,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.create_submission(submission, actor).await;
        self.observed(written)
    }

    fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
        self.trees()?.submission(id)
    }

    async fn change_submission(
        &self,
        id: &SubmissionId,
        actor: &str,
        change: SubmissionChange<'_>,
    ) -> Result<(Submission, Event), UpdateError> {
        let written = self
            .trees()?
            .update_submission(id, actor, |s| Ok((change(s)?, ())))
            .await;
        let (submission, event, ()) = self.observed(written)?;
        Ok((submission, event))
    }

    fn submissions_by_holder(&self, holder_id: &str) -> Result<Vec<Submission>, StoreError> {
        self.trees()?.submissions_by_holder(holder_id)
    }

    fn events(&self, id: &SubmissionId) -> Result<Vec<Event>, StoreError> {
        self.trees()?.events(id)
    }

    async fn next_sequence(&self, year: i32) -> Result<u64, StoreError> {
        let written = self.trees()?.next_sequence(year).await;
        self.observed(written)
    }

    async fn store_issued(
        &self,
        certificate: &Certificate,
        pdf: &[u8],
        actor: &str,
    ) -> Result<(Submission, Event), UpdateError> {
        let written = self.trees()?.store_issued(certificate, pdf, actor).await;
        self.observed(written)
    }

    async fn revoke_certificate(
        &self,
        id: &str,
        reason: RevocationReason,
        text: &str,
        actor: &str,
    ) -> Result<Certificate, UpdateError> {
        let written = self
            .trees()?
            .revoke_certificate(id, reason, text, actor)
            .await;
        self.observed(written)
    }

    async fn change_certificate(
        &self,
        id: &str,
        change: CertificateChange<'_>,
    ) -> Result<Certificate, UpdateError> {
        let written = self.trees()?.update_certificate(id, change).await;
        self.observed(written)
    }

    fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError> {
        self.trees()?.certificate(id)
    }

    fn certificate_pdf(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.trees()?.certificate_pdf(id)
    }

    fn listed_statuses(&self) -> Result<Vec<(String, CertStatus)>, StoreError> {
        self.trees()?.listed_statuses()
    }

    fn certificate_id_by_pdf(&self, sha256: &Sha256Digest) -> Result<Option<String>, StoreError> {
        self.trees()?.certificate_id_by_pdf(sha256)
    }

    fn certificate_id_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<String>, StoreError> {
        self.trees()?.certificate_id_by_code(code)
    }

    async fn insert_token(
        &self,
        hash: &Sha256Digest,
        record: &TokenRecord,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.insert_token(hash, record).await;
        self.observed(written)
    }

    fn token(&self, hash: &Sha256Digest) -> Result<Option<TokenRecord>, StoreError> {
        self.trees()?.token(hash)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.trees()?.tokens()
    }

    async fn revoke_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let written = self.trees()?.revoke_token(id).await;
        self.observed(written)
    }

    fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.trees()?.key_records()
    }

    async fn put_key_records(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        let written = self.trees()?.put_key_records(records).await;
        self.observed(written)
    }
}

/// An error that may be the storage engine failing (as opposed to a refusal).
trait EngineFailure {
    fn engine_failure(&self) -> Option<String>;
}

impl EngineFailure for StoreError {
    fn engine_failure(&self) -> Option<String> {
        matches!(self, StoreError::Engine(_)).then(|| self.to_string())
    }
}

impl EngineFailure for UpdateError {
    fn engine_failure(&self) -> Option<String> {
        match self {
            UpdateError::Store(e) => e.engine_failure(),
            _ => None,
        }
    }
}

impl SledStore {
    /// Opens the store in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let trees = Trees::open(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            trees: Arc::new(RwLock::new(Some(Arc::new(trees)))),
            failure: Arc::new(Mutex::new(None)),
            reopening: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The open trees, or why there are none (while they are being reopened).
    fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        self.trees
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StoreError::Unavailable(
                    self.failure()
                        .unwrap_or_else(|| "the store is being reopened".to_owned()),
                )
            })
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Notes how a write went: an engine failure is kept for `ping` and starts a reopen; a
    /// success clears it.
    fn observed<T, E: EngineFailure>(&self, result: Result<T, E>) -> Result<T, E> {
        let failed = {
            let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            match &result {
                Ok(_) => {
                    *failure = None;
                    false
                }
                Err(e) => match e.engine_failure() {
                    Some(reason) => {
                        tracing::error!(%reason, "a store write failed in the engine");
                        *failure = Some(reason);
                        true
                    }
                    None => false,
                },
            }
        };
        if failed {
            self.reopen_in_background();
        }
        result
    }

    /// Once the file system has room again, closes the database (when the requests using it
    /// are done) and opens it again. One reopen at a time; none without a tokio runtime.
    fn reopen_in_background(&self) {
        if self.reopening.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.reopening.store(false, Ordering::SeqCst);
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            // Opening sled on a full disk damages its snapshot: wait for room first.
            while free_bytes(&store.dir).is_some_and(|free| free < REOPEN_FREE_BYTES) {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let old = store
                .trees
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(mut old) = old {
                // sled holds a lock on its directory until its last handle is gone.
                loop {
                    match Arc::try_unwrap(old) {
                        Ok(trees) => {
                            drop(trees);
                            break;
                        }
                        Err(shared) => {
                            old = shared;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
            loop {
                let dir = store.dir.clone();
                match tokio::task::spawn_blocking(move || Trees::open(&dir)).await {
                    Ok(Ok(trees)) => {
                        *store.trees.write().unwrap_or_else(PoisonError::into_inner) =
                            Some(Arc::new(trees));
                        tracing::warn!("store reopened after a failed write");
                        break;
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "reopening the store"),
                    Err(e) => tracing::error!(error = %e, "reopening the store"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            store.reopening.store(false, Ordering::SeqCst);
        });
    }
}

/// Room the file system must have before the store is reopened after a failed write.
const REOPEN_FREE_BYTES: u64 = 4 << 20;

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs reads a NUL-terminated path and fills the zeroed struct we own.
    let mut stat = unsafe { std::mem::zeroed::<libc::statvfs>() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}
