//! `onetrip store copy` both ways: a sled store copied into PostgreSQL and that copy back into
//! a new sled store, each checked by the command and then served: every certificate answers
//! as it did by link, by 核验码 and by PDF (a revoked one stays revoked, a migrated licence
//! keeps its former number), and issuing goes on with the next sequence number. A second
//! run resumes: it writes nothing. The first version's store,
//! copied into PostgreSQL, still verifies.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::helpers::*;

fn store_copy(from: &str, to: &str) -> Output {
    Command::new(BIN)
        .args(["store", "copy", "--from", from, "--to", to])
        .output()
        .unwrap()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A new directory holding a copy of `data` (its keys and material files) whose server keeps
/// its records in `store`.
async fn serve_copy(data: &Path, store: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(data, &dir.path().join("data"));
    let config = format!("store = {store:?}");
    TestApp::spawn_sled_in(dir, &config, Launch::default()).await
}

/// What a certificate's three ways in answer: by its link, its 核验码 and its PDF.
async fn verdicts(app: &TestApp, record: &Value, pdf: &[u8]) -> [String; 3] {
    let token = record["token"].as_str().unwrap();
    let (_, by_link) = app.public_json(&format!("/v/{token}")).await;
    let code = record["code"].as_str().unwrap();
    let (_, by_code) = app.public_json(&format!("/c/{code}")).await;
    let by_pdf = app.verify_pdf(pdf).await;
    [by_link, by_code, by_pdf].map(|v| v["verdict"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_store_copied_into_postgresql_and_back_answers_as_the_original() {
    let mut app = TestApp::spawn_sled().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let valid = issued_licence_of(&app, &staff, &scjg, &enterprise(101)).await;
    let revoked = issued_licence_of(&app, &staff, &scjg, &enterprise(102)).await;
    let revoke = format!("/certificates/{}/revoke", revoked["id"].as_str().unwrap());
    let body = json!({"reason": "issued_in_error", "text": "测试撤销"});
    assert_eq!(app.post(&app.admin, &revoke, &body).await.status(), 200);
    let migrated = finished_batch(&app, &staff.clerk, migration_line(7).to_string()).await;
    assert_eq!(migrated["issued"], 1, "{migrated}");
    let mut originals = Vec::new();
    for record in [&valid, &revoked] {
        let pdf = certificate_pdf(&app, &app.admin, record).await;
        originals.push((
            record.clone(),
            pdf.clone(),
            verdicts(&app, record, &pdf).await,
        ));
    }
    assert_eq!(originals[0].2, ["valid", "valid", "valid"]);
    assert_eq!(originals[1].2, ["revoked", "revoked", "revoked"]);
    app.stop();

    let database = TestDatabase::create().await;
    let sled = format!("sled:{}", app.data().display());
    let printed = succeeded(&store_copy(&sled, &database.url));
    assert!(printed.contains("verified"), "{printed}");
    for (sort, written) in [("certificates", 3), ("batches", 1), ("signing_keys", 1)] {
        assert!(
            printed
                .lines()
                .any(|l| l.starts_with(sort) && l.contains(&format!(" {written} written"))),
            "{sort}: {printed}"
        );
    }
    // Run again: a resumed copy finds everything there and writes nothing.
    let again = succeeded(&store_copy(&sled, &database.url));
    for line in again.lines().filter(|l| l.contains("written")) {
        assert!(line.contains(" 0 written"), "{again}");
    }

    let copy = serve_copy(&app.data(), &database.url).await;
    for (record, pdf, expected) in &originals {
        assert_eq!(&verdicts(&copy, record, pdf).await, expected, "{record}");
    }
    // The batch came along with its lines' results, and answers as it did.
    let batch = format!("/batches/{}", migrated["id"].as_str().unwrap());
    assert_eq!(copy.get_json(&staff.clerk, &batch).await, migrated);
    // The former number came along: the migration posted again is found already issued.
    let staff = Staff::new(&copy).await;
    let again = finished_batch(&copy, &staff.clerk, migration_line(7).to_string()).await;
    assert_eq!(again["already_issued"], 1, "{again}");
    // Issuing goes on without reusing a number.
    let scjg = copy.token("approver", json!({"department": "SCJG"})).await;
    let next = issued_licence_of(&copy, &staff, &scjg, &enterprise(103)).await;
    for earlier in [&valid, &revoked] {
        assert_ne!(next["id"], earlier["id"]);
    }
    drop(copy);

    // And back: from PostgreSQL into a new sled store.
    let back = tempfile::tempdir().unwrap();
    let sled_back = format!("sled:{}", back.path().join("records").display());
    let printed = succeeded(&store_copy(&database.url, &sled_back));
    assert!(printed.contains("verified"), "{printed}");
    let copy = serve_copy(&app.data(), &sled_back).await;
    for (record, pdf, expected) in &originals {
        assert_eq!(&verdicts(&copy, record, pdf).await, expected, "{record}");
    }
    let pdf = certificate_pdf(&copy, &copy.admin, &next).await;
    assert_eq!(
        verdicts(&copy, &next, &pdf).await,
        ["valid", "valid", "valid"]
    );
}

#[tokio::test]
async fn the_first_versions_store_copied_into_postgresql_still_verifies() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let data = tempfile::tempdir().unwrap();
    copy_dir(&fixture.join("data"), data.path());
    let database = TestDatabase::create().await;
    let sled = format!("sled:{}", data.path().display());
    let printed = succeeded(&store_copy(&sled, &database.url));
    assert!(printed.contains("verified"), "{printed}");
    // A token the copy brought over (serving the copy below adds an admin token of its own).
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
    let copied: String = sqlx::query_scalar("SELECT min(hash) FROM tokens")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let app = serve_copy(data.path(), &database.url).await;
    for (name, expected) in [
        ("licence", "valid"),
        ("permit", "valid"),
        ("revoked", "revoked"),
    ] {
        let pdf = std::fs::read(fixture.join(format!("{name}.pdf"))).unwrap();
        let by_pdf = app.verify_pdf(&pdf).await;
        assert_eq!(by_pdf["verdict"], expected, "{name}: {by_pdf}");
    }

    // A target that holds a record differently is not overwritten: the copy stops, naming it.
    let changed = sqlx::query(
        "UPDATE tokens SET body = jsonb_set(body, '{revoked_at}', '\"2026-01-01T00:00:00Z\"')
         WHERE hash = $1",
    )
    .bind(&copied)
    .execute(&mut connection)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let refused = store_copy(&sled, &database.url);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Tokens") && stderr.contains("differently"),
        "{stderr}"
    );
}

#[test]
fn a_copy_names_its_stores() {
    let out = store_copy("./data", "postgres://postgres@127.0.0.1:1/none");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--from") && stderr.contains("sled:"),
        "{stderr}"
    );
}
