//! Reading the files a clerk hands over at the window from a multipart body: every part is
//! hashed as it streams, no bytes are kept, and the number and size of parts are bounded.
//! The API's window check and the console's both read their parts here.

use axum::extract::Multipart;

use crate::body::{ReceiveError, hash_stream};
use crate::domain::window_check::Presented;
use crate::service::{ErrorKind, ServiceError};

/// More parts than this is not an applicant's folder of materials but an attack.
pub const MAX_PARTS: usize = 200;
/// A refused part (past `MAX_PARTS`, or an oversized form field) is read only this far before
/// the connection is given up.
const DRAIN_PART_CAP: u64 = 8 << 20;

/// Hashes every remaining part of `multipart` as a presented file, keeping no bytes.
pub async fn hash_parts(
    mut multipart: Multipart,
    limit: u64,
) -> Result<Vec<Presented>, ServiceError> {
    let mut presented = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ServiceError::bad_request("malformed_multipart", e.body_text()))?
    {
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
            other => ServiceError::bad_request("malformed_multipart", other.to_string()),
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
pub async fn small_text(
    mut field: axum::extract::multipart::Field<'_>,
    max: usize,
) -> Result<String, ServiceError> {
    let mut text = Vec::new();
    let mut over = 0u64;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ServiceError::bad_request("malformed_multipart", e.body_text()))?
    {
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
    String::from_utf8(text)
        .map_err(|_| ServiceError::bad_request("malformed_multipart", "a form field is not UTF-8"))
}

/// Browsers and curl send a non-ASCII part name as raw UTF-8; some clients (reqwest, for one)
/// percent-encode it as RFC 7578 allows. Both mean the same material.
fn decode_name(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_or_else(|_| raw.to_owned(), |decoded| decoded.into_owned())
}

/// Reads and drops the remaining parts (bounded like any refused body), so the client gets
/// the refusal rather than a reset connection.
async fn discard_parts(multipart: &mut Multipart) {
    let mut parts = 0usize;
    while let Ok(Some(field)) = multipart.next_field().await {
        parts += 1;
        if parts > 100 * MAX_PARTS || hash_stream(field, DRAIN_PART_CAP).await.is_err() {
            break;
        }
    }
}

pub fn too_many_parts() -> ServiceError {
    ServiceError::new(
        ErrorKind::TooLarge,
        "too_many_parts",
        format!("一次核对最多 {MAX_PARTS} 个文件 / at most {MAX_PARTS} files per check"),
    )
}
