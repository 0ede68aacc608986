//! Every route in one list. Handlers are thin: extract, call a use-case in `service`, map the
//! result. `/` leads to the verification page, the one page for anyone; a path no route has
//! (404) or a method its route does not take (405) is answered like any other error, as JSON
//! or as a page (`html::not_found`, `html::method_not_allowed`).

mod assets;
mod backup;
mod batches;
mod bodies;
mod calendar;
mod caller;
mod certificates;
mod console;
mod decisions;
pub mod error;
mod files;
mod guide;
mod health;
mod html;
mod json;
mod jwks;
mod keys;
pub mod limits;
mod materials;
mod metrics;
mod multipart;
pub mod observe;
mod openapi;
mod services;
pub mod state;
mod status_list;
mod submissions;
mod tokens;
mod verdict;
mod verify;
mod verify_page;
mod window_check;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::get;
use tokio::sync::Semaphore;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::routes::state::AppState;

pub use html::render_html_errors;

/// The routes of the API and of the machines' public documents, each documented by its
/// handler: the server serves them and `/api/v1/openapi.json` describes them, from this one
/// list.
fn api_routes(uploads: Arc<Semaphore>) -> OpenApiRouter<AppState> {
    let api = submissions::router()
        .merge(certificates::router())
        .merge(batches::router())
        .merge(services::router())
        .merge(calendar::router())
        .routes(routes!(materials::upload))
        .routes(routes!(window_check::window_check).layer(DefaultBodyLimit::disable()))
        .routes(routes!(decisions::decide))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(keys::list))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::revoke))
        .routes(routes!(backup::backup))
        .routes(
            routes!(verify::api).layer(axum::middleware::from_fn_with_state(
                uploads,
                limits::verify_upload_place,
            )),
        )
        .routes(routes!(openapi::serve))
        .layer(axum::middleware::from_fn(caller::no_store_for_callers));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(health::healthz))
        .routes(routes!(metrics::scrape))
        .routes(routes!(jwks::jwks))
        .routes(routes!(status_list::status_list))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(verify::page))
                .routes(routes!(verify::code_page))
                .layer(axum::middleware::from_fn(html::set_page_headers)),
        )
}

pub fn router() -> Router<AppState> {
    // The API's PDF uploads and the verification page's share their places.
    let uploads = limits::verify_upload_places();
    let (api, _) = api_routes(uploads.clone()).split_for_parts();
    api.merge(console::router())
        .merge(guide::router())
        .merge(verify_page::router(uploads))
        .route("/api/docs", get(openapi::page))
        .route("/static/{file}", get(assets::serve))
        .route("/", get(|| async { Redirect::to("/verify") }))
        .fallback(html::not_found)
        // Last: it reaches only the routes registered before it.
        .method_not_allowed_fallback(html::method_not_allowed)
        .layer(DefaultBodyLimit::max(json::JSON_LIMIT))
}

/// The metrics listener's one route (`metrics_listen`): `GET /metrics` without a token.
pub fn metrics_listener() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics::open))
}
