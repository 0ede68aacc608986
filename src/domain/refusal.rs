//! Why the domain refused a request: the one error every domain rule returns, so that the
//! modules holding those rules need not import each other for it.

/// Why a transition was refused. The API maps `Conflict` to 409, `Invalid` to 422, `NotFound`
/// to 404 and `Forbidden` to 403.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The actor may not do this (see `domain::actor`).
    #[error("{message}")]
    Forbidden { message: String },
}
