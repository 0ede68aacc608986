//! Reading the files a clerk hands over at the window from a multipart body: every part is
//! hashed as it streams, no bytes are kept, and the number and size of parts are bounded.
//! The API's window check and the console's both read their parts here, through [`Parts`],
//! which also bounds the headers of each part.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use futures_util::StreamExt;

use crate::body::{ReceiveError, hash_stream};
use crate::domain::text::quoted;
use crate::domain::window_check::Presented;
use crate::service::{ErrorKind, ServiceError};

/// More parts than this is not an applicant's folder of materials but an attack.
pub const MAX_PARTS: usize = 200;
/// A refused part (past `MAX_PARTS`, or an oversized form field) is read only this far before
/// the connection is given up.
const DRAIN_PART_CAP: u64 = 8 << 20;

/// A part's headers (its `Content-Disposition` and `Content-Type`) take a few hundred bytes.
/// multer buffers them whole, without a bound, until the blank line that ends them; more
/// than this (plus the one chunk that crossed it) and the body is given up.
pub const MAX_PART_HEADER_BYTES: u64 = 64 << 10;

/// Bytes pulled from the body since the current search for a part's headers began
/// (`NOT_SEEKING` while a part's content is being read, which its own limits bound).
struct HeaderMeter {
    pulled: AtomicU64,
    seeking_since: AtomicU64,
}

const NOT_SEEKING: u64 = u64::MAX;

/// The parts of a multipart body, read one after another with each part's headers bounded
/// by [`MAX_PART_HEADER_BYTES`].
pub struct Parts {
    multipart: Multipart,
    meter: Arc<HeaderMeter>,
}

impl<S: Send + Sync> FromRequest<S> for Parts {
    type Rejection = MultipartRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, MultipartRejection> {
        let meter = Arc::new(HeaderMeter {
            pulled: AtomicU64::new(0),
            seeking_since: AtomicU64::new(NOT_SEEKING),
        });
        let watch = meter.clone();
        let request = request.map(|body| {
            Body::from_stream(body.into_data_stream().map(move |chunk| {
                let chunk = chunk?;
                let before = watch
                    .pulled
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let since = watch.seeking_since.load(Ordering::Relaxed);
                if since != NOT_SEEKING && before - since >= MAX_PART_HEADER_BYTES {
                    return Err(axum::Error::new(format!(
                        "a part's headers are over {MAX_PART_HEADER_BYTES} bytes"
                    )));
                }
                Ok(chunk)
            }))
        });
        let multipart = Multipart::from_request(request, state).await?;
        Ok(Self { multipart, meter })
    }
}

impl Parts {
    pub async fn next_field(&mut self) -> Result<Option<Field<'_>>, MultipartError> {
        let meter = &self.meter;
        meter
            .seeking_since
            .store(meter.pulled.load(Ordering::Relaxed), Ordering::Relaxed);
        let field = self.multipart.next_field().await;
        meter.seeking_since.store(NOT_SEEKING, Ordering::Relaxed);
        field
    }
}

/// Hashes every remaining part of `multipart` as a presented file, keeping no bytes.
pub async fn hash_parts(mut multipart: Parts, limit: u64) -> Result<Vec<Presented>, ServiceError> {
    let mut presented = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if presented.len() == MAX_PARTS {
            let _ = hash_stream(field, DRAIN_PART_CAP).await;
            discard_parts(&mut multipart).await;
            return Err(too_many_parts());
        }
        let part = decode_name(field.name().unwrap_or_default());
        let filename = field.file_name().map(decode_name);
        let (sha256, _) = hash_stream(field, limit).await.map_err(|e| match e {
            ReceiveError::TooLarge { limit } => ServiceError::too_large(format!(
                "文件 {part} 超过大小上限 {limit} 字节 / part {part} is over the {limit}-byte limit"
            )),
            other => ServiceError::body(other, "multipart"),
        })?;
        presented.push(Presented {
            part,
            filename,
            sha256,
        });
    }
    Ok(presented)
}

/// The text of a small form field (a CSRF token), read chunk by chunk and refused once it
/// passes `max` bytes: a part is never held whole in memory. The rest of a refused part is
/// read and dropped (up to [`DRAIN_PART_CAP`]) so the client gets the 413, not a reset.
pub async fn small_text(mut field: Field<'_>, max: usize) -> Result<String, ServiceError> {
    let mut text = Vec::new();
    let mut over = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
        if over > 0 || text.len() + chunk.len() > max {
            over += chunk.len() as u64;
            if over > DRAIN_PART_CAP {
                break;
            }
            continue;
        }
        text.extend_from_slice(&chunk);
    }
    if over > 0 {
        return Err(ServiceError::too_large(format!(
            "表单字段超过 {max} 字节 / a form field is over {max} bytes"
        )));
    }
    String::from_utf8(text).map_err(|_| {
        ServiceError::bad_request(
            "malformed_multipart",
            "表单字段不是有效的 UTF-8 / a form field is not UTF-8",
        )
    })
}

/// Browsers and curl send a non-ASCII part name as raw UTF-8; some clients (reqwest, for one)
/// percent-encode it as RFC 7578 allows. Both mean the same material.
pub fn decode_name(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_or_else(|_| raw.to_owned(), |decoded| decoded.into_owned())
}

/// Reads and drops the remaining parts (bounded like any refused body), so the client gets
/// the refusal rather than a reset connection.
async fn discard_parts(multipart: &mut Parts) {
    let mut parts = 0usize;
    while let Ok(Some(field)) = multipart.next_field().await {
        parts += 1;
        if parts > 100 * MAX_PARTS || hash_stream(field, DRAIN_PART_CAP).await.is_err() {
            break;
        }
    }
}

/// A multipart body that broke off or went over its limit, in both languages (axum's text is
/// English only; what multer says of the stream follows, as no client is shown our types).
pub fn malformed(e: MultipartError) -> ServiceError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ServiceError::too_large("请求体过大 / the request body is too large");
    }
    ServiceError::bad_request(
        "malformed_multipart",
        format!(
            "multipart 表单无效 / malformed multipart form: {}",
            quoted(&e.body_text())
        ),
    )
}

/// A body that is not multipart at all, or has no boundary.
pub fn rejected(e: MultipartRejection) -> ServiceError {
    ServiceError::bad_request(
        "malformed_multipart",
        format!(
            "multipart 表单无效 / malformed multipart form: {}",
            quoted(&e.body_text())
        ),
    )
}

pub fn too_many_parts() -> ServiceError {
    ServiceError::new(
        ErrorKind::TooLarge,
        "too_many_parts",
        format!("一次核对最多 {MAX_PARTS} 个文件 / at most {MAX_PARTS} files per check"),
    )
}
