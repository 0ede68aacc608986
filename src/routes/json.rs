//! `AppJson<T>`, `AppQuery<T>` and `AppPath<T>`: extractors whose rejections use the API's
//! error shape, in Chinese and English, name the field that was wrong and never name our
//! Rust types (axum's and serde's own messages are English and do).

use axum::extract::path::ErrorKind as PathErrorKind;
use axum::extract::rejection::PathRejection;
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
        let message = quoted_parser_message(&without_type_names(&inner.to_string()));
        if inner.is_data() {
            ServiceError::new(
                ErrorKind::Invalid,
                "invalid_field",
                format!(
                    "字段无效（{}） / invalid field: {message}",
                    problem_zh(&message)
                ),
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

/// `Query<T>` whose rejection uses the API's error shape and names the parameter at fault.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ServiceError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(AppQuery)
            .map_err(|e| {
                let path = quoted(&e.path().to_string()).into_owned();
                let message =
                    quoted_parser_message(&without_type_names(&e.into_inner().to_string()));
                ServiceError::bad_request(
                    "malformed_query",
                    format!(
                        "查询参数无效（{}） / invalid query parameter: {message}",
                        problem_zh(&message)
                    ),
                )
                .with_field(path)
            })
    }
}

/// `Path<T>` whose rejection (a segment that is not UTF-8, or not a number where one is
/// expected) uses the API's error shape, in both languages, naming the segment.
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
            .map_err(path_error)
    }
}

/// A path rejection in our words: axum's names the Rust type it wanted (`to a \`u64\``).
/// A route whose pattern and extractor disagree is our bug (500), said generically.
fn path_error(rejection: PathRejection) -> ServiceError {
    let PathRejection::FailedToDeserializePathParams(e) = rejection else {
        return ServiceError::internal(rejection.body_text());
    };
    let bad_value = |value: &str| {
        ServiceError::bad_request(
            "invalid_path",
            format!(
                "路径中的值无效 / invalid value in the path: `{}`",
                quoted(value)
            ),
        )
    };
    match e.into_kind() {
        PathErrorKind::ParseErrorAtKey { key, value, .. }
        | PathErrorKind::DeserializeError { key, value, .. } => bad_value(&value).with_field(key),
        PathErrorKind::ParseErrorAtIndex { value, .. }
        | PathErrorKind::ParseError { value, .. } => bad_value(&value),
        PathErrorKind::InvalidUtf8InPathParam { key } => ServiceError::bad_request(
            "invalid_path",
            "路径中含有无效的 UTF-8 字节 / the path holds bytes that are not UTF-8",
        )
        .with_field(key),
        PathErrorKind::Message(_) => {
            ServiceError::bad_request("invalid_path", "路径无效 / the path could not be read")
        }
        kind => ServiceError::internal(kind),
    }
}

/// serde's complaint with our type names taken out: `expected struct HolderBody` says what
/// the client should send (`expected an object`), not what we call it inside.
fn without_type_names(message: &str) -> String {
    /// What a kind of type is to a client, longest names first.
    const KINDS: [(&str, &str); 12] = [
        ("internally tagged enum ", "an object"),
        ("adjacently tagged enum ", "an object"),
        ("untagged enum ", "one of the accepted forms"),
        ("newtype struct ", "a value"),
        ("tuple struct ", "an array"),
        ("unit struct ", "null"),
        ("struct variant ", "an object"),
        ("tuple variant ", "an array"),
        ("newtype variant ", "a value"),
        ("unit variant ", "a name"),
        ("struct ", "an object"),
        ("enum ", "one of the accepted values"),
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    'scan: while !rest.is_empty() {
        let at_word = out.is_empty() || out.ends_with(' ');
        if at_word {
            for (kind, said) in KINDS {
                let Some(after) = rest.strip_prefix(kind) else {
                    continue;
                };
                let name_len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(after.len());
                if after.starts_with(|c: char| c.is_ascii_uppercase()) {
                    out.push_str(said);
                    rest = &after[name_len..];
                    continue 'scan;
                }
            }
        }
        let next = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..next]);
        rest = &rest[next..];
    }
    out
}

/// The Chinese for the kind of problem serde's complaint names.
fn problem_zh(message: &str) -> &'static str {
    const PROBLEMS: [(&str, &str); 8] = [
        ("invalid type", "类型不符"),
        ("invalid value", "取值无效"),
        ("invalid length", "长度不符"),
        ("unknown variant", "取值不在可选范围内"),
        ("unknown field", "未知字段"),
        ("missing field", "缺少字段"),
        ("duplicate field", "字段重复"),
        ("data did not match", "格式不符"),
    ];
    PROBLEMS
        .iter()
        .find(|(english, _)| message.starts_with(english))
        .map_or("格式不符", |(_, chinese)| chinese)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_become_what_a_client_sends() {
        assert_eq!(
            without_type_names("invalid type: string \"x\", expected struct HolderBody"),
            "invalid type: string \"x\", expected an object"
        );
        assert_eq!(
            without_type_names(
                "invalid type: integer `1`, expected internally tagged enum Holder at line 1 column 12"
            ),
            "invalid type: integer `1`, expected an object at line 1 column 12"
        );
        assert_eq!(
            without_type_names("unknown variant `x`, expected `a` or `b`"),
            "unknown variant `x`, expected `a` or `b`"
        );
        // A field named like a kind of type is left alone: only a type's name follows one.
        assert_eq!(
            without_type_names("missing field `struct `"),
            "missing field `struct `"
        );
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Holder {
        name: String,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        holder: Holder,
    }

    #[test]
    fn a_wrong_type_is_said_in_both_languages_without_our_type_names() {
        let Err(e) = parse::<Body>(br#"{"holder": "x"}"#) else {
            panic!("a string is not a holder");
        };
        assert_eq!(e.field.as_deref(), Some("holder"));
        assert!(
            e.message
                .starts_with("字段无效（类型不符） / invalid field:"),
            "{}",
            e.message
        );
        assert!(
            !e.message.contains("Holder") && !e.message.contains("struct"),
            "{}",
            e.message
        );
    }
}
