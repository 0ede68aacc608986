//! Certificates issued per second end to end (HTTP → sign → render → check → store → flush),
//! the mean PDF size, and where the time goes (render, QR, check, store per certificate).
//! The submissions are real-length: the enterprise names, product categories and addresses of
//! `tests/fixtures/realistic-inputs.json`, one to nineteen categories each. Preparing the
//! accepted, approved submissions is not timed.
//!
//! Measured on sled and then on PostgreSQL (a database of its own on the server at
//! `TEST_POSTGRES_URL`, default 127.0.0.1:5432) when one answers, with the ratio of the two.
//!
//! `cargo bench --bench issuance` (ONETRIP_BENCH_N sets the count, default 300).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;
use helpers::{Engine, Launch, Staff, TestApp, accepted, cores, cpu_seconds, decide};
use serde_json::{Value, json};

const CONCURRENCY: usize = 8;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("ONETRIP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let (engines, unreachable) = Engine::available().await;
    let mut rates = Vec::new();
    for engine in engines {
        println!("--- records in {engine:?}");
        rates.push(issue_on(engine, n).await);
    }
    match (&rates[..], unreachable) {
        ([sled, postgres], _) => println!("PostgreSQL / sled: {:.2} (goal ≥ 0.8)", postgres / sled),
        (_, Some(reason)) => println!("PostgreSQL not measured: {reason}"),
        _ => {}
    }
}

/// Issues `n` certificates on a server whose records are in `engine`, prints the figures and
/// answers the rate.
async fn issue_on(engine: Engine, n: usize) -> f64 {
    let log = std::env::temp_dir().join(format!("onetrip-issuance-{}.log", std::process::id()));
    let launch = Launch {
        env: vec![
            (
                "RUST_LOG".into(),
                "warn,onetrip::service::issuance=info".into(),
            ),
            ("NO_COLOR".into(), "1".into()),
        ],
        stderr: Some(log.clone()),
    };
    let app = TestApp::spawn_engine(engine, tempfile::tempdir().unwrap(), "", launch).await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let corpus = Corpus::load();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = corpus.licence(i);
        let id = accepted(&app, &staff, &body).await;
        for item in body["items"].as_array().unwrap() {
            decide(&app, &scjg, &id, item["code"].as_str().unwrap(), "approve").await;
        }
        ids.push(id);
    }

    let mut links = Vec::with_capacity(n);
    let cpu_before = (cpu_seconds(app.pid()), cpu_seconds(std::process::id()));
    let started = Instant::now();
    let sizes: Vec<u64> = futures_util::stream::iter(ids.iter())
        .map(|id| {
            let (app, clerk) = (&app, &staff.clerk);
            async move {
                let r = app
                    .post(clerk, &format!("/submissions/{id}/issue"), &json!({}))
                    .await;
                assert_eq!(r.status(), 201);
                r.json::<Value>().await.unwrap()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<Value>>()
        .await
        .into_iter()
        .map(|record| {
            links.push(record["verify_url"].as_str().unwrap().to_owned());
            record["pdf_size"].as_u64().unwrap()
        })
        .collect();
    let secs = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(app.pid()) - cpu_before.0;
    let client_cpu = cpu_seconds(std::process::id()) - cpu_before.1;
    let mean = sizes.iter().sum::<u64>() as f64 / sizes.len() as f64;
    println!("issued {n} certificates in {secs:.2} s with {CONCURRENCY} concurrent clients");
    println!(
        "throughput: {:8.1} certificates/s (goal ≥ 300 on 2 cores)",
        n as f64 / secs
    );
    println!(
        "CPU per certificate: server {:.2} ms, this client {:.2} ms; {} cores here: at most {:.0}/s \
         if the server had them all",
        server_cpu * 1000.0 / n as f64,
        client_cpu * 1000.0 / n as f64,
        cores(),
        cores() as f64 * n as f64 / server_cpu
    );
    println!(
        "mean PDF:   {:8.1} KB (max {:.1} KB, goal ≤ 40)",
        mean / 1024.0,
        *sizes.iter().max().unwrap_or(&0) as f64 / 1024.0
    );
    let lengths: Vec<usize> = links.iter().map(String::len).collect();
    println!(
        "QR link:    {:8} bytes max, {} min (goal ≤ 460), QR version {}",
        lengths.iter().max().unwrap_or(&0),
        lengths.iter().min().unwrap_or(&0),
        links
            .iter()
            .map(|l| onetrip::render::qr_version(l).unwrap())
            .max()
            .unwrap_or(0)
    );
    let qr_started = Instant::now();
    for link in &links {
        onetrip::render::qr_modules(link).unwrap();
    }
    let qr_ms = qr_started.elapsed().as_secs_f64() * 1000.0 / links.len() as f64;

    // The server logs each issuance's phases; average them (they ran under load).
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mean_of = |field: &str| {
        let values: Vec<f64> = text
            .lines()
            .filter_map(|line| line.split(&format!("{field}=")).nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .collect();
        values.iter().sum::<f64>() / values.len().max(1) as f64 / 1000.0
    };
    println!(
        "per certificate, under load: render {:.1} ms (QR encoding alone {:.1} ms), check {:.1} ms, store {:.1} ms",
        mean_of("render_us"),
        qr_ms,
        mean_of("check_us"),
        mean_of("store_us")
    );
    let _ = std::fs::remove_file(&log);
    n as f64 / secs
}

/// Real-length inputs from the corpus in tests/fixtures.
struct Corpus {
    names: Vec<String>,
    categories: Vec<String>,
    addresses: Vec<String>,
}

impl Corpus {
    fn load() -> Self {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realistic-inputs.json");
        let corpus: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).expect("the corpus in tests/fixtures"),
        )
        .unwrap();
        let list = |key: &str| -> Vec<String> {
            corpus[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        Self {
            names: list("enterprise_names"),
            categories: list("production_licence_categories"),
            addresses: list("addresses"),
        }
    }

    /// The `i`th licence: the corpus's names in turn, 1 to 19 categories.
    fn licence(&self, i: usize) -> Value {
        let held = 1 + i % self.categories.len();
        let items: Vec<Value> = self.categories[..held]
            .iter()
            .enumerate()
            .map(|(j, c)| json!({"code": helpers::CATEGORY_CODES[j], "department": "SCJG", "name": c}))
            .collect();
        let address = &self.addresses[i % self.addresses.len()];
        json!({
            "holder": {"type": "enterprise", "id": helpers::enterprise(i as u32), "name": self.names[i % self.names.len()]},
            "kind": "production-licence",
            "items": items,
            "materials": [{"name": "营业执照副本"}, {"name": "产品检验报告"}],
            "fields": {"address": address, "production_address": address, "legal_representative": "欧阳明远"}
        })
    }
}
