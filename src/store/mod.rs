//! The store, as the use-cases see it: one interface ([`Store`]) taking and returning domain
//! types, each change one unit of work (all of it stored, or none). sled is its one
//! implementation today ([`SledStore`], the embedded default), and the only code that names
//! sled; a PostgreSQL implementation would be a second module beside it. Material files live
//! on the filesystem beside the store ([`MaterialFiles`]).

mod free_space;
mod material_files;
mod sled;

use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;

pub use self::sled::SledStore;
pub use material_files::{FilesError, MaterialFiles, RemovalHold};

use chrono::{DateTime, Utc};

use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::{ServiceItem, ServiceSpec};
use crate::domain::certificate::{CertStatus, Certificate};
use crate::domain::signing_key::KeyRecord;
use crate::domain::submission::{Action, Event, StoredFile, Submission};
use crate::domain::token::TokenRecord;
use crate::domain::{ItemCode, Refusal, Sha256Digest, SubmissionId, TokenId, VerificationCode};

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
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no submission {0}")]
    NotFound(SubmissionId),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change to one submission: given the stored submission, change it and say what happened
/// (the audit event's action), or refuse. It may run more than once if another writer got
/// there first, so it must depend only on the submission it is given.
pub type SubmissionChange<'a> =
    &'a (dyn Fn(&mut Submission) -> Result<Action, Refusal> + Send + Sync);

/// A change to one certificate, under the same rules as [`SubmissionChange`].
pub type CertificateChange<'a> =
    &'a (dyn Fn(&mut Certificate) -> Result<(), Refusal> + Send + Sync);

/// A change of a certificate's status (revocation, suspension, reinstatement): it returns
/// the event to append to the history of the certificate's submission.
pub type StatusChange<'a> = &'a (dyn Fn(&mut Certificate) -> Result<Action, Refusal> + Send + Sync);

/// Where an issued certificate comes from, which decides what else its transaction writes.
/// Whatever the provenance, a certificate that `supersedes` another marks that one
/// superseded in the same transaction (refused unless it is still in force).
#[derive(Debug, Clone, Copy)]
pub enum Provenance<'a> {
    /// The certificate's submission (an application or an amendment) is marked issued.
    Submission,
    /// Items left the superseded version; its submission's history records which and why.
    Withdrawal {
        items: &'a [ItemCode],
        reason: &'a str,
    },
    /// An existing licence re-issued from a migration file (`former_number`, the paper
    /// licence this line migrates): its submission record is stored with it, and its former
    /// number may be migrated only once.
    Migration {
        submission: &'a Submission,
        former_number: &'a str,
    },
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

    /// Stores a new submission and its `created` event together.
    async fn create_submission(
        &self,
        submission: &Submission,
        actor: &str,
    ) -> Result<(), StoreError>;
    async fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError>;
    /// Applies `change` to the stored submission and appends the event it returns.
    async fn change_submission(
        &self,
        id: &SubmissionId,
        actor: &str,
        change: SubmissionChange<'_>,
    ) -> Result<(Submission, Event), UpdateError>;
    /// Every submission of one holder (USCC or ID number, as stored), newest first.
    async fn submissions_by_holder(&self, holder_id: &str) -> Result<Vec<Submission>, StoreError>;
    /// Every submission accepted with a promise (a due date) and not yet issued.
    async fn submissions_with_promise(&self) -> Result<Vec<Submission>, StoreError>;
    /// The submission's audit history, oldest first.
    async fn events(&self, id: &SubmissionId) -> Result<Vec<Event>, StoreError>;

    /// Hands out the next sequence number of `year`; a number on a stored certificate is
    /// never handed out again.
    async fn next_sequence(&self, year: i32) -> Result<u64, StoreError>;
    /// Stores a certificate, its PDF and the events its provenance calls for together.
    /// Refused if the submission is no longer issuable, the identifier, code or former
    /// number exists, the version it supersedes is no longer in force, or (for a first
    /// version) the holder's current certificate of that kind still holds (一企一证).
    async fn store_issued(
        &self,
        certificate: &Certificate,
        pdf: &[u8],
        photo: Option<&[u8]>,
        actor: &str,
        provenance: Provenance<'_>,
    ) -> Result<(Submission, Event), UpdateError>;
    /// Changes a certificate's status and appends the event to its submission's history,
    /// together.
    async fn change_status(
        &self,
        id: &str,
        actor: &str,
        change: StatusChange<'_>,
    ) -> Result<Certificate, UpdateError>;
    /// Changes a stored certificate (its delivery) in one read-modify-write.
    async fn change_certificate(
        &self,
        id: &str,
        change: CertificateChange<'_>,
    ) -> Result<Certificate, UpdateError>;
    async fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError>;
    async fn certificate_pdf(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The holder's photo as the certificate prints it (permits), stored with it.
    async fn certificate_photo(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The latest version of the holder's line of certificates of `kind` (kept in step with
    /// every issuance, which refuses a first version while the current one holds).
    async fn current_certificate(
        &self,
        kind: &str,
        holder_id: &str,
    ) -> Result<Option<Certificate>, StoreError>;
    /// Every certificate whose status is not plainly valid, with that status (kept in step
    /// with each change of status, so listing costs what is listed, not every certificate).
    async fn listed_statuses(&self) -> Result<Vec<(String, CertStatus)>, StoreError>;
    /// The identifier of the certificate whose issued PDF has this digest.
    async fn certificate_id_by_pdf(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<String>, StoreError>;
    /// The identifier of the certificate that carries this verification code.
    async fn certificate_id_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<String>, StoreError>;
    /// The identifier of the certificate a migration issued for this former licence number.
    async fn certificate_id_by_former_number(
        &self,
        number: &str,
    ) -> Result<Option<String>, StoreError>;

    async fn insert_token(
        &self,
        hash: &Sha256Digest,
        record: &TokenRecord,
    ) -> Result<(), StoreError>;
    async fn token(&self, hash: &Sha256Digest) -> Result<Option<TokenRecord>, StoreError>;
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Marks a token revoked; `None` if there is no such token.
    async fn revoke_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

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
    /// Writes several key records at once (a rotation changes two).
    async fn put_key_records(&self, records: &[KeyRecord]) -> Result<(), StoreError>;

    /// Copies every record, as of one instant between writes, into the file `into` in
    /// the engine's own format (for [`restore_records`]); writes wait while it runs.
    async fn copy_records(&self, into: &Path) -> Result<RecordsCopy, StoreError>;
}

impl dyn Store {
    /// [`Store::change_submission`] for a change that also returns a value of its own (the
    /// window check's report, the file an upload replaced).
    pub async fn update_submission<T: Send>(
        &self,
        id: &SubmissionId,
        actor: &str,
        change: impl Fn(&mut Submission) -> Result<(Action, T), Refusal> + Send + Sync,
    ) -> Result<(Submission, Event, T), UpdateError> {
        let extra = Mutex::new(None);
        let (submission, event) = self
            .change_submission(id, actor, &|s: &mut Submission| {
                let (action, value) = change(s)?;
                if let Ok(mut slot) = extra.lock() {
                    *slot = Some(value);
                }
                Ok(action)
            })
            .await?;
        let value = extra
            .into_inner()
            .ok()
            .flatten()
            .ok_or_else(|| StoreError::Encode("a stored change returned no value".into()))?;
        Ok((submission, event, value))
    }

    /// [`Store::change_certificate`] for any closure.
    pub async fn update_certificate(
        &self,
        id: &str,
        change: impl Fn(&mut Certificate) -> Result<(), Refusal> + Send + Sync,
    ) -> Result<Certificate, UpdateError> {
        self.change_certificate(id, &change).await
    }

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

    /// [`Store::change_status`] for any closure.
    pub async fn update_status(
        &self,
        id: &str,
        actor: &str,
        change: impl Fn(&mut Certificate) -> Result<Action, Refusal> + Send + Sync,
    ) -> Result<Certificate, UpdateError> {
        self.change_status(id, actor, &change).await
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
