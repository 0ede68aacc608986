//! `GET /backup` (admin): a consistent backup of the running service as a tar stream.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::{ServiceError, backup};

/// 备份（管理员） / A backup of the running service (admin).
///
/// A tar of the records as of one instant between writes (writes wait while they are
/// copied), the signing keys and every material file the records name, ending with
/// `manifest.json` (each file's size and SHA-256). A stream that breaks off ends without its
/// manifest, so it cannot pass for a whole backup. `onetrip backup --server URL` writes one
/// into a directory; `onetrip restore` checks it and makes a data directory of it.
#[utoipa::path(
    get,
    path = "/backup",
    tag = "administration",
    security(("bearer" = [])),
    responses((status = 200, description = "tar 流，最后是 manifest.json / a tar stream ending with manifest.json", content_type = "application/x-tar"))
)]
pub async fn backup(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Response, ServiceError> {
    let snapshot = backup::take(
        &*state.store,
        &state.files,
        &state.settings.keys_dir(),
        &caller,
    )
    .await?;
    let disposition = format!("attachment; filename=\"{}\"", snapshot.file_name());
    let writes_waited = snapshot.writes_waited();
    let metrics = state.metrics.clone();
    let (mut out, receiver) = backup::pipe();
    tokio::task::spawn_blocking(move || match snapshot.write_tar(&mut out) {
        Ok(manifest) => {
            tracing::info!(
                files = manifest.files.len(),
                bytes = manifest.files.iter().map(|f| f.size).sum::<u64>(),
                "backup sent"
            );
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            metrics.backup_sent(now.as_secs_f64(), writes_waited);
        }
        Err(e) => {
            tracing::warn!(error = %e, "backup broken off");
            metrics.backup_broken_off();
            out.fail(e);
        }
    });
    let blocks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let block = receiver.recv().await?.map(Bytes::from);
        Some((block, receiver))
    });
    Ok((
        [
            (CONTENT_TYPE, "application/x-tar".to_owned()),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(blocks),
    )
        .into_response())
}
