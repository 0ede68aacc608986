use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::routes::state::AppState;
use crate::service::{ServiceError, status_list};

/// 签名的状态列表 / The signed status list, for offline verification.
///
/// A compact JWS, public. Caches may keep it a minute and then revalidate with its ETag (304 when unchanged), so a revocation reaches them within a
/// minute while a crowd of verifiers costs one signed list.
#[utoipa::path(
    get,
    path = "/.well-known/status-list",
    tag = "verification",
    params(("If-None-Match" = Option<String>, Header, description = "上次得到的 ETag / the ETag last received")),
    responses(
        (status = 200, description = "签名的状态列表（JWS 紧凑格式，EdDSA） / the signed status list, a compact JWS (EdDSA)", content_type = "application/jwt"),
        (status = 304, description = "未变 / unchanged")
    )
)]
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
