//! Plain types and pure functions: everything here is valid by construction and knows
//! nothing of HTTP or storage.

mod digest;
mod id_number;
mod ids;
mod names;
mod uscc;
mod verification_code;

pub mod actor;
pub mod batch;
pub mod calendar;
pub mod catalogue;
pub mod certificate;
pub mod holder;
pub mod identifier;
pub mod media;
pub mod plan;
pub mod presented;
pub mod refusal;
pub mod revocation;
pub mod session;
pub mod signing_key;
pub mod status_list;
pub mod submission;
pub mod template;
pub mod text;
pub mod token;
pub mod window_check;

pub use digest::Sha256Digest;
pub use id_number::IdNumber;
pub use ids::{SubmissionId, TokenId};
pub use names::{DepartmentCode, ItemCode, MaterialName, Role};
pub use refusal::Refusal;
pub use uscc::Uscc;
pub use verification_code::VerificationCode;

use std::borrow::Cow;

use text::check_text;

/// Why a piece of input was refused; the caller adds the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl ParseError {
    pub fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A short label (a carrier, a delivery status): 1–100 characters, no control characters,
/// normalised like printed text.
pub fn check_label(input: &str) -> Result<String, ParseError> {
    text::printed_text(input, 100, "a name").map_err(|e| ParseError::new("invalid_name", e.message))
}

/// An item name as printed on the certificate (see [`text::ITEM_NAME_MAX_CHARS`]).
pub fn check_item_name(input: &str) -> Result<String, ParseError> {
    text::printed_text(input, text::ITEM_NAME_MAX_CHARS, "an item name")
        .map_err(|e| ParseError::new("invalid_name", e.message))
}

/// An RFC 3339 time (`2026-11-27T08:00:00+08:00`), in UTC.
pub fn parse_time(value: &str) -> Result<chrono::DateTime<chrono::Utc>, ParseError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            ParseError::new(
                "invalid_time",
                "时间应为 RFC 3339 格式 / expected an RFC 3339 time",
            )
        })
}

/// A reviewer's or approver's free text: up to 1,000 characters, no control characters
/// other than line breaks.
pub fn check_reason(input: &str) -> Result<String, ParseError> {
    check_text(&input.replace(['\n', '\r'], " "), 1000, "a reason")
        .map_err(|e| ParseError::new("invalid_reason", e.message))?;
    Ok(input.trim().to_owned())
}
