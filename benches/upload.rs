//! Streams a large file through `PUT …/materials/{name}` over loopback and compares the rate
//! with `openssl dgst -sha256` on the same file, plus the server's peak RSS.
//!
//! `cargo bench --bench upload` (ONETRIP_BENCH_MIB sets the size, default 1024).

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::io::Write;
use std::time::Instant;

use helpers::{ENTERPRISE, Staff, TestApp, licence_submission, pre_approved};
use serde_json::{Value, json};

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::var("ONETRIP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let bytes = mib << 20;
    let app = TestApp::spawn_with(&format!("max_material_bytes = {}", bytes * 2)).await;
    let path = app.dir.path().join("large.bin");
    {
        // Incompressible content: a xorshift stream, written in 1 MiB blocks.
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..mib {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            file.write_all(&block).unwrap();
        }
    }
    println!(
        "file: {mib} MiB; SHA extensions detected: {}",
        std::arch::is_x86_feature_detected!("sha")
    );

    let started = Instant::now();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .arg(&path)
        .output()
        .unwrap();
    let openssl_secs = started.elapsed().as_secs_f64();
    let openssl_digest = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let openssl_rate = mib as f64 / openssl_secs;

    let clerk = app.token("clerk", json!({})).await;
    let id = app.create(&clerk, &licence_submission(ENTERPRISE)).await;
    let file = tokio::fs::File::open(&path).await.unwrap();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
    let started = Instant::now();
    let r = app
        .client
        .put(app.api(&format!("/submissions/{id}/materials/产品检验报告")))
        .bearer_auth(&clerk)
        .header("Content-Length", bytes)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let upload_secs = started.elapsed().as_secs_f64();
    let uploaded: Value = r.json().await.unwrap();
    assert_eq!(
        uploaded["sha256"], openssl_digest,
        "the service computed the same digest"
    );
    let upload_rate = mib as f64 / upload_secs;

    // The same bytes through the window check: streamed and hashed, not written to disk, so
    // this isolates the HTTP + SHA-256 path from the disk's write rate.
    let reviewer = app.token("reviewer", json!({})).await;
    let small = b"licence".to_vec();
    app.upload(&clerk, &id, "营业执照副本", small).await;
    app.post(&clerk, &format!("/submissions/{id}/submit"), &json!({}))
        .await;
    app.post(
        &reviewer,
        &format!("/submissions/{id}/pre-review"),
        &json!({"decision": "approve"}),
    )
    .await;
    let file = tokio::fs::File::open(&path).await.unwrap();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), bytes);
    let started = Instant::now();
    let r = app
        .client
        .post(app.api(&format!("/submissions/{id}/window-check")))
        .bearer_auth(&clerk)
        .multipart(reqwest::multipart::Form::new().part("usb", part))
        .send()
        .await
        .unwrap();
    let check_secs = started.elapsed().as_secs_f64();
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["materials"][1]["status"], "matched", "{report}");
    let check_rate = mib as f64 / check_secs;

    println!("openssl dgst -sha256: {openssl_rate:8.0} MiB/s ({openssl_secs:.2} s)");
    println!(
        "upload over loopback: {upload_rate:8.0} MiB/s ({upload_secs:.2} s, hashed + written + fsynced)"
    );
    println!(
        "window check, hashed: {check_rate:8.0} MiB/s ({check_secs:.2} s, multipart, nothing written)"
    );
    println!(
        "ratio upload/openssl: {:8.2} (goal ≥ 0.6; the upload also writes and fsyncs)",
        upload_rate / openssl_rate
    );
    println!("ratio check/openssl:  {:8.2}", check_rate / openssl_rate);

    // Several clerks' windows at once: the same file checked against submissions of their
    // own, all streams together against one openssl process.
    let staff = Staff::new(&app).await;
    for streams in [2usize, 4] {
        let mut ids = Vec::new();
        for _ in 0..streams {
            let body = licence_submission(ENTERPRISE);
            let (id, _) =
                pre_approved(&app, &staff, &body, |id, i| format!("{id} {i}").into()).await;
            ids.push(id);
        }
        let started = Instant::now();
        let checks = ids.iter().map(|id| {
            let (app, clerk, path) = (&app, &staff.clerk, &path);
            async move {
                let file = tokio::fs::File::open(path).await.unwrap();
                let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
                let part = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::wrap_stream(stream),
                    bytes,
                );
                let r = app
                    .client
                    .post(app.api(&format!("/submissions/{id}/window-check")))
                    .bearer_auth(clerk)
                    .multipart(reqwest::multipart::Form::new().part("usb", part))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        });
        futures_util::future::join_all(checks).await;
        let secs = started.elapsed().as_secs_f64();
        let rate = (mib * streams as u64) as f64 / secs;
        println!(
            "{streams} checks at once: {rate:8.0} MiB/s in all ({secs:.2} s); ratio to openssl {:.2} (goal ≥ 1.3)",
            rate / openssl_rate
        );
    }
    println!(
        "server peak RSS:      {:8.1} MiB (goal < 100)",
        peak_rss_mib(app.pid())
    );
}
