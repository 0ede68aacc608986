//! Batch issuance throughput: 1,000 existing licences migrated from one JSON Lines file
//! (real-length corpus names, 1 to 19 categories each), once with `onetrip issue --batch` on
//! a stopped store and once with `POST /api/v1/batches` on a running server.
//!
//! `cargo bench --bench batch` (ONETRIP_BENCH_N sets the count, default 1000).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use helpers::{TestApp, cli, migration_line, start_batch};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("ONETRIP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut app = TestApp::spawn().await;
    let admin = app.token("admin", json!({})).await;
    app.stop();

    let file = app.dir.path().join("migration.jsonl");
    let text: String = (0..n).map(|i| format!("{}\n", migration_line(i))).collect();
    std::fs::write(&file, &text).unwrap();
    let started = Instant::now();
    let run = cli(
        app.dir.path(),
        &["issue", "--batch", file.to_str().unwrap()],
    );
    let secs = started.elapsed().as_secs_f64();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    print!("{}", String::from_utf8_lossy(&run.stdout));
    println!(
        "CLI batch:    {n} certificates in {secs:.2} s: {:6.1} certificates/s (including opening the store and loading the font)",
        n as f64 / secs
    );

    app.restart_stopped();
    let text: String = (n..2 * n)
        .map(|i| format!("{}\n", migration_line(i)))
        .collect();
    let started = Instant::now();
    let id = start_batch(&app, &admin, text).await;
    let progress = loop {
        let progress: Value = app
            .get(&admin, &format!("/batches/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if progress["state"] == "finished" {
            break progress;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(progress["issued"], n, "{}", progress["results"]);
    println!(
        "server batch: {n} certificates in {secs:.2} s: {:6.1} certificates/s",
        n as f64 / secs
    );
}
