//! The service's metrics as a scrape reads them: what was recorded as it happened
//! (`crate::metrics`), and what is read at that moment: the active key's age, the batches
//! running and their lines, the store failures and the memory budget's refusals.

use chrono::Utc;

use super::batch::KEPT_BATCHES;
use super::error::store_errors;
use super::{ServiceError, Services};
use crate::body::MemoryBudget;
use crate::domain::Role;
use crate::domain::actor::Actor;
use crate::metrics::{BatchLines, Scraped};

/// The metrics in the Prometheus text format (an admin).
pub async fn scrape(
    services: &Services,
    actor: &Actor,
    memory: &MemoryBudget,
) -> Result<String, ServiceError> {
    actor.require(&[Role::Admin])?;
    exposition(services, memory).await
}

/// The metrics in the Prometheus text format, for whoever reaches the metrics listener
/// (`metrics_listen`): its address is its only guard.
pub async fn exposition(
    services: &Services,
    memory: &MemoryBudget,
) -> Result<String, ServiceError> {
    let signing_key_age = {
        let ring = services.keys.read().await;
        ring.active()
            .and_then(|(kid, _)| ring.find(kid))
            .map(|key| key.record.activated_at.unwrap_or(key.record.created_at))
    }
    // A key activated a moment "later" than now (the clock stepped back) is new.
    .map(|since| (Utc::now() - since).to_std().unwrap_or_default());
    let mut batches_running = 0;
    let mut batch_lines = BatchLines::default();
    // Every node's batches (the store's); a store that does not answer shows none.
    let batches = services
        .store
        .latest_batches(KEPT_BATCHES)
        .await
        .unwrap_or_default();
    for batch in batches {
        if batch.finished_at.is_none() {
            batches_running += 1;
            batch_lines.pending += batch.total.saturating_sub(batch.done()) as u64;
            batch_lines.issued += batch.issued as u64;
            batch_lines.already_issued += batch.already_issued as u64;
            batch_lines.failed += batch.failed as u64;
        }
    }
    services
        .metrics
        .encode(&Scraped {
            signing_key_age,
            batches_running,
            batch_lines,
            store_errors: store_errors(),
            memory_refusals: memory.refusals(),
        })
        .map_err(ServiceError::internal)
}
