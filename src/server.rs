//! Wiring: builds the state and the router, binds, and serves until asked to stop.

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::routes::state::AppState;

pub fn build_router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);
    let concurrency = state.settings.max_concurrent_requests;
    crate::routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::routes::render_html_errors,
        ))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(ConcurrencyLimitLayer::new(concurrency))
        .layer(TraceLayer::new_for_http())
}

/// Binds, prints `listening on http://ADDR` as the first line of standard output, and serves
/// until SIGTERM or Ctrl-C, finishing requests in flight.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let state = AppState::open(settings, public_url).await?;
    // Listen for SIGTERM before announcing the address: whoever stops the service right after
    // reading the line (a supervisor, a test) must get a graceful stop, not the default kill.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tracing::info!(%addr, public_url = %state.public_url, "serving");
    let router = build_router(state);
    println!("listening on http://{addr}");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal(term))
        .await
        .context("serving")?;
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
