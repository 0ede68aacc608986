//! The sled implementation of the store: the only code that names sled. Trees are named by
//! what they map, every value carries a schema version (see `codec`), and each method that
//! changes something flushes before it returns, so an answered request survives `kill -9`.

mod backup;
mod batches;
mod catalogue;
mod certificates;
mod codec;
mod copy;
mod keys;
mod recovery;
mod sessions;
mod submissions;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use self::recovery::remove_empty_snapshots;
use super::{Record, RecordsCopy, Sort, StoreError};
use crate::domain::batch::{BatchRecord, Lease, NumberedLine, NumberedResult};
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::{ServiceItem, ServiceSpec};
use crate::domain::certificate::{CertStatus, Certificate};
use crate::domain::identifier::Identifier;
use crate::domain::plan::{CertificateWrite, Issuance, KeyRingWrite, SubmissionWrite};
use crate::domain::session::{ConsoleSession, SessionOpening};
use crate::domain::signing_key::{KeyRecord, SealedKey};
use crate::domain::submission::{Event, Submission};
use crate::domain::token::TokenRecord;
use crate::domain::{ItemCode, Sha256Digest, SubmissionId, TokenId, VerificationCode};
use chrono::{DateTime, Utc};

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
    /// Each submission under its holder, and those whose promise still runs, kept in the
    /// transactions that write submissions: the holder search and the due listing read these
    /// entries, not every submission.
    submission_index: sled::Tree,
    certificates: sled::Tree,
    pdfs: sled::Tree,
    photos: sled::Tree,
    pdf_index: sled::Tree,
    code_index: sled::Tree,
    former_index: sled::Tree,
    /// The status of every certificate that is not plainly valid (for the status list).
    statuses: sled::Tree,
    /// The latest version of each holder's line of certificates of one kind (一企一证).
    holder_index: sled::Tree,
    counters: sled::Tree,
    keys: sled::Tree,
    /// Sealed private keys by their thumbprint (kept only when the service seals them).
    sealed_keys: sled::Tree,
    services: sled::Tree,
    service_latest: sled::Tree,
    calendars: sled::Tree,
    /// Console sessions by the hash of their cookie's secret, and the same ids under their
    /// token's hash.
    sessions: sled::Tree,
    sessions_by_token: sled::Tree,
    /// Batches run by the server, their lines, and their results by batch and line.
    batches: sled::Tree,
    batch_lines: sled::Tree,
    batch_results: sled::Tree,
}

/// sled's page cache. Its default, 1 GiB, let a server filling a store with certificates
/// grow to 4 GB of memory at 85,000 licences (sled holds several times what it counts against
/// the limit); at 128 MiB the same fill stayed under 400 MB at 20,000. Reads that miss it are
/// served by the operating system's file cache.
const CACHE_BYTES: u64 = 128 << 20;

impl Trees {
    fn open(dir: &Path) -> Result<Self, StoreError> {
        remove_empty_snapshots(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Locked(dir.display().to_string())
                }
                sled::Error::Io(io) if io.to_string().contains("lock") => {
                    StoreError::Locked(dir.display().to_string())
                }
                other => StoreError::from(other),
            })?;
        Self::over(db)
    }

    /// The trees of an open database, its indexes brought up to date.
    fn over(db: sled::Db) -> Result<Self, StoreError> {
        let store = Self {
            tokens: db.open_tree("token_hash_to_token")?,
            submissions: db.open_tree("submission_id_to_submission")?,
            events: db.open_tree("submission_id_seq_to_event")?,
            submission_index: db.open_tree("holder_or_promise_to_submission_id")?,
            certificates: db.open_tree("certificate_id_to_certificate")?,
            pdfs: db.open_tree("certificate_id_to_pdf")?,
            photos: db.open_tree("certificate_id_to_photo")?,
            pdf_index: db.open_tree("pdf_sha256_to_certificate_id")?,
            code_index: db.open_tree("verification_code_to_certificate_id")?,
            former_index: db.open_tree("former_number_to_certificate_id")?,
            statuses: db.open_tree("certificate_id_to_listed_status")?,
            holder_index: db.open_tree("kind_holder_to_current_certificate_id")?,
            counters: db.open_tree("year_to_last_sequence")?,
            keys: db.open_tree("kid_to_signing_key")?,
            sealed_keys: db.open_tree("thumbprint_to_sealed_key")?,
            services: db.open_tree("service_code_version_to_item")?,
            service_latest: db.open_tree("service_code_to_latest_version")?,
            calendars: db.open_tree("year_to_calendar")?,
            sessions: db.open_tree("session_id_to_console_session")?,
            sessions_by_token: db.open_tree("token_hash_session_id")?,
            batches: db.open_tree("batch_id_to_batch")?,
            batch_lines: db.open_tree("batch_id_to_lines")?,
            batch_results: db.open_tree("batch_id_line_to_result")?,
            db,
            gate: Arc::new(tokio::sync::Mutex::new(())),
        };
        store.index_statuses()?;
        store.index_submissions()?;
        store.index_holders()?;
        Ok(store)
    }

    /// Runs `build` (an index filled from the records of a store written before the index
    /// existed) unless `marker` says it ran; then records and flushes the marker. From then
    /// on the writes that change the records keep the index.
    fn build_once(
        &self,
        marker: &[u8],
        build: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.db.get(marker)?.is_some() {
            return Ok(());
        }
        build()?;
        self.db.insert(marker, &[])?;
        self.db.flush()?;
        Ok(())
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

/// The port, by delegation to the methods above (each file holds one area's trees).
#[async_trait::async_trait]
impl super::Store for SledStore {
    async fn ping(&self) -> Result<(), StoreError> {
        if let Some(reason) = self.failure() {
            return Err(StoreError::Unavailable(reason));
        }
        self.trees()?.ping()
    }

    async fn save_submission(&self, write: &SubmissionWrite) -> Result<(), StoreError> {
        let written = self.trees()?.save_submission(write).await;
        self.observed(written)
    }

    async fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
        self.trees()?.submission(id)
    }

    async fn submissions_by_holder(&self, holder_id: &str) -> Result<Vec<Submission>, StoreError> {
        self.trees()?.submissions_by_holder(holder_id)
    }

    async fn submissions_with_promise(&self) -> Result<Vec<Submission>, StoreError> {
        self.trees()?.submissions_with_promise()
    }

    async fn submissions_in_review(&self) -> Result<Vec<Submission>, StoreError> {
        self.trees()?.submissions_in_review()
    }

    async fn events(&self, id: &SubmissionId) -> Result<Vec<Event>, StoreError> {
        self.trees()?.events(id)
    }

    async fn next_sequence(&self, year: i32) -> Result<u64, StoreError> {
        let written = self.trees()?.next_sequence(year).await;
        self.observed(written)
    }

    async fn store_issued(
        &self,
        issuance: &Issuance,
        pdf: &[u8],
        photo: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.store_issued(issuance, pdf, photo).await;
        self.observed(written)
    }

    async fn save_certificate(
        &self,
        write: &CertificateWrite,
        history: Option<&SubmissionWrite>,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.save_certificate(write, history).await;
        self.observed(written)
    }

    async fn certificate(&self, id: &Identifier) -> Result<Option<Certificate>, StoreError> {
        self.trees()?.certificate(id)
    }

    async fn certificate_pdf(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError> {
        self.trees()?.certificate_pdf(id)
    }

    async fn certificate_photo(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError> {
        self.trees()?.certificate_photo(id)
    }

    async fn current_certificate(
        &self,
        kind: &str,
        holder_id: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        self.trees()?.current_certificate(kind, holder_id)
    }

    async fn listed_statuses(&self) -> Result<Vec<(Identifier, CertStatus)>, StoreError> {
        self.trees()?.listed_statuses()
    }

    async fn certificate_id_by_pdf(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<Identifier>, StoreError> {
        self.trees()?.certificate_id_by_pdf(sha256)
    }

    async fn certificate_id_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<Identifier>, StoreError> {
        self.trees()?.certificate_id_by_code(code)
    }

    async fn certificate_id_by_former_number(
        &self,
        number: &str,
    ) -> Result<Option<Identifier>, StoreError> {
        self.trees()?.certificate_id_by_former_number(number)
    }

    async fn insert_token(
        &self,
        hash: &Sha256Digest,
        record: &TokenRecord,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.insert_token(hash, record).await;
        self.observed(written)
    }

    async fn token(&self, hash: &Sha256Digest) -> Result<Option<TokenRecord>, StoreError> {
        self.trees()?.token(hash)
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.trees()?.tokens()
    }

    async fn revoke_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let written = self.trees()?.revoke_token(id).await;
        self.observed(written)
    }

    async fn session(&self, id: &Sha256Digest) -> Result<Option<ConsoleSession>, StoreError> {
        self.trees()?.session(id)
    }

    async fn sessions_of_token(
        &self,
        token_hash: &Sha256Digest,
    ) -> Result<Vec<ConsoleSession>, StoreError> {
        self.trees()?.sessions_of_token(token_hash)
    }

    async fn open_session(&self, opening: &SessionOpening) -> Result<(), StoreError> {
        let written = self.trees()?.open_session(opening).await;
        self.observed(written)
    }

    async fn close_session(&self, id: &Sha256Digest) -> Result<(), StoreError> {
        let written = self.trees()?.close_session(id).await;
        self.observed(written)
    }

    async fn remove_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let written = self.trees()?.remove_expired_sessions(now).await;
        self.observed(written)
    }

    async fn insert_batch(
        &self,
        batch: &BatchRecord,
        lines: &[NumberedLine],
    ) -> Result<(), StoreError> {
        let written = self.trees()?.insert_batch(batch, lines).await;
        self.observed(written)
    }

    async fn batch(&self, id: &str) -> Result<Option<BatchRecord>, StoreError> {
        self.trees()?.batch(id)
    }

    async fn latest_batches(&self, limit: usize) -> Result<Vec<BatchRecord>, StoreError> {
        self.trees()?.latest_batches(limit)
    }

    async fn batch_lines(&self, id: &str) -> Result<Vec<NumberedLine>, StoreError> {
        self.trees()?.batch_lines(id)
    }

    async fn batch_results(&self, id: &str) -> Result<Vec<NumberedResult>, StoreError> {
        self.trees()?.batch_results(id)
    }

    async fn record_batch_result(
        &self,
        id: &str,
        result: &NumberedResult,
    ) -> Result<bool, StoreError> {
        let written = self.trees()?.record_batch_result(id, result).await;
        self.observed(written)
    }

    async fn renew_batch_lease(
        &self,
        id: &str,
        read: &Lease,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.renew_batch_lease(id, read, lease).await;
        self.observed(written)
    }

    async fn finish_batch(
        &self,
        id: &str,
        read: &Lease,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.finish_batch(id, read, at).await;
        self.observed(written)
    }

    async fn remove_old_batches(&self, keep: usize) -> Result<u64, StoreError> {
        let written = self.trees()?.remove_old_batches(keep).await;
        self.observed(written)
    }

    async fn service_items(&self) -> Result<Vec<ServiceItem>, StoreError> {
        self.trees()?.service_items()
    }

    async fn service_item(
        &self,
        code: &str,
        version: Option<u32>,
    ) -> Result<Option<ServiceItem>, StoreError> {
        self.trees()?.service_item(code, version)
    }

    async fn put_service_item(
        &self,
        code: &ItemCode,
        spec: &ServiceSpec,
        by: &str,
        at: DateTime<Utc>,
        only_if_new: bool,
    ) -> Result<Option<ServiceItem>, StoreError> {
        let written = self
            .trees()?
            .put_service_item(code, spec, by, at, only_if_new)
            .await;
        self.observed(written)
    }

    async fn calendars(&self) -> Result<Vec<YearCalendar>, StoreError> {
        self.trees()?.calendars()
    }

    async fn put_calendar(&self, calendar: &YearCalendar) -> Result<(), StoreError> {
        let written = self.trees()?.put_calendar(calendar).await;
        self.observed(written)
    }

    async fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.trees()?.key_records()
    }

    async fn put_key_records(&self, change: &KeyRingWrite<'_>) -> Result<(), StoreError> {
        let written = self.trees()?.put_key_records(change).await;
        self.observed(written)
    }

    async fn sealed_keys(&self) -> Result<Vec<SealedKey>, StoreError> {
        self.trees()?.sealed_keys()
    }

    async fn replace_sealed_key(
        &self,
        read: Option<&SealedKey>,
        sealed: &SealedKey,
    ) -> Result<(), StoreError> {
        let written = self.trees()?.replace_sealed_key(read, sealed).await;
        self.observed(written)
    }

    async fn records(
        &self,
        sort: Sort,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.trees()?.records(sort, after, limit)
    }

    async fn put_record(&self, record: &Record) -> Result<bool, StoreError> {
        let written = self.trees()?.put_record(record).await;
        self.observed(written)
    }

    async fn copy_records(&self, into: &Path) -> Result<RecordsCopy, StoreError> {
        // After a failed write sled may hold in memory what never reached the disk: a copy
        // would keep what the reopened store will not.
        if let Some(reason) = self.failure() {
            return Err(StoreError::Unavailable(reason));
        }
        self.trees()?.copy_records(into).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SledStore;
    use crate::store::Store;
    use crate::store::contract::contract_suite;

    contract_suite!({
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        (store, dir)
    });

    /// A store written before the submission index existed (no index, no marker) is indexed
    /// when it is opened: its holder search and due listing find what it holds.
    #[tokio::test]
    async fn a_store_without_the_submission_index_is_indexed_when_opened() {
        use crate::domain::plan::SubmissionWrite;
        let dir = tempfile::tempdir().unwrap();
        let mut filed = crate::domain::submission::tests::issuable();
        filed.due_date = Some(chrono::NaiveDate::from_ymd_opt(2030, 1, 2).unwrap());
        let write = SubmissionWrite::create(filed, "reviewer:t");
        let submission = write.submission.clone();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store.save_submission(&write).await.unwrap();
            let trees = store.trees().unwrap();
            trees.submission_index.clear().unwrap();
            trees.db.remove(b"submission_index_v2").unwrap();
            trees.db.flush().unwrap();
            assert!(store.submissions_with_promise().await.unwrap().is_empty());
        }
        // sled's flusher thread lets go of the directory's lock on its next tick.
        let mut opened = SledStore::open(dir.path());
        for _ in 0..50 {
            if !matches!(opened, Err(crate::store::StoreError::Locked(_))) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            opened = SledStore::open(dir.path());
        }
        let store = opened.unwrap();
        let holder = submission.holder.id();
        assert_eq!(
            store.submissions_by_holder(holder).await.unwrap(),
            std::slice::from_ref(&submission)
        );
        assert_eq!(
            store.submissions_with_promise().await.unwrap(),
            [submission]
        );
    }
}
