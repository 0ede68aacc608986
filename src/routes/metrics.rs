//! `GET /metrics`: the service's metrics in the Prometheus text format, for an admin token on
//! the service's own address, and for anyone who reaches the metrics listener
//! (`metrics_listen`), whose address is its guard.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::domain::actor::Actor;
use crate::routes::state::AppState;
use crate::service::{ServiceError, metrics};

/// 运行指标 / The service's metrics in the Prometheus text format (admin).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain"))
)]
pub async fn scrape(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Response, ServiceError> {
    let text = metrics::scrape(&state, &caller, &state.memory).await?;
    Ok(exposition(text))
}

/// The metrics listener's answer: no token asked.
pub async fn open(State(state): State<AppState>) -> Result<Response, ServiceError> {
    let text = metrics::exposition(&state, &state.memory).await?;
    Ok(exposition(text))
}

/// Each scrape reads the values of its moment: never stored.
fn exposition(text: String) -> Response {
    (
        [
            (CONTENT_TYPE, crate::metrics::CONTENT_TYPE),
            (CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}
