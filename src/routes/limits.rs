//! Limits that hold for the whole service, whatever the route: a body that stops sending is
//! given up (408), and past the requests the service takes at once the next one is told to
//! come back (503 with `Retry-After`) instead of queueing without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::service::{ErrorKind, ServiceError};

/// Verifications of an uploaded PDF (up to 10 MiB each, read into memory) served at once, over
/// `/api/v1/verify` and `/verify` together: at most 160 MiB of anonymous bodies in memory.
pub const MAX_VERIFY_UPLOADS: usize = 16;

/// Seconds a client told "busy" is asked to wait.
const RETRY_AFTER_SECS: &str = "2";

#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
struct Stalled(Duration);

/// Wraps the request body so that a read waiting longer than `idle` for the next chunk fails;
/// whatever the handler answered then, the client gets 408. Every route that reads a body is
/// covered, the public forms and the console's sign-in included.
pub async fn body_idle_timeout(
    State(idle): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stalled);
    let request = request.map(|body| {
        let chunks = futures_util::stream::unfold(Some(body.into_data_stream()), move |state| {
            let flag = Arc::clone(&flag);
            async move {
                let mut chunks = state?;
                match tokio::time::timeout(idle, chunks.next()).await {
                    Ok(Some(chunk)) => Some((chunk, Some(chunks))),
                    Ok(None) => None,
                    Err(_) => {
                        flag.store(true, Ordering::SeqCst);
                        Some((Err(axum::Error::new(Stalled(idle))), None))
                    }
                }
            }
        });
        Body::from_stream(chunks)
    });
    let response = next.run(request).await;
    if stalled.load(Ordering::SeqCst) {
        return ServiceError::new(
            ErrorKind::Timeout,
            "body_stalled",
            format!(
                "请求内容已 {} 秒未传输 / the request body sent nothing for {} s",
                idle.as_secs(),
                idle.as_secs()
            ),
        )
        .into_response();
    }
    response
}

/// The places for verifications of an uploaded PDF; share one between the routes.
pub fn verify_upload_places() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_VERIFY_UPLOADS))
}

/// Middleware for the routes that read a whole PDF into memory: a request takes one of the
/// places (see [`MAX_VERIFY_UPLOADS`]) for as long as it runs, or is answered 503 with
/// `Retry-After` at once when none is free.
pub async fn verify_upload_place(
    State(places): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match places.try_acquire() {
        Ok(_place) => next.run(request).await,
        Err(_) => busy(),
    }
}

/// The answer when the service is at its limit of requests in flight (`LoadShed` refused).
pub async fn overloaded(_: tower::BoxError) -> Response {
    busy()
}

fn busy() -> Response {
    let mut response = ServiceError::new(
        ErrorKind::Unavailable,
        "busy",
        "服务繁忙，请稍后重试 / the service is at its limit of requests in flight; retry shortly",
    )
    .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    response
}
