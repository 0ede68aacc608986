//! Mixed load on the release binary over loopback: window checks, issuances and verifications
//! at the same time, for `LOAD_SECS` seconds (default 60). Prints, per route, requests/s,
//! p50/p99/max latency and errors (any answer other than the expected status, or none).
//!
//! Three groups of workers run together:
//! - window clerks post multipart checks (two 64 KiB files, one altered) to pre-approved
//!   submissions; a mismatch stores the report and leaves the submission checkable again;
//! - issuing clerks carry a new submission through the whole flow (create, two uploads,
//!   submit, pre-review, matching window check, two decisions) and issue its certificate;
//! - verifiers check issued tokens, by `GET /v/{token}` (JSON) and `POST /api/v1/verify`.
//!
//! `bash bench/load.sh` (or `cargo bench --bench load`); `LOAD_WINDOW`, `LOAD_ISSUE`,
//! `LOAD_VERIFY` set each group's worker count (default 8, 8, 16).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helpers::{Staff, TestApp, licence_submission};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};

const FILE_BYTES: usize = 64 << 10;
const WINDOW_POOL: usize = 64;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latencies and errors per route, shared by every worker.
#[derive(Default)]
struct Stats {
    routes: BTreeMap<&'static str, (Vec<Duration>, u64)>,
}

type Shared = Arc<Mutex<Stats>>;

/// Sends `request`, records it under `route`, and returns the body if the status was `want`.
async fn timed(
    stats: &Shared,
    route: &'static str,
    want: u16,
    request: RequestBuilder,
) -> Option<Value> {
    let sent = Instant::now();
    let answer = match request.send().await {
        Ok(r) if r.status().as_u16() == want => r.bytes().await.ok(),
        Ok(r) => {
            let _ = r.bytes().await;
            None
        }
        Err(_) => None,
    };
    let elapsed = sent.elapsed();
    let mut stats = stats.lock().unwrap();
    let entry = stats.routes.entry(route).or_default();
    entry.0.push(elapsed);
    entry.1 += u64::from(answer.is_none());
    answer.map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn file(id: &str, i: usize) -> Vec<u8> {
    let mut bytes = format!("{id} material {i}\n").into_bytes();
    bytes.resize(FILE_BYTES, b'.');
    bytes
}

struct Ctx {
    client: Client,
    url: String,
    staff: Arc<(String, String, String)>,
    stats: Shared,
    tokens: Arc<Mutex<Vec<String>>>,
    deadline: Instant,
    /// 一企一证: each issuance is for an enterprise of its own.
    enterprises: std::sync::atomic::AtomicU32,
}

impl Ctx {
    fn next_enterprise(&self) -> String {
        let n = self
            .enterprises
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        helpers::enterprise(n)
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    fn post(&self, token: &str, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .post(self.api(path))
            .bearer_auth(token)
            .json(body)
    }

    /// Carries one new submission through the flow and issues it; every request is timed.
    async fn issue_one(&self) -> Option<()> {
        let (reviewer, clerk, scjg) = (&self.staff.0, &self.staff.1, &self.staff.2);
        let s = &self.stats;
        let created = timed(
            s,
            "POST /submissions",
            201,
            self.post(
                clerk,
                "/submissions",
                &licence_submission(&self.next_enterprise()),
            ),
        )
        .await?;
        let id = created["id"].as_str()?.to_owned();
        let mut digests = Vec::new();
        for (i, name) in ["营业执照副本", "产品检验报告"].into_iter().enumerate() {
            let put = self
                .client
                .put(self.api(&format!("/submissions/{id}/materials/{name}")))
                .bearer_auth(clerk)
                .body(file(&id, i));
            let uploaded = timed(s, "PUT /submissions/{id}/materials/{name}", 200, put).await?;
            digests.push(json!({"name": name, "sha256": uploaded["sha256"]}));
        }
        timed(
            s,
            "POST /submissions/{id}/submit",
            200,
            self.post(clerk, &format!("/submissions/{id}/submit"), &json!({})),
        )
        .await?;
        let approve = json!({"decision": "approve"});
        timed(
            s,
            "POST /submissions/{id}/pre-review",
            200,
            self.post(reviewer, &format!("/submissions/{id}/pre-review"), &approve),
        )
        .await?;
        let check = self.post(
            clerk,
            &format!("/submissions/{id}/window-check"),
            &json!({"digests": digests}),
        );
        timed(
            s,
            "POST /submissions/{id}/window-check (JSON, match)",
            200,
            check,
        )
        .await?;
        for item in ["wire-cable", "fertiliser"] {
            let body = json!({"decision": "approve", "comment": "符合条件"});
            let path = format!("/submissions/{id}/items/{item}/decision");
            timed(
                s,
                "POST /submissions/{id}/items/{code}/decision",
                200,
                self.post(scjg, &path, &body),
            )
            .await?;
        }
        let cert = timed(
            s,
            "POST /submissions/{id}/issue",
            201,
            self.post(clerk, &format!("/submissions/{id}/issue"), &json!({})),
        )
        .await?;
        self.tokens
            .lock()
            .unwrap()
            .push(cert["token"].as_str()?.to_owned());
        Some(())
    }

    /// A multipart window check with the right licence and an altered report: a mismatch.
    async fn check_one(&self, id: &str) {
        let form = Form::new()
            .part(
                "营业执照副本",
                Part::bytes(file(id, 0)).file_name("licence.pdf"),
            )
            .part(
                "产品检验报告",
                Part::bytes(file(id, 99)).file_name("report.pdf"),
            );
        let request = self
            .client
            .post(self.api(&format!("/submissions/{id}/window-check")))
            .bearer_auth(&self.staff.1)
            .multipart(form);
        let route = "POST /submissions/{id}/window-check (multipart, mismatch)";
        if let Some(report) = timed(&self.stats, route, 200, request).await {
            assert_eq!(report["outcome"], "mismatch", "{report}");
        }
    }

    async fn verify_one(&self, n: usize) {
        let token = {
            let tokens = self.tokens.lock().unwrap();
            tokens[n % tokens.len()].clone()
        };
        let request = if n % 2 == 0 {
            let get = self.client.get(format!("{}/v/{token}", self.url));
            (
                "GET /v/{token} (JSON)",
                get.header("Accept", "application/json"),
            )
        } else {
            (
                "POST /verify {token}",
                self.client
                    .post(self.api("/verify"))
                    .json(&json!({"token": token})),
            )
        };
        if let Some(finding) = timed(&self.stats, request.0, 200, request.1).await {
            assert_eq!(finding["verdict"], "valid", "{finding}");
        }
    }
}

/// Pre-approved submissions whose files are `file(id, 0)` and `file(id, 1)`.
async fn pre_approved_many(app: &TestApp, staff: &Staff, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let body = licence_submission(&helpers::enterprise(900_000 + i as u32));
        ids.push(helpers::pre_approved(app, staff, &body, file).await.0);
    }
    ids
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let secs = env("LOAD_SECS", 60);
    let (window, issue, verify) = (
        env("LOAD_WINDOW", 8),
        env("LOAD_ISSUE", 8),
        env("LOAD_VERIFY", 16),
    );
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let checkable = Arc::new(pre_approved_many(&app, &staff, WINDOW_POOL).await);

    let mut ctx = Ctx {
        client: Client::new(),
        url: app.url.clone(),
        staff: Arc::new((staff.reviewer.clone(), staff.clerk.clone(), scjg)),
        stats: Shared::default(),
        tokens: Arc::default(),
        deadline: Instant::now(),
        enterprises: Default::default(),
    };
    // A few certificates first, so verifiers have tokens from the start (not counted).
    for _ in 0..4 {
        ctx.issue_one().await.expect("warm-up issuance");
    }
    ctx.stats = Shared::default();
    ctx.deadline = Instant::now() + Duration::from_secs(secs);
    let ctx = Arc::new(ctx);
    println!(
        "load: {secs} s, {window} window clerks, {issue} issuing clerks, {verify} verifiers, loopback {}",
        app.url
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..window as usize {
        let (ctx, ids) = (ctx.clone(), checkable.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while Instant::now() < ctx.deadline {
                ctx.check_one(&ids[n % ids.len()]).await;
                n += window as usize;
            }
        }));
    }
    for _ in 0..issue {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < ctx.deadline {
                ctx.issue_one().await;
            }
        }));
    }
    for v in 0..verify as usize {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = v;
            while Instant::now() < ctx.deadline {
                ctx.verify_one(n).await;
                n += 7;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();

    println!(
        "{:<58} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "route", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let stats = ctx.stats.lock().unwrap();
    for (route, (latencies, errors)) in &stats.routes {
        let mut sorted = latencies.clone();
        sorted.sort();
        println!(
            "{route:<58} {:>8} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {errors:>7}",
            sorted.len(),
            sorted.len() as f64 / elapsed,
            percentile(&sorted, 50),
            percentile(&sorted, 99),
            percentile(&sorted, 100),
        );
    }
    let errors: u64 = stats.routes.values().map(|(_, e)| e).sum();
    println!("server peak RSS: {}", peak_rss(app.pid()));
    assert_eq!(errors, 0, "errors under load");
}

/// The server's peak resident set (VmHWM), from /proc.
fn peak_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}
