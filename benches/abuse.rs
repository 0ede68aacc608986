//! The service under hostile load, with default settings. Each case runs on a fresh server
//! for ABUSE_SECS seconds (default 20), then every case at once on one more: the abusers
//! connect from 127.0.0.2 to 127.0.0.9, as from other machines, while two well-behaved
//! clients from 127.0.0.1 verify a certificate (`GET /v/{token}`) and, as a signed-in clerk,
//! read a submission, each in a loop. For each case it prints what the abusers got, each
//! well-behaved client's requests, failures and p99 (goal: no failure, p99 < 100 ms), the
//! server's RSS at start, its peak (goal ≤ 512 MiB) and how far it falls back within 30 s
//! after the abuse stops.
//!
//! `bash bench/abuse.sh` (or `cargo bench --bench abuse`); `ABUSE_CASES="5 6"` runs only those
//! cases, `ABUSE_CASES=all` only the run of all at once.

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use helpers::{Staff, TestApp, issued_licence, rss_mib};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The abusers' addresses: 127.0.0.2 to 127.0.0.9.
const ABUSER_HOSTS: u8 = 8;

#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    busy_503: AtomicU64,
    too_many_429: AtomicU64,
    timeout_408: AtomicU64,
    refused: AtomicU64,
    cut_off: AtomicU64,
}

impl Tally {
    fn record(&self, answer: &[u8]) {
        let status = answer.get(9..12).unwrap_or_default();
        let counter = match status {
            b"503" => &self.busy_503,
            b"429" => &self.too_many_429,
            b"408" => &self.timeout_408,
            b"" => &self.cut_off,
            s if s.starts_with(b"4") => &self.refused,
            _ => &self.answered,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} answered, {} refused (4xx), {} cut at 408, {} told 429, {} told 503, {} closed without answer",
            n(&self.answered),
            n(&self.refused),
            n(&self.timeout_408),
            n(&self.too_many_429),
            n(&self.busy_503),
            n(&self.cut_off)
        )
    }
}

/// What one abusing connection does, over and over until the case ends.
#[derive(Clone)]
enum Script {
    /// Sends `head`, then one byte every `every`.
    Trickle { head: String, every: Duration },
    /// Connects and sends nothing.
    Idle,
    /// Sends a request line and then a header line 4 KiB at a time, once a second, never
    /// ending it.
    EndlessHeaders,
    /// Sends `head` and all of `body` but its last byte, then waits.
    SendAndStall { head: String, body: Arc<Vec<u8>> },
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

fn abuser_address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        2 + (i % ABUSER_HOSTS as usize) as u8,
    ))
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(from, 0)).ok()?;
    socket.connect(to).await.ok()
}

/// Reads whatever the server answers (or nothing, if it closes) until `stop`.
async fn answer(stream: &mut TcpStream, stop: &AtomicBool) -> Vec<u8> {
    let mut answer = vec![0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut answer)).await {
            Ok(Ok(n)) => {
                answer.truncate(n);
                return answer;
            }
            Ok(Err(_)) => return Vec::new(),
            Err(_) => {}
        }
    }
    Vec::new()
}

async fn run_script(stream: &mut TcpStream, script: &Script, stop: &AtomicBool) -> Vec<u8> {
    match script {
        Script::Trickle { head, every } => {
            if stream.write_all(head.as_bytes()).await.is_err() {
                return Vec::new();
            }
            let mut read = vec![0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(*every, stream.read(&mut read)).await {
                    Ok(Ok(n)) => {
                        read.truncate(n);
                        return read;
                    }
                    Ok(Err(_)) => return Vec::new(),
                    Err(_) => {
                        if stream.write_all(b"a").await.is_err() {
                            return answer(stream, stop).await;
                        }
                    }
                }
            }
            Vec::new()
        }
        Script::Idle => answer(stream, stop).await,
        Script::EndlessHeaders => {
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: onetrip\r\nX-Pad: ")
                .await;
            let pad = [b'a'; 4096];
            let mut read = vec![0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                if stream.write_all(&pad).await.is_err() {
                    return answer(stream, stop).await;
                }
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(1), stream.read(&mut read)).await
                {
                    read.truncate(n);
                    return read;
                }
            }
            Vec::new()
        }
        Script::SendAndStall { head, body } => {
            if stream.write_all(head.as_bytes()).await.is_err()
                || stream.write_all(&body[..body.len() - 1]).await.is_err()
            {
                return answer(stream, stop).await;
            }
            answer(stream, stop).await
        }
    }
}

/// `count` connections running `script`, each reconnecting when its connection ends.
fn abuse(
    count: usize,
    script: Script,
    to: SocketAddr,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|i| {
            let (script, tally, stop) = (script.clone(), Arc::clone(tally), Arc::clone(stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Some(mut stream) = connect_from(abuser_address(i), to).await else {
                        tally.record(b"");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    tally.record(&run_script(&mut stream, &script, &stop).await);
                    // Abusers share this machine's two cores with the server: pacing their
                    // reconnections keeps the figures about the server, not the scheduler.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        })
        .collect()
}

/// Signed-in batch uploads from the abusers' addresses (a clerk's token leaked, or a buggy
/// integration): `count` clients sending `body` over and over, reading each batch's result.
fn batch_abuse(
    count: usize,
    body: Arc<Vec<u8>>,
    app: &TestApp,
    token: &str,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|i| {
            let (body, tally, stop) = (Arc::clone(&body), Arc::clone(tally), Arc::clone(stop));
            let (url, token) = (app.url.clone(), token.to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .local_address(abuser_address(i))
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let sent = client
                        .post(format!("{url}/api/v1/batches"))
                        .bearer_auth(&token)
                        .body(body.as_ref().clone())
                        .send()
                        .await;
                    let Ok(response) = sent else {
                        tally.record(b"");
                        continue;
                    };
                    let status = response.status().as_u16();
                    tally.record(format!("HTTP/1.1 {status}").as_bytes());
                    if let Ok(batch) = response.json::<Value>().await
                        && let Some(id) = batch["id"].as_str()
                    {
                        let _ = client
                            .get(format!("{url}/api/v1/batches/{id}"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .map(|r| r.bytes());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect()
}

const CASES: &[&str] = &[
    "64 PDF uploads to /api/v1/verify trickling 1 byte every 10 s",
    "520 sign-ins trickling 1 byte every 10 s",
    "12,000 idle connections",
    "5,000 connections with headers that never end",
    "512 anonymous 1 MB sign-in forms, stalled before their last byte",
    "64 anonymous 10 MB PDF uploads, stalled before their last byte",
    "60 clerk batch uploads of 16 MiB",
    "50 batches whose one line names a 16 MiB submission id",
];

fn start_case(
    case: usize,
    app: &TestApp,
    abuser_token: &str,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let to: SocketAddr = app.url.trim_start_matches("http://").parse().unwrap();
    let post = |path: &str, content_type: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: onetrip\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    let every = Duration::from_secs(10);
    match case {
        0 => abuse(
            64,
            Script::Trickle {
                head: post("/api/v1/verify", "application/pdf", 10_000_000),
                every,
            },
            to,
            tally,
            stop,
        ),
        1 => abuse(
            520,
            Script::Trickle {
                head: post(
                    "/console/login",
                    "application/x-www-form-urlencoded",
                    1_000_000,
                ),
                every,
            },
            to,
            tally,
            stop,
        ),
        2 => abuse(12_000, Script::Idle, to, tally, stop),
        3 => abuse(5_000, Script::EndlessHeaders, to, tally, stop),
        4 => abuse(
            512,
            Script::SendAndStall {
                head: post(
                    "/console/login",
                    "application/x-www-form-urlencoded",
                    1_000_000,
                ),
                body: Arc::new(b"token=".iter().copied().cycle().take(1_000_000).collect()),
            },
            to,
            tally,
            stop,
        ),
        5 => abuse(
            64,
            Script::SendAndStall {
                head: post("/api/v1/verify", "application/pdf", 10_000_000),
                body: Arc::new(vec![b'%'; 10_000_000]),
            },
            to,
            tally,
            stop,
        ),
        6 => {
            let line = format!("{}\n", json!({"submission": "sub_0000000000000000"}));
            let body: Vec<u8> = line.bytes().cycle().take(16 << 20).collect();
            batch_abuse(60, Arc::new(body), app, abuser_token, tally, stop)
        }
        _ => {
            let id = "a".repeat(16 << 20);
            let body = format!("{}\n", json!({ "submission": id })).into_bytes();
            batch_abuse(50, Arc::new(body), app, abuser_token, tally, stop)
        }
    }
}

/// Latencies and failures of one well-behaved client.
#[derive(Default)]
struct Served {
    latencies: Vec<Duration>,
    failures: u64,
}

impl Served {
    fn line(&mut self, who: &str) -> String {
        self.latencies.sort();
        let at = |q: f64| {
            let i = ((self.latencies.len() as f64 * q) as usize)
                .min(self.latencies.len().saturating_sub(1));
            self.latencies
                .get(i)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        format!(
            "{who}: {} requests, {} failed, p50 {:.1} ms, p99 {:.1} ms (goal < 100), max {:.1} ms",
            self.latencies.len(),
            self.failures,
            at(0.5),
            at(0.99),
            at(1.0)
        )
    }
}

/// Sends `request` in a loop until `until`, every 20 ms.
async fn well_behaved(request: reqwest::RequestBuilder, until: Instant) -> Served {
    let mut served = Served::default();
    while Instant::now() < until {
        let sent = Instant::now();
        let ok = request
            .try_clone()
            .unwrap()
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        served.latencies.push(sent.elapsed());
        if !ok {
            served.failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served
}

async fn run(cases: &[usize], secs: u64) {
    let app = TestApp::spawn_with("").await;
    let staff = Staff::new(&app).await;
    let abuser_clerk = app.token("clerk", json!({})).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let link = cert["verify_url"].as_str().unwrap().to_owned();
    let submission = cert["submission"].as_str().unwrap().to_owned();
    let pid = app.pid();
    let start_rss = rss_mib(pid, "VmRSS:");
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    // The well-behaved clients connect before the abuse starts, as regulars would.
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()
        .unwrap();
    let verify = client.get(&link).header("Accept", "application/json");
    let clerk = client
        .get(app.api(&format!("/submissions/{submission}")))
        .bearer_auth(&staff.clerk);
    // The abusers run on a runtime of their own, one thread: as from another machine, their
    // thousands of tasks neither queue ahead of the well-behaved clients' nor take more than
    // one of this machine's cores.
    let abusers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tasks: Vec<_> = {
        let _inside = abusers.enter();
        cases
            .iter()
            .flat_map(|&case| start_case(case, &app, &abuser_clerk, &tally, &stop))
            .collect()
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let until = Instant::now() + Duration::from_secs(secs);
    let (mut verified, mut clerked) =
        tokio::join!(well_behaved(verify, until), well_behaved(clerk, until));
    let peak = rss_mib(pid, "VmHWM:");
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    abusers.shutdown_background();
    let stopped = Instant::now();
    let mut after = rss_mib(pid, "VmRSS:");
    while stopped.elapsed() < Duration::from_secs(30) && after > start_rss + 32.0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after = rss_mib(pid, "VmRSS:");
    }
    let alive = app.public_json("/healthz").await.0 == 200;
    let names: Vec<&str> = cases.iter().map(|&c| CASES[c]).collect();
    println!("\n== {}", names.join(" + "));
    println!("abusers got: {}", tally.line());
    println!("{}", verified.line("well-behaved GET /v/{token}"));
    println!(
        "{}",
        clerked.line("signed-in clerk GET /api/v1/submissions/{id}")
    );
    println!(
        "server: {}; RSS {start_rss:.0} MiB at start, peak {peak:.0} MiB (bound 512), {after:.0} MiB {:.0} s after the abuse stopped",
        if alive { "alive" } else { "NOT ANSWERING" },
        stopped.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    raise_file_limit();
    let secs: u64 = std::env::var("ABUSE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    println!(
        "abuse: each case for {secs} s on a fresh server with default settings, then all at once; abusers from {ABUSER_HOSTS} addresses"
    );
    // ABUSE_CASES="5 6" runs only those cases (numbered from 0 as listed in CASES), and
    // "all" only the run of every case at once.
    let chosen = std::env::var("ABUSE_CASES").unwrap_or_default();
    let all: Vec<usize> = (0..CASES.len()).collect();
    if chosen.trim() == "all" {
        run(&all, secs).await;
        return;
    }
    let cases: Vec<usize> = chosen
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .filter(|&c| c < CASES.len())
        .collect();
    if !cases.is_empty() {
        for case in cases {
            run(&[case], secs).await;
        }
        return;
    }
    for case in all.iter().copied() {
        run(&[case], secs).await;
    }
    run(&all, secs).await;
}
