//! How the service behaves as its store grows: a store is filled to each size of
//! `ONETRIP_BENCH_SIZES` (default 10^4 and then 10^5 certificates) by migrating existing
//! licences through the server's batch API (`POST /api/v1/batches`, 5,000 realistic lines of
//! `migration_line` at a time, each of an enterprise of its own), 2 % of them revoked and 1 %
//! suspended so that the status list holds entries of each state. At each size it measures:
//!
//! - issuance over HTTP: `ONETRIP_BENCH_ISSUE` (default 200) accepted, approved submissions
//!   of the realistic corpus (prepared untimed) issued by 8 concurrent clients;
//! - `GET /v/{token}` and `GET /c/{code}` (JSON) from 32 connections for `ONETRIP_BENCH_SECS`
//!   seconds each (default 3), over 256 certificates drawn across the whole store:
//!   requests/s, p50, p99 and the server's CPU time per request (`helpers::cpu_seconds`),
//!   and the server's CPU use at rest just before (what it still does after the fill);
//! - the due listing (`GET /api/v1/submissions?due_within=…`, 20 submissions due), one
//!   request after another for `ONETRIP_BENCH_SECS`: p50, p99;
//! - building and signing the status list after a change: a certificate is revoked, then the
//!   first `GET /.well-known/status-list` is timed (median of 5), with its size in bytes;
//! - the store's size on disk (on sled, `du` of the server's data directory: the records,
//!   the keys and the few material files; on PostgreSQL, `pg_database_size`);
//! - the server's resident memory then, and its peak so far;
//!
//! and prints, per engine, a table of every figure at every size with the ratio largest /
//! smallest beside the machine's reference, raw single-core Ed25519 verify. A cost (a time,
//! the inverse of a rate, bytes per certificate) that grows with the store more than twice as
//! much as a logarithm allows is flagged with `!`. Measured on sled and then on PostgreSQL
//! (a database of its own on the server at `TEST_POSTGRES_URL`, default 127.0.0.1:5432) when
//! one answers.
//!
//! `cargo bench --bench growth` (20–40 minutes at the default sizes);
//! `ONETRIP_BENCH_SIZES=500,2000 cargo bench --bench growth` for a quick run.

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use helpers::{
    Engine, Launch, Staff, TestApp, accepted, cpu_seconds, decide, issue, migration_line,
    raw_verify_rate, rss_mib, start_batch,
};
use serde_json::{Value, json};

/// Migration lines per batch (a batch holds at most 10,000, and 16 MiB).
const CHUNK: usize = 5_000;
/// Connections loading `/v` and `/c`.
const CONNECTIONS: usize = 32;
/// Clients issuing at once.
const ISSUERS: usize = 8;
/// Certificates `/v` and `/c` are asked about, drawn across the store.
const SAMPLE: usize = 256;
/// Submissions accepted and left due, which the due listing lists at every size.
const DUE: usize = 20;
/// Revocations timed for the status list at each size (the median is printed).
const LIST_BUILDS: usize = 5;
/// Holders of the submissions the bench files itself (due, issued): past every migrated
/// enterprise, so that 一企一证 never refuses one.
const DUE_HOLDERS: usize = 8_000_000;
const ISSUE_HOLDERS: usize = 9_000_000;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Migrated certificate `i` is revoked (2 %) or suspended (1 %) once migrated.
fn revoked(i: usize) -> bool {
    i % 50 == 7
}

fn suspended(i: usize) -> bool {
    i % 100 == 13
}

/// Certificates kept for the status list's timed revocations; the loads never ask about
/// them, so every certificate they ask about is valid.
fn spare(i: usize) -> bool {
    i % 10 == 9
}

#[tokio::main]
async fn main() {
    let mut sizes: Vec<usize> = std::env::var("ONETRIP_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("ONETRIP_BENCH_SIZES: sizes like 10000,100000")
        })
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let secs: u64 = env("ONETRIP_BENCH_SECS", 3);
    let issue: usize = env("ONETRIP_BENCH_ISSUE", 200);
    let raw = raw_verify_rate();
    println!("raw Ed25519 verify, one core: {raw:.0} verifies/s");
    println!(
        "sizes {sizes:?}, {secs} s per load, {issue} issuances per size, {CONNECTIONS} connections, {ISSUERS} issuing clients"
    );
    let (engines, unreachable) = Engine::available().await;
    for engine in engines {
        println!("--- records in {engine:?}");
        let figures = grow(engine, &sizes, secs, issue).await;
        print!("{}", table(engine, &sizes, &figures, raw));
    }
    if let Some(reason) = unreachable {
        println!("PostgreSQL not measured: {reason}");
    }
}

/// The figures of one size.
#[derive(Default)]
struct Figures {
    /// Certificates migrated (the size).
    certificates: usize,
    fill_secs: f64,
    fill_rate: f64,
    /// The server's CPU use at rest before the loads, in % of one core.
    rest: f64,
    issue_rate: f64,
    v: Load,
    c: Load,
    due: (f64, f64),
    list_ms: f64,
    list_bytes: usize,
    list_entries: usize,
    disk: u64,
    /// The server's resident memory after the measurements and its peak so far, in MB.
    rss: (f64, f64),
}

#[derive(Default)]
struct Load {
    rate: f64,
    p50: f64,
    p99: f64,
    /// The server's CPU time per request (the load generator shares the cores).
    server_us: f64,
}

/// A server on `engine`, filled to each size in turn and measured there.
async fn grow(engine: Engine, sizes: &[usize], secs: u64, issue: usize) -> Vec<Figures> {
    let launch = Launch {
        // Each revocation and suspension is logged at `warn`.
        env: vec![("RUST_LOG".into(), "error".into())],
        stderr: None,
    };
    let app = TestApp::spawn_engine(engine, tempfile::tempdir().unwrap(), "", launch).await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    for k in 0..DUE {
        accepted(&app, &staff, &submission(DUE_HOLDERS + k)).await;
    }
    // Line i's identifier and verification code.
    let mut migrated: Vec<(String, String)> = Vec::new();
    let (mut next_spare, mut next_holder) = (0, ISSUE_HOLDERS);
    let mut all = Vec::new();
    for &size in sizes {
        let mut figures = Figures {
            certificates: size,
            ..Figures::default()
        };
        let from = migrated.len();
        let mut batch_secs = 0.0;
        while migrated.len() < size {
            let lines = migrated.len()..size.min(migrated.len() + CHUNK);
            let started = Instant::now();
            let results = migrate(&app, lines.clone()).await;
            let took = started.elapsed().as_secs_f64();
            batch_secs += took;
            println!(
                "  migrated {:>7} → {:>7}: {:6.1} certificates/s",
                lines.start,
                lines.end,
                lines.len() as f64 / took
            );
            migrated.extend(results);
        }
        figures.fill_secs = batch_secs;
        figures.fill_rate = (size - from) as f64 / batch_secs.max(1e-9);
        let started = Instant::now();
        let changed = change_statuses(&app, &migrated, from).await;
        println!(
            "  filled to {size}: {batch_secs:.1} s of batches ({:.1} certificates/s), then {changed} revoked or suspended in {:.1} s",
            figures.fill_rate,
            started.elapsed().as_secs_f64()
        );

        let sample = sample(size);
        let mut tokens = Vec::with_capacity(SAMPLE);
        for &i in &sample {
            let record = app
                .get_json(&app.admin, &format!("/certificates/{}", migrated[i].0))
                .await;
            tokens.push(format!(
                "{}/v/{}",
                app.url,
                record["token"].as_str().unwrap()
            ));
        }
        // What the server still does in the background after the fill (sled's flushes), as
        // the loads begin.
        let cpu_before = cpu_seconds(app.pid());
        tokio::time::sleep(Duration::from_secs(2)).await;
        figures.rest = (cpu_seconds(app.pid()) - cpu_before) / 2.0 * 100.0;
        figures.v = load(&app, tokens, secs).await;
        let codes = sample
            .iter()
            .map(|&i| format!("{}/c/{}", app.url, migrated[i].1))
            .collect();
        figures.c = load(&app, codes, secs).await;
        figures.due = due_listing(&app, &staff.clerk, secs).await;
        (figures.list_ms, figures.list_bytes, figures.list_entries) =
            status_list(&app, &migrated, &mut next_spare).await;
        figures.issue_rate = issuance(&app, &staff, &scjg, issue, &mut next_holder).await;
        figures.disk = disk(&app).await;
        figures.rss = (rss_mib(app.pid(), "VmRSS:"), rss_mib(app.pid(), "VmHWM:"));
        println!(
            "  at {size} (load average {}): server at rest {:.0} % of a core; issuance {:.1}/s; /v {:.0}/s p50 {:.2} p99 {:.2} ms, server {:.0} µs each; /c {:.0}/s p50 {:.2} p99 {:.2} ms, server {:.0} µs each; due p50 {:.2} p99 {:.2} ms; status list {:.1} ms, {} entries, {} bytes; on disk {:.1} MB; server RSS {:.0} MiB, peak {:.0} MiB",
            load_average(),
            figures.rest,
            figures.issue_rate,
            figures.v.rate,
            figures.v.p50,
            figures.v.p99,
            figures.v.server_us,
            figures.c.rate,
            figures.c.p50,
            figures.c.p99,
            figures.c.server_us,
            figures.due.0,
            figures.due.1,
            figures.list_ms,
            figures.list_entries,
            figures.list_bytes,
            figures.disk as f64 / 1e6,
            figures.rss.0,
            figures.rss.1
        );
        all.push(figures);
    }
    all
}

/// A licence submission of the realistic corpus for holder `i`: line `i` of a migration file
/// as filed online, with the two materials a licence needs.
fn submission(i: usize) -> Value {
    let line = migration_line(i);
    let m = &line["migrate"];
    json!({
        "holder": m["holder"], "kind": m["kind"], "items": m["items"], "fields": m["fields"],
        "materials": [{"name": "营业执照副本"}, {"name": "产品检验报告"}],
    })
}

/// Migrates `lines` (by `migration_line`) as one server batch; answers each line's identifier
/// and code, in order. Polls every second (each answer holds every result so far) and gives up
/// when the batch makes no progress for two minutes.
async fn migrate(app: &TestApp, lines: std::ops::Range<usize>) -> Vec<(String, String)> {
    let body: String = lines
        .clone()
        .map(|i| format!("{}\n", migration_line(i)))
        .collect();
    let id = start_batch(app, &app.admin, body).await;
    let (mut done, mut moved) = (0, Instant::now());
    let progress = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let progress = app.get_json(&app.admin, &format!("/batches/{id}")).await;
        if progress["state"] == "finished" {
            break progress;
        }
        let now = progress["done"].as_u64().unwrap_or(0);
        if now > done {
            (done, moved) = (now, Instant::now());
        }
        assert!(
            moved.elapsed() < Duration::from_secs(120),
            "batch {id} stalled at {done} lines"
        );
    };
    let mut results: Vec<&Value> = progress["results"].as_array().unwrap().iter().collect();
    results.sort_by_key(|r| r["line"].as_u64());
    let failed = results.iter().find(|r| r["status"] != "issued");
    assert!(failed.is_none(), "a migration line failed: {failed:?}");
    assert_eq!(results.len(), lines.len());
    results
        .iter()
        .map(|r| {
            (
                r["identifier"].as_str().unwrap().to_owned(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Revokes and suspends the certificates migrated from line `from` on that [`revoked`] and
/// [`suspended`] pick, as the admin, 8 at a time; answers how many.
async fn change_statuses(app: &TestApp, migrated: &[(String, String)], from: usize) -> usize {
    let changes: Vec<(String, Value)> = (from..migrated.len())
        .filter_map(|i| {
            let id = &migrated[i].0;
            if revoked(i) {
                let body = json!({"reason": "cessation_of_operation", "text": "企业注销"});
                Some((format!("/certificates/{id}/revoke"), body))
            } else if suspended(i) {
                let body = json!({"reason": "监督抽查不合格，责令整改"});
                Some((format!("/certificates/{id}/suspend"), body))
            } else {
                None
            }
        })
        .collect();
    let count = changes.len();
    futures_util::stream::iter(changes)
        .for_each_concurrent(ISSUERS, |(path, body)| async move {
            let r = app.post(&app.admin, &path, &body).await;
            assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
        })
        .await;
    count
}

/// [`SAMPLE`] lines of a store of `size`, spread over all of it (a fixed pseudo-random
/// draw), none revoked, suspended or spare.
fn sample(size: usize) -> Vec<usize> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ size as u64;
    let mut picked = Vec::with_capacity(SAMPLE);
    while picked.len() < SAMPLE {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let i = (state % size as u64) as usize;
        if !revoked(i) && !suspended(i) && !spare(i) {
            picked.push(i);
        }
    }
    picked
}

/// `GET`s `urls` (JSON) in turn from [`CONNECTIONS`] connections for `secs`; every answer
/// must be a 200.
async fn load(app: &TestApp, urls: Vec<String>, secs: u64) -> Load {
    let urls = Arc::new(urls);
    let client = &app.client;
    let cpu_before = cpu_seconds(app.pid());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|w| {
            let (client, urls) = (client.clone(), urls.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut next = w;
                while Instant::now() < deadline {
                    let url = &urls[next % urls.len()];
                    next += CONNECTIONS;
                    let sent = Instant::now();
                    let r = client
                        .get(url)
                        .header("Accept", "application/json")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{url}");
                    let verdict: Value = r.json().await.unwrap();
                    latencies.push(sent.elapsed());
                    assert_eq!(verdict["verdict"], "valid", "{url}: {verdict}");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(app.pid()) - cpu_before;
    latencies.sort();
    Load {
        rate: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        server_us: server_cpu * 1e6 / latencies.len() as f64,
    }
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// The clerk's due listing, one request after another for `secs` (at least 20): p50, p99 in
/// ms. It lists the [`DUE`] submissions.
async fn due_listing(app: &TestApp, clerk: &str, secs: u64) -> (f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut latencies = Vec::new();
    while Instant::now() < deadline || latencies.len() < 20 {
        let sent = Instant::now();
        let r = app.get(clerk, "/submissions?due_within=1000").await;
        assert_eq!(r.status(), 200);
        let listed: Value = r.json().await.unwrap();
        latencies.push(sent.elapsed());
        assert_eq!(listed.as_array().map(Vec::len), Some(DUE));
    }
    latencies.sort();
    (percentile(&latencies, 50), percentile(&latencies, 99))
}

/// Revokes a certificate and times the first fetch of the status list, [`LIST_BUILDS`]
/// times: the median in ms, the list's size in bytes and its entries.
async fn status_list(
    app: &TestApp,
    migrated: &[(String, String)],
    next_spare: &mut usize,
) -> (f64, usize, usize) {
    let url = format!("{}/.well-known/status-list", app.url);
    // Built once before, so that each timed fetch follows exactly one change.
    app.client.get(&url).send().await.unwrap();
    let mut times = Vec::new();
    let mut jws = String::new();
    for _ in 0..LIST_BUILDS {
        while !spare(*next_spare) {
            *next_spare += 1;
        }
        let id = &migrated[*next_spare].0;
        *next_spare += 1;
        let body = json!({"reason": "holder_request", "text": "企业申请注销"});
        let r = app
            .post(&app.admin, &format!("/certificates/{id}/revoke"), &body)
            .await;
        assert_eq!(r.status(), 200);
        let started = Instant::now();
        let r = app.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        jws = r.text().await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    let payload = jws.split('.').nth(1).unwrap();
    let payload: Value = {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let entries = payload["certificates"].as_array().unwrap().len();
    (
        times[times.len() / 2].as_secs_f64() * 1000.0,
        jws.len(),
        entries,
    )
}

/// Prepares `n` accepted, approved submissions of the corpus (untimed) and issues them from
/// [`ISSUERS`] clients: certificates/s.
async fn issuance(
    app: &TestApp,
    staff: &Staff,
    scjg: &str,
    n: usize,
    next_holder: &mut usize,
) -> f64 {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let body = submission(*next_holder);
        *next_holder += 1;
        let id = accepted(app, staff, &body).await;
        for item in body["items"].as_array().unwrap() {
            let code = item["code"].as_str().unwrap();
            assert_eq!(decide(app, scjg, &id, code, "approve").await.status(), 200);
        }
        ids.push(id);
    }
    let started = Instant::now();
    futures_util::stream::iter(ids)
        .for_each_concurrent(ISSUERS, |id| async move {
            issue(app, &staff.clerk, &id).await;
        })
        .await;
    n as f64 / started.elapsed().as_secs_f64()
}

/// The bytes the store takes on disk: the server's data directory as `du` counts it on sled
/// (records, keys, material files), or the PostgreSQL database's `pg_database_size`.
async fn disk(app: &TestApp) -> u64 {
    match app.database_url() {
        Some(url) => {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut connection)
                .await
                .unwrap();
            size as u64
        }
        None => du(&app.data()),
    }
}

/// The machine's load average over the last minute, which tells how much else ran beside the
/// bench (the bench itself accounts for about 2 of it while it loads the server).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn du(path: &Path) -> u64 {
    let out = std::process::Command::new("du")
        .args(["-s", "--block-size=1"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "du {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// How a figure's cost follows its value: a rate's cost is its inverse.
#[derive(Clone, Copy, PartialEq)]
enum Sense {
    /// A rate: more is better.
    Rate,
    /// A time or a size per item: less is better.
    Cost,
    /// Shown, not judged (it is meant to grow with the store).
    Info,
}

/// The table of one engine: every figure at every size, the ratio largest / smallest, and a
/// flag where a cost grows more than twice as fast as a logarithm of the store would allow.
fn table(engine: Engine, sizes: &[usize], figures: &[Figures], raw: f64) -> String {
    use Sense::{Cost, Info, Rate};
    use std::fmt::Write;
    let (small, large) = (sizes[0] as f64, sizes[sizes.len() - 1] as f64);
    let log_bound = large.ln() / small.ln();
    let row = |name, sense, f: &dyn Fn(&Figures) -> f64| (name, sense, each(figures, f));
    let rows: Vec<(&str, Sense, Vec<f64>)> = vec![
        row("fill (batch migration) /s", Rate, &|f| f.fill_rate),
        row("fill time (s)", Info, &|f| f.fill_secs),
        row("server CPU at rest, % core", Info, &|f| f.rest),
        row("issuance /s (8 clients)", Rate, &|f| f.issue_rate),
        row("/v req/s", Rate, &|f| f.v.rate),
        row("/v / raw verify", Rate, &|f| f.v.rate / raw),
        row("/v p50 ms", Cost, &|f| f.v.p50),
        row("/v p99 ms", Cost, &|f| f.v.p99),
        row("/v server CPU µs / request", Cost, &|f| f.v.server_us),
        row("/c req/s", Rate, &|f| f.c.rate),
        row("/c p50 ms", Cost, &|f| f.c.p50),
        row("/c p99 ms", Cost, &|f| f.c.p99),
        row("/c server CPU µs / request", Cost, &|f| f.c.server_us),
        row("due listing p50 ms", Cost, &|f| f.due.0),
        row("due listing p99 ms", Cost, &|f| f.due.1),
        row("status list entries", Info, &|f| f.list_entries as f64),
        row("status list KB", Info, &|f| f.list_bytes as f64 / 1e3),
        row("status list build+sign ms", Info, &|f| f.list_ms),
        row("status list µs / entry", Cost, &|f| {
            f.list_ms * 1000.0 / f.list_entries.max(1) as f64
        }),
        row("store on disk MB", Info, &|f| f.disk as f64 / 1e6),
        row("store KB / certificate", Cost, &|f| {
            f.disk as f64 / 1e3 / f.certificates as f64
        }),
        row("server RSS MiB", Info, &|f| f.rss.0),
        row("server peak RSS MiB", Info, &|f| f.rss.1),
    ];
    let mut out = String::new();
    writeln!(
        out,
        "{engine:?}: raw Ed25519 verify {raw:.0}/s on one core; store ×{:.0} from {} to {}, a logarithm allows a cost ×{log_bound:.2}; ! marks a cost ×{:.2} or more",
        large / small,
        sizes[0],
        sizes[sizes.len() - 1],
        2.0 * log_bound
    )
    .unwrap();
    write!(out, "| {:<27} |", "figure").unwrap();
    for size in sizes {
        write!(out, " {size:>9} |").unwrap();
    }
    writeln!(out, " largest/smallest |").unwrap();
    write!(out, "|{:-<29}|", "").unwrap();
    for _ in sizes {
        write!(out, "{:->11}|", ":").unwrap();
    }
    writeln!(out, "{:->18}|", ":").unwrap();
    for (name, sense, values) in rows {
        write!(out, "| {name:<27} |").unwrap();
        for v in &values {
            write!(out, " {:>9} |", number(*v)).unwrap();
        }
        let ratio = match values[0] {
            0.0 => f64::NAN,
            first => values[values.len() - 1] / first,
        };
        let cost = match sense {
            Sense::Rate => 1.0 / ratio,
            Sense::Cost => ratio,
            Sense::Info => 0.0,
        };
        let flag = if cost >= 2.0 * log_bound { " !" } else { "" };
        let ratio = match ratio.is_nan() {
            true => "–".to_owned(),
            false => format!("{ratio:.2}{flag}"),
        };
        writeln!(out, " {ratio:>16} |").unwrap();
    }
    out
}

fn each(figures: &[Figures], f: impl Fn(&Figures) -> f64) -> Vec<f64> {
    figures.iter().map(f).collect()
}

/// A figure with as many decimals as its size needs.
fn number(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}
