//! Public verification: every verdict, key rotation and compromise, hostile tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn verdict_of(app: &TestApp, token: &str) -> Value {
    let r = app
        .client
        .get(format!("{}/v/{token}", app.url))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a verdict is an answer, never an error"
    );
    r.json().await.unwrap()
}

async fn verify_body(app: &TestApp, content_type: &str, body: Vec<u8>) -> Value {
    let r = app
        .client
        .post(app.api("/verify"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn parts(token: &str) -> (Value, Value) {
    let p: Vec<&str> = token.split('.').collect();
    let decode =
        |s: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    (decode(p[0]), decode(p[1]))
}

fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// The service's own private key, read from its keys directory as a thief would (the file
/// is named by the key's thumbprint, which the short kid begins).
fn stolen_key(app: &TestApp, kid: &str) -> SigningKey {
    let path = std::fs::read_dir(app.data().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(kid))
        .unwrap();
    SigningKey::from_pkcs8_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn valid_revoked_expired_forged_and_tampered_tokens() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let token = cert["token"].as_str().unwrap();
    let serial = cert["id"].as_str().unwrap();

    let v = verdict_of(&app, token).await;
    assert_eq!(v["verdict"], "valid", "{v}");
    assert_eq!(v["certificate"]["holder"], "示例电缆有限公司");
    assert_eq!(v["certificate"]["items"], json!(["电线电缆", "化肥"]));
    assert_eq!(v["kid"], cert["kid"]);

    // The page a phone lands on: the verdict first, in Chinese with English beneath.
    let html = app
        .client
        .get(format!("{}/v/{token}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("verdict-valid")
            && html.contains("有效")
            && html.contains("示例电缆有限公司")
    );
    assert!(!html.contains("<script"), "no JavaScript needed");

    // The PDF itself verifies; one changed byte makes it unknown.
    let pdf = app
        .get(&staff.clerk, &format!("/certificates/{serial}/pdf"))
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert_eq!(
        verify_body(&app, "application/pdf", pdf.clone()).await["verdict"],
        "valid"
    );
    // One changed byte: not the issued file. It is an altered copy of it if its QR code can
    // still be read, else unusable; never "not issued" (a landlord would read "forged").
    let mut altered = pdf.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 1;
    let r = app
        .client
        .post(app.api("/verify"))
        .header("Content-Type", "application/pdf")
        .body(altered)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(
        v["verdict"] == "altered_copy" || v["verdict"] == "unusable_input",
        "{v}"
    );
    // A pasted link works as well as a bare token.
    let link = json!({"token": cert["verify_url"]})
        .to_string()
        .into_bytes();
    assert_eq!(
        verify_body(&app, "application/json", link).await["verdict"],
        "valid"
    );

    // Tampered payload: bad signature.
    let (header, mut claims) = parts(token);
    claims["hid"] = json!(OTHER_ENTERPRISE);
    let p: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        p[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        p[2]
    );
    assert_eq!(
        verdict_of(&app, &tampered).await["verdict"],
        "bad_signature"
    );

    // Signed with a key we never had: unknown key.
    let stranger = SigningKey::from_bytes(&[42; 32]);
    let mut other_header = header.clone();
    other_header["kid"] = json!("not-our-key");
    assert_eq!(
        verdict_of(&app, &sign(&stranger, &other_header, &claims)).await["verdict"],
        "unknown_key"
    );

    // Forged with our stolen key for a certificate we never issued: not issued.
    let key = stolen_key(&app, cert["kid"].as_str().unwrap());
    let (_, mut forged) = parts(token);
    forged["sub"] = json!(serial.replace(".001.", ".002."));
    assert_eq!(
        verdict_of(&app, &sign(&key, &header, &forged)).await["verdict"],
        "not_issued"
    );
    // …or with altered content under a real identifier: the digest differs, not issued.
    assert_eq!(
        verdict_of(&app, &sign(&key, &header, &claims)).await["verdict"],
        "not_issued"
    );

    // Even the real claims re-signed with a shorter life are not the token we issued
    // (the expired verdict itself is covered in src/service/verdict.rs).
    let (_, mut old) = parts(token);
    old["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    assert_eq!(
        verdict_of(&app, &sign(&key, &header, &old)).await["verdict"],
        "not_issued"
    );

    // Revoked by an admin: the verdict carries the reason and the text.
    let r = app
        .post(
            &app.admin,
            &format!("/certificates/{serial}/revoke"),
            &json!({"reason": "holder_request", "text": "企业申请注销"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = verdict_of(&app, token).await;
    assert_eq!(v["verdict"], "revoked");
    assert_eq!(v["revocation"]["reason"], "holder_request");
    assert_eq!(v["revocation"]["text"], "企业申请注销");
    let html = app
        .client
        .get(format!("{}/v/{token}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("已撤销") && html.contains("持证人申请注销") && html.contains("企业申请注销")
    );
    let r = app
        .post(
            &app.admin,
            &format!("/certificates/{serial}/revoke"),
            &json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(error_of(r).await.1, "already_revoked");
    let r = app
        .post(
            &staff.clerk,
            &format!("/certificates/{serial}/revoke"),
            &json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(error_of(r).await.0, 403);
    let submission: Value = app
        .get_json(
            &staff.clerk,
            &format!("/submissions/{}", cert["submission"].as_str().unwrap()),
        )
        .await;
    let last = submission["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["action"].as_str(), last["reason"].as_str()),
        (Some("certificate_revoked"), Some("holder_request"))
    );
}

#[tokio::test]
async fn hostile_tokens_are_malformed_never_errors() {
    let app = TestApp::spawn().await;
    let header = |h: Value| URL_SAFE_NO_PAD.encode(h.to_string());
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "x"}).to_string());
    let sig = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let cases = [
        format!("{}.{claims}.", header(json!({"alg": "none", "kid": "k"}))),
        format!(
            "{}.{claims}.{sig}",
            header(json!({"alg": "HS256", "kid": "k"}))
        ),
        format!(
            "{}.{claims}.{sig}",
            header(json!({"alg": "EdDSA", "kid": "k", "crit": ["x"]}))
        ),
        format!(
            "{}.{claims}.{}",
            header(json!({"alg": "EdDSA", "kid": "k"})),
            URL_SAFE_NO_PAD.encode([0u8; 63])
        ),
        "not!base64.at.all".to_owned(),
        "a.b".to_owned(),
        "x".repeat(5000),
        "%00%ff".to_owned(),
    ];
    for token in cases {
        let v = verdict_of(&app, &token).await;
        let verdict = v["verdict"].as_str().unwrap();
        assert!(
            verdict == "malformed" || verdict == "bad_signature",
            "{token}: {v}"
        );
        let body = json!({"token": token}).to_string().into_bytes();
        assert_eq!(
            verify_body(&app, "application/json", body).await["verdict"],
            v["verdict"]
        );
    }
    // A "PDF" with no QR code to read is unusable input (422), not "never issued".
    let r = app
        .client
        .post(app.api("/verify"))
        .header("Content-Type", "application/pdf")
        .body(b"%PDF-1.7 not ours".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["verdict"],
        "unusable_input"
    );
}

#[tokio::test]
async fn rotation_keeps_old_certificates_valid_and_a_compromise_cuts_off_later_ones() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;

    let before = issued_licence(&app, &staff, &scjg).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let cut_off = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = issued_licence_of(&app, &staff, &scjg, &enterprise(1201)).await;
    let old_kid = before["kid"].as_str().unwrap().to_owned();
    assert_eq!(after["kid"], old_kid);

    let r = app.post(&app.admin, "/keys/rotate", &json!({})).await;
    assert_eq!(r.status(), 201);
    let new_kid = r.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = issued_licence_of(&app, &staff, &scjg, &enterprise(1202)).await;
    assert_eq!(rotated["kid"], new_kid);
    for cert in [&before, &after, &rotated] {
        assert_eq!(
            verdict_of(&app, cert["token"].as_str().unwrap()).await["verdict"],
            "valid"
        );
    }

    let r = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let jwks: Value = r.json().await.unwrap();
    let status_of = |kid: &str| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(
        (status_of(&old_kid), status_of(&new_kid)),
        (json!("retired"), json!("active"))
    );

    // The active key cannot be revoked in place; the retired one can.
    let r = app
        .post(
            &app.admin,
            &format!("/keys/{new_kid}/revoke"),
            &json!({"compromised_since": cut_off.to_rfc3339()}),
        )
        .await;
    assert_eq!(error_of(r).await.0, 409);
    let r = app
        .post(
            &app.admin,
            &format!("/keys/{old_kid}/revoke"),
            &json!({"compromised_since": cut_off.to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status(), 200);

    assert_eq!(
        verdict_of(&app, before["token"].as_str().unwrap()).await["verdict"],
        "valid"
    );
    assert_eq!(
        verdict_of(&app, after["token"].as_str().unwrap()).await["verdict"],
        "key_revoked"
    );
    assert_eq!(
        verdict_of(&app, rotated["token"].as_str().unwrap()).await["verdict"],
        "valid"
    );

    let keys: Value = app.get_json(&app.admin, "/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(
        !keys.to_string().contains("PRIVATE"),
        "no private key material"
    );
    assert_eq!(error_of(app.get(&staff.clerk, "/keys").await).await.0, 403);
}
