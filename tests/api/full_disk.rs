//! A full disk: writes fail and say so, `/healthz` reports it with the reason, and once space
//! is free again the service recovers by itself; a start tried on the full disk does not
//! damage the store either. Every acknowledged write is still there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

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
    let mut app = TestApp::spawn_in(dir, "", Launch::default()).await;
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
