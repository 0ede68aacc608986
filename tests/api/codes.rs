//! The verification code (核验码) and the compact token: every accepted spelling, unknown and
//! malformed codes, the printed short link, and certificates issued by the first version.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use onetrip::render::read_qr_from_pdf;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_code_verifies_in_every_accepted_spelling_and_unknown_codes_do_not() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = issued_licence(&app, &staff, &scjg).await;
    let code = record["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 19);
    assert_eq!(
        record["code_url"].as_str().unwrap(),
        format!("{}/c/{code}", app.url)
    );

    // Printed under the QR code: the short link and the code, not the token.
    let pdf = app
        .get(
            &staff.clerk,
            &format!("/certificates/{}/pdf", record["id"].as_str().unwrap()),
        )
        .await
        .bytes()
        .await
        .unwrap();
    let text = pdf_text(&pdf);
    assert!(text.contains(&code));
    assert!(text.contains(&format!("/c/{code}")));
    assert!(!text.contains(record["token"].as_str().unwrap()));

    let bare: String = code.chars().filter(|c| *c != '-').collect();
    let confusable: String = code
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => 'l',
            c => c,
        })
        .collect();
    for spelling in [
        code.clone(),
        code.to_lowercase(),
        bare.clone(),
        bare.to_lowercase(),
        code.replace('-', "%20"),
        confusable,
    ] {
        let (status, verdict) = app.public_json(&format!("/c/{spelling}")).await;
        assert_eq!(
            (status, verdict["verdict"].as_str()),
            (200, Some("valid")),
            "{spelling}"
        );
        assert_eq!(verdict["certificate"]["code"], code.as_str());
    }
    // The HTML page for people who typed it.
    let page = app
        .client
        .get(format!("{}/c/{}", app.url, code.to_lowercase()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("示例电缆有限公司") && html.contains(&code));

    // The API and the /verify page take it too, in any spelling.
    let r = app
        .client
        .post(app.api("/verify"))
        .json(&json!({"code": bare.to_lowercase()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["verdict"], "valid");
    let typed = app
        .verify_typed(&format!(" {} ", code.to_lowercase()))
        .await;
    assert_eq!(typed["verdict"], "valid");
    let pasted = app.verify_typed(record["code_url"].as_str().unwrap()).await;
    assert_eq!(pasted["verdict"], "valid");

    // A code we never issued: not_issued, 404, in the verdict shape. Not a code at all: 400.
    let unknown = if code.starts_with('Z') { "Y" } else { "Z" }.to_owned() + &bare[1..];
    let (status, verdict) = app.public_json(&format!("/c/{unknown}")).await;
    assert_eq!(
        (status, verdict["verdict"].as_str()),
        (404, Some("not_issued"))
    );
    assert!(verdict["message"].as_str().is_some() && verdict.get("certificate").is_none());
    for malformed in ["XK7M", "UUUU-UUUU-UUUU-UUUU", "%E6%A0%B8"] {
        let (status, verdict) = app.public_json(&format!("/c/{malformed}")).await;
        assert_eq!(
            (status, verdict["verdict"].as_str()),
            (400, Some("malformed")),
            "{malformed}"
        );
    }
    let r = app
        .client
        .post(app.api("/verify"))
        .json(&json!({"code": code, "token": record["token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 422);

    // Revocation shows through the code as through the token.
    let revoke = format!("/certificates/{}/revoke", record["id"].as_str().unwrap());
    let r = app
        .post(
            &app.admin,
            &revoke,
            &json!({"reason": "holder_request", "text": "注销"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, verdict) = app.public_json(&format!("/c/{bare}")).await;
    assert_eq!(verdict["verdict"], "revoked");
}

#[tokio::test]
async fn the_token_is_compact_and_its_kid_is_the_published_one() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = issued_licence(&app, &staff, &scjg).await;
    let token = record["token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "kid": kid}));
    assert!(kid.len() <= 16);
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let mut members: Vec<&String> = payload.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["dig", "exp", "hid", "iat", "sub"]);
    assert_eq!(payload["sub"], record["id"]);
    assert_eq!(payload["hid"], ENTERPRISE);
    assert_eq!(record["kid"], kid);
    let jwks = app.jwks().await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid)
    );
    let keys: Value = app.get_json(&app.admin, "/keys").await;
    assert_eq!(keys["keys"][0]["kid"], kid);
}

/// One certificate of the fixture store, by its PDF and by its QR code's link.
async fn check_fixture(app: &TestApp, fixture: &Path, name: &str, expected: &str) {
    let pdf = std::fs::read(fixture.join(format!("{name}.pdf"))).unwrap();
    let by_pdf: Value = app
        .client
        .post(app.api("/verify"))
        .header("Content-Type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_pdf["verdict"], expected, "{name} by PDF: {by_pdf}");
    let link = read_qr_from_pdf(&pdf).unwrap();
    assert!(link.len() > 500, "a first-version link is long");
    let (_, token) = link.rsplit_once("/v/").unwrap();
    let (_, by_link) = app.public_json(&format!("/v/{token}")).await;
    assert_eq!(by_link["verdict"], expected, "{name} by link: {by_link}");
    assert_eq!(by_link["kid"].as_str().unwrap().len(), 43);
}

/// A store written by the first version (long tokens: the holder's name and a 43-character
/// kid inside) keeps verifying: its certificates by PDF and by link, a revoked one as revoked,
/// after a rotation too; and it issues compact tokens from then on.
#[tokio::test]
async fn a_store_written_by_the_first_version_still_verifies() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let mut app = TestApp::spawn_on_copy_of(&fixture.join("data")).await;
    check_fixture(&app, &fixture, "licence", "valid").await;
    check_fixture(&app, &fixture, "permit", "valid").await;
    check_fixture(&app, &fixture, "revoked", "revoked").await;
    let jwks = app.jwks().await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"].as_str().unwrap().len() == 16)
    );

    let r = app.post(&app.admin, "/keys/rotate", &json!({})).await;
    assert_eq!(r.status(), 201);
    app.restart();
    check_fixture(&app, &fixture, "licence", "valid").await;
    check_fixture(&app, &fixture, "permit", "valid").await;

    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    // The fixture's enterprise holds its licence (一企一证): a new one is for another.
    let record = issued_licence_of(&app, &staff, &scjg, OTHER_ENTERPRISE).await;
    assert!(record["verify_url"].as_str().unwrap().len() <= 460);
    assert_eq!(record["kid"].as_str().unwrap().len(), 16);
}
