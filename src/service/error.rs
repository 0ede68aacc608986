//! What a use-case answers when it does not do what was asked: a kind (what sort of failure),
//! a stable snake_case code, one sentence in Chinese then English, and the field at fault.
//! Each front end maps the kind to its own form: an HTTP status and the API's JSON error shape
//! (`routes::error`), an HTML page (the console), an exit code (the CLI).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::body::ReceiveError;
use crate::domain::ParseError;
use crate::domain::Refusal;
use crate::domain::text::quoted;
use crate::metrics::StoreErrors;
use crate::store::{Conflict, FilesError, StoreError, Unique};

/// What sort of failure; the HTTP adapter maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No credentials, or unknown ones (401).
    Unauthenticated,
    /// Known caller, not allowed (403).
    Forbidden,
    /// No such thing, or not the caller's to know of (404).
    NotFound,
    /// Not possible in the current state (409).
    Conflict,
    /// Well-formed but invalid input, naming the field (422).
    Invalid,
    /// Input that could not be read at all (400).
    BadRequest,
    /// Input over its size limit (413).
    TooLarge,
    /// A request's headers over their limit (431).
    HeadersTooLarge,
    /// A body in a format the operation does not take (415).
    UnsupportedMediaType,
    /// A client that stopped sending (408).
    Timeout,
    /// One address asks more at once than any one client may; try again (429).
    TooManyRequests,
    /// The service cannot answer now; try again (503).
    Unavailable,
    /// The service has not the room to store what was sent, and will not soon (507).
    InsufficientStorage,
    /// Our fault; logged, and said to the caller in one generic sentence (500).
    Internal,
}

#[derive(Debug)]
pub struct ServiceError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub details: Option<Value>,
}

impl ServiceError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            field: None,
            details: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthenticated(message: &str) -> Self {
        Self::new(ErrorKind::Unauthenticated, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, "forbidden", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    /// 422 for a value that parsed as JSON but is not valid, naming the field.
    pub fn invalid(field: impl Into<String>, error: ParseError) -> Self {
        Self::new(ErrorKind::Invalid, error.code, error.message).with_field(field)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, "too_large", message)
    }

    /// A request body that could not be read: too large is `TooLarge`, one that broke off
    /// `BadRequest` (a stalled one is answered 408 by `routes::limits`), a failing disk
    /// `Internal`.
    pub fn body(e: ReceiveError, what: &str) -> Self {
        match e {
            ReceiveError::TooLarge { limit } => ServiceError::too_large(format!(
                "{what} 请求体超过 {limit} 字节 / the {what} body is over {limit} bytes"
            )),
            ReceiveError::Io(e) => ServiceError::internal(e),
            ReceiveError::OverBudget => ServiceError::new(
                ErrorKind::Unavailable,
                "busy",
                "服务繁忙，请稍后重试 / the service holds as many uploads as it may; retry shortly",
            ),
            ReceiveError::Body(_) => {
                ServiceError::bad_request("unreadable_body", format!("请求体不完整 / {e}"))
            }
        }
    }

    /// Logged with its cause; the client learns only that it was our fault.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            ErrorKind::Internal,
            "internal",
            "服务内部错误，请稍后重试 / internal error, please try again",
        )
    }
}

/// Failures of the records store met since the process started, counted where a `StoreError`
/// becomes a `ServiceError`: in a conversion, which has no `Services` to count them in. One
/// process serves one store, so the counts are the process's; `/metrics` shows them.
static STORE_UNAVAILABLE: AtomicU64 = AtomicU64::new(0);
static STORE_FAILED: AtomicU64 = AtomicU64::new(0);

/// The store failures counted so far.
pub fn store_errors() -> StoreErrors {
    StoreErrors {
        unavailable: STORE_UNAVAILABLE.load(Ordering::Relaxed),
        failed: STORE_FAILED.load(Ordering::Relaxed),
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        let e = match e {
            StoreError::Conflict(conflict) => return conflict.into(),
            StoreError::Unsupported(message) => {
                return ServiceError::new(ErrorKind::Conflict, "not_supported_by_store", message);
            }
            other => other,
        };
        let count = match e {
            StoreError::Unavailable(_) => &STORE_UNAVAILABLE,
            _ => &STORE_FAILED,
        };
        count.fetch_add(1, Ordering::Relaxed);
        match e {
            StoreError::Unavailable(reason) => ServiceError::new(
                ErrorKind::Unavailable,
                "store_unavailable",
                format!(
                    "存储暂不可写，正在恢复 / the store cannot write now and is recovering: {reason}"
                ),
            ),
            other => ServiceError::internal(other),
        }
    }
}

impl From<FilesError> for ServiceError {
    fn from(e: FilesError) -> Self {
        match e {
            FilesError::Unavailable(reason) => ServiceError::new(
                ErrorKind::Unavailable,
                "materials_unavailable",
                format!(
                    "材料文件存储暂不可写，空间恢复后自动恢复 / material files cannot be written now (the service recovers once there is room): {reason}"
                ),
            ),
            FilesError::NoRoomFor(reason) => ServiceError::new(
                ErrorKind::InsufficientStorage,
                "insufficient_storage",
                format!("存储空间不足以保存该文件 / there is not room for this file: {reason}"),
            ),
            FilesError::Body(e) => ServiceError::body(e, "material"),
        }
    }
}

impl From<Refusal> for ServiceError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Conflict {
                code,
                message,
                details,
            } => ServiceError {
                details,
                ..ServiceError::new(ErrorKind::Conflict, code, message)
            },
            Refusal::Invalid {
                code,
                field,
                message,
            } => ServiceError::new(ErrorKind::Invalid, code, message).with_field(field),
            Refusal::NotFound { code, message } => ServiceError::not_found(code, message),
            Refusal::Forbidden { message } => ServiceError::forbidden(message),
        }
    }
}

/// A unit of work the store refused: 409 naming what is taken, or what changed meanwhile.
impl From<Conflict> for ServiceError {
    fn from(conflict: Conflict) -> Self {
        let (constraint, value, holder) = match conflict {
            Conflict::Changed(what) => {
                return ServiceError::new(
                    ErrorKind::Conflict,
                    "changed_meanwhile",
                    format!("{what} 已被同时修改，请重试 / {what} changed meanwhile: try again"),
                );
            }
            Conflict::Taken {
                constraint,
                value,
                holder,
            } => (constraint, value, holder.unwrap_or_else(|| "?".into())),
        };
        match constraint {
            Unique::CertificateId => ServiceError::new(
                ErrorKind::Conflict,
                "identifier_taken",
                format!("证照编号 {value} 已存在 / identifier {value} already exists"),
            ),
            Unique::VerificationCode => ServiceError::new(
                ErrorKind::Conflict,
                "verification_code_taken",
                "核验码重复，请重新出证 / the verification code is taken: issue again",
            ),
            Unique::FormerNumber => ServiceError {
                details: Some(serde_json::json!({ "identifier": holder })),
                ..ServiceError::new(
                    ErrorKind::Conflict,
                    "already_migrated",
                    format!(
                        "原证书 {value} 已迁移为 {holder} / licence {value} was already migrated as {holder}"
                    ),
                )
            },
            Unique::BatchId => ServiceError::new(
                ErrorKind::Conflict,
                "batch_exists",
                format!("批次 {value} 已存在 / batch {value} already exists"),
            ),
            Unique::SubmissionId => ServiceError::new(
                ErrorKind::Conflict,
                "submission_exists",
                format!("办件 {value} 已存在 / submission {value} already exists"),
            ),
            Unique::CopiedRecord => ServiceError::new(
                ErrorKind::Conflict,
                "copy_conflict",
                format!(
                    "目标存储中的 {value} 与原存储不同 / the target store holds {value} differently"
                ),
            ),
            Unique::PdfDigest => ServiceError::internal(format!(
                "two certificates with one PDF digest {value}, held by {holder}"
            )),
        }
    }
}

/// 404 for a submission id, quoting at most a short prefix of what was asked for.
pub fn submission_not_found(id: &str) -> ServiceError {
    let id = quoted(id);
    ServiceError::not_found(
        "submission_not_found",
        format!("办件 {id} 不存在 / no submission {id}"),
    )
}
