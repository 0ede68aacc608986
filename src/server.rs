//! Wiring: builds the state and the router, binds, and serves until asked to stop.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::util::{BoxCloneSyncService, MapRequestLayer};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::config::Settings;
use crate::metrics::Limit;
use crate::routes::limits::{self, AddressCounts, AddressPlace};
use crate::routes::observe;
use crate::routes::state::AppState;

/// The whole service as one tower service: the router with its per-request layers, behind
/// the admission of each request into its class and its address's share, behind one limit
/// of requests in flight shared by every route (past either: 503 with `Retry-After`). Every
/// request has an `x-request-id` (the client's, if usable, else a new UUID) before any of
/// that runs, each log line of the request names it, and the response carries it back. The
/// metrics see every request from there on (`routes::observe`).
pub fn build_app(state: AppState) -> BoxCloneSyncService<Request, Response, Infallible> {
    let limits = &state.settings.limits;
    let timeout = Duration::from_secs(limits.request_timeout_secs);
    let rate = limits::BodyRate::new(limits);
    let concurrency = limits.max_concurrent_requests;
    let max_header_bytes = limits.max_header_bytes;
    let memory = state.memory.clone();
    let metrics = Arc::clone(&state.metrics);
    let shed = Arc::clone(&metrics);
    let gate = limits::Gate {
        admission: Arc::new(limits::Admission::new(&state.settings)),
        state: state.clone(),
    };
    let pages = state.clone();
    // `Router::layer`s run once the route is found, the last added first.
    let router: Router = crate::routes::router()
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            limits::request_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            memory,
            limits::read_small_bodies,
        ))
        .layer(axum::middleware::from_fn_with_state(
            rate,
            limits::body_min_rate,
        ))
        .layer(axum::middleware::from_fn_with_state(gate, limits::admit))
        .layer(axum::middleware::from_fn_with_state(
            max_header_bytes,
            limits::header_bytes,
        ))
        // Outside the limits, so that their refusals (429, 503, 408, 413) take the last
        // shape of every error too: JSON or a page, with the request's id.
        .layer(axum::middleware::from_fn_with_state(
            pages,
            crate::routes::render_html_errors,
        ))
        // A 5xx is logged where it arises (an internal error, with its cause); at error level
        // here, every 503 of a load-shedding burst would be a log line, feeding the flood.
        // The span is at info level so that its request id is on every line the service logs
        // at info; the path without its query, which may carry what a form sent.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    tracing::info_span!(
                        "request",
                        request_id = request_id(request),
                        method = %request.method(),
                        path = request.uri().path(),
                    )
                })
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(axum::middleware::from_fn(observe::note_route));
    let service = ServiceBuilder::new()
        .layer(MapRequestLayer::new(drop_unusable_request_id))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            observe::record,
        ))
        .layer(HandleErrorLayer::new(move |error| {
            shed.refused(Limit::MaxConcurrentRequests);
            limits::overloaded(error)
        }))
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::new(concurrency))
        .service(router);
    BoxCloneSyncService::new(service)
}

const REQUEST_ID: &str = "x-request-id";
/// The longest request id a client may choose.
const MAX_REQUEST_ID: usize = 64;

/// The request's id, as [`SetRequestIdLayer`] left it.
fn request_id(request: &Request) -> &str {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default()
}

/// A reverse proxy's request id is kept, so that its logs and ours meet; one that is long or
/// holds anything but letters, digits and `-_.:` is dropped (a new one is made), since it
/// is written into every log line and echoed in error bodies, where it could pose as
/// something else.
fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|id| {
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// Binds, prints `listening on http://ADDR` as the first line of standard output, and serves
/// until SIGTERM or Ctrl-C, finishing requests in flight. With `metrics_listen`, serves
/// `GET /metrics` there too, without a token (see [`serve_metrics`]).
///
/// Connections are served by hyper directly (not `axum::serve`), HTTP/1.1 only, so that each
/// is held to the limits: a connection with no request (or unfinished headers) for
/// `header_read_timeout_secs` is closed, its read buffer is at most `read_buffer_bytes`
/// (headers past `max_header_bytes` are refused with 431 by `limits::header_bytes`), and past
/// `max_connections` (in all, or from one address) a new one is told 503 and closed.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let metrics_listener = match settings.metrics_listen {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .with_context(|| format!("binding metrics_listen {address}"))?,
        ),
        None => None,
    };
    let addr = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let connections = Arc::new(Connections::new(&settings));
    let header_timeout = Duration::from_secs(settings.limits.header_read_timeout_secs);
    let read_buffer = (settings.limits.read_buffer_bytes)
        .max(settings.limits.max_header_bytes)
        .max(MIN_READ_BUFFER);
    let state = AppState::open(settings, public_url).await?;
    // Listen for SIGTERM before announcing the address: whoever stops the service right after
    // reading the line (a supervisor, a test) must get a graceful stop, not the default kill.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tracing::info!(
        %addr,
        public_url = %state.public_url,
        max_connections = connections.max_total,
        "serving"
    );
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(read_buffer);
    if let Some(listener) = metrics_listener {
        tracing::info!(addr = %listener.local_addr()?, "serving metrics");
        let router = crate::routes::metrics_listener().with_state(state.clone());
        tokio::spawn(serve_metrics(listener, router, builder.clone()));
    }
    let metrics = Arc::clone(&state.metrics);
    tokio::spawn(crate::service::keys::keep_current(
        Arc::clone(&state.store),
        Arc::clone(&state.custody),
        Arc::clone(&state.keys),
    ));
    tokio::spawn(crate::service::sessions::keep_tidy(Arc::clone(
        &state.store,
    )));
    tokio::spawn(crate::service::batch::keep_going(state.services.clone()));
    let app = build_app(state);
    tokio::spawn(give_back_freed_memory());
    let full = connections_full();
    let graceful = GracefulShutdown::new();
    println!("listening on http://{addr}");
    let shutdown = shutdown_signal(term);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors after all: wait for some to close.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let place = match connections.admit(peer.ip()) {
            Ok(place) => place,
            Err(limit) => {
                metrics.refused(limit);
                // Best effort: a client that is told why may come back later; one whose
                // buffer is full is simply closed.
                let _ = stream.try_write(&full);
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone().map_request(
            move |request: Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(place);
        });
    }
    drop(listener);
    // A client that never reads its answer, or an upload at its slowest, would hold the stop
    // for ever: after this long the rest are cut.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "connections still open at the end of the grace period were cut"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Connections the metrics listener serves at once: a scraper or two, and whoever looks.
const METRICS_CONNECTIONS: usize = 8;

/// Serves the metrics listener (`metrics_listen`) until the process ends: its one route,
/// without a token, on connections held to the service's header timeout and read buffer, at
/// most [`METRICS_CONNECTIONS`] at once (past them a new one is closed). Its address is its
/// only guard: a private one (loopback, a management network), never the public's.
async fn serve_metrics(listener: TcpListener, router: Router, builder: http1::Builder) {
    let places = Arc::new(Semaphore::new(METRICS_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a metrics connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            continue;
        };
        let service = TowerToHyperService::new(router.clone().map_request(
            |request: Request<hyper::body::Incoming>| request.map(axum::body::Body::new),
        ));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
            drop(place);
        });
    }
}

/// How long a stop waits for the requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// hyper's smallest read buffer.
const MIN_READ_BUFFER: usize = 8 << 10;

/// What a connection past the limits is told before it is closed: the API's error shape.
fn connections_full() -> Vec<u8> {
    let body = serde_json::json!({"error": {
        "code": "busy",
        "message": "连接过多，请稍后重试 / too many connections; retry shortly",
    }})
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The connections open now, in all and from each address.
struct Connections {
    max_total: usize,
    max_per_address: usize,
    total: Arc<AtomicUsize>,
    per_address: Arc<AddressCounts>,
    trusted_proxies: Vec<IpAddr>,
}

/// One open connection's place, given back when it closes.
struct ConnectionPlace {
    total: Arc<AtomicUsize>,
    _address: Option<AddressPlace>,
}

impl Drop for ConnectionPlace {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connections {
    /// Raises the file-descriptor limit to the hard limit and keeps `max_connections` under
    /// three quarters of it: the store, material files and logs need the rest.
    fn new(settings: &Settings) -> Self {
        let descriptors = raise_file_limit();
        let max_total = settings
            .limits
            .max_connections
            .min(usize::try_from(descriptors / 4 * 3).unwrap_or(usize::MAX));
        Self {
            max_total,
            max_per_address: settings.limits.max_connections_per_address,
            total: Arc::default(),
            per_address: Arc::default(),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// A place for a connection from `peer`, or the limit that leaves it none. A trusted
    /// proxy carries many clients and is held only to the total.
    fn admit(&self, peer: IpAddr) -> Result<ConnectionPlace, Limit> {
        let peer = peer.to_canonical();
        let address = if self
            .trusted_proxies
            .iter()
            .any(|t| t.to_canonical() == peer)
        {
            None
        } else {
            Some(
                self.per_address
                    .take(limits::counted_as(peer), self.max_per_address)
                    .ok_or(Limit::MaxConnectionsPerAddress)?,
            )
        };
        if self.total.fetch_add(1, Ordering::SeqCst) >= self.max_total {
            self.total.fetch_sub(1, Ordering::SeqCst);
            return Err(Limit::MaxConnections);
        }
        Ok(ConnectionPlace {
            total: Arc::clone(&self.total),
            _address: address,
        })
    }
}

/// How often memory freed by the allocator is handed back to the system.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Hands memory that requests freed back to the system, every [`TRIM_EVERY`]. glibc keeps
/// freed memory in its arenas for reuse and returns only what lies at the top of a heap: after
/// a burst of uploads (hundreds of MiB of body chunks, freed in no order) the process would
/// stay at its peak for good. `malloc_trim` releases every free page of every arena; it runs
/// on the blocking pool so that no request waits for it.
async fn give_back_freed_memory() {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointer.
        let trimmed = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        if trimmed.is_err() {
            return;
        }
    }
}

/// Sets the soft limit of open files to the hard limit; answers the limit now in force.
fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one struct passed; a failure leaves
    // the limit as it was, which is then what is answered.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            limit = raised;
        }
    }
    limit.rlim_cur
}

async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        term.recv().await;
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
