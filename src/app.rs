//! The service's state and its start-up: everything a handler may use, built once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::{RwLock, Semaphore};
use tower::limit::ConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::pages::Pages;
use crate::render::Fonts;
use crate::sessions::Sessions;
use crate::signing::{KeyRing, load_or_create};
use crate::store::{MaterialFiles, Store};
use crate::templates::Templates;

/// Shared by every handler. Cloning is cheap: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub files: MaterialFiles,
    pub templates: Arc<Templates>,
    /// Parsed once: parsing the CJK font costs tens of milliseconds.
    pub fonts: Arc<Fonts>,
    /// PDF renderings running at once, one per core: past that they only queue in tokio's
    /// blocking pool, where uploads' file operations would wait behind them.
    pub render_slots: Arc<Semaphore>,
    /// Exactly one active key signs; a rotation swaps it under the write lock, so an issuance
    /// signs with one key or the other, never a mix.
    pub keys: Arc<RwLock<KeyRing>>,
    pub pages: Arc<Pages>,
    /// Base of verification URLs, without a trailing slash.
    pub public_url: Arc<str>,
    /// Window-console sign-ins, in memory only (see `crate::sessions`).
    pub sessions: Arc<Sessions>,
}

impl AppState {
    /// Opens the store and loads templates. Fails with one clear line if the store is held.
    pub async fn open(settings: Settings, public_url: String) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data)
            .with_context(|| format!("creating data directory {}", settings.data.display()))?;
        let store = Store::open(&settings.data)?;
        let files = MaterialFiles::open(&settings.data).context("opening material files")?;
        let templates = Templates::load(&settings.templates_dir)?;
        let keys = load_or_create(&store, &settings.keys_dir(), settings.mode).await?;
        let pages = Pages::load(&settings.templates_dir)?;
        let fonts = Fonts::embedded().context("loading the certificate font")?;
        let public_url = public_url.trim_end_matches('/').to_owned();
        let longest_link =
            crate::issuance::check_link_capacity(&public_url, &settings.issuer, &templates)?;
        crate::issuance::check_printable_text(&fonts, "issuer.name", &settings.issuer.name)
            .map_err(|e| {
                anyhow::anyhow!(
                    "the configured issuer name cannot be printed: {}",
                    e.message
                )
            })?;
        tracing::debug!(longest_link, "every verification link fits the QR code");
        Ok(Self {
            settings: Arc::new(settings),
            store,
            files,
            templates: Arc::new(templates),
            fonts: Arc::new(fonts),
            render_slots: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            keys: Arc::new(RwLock::new(keys)),
            pages: Arc::new(pages),
            public_url: public_url.into(),
            sessions: Arc::new(Sessions::default()),
        })
    }
}

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
