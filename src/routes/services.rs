//! The service catalogue over JSON: public reads, admin edits (each a new version).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::json::{AppJson, AppPath, AppQuery};
use crate::domain::actor::Actor;
use crate::domain::catalogue::{ServiceItem, ServiceSpec};
use crate::routes::state::AppState;
use crate::service::{ServiceError, catalogue};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/services", get(list))
        .route("/services/{code}", get(read).put(put))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<ServiceItem>>, ServiceError> {
    Ok(Json(catalogue::list(&state)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    version: Option<u32>,
}

async fn read(
    State(state): State<AppState>,
    AppPath(code): AppPath<String>,
    AppQuery(query): AppQuery<VersionQuery>,
) -> Result<Json<ServiceItem>, ServiceError> {
    Ok(Json(catalogue::get(&state, &code, query.version)?))
}

async fn put(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(code): AppPath<String>,
    AppJson(spec): AppJson<ServiceSpec>,
) -> Result<Json<ServiceItem>, ServiceError> {
    Ok(Json(catalogue::put(&state, &caller, &code, spec).await?))
}
