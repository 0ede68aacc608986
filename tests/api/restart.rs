//! State survives a restart, and the CLI refuses a sled store a server holds.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn state_survives_restart_and_cli_refuses_a_held_store() {
    let mut app = TestApp::spawn().await;
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let id = app
        .create(&applicant, &licence_submission(ENTERPRISE))
        .await;
    assert_eq!(
        app.upload(&applicant, &id, "营业执照副本", b"scan".to_vec())
            .await
            .status(),
        200
    );
    let before: Value = app
        .get_json(&applicant, &format!("/submissions/{id}"))
        .await;

    let out = cli(app.dir.path(), &["token", "create", "--role", "clerk"]);
    if on_postgres() {
        // A PostgreSQL store serves the CLI and the server at once.
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "nothing printed on stdout");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("held by another process"), "{stderr}");
    }

    app.restart();
    let after: Value = app
        .get_json(&applicant, &format!("/submissions/{id}"))
        .await;
    assert_eq!(before, after);
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Tokens made with the CLI on a stopped store work once the server is back.
    app.stop();
    let out = cli(app.dir.path(), &["token", "create", "--role", "clerk"]);
    assert!(out.status.success());
    let clerk = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    app.restart_stopped();
    assert_eq!(
        app.get(&clerk, &format!("/submissions/{id}"))
            .await
            .status(),
        200
    );
}
