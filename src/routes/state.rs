//! What every handler gets: the use-cases' collaborators, the HTML pages and the budget of
//! request bodies held in memory.

use std::ops::Deref;
use std::sync::Arc;

use crate::body::MemoryBudget;
use crate::config::Settings;
use crate::pages::Pages;
use crate::service::Services;

/// Shared by every handler, and cloned for each request by every extractor and middleware
/// that takes it: one reference count, where cloning [`Services`] touched one per handle
/// (7 % of a verification's time, both cores contending for the same counters).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    pub services: Services,
    pub pages: Pages,
    /// Request bodies held in memory, all routes together (`limits.max_buffered_body_bytes`).
    pub memory: MemoryBudget,
}

impl AppState {
    pub async fn open(settings: Settings, public_url: String) -> anyhow::Result<Self> {
        let pages = Pages::load(settings.templates_dir.as_deref())?;
        let memory = MemoryBudget::new(settings.limits.max_buffered_body_bytes);
        Ok(Self(Arc::new(Shared {
            services: Services::open(settings, public_url).await?,
            pages,
            memory,
        })))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Deref for Shared {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}
