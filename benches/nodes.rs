//! One node against three on one PostgreSQL database: certificates issued per second with the
//! issuances spread over the nodes, and how long a key rotated on one node takes to be
//! published by the others (their ring follows the store every second by design; before
//! signing, at once). Beside them, the machine's own reference: a PostgreSQL round trip.
//!
//! Needs a PostgreSQL server at `TEST_POSTGRES_URL` (default 127.0.0.1:5432).
//! `cargo bench --bench nodes` (ONETRIP_BENCH_N sets the issuances, default 200).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use helpers::{Engine, Nodes, Staff, TestApp, accepted, decide, enterprise, licence_submission};
use serde_json::{Value, json};

const CONCURRENCY: usize = 12;
const ROTATIONS: usize = 5;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("ONETRIP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let (engines, unreachable) = Engine::available().await;
    if !engines.contains(&Engine::Postgres) {
        println!("PostgreSQL not reachable, nothing measured: {unreachable:?}");
        return;
    }
    println!(
        "reference: PostgreSQL round trip {:.3} ms",
        round_trip_ms().await
    );
    let one = issue_on(1, n).await;
    let three = issue_on(3, n).await;
    println!(
        "three nodes / one: {:.2} (all on this machine's cores)",
        three / one
    );
    rotation_delays().await;
}

/// Mean of 1,000 `SELECT 1` on one connection (the seconds they take together are the
/// milliseconds one takes).
async fn round_trip_ms() -> f64 {
    use sqlx::Connection;
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    let started = Instant::now();
    for _ in 0..1000 {
        sqlx::query("SELECT 1")
            .execute(&mut connection)
            .await
            .unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Issues `n` certificates spread over `count` nodes; prints and answers the rate.
async fn issue_on(count: usize, n: usize) -> f64 {
    let cluster = Nodes::spawn(count).await;
    let nodes = &cluster.nodes;
    let staff = Staff::new(&nodes[0]).await;
    let scjg = nodes[0]
        .token("approver", json!({"department": "SCJG"}))
        .await;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let node = &nodes[i % count];
        let id = accepted(node, &staff, &licence_submission(&enterprise(i as u32))).await;
        for item in ["wire-cable", "fertiliser"] {
            decide(node, &scjg, &id, item, "approve").await;
        }
        ids.push(id);
    }
    let started = Instant::now();
    futures_util::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let (node, clerk): (&TestApp, &str) = (&nodes[i % count], &staff.clerk);
            async move {
                let r = node
                    .post(clerk, &format!("/submissions/{id}/issue"), &json!({}))
                    .await;
                assert_eq!(r.status(), 201);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!("{count} node(s): {rate:7.1} certificates/s ({n}, {CONCURRENCY} clients)");
    rate
}

/// Rotates on the first of three nodes, [`ROTATIONS`] times, and times until the other two
/// publish the new key as active.
async fn rotation_delays() {
    let cluster = Nodes::spawn(3).await;
    let nodes = &cluster.nodes;
    let mut delays = Vec::new();
    for _ in 0..ROTATIONS {
        let r = nodes[0]
            .post(&nodes[0].admin, "/keys/rotate", &json!({}))
            .await;
        assert_eq!(r.status(), 201);
        let rotated: Value = r.json().await.unwrap();
        let started = Instant::now();
        for node in &nodes[1..] {
            loop {
                let jwks = node.jwks().await;
                let active = jwks["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["status"] == "active" && k["kid"] == rotated["kid"]);
                if active {
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(30));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        delays.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    delays.sort();
    println!(
        "rotation on one node published by both others after: min {:?}, median {:?}, max {:?} (design bound 1 s + a request)",
        delays[0],
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}
