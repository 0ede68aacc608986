//! What the metrics learn of each request: [`record`], outermost, counts it in flight and
//! records its answer (route, method, status, time); inside the router, [`note_route`] tells
//! it which route matched, and a limit that refuses the request counts the refusal
//! ([`refused`]). Every answer is seen: 404s, and refusals before and after routing.

use std::sync::{Arc, OnceLock};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

use crate::metrics::{Limit, Metrics};

/// What is learnt of one request while it is served; put on the request by [`record`].
#[derive(Clone)]
pub struct Observed(Arc<Notes>);

struct Notes {
    metrics: Arc<Metrics>,
    route: OnceLock<MatchedPath>,
}

/// The outermost layer: the request is in flight until its answer leaves or its client goes
/// away; an answer is counted by route template (`unmatched` if no route matched), method
/// and status, with the time to its head.
pub async fn record(
    State(metrics): State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let _in_flight = metrics.request_started();
    let method = request.method().clone();
    let observed = Observed(Arc::new(Notes {
        metrics: Arc::clone(&metrics),
        route: OnceLock::new(),
    }));
    request.extensions_mut().insert(observed.clone());
    let response = next.run(request).await;
    metrics.request_answered(
        observed.0.route.get().map(MatchedPath::as_str),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Inside the router, before the limits: notes the template of the route that matched.
pub async fn note_route(request: Request, next: Next) -> Response {
    let extensions = request.extensions();
    if let (Some(observed), Some(route)) = (
        extensions.get::<Observed>(),
        extensions.get::<MatchedPath>(),
    ) {
        let _ = observed.0.route.set(route.clone());
    }
    next.run(request).await
}

/// Counts `request`'s refusal by `limit`.
pub fn refused(request: &Request, limit: Limit) {
    if let Some(observed) = request.extensions().get::<Observed>() {
        observed.refused(limit);
    }
}

impl Observed {
    /// The request's own, if [`record`] saw it.
    pub fn of(request: &Request) -> Option<Observed> {
        request.extensions().get::<Observed>().cloned()
    }

    /// Counts the request's refusal by `limit`.
    pub fn refused(&self, limit: Limit) {
        self.0.metrics.refused(limit);
    }
}
