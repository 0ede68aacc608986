//! `AppJson<T>`: a JSON body extractor whose rejections use the API's error shape and name
//! the field that was wrong.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::state::AppState;
use crate::body::read_limited;
use crate::domain::text::{quoted, quoted_parser_message};
use crate::service::{ErrorKind, ServiceError};

/// Largest JSON body any route accepts.
pub const JSON_LIMIT: usize = 1 << 20;

pub struct AppJson<T>(pub T);

impl<T> FromRequest<AppState> for AppJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ServiceError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ServiceError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ServiceError::new(
                ErrorKind::UnsupportedMediaType,
                "expected_json",
                "请求体应为 JSON (Content-Type: application/json) / expected a JSON body",
            ));
        }
        let bytes = read_limited(
            req.into_body().into_data_stream(),
            JSON_LIMIT,
            &state.memory,
        )
        .await
        .map_err(|e| ServiceError::body(e, "JSON"))?;
        parse(&bytes).map(AppJson)
    }
}

/// Syntax errors are 400; a well-formed document with a wrong or missing field is 422 with
/// the field's path. Both quote at most a short prefix of the values they name.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ServiceError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = quoted(&e.path().to_string()).into_owned();
        let inner = e.into_inner();
        let message = quoted_parser_message(&inner.to_string());
        if inner.is_data() {
            ServiceError::new(
                ErrorKind::Invalid,
                "invalid_field",
                format!("字段无效 / invalid field: {message}"),
            )
            .with_field(path)
        } else {
            ServiceError::bad_request(
                "malformed_json",
                format!("JSON 格式错误 / malformed JSON: {message}"),
            )
        }
    })
}

/// `Path<T>` whose rejection (e.g. a segment that is not UTF-8) uses the API's error shape.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ServiceError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| AppPath(value))
            .map_err(|e| ServiceError::bad_request("invalid_path", e.body_text()))
    }
}
