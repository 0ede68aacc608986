//! The command line: offline verification from a PDF, a photo of the QR or a token; keys
//! export; template preview.

use serde_json::{Value, json};

use crate::helpers::*;

fn run(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = cli(app.dir.path(), args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn verify_reads_a_pdf_a_turned_photo_and_a_token_online_and_offline() {
    let mut app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let serial = cert["id"].as_str().unwrap();
    let dir = app.dir.path().to_owned();

    let pdf = app
        .get(&staff.clerk, &format!("/certificates/{serial}/pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    let pdf_path = dir.join("licence.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let png = app
        .get(&staff.clerk, &format!("/certificates/{serial}/qr.png"))
        .await
        .bytes()
        .await
        .unwrap();
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let turned = image::imageops::rotate90(&image);
    let (w, h) = (turned.width() * 3 / 4, turned.height() * 3 / 4);
    let photo = image::imageops::resize(&turned, w, h, image::imageops::FilterType::Triangle);
    let photo_path = dir.join("photo.png");
    photo.save(&photo_path).unwrap();

    // Online: the link in the QR names the service, trusted first, which adds revocation and
    // its records.
    let (ok, out) = run(&app, &["trust", "add", &app.url]);
    assert!(ok, "{out}");
    for input in [&pdf_path, &photo_path] {
        let (ok, out) = run(&app, &["verify", input.to_str().unwrap()]);
        assert!(ok, "{out}");
        assert!(
            out.contains("示例电缆有限公司") && out.contains("verdict: valid"),
            "{out}"
        );
    }

    // Offline: the service is stopped; the exported key set and the pinned status list are
    // all there is (exit 2: valid as far as they show).
    app.stop();
    let (ok, jwks) = run(&app, &["keys", "export-jwks"]);
    assert!(ok, "{jwks}");
    let jwks_path = dir.join("jwks.json");
    std::fs::write(&jwks_path, &jwks).unwrap();
    let jwks: Value = serde_json::from_str(&jwks).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], cert["kid"]);
    let token = cert["token"].as_str().unwrap();
    let out = cli(
        app.dir.path(),
        &["verify", token, "--jwks", jwks_path.to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with("verdict: valid (offline; status as of"),
        "{text}"
    );
    // The keys came from the file: the output says so and never calls them trusted.
    assert!(!text.contains("trusted)"), "{text}");
    assert!(text.contains(jwks_path.to_str().unwrap()), "{text}");

    let tampered = format!("{}x", token);
    let (ok, out) = run(
        &app,
        &["verify", &tampered, "--jwks", jwks_path.to_str().unwrap()],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("verdict: malformed") || out.contains("verdict: bad_signature"),
        "{out}"
    );
}

#[tokio::test]
async fn preview_renders_a_specimen_without_storing_anything() {
    let mut app = TestApp::spawn().await;
    app.stop();
    let out_path = app.dir.path().join("preview.pdf");
    let (ok, out) = run(
        &app,
        &[
            "preview",
            "talent-residence-permit",
            "--out",
            out_path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let doc = lopdf::Document::load(&out_path).unwrap();
    let text = doc.extract_text(&[1]).unwrap();
    for expected in [
        "引进人才居住证",
        "杭州样本科技有限公司",
        "居住证制证",
        "0000000.000",
    ] {
        assert!(
            text.replace(char::is_whitespace, "").contains(expected),
            "{expected} not in {text}"
        );
    }
    let (ok, out) = run(
        &app,
        &[
            "preview",
            "fishing-licence",
            "--out",
            out_path.to_str().unwrap(),
        ],
    );
    assert!(!ok && out.contains("production-licence"), "{out}");
}

#[tokio::test]
async fn production_mode_refuses_the_demonstration_key() {
    let mut app = TestApp::spawn().await;
    app.stop();
    let dir = app.dir.path();
    let mut config = std::fs::read_to_string(dir.join("onetrip.toml")).unwrap();
    // A fresh store: a database of its own too, when the records are in PostgreSQL.
    let fresh_database = match on_postgres() {
        true => Some(TestDatabase::create().await),
        false => None,
    };
    if let Some(database) = &fresh_database {
        let store = config.lines().find(|l| l.starts_with("store = ")).unwrap();
        config = config.replace(store, &format!("store = {:?}", database.url));
    }
    let fresh = tempfile::tempdir().unwrap();
    let keys = fresh.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example/demo-ed25519.pem");
    std::fs::copy(example, keys.join("demo-ed25519.pem")).unwrap();
    std::fs::write(
        dir.join("onetrip.toml"),
        format!("{config}\nmode = \"production\"\nkeys_dir = {:?}\n", keys).replace(
            &format!("data = {:?}", dir.join("data")),
            &format!("data = {:?}", fresh.path().join("data")),
        ),
    )
    .unwrap();
    let (ok, out) = run(&app, &["serve"]);
    assert!(!ok);
    assert!(
        out.contains("production mode refuses the demonstration key"),
        "{out}"
    );
}

/// The key ring lives in the store: beside a running service, the CLI rotates a PostgreSQL
/// store's ring and the service follows by itself; sled's lock keeps it off a sled store the
/// service holds, and nothing changes.
#[tokio::test]
async fn keys_rotated_by_the_cli_beside_the_running_service_reach_it_on_a_shared_store() {
    let app = TestApp::spawn().await;
    let (ok, out) = run(&app, &["keys", "rotate"]);
    if !on_postgres() {
        assert!(!ok, "{out}");
        assert!(out.contains("held by another process"), "{out}");
        let keys: Value = app.get_json(&app.admin, "/keys").await;
        assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
        return;
    }
    assert!(ok, "{out}");
    let rotated = out.lines().next().unwrap().trim().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let keys: Value = app.get_json(&app.admin, "/keys").await;
        let active: Vec<&str> = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["status"] == "active")
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        if active == [rotated.as_str()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the service still signs with {active:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
