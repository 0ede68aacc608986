//! The service and its PostgreSQL: the connection encrypted when the address asks, and the
//! server going away and coming back under load: requests get 503 (never a hang, a panic
//! or a 500), `/healthz` says why, and the service recovers by itself without a restart,
//! with everything it acknowledged. The server it stops is a throwaway cluster of this
//! test's own, never one the machine runs for everyone.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

/// A PostgreSQL cluster in a temporary directory, on a free port, run by the `postgres`
/// user when the tests run as root (PostgreSQL refuses root); stopped and removed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql (Debian's postgresql)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster { dir, bin, port };
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(cluster.dir.path())
                .status()
                .unwrap();
            assert!(owned.success());
        }
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// One of PostgreSQL's programs, as the user that owns the cluster.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    fn pg_ctl_stop(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The status of `GET path`, with a bearer token if given; never waits more than 30 s.
async fn status_of(app: &TestApp, token: Option<&str>, path: &str) -> u16 {
    let request = app.client.get(format!("{}{path}", app.url));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("an answer, not a hang")
        .status()
        .as_u16()
}

/// A request's status, when it was answered and how long it took.
type Answer = (Instant, u16, Duration);

/// Clients that file a submission and read it back, over and over, until stopped: every
/// answer, and every submission whose filing was acknowledged (201).
struct Load {
    stop: Arc<AtomicBool>,
    workers: tokio::task::JoinSet<(Vec<Answer>, Vec<String>)>,
}

impl Load {
    fn start(app: &TestApp, token: &str, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut running = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (client, url, token, stop) = (
                app.client.clone(),
                app.url.clone(),
                token.to_owned(),
                stop.clone(),
            );
            running.spawn(async move {
                let (mut seen, mut acknowledged) = (Vec::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let filed = client
                        .post(format!("{url}/api/v1/submissions"))
                        .bearer_auth(&token)
                        .json(&licence_submission(ENTERPRISE))
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await
                        .expect("an answer, not a hang");
                    let status = filed.status().as_u16();
                    seen.push((Instant::now(), status, started.elapsed()));
                    if status != 201 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    let body: Value = filed.json().await.unwrap();
                    let id = body["id"].as_str().unwrap().to_owned();
                    let started = Instant::now();
                    let read = client
                        .get(format!("{url}/api/v1/submissions/{id}"))
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await
                        .expect("an answer, not a hang");
                    seen.push((Instant::now(), read.status().as_u16(), started.elapsed()));
                    acknowledged.push(id);
                }
                (seen, acknowledged)
            });
        }
        Load {
            stop,
            workers: running,
        }
    }

    async fn stop(mut self) -> (Vec<(Instant, u16, Duration)>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut seen, mut acknowledged) = (Vec::new(), Vec::new());
        while let Some(worker) = self.workers.join_next().await {
            let (s, a) = worker.unwrap();
            seen.extend(s);
            acknowledged.extend(a);
        }
        (seen, acknowledged)
    }
}

/// Polls `probe` until it answers `want`, for at most `within`; the statuses it saw.
async fn until(within: Duration, want: u16, mut probe: impl AsyncFnMut() -> u16) -> Vec<u16> {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let status = probe().await;
        seen.push(status);
        if status == want || started.elapsed() > within {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_database_stopped_and_started_gives_503s_and_the_service_recovers_by_itself() {
    if !on_postgres() {
        eprintln!("runs in the PostgreSQL pass (STORE_UNDER_TEST=postgres)");
        return;
    }
    let cluster = Cluster::start();
    cluster.run(
        "createdb",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port.to_string(),
            "-U",
            "postgres",
            "onetrip",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = format!("store = {:?}", cluster.url("onetrip"));
    let app = TestApp::spawn_sled_in(dir, &store, Launch::default()).await;
    let applicant = app
        .token("applicant", serde_json::json!({"holder": ENTERPRISE}))
        .await;
    let id = app
        .create(&applicant, &licence_submission(ENTERPRISE))
        .await;
    let path = format!("/api/v1/submissions/{id}");
    assert_eq!(status_of(&app, Some(&applicant), &path).await, 200);
    assert_eq!(status_of(&app, None, "/healthz").await, 200);

    let load = Load::start(&app, &applicant, 6);
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.pg_ctl_stop();
    let seen = until(Duration::from_secs(30), 503, async || {
        status_of(&app, None, "/healthz").await
    })
    .await;
    assert_eq!(
        seen.last(),
        Some(&503),
        "healthz while the database is down: {seen:?}"
    );
    let health: Value = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["error"]["code"], "store_unavailable", "{health}");
    // A request that needs the store: 503 with a reason.
    let response = app
        .client
        .get(format!("{}{path}", app.url))
        .bearer_auth(&applicant)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.pg_ctl_start();
    let returned = Instant::now();
    let seen = until(Duration::from_secs(30), 200, async || {
        status_of(&app, None, "/healthz").await
    })
    .await;
    assert_eq!(
        seen.last(),
        Some(&200),
        "healthz after the database returned: {seen:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (answered, acknowledged) = load.stop().await;
    let statuses: std::collections::BTreeMap<u16, usize> =
        answered
            .iter()
            .fold(Default::default(), |mut counts, (_, status, _)| {
                *counts.entry(*status).or_default() += 1;
                counts
            });
    eprintln!("under load through the outage: {statuses:?}");
    assert!(
        statuses.keys().all(|s| [200, 201, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains_key(&503), "{statuses:?}");
    let slowest = answered.iter().map(|(_, _, took)| *took).max().unwrap();
    assert!(slowest < Duration::from_secs(20), "{slowest:?}");
    assert!(
        answered
            .iter()
            .any(|(at, status, _)| *at > returned && *status == 201),
        "filings succeed again after the database returned"
    );
    // Nothing acknowledged was lost.
    for id in &acknowledged {
        let path = format!("/api/v1/submissions/{id}");
        assert_eq!(status_of(&app, Some(&applicant), &path).await, 200, "{id}");
    }
    let statuses = until(Duration::from_secs(30), 200, async || {
        status_of(&app, Some(&applicant), &path).await
    })
    .await;
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert!(!statuses.contains(&500), "{statuses:?}");
    let again = app
        .create(&applicant, &licence_submission(ENTERPRISE))
        .await;
    assert_ne!(again, id);
}

/// With `sslmode=require` in its address, every connection the service holds to PostgreSQL
/// is encrypted (rustls), as the server itself reports.
#[tokio::test]
async fn the_store_connects_over_tls_when_its_address_asks() {
    use sqlx::Connection;
    if !on_postgres() {
        eprintln!("runs in the PostgreSQL pass (STORE_UNDER_TEST=postgres)");
        return;
    }
    let database = TestDatabase::create().await;
    let url = format!("{}?sslmode=require", database.url);
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_sled_in(dir, &format!("store = {url:?}"), Launch::default()).await;
    let applicant = app
        .token("applicant", serde_json::json!({"holder": ENTERPRISE}))
        .await;
    app.create(&applicant, &licence_submission(ENTERPRISE))
        .await;
    let name = database.url.rsplit('/').next().unwrap().to_owned();
    let mut observer = sqlx::PgConnection::connect(&database.url).await.unwrap();
    let connections: Vec<(bool,)> = sqlx::query_as(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'onetrip' AND a.datname = $1",
    )
    .bind(&name)
    .fetch_all(&mut observer)
    .await
    .unwrap();
    assert!(!connections.is_empty(), "the service holds no connection");
    assert!(connections.iter().all(|(ssl,)| *ssl), "{connections:?}");
    drop(app);
}
