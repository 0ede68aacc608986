//! The only module that knows sled. It takes and returns domain types; trees are named by
//! what they map, every value carries a schema version (see `codec`), and each method that
//! changes something flushes before it returns, so an answered request survives `kill -9`.

mod certificates;
mod codec;
mod keys;
mod material_files;
mod submissions;
mod tokens;

use std::path::Path;
use std::sync::Arc;

pub use material_files::MaterialFiles;
pub use submissions::UpdateError;

/// Everything that can go wrong below the domain. Handlers answer these with a generic 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {0} is held by another process (a running `onetrip serve`?): administer a running server over the admin API"
    )]
    Locked(String),
    #[error("storage engine: {0}")]
    Engine(#[from] sled::Error),
    #[error("stored value under {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("value could not be encoded: {0}")]
    Encode(String),
}

/// Handle on the sled database and its trees. Cheap to clone.
#[derive(Clone)]
pub struct Store {
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
    counters: sled::Tree,
    keys: sled::Tree,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                StoreError::Locked(dir.display().to_string())
            }
            sled::Error::Io(io) if io.to_string().contains("lock") => {
                StoreError::Locked(dir.display().to_string())
            }
            other => StoreError::Engine(other),
        })?;
        Ok(Self {
            tokens: db.open_tree("token_hash_to_token")?,
            submissions: db.open_tree("submission_id_to_submission")?,
            events: db.open_tree("submission_id_seq_to_event")?,
            certificates: db.open_tree("certificate_id_to_certificate")?,
            pdfs: db.open_tree("certificate_id_to_pdf")?,
            pdf_index: db.open_tree("pdf_sha256_to_certificate_id")?,
            code_index: db.open_tree("verification_code_to_certificate_id")?,
            counters: db.open_tree("year_to_last_sequence")?,
            keys: db.open_tree("kid_to_signing_key")?,
            db,
            gate: Arc::new(tokio::sync::Mutex::new(())),
        })
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
            .map_err(|e| E::from(StoreError::Engine(e)))?;
        Ok(value)
    }

    /// Proves the store answers (a read that goes through the engine).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.db.get(b"ping")?;
        Ok(())
    }
}
