//! Backups of a filled store: N licences (migrated, real-length corpus content) and M material
//! files of 1 MiB. Prints, beside the machine's own reference (GNU tar piped through
//! `openssl dgst -sha256` into a second GNU tar: the data directory read, hashed and written
//! elsewhere by tools we did not write):
//! - `onetrip backup --server` (GET /api/v1/backup, unpacked and checked): seconds and MB/s;
//! - how long writes waited while the records were copied (the server's log), and the
//!   slowest of the writes (token creations) made during the backup;
//! - `onetrip backup` of the stopped store, and `onetrip restore`.
//!
//! `cargo bench --bench backup` (ONETRIP_BENCH_N licences, default 2000; ONETRIP_BENCH_FILES
//! material files, default 200).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use helpers::{BIN, Launch, Staff, TestApp, cli, licence_submission, migration_line};
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            bytes_under(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn run(command: &mut Command) -> Duration {
    let started = Instant::now();
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let n = env_or("ONETRIP_BENCH_N", 2000);
    let files = env_or("ONETRIP_BENCH_FILES", 200);
    let log = tempfile::NamedTempFile::new().unwrap();
    let launch = Launch {
        env: vec![("RUST_LOG".into(), "info".into())],
        stderr: Some(log.path().to_owned()),
    };
    let mut app = TestApp::spawn_launched("", launch).await;
    let staff = Staff::new(&app).await;
    let mut made = 0;
    while made < files {
        let id = app
            .create(
                &staff.clerk,
                &licence_submission(&helpers::enterprise(made as u32)),
            )
            .await;
        for name in ["营业执照副本", "产品检验报告"] {
            let bytes: Vec<u8> = (0..1 << 20).map(|i| (i * 7 + made) as u8).collect();
            assert_eq!(
                app.upload(&staff.clerk, &id, name, bytes).await.status(),
                200
            );
            made += 1;
        }
    }
    app.stop();
    let batch = app.dir.path().join("migration.jsonl");
    let text: String = (0..n).map(|i| format!("{}\n", migration_line(i))).collect();
    std::fs::write(&batch, text).unwrap();
    let issued = cli(
        app.dir.path(),
        &["issue", "--batch", batch.to_str().unwrap()],
    );
    assert!(issued.status.success());
    app.restart_stopped();
    let data = app.data();
    let size = bytes_under(&data) as f64 / 1e6;
    println!("store: {n} licences, {made} material files of 1 MiB, {size:.0} MB on disk");

    let work = tempfile::tempdir().unwrap();
    let copied = work.path().join("reference");
    std::fs::create_dir(&copied).unwrap();
    let reference = run(Command::new("bash").arg("-c").arg(format!(
        "tar -cf - -C {} . | tee >(openssl dgst -sha256 > /dev/null) | tar -xf - -C {}",
        data.display(),
        copied.display()
    )));
    let reference_rate = size / reference.as_secs_f64();
    println!(
        "reference: tar -c | openssl dgst -sha256 + tar -x (the data directory read, hashed and written elsewhere): {:.2} s, {reference_rate:.0} MB/s",
        reference.as_secs_f64()
    );

    // Writes go on during the backup: the slowest shows how long they waited for the copy.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, url, admin, stop) = (
            app.client.clone(),
            app.api("/tokens"),
            app.admin.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut writes = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(&admin)
                    .json(&json!({"role": "clerk"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                slowest = slowest.max(started.elapsed());
                writes += 1;
            }
            (writes, slowest)
        })
    };
    let online = work.path().join("online");
    let took = tokio::task::spawn_blocking({
        let (url, admin, online) = (app.url.clone(), app.admin.clone(), online.clone());
        move || {
            run(Command::new(BIN)
                .args(["backup", "--to", online.to_str().unwrap(), "--server", &url])
                .env("ONETRIP_TOKEN", admin))
        }
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (writes, slowest) = writer.await.unwrap();
    let backup_size = bytes_under(&online) as f64 / 1e6;
    let rate = backup_size / took.as_secs_f64();
    println!(
        "online backup: {backup_size:.0} MB in {:.2} s, {rate:.0} MB/s = {:.2}x the reference",
        took.as_secs_f64(),
        rate / reference_rate
    );
    let logged = std::fs::read_to_string(log.path()).unwrap();
    let paused = logged
        .lines()
        .filter(|l| l.contains("records copied for a backup"))
        .filter_map(|l| l.split("writes_waited_ms=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .next_back()
        .unwrap_or("?");
    println!(
        "writes waited while the records were copied: {paused} ms; {writes} writes during the backup, the slowest {:.0} ms",
        slowest.as_secs_f64() * 1e3
    );

    app.stop();
    let offline = work.path().join("offline");
    let took = run(Command::new(BIN).args([
        "--config",
        app.dir.path().join("onetrip.toml").to_str().unwrap(),
        "backup",
        "--to",
        offline.to_str().unwrap(),
    ]));
    println!(
        "stopped-store backup: {:.2} s, {:.0} MB/s",
        took.as_secs_f64(),
        bytes_under(&offline) as f64 / 1e6 / took.as_secs_f64()
    );
    let restored = work.path().join("restored");
    let took = run(Command::new(BIN).args([
        "restore",
        "--from",
        online.to_str().unwrap(),
        "--to",
        restored.to_str().unwrap(),
    ]));
    println!(
        "restore (check every digest, write the store, copy keys and files): {:.2} s, {:.0} MB/s",
        took.as_secs_f64(),
        backup_size / took.as_secs_f64()
    );
}
