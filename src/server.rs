//! Wiring: builds the state and the router, binds, and serves until asked to stop.

use std::convert::Infallible;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::config::Settings;
use crate::routes::limits;
use crate::routes::state::AppState;

/// The whole service as one tower service: the router with its per-request layers, behind
/// one limit of requests in flight shared by every route (past it: 503 with `Retry-After`).
pub fn build_app(state: AppState) -> BoxCloneSyncService<Request, Response, Infallible> {
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);
    let idle = Duration::from_secs(state.settings.body_idle_timeout_secs);
    let concurrency = state.settings.max_concurrent_requests;
    let router: Router = crate::routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::routes::render_html_errors,
        ))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            idle,
            limits::body_idle_timeout,
        ))
        // A 5xx is logged where it arises (an internal error, with its cause); at error level
        // here, every 503 of a load-shedding burst would be a log line, feeding the flood.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        );
    let service = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(limits::overloaded))
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::new(concurrency))
        .service(router);
    BoxCloneSyncService::new(service)
}

/// Binds, prints `listening on http://ADDR` as the first line of standard output, and serves
/// until SIGTERM or Ctrl-C, finishing requests in flight.
///
/// Connections are served by hyper directly (not `axum::serve`) so that a client sending its
/// request headers slowly is cut off after `header_read_timeout_secs`.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let header_timeout = Duration::from_secs(settings.header_read_timeout_secs);
    let state = AppState::open(settings, public_url).await?;
    // Listen for SIGTERM before announcing the address: whoever stops the service right after
    // reading the line (a supervisor, a test) must get a graceful stop, not the default kill.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tracing::info!(%addr, public_url = %state.public_url, "serving");
    let app = build_app(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    println!("listening on http://{addr}");
    let shutdown = shutdown_signal(term);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone().map_request(
            |request: Request<hyper::body::Incoming>| request.map(axum::body::Body::new),
        ));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    tracing::info!("stopped");
    Ok(())
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
