//! The service catalogue over JSON: public reads, admin edits (each a new version).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::{AppJson, AppPath, AppQuery};
use crate::domain::actor::Actor;
use crate::domain::catalogue::{ServiceItem, ServiceSpec};
use crate::routes::state::AppState;
use crate::service::{ServiceError, catalogue};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, put))
}

/// 事项目录 / The service catalogue.
#[utoipa::path(
    get,
    path = "/services",
    tag = "catalogue",
    responses((status = 200, description = "全部事项 / every item", body = [ServiceItem]))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<ServiceItem>>, ServiceError> {
    Ok(Json(catalogue::list(&state).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    /// 某一历史版本；缺省为当前版本 / an earlier version; the current one if absent
    version: Option<u32>,
}

/// 一个事项的办事指南 / One item of the catalogue: its materials, time limit, fee.
#[utoipa::path(
    get,
    path = "/services/{code}",
    tag = "catalogue",
    params(("code" = String, Path, description = "事项编码 / the item's code"), VersionQuery),
    responses((status = 200, description = "事项 / the item", body = ServiceItem))
)]
async fn read(
    State(state): State<AppState>,
    AppPath(code): AppPath<String>,
    AppQuery(query): AppQuery<VersionQuery>,
) -> Result<Json<ServiceItem>, ServiceError> {
    Ok(Json(catalogue::get(&state, &code, query.version).await?))
}

/// 修订事项（生成新版本） / A new version of an item (admin).
#[utoipa::path(
    put,
    path = "/services/{code}",
    tag = "catalogue",
    params(("code" = String, Path, description = "事项编码 / the item's code")),
    request_body = ServiceSpec,
    security(("bearer" = [])),
    responses((status = 200, description = "新版本 / the new version", body = ServiceItem))
)]
async fn put(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(code): AppPath<String>,
    AppJson(spec): AppJson<ServiceSpec>,
) -> Result<Json<ServiceItem>, ServiceError> {
    Ok(Json(catalogue::put(&state, &caller, &code, spec).await?))
}
