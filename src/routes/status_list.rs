use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::routes::state::AppState;
use crate::service::{ServiceError, status_list};

/// The signed status list (public), as a compact JWS. Caches may keep it a minute and then
/// revalidate with its ETag (304 when unchanged), so a revocation reaches them within a
/// minute while a crowd of verifiers costs one signed list.
pub async fn status_list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let list = status_list::current(&state).await?;
    let cache = [
        (CACHE_CONTROL, "public, max-age=60".to_owned()),
        (ETAG, list.etag.clone()),
    ];
    let unchanged = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == list.etag || tag.trim() == "*");
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((cache, [(CONTENT_TYPE, "application/jwt")], list.jws.clone()).into_response())
}
