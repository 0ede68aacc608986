//! Every route in one list. Handlers are thin: extract, call a use-case in `service`, map the
//! result. `/` leads to the verification page, the one page for anyone; a path no route has
//! (404) or a method its route does not take (405) is answered like any other error, as JSON
//! or as a page (`html::not_found`, `html::method_not_allowed`).

mod assets;
mod batches;
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
mod services;
pub mod state;
mod status_list;
mod submissions;
mod tokens;
mod verdict;
mod verify;
mod verify_page;
mod window_check;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post, put};

use crate::routes::state::AppState;

pub use html::render_html_errors;

pub fn router() -> Router<AppState> {
    let uploads = limits::verify_upload_places();
    let api = submissions::router()
        .merge(certificates::router())
        .merge(batches::router())
        .merge(services::router())
        .merge(calendar::router())
        .route("/submissions/{id}/materials/{name}", put(materials::upload))
        .route(
            "/submissions/{id}/window-check",
            post(window_check::window_check).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/submissions/{id}/items/{code}/decision",
            post(decisions::decide),
        )
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/keys", get(keys::list))
        .route("/keys/rotate", post(keys::rotate))
        .route("/keys/{kid}/revoke", post(keys::revoke))
        .route(
            "/verify",
            post(verify::api).layer(axum::middleware::from_fn_with_state(
                uploads.clone(),
                limits::verify_upload_place,
            )),
        )
        .layer(axum::middleware::from_fn(caller::no_store_for_callers));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::scrape))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/.well-known/status-list", get(status_list::status_list))
        .merge(html::with_page_headers(
            Router::new()
                .route("/v/{token}", get(verify::page))
                .route("/c/{code}", get(verify::code_page)),
        ))
        .merge(console::router())
        .merge(guide::router())
        .merge(verify_page::router(uploads))
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
