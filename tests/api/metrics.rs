//! `/metrics`: what the service counts, read back by a parser we did not write (Python's
//! `prometheus_client`), on the service's own address (an admin token) and on the metrics
//! listener (`metrics_listen`, no token).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// One sample as `prometheus_client` read it.
#[derive(Debug)]
pub struct Sample {
    /// The family's name, as the parser gives it (a counter's without `_total`).
    family: String,
    /// The family's type: `counter`, `gauge`, `histogram`…
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads `text` with `prometheus_client.parser.text_string_to_metric_families`, the parser of
/// the Prometheus project's Python client, in a `python3` of its own.
const PARSER: &str = r#"
import json, math, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_client is not installed")
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        value = s.value if math.isfinite(s.value) else str(s.value)
        samples.append({"family": family.name, "type": family.type, "name": s.name,
                        "labels": s.labels, "value": value})
print(json.dumps(samples))
"#;

fn parse(text: &str) -> Vec<Sample> {
    let mut python = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is needed to read /metrics with an independent parser ({e}): install \
                 python3, then `pip install prometheus_client`"
            )
        });
    python
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = python.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python3 could not read /metrics: {stderr}\n`pip install prometheus_client` if it is \
         missing\n{text}"
    );
    let samples: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    samples
        .into_iter()
        .map(|s| Sample {
            family: s["family"].as_str().unwrap().to_owned(),
            kind: s["type"].as_str().unwrap().to_owned(),
            name: s["name"].as_str().unwrap().to_owned(),
            labels: serde_json::from_value(s["labels"].clone()).unwrap(),
            value: s["value"]
                .as_f64()
                .unwrap_or_else(|| s["value"].as_str().unwrap().parse().unwrap()),
        })
        .collect()
}

/// The value of sample `name` with exactly `labels`; 0 for a series not shown yet.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == labels)
        .map_or(0.0, |s| s.value)
}

/// `GET url` with `token` (if any), asked for as Prometheus asks; the status, the headers'
/// `Content-Type` and `Cache-Control`, and the body.
async fn scrape(
    app: &TestApp,
    url: &str,
    token: Option<&str>,
) -> (StatusCode, String, String, String) {
    let mut request = app.client.get(url).header(
        "Accept",
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
    );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (content_type, cache) = (header("content-type"), header("cache-control"));
    (r.status(), content_type, cache, r.text().await.unwrap())
}

/// An admin's scrape of the service's own `/metrics`, parsed.
pub async fn admin_scrape(app: &TestApp) -> Vec<Sample> {
    let (status, content_type, cache, text) =
        scrape(app, &format!("{}/metrics", app.url), Some(&app.admin)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(cache, "no-store");
    parse(&text)
}

#[tokio::test]
async fn the_counters_move_by_what_was_done_and_an_independent_parser_reads_them() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let before = admin_scrape(&app).await;

    let first = issued_licence_of(&app, &staff, &scjg, &enterprise(7001)).await;
    let second = issued_licence_of(&app, &staff, &scjg, &enterprise(7002)).await;
    // One verdict from each online front end: the QR link, the code page, the API, the form.
    let token = first["token"].as_str().unwrap();
    let (status, v) = app.public_json(&format!("/v/{token}")).await;
    assert_eq!((status, v["verdict"].as_str()), (200, Some("valid")));
    let unknown = onetrip::domain::VerificationCode::generate().to_string();
    let (status, v) = app.public_json(&format!("/c/{unknown}")).await;
    assert_eq!((status, v["verdict"].as_str()), (404, Some("not_issued")));
    let r = app
        .client
        .post(app.api("/verify"))
        .json(&json!({"token": second["token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["verdict"], "valid");
    let code = second["code"].as_str().unwrap();
    assert_eq!(app.verify_typed(code).await["verdict"], "valid");
    // A path no route has, and an admin route without a token.
    let r = app
        .client
        .get(format!("{}/no/such/page", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.get("", "/keys").await.status(), 401);

    let after = admin_scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let kind = [("kind", "production-licence")];
    assert_eq!(moved("onetrip_issuances_total", &kind), 2.0);
    assert_eq!(moved("onetrip_issuance_duration_seconds_count", &kind), 2.0);
    let bucket = [("kind", "production-licence"), ("le", "+Inf")];
    assert_eq!(
        value(&after, "onetrip_issuance_duration_seconds_bucket", &bucket),
        value(&after, "onetrip_issuance_duration_seconds_count", &kind)
    );
    assert!(moved("onetrip_issuance_duration_seconds_sum", &kind) > 0.0);
    assert_eq!(
        moved("onetrip_verdicts_total", &[("verdict", "valid")]),
        3.0
    );
    assert_eq!(
        moved("onetrip_verdicts_total", &[("verdict", "not_issued")]),
        1.0
    );
    let requests = |route: &str, method: &str, status: &str| {
        moved(
            "onetrip_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(
        requests("/api/v1/submissions/{id}/issue", "POST", "201"),
        2.0
    );
    assert_eq!(requests("/v/{token}", "GET", "200"), 1.0);
    assert_eq!(requests("/c/{code}", "GET", "404"), 1.0);
    assert_eq!(requests("/api/v1/verify", "POST", "200"), 1.0);
    assert_eq!(requests("/verify", "POST", "200"), 1.0);
    assert_eq!(requests("unmatched", "GET", "404"), 1.0);
    assert_eq!(requests("/api/v1/keys", "GET", "401"), 1.0);
    // The scrape before this one; this one is counted once it is answered.
    assert_eq!(requests("/metrics", "GET", "200"), 1.0);

    // Histograms: buckets up to +Inf, cumulative, agreeing with their count.
    let route = [("route", "/v/{token}"), ("method", "GET")];
    let buckets: Vec<(f64, f64)> = after
        .iter()
        .filter(|s| {
            s.name == "onetrip_http_request_duration_seconds_bucket"
                && s.labels.get("route").map(String::as_str) == Some("/v/{token}")
        })
        .map(|s| (s.labels["le"].parse().unwrap(), s.value))
        .collect();
    assert!(buckets.len() > 5, "{buckets:?}");
    assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    assert_eq!(
        buckets.last().unwrap().1,
        value(
            &after,
            "onetrip_http_request_duration_seconds_count",
            &route
        )
    );
    let histogram = after
        .iter()
        .find(|s| s.family == "onetrip_http_request_duration_seconds")
        .unwrap();
    assert_eq!(histogram.kind, "histogram");

    // The scrape itself is in flight; nothing else is.
    assert_eq!(value(&after, "onetrip_http_requests_in_flight", &[]), 1.0);
    // A fresh store's key signs from its start: seconds old, not days.
    let age = value(&after, "onetrip_signing_key_age_seconds", &[]);
    assert!((0.0..600.0).contains(&age), "{age}");
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(value(&after, "onetrip_build_info", &version), 1.0);
    // Every limit's refusals are shown from the start; none refused here.
    let refusals: Vec<&Sample> = after
        .iter()
        .filter(|s| s.name == "onetrip_http_refused_total")
        .collect();
    assert_eq!(refusals.len(), 15, "{refusals:?}");
    assert!(refusals.iter().all(|s| s.value == 0.0), "{refusals:?}");
    for error in ["unavailable", "failed"] {
        assert_eq!(
            value(&after, "onetrip_store_errors_total", &[("error", error)]),
            0.0
        );
    }
    assert_eq!(value(&after, "onetrip_batches_running", &[]), 0.0);
}

#[tokio::test]
async fn metrics_are_for_an_admin_and_refused_callers_get_the_apis_errors() {
    let app = TestApp::spawn().await;
    let url = format!("{}/metrics", app.url);
    let clerk = app.token("clerk", json!({})).await;
    for (token, status, code) in [
        (None, 401, "unauthenticated"),
        (Some(clerk.as_str()), 403, "forbidden"),
    ] {
        let (got, content_type, _, body) = scrape(&app, &url, token).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
    }
}

#[tokio::test]
async fn the_metrics_listener_needs_no_token_and_counts_the_connections_refused() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let launch = Launch {
        env: vec![("RUST_LOG".into(), "onetrip=info".into())],
        stderr: Some(log.path().to_path_buf()),
    };
    let app = TestApp::spawn_launched(
        "metrics_listen = \"127.0.0.1:0\"\n[limits]\nmax_connections_per_address = 1\n",
        launch,
    )
    .await;
    let logged = std::fs::read_to_string(log.path()).unwrap();
    let address = logged
        .lines()
        .find_map(|l| l.split("serving metrics addr=").nth(1))
        .unwrap_or_else(|| panic!("no metrics address logged:\n{logged}"))
        .trim()
        .to_owned();
    let open = format!("http://{address}/metrics");
    let (status, content_type, cache, text) = scrape(&app, &open, None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(cache, "no-store");
    let refused = [("reason", "max_connections_per_address")];
    assert_eq!(
        value(&parse(&text), "onetrip_http_refused_total", &refused),
        0.0
    );

    // One connection holds this address's only place; the next is told 503 and closed.
    let service = app.url.trim_start_matches("http://").to_owned();
    let held = TcpStream::connect(&service).unwrap();
    let mut turned_away = TcpStream::connect(&service).unwrap();
    turned_away
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    turned_away.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let (_, _, _, text) = scrape(&app, &open, None).await;
    assert_eq!(
        value(&parse(&text), "onetrip_http_refused_total", &refused),
        1.0
    );
    drop(held);

    // On the service's own address the metrics still ask for an admin token (once the held
    // connection's place is given back).
    let url = format!("{}/metrics", app.url);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = scrape(&app, &url, None).await.0;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401);
    let (status, _, _, text) = scrape(&app, &url, Some(&app.admin)).await;
    assert_eq!(status, 200, "{text}");
}
