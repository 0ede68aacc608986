//! Reading request bodies within limits. A body may not exceed its limit, and when it is
//! refused for its size the rest is read and dropped (up to a cap) before the answer, so the
//! client reads a clean 413 instead of a connection reset mid-upload. A body that stalls is
//! cut off for every route at once (`routes::limits::body_idle_timeout`): it ends here as a
//! broken-off body, and the client gets 408.

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::domain::Sha256Digest;

/// How much of a refused body is still read so that the refusal reaches the client; past
/// this the connection is simply closed.
const DRAIN_CAP: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request body broke off: {0}")]
    Body(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The next chunk of a body, or `None` at its end.
pub async fn next_chunk<S, E>(
    body: &mut std::pin::Pin<&mut S>,
) -> Result<Option<Bytes>, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    body.next()
        .await
        .transpose()
        .map_err(|e| ReceiveError::Body(e.to_string()))
}

/// Reads and drops what is left of a refused body, up to `DRAIN_CAP` bytes.
pub async fn discard_rest<S, E>(body: &mut std::pin::Pin<&mut S>)
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut drained: u64 = 0;
    while let Ok(Some(chunk)) = next_chunk(body).await {
        drained += chunk.len() as u64;
        if drained > DRAIN_CAP {
            break;
        }
    }
}

/// Collects a whole body of at most `limit` bytes (JSON, a PDF to verify).
pub async fn read_limited<S, E>(body: S, limit: usize) -> Result<Bytes, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        if bytes.len() + chunk.len() > limit {
            discard_rest(&mut body).await;
            return Err(ReceiveError::TooLarge {
                limit: limit as u64,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// Hashes a stream without keeping it, for files shown at the window. Stops past `limit`.
pub async fn hash_stream<S, E>(body: S, limit: u64) -> Result<(Sha256Digest, u64), ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = next_chunk(&mut body).await? {
        size += chunk.len() as u64;
        if size > limit {
            discard_rest(&mut body).await;
            return Err(ReceiveError::TooLarge { limit });
        }
        hasher.update(&chunk);
    }
    Ok((Sha256Digest::from_hasher(hasher), size))
}
