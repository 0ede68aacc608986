//! The store, as the use-cases see it: one interface ([`Store`]) taking and returning domain
//! types. A write applies what the domain decided (`domain::plan`) as one unit of work, all
//! of it stored or none: the store checks that what the plan was decided on is unchanged and
//! that unique values are free, and refuses with a [`Conflict`] otherwise; it holds no rule
//! of its own. Every implementation passes the same contract (`contract.rs`). sled is the
//! embedded one ([`SledStore`]) and the only code that names sled. Material files live on
//! the filesystem beside the store ([`MaterialFiles`]).

#[cfg(test)]
pub(crate) mod contract;
mod free_space;
mod material_files;
mod postgres;
mod sled;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

pub use self::postgres::PgStore;
pub use self::sled::SledStore;
pub use material_files::{FilesError, MaterialFiles, RemovalHold};

use chrono::{DateTime, Utc};

use crate::domain::batch::{BatchRecord, Lease, NumberedLine, NumberedResult};
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::{ServiceItem, ServiceSpec};
use crate::domain::certificate::{CertStatus, Certificate};
use crate::domain::identifier::Identifier;
use crate::domain::plan::{CertificateWrite, Issuance, KeyRingWrite, SubmissionWrite};
use crate::domain::session::{ConsoleSession, SessionOpening};
use crate::domain::signing_key::{KeyRecord, SealedKey};
use crate::domain::submission::{Event, StoredFile, Submission};
use crate::domain::token::TokenRecord;
use crate::domain::{ItemCode, Sha256Digest, SubmissionId, TokenId, VerificationCode};

/// Everything that can go wrong below the domain. Handlers answer these with a generic 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {0} is held by another process (a running `onetrip serve`?): administer a running server over the admin API"
    )]
    Locked(String),
    #[error("storage engine: {0}")]
    Engine(Box<dyn std::error::Error + Send + Sync>),
    /// The last write failed in the engine (a full disk, an I/O error); the reason.
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    #[error("stored value under {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("value could not be encoded: {0}")]
    Encode(String),
    /// This engine does not do that (with the way to do it instead).
    #[error("{0}")]
    Unsupported(&'static str),
    /// The unit of work was refused as a whole and nothing of it stored.
    #[error(transparent)]
    Conflict(#[from] Conflict),
}

/// A unique value a store keeps, as a [`Conflict::Taken`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    SubmissionId,
    CertificateId,
    VerificationCode,
    /// A former (paper) licence number migrated onto a certificate.
    FormerNumber,
    /// The digest of an issued PDF.
    PdfDigest,
    /// A record copied in from another store, which this one holds differently.
    CopiedRecord,
    /// A batch's id.
    BatchId,
}

/// Why a store refused a unit of work that was otherwise well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Something the change was computed from changed since it was read (another writer
    /// came first): read again and decide again.
    #[error("{0} changed since it was read")]
    Changed(String),
    /// A unique value is taken (by `holder`, when the store knows which record holds it).
    #[error("{constraint:?} {value} is taken")]
    Taken {
        constraint: Unique,
        value: String,
        holder: Option<String>,
    },
}

/// The sorts of record a store holds, in the order a copy writes them: a certificate after
/// its submission, a holder's line and a former number after their certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sort {
    Submissions,
    Certificates,
    HolderLines,
    FormerNumbers,
    Tokens,
    Sessions,
    SigningKeys,
    SealedKeys,
    ServiceItems,
    Calendars,
    Sequences,
    Batches,
}

impl Sort {
    pub const ALL: [Sort; 12] = [
        Sort::Submissions,
        Sort::Certificates,
        Sort::HolderLines,
        Sort::FormerNumbers,
        Sort::Tokens,
        Sort::Sessions,
        Sort::SigningKeys,
        Sort::SealedKeys,
        Sort::ServiceItems,
        Sort::Calendars,
        Sort::Sequences,
        Sort::Batches,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sort::Submissions => "submissions",
            Sort::Certificates => "certificates",
            Sort::HolderLines => "holder_lines",
            Sort::FormerNumbers => "former_numbers",
            Sort::Tokens => "tokens",
            Sort::Sessions => "sessions",
            Sort::SigningKeys => "signing_keys",
            Sort::SealedKeys => "sealed_keys",
            Sort::ServiceItems => "service_items",
            Sort::Calendars => "calendars",
            Sort::Sequences => "sequences",
            Sort::Batches => "batches",
        }
    }

    /// Whether its records come in one page (a few hundred at most: catalogue versions,
    /// calendars, sequence counters); the others page by key.
    pub fn is_small(self) -> bool {
        matches!(self, Sort::ServiceItems | Sort::Calendars | Sort::Sequences)
    }
}

/// One record of any sort, as every engine holds it: what `onetrip store copy` moves from one
/// store to another, exactly (indexes included, so the copy answers as the original did).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Submission {
        submission: Submission,
        events: Vec<Event>,
    },
    Certificate {
        certificate: Box<Certificate>,
        pdf: Vec<u8>,
        photo: Option<Vec<u8>>,
    },
    /// The current certificate of a holder's line of one kind.
    HolderLine {
        kind: String,
        holder_id: String,
        certificate: String,
    },
    /// A former licence number and the certificate that carries it now.
    FormerNumber {
        number: String,
        certificate: String,
    },
    Token {
        hash: Sha256Digest,
        record: TokenRecord,
    },
    /// A console session (by the hash of its cookie's secret).
    Session(ConsoleSession),
    SigningKey(KeyRecord),
    /// A private key sealed under a key-encryption key (after its key's record).
    SealedKey(SealedKey),
    /// A batch run by the server, its lines and the results so far.
    Batch {
        batch: BatchRecord,
        lines: Vec<NumberedLine>,
        results: Vec<NumberedResult>,
    },
    /// One version of a catalogue item.
    ServiceItem(ServiceItem),
    Calendar(YearCalendar),
    /// The last sequence number handed out in a year.
    Sequence {
        year: i32,
        last: u64,
    },
}

impl Record {
    pub fn sort(&self) -> Sort {
        match self {
            Record::Submission { .. } => Sort::Submissions,
            Record::Certificate { .. } => Sort::Certificates,
            Record::HolderLine { .. } => Sort::HolderLines,
            Record::FormerNumber { .. } => Sort::FormerNumbers,
            Record::Token { .. } => Sort::Tokens,
            Record::Session(_) => Sort::Sessions,
            Record::SigningKey(_) => Sort::SigningKeys,
            Record::SealedKey(_) => Sort::SealedKeys,
            Record::Batch { .. } => Sort::Batches,
            Record::ServiceItem(_) => Sort::ServiceItems,
            Record::Calendar(_) => Sort::Calendars,
            Record::Sequence { .. } => Sort::Sequences,
        }
    }

    /// Its key among the records of its sort, in the order [`Store::records`] pages them: a
    /// copy resumes after the last key it wrote.
    pub fn key(&self) -> String {
        match self {
            Record::Submission { submission, .. } => submission.id.to_string(),
            Record::Certificate { certificate, .. } => certificate.content.id.to_string(),
            Record::HolderLine {
                kind, holder_id, ..
            } => format!("{kind}\u{0}{holder_id}"),
            Record::FormerNumber { number, .. } => number.clone(),
            Record::Token { hash, .. } => hash.as_str().to_owned(),
            Record::Session(session) => session.id.as_str().to_owned(),
            Record::SigningKey(key) => key.thumbprint.clone(),
            Record::SealedKey(sealed) => sealed.thumbprint.clone(),
            Record::Batch { batch, .. } => batch.id.clone(),
            Record::ServiceItem(item) => format!("{}\u{0}{:010}", item.code, item.version),
            Record::Calendar(calendar) => format!("{:06}", calendar.year),
            Record::Sequence { year, .. } => format!("{year:06}"),
        }
    }
}

/// How many records of each sort a copy of the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordCounts {
    pub submissions: u64,
    pub events: u64,
    pub certificates: u64,
    pub tokens: u64,
    pub signing_keys: u64,
    pub service_items: u64,
    pub calendars: u64,
}

/// What a copy of the records ([`Store::copy_records`], [`restore_records`]) holds.
#[derive(Debug, Clone)]
pub struct RecordsCopy {
    /// The engine whose format the copy is in: only that engine restores it.
    pub engine: &'static str,
    pub counts: RecordCounts,
    /// The material files its submissions name, as recorded (their digests included).
    pub materials: Vec<(SubmissionId, StoredFile)>,
    /// The signing keys' records (whose private halves live apart, in the keys directory).
    pub key_records: Vec<KeyRecord>,
    /// How long writes waited while it was made.
    pub writes_waited: std::time::Duration,
}

/// Where the records live, as the `store` setting names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// sled in this directory.
    Sled(PathBuf),
    /// The PostgreSQL database at this address.
    Postgres(String),
}

impl Location {
    /// Reads the `store` setting: unset, sled in the data directory `data`; `sled:<dir>`;
    /// `postgres://…` or `postgresql://…`.
    pub fn parse(setting: Option<&str>, data: &Path) -> Result<Self, String> {
        match setting.map(str::trim) {
            None | Some("") => Ok(Self::Sled(data.to_owned())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres(url.to_owned()))
            }
            Some(other) => match other.strip_prefix("sled:") {
                Some(dir) if !dir.is_empty() => Ok(Self::Sled(PathBuf::from(dir))),
                // Not echoed: a mistyped address may hold a password.
                _ => Err(
                    "store: neither sled:<directory> nor a postgres:// (or postgresql://) address"
                        .to_owned(),
                ),
            },
        }
    }

    /// Opens the store (a PostgreSQL one brought up to this binary's schema first).
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Self::Sled(dir) => Arc::new(SledStore::open(dir)?),
            Self::Postgres(url) => Arc::new(PgStore::open(url).await?),
        })
    }
}

/// For logs: the engine and where, never a password.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sled(dir) => write!(f, "sled in {}", dir.display()),
            Self::Postgres(url) => {
                // Host and database only: no user, no password, no parameters.
                let server = url
                    .split_once('?')
                    .map_or(url.as_str(), |(address, _)| address);
                let server = server.rsplit_once('@').map_or(server, |(_, host)| host);
                let server = server.split_once("://").map_or(server, |(_, rest)| rest);
                write!(f, "PostgreSQL at {server}")
            }
        }
    }
}

/// Writes the records of a copy made by [`Store::copy_records`] into a new store at `to`
/// (refused unless `to` is missing or empty), and answers what it holds.
pub fn restore_records(engine: &str, from: &Path, to: &Path) -> Result<RecordsCopy, StoreError> {
    match engine {
        SledStore::ENGINE => SledStore::restore(from, to),
        other => Err(StoreError::Corrupt {
            key: from.display().to_string(),
            reason: format!("records of the unknown engine {other:?}"),
        }),
    }
}

/// The port. Every method is async, reads included: an engine across a network answers
/// later, and a caller must not block a thread of the runtime waiting for it. Every method
/// that changes something is one unit of work: all of it is stored and durable before it
/// returns, or nothing is.
#[async_trait]
pub trait Store: Send + Sync {
    /// Proves the store answers (a read that goes through the engine).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a submission and appends its events: a new one unless its id is taken, a
    /// changed one only while it is still at the version it was read at.
    async fn save_submission(&self, write: &SubmissionWrite) -> Result<(), StoreError>;
    async fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError>;
    /// Every submission of one holder (USCC or ID number, as stored), newest first.
    async fn submissions_by_holder(&self, holder_id: &str) -> Result<Vec<Submission>, StoreError>;
    /// Every submission accepted with a promise (a due date) and not yet issued.
    async fn submissions_with_promise(&self) -> Result<Vec<Submission>, StoreError>;
    /// Every submission in a review queue: submitted, or pre-approved (oldest first).
    async fn submissions_in_review(&self) -> Result<Vec<Submission>, StoreError>;
    /// The submission's audit history, oldest first.
    async fn events(&self, id: &SubmissionId) -> Result<Vec<Event>, StoreError>;

    /// Hands out the next sequence number of `year`; a number on a stored certificate is
    /// never handed out again.
    async fn next_sequence(&self, year: i32) -> Result<u64, StoreError>;
    /// Stores what an issuance planned, with the certificate's PDF and printed photo: the
    /// certificate, its submissions, the version it supersedes, and the holder's line moved
    /// on to it. [`Conflict::Changed`] if a submission, the superseded certificate or the
    /// line is not as planned; [`Conflict::Taken`] if the identifier, the code, the PDF's
    /// digest or a former number is (a former number may move on from the version
    /// superseded, and only from it).
    async fn store_issued(
        &self,
        issuance: &Issuance,
        pdf: &[u8],
        photo: Option<&[u8]>,
    ) -> Result<(), StoreError>;
    /// Stores a changed certificate while it is still as read, with the history its
    /// submission gains by the change (a change of status), keeping the status index in step.
    async fn save_certificate(
        &self,
        write: &CertificateWrite,
        history: Option<&SubmissionWrite>,
    ) -> Result<(), StoreError>;
    async fn certificate(&self, id: &Identifier) -> Result<Option<Certificate>, StoreError>;
    async fn certificate_pdf(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError>;
    /// The holder's photo as the certificate prints it (permits), stored with it.
    async fn certificate_photo(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError>;
    /// The latest version of the holder's line of certificates of `kind` (kept in step with
    /// every issuance, which refuses a first version while the current one holds).
    async fn current_certificate(
        &self,
        kind: &str,
        holder_id: &str,
    ) -> Result<Option<Certificate>, StoreError>;
    /// Every certificate whose status is not plainly valid, with that status (kept in step
    /// with each change of status, so listing costs what is listed, not every certificate).
    async fn listed_statuses(&self) -> Result<Vec<(Identifier, CertStatus)>, StoreError>;
    /// The identifier of the certificate whose issued PDF has this digest.
    async fn certificate_id_by_pdf(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<Identifier>, StoreError>;
    /// The identifier of the certificate that carries this verification code.
    async fn certificate_id_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<Identifier>, StoreError>;
    /// The identifier of the certificate a migration issued for this former licence number.
    async fn certificate_id_by_former_number(
        &self,
        number: &str,
    ) -> Result<Option<Identifier>, StoreError>;

    async fn insert_token(
        &self,
        hash: &Sha256Digest,
        record: &TokenRecord,
    ) -> Result<(), StoreError>;
    async fn token(&self, hash: &Sha256Digest) -> Result<Option<TokenRecord>, StoreError>;
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Marks a token revoked; `None` if there is no such token.
    async fn revoke_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

    /// The console session with this id (live or not: the caller checks), for any node.
    async fn session(&self, id: &Sha256Digest) -> Result<Option<ConsoleSession>, StoreError>;
    /// Every stored session opened with the token whose hash is `token_hash`.
    async fn sessions_of_token(
        &self,
        token_hash: &Sha256Digest,
    ) -> Result<Vec<ConsoleSession>, StoreError>;
    /// Stores the new session and removes those it closes, while the token's sessions are
    /// still the ones it was decided on; [`Conflict::Changed`] otherwise.
    async fn open_session(&self, opening: &SessionOpening) -> Result<(), StoreError>;
    /// Removes a session (signing out); nothing if there is none.
    async fn close_session(&self, id: &Sha256Digest) -> Result<(), StoreError>;
    /// Removes every session that ended by `now`; answers how many.
    async fn remove_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Stores a new batch and its lines; [`Conflict::Taken`] if its id is.
    async fn insert_batch(
        &self,
        batch: &BatchRecord,
        lines: &[NumberedLine],
    ) -> Result<(), StoreError>;
    async fn batch(&self, id: &str) -> Result<Option<BatchRecord>, StoreError>;
    /// The latest `limit` batches, newest first.
    async fn latest_batches(&self, limit: usize) -> Result<Vec<BatchRecord>, StoreError>;
    async fn batch_lines(&self, id: &str) -> Result<Vec<NumberedLine>, StoreError>;
    /// A batch's results so far, in line order.
    async fn batch_results(&self, id: &str) -> Result<Vec<NumberedResult>, StoreError>;
    /// Stores a line's result and counts it in the batch, unless the line has one already
    /// (a node that took the batch over came first): then `false`, and nothing is written.
    async fn record_batch_result(
        &self,
        id: &str,
        result: &NumberedResult,
    ) -> Result<bool, StoreError>;
    /// Gives the batch the lease `lease` (renewed, or taken over) while its lease is still
    /// `read`; [`Conflict::Changed`] otherwise (another node took it).
    async fn renew_batch_lease(
        &self,
        id: &str,
        read: &Lease,
        lease: &Lease,
    ) -> Result<(), StoreError>;
    /// Marks the batch finished at `at`, while its lease is still `read`.
    async fn finish_batch(
        &self,
        id: &str,
        read: &Lease,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Removes the finished batches beyond the latest `keep` batches, with their lines and
    /// results; answers how many.
    async fn remove_old_batches(&self, keep: usize) -> Result<u64, StoreError>;

    /// The latest version of every catalogue item.
    async fn service_items(&self) -> Result<Vec<ServiceItem>, StoreError>;
    /// One version of a catalogue item (the latest when `version` is `None`).
    async fn service_item(
        &self,
        code: &str,
        version: Option<u32>,
    ) -> Result<Option<ServiceItem>, StoreError>;
    /// Stores `spec` as the next version of `code`; with `only_if_new`, leaves an existing
    /// item as it is and answers `None`.
    async fn put_service_item(
        &self,
        code: &ItemCode,
        spec: &ServiceSpec,
        by: &str,
        at: DateTime<Utc>,
        only_if_new: bool,
    ) -> Result<Option<ServiceItem>, StoreError>;
    /// The working-day calendars an admin has set (they replace the shipped ones).
    async fn calendars(&self) -> Result<Vec<YearCalendar>, StoreError>;
    async fn put_calendar(&self, calendar: &YearCalendar) -> Result<(), StoreError>;

    /// Every signing key's record, oldest first.
    async fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Writes the change's records at once (a rotation writes two), while the stored ring is
    /// still the one it was decided on; [`Conflict::Changed`] otherwise.
    async fn put_key_records(&self, change: &KeyRingWrite<'_>) -> Result<(), StoreError>;
    /// The sealed private keys it keeps (only when the service seals them; see
    /// `signing::seal`).
    async fn sealed_keys(&self) -> Result<Vec<SealedKey>, StoreError>;
    /// Puts `sealed` in place of its key's sealed private half while that is still `read`
    /// (`None`: while it has none), or refuses with [`Conflict::Changed`]: a reseal under a
    /// new key-encryption key, or a key's file sealed into the store.
    async fn replace_sealed_key(
        &self,
        read: Option<&SealedKey>,
        sealed: &SealedKey,
    ) -> Result<(), StoreError>;

    /// Up to `limit` records of `sort` whose keys come after `after` ([`Record::key`]), in
    /// key order; a small sort ([`Sort::is_small`]) comes whole on the first page.
    async fn records(
        &self,
        sort: Sort,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;
    /// Stores a record copied from another store as it is, indexes included: `false` when an
    /// equal one is there already (a copy resumed), [`Conflict::Taken`] when another is.
    async fn put_record(&self, record: &Record) -> Result<bool, StoreError>;

    /// Copies every record, as of one instant between writes, into the file `into` in
    /// the engine's own format (for [`restore_records`]); writes wait while it runs.
    async fn copy_records(&self, into: &Path) -> Result<RecordsCopy, StoreError>;
}

impl dyn Store {
    /// The certificate whose issued PDF has this digest, if we issued one.
    pub async fn certificate_by_pdf(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<Certificate>, StoreError> {
        match self.certificate_id_by_pdf(sha256).await? {
            Some(id) => self.certificate(&id).await,
            None => Ok(None),
        }
    }

    /// The certificate that carries this verification code, if any.
    pub async fn certificate_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<Certificate>, StoreError> {
        match self.certificate_id_by_code(code).await? {
            Some(id) => self.certificate(&id).await,
            None => Ok(None),
        }
    }
}
