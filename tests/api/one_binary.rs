//! One binary: `onetrip` needs nothing beside it. Started in an empty directory with no config
//! it serves the templates built into it; a `templates_dir` overrides them file by file, and
//! one that is not there stops the start naming the path and the setting.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// The title of the built-in `/verify` page.
const VERIFY_TITLE: &str = "证照核验 · Verify a certificate";

/// The codes of the public catalogue.
async fn service_codes(app: &TestApp) -> Vec<String> {
    let (status, list) = app.public_json("/api/v1/services").await;
    assert_eq!(status, 200);
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_owned())
        .collect()
}

/// Issues a licence and checks its link as a verifier's phone and a browser see it.
async fn issue_and_verify(app: &TestApp) {
    let staff = Staff::new(app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(app, &staff, &scjg).await;
    let link = cert["verify_url"].as_str().unwrap();
    let path = link.strip_prefix(&app.url).unwrap();
    let (status, verdict) = app.public_json(path).await;
    assert_eq!((status, verdict["verdict"].as_str()), (200, Some("valid")));
    let page = app.public_page(path).await;
    assert!(page.contains("证照核验"), "{page}");
}

async fn status_of(app: &TestApp, path: &str) -> u16 {
    let r = app.client.get(format!("{}{path}", app.url)).send().await;
    r.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_binary_serves_and_issues_from_an_empty_directory_without_config() {
    let app = TestApp::spawn_bare().await;
    assert_eq!(status_of(&app, "/healthz").await, 200);
    assert_eq!(status_of(&app, "/verify").await, 200);
    assert!(app.public_page("/verify").await.contains(VERIFY_TITLE));
    assert!(
        service_codes(&app)
            .await
            .contains(&"union-claim".to_owned())
    );
    issue_and_verify(&app).await;
    let made: Vec<_> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(made, ["data"], "all it writes is its store");
}

#[test]
fn a_missing_templates_dir_stops_the_start_naming_the_path_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("onetrip.toml"),
        "listen = \"127.0.0.1:0\"\ntemplates_dir = \"my-templates\"\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("the server started without its templates_dir");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(!status.success());
    let missing = dir.path().join("my-templates");
    assert!(
        stderr.contains(&format!("{} does not exist", missing.display())),
        "the relative path resolved against the working directory: {stderr}"
    );
    assert!(stderr.contains("`templates_dir`"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "refused before the store opened"
    );
}

/// Writes `files` (relative path, text) under a new directory.
fn overrides(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[tokio::test]
async fn an_override_directory_changes_its_files_and_nothing_else() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let union_claim = std::fs::read_to_string(shipped.join("services/union-claim.toml")).unwrap();
    let sports_claim = union_claim
        .replace("code = \"union-claim\"", "code = \"sports-claim\"")
        .replace("name = \"职工互助保障理赔\"", "name = \"体育运动伤害理赔\"");
    let dir = overrides(&[
        (
            "pages/verify.html",
            "{% extends \"base.html\" %}{% block title %}本地核验 · Local check{% endblock %}",
        ),
        ("services/sports-claim.toml", &sports_claim),
    ]);
    let app = TestApp::spawn_with(&format!("templates_dir = {:?}", dir.path())).await;
    let verify = app.public_page("/verify").await;
    assert!(verify.contains("本地核验 · Local check"), "{verify}");
    assert!(!verify.contains(VERIFY_TITLE), "{verify}");
    let login = app.public_page("/console/login").await;
    assert!(
        login.contains("登录 · 最多跑一次"),
        "another page is the built-in one: {login}"
    );
    let codes = service_codes(&app).await;
    assert!(codes.contains(&"sports-claim".to_owned()), "{codes:?}");
    assert!(codes.contains(&"union-claim".to_owned()), "{codes:?}");
    issue_and_verify(&app).await;
}

#[tokio::test]
async fn the_repositorys_templates_as_templates_dir_serve_as_the_built_in_ones() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let app = TestApp::spawn_with(&format!("templates_dir = {shipped:?}")).await;
    assert!(app.public_page("/verify").await.contains(VERIFY_TITLE));
    issue_and_verify(&app).await;
}
