//! `PUT /submissions/{id}/materials/{name}`: the raw body is the file, streamed to disk
//! through SHA-256 and never held in memory.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;

use super::json::AppPath;
use super::limits::declared_length;
use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::submissions::{self, Uploaded};

#[tracing::instrument(skip_all, fields(caller = %caller.label(), submission = %id))]
/// 上传一份材料（请求体即文件） / Upload a material: the body is the file.
#[utoipa::path(
    put,
    path = "/submissions/{id}/materials/{name}",
    tag = "submissions",
    params(
        ("id" = String, Path, description = "申报编号 / the submission's id"),
        ("name" = String, Path, description = "材料名称（申报所列） / the material's name, as the submission lists it")
    ),
    request_body(content_type = "application/octet-stream", content = Vec<u8>, description = "文件本身 / the file itself"),
    security(("bearer" = [])),
    responses((status = 200, description = "已上传：服务器计算的 SHA-256 / stored, with the SHA-256 the server computed", body = Uploaded))
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: Actor,
    AppPath((id, name)): AppPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Uploaded>, ServiceError> {
    let declared = declared_length(&headers);
    let uploaded = submissions::upload(
        &state,
        &caller,
        &id,
        &name,
        declared,
        body.into_data_stream(),
    )
    .await?;
    Ok(Json(uploaded))
}
