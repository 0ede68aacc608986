//! 二维码查询服务指南: `/guide` lists the services an applicant applies for (not the items
//! that are steps of another), `/guide/{code}` is one item's guide built
//! for a phone, and `/guide/{code}/qr.svg|png` the QR code that opens it, for posters and
//! counters. Pages are never cached, so an edit of the catalogue shows at the next scan.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::html::{HtmlError, with_page_headers};
use crate::routes::state::AppState;
use crate::service::{ServiceError, catalogue};

pub fn router() -> Router<AppState> {
    with_page_headers(
        Router::new()
            .route("/guide", get(index))
            .route("/guide/{code}", get(page))
            .route("/guide/{code}/qr.svg", get(qr_svg))
            .route("/guide/{code}/qr.png", get(qr_png)),
    )
}

const NO_CACHE: (axum::http::HeaderName, &str) = (CACHE_CONTROL, "no-cache");

fn code(path: Result<Path<String>, PathRejection>) -> Result<String, HtmlError> {
    path.map(|Path(c)| c)
        .map_err(|_| HtmlError::new(StatusCode::NOT_FOUND, "页面不存在 / no such page"))
}

async fn index(State(state): State<AppState>) -> Result<Response, HtmlError> {
    let items = catalogue::services_to_apply_for(&state).await?;
    let html = state
        .pages
        .render("guide_index.html", json!({ "items": items }))
        .map_err(ServiceError::internal)?;
    Ok(([NO_CACHE], Html(html)).into_response())
}

async fn page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let item = catalogue::get(&state, &code(path)?, None).await?;
    let service = catalogue::service_of(&state, &item).await?;
    let url = catalogue::guide_url(&state, &item.code);
    let html = state
        .pages
        .render(
            "guide.html",
            json!({ "item": item, "service": service, "url": url }),
        )
        .map_err(ServiceError::internal)?;
    Ok(([NO_CACHE], Html(html)).into_response())
}

async fn qr_svg(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let svg = catalogue::guide_qr_svg(&state, &code(path)?).await?;
    Ok(([(CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

async fn qr_png(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let png = catalogue::guide_qr_png(&state, &code(path)?).await?;
    Ok(([(CONTENT_TYPE, "image/png")], png).into_response())
}
