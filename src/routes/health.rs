use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::routes::error::ErrorResponse;
use crate::routes::state::AppState;
use crate::service::{ServiceError, health};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    status: &'static str,
}

/// 健康检查 / Whether the service can serve.
///
/// 200 when the store answers a read and material files can be written; 503 naming what
/// cannot, and why, otherwise.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses(
        (status = 200, description = "正常 / serving", body = Health),
        (status = 503, description = "存储或材料目录不可写 / the store or the material files cannot be written", body = ErrorResponse)
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ServiceError> {
    health::check(&state).await?;
    Ok(Json(Health { status: "ok" }))
}
