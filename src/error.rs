//! The one JSON error shape of the API:
//! `{"error": {"code": "snake_case", "message": "中文 / English", "field": "path", …}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::ParseError;
use crate::domain::Refusal;
use crate::store::{StoreError, UpdateError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
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
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 for a value that parsed as JSON but is not valid, naming the field.
    pub fn invalid(field: impl Into<String>, error: ParseError) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, error.code, error.message).with_field(field)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// Logged with its cause; the client learns only that it was our fault.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务内部错误，请稍后重试 / internal error, please try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = Value::String(field);
        }
        if let Some(details) = self.details {
            error["details"] = details;
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Conflict {
                code,
                message,
                details,
            } => ApiError {
                details,
                ..ApiError::new(StatusCode::CONFLICT, code, message)
            },
            Refusal::Invalid {
                code,
                field,
                message,
            } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field(field),
            Refusal::NotFound { code, message } => ApiError::not_found(code, message),
        }
    }
}

impl From<UpdateError> for ApiError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::NotFound(id) => submission_not_found(&id.to_string()),
            UpdateError::Refused(r) => r.into(),
            UpdateError::Store(e) => e.into(),
        }
    }
}

pub fn submission_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "submission_not_found",
        format!("办件 {id} 不存在 / no submission {id}"),
    )
}
