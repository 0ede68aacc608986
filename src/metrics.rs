//! The service's Prometheus metrics: one registry of typed families (`prometheus-client`),
//! recorded into as requests are answered, certificates issued and verdicts given, plus what is
//! read at the moment of a scrape (the active key's age, the batches running, counts kept
//! where they arise); encoded in the Prometheus text format, version 0.0.4. It knows nothing
//! of the service: callers hand it plain values. Every label takes its values from a small
//! set (route templates, not paths; the standard methods; the limits; the certificate kinds of
//! the templates; the verdicts), so that no client can grow the series.
//! `docs/operations.md` ("Metrics") says what each family means.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of what [`Metrics::encode`] writes: the Prometheus text format 0.0.4,
/// which every Prometheus (and most other scrapers) reads.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The route label of a request that no route matched: a 404, or a request refused before
/// routing (`max_concurrent_requests`).
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the request-duration buckets, in seconds: a page or a verdict takes
/// milliseconds, an upload or a batch file up to minutes.
const REQUEST_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds of the issuance-duration buckets, in seconds: signing, rendering, checking
/// and storing a certificate takes tenths of a second, longer when the render slots are busy.
const ISSUANCE_BUCKETS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The limits that refuse a request (503, 429 or 408) or a connection (503 and close), each
/// named as its setting is in `docs/configuration.md` (or, for the two fixed ones, as
/// `docs/operations.md` names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    MaxConnections,
    MaxConnectionsPerAddress,
    MaxRequestsPerAddress,
    MaxConcurrentRequests,
    MaxPublicRequests,
    MaxAnonymousRequests,
    MaxApplicantRequests,
    MaxStaffRequests,
    MaxBatchRequests,
    MaxBufferedBodyBytes,
    BodyMinBytesPerSec,
    AnonymousRequestTimeout,
    RequestTimeout,
    /// The uploaded PDFs verified at once (`routes::limits::MAX_VERIFY_UPLOADS`).
    VerifyUploads,
    /// The batches running at once (`service::batch::MAX_RUNNING_BATCHES`).
    RunningBatches,
}

impl Limit {
    const ALL: [Limit; 15] = [
        Limit::MaxConnections,
        Limit::MaxConnectionsPerAddress,
        Limit::MaxRequestsPerAddress,
        Limit::MaxConcurrentRequests,
        Limit::MaxPublicRequests,
        Limit::MaxAnonymousRequests,
        Limit::MaxApplicantRequests,
        Limit::MaxStaffRequests,
        Limit::MaxBatchRequests,
        Limit::MaxBufferedBodyBytes,
        Limit::BodyMinBytesPerSec,
        Limit::AnonymousRequestTimeout,
        Limit::RequestTimeout,
        Limit::VerifyUploads,
        Limit::RunningBatches,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max_connections",
            Limit::MaxConnectionsPerAddress => "max_connections_per_address",
            Limit::MaxRequestsPerAddress => "max_requests_per_address",
            Limit::MaxConcurrentRequests => "max_concurrent_requests",
            Limit::MaxPublicRequests => "max_public_requests",
            Limit::MaxAnonymousRequests => "max_anonymous_requests",
            Limit::MaxApplicantRequests => "max_applicant_requests",
            Limit::MaxStaffRequests => "max_staff_requests",
            Limit::MaxBatchRequests => "max_batch_requests",
            Limit::MaxBufferedBodyBytes => "max_buffered_body_bytes",
            Limit::BodyMinBytesPerSec => "body_min_bytes_per_sec",
            Limit::AnonymousRequestTimeout => "anonymous_request_timeout_secs",
            Limit::RequestTimeout => "request_timeout_secs",
            Limit::VerifyUploads => "verify_uploads",
            Limit::RunningBatches => "running_batches",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabel {
    error: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// The lines of the batches running now, by where each line stands.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchLines {
    pub pending: u64,
    pub issued: u64,
    pub already_issued: u64,
    pub failed: u64,
}

/// Failures of the records store met by use-cases since the process started.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreErrors {
    /// The store cannot write now (a full disk, an I/O error) and is recovering.
    pub unavailable: u64,
    /// Any other failure: the engine, a stored value that cannot be read or written.
    pub failed: u64,
}

/// What is read when the metrics are scraped rather than recorded as it happens.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scraped {
    /// How long the active signing key has been signing; `None` without one (a running
    /// server always has one), shown as NaN.
    pub signing_key_age: Option<Duration>,
    pub batches_running: u64,
    pub batch_lines: BatchLines,
    pub store_errors: StoreErrors,
    /// Request bodies the memory budget (`max_buffered_body_bytes`) refused since start.
    pub memory_refusals: u64,
}

/// The registry and its families. Shared (`Arc`) by everything that records.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_durations: HistogramFamily<RouteLabels>,
    in_flight: Gauge,
    refused: Family<ReasonLabel, Counter>,
    issuances: Family<KindLabel, Counter>,
    issuance_durations: HistogramFamily<KindLabel>,
    verdicts: Family<VerdictLabel, Counter>,
    store_errors: Family<ErrorLabel, Counter>,
    batches_running: Gauge,
    batch_lines: Family<StateLabel, Gauge>,
    signing_key_age: Gauge<f64, AtomicU64>,
    backups: Family<OutcomeLabel, Counter>,
    backup_last_sent: Gauge<f64, AtomicU64>,
    backup_writes_waited: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("onetrip"),
            requests: Family::default(),
            request_durations: Family::new_with_constructor(|| Histogram::new(REQUEST_BUCKETS)),
            in_flight: Gauge::default(),
            refused: Family::default(),
            issuances: Family::default(),
            issuance_durations: Family::new_with_constructor(|| Histogram::new(ISSUANCE_BUCKETS)),
            verdicts: Family::default(),
            store_errors: Family::default(),
            batches_running: Gauge::default(),
            batch_lines: Family::default(),
            signing_key_age: Gauge::default(),
            backups: Family::default(),
            backup_last_sent: Gauge::default(),
            backup_writes_waited: Gauge::default(),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "build",
            "The running version of onetrip",
            Info::new(VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template (or unmatched), method and status",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer's head, by route template and method",
            Unit::Seconds,
            metrics.request_durations.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "http_refused",
            "Requests (503, 429, 408) and connections (503) refused, by the limit that refused them",
            metrics.refused.clone(),
        );
        registry.register(
            "issuances",
            "Certificates issued, by kind",
            metrics.issuances.clone(),
        );
        registry.register_with_unit(
            "issuance_duration",
            "Time to sign, render, check and store a certificate, a render slot's wait included, by kind",
            Unit::Seconds,
            metrics.issuance_durations.clone(),
        );
        registry.register(
            "verdicts",
            "Verdicts given by the online verifiers (/v, /c, /verify, POST /api/v1/verify)",
            metrics.verdicts.clone(),
        );
        registry.register(
            "store_errors",
            "Failures of the records store met by use-cases: unavailable (cannot write now) or failed",
            metrics.store_errors.clone(),
        );
        registry.register(
            "batches_running",
            "Batches issuing in the background now",
            metrics.batches_running.clone(),
        );
        registry.register(
            "batch_lines",
            "Lines of the batches running now: pending, issued, already_issued or failed",
            metrics.batch_lines.clone(),
        );
        registry.register_with_unit(
            "signing_key_age",
            "How long the active signing key has been signing",
            Unit::Seconds,
            metrics.signing_key_age.clone(),
        );
        registry.register(
            "backups",
            "Backups streamed by GET /api/v1/backup: sent whole, or broken_off (the client went away, a file could not be read)",
            metrics.backups.clone(),
        );
        registry.register_with_unit(
            "backup_last_sent",
            "When the last whole backup was sent, as a Unix time (0: none since start); alert when it is too old",
            Unit::Seconds,
            metrics.backup_last_sent.clone(),
        );
        registry.register_with_unit(
            "backup_writes_waited",
            "How long writes waited while the last backup copied the records",
            Unit::Seconds,
            metrics.backup_writes_waited.clone(),
        );
        // Series that may stay at zero are shown from the start, so that a rate or an alert on
        // them has a value before the first refusal or failure.
        for limit in Limit::ALL {
            metrics.refused.get_or_create_owned(&ReasonLabel {
                reason: limit.as_str(),
            });
        }
        for error in ["unavailable", "failed"] {
            metrics
                .store_errors
                .get_or_create_owned(&ErrorLabel { error });
        }
        for outcome in ["sent", "broken_off"] {
            metrics
                .backups
                .get_or_create_owned(&OutcomeLabel { outcome });
        }
        metrics
    }

    /// A request has arrived; it counts as in flight until the guard is dropped, whether it
    /// was answered or its client went away.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// A request was answered: `route` is the template of the route that matched it, if any.
    pub fn request_answered(&self, route: Option<&str>, method: &str, status: u16, took: Duration) {
        let route = route.unwrap_or(UNMATCHED).to_owned();
        let method = method_label(method);
        self.request_durations
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method,
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    pub fn refused(&self, limit: Limit) {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: limit.as_str(),
            })
            .inc();
    }

    /// A certificate of `kind` was issued, in `took`.
    pub fn issued(&self, kind: &str, took: Duration) {
        let kind = KindLabel {
            kind: kind.to_owned(),
        };
        self.issuance_durations
            .get_or_create(&kind)
            .observe(took.as_secs_f64());
        self.issuances.get_or_create(&kind).inc();
    }

    pub fn verdict(&self, verdict: &'static str) {
        self.verdicts.get_or_create(&VerdictLabel { verdict }).inc();
    }

    /// A backup was sent whole at `at` (seconds since the Unix epoch), its records copied
    /// while writes waited `writes_waited`.
    pub fn backup_sent(&self, at: f64, writes_waited: Duration) {
        self.backups
            .get_or_create(&OutcomeLabel { outcome: "sent" })
            .inc();
        self.backup_last_sent.set(at);
        self.backup_writes_waited.set(writes_waited.as_secs_f64());
    }

    pub fn backup_broken_off(&self) {
        self.backups
            .get_or_create(&OutcomeLabel {
                outcome: "broken_off",
            })
            .inc();
    }

    /// The exposition, with `now`'s values in it.
    pub fn encode(&self, now: &Scraped) -> Result<String, std::fmt::Error> {
        self.signing_key_age.set(
            now.signing_key_age
                .map_or(f64::NAN, |age| age.as_secs_f64()),
        );
        self.batches_running.set(gauge(now.batches_running));
        let lines = now.batch_lines;
        for (state, count) in [
            ("pending", lines.pending),
            ("issued", lines.issued),
            ("already_issued", lines.already_issued),
            ("failed", lines.failed),
        ] {
            self.batch_lines
                .get_or_create(&StateLabel { state })
                .set(gauge(count));
        }
        // Counted where they arise, and copied here; a copy never goes backwards, even when
        // two scrapes cross.
        let copies = [
            (
                ErrorLabel {
                    error: "unavailable",
                },
                now.store_errors.unavailable,
            ),
            (ErrorLabel { error: "failed" }, now.store_errors.failed),
        ];
        for (label, count) in copies {
            copy_count(&self.store_errors.get_or_create(&label), count);
        }
        let memory = ReasonLabel {
            reason: Limit::MaxBufferedBodyBytes.as_str(),
        };
        copy_count(&self.refused.get_or_create(&memory), now.memory_refusals);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// One request in flight, until dropped.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn copy_count(counter: &Counter, count: u64) {
    counter.inner().fetch_max(count, Ordering::Relaxed);
}

fn gauge(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A method as its label shows it: the standard ones by name, anything else as `other`, so
/// that a client inventing methods adds no series.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_recorded_is_encoded_with_bounded_labels() {
        let metrics = Metrics::new();
        let in_flight = metrics.request_started();
        metrics.request_answered(Some("/v/{token}"), "GET", 200, Duration::from_millis(3));
        metrics.request_answered(None, "BREW", 404, Duration::from_millis(1));
        metrics.issued("production-licence", Duration::from_millis(120));
        metrics.verdict("not_issued");
        metrics.refused(Limit::MaxPublicRequests);
        let text = metrics
            .encode(&Scraped {
                signing_key_age: Some(Duration::from_secs(90)),
                batches_running: 1,
                batch_lines: BatchLines {
                    pending: 3,
                    ..BatchLines::default()
                },
                store_errors: StoreErrors {
                    unavailable: 2,
                    failed: 0,
                },
                memory_refusals: 5,
            })
            .unwrap();
        for line in [
            "# TYPE onetrip_http_requests_total counter",
            r#"onetrip_http_requests_total{route="/v/{token}",method="GET",status="200"} 1"#,
            r#"onetrip_http_requests_total{route="unmatched",method="other",status="404"} 1"#,
            r#"onetrip_http_request_duration_seconds_bucket{route="/v/{token}",method="GET",le="0.005"} 1"#,
            "onetrip_http_requests_in_flight 1",
            r#"onetrip_http_refused_total{reason="max_public_requests"} 1"#,
            r#"onetrip_http_refused_total{reason="max_connections"} 0"#,
            r#"onetrip_http_refused_total{reason="max_buffered_body_bytes"} 5"#,
            r#"onetrip_issuances_total{kind="production-licence"} 1"#,
            r#"onetrip_issuance_duration_seconds_count{kind="production-licence"} 1"#,
            r#"onetrip_verdicts_total{verdict="not_issued"} 1"#,
            r#"onetrip_store_errors_total{error="unavailable"} 2"#,
            "onetrip_batches_running 1",
            r#"onetrip_batch_lines{state="pending"} 3"#,
            "onetrip_signing_key_age_seconds 90.0",
            r#"onetrip_build_info{version=""#,
        ] {
            assert!(text.contains(line), "{line} is not in\n{text}");
        }
        drop(in_flight);
        let text = metrics.encode(&Scraped::default()).unwrap();
        assert!(text.contains("onetrip_http_requests_in_flight 0"), "{text}");
        // A count copied at scrape time never goes backwards.
        assert!(
            text.contains(r#"onetrip_store_errors_total{error="unavailable"} 2"#),
            "{text}"
        );
        assert!(
            text.contains("onetrip_signing_key_age_seconds NaN"),
            "{text}"
        );
    }
}
