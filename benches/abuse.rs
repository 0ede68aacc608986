//! The service under hostile load, with default settings: slow headers, stalled bodies on the
//! public routes, many large anonymous bodies, a multipart body of thousands of parts, all at
//! once for ABUSE_SECS seconds (default 20), while one well-behaved client verifies a
//! certificate (`GET /v/{token}`) in a loop. Prints what the abusers got, the well-behaved
//! client's latency (p50, p99, max) and failures, and the server's peak RSS.
//!
//! `bash bench/abuse.sh` (or `cargo bench --bench abuse`).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use helpers::{Staff, TestApp, issued_licence};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW_HEADERS: usize = 400;
const STALLED_BODIES: usize = 400;
const LARGE_BODY_CLIENTS: usize = 64;
const LARGE_BODY: usize = 10 << 20;

#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    busy_503: AtomicU64,
    timeout_408: AtomicU64,
    refused: AtomicU64,
    cut_off: AtomicU64,
}

impl Tally {
    fn record(&self, answer: &[u8]) {
        let status = answer.get(9..12).unwrap_or_default();
        let counter = match status {
            b"503" => &self.busy_503,
            b"408" => &self.timeout_408,
            b"" => &self.cut_off,
            s if s.starts_with(b"4") => &self.refused,
            _ => &self.answered,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn raise_file_limit() {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct; failure leaves the limit as is.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Sends `head` (and `body`), then waits for whatever comes back until `until`.
async fn exchange(
    addr: &str,
    head: Vec<u8>,
    body: Option<Arc<Vec<u8>>>,
    until: Instant,
) -> Vec<u8> {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return Vec::new();
    };
    if stream.write_all(&head).await.is_err() {
        return Vec::new();
    }
    if let Some(body) = body
        && stream.write_all(&body).await.is_err()
    {
        return Vec::new();
    }
    let mut answer = vec![0u8; 512];
    let left = until.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, stream.read(&mut answer)).await {
        Ok(Ok(n)) => {
            answer.truncate(n);
            answer
        }
        _ => Vec::new(),
    }
}

#[tokio::main]
async fn main() {
    raise_file_limit();
    let secs: u64 = std::env::var("ABUSE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let app = TestApp::spawn_with("").await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let link = cert["verify_url"].as_str().unwrap().to_owned();
    let addr = app.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();

    for _ in 0..SLOW_HEADERS {
        let (addr, tally) = (addr.clone(), Arc::clone(&tally));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let head = b"GET /healthz HTTP/1.1\r\nHost: onetrip\r\nX-Slow: ".to_vec();
                tally.record(&exchange(&addr, head, None, until).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    for i in 0..STALLED_BODIES {
        let (addr, tally) = (addr.clone(), Arc::clone(&tally));
        let (path, content_type) = [
            ("/verify", "application/x-www-form-urlencoded"),
            ("/console/login", "application/x-www-form-urlencoded"),
            ("/api/v1/verify", "application/pdf"),
        ][i % 3];
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: onetrip\r\nContent-Type: {content_type}\r\nContent-Length: 1000000\r\n\r\ntoken="
                );
                tally.record(&exchange(&addr, head.into_bytes(), None, until).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    let large = Arc::new(vec![b'%'; LARGE_BODY]);
    for _ in 0..LARGE_BODY_CLIENTS {
        let (addr, tally, large) = (addr.clone(), Arc::clone(&tally), Arc::clone(&large));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let head = format!(
                    "POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: application/pdf\r\nContent-Length: {LARGE_BODY}\r\nConnection: close\r\n\r\n"
                );
                let answer = exchange(&addr, head.into_bytes(), Some(Arc::clone(&large)), until).await;
                tally.record(&answer);
                // The attackers share this machine's two cores with the server; pacing them
                // keeps the figure about the server, not about who gets the CPU.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    {
        // One multipart body of 20,000 empty parts to the public verify form, over and over.
        let (addr, tally) = (addr.clone(), Arc::clone(&tally));
        let body: Vec<u8> = (0..20_000)
            .flat_map(|i| {
                format!("--XYZ\r\nContent-Disposition: form-data; name=\"p{i}\"\r\n\r\n\r\n")
                    .into_bytes()
            })
            .chain(b"--XYZ--\r\n".iter().copied())
            .collect();
        let body = Arc::new(body);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let head = format!(
                    "POST /verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                tally.record(&exchange(&addr, head.into_bytes(), Some(Arc::clone(&body)), until).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    // The well-behaved client.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    let mut failures = 0u64;
    while Instant::now() < until {
        let sent = Instant::now();
        let ok = client
            .get(&link)
            .header("Accept", "application/json")
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        latencies.push(sent.elapsed());
        if !ok {
            failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    let alive = app.public_json("/healthz").await.0 == 200;

    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let t = &tally;
    println!(
        "abuse for {secs} s: {SLOW_HEADERS} slow-header clients, {STALLED_BODIES} stalled bodies (/verify, /console/login, /api/v1/verify), {LARGE_BODY_CLIENTS} clients sending {} MiB bodies, 1 multipart of 20,000 parts",
        LARGE_BODY >> 20
    );
    println!(
        "abusers got: {} answered, {} refused (4xx), {} timed out (408), {} told busy (503), {} cut off",
        t.answered.load(Ordering::Relaxed),
        t.refused.load(Ordering::Relaxed),
        t.timeout_408.load(Ordering::Relaxed),
        t.busy_503.load(Ordering::Relaxed),
        t.cut_off.load(Ordering::Relaxed)
    );
    println!(
        "well-behaved GET /v/{{token}}: {} requests, {failures} failed, p50 {:.1} ms, p99 {:.1} ms (goal < 50), max {:.1} ms",
        latencies.len(),
        at(0.5),
        at(0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    println!(
        "server: {}, peak RSS {:.0} MiB (bound 512)",
        if alive { "alive" } else { "NOT ANSWERING" },
        peak_rss_mib(app.pid())
    );
}
