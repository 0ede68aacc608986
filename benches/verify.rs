//! Loads `GET /v/{token}` (JSON) from a loopback load generator for 10 s and prints requests/s
//! and p99 latency next to the raw single-core Ed25519 verify rate measured in the same run.
//!
//! Measured on sled and then on PostgreSQL (a database of its own on the server at
//! `TEST_POSTGRES_URL`, default 127.0.0.1:5432) when one answers.
//!
//! `cargo bench --bench verify` (ONETRIP_BENCH_SECS sets the duration, default 10).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use helpers::{Engine, Launch, Staff, TestApp, cpu_seconds, issued_licence, raw_verify_rate};
use serde_json::json;

const CONCURRENCY: usize = 32;

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("ONETRIP_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let raw = raw_verify_rate();
    println!("raw Ed25519 verify, one core:                 {raw:8.0} verifies/s");
    let (engines, unreachable) = Engine::available().await;
    for engine in engines {
        println!("--- records in {engine:?}");
        let rate = load_on(engine, secs).await;
        println!(
            "endpoint / raw: {:.2} (goal ≥ 0.7; p99 goal: ≤ 5 ms on sled, ≤ 10 ms on PostgreSQL)",
            rate.served / raw
        );
        // The load generator shares the cores: what the server could answer with them all.
        let capacity = helpers::cores() as f64 * 1e6 / rate.server_us;
        println!(
            "CPU per request: server {:.1} µs, load generator {:.1} µs, raw verify {:.1} µs; \
             the server with all {} cores: {capacity:.0} requests/s = {:.2} × raw",
            rate.server_us,
            rate.client_us,
            1e6 / raw,
            helpers::cores(),
            capacity / raw
        );
    }
    if let Some(reason) = unreachable {
        println!("PostgreSQL not measured: {reason}");
    }
}

/// What one load measured: requests/s, and the CPU time each took in the server and in this
/// load generator (sharing the same cores).
struct Rate {
    served: f64,
    server_us: f64,
    client_us: f64,
}

/// Loads `/v/{token}` of a server whose records are in `engine` for `secs`, prints the
/// figures and answers the rate.
async fn load_on(engine: Engine, secs: u64) -> Rate {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_engine(engine, dir, "", Launch::default()).await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let url = format!("{}/v/{}", app.url, cert["token"].as_str().unwrap());

    let deadline = Instant::now() + Duration::from_secs(secs);
    let cpu_before = (cpu_seconds(app.pid()), cpu_seconds(std::process::id()));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url) = (app.client.clone(), url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let ok = match client
                        .get(&url)
                        .header("Accept", "application/json")
                        .send()
                        .await
                    {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    latencies.push(sent.elapsed());
                    errors += u64::from(!ok);
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(app.pid()) - cpu_before.0;
    let client_cpu = cpu_seconds(std::process::id()) - cpu_before.1;
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let rate = latencies.len() as f64 / elapsed;
    println!(
        "GET /v/{{token}} (JSON), {CONCURRENCY} connections, {secs} s: {rate:8.0} requests/s, p99 {:.2} ms, {errors} errors",
        p99.as_secs_f64() * 1000.0
    );
    let requests = latencies.len() as f64;
    Rate {
        served: rate,
        server_us: server_cpu * 1e6 / requests,
        client_us: client_cpu * 1e6 / requests,
    }
}
