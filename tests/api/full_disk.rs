//! A full disk: writes fail and say so, `/healthz` reports it with the reason, and once space
//! is free again the service recovers by itself; a start tried on the full disk does not
//! damage the store either. Every acknowledged write is still there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::metrics::{admin_scrape, value};

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with one file, to the last byte it takes.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 << 10];
    while file.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn a_full_disk_is_reported_and_recovered_from_without_losing_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(mount) = Tmpfs::mount(&data, "16m") else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs (needs root)");
        return;
    };
    let mut app = TestApp::spawn_sled_in(dir, "", Launch::default()).await;
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let mut acknowledged = Vec::new();
    for _ in 0..3 {
        acknowledged.push(
            app.create(&applicant, &licence_submission(ENTERPRISE))
                .await,
        );
    }

    let filler = fill(&mount.0);
    let mut refused = 0;
    for _ in 0..3000 {
        let r = app
            .post(&applicant, "/submissions", &licence_submission(ENTERPRISE))
            .await;
        if r.status() == 201 {
            let body: serde_json::Value = r.json().await.unwrap();
            acknowledged.push(body["id"].as_str().unwrap().to_owned());
        } else {
            assert!(r.status().is_server_error(), "{}", r.status());
            refused += 1;
            if refused >= 3 {
                break;
            }
        }
    }
    assert!(refused >= 3, "writes kept succeeding on a full disk");
    let (status, health) = app.public_json("/healthz").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["error"]["code"], "store_unavailable", "{health}");

    assert!(
        health["error"]["message"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{health}"
    );
    // Each refused write met the store's failure, and Prometheus is told.
    let samples = admin_scrape(&app).await;
    let errors: f64 = ["unavailable", "failed"]
        .iter()
        .map(|error| value(&samples, "onetrip_store_errors_total", &[("error", error)]))
        .sum();
    assert!(
        errors >= refused as f64,
        "{errors} store errors for {refused} refusals"
    );

    // Space comes back: the service recovers by itself, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let r = app
            .post(&applicant, "/submissions", &licence_submission(ENTERPRISE))
            .await;
        if r.status() == 201 {
            let body: serde_json::Value = r.json().await.unwrap();
            acknowledged.push(body["id"].as_str().unwrap().to_owned());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still failing 20 s after space was freed: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, health) = app.public_json("/healthz").await;
    assert_eq!(status, 200, "{health}");

    // Full again, and an operator restarts before freeing space: the store does not open
    // (and sled leaves an empty snapshot behind). Space comes back; the next start works.
    let filler = fill(&mount.0);
    while app
        .post(&applicant, "/submissions", &licence_submission(ENTERPRISE))
        .await
        .status()
        == 201
    {}
    app.stop();
    let opened = cli(app.dir.path(), &["token", "list"]);
    assert!(!opened.status.success(), "the store opened on a full disk");
    std::fs::remove_file(&filler).unwrap();
    app.restart_stopped();
    let (status, health) = app.public_json("/healthz").await;
    assert_eq!(status, 200, "{health}");

    // Everything acknowledged is there, before and after a restart.
    for round in 0..2 {
        for id in &acknowledged {
            let r = app.get(&applicant, &format!("/submissions/{id}")).await;
            assert_eq!(r.status(), 200, "{id} lost (round {round})");
        }
        app.restart();
    }
}

/// Uploads `bytes` without a `Content-Length` (chunked), so that the server cannot refuse it
/// from its size and really writes it.
async fn upload_chunked(
    app: &TestApp,
    token: &str,
    id: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(16 << 10).map(|c| Ok(c.to_vec())).collect();
    app.client
        .put(app.api(&format!("/submissions/{id}/materials/{name}")))
        .bearer_auth(token)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every file under `dir`, recursively.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_in(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_full_disk_for_material_files_only_answers_503_says_why_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let materials = dir.path().join("data").join("materials");
    let Some(mount) = Tmpfs::mount(&materials, "8m") else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs (needs root)");
        return;
    };
    let app = TestApp::spawn_sled_in(dir, "", Launch::default()).await;
    let staff = Staff::new(&app).await;
    let id = app
        .create(&staff.clerk, &licence_submission(&enterprise(8101)))
        .await;
    let licence: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = app
        .upload(&staff.clerk, &id, "营业执照副本", licence.clone())
        .await;
    assert_eq!(r.status(), 200);

    // The materials' file system fills up; the store beside it has room.
    let filler = fill(&mount.0);
    let report = b"test report, all pages signed".repeat(2000);
    let r = upload_chunked(&app, &staff.clerk, &id, "产品检验报告", report.clone()).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "materials_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("材料") && message.contains("material files"),
        "{body}"
    );
    // Known to be full now: the next one is refused before its body is read.
    let r = app
        .upload(&staff.clerk, &id, "产品检验报告", report.clone())
        .await;
    assert_eq!(r.status(), 503);
    let (status, health) = app.public_json("/healthz").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["error"]["code"], "materials_unavailable", "{health}");
    let reason = health["error"]["message"].as_str().unwrap();
    assert!(
        reason.contains("material files") && reason.contains("No space left on device"),
        "{health}"
    );
    // Nothing partial is left, nothing was recorded, and the store still writes.
    assert_eq!(files_in(&materials.join("tmp")), Vec::<PathBuf>::new());
    let filed: serde_json::Value = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(
        filed["materials"][1]["sha256"],
        serde_json::Value::Null,
        "{filed}"
    );
    app.create(&staff.clerk, &licence_submission(&enterprise(8102)))
        .await;

    // Room comes back: uploads and health recover by themselves.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let r = app
            .upload(&staff.clerk, &id, "产品检验报告", report.clone())
            .await;
        if r.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still failing 20 s after space was freed: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, health) = app.public_json("/healthz").await;
    assert_eq!(status, 200, "{health}");

    // What was acknowledged is whole: the files on disk have the recorded digests, and the
    // window check of the same files matches.
    let filed: serde_json::Value = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    let recorded: Vec<String> = filed["materials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recorded, vec![sha256_hex(&licence), sha256_hex(&report)]);
    let mut on_disk: Vec<String> = files_in(&materials.join(&id))
        .iter()
        .map(|f| sha256_hex(&std::fs::read(f).unwrap()))
        .collect();
    on_disk.sort();
    let mut expected = recorded.clone();
    expected.sort();
    assert_eq!(on_disk, expected);
    submit_and_pre_approve(&app, &staff, &id).await;
    let digests: Vec<serde_json::Value> = filed["materials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"name": m["name"], "sha256": m["sha256"]}))
        .collect();
    let r = app
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/window-check"),
            &json!({"digests": digests}),
        )
        .await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["outcome"],
        "matched"
    );
}
