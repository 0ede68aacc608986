//! Logs (JSON lines, no escape codes off a terminal, a request id on every line of a request)
//! and settings (`onetrip config check`, every setting from the file, `ONETRIP_*` and flags).

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::*;

/// A directory with a config file as `TestApp` writes it, plus `extra` lines, and no server.
fn configured(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("onetrip.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\ndata = {:?}\n{extra}\n",
            dir.path().join("data"),
        ),
    )
    .unwrap();
    dir
}

fn onetrip(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["--config", dir.join("onetrip.toml").to_str().unwrap()])
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn config_check_prints_the_effective_settings_and_names_an_unknown_key() {
    let dir = configured("[limits]\nmax_batch_requests = 3\nmax_public_requests = 7");
    let env = [("ONETRIP_LIMITS__MAX_BATCH_REQUESTS", "5")];
    let out = onetrip(
        dir.path(),
        &env,
        &["config", "check", "--set", "limits.max_public_requests=9"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let effective: toml::Value = toml::from_str(&stdout).unwrap();
    assert_eq!(
        effective["limits"]["max_batch_requests"].as_integer(),
        Some(5)
    );
    assert_eq!(
        effective["limits"]["max_public_requests"].as_integer(),
        Some(9)
    );
    assert_eq!(
        effective["limits"]["max_connections"].as_integer(),
        Some(4096)
    );
    assert_eq!(effective["log_format"].as_str(), Some("text"));

    let dir = configured("[limits]\nmax_conections = 3");
    let out = onetrip(dir.path(), &[], &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_conections"), "{stderr}");
    assert!(out.stdout.is_empty());

    let dir = configured("templates_dir = \"/nonexistent/templates\"");
    let out = onetrip(dir.path(), &[], &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("templates_dir"));
}

#[test]
fn token_create_prints_the_token_and_nothing_else_unless_asked() {
    let dir = configured("");
    let out = onetrip(dir.path(), &[], &["token", "create", "--role", "admin"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(!stdout.trim().is_empty());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Asked, it logs what it did; standard error is a pipe, so without colours.
    let out = onetrip(
        dir.path(),
        &[],
        &["-v", "token", "create", "--role", "admin"],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("token created"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_each_naming_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut app = TestApp::spawn_launched(
        "",
        Launch {
            env: vec![
                ("ONETRIP_LOG_FORMAT".into(), "json".into()),
                ("RUST_LOG".into(), "info".into()),
            ],
            stderr: Some(log.clone()),
        },
    )
    .await;
    let r = app
        .post(&app.admin, "/tokens", &json!({"role": "clerk"}))
        .await;
    assert_eq!(r.status(), 201);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    app.stop();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\x1b'), "{text:?}");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let created = lines
        .iter()
        .find(|line| line["fields"]["message"] == "token created")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(created["span"]["request_id"], id.as_str(), "{created}");
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "serving")
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_a_usable_one_the_clients() {
    let app = TestApp::spawn().await;
    let health = format!("{}/healthz", app.url);
    let r = app.client.get(&health).send().await.unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let r = app.client.get(&health).send().await.unwrap();
    assert_ne!(r.headers()["x-request-id"].to_str().unwrap(), made);

    let r = app
        .client
        .get(&health)
        .header("x-request-id", "proxy-42.a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "proxy-42.a");
    let r = app
        .client
        .get(&health)
        .header("x-request-id", "forged\" level=ERROR")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 36);

    // A refusal carries one too.
    let r = app.get("not-a-token", "/submissions").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-request-id"));
}
