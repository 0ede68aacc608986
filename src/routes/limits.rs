//! What one client may take of the service, whatever the route. Every request is admitted
//! into one class (public reads, anonymous bodies, applicants, staff, batch uploads), each
//! with its own places, and counts against its address's share of that class (for the
//! classes open to anyone, at most a quarter of it); past either, it is told to come back
//! (503 or 429, with `Retry-After`) at once instead of queueing. A body slower than the
//! minimum rate is cut off (408), an anonymous request has a deadline of its own, and any
//! request the deadline of all (408). Each refusal is counted in the metrics by the limit that
//! made it.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::caller::signed_in_role;
use super::observe::{Observed, refused};
use super::state::AppState;
use crate::body::{MemoryBudget, read_limited};
use crate::config::{Limits, Settings};
use crate::domain::Role;
use crate::metrics::Limit;
use crate::service::{ErrorKind, ServiceError};

/// Verifications of an uploaded PDF (up to 10 MiB each, read into memory) served at once, over
/// `/api/v1/verify` and `/verify` together: at most 160 MiB of anonymous bodies in memory.
pub const MAX_VERIFY_UPLOADS: usize = 16;

/// The kinds of client that must not starve one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    /// Anyone reading: `/v`, `/c`, `/healthz`, guides, pages, assets (GET and HEAD).
    Public,
    /// Anyone sending a body without signing in: drop-a-PDF, the sign-in form.
    Anonymous,
    /// An applicant signed in with a live token: filing, uploading materials.
    Applicant,
    /// Staff (reviewer, clerk, approver, admin) with a live token or console session.
    Staff,
    /// Staff uploading a batch file.
    Batch,
}

impl Class {
    /// The setting that bounds the class's places.
    fn limit(self) -> Limit {
        match self {
            Class::Public => Limit::MaxPublicRequests,
            Class::Anonymous => Limit::MaxAnonymousRequests,
            Class::Applicant => Limit::MaxApplicantRequests,
            Class::Staff => Limit::MaxStaffRequests,
            Class::Batch => Limit::MaxBatchRequests,
        }
    }
}

/// The places of a class, and what one address may hold of them.
struct Places {
    places: Arc<Semaphore>,
    share: usize,
}

impl Places {
    /// A class anyone may use: one address may hold its share, and at most a quarter of the
    /// class (rounded up), so that no one address can take the class whole.
    fn open_to_anyone(places: usize, per_address: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(places)),
            share: per_address.min(places.div_ceil(4)),
        }
    }

    /// A class of callers who signed in, each answerable for what their token does: one
    /// address may hold its share.
    fn signed_in(places: usize, per_address: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(places)),
            share: per_address,
        }
    }
}

/// The places of each class and of each address in it.
pub struct Admission {
    public: Places,
    anonymous: Places,
    applicants: Places,
    staff: Places,
    batch: Places,
    per_address: Arc<AddressCounts<(IpAddr, Class)>>,
    trusted_proxies: Vec<IpAddr>,
    anonymous_deadline: Duration,
}

impl Admission {
    pub fn new(settings: &Settings) -> Self {
        let limits = &settings.limits;
        let share = limits.max_requests_per_address;
        Self {
            public: Places::open_to_anyone(limits.max_public_requests, share),
            anonymous: Places::open_to_anyone(limits.max_anonymous_requests, share),
            applicants: Places::signed_in(limits.max_applicant_requests, share),
            staff: Places::signed_in(limits.max_staff_requests, share),
            batch: Places::signed_in(limits.max_batch_requests, share),
            per_address: Arc::default(),
            trusted_proxies: settings.trusted_proxies.clone(),
            anonymous_deadline: Duration::from_secs(limits.anonymous_request_timeout_secs),
        }
    }

    fn places(&self, class: Class) -> &Places {
        match class {
            Class::Public => &self.public,
            Class::Anonymous => &self.anonymous,
            Class::Applicant => &self.applicants,
            Class::Staff => &self.staff,
            Class::Batch => &self.batch,
        }
    }
}

/// How many of something each key (an address, or an address in a class) holds now; a key
/// holding none is forgotten, so the map is as large as the set of clients being served.
pub struct AddressCounts<K = IpAddr>(Mutex<HashMap<K, usize>>);

impl<K> Default for AddressCounts<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

/// One place of a key, given back when dropped.
pub struct AddressPlace<K: Hash + Eq = IpAddr> {
    counts: Arc<AddressCounts<K>>,
    key: K,
}

impl<K: Hash + Eq + Copy> AddressCounts<K> {
    /// Takes one place for `key` if it holds fewer than `max`.
    pub fn take(self: &Arc<Self>, key: K, max: usize) -> Option<AddressPlace<K>> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressPlace {
            counts: Arc::clone(self),
            key,
        })
    }
}

impl<K: Hash + Eq> Drop for AddressPlace<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The form in which an address is counted: IPv4 as itself (an IPv4-mapped IPv6 address
/// included), IPv6 by its /64, which one subscriber is usually given whole.
pub fn counted_as(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// The address a request comes from: the connection's peer, or, when the peer is a trusted
/// proxy, the address the last trusted proxy saw: `X-Forwarded-For` read from the right,
/// past the trusted proxies, to the first entry that is not one. An entry that cannot be
/// read (not an address, nor an address and port) ends the walk at the peer: anything left
/// of it could be the client's own writing.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |a: IpAddr| trusted.iter().any(|t| t.to_canonical() == a.to_canonical());
    if !is_trusted(peer) {
        return peer;
    }
    let mut entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    while let Some(entry) = entries.pop() {
        let address = entry
            .parse::<IpAddr>()
            .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()));
        match address {
            Ok(a) if is_trusted(a) => continue,
            Ok(a) => return a,
            Err(_) => return peer,
        }
    }
    peer
}

async fn class_of(state: &AppState, request: &mut Request) -> Class {
    let role = signed_in_role(state, request).await;
    let method = request.method();
    match role {
        Some(Role::Applicant) => Class::Applicant,
        Some(_) if method == Method::POST && request.uri().path() == "/api/v1/batches" => {
            Class::Batch
        }
        Some(_) => Class::Staff,
        None if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method) => Class::Public,
        None => Class::Anonymous,
    }
}

/// What [`admit`] needs: the state (to tell a signed-in caller) and the places.
#[derive(Clone)]
pub struct Gate {
    pub state: AppState,
    pub admission: Arc<Admission>,
}

/// Admits a request into its class and its address's share, or answers at once: 429 when the
/// address holds all it may, 503 when the class is full. Anonymous requests must be over
/// within their deadline (408).
pub async fn admit(
    State(Gate { state, admission }): State<Gate>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let address = counted_as(client_address(
        peer,
        request.headers(),
        &admission.trusted_proxies,
    ));
    let class = class_of(&state, &mut request).await;
    let places = admission.places(class);
    let Some(_address_place) = admission.per_address.take((address, class), places.share) else {
        refused(&request, Limit::MaxRequestsPerAddress);
        return ServiceError::new(
            ErrorKind::TooManyRequests,
            "too_many_requests",
            "来自同一地址的请求过多，请稍后重试 / too many requests in flight from this address; retry shortly",
        )
        .into_response();
    };
    let Ok(_class_place): Result<OwnedSemaphorePermit, _> =
        Arc::clone(&places.places).try_acquire_owned()
    else {
        refused(&request, class.limit());
        return busy();
    };
    if class != Class::Anonymous {
        return next.run(request).await;
    }
    let deadline = admission.anonymous_deadline;
    let observed = Observed::of(&request);
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            if let Some(observed) = observed {
                observed.refused(Limit::AnonymousRequestTimeout);
            }
            ServiceError::new(
                ErrorKind::Timeout,
                "request_too_slow",
                format!(
                    "请求未在 {} 秒内完成 / an anonymous request must be over within {} s",
                    deadline.as_secs(),
                    deadline.as_secs()
                ),
            )
            .into_response()
        }
    }
}

/// A request whose line and headers take more than `max_header_bytes` is refused with 431,
/// before it is admitted: hyper's read buffer is larger (bodies stream through it), so the
/// bound on headers is kept here. Counted as HTTP/1.1 sends them: `name: value\r\n`.
pub async fn header_bytes(State(max): State<usize>, request: Request, next: Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |p| p.as_str().len());
    let line = request.method().as_str().len() + target + 12;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if line + headers > max {
        return ServiceError::new(
            ErrorKind::HeadersTooLarge,
            "headers_too_large",
            format!("请求头超过 {max} 字节 / the request's headers are over {max} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Any request must be over within `limits.request_timeout_secs`: past it, 408 with no body.
pub async fn request_deadline(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let observed = Observed::of(&request);
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            if let Some(observed) = observed {
                observed.refused(Limit::RequestTimeout);
            }
            StatusCode::REQUEST_TIMEOUT.into_response()
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body sent less than {0} bytes in {1:?}")]
struct TooSlow(u64, Duration);

/// The slowest a body may arrive: at least `bytes` in every `window`.
#[derive(Debug, Clone, Copy)]
pub struct BodyRate {
    bytes: u64,
    window: Duration,
}

impl BodyRate {
    pub fn new(limits: &Limits) -> Self {
        let window = Duration::from_secs(limits.body_rate_window_secs.max(1));
        Self {
            bytes: limits.body_min_bytes_per_sec * window.as_secs(),
            window,
        }
    }
}

/// Where a body stands against its [`BodyRate`]: how long the server has waited for it in
/// the window under way, and what it brought. Only time spent waiting counts: a handler busy
/// elsewhere (a slow disk, a full pool) is not the client's slowness.
struct Pace {
    chunks: futures_util::stream::BoxStream<'static, Result<axum::body::Bytes, axum::Error>>,
    waited: Duration,
    received: u64,
}

/// Wraps the request body so that a body sending less than the minimum in any window of
/// waiting fails (one sending nothing at all included); whatever the handler answered then,
/// the client gets 408. Every route that reads a body is covered, the public forms and the
/// console's sign-in included.
pub async fn body_min_rate(State(rate): State<BodyRate>, request: Request, next: Next) -> Response {
    let observed = Observed::of(&request);
    let too_slow = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&too_slow);
    let request = request.map(|body| {
        let pace = Pace {
            chunks: body.into_data_stream().boxed(),
            waited: Duration::ZERO,
            received: 0,
        };
        let chunks = futures_util::stream::unfold(Some(pace), move |state| {
            let flag = Arc::clone(&flag);
            async move {
                let mut pace = state?;
                loop {
                    let started = Instant::now();
                    let left = rate.window.saturating_sub(pace.waited);
                    let next = tokio::time::timeout(left, pace.chunks.next()).await;
                    pace.waited += started.elapsed();
                    let chunk = match next {
                        Ok(Some(chunk)) => Some(chunk),
                        Ok(None) => return None,
                        Err(_) => None,
                    };
                    if let Some(Ok(bytes)) = &chunk {
                        pace.received += bytes.len() as u64;
                    }
                    if pace.waited >= rate.window {
                        if pace.received < rate.bytes {
                            flag.store(true, Ordering::SeqCst);
                            let error = axum::Error::new(TooSlow(rate.bytes, rate.window));
                            return Some((Err(error), None));
                        }
                        pace.waited = Duration::ZERO;
                        pace.received = 0;
                    }
                    if let Some(chunk) = chunk {
                        return Some((chunk, Some(pace)));
                    }
                }
            }
        })
        .fuse();
        Body::from_stream(chunks)
    });
    let response = next.run(request).await;
    if too_slow.load(Ordering::SeqCst) {
        if let Some(observed) = observed {
            observed.refused(Limit::BodyMinBytesPerSec);
        }
        return ServiceError::new(
            ErrorKind::Timeout,
            "body_too_slow",
            format!(
                "请求内容传输过慢（{} 秒内少于 {} 字节）/ the request body sent less than {} bytes in {} s",
                rate.window.as_secs(),
                rate.bytes,
                rate.bytes,
                rate.window.as_secs()
            ),
        )
        .into_response();
    }
    response
}

/// The body's length as its `Content-Length` declares it.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Bodies this small are read whole before the handler runs.
const SMALL_BODY: u64 = 64 << 10;

/// Reads a small body (declared at most [`SMALL_BODY`]) whole before the handler runs, within
/// the memory budget. A handler that refuses a request without reading its body (401, 403,
/// 404) then still answers one whose body has arrived: otherwise the connection is closed on
/// a client that is still sending, the kernel resets it, and the client may lose the answer.
pub async fn read_small_bodies(
    State(budget): State<MemoryBudget>,
    request: Request,
    next: Next,
) -> Response {
    let Some(length) = declared_length(request.headers()).filter(|&l| l > 0 && l <= SMALL_BODY)
    else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let held = match read_limited(body.into_data_stream(), length as usize, &budget).await {
        Ok(held) => held,
        Err(e) => return ServiceError::body(e, "request").into_response(),
    };
    let (bytes, _share) = held.into_parts();
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Refuses at once (413) a request whose declared `Content-Length` is over `limit`, before
/// any of its body is read or a place is held waiting for it.
pub async fn declared_length_within(
    State(limit): State<u64>,
    request: Request,
    next: Next,
) -> Response {
    if declared_length(request.headers()).is_some_and(|length| length > limit) {
        return ServiceError::too_large(format!(
            "请求体超过 {limit} 字节 / the request body is over {limit} bytes"
        ))
        .into_response();
    }
    next.run(request).await
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
        Err(_) => {
            refused(&request, Limit::VerifyUploads);
            busy()
        }
    }
}

/// The answer when the service is at its limit of requests in flight (`LoadShed` refused).
pub async fn overloaded(_: tower::BoxError) -> Response {
    busy()
}

fn busy() -> Response {
    ServiceError::new(
        ErrorKind::Unavailable,
        "busy",
        "服务繁忙，请稍后重试 / the service is at its limit of requests in flight; retry shortly",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_last_untrusted_forwarded_address() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.7, 10.0.0.1"),
        );
        assert_eq!(client_address(proxy, &headers, &[proxy]), client);
        // A peer that is not trusted is believed about nothing.
        assert_eq!(client_address(client, &headers, &[proxy]), client);
        // Nothing usable forwarded: the proxy itself.
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn an_address_holds_at_most_its_places_and_is_forgotten_when_it_holds_none() {
        let counts = Arc::new(AddressCounts::default());
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let first = counts.take(a, 2).unwrap();
        let second = counts.take(a, 2).unwrap();
        assert!(counts.take(a, 2).is_none());
        assert!(counts.take("127.0.0.3".parse().unwrap(), 2).is_some());
        drop(first);
        assert!(counts.take(a, 2).is_some());
        drop(second);
        assert!(counts.0.lock().unwrap().is_empty());
    }
}
