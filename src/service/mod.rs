//! The use-cases: one function per thing a user does (file a submission, check it at the
//! window, decide an item, issue, verify, rotate a key…). Each takes the caller as a typed
//! [`Actor`](crate::domain::actor::Actor) where it matters, the inputs as domain types and the
//! [`Services`] it needs; it authorizes inside and answers a [`ServiceError`], never HTTP.
//! The JSON API, the window console and the CLI are adapters over these functions.

pub mod auth;
pub mod backup;
pub mod batch;
pub mod calendar;
pub mod catalogue;
pub mod certificates;
mod changes;
mod error;
pub mod health;
pub mod issuance;
pub mod keys;
pub mod lifecycle;
pub mod metrics;
pub mod preview;
pub mod sessions;
pub mod status_list;
pub mod store_copy;
mod submission_view;
pub mod submissions;
pub mod tokens;
pub mod verdict;
pub mod verification;

pub use error::{ErrorKind, ServiceError, submission_not_found};

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{RwLock, Semaphore};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::render::Fonts;
use crate::signing::{Custody, KeyRing};
use crate::store::{Location, MaterialFiles, Store};
use crate::templates::{TemplateFiles, Templates};

/// Creates the data directory if needed and makes it private (0700): a store written by an
/// earlier version, or created under a permissive umask, is closed to other users from here on.
pub fn open_data_dir(data: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(data)
        .with_context(|| format!("creating data directory {}", data.display()))?;
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", data.display()))
}

/// The collaborators the use-cases work with, built once at start-up. Cloning is cheap: every
/// field is a handle.
#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    /// The store port: sled (the embedded default) or PostgreSQL, as `store` says.
    pub store: Arc<dyn Store>,
    pub files: MaterialFiles,
    pub templates: Arc<Templates>,
    /// Parsed once: parsing the CJK font costs tens of milliseconds.
    pub fonts: Arc<Fonts>,
    /// PDF renderings running at once, one per core: past that they only queue in tokio's
    /// blocking pool, where uploads' file operations would wait behind them.
    pub render_slots: Arc<Semaphore>,
    /// Uploaded PDFs read for their QR code at once, one per core. A reading holds its place
    /// until it ends, even when the client that sent the file has gone.
    pub pdf_readings: Arc<Semaphore>,
    /// Exactly one active key signs; a rotation swaps it under the write lock, so an issuance
    /// signs with one key or the other, never a mix.
    pub keys: Arc<RwLock<KeyRing>>,
    /// Where the private halves of the keys are kept: files, or sealed in the store.
    pub custody: Arc<Custody>,
    /// Base of verification URLs, without a trailing slash.
    pub public_url: Arc<str>,
    /// The signed status list last built, and what invalidates it.
    pub status_lists: Arc<status_list::StatusListCache>,
    /// Batches issuing in the background, and the latest finished ones.
    pub batches: Arc<batch::Batches>,
    /// The working-day calendars of the templates (`calendar/`), built in or overriding.
    pub shipped_calendars: Arc<[crate::domain::calendar::YearCalendar]>,
    /// What `/metrics` shows: issuances and verdicts are recorded here as they happen.
    pub metrics: Arc<Metrics>,
    /// The names given to tokens, as pages print them: read from the store at most every
    /// [`tokens::NAMES_FRESH_FOR`], and again at once after this node makes one.
    pub token_names: Arc<tokens::NameCache>,
}

impl Services {
    /// Opens the store and loads templates, keys and the font. Fails with one clear line if
    /// the store is held, or if a verification link could outgrow the QR code.
    pub async fn open(settings: Settings, public_url: String) -> anyhow::Result<Self> {
        let template_files = TemplateFiles::new(settings.templates_dir.as_deref())?;
        open_data_dir(&settings.data)?;
        let location = Location::parse(settings.store.as_deref(), &settings.data)
            .map_err(|e| anyhow::anyhow!(e))?;
        let store = location
            .open()
            .await
            .with_context(|| format!("opening the store ({location})"))?;
        tracing::info!(store = %location, "records");
        let files =
            MaterialFiles::open(&settings.materials_dir()).context("opening material files")?;
        let templates = Templates::load(&template_files)?;
        let seeds = crate::templates::load_services(&template_files)?;
        let added = catalogue::seed(&*store, &seeds)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the service catalogue: {}", e.message))?;
        if added > 0 {
            tracing::info!(added, "service catalogue seeded from templates/services");
        }
        let shipped_calendars = crate::templates::load_calendars(&template_files)?;
        let custody = keys::custody(&settings, &location)?;
        let keys = keys::load_or_create(&*store, &custody, settings.mode).await?;
        let fonts = Fonts::embedded().context("loading the certificate font")?;
        let public_url = public_url.trim_end_matches('/').to_owned();
        let longest_link =
            issuance::check_link_capacity(&public_url, &settings.issuer, &templates)?;
        issuance::check_printable_text(&fonts, "issuer.name", &settings.issuer.name).map_err(
            |e| {
                anyhow::anyhow!(
                    "the configured issuer name cannot be printed: {}",
                    e.message
                )
            },
        )?;
        tracing::debug!(longest_link, "every verification link fits the QR code");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            settings: Arc::new(settings),
            store,
            files,
            templates: Arc::new(templates),
            fonts: Arc::new(fonts),
            render_slots: Arc::new(Semaphore::new(cores)),
            pdf_readings: Arc::new(Semaphore::new(cores)),
            keys: Arc::new(RwLock::new(keys)),
            custody: Arc::new(custody),
            public_url: public_url.into(),
            status_lists: Arc::default(),
            batches: Arc::default(),
            shipped_calendars: shipped_calendars.into(),
            metrics: Arc::default(),
            token_names: Arc::default(),
        })
    }
}
