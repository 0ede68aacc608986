//! Certificates issued per second end to end (HTTP → sign → render → check → store → flush),
//! and the mean PDF size. Preparing the accepted, approved submissions is not timed.
//!
//! `cargo bench --bench issuance` (ONETRIP_BENCH_N sets the count, default 300).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::time::Instant;

use futures_util::StreamExt;
use helpers::{ENTERPRISE, Staff, TestApp, accepted, decide, licence_submission};
use serde_json::{Value, json};

const CONCURRENCY: usize = 8;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("ONETRIP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = accepted(&app, &staff, &licence_submission(ENTERPRISE)).await;
        for item in ["wire-cable", "fertiliser"] {
            decide(&app, &scjg, &id, item, "approve").await;
        }
        ids.push(id);
    }

    let started = Instant::now();
    let sizes: Vec<u64> = futures_util::stream::iter(ids.iter())
        .map(|id| {
            let (app, clerk) = (&app, &staff.clerk);
            async move {
                let r = app
                    .post(clerk, &format!("/submissions/{id}/issue"), &json!({}))
                    .await;
                assert_eq!(r.status(), 201);
                r.json::<Value>().await.unwrap()["pdf_size"]
                    .as_u64()
                    .unwrap()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let mean = sizes.iter().sum::<u64>() as f64 / sizes.len() as f64;
    println!("issued {n} certificates in {secs:.2} s with {CONCURRENCY} concurrent clients");
    println!(
        "throughput: {:8.1} certificates/s (goal ≥ 100)",
        n as f64 / secs
    );
    println!(
        "mean PDF:   {:8.1} KB (max {:.1} KB, goal ≤ 60)",
        mean / 1024.0,
        *sizes.iter().max().unwrap_or(&0) as f64 / 1024.0
    );
}
