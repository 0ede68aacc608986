//! Plain types and pure functions: everything here is valid by construction and knows
//! nothing of HTTP or storage.

mod digest;
mod id_number;
mod ids;
mod names;
mod uscc;

pub mod certificate;
pub mod holder;
pub mod identifier;
pub mod submission;
pub mod template;
pub mod window_check;

pub use digest::Sha256Digest;
pub use id_number::IdNumber;
pub use ids::{SubmissionId, TokenId};
pub use names::{DepartmentCode, ItemCode, MaterialName, Role};
pub use uscc::Uscc;

use std::borrow::Cow;

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

/// Shared rule for short human-entered text: not blank, no control characters, bounded.
fn check_text(input: &str, max_chars: usize, what: &str) -> Result<(), ParseError> {
    if input.trim().is_empty() {
        return Err(ParseError::new(
            "empty",
            format!("{what} must not be empty"),
        ));
    }
    if input.chars().count() > max_chars {
        return Err(ParseError::new(
            "too_long",
            format!("{what} is longer than {max_chars} characters"),
        ));
    }
    if input.chars().any(char::is_control) {
        return Err(ParseError::new(
            "control_character",
            format!("{what} contains a control character"),
        ));
    }
    Ok(())
}

/// An item name or similar printed label: 1–100 characters, no control characters.
pub fn check_label(input: &str) -> Result<String, ParseError> {
    check_text(input, 100, "a name").map_err(|e| ParseError::new("invalid_name", e.message))?;
    Ok(input.trim().to_owned())
}

/// A reviewer's or approver's free text: up to 1,000 characters, no control characters
/// other than line breaks.
pub fn check_reason(input: &str) -> Result<String, ParseError> {
    check_text(&input.replace(['\n', '\r'], " "), 1000, "a reason")
        .map_err(|e| ParseError::new("invalid_reason", e.message))?;
    Ok(input.trim().to_owned())
}
