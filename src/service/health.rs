//! Whether the service can answer: the store is read through the engine, and the material
//! files can be written (an upload would not fail for a full disk).

use super::{ErrorKind, ServiceError, Services};

pub async fn check(services: &Services) -> Result<(), ServiceError> {
    services.store.ping().await.map_err(|e| {
        tracing::error!(error = %e, "health check: store does not answer");
        ServiceError::new(
            ErrorKind::Unavailable,
            "store_unavailable",
            format!("存储不可用 / the store does not answer: {e}"),
        )
    })?;
    services.files.ping().map_err(|e| {
        tracing::error!(error = %e, "health check: material files cannot be written");
        e.into()
    })
}
