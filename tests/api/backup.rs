//! Backups: `GET /api/v1/backup` through `onetrip backup --server` while the service works,
//! `onetrip backup` of a stopped store, and `onetrip restore`, with the restored store served
//! and checked: every certificate verifies (by PDF, link and 核验码) and hands back the same
//! PDF, every material file has the digest the window check compares with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    BIN, Launch, Staff, TestApp, cli, enterprise, finished_batch, issued_licence_of,
    licence_submission, migration_line,
};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `onetrip backup --to DIR --server URL` with the admin token in `ONETRIP_TOKEN`.
fn backup_from_server(app: &TestApp, to: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["backup", "--to", to.to_str().unwrap(), "--server", &app.url])
        .env("ONETRIP_TOKEN", &app.admin)
        .output()
        .unwrap()
}

/// The CLI with no config file: what `backup --server` and `restore` need.
fn onetrip(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "exit {}: {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The restore of `backup` served from a directory of its own.
async fn serve_restored(backup: &Path) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let restored = onetrip(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--to",
        data.to_str().unwrap(),
    ]);
    let printed = succeeded(&restored);
    assert!(printed.contains("onetrip serve --data"), "{printed}");
    TestApp::spawn_sled_in(dir, "", Launch::default()).await
}

/// Everything a bank or the window relies on of one certificate, on `app`.
async fn assert_verifies(app: &TestApp, record: &Value, pdf: &[u8]) {
    let id = record["id"].as_str().unwrap();
    let served = app
        .get(&app.admin, &format!("/certificates/{id}/pdf"))
        .await;
    assert_eq!(served.status(), 200, "{id}");
    assert_eq!(sha256_hex(&served.bytes().await.unwrap()), sha256_hex(pdf));
    let (status, by_link) = app
        .public_json(&format!("/v/{}", record["token"].as_str().unwrap()))
        .await;
    assert_eq!((status, by_link["verdict"].as_str()), (200, Some("valid")));
    let (_, by_code) = app
        .public_json(&format!("/c/{}", record["code"].as_str().unwrap()))
        .await;
    assert_eq!(by_code["verdict"], "valid", "{by_code}");
    let by_pdf = app.verify_pdf(pdf).await;
    assert_eq!(by_pdf["verdict"], "valid", "{by_pdf}");
}

/// Each material of submission `id`, as `app` records it: (name, sha256, size).
async fn materials_of(app: &TestApp, id: &str) -> Vec<(String, String, u64)> {
    let submission = app
        .get_json(&app.admin, &format!("/submissions/{id}"))
        .await;
    submission["materials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["sha256"].is_null())
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["sha256"].as_str().unwrap().to_owned(),
                m["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every file under `dir`, hashed independently of the service.
fn digests_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(here) = pending.pop() {
        for entry in std::fs::read_dir(&here).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "tmp" {
                    pending.push(entry.path());
                }
            } else {
                found.push(sha256_hex(&std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    found
}

/// A backup taken while clerks issue and replace materials restores into a store that holds
/// every certificate issued before it began, each verifying by PDF, link and code and
/// handing back the same PDF; every material the restored records name is there with its
/// recorded digest (the restore checks, and the test hashes the files itself); the manifest
/// matches the files.
#[tokio::test]
async fn a_backup_under_load_restores_every_certificate_and_material() {
    let app = Arc::new(TestApp::spawn_sled().await);
    let staff = Arc::new(Staff::new(&app).await);
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let mut before = Vec::new();
    for i in 0..6 {
        let record = issued_licence_of(&app, &staff, &scjg, &enterprise(i)).await;
        let pdf = crate::helpers::certificate_pdf(&app, &app.admin, &record).await;
        before.push((record, pdf));
    }
    // A batch run by the server: the backup carries it with its lines' results (and the
    // licence it migrated, the `1` counted below beside `before`).
    let batch = finished_batch(&app, &staff.clerk, migration_line(7).to_string()).await;
    assert_eq!(batch["issued"], 1, "{batch}");
    // A draft whose material is replaced over and over while the backup runs: the replaced
    // files are removed meanwhile, which must not take a file the copied records still name.
    let draft = app
        .create(&staff.clerk, &licence_submission(&enterprise(40)))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let uploads = Arc::new(AtomicU32::new(0));
    let issued = Arc::new(AtomicU32::new(0));
    let during = Arc::new(Mutex::new(Vec::new()));
    let mut load = Vec::new();
    {
        let (app, staff, stop, draft) = (app.clone(), staff.clone(), stop.clone(), draft.clone());
        let uploads = uploads.clone();
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = uploads.load(Ordering::Relaxed);
                let bytes = format!("第{n}版营业执照").repeat(2000).into_bytes();
                let r = app
                    .upload(&staff.clerk, &draft, "营业执照副本", bytes)
                    .await;
                assert_eq!(r.status(), 200);
                uploads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        let (app, staff, stop, scjg) = (app.clone(), staff.clone(), stop.clone(), scjg.clone());
        let (issued, during) = (issued.clone(), during.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = issued.load(Ordering::Relaxed);
                let record = issued_licence_of(&app, &staff, &scjg, &enterprise(100 + n)).await;
                let pdf = crate::helpers::certificate_pdf(&app, &app.admin, &record).await;
                during.lock().unwrap().push((record, pdf));
                issued.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // The backup starts once the load is under way: a licence issued, replacements made.
    while issued.load(Ordering::Relaxed) < 1 || uploads.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let issued_before_backup = issued.load(Ordering::Relaxed) as usize;
    let backup = tempfile::tempdir().unwrap();
    let target = backup.path().join("backup");
    let taken = {
        let app = app.clone();
        let target = target.clone();
        tokio::task::spawn_blocking(move || backup_from_server(&app, &target))
            .await
            .unwrap()
    };
    let printed = succeeded(&taken);
    let warned = String::from_utf8_lossy(&taken.stderr);
    assert!(!warned.contains("not a setting"), "{warned}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(printed.contains("certificates"), "{printed}");

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(target.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "onetrip-backup");
    let listed = manifest["files"].as_array().unwrap();
    for file in listed {
        let bytes = std::fs::read(target.join(file["path"].as_str().unwrap())).unwrap();
        assert_eq!(sha256_hex(&bytes), file["sha256"].as_str().unwrap());
        assert_eq!(bytes.len() as u64, file["size"].as_u64().unwrap());
    }
    let certificates = manifest["counts"]["certificates"].as_u64().unwrap();
    assert!(
        certificates >= (before.len() + 1 + issued_before_backup) as u64,
        "{manifest}"
    );
    assert!(
        certificates <= (before.len() + 1 + issued.load(Ordering::Relaxed) as usize) as u64,
        "{manifest}"
    );

    let restored = serve_restored(&target).await;
    let batch_path = format!("/batches/{}", batch["id"].as_str().unwrap());
    assert_eq!(restored.get_json(&staff.clerk, &batch_path).await, batch);
    for (record, pdf) in &before {
        assert_verifies(&restored, record, pdf).await;
    }
    // The draft's material, as the restored records name it, is the file the restore made.
    let materials = materials_of(&restored, &draft).await;
    assert_eq!(materials.len(), 1);
    let on_disk = digests_under(&restored.data().join("materials"));
    for (record, _) in &before {
        let id = record["submission"].as_str().unwrap();
        let restored_materials = materials_of(&restored, id).await;
        assert_eq!(restored_materials.len(), 2, "{id}");
        for (name, sha256, _) in &restored_materials {
            assert!(on_disk.contains(sha256), "{id} {name}");
        }
        assert_eq!(restored_materials, materials_of(&app, id).await);
    }
    assert!(on_disk.contains(&materials[0].1));
    // Each licence issued while the backup ran is in it whole (record, PDF, code, index) or
    // not at all: as many as the manifest counts.
    let during = std::mem::take(&mut *during.lock().unwrap());
    let mut present = 0;
    for (record, pdf) in &during {
        let id = record["id"].as_str().unwrap();
        let status = restored
            .get(&restored.admin, &format!("/certificates/{id}"))
            .await
            .status();
        match status.as_u16() {
            200 => {
                assert_verifies(&restored, record, pdf).await;
                present += 1;
            }
            404 => {
                let (status, verdict) = restored
                    .public_json(&format!("/c/{}", record["code"].as_str().unwrap()))
                    .await;
                assert_eq!(
                    (status, verdict["verdict"].as_str()),
                    (404, Some("not_issued"))
                );
            }
            other => panic!("{id}: {other}"),
        }
    }
    assert_eq!(
        before.len() as u64 + 1 + present,
        certificates,
        "{manifest}"
    );
    // The restored store serves new work: its key signs, its sequence goes on.
    let restored_staff = Staff::new(&restored).await;
    let restored_scjg = restored
        .token("approver", json!({"department": "SCJG"}))
        .await;
    let next = issued_licence_of(&restored, &restored_staff, &restored_scjg, &enterprise(90)).await;
    let pdf = crate::helpers::certificate_pdf(&restored, &restored.admin, &next).await;
    assert_verifies(&restored, &next, &pdf).await;
    for (record, _) in &before {
        assert_ne!(record["id"], next["id"]);
    }
}

/// A stopped store is backed up directly; a running one is not read behind the service's
/// back (the CLI says to ask the service). A backup is refused into a directory that holds
/// anything, and a restore likewise; a backup with a changed byte, a missing file or a
/// file the manifest does not list is refused by name, and the restore leaves nothing.
#[tokio::test]
async fn a_stopped_store_backs_up_and_a_damaged_backup_is_refused() {
    let mut app = TestApp::spawn_sled().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = issued_licence_of(&app, &staff, &scjg, &enterprise(7)).await;
    let pdf = crate::helpers::certificate_pdf(&app, &app.admin, &record).await;
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("backup");
    let held = failed(&cli(
        app.dir.path(),
        &["backup", "--to", target.to_str().unwrap()],
    ));
    assert!(held.contains("held by another process"), "{held}");
    assert!(!target.exists(), "a refused backup leaves nothing");
    app.stop();
    succeeded(&cli(
        app.dir.path(),
        &["backup", "--to", target.to_str().unwrap()],
    ));
    let again = failed(&cli(
        app.dir.path(),
        &["backup", "--to", target.to_str().unwrap()],
    ));
    assert!(again.contains("not empty"), "{again}");

    let restored = serve_restored(&target).await;
    assert_verifies(&restored, &record, &pdf).await;
    let refused = failed(&onetrip(&[
        "restore",
        "--from",
        target.to_str().unwrap(),
        "--to",
        restored.data().to_str().unwrap(),
    ]));
    assert!(refused.contains("not empty"), "{refused}");

    let restore_into = |name: &str| -> (String, PathBuf) {
        let to = work.path().join(name);
        let output = onetrip(&[
            "restore",
            "--from",
            target.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ]);
        (failed(&output), to)
    };
    let material = std::fs::read_dir(target.join("materials"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .next()
        .unwrap();
    let original = std::fs::read(&material).unwrap();
    let mut changed = original.clone();
    changed[0] ^= 1;
    std::fs::write(&material, &changed).unwrap();
    let (message, to) = restore_into("changed");
    let name = material.file_name().unwrap().to_str().unwrap();
    assert!(
        message.contains(name) && message.contains("SHA-256"),
        "{message}"
    );
    assert!(!to.exists());
    std::fs::remove_file(&material).unwrap();
    let (message, to) = restore_into("missing");
    assert!(message.contains(name), "{message}");
    assert!(!to.exists());
    std::fs::write(&material, &original).unwrap();
    std::fs::write(target.join("keys/extra.pem"), b"not ours").unwrap();
    let (message, to) = restore_into("extra");
    assert!(message.contains("keys/extra.pem"), "{message}");
    assert!(!to.exists());
    std::fs::remove_file(target.join("keys/extra.pem")).unwrap();
    std::fs::remove_file(target.join("manifest.json")).unwrap();
    let (message, to) = restore_into("no-manifest");
    assert!(message.contains("manifest.json"), "{message}");
    assert!(!to.exists());
}

/// Only an admin is given a backup (the access matrix holds every role to it); a cut stream
/// is refused by the CLI, which keeps nothing: the manifest ends the tar, so a backup broken
/// off cannot pass for a whole one.
#[tokio::test]
async fn a_backup_cut_short_is_refused_and_only_admins_get_one() {
    let app = TestApp::spawn_sled().await;
    let clerk = app.token("clerk", json!({})).await;
    let r = app.get(&clerk, "/backup").await;
    assert_eq!(r.status(), 403);
    let r = app.get(&app.admin, "/backup").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let whole = r.bytes().await.unwrap();
    // GNU tar, a reader we did not write, takes the stream as it is; the files it extracts
    // are those the manifest lists, with their sizes and digests.
    let extracted = tempfile::tempdir().unwrap();
    let tar_file = extracted.path().join("backup.tar");
    std::fs::write(&tar_file, &whole).unwrap();
    let listing = Command::new("tar")
        .args(["-tf", tar_file.to_str().unwrap()])
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8(succeeded(&listing).into_bytes())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("records"));
    assert_eq!(names.last().map(String::as_str), Some("manifest.json"));
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("keys/") && n.ends_with(".pem"))
    );
    let out = extracted.path().join("out");
    std::fs::create_dir(&out).unwrap();
    succeeded(
        &Command::new("tar")
            .args([
                "-xf",
                tar_file.to_str().unwrap(),
                "-C",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap(),
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len() + 1, names.len());
    for file in files {
        let bytes = std::fs::read(out.join(file["path"].as_str().unwrap())).unwrap();
        assert_eq!(sha256_hex(&bytes), file["sha256"].as_str().unwrap());
        assert_eq!(bytes.len() as u64, file["size"].as_u64().unwrap());
    }
    assert!(
        manifest["counts"]["tokens"].as_u64().unwrap() >= 2,
        "{manifest}"
    );
    // An operator alerts on the last whole backup's time; it moves once the stream is sent.
    let sent = "onetrip_backups_total{outcome=\"sent\"} 1";
    let mut scraped = String::new();
    for _ in 0..100 {
        scraped = metrics_text(&app).await;
        if scraped.contains(sent) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(scraped.contains(sent), "{scraped}");
    let last_sent: f64 = scraped
        .lines()
        .find_map(|l| l.strip_prefix("onetrip_backup_last_sent_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - last_sent).abs() < 60.0, "{last_sent} vs {now}");

    // A server that sends the first half of a real backup and then ends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let half = whole.slice(..whole.len() / 2);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-tar\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            half.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&half).await.unwrap();
    });
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("cut");
    let output = tokio::task::spawn_blocking({
        let target = target.clone();
        move || {
            Command::new(BIN)
                .args(["backup", "--to", target.to_str().unwrap()])
                .args(["--server", &format!("http://{address}")])
                .env("ONETRIP_TOKEN", "whatever")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let message = failed(&output);
    assert!(message.contains("manifest"), "{message}");
    assert!(!target.exists(), "nothing is kept of a cut backup");
    let no_token = failed(
        &Command::new(BIN)
            .args([
                "backup",
                "--to",
                target.to_str().unwrap(),
                "--server",
                &app.url,
            ])
            .env_remove("ONETRIP_TOKEN")
            .output()
            .unwrap(),
    );
    assert!(no_token.contains("ONETRIP_TOKEN"), "{no_token}");
}

/// The admin's scrape of `/metrics`, as text.
async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.url))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The files under `dir`, by name.
fn names_under(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A backup's tar, extracted by GNU tar: its manifest.
fn extracted_manifest(tar: &[u8]) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.tar");
    std::fs::write(&file, tar).unwrap();
    succeeded(
        &Command::new("tar")
            .args([
                "-xf",
                file.to_str().unwrap(),
                "-C",
                dir.path().to_str().unwrap(),
            ])
            .output()
            .unwrap(),
    );
    let manifest = std::fs::read(dir.path().join("manifest.json")).unwrap();
    let manifest = serde_json::from_slice(&manifest).unwrap();
    (dir, manifest)
}

/// While a backup is being read, a replaced material's old file stays (the copied records
/// name it) and the backup carries it with its recorded digest; it goes once the backup has
/// been read. One backup runs at a time: a second is refused with 503 until the first ends.
#[tokio::test]
async fn a_running_backup_keeps_replaced_files_and_runs_alone() {
    let app = TestApp::spawn_sled().await;
    let staff = Staff::new(&app).await;
    let draft = app
        .create(&staff.clerk, &licence_submission(&enterprise(3)))
        .await;
    // Larger than what the channel, the connection and the sockets hold, so that the backup
    // is still reading files while its answer is not read.
    let first: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    let r = app
        .upload(&staff.clerk, &draft, "营业执照副本", first.clone())
        .await;
    assert_eq!(r.status(), 200);
    let folder = app.data().join("materials").join(&draft);
    let before = names_under(&folder);
    assert_eq!(before.len(), 1);

    // The answer's head comes once the records are copied; its body is not read yet.
    let running = app.get(&app.admin, "/backup").await;
    assert_eq!(running.status(), 200);
    let (status, code, _) = crate::helpers::error_of(app.get(&app.admin, "/backup").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (503, "backup_running"));

    let second = "第二版营业执照".repeat(500).into_bytes();
    let r = app
        .upload(&staff.clerk, &draft, "营业执照副本", second.clone())
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(names_under(&folder).len(), 2, "the replaced file waits");

    let tar = running.bytes().await.unwrap();
    let (_dir, manifest) = extracted_manifest(&tar);
    let listed = format!("materials/{draft}/{}", before[0]);
    let entry = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == listed.as_str())
        .unwrap_or_else(|| panic!("{listed} in {manifest}"));
    assert_eq!(entry["sha256"], sha256_hex(&first));

    let mut left = names_under(&folder);
    for _ in 0..100 {
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = names_under(&folder);
    }
    assert_eq!(
        left.len(),
        1,
        "the replaced file goes once the backup is read"
    );
    assert_ne!(left, before);
    assert_eq!(app.get(&app.admin, "/backup").await.status(), 200);
}

/// A material file damaged on the service's disk (its content no longer has its recorded
/// digest) breaks the backup off: the stream ends in an error, without a manifest, the CLI
/// keeps nothing and says where to look, and the metrics count it.
#[tokio::test]
async fn a_damaged_material_breaks_the_backup_off() {
    let app = TestApp::spawn_sled().await;
    let staff = Staff::new(&app).await;
    let draft = app
        .create(&staff.clerk, &licence_submission(&enterprise(4)))
        .await;
    let r = app
        .upload(
            &staff.clerk,
            &draft,
            "营业执照副本",
            b"%PDF-1.7 original".to_vec(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let folder = app.data().join("materials").join(&draft);
    let file = folder.join(&names_under(&folder)[0]);
    std::fs::write(&file, b"%PDF-1.7 damaged!").unwrap();

    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("backup");
    let app = Arc::new(app);
    let output = tokio::task::spawn_blocking({
        let (app, target) = (app.clone(), target.clone());
        move || backup_from_server(&app, &target)
    })
    .await
    .unwrap();
    let message = failed(&output);
    assert!(message.contains("log says why"), "{message}");
    assert!(!target.exists());
    assert_eq!(
        names_under(work.path()),
        Vec::<String>::new(),
        "no staging left"
    );

    let scraped = metrics_text(&app).await;
    assert!(
        scraped.contains("onetrip_backups_total{outcome=\"broken_off\"} 1"),
        "{scraped}"
    );
    assert!(
        scraped.contains("onetrip_backup_last_sent_seconds 0"),
        "{scraped}"
    );
}
