//! The latest batches, each with its progress bar; a running batch's page
//! refreshes itself until it finishes.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{SignedIn, render};
use crate::routes::html::HtmlError;
use crate::routes::state::AppState;
use crate::service::batch::{self, BatchState};

pub async fn list(State(state): State<AppState>, who: SignedIn) -> Result<Response, HtmlError> {
    let batches = batch::list(&state, &who.actor).await?;
    let running = batches.iter().any(|b| b.state == BatchState::Running);
    render(
        &state,
        &who,
        "console_batches.html",
        json!({ "batches": batches, "running": running }),
    )
    .await
}

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let Path(id) =
        id.map_err(|_| HtmlError::new(StatusCode::NOT_FOUND, "页面不存在 / no such page"))?;
    let progress = batch::progress(&state, &who.actor, &id).await?;
    render(
        &state,
        &who,
        "console_batch.html",
        json!({ "batch": progress }),
    )
    .await
}
