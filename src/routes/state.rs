//! What every handler gets: the use-cases' collaborators, the HTML pages and the budget of
//! request bodies held in memory.

use std::ops::Deref;
use std::sync::Arc;

use crate::body::MemoryBudget;
use crate::config::Settings;
use crate::pages::Pages;
use crate::service::Services;

/// Shared by every handler. Cloning is cheap: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub pages: Arc<Pages>,
    /// Request bodies held in memory, all routes together (`limits.max_buffered_body_bytes`).
    pub memory: MemoryBudget,
}

impl AppState {
    pub async fn open(settings: Settings, public_url: String) -> anyhow::Result<Self> {
        let pages = Pages::load(settings.templates_dir.as_deref())?;
        let memory = MemoryBudget::new(settings.limits.max_buffered_body_bytes);
        Ok(Self {
            services: Services::open(settings, public_url).await?,
            pages: Arc::new(pages),
            memory,
        })
    }
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}
