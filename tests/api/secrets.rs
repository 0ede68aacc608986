//! Secrets never leave: with `RUST_LOG=debug`, the whole flow (tokens, submission, uploads,
//! window check, decisions, issue, verify, rotate) is run, and every response body and the
//! server's whole log are searched for every API token secret and every private key, as PEM
//! body, raw hex and base64. A token's secret may appear once: in the response that made it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use reqwest::Response;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// Every response body, labelled, and the token secret it was allowed to show (if any).
#[derive(Default)]
struct Recorder {
    responses: Vec<(String, Vec<u8>, Option<String>)>,
}

impl Recorder {
    async fn keep(&mut self, label: &str, r: Response) -> Value {
        let status = r.status();
        let bytes = r.bytes().await.unwrap().to_vec();
        assert!(
            status.is_success(),
            "{label}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        self.responses.push((label.to_owned(), bytes, None));
        json
    }

    /// Makes a token over the API; its response is the one place its secret may appear.
    async fn token(&mut self, app: &TestApp, body: Value) -> String {
        let created = self
            .keep("POST /tokens", app.post(&app.admin, "/tokens", &body).await)
            .await;
        let secret = created["token"].as_str().unwrap().to_owned();
        self.responses.last_mut().unwrap().2 = Some(secret.clone());
        secret
    }
}

/// The forms a private key could leak in: its PEM body, the raw 32 bytes as hex and base64.
fn key_needles(keys_dir: &std::path::Path) -> Vec<(String, String)> {
    let mut needles = Vec::new();
    for entry in std::fs::read_dir(keys_dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "pem") {
            continue;
        }
        let pem = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            needles.push((format!("{name}: PEM line"), line.to_owned()));
        }
        needles.push((format!("{name}: PEM body"), body));
        let raw = SigningKey::from_pkcs8_pem(&pem).unwrap().to_bytes();
        needles.push((format!("{name}: hex"), hex::encode(raw)));
        needles.push((format!("{name}: HEX"), hex::encode_upper(raw)));
        for (engine, what) in [
            (&STANDARD, "base64"),
            (&STANDARD_NO_PAD, "base64 (no pad)"),
            (&URL_SAFE, "base64url"),
            (&URL_SAFE_NO_PAD, "base64url (no pad)"),
        ] {
            needles.push((format!("{name}: {what}"), engine.encode(raw)));
        }
    }
    needles
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_token_secret_or_private_key_in_any_response_or_log_line() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let launch = Launch {
        env: vec![("RUST_LOG".into(), "debug".into())],
        stderr: Some(log.path().to_owned()),
    };
    let app = TestApp::spawn_launched("", launch).await;
    let mut rec = Recorder::default();
    let applicant = rec
        .token(&app, json!({"role": "applicant", "holder": ENTERPRISE}))
        .await;
    let reviewer = rec.token(&app, json!({"role": "reviewer"})).await;
    let clerk = rec.token(&app, json!({"role": "clerk"})).await;
    let scjg = rec
        .token(&app, json!({"role": "approver", "department": "SCJG"}))
        .await;

    let r = app
        .post(&applicant, "/submissions", &licence_submission(ENTERPRISE))
        .await;
    let id = rec.keep("create", r).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let files = [
        ("营业执照副本", b"licence scan".to_vec()),
        ("产品检验报告", b"report, page 3 unsigned".to_vec()),
    ];
    for (name, bytes) in &files {
        let r = app.upload(&applicant, &id, name, bytes.clone()).await;
        rec.keep("upload", r).await;
    }
    let submit = format!("/submissions/{id}/submit");
    rec.keep("submit", app.post(&applicant, &submit, &json!({})).await)
        .await;
    let review = format!("/submissions/{id}/pre-review");
    let returned = json!({"decision": "return", "reasons": [{"material": "产品检验报告", "reason": "第3页缺少签章"}]});
    rec.keep("return", app.post(&reviewer, &review, &returned).await)
        .await;
    let fixed = b"report, all pages signed".to_vec();
    let r = app
        .upload(&applicant, &id, "产品检验报告", fixed.clone())
        .await;
    rec.keep("re-upload", r).await;
    rec.keep("resubmit", app.post(&applicant, &submit, &json!({})).await)
        .await;
    let approve = json!({"decision": "approve"});
    rec.keep("approve", app.post(&reviewer, &review, &approve).await)
        .await;

    // A mismatching multipart check, then a matching JSON one.
    let form = Form::new()
        .part(
            "营业执照副本",
            Part::bytes(files[0].1.clone()).file_name("a.pdf"),
        )
        .part(
            "产品检验报告",
            Part::bytes(files[1].1.clone()).file_name("b.pdf"),
        );
    let r = app
        .client
        .post(app.api(&format!("/submissions/{id}/window-check")))
        .bearer_auth(&clerk)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        rec.keep("window check (multipart)", r).await["outcome"],
        "mismatch"
    );
    let digests = json!({"digests": [
        {"name": "营业执照副本", "sha256": hex::encode(Sha256::digest(&files[0].1))},
        {"name": "产品检验报告", "sha256": hex::encode(Sha256::digest(&fixed))},
    ]});
    let check = format!("/submissions/{id}/window-check");
    let r = app.post(&clerk, &check, &digests).await;
    assert_eq!(
        rec.keep("window check (digests)", r).await["outcome"],
        "matched"
    );
    for item in ["wire-cable", "fertiliser"] {
        rec.keep("decide", decide(&app, &scjg, &id, item, "approve").await)
            .await;
    }
    let issue = format!("/submissions/{id}/issue");
    let cert = rec
        .keep("issue", app.post(&clerk, &issue, &json!({})).await)
        .await;
    let serial = cert["id"].as_str().unwrap().to_owned();
    let token = cert["token"].as_str().unwrap().to_owned();

    for path in [
        format!("/submissions/{id}"),
        format!("/certificates/{serial}"),
        format!("/certificates/{serial}/qr.png"),
        "/keys".to_owned(),
        "/tokens".to_owned(),
    ] {
        let r = app.get(&app.admin, &path).await;
        rec.keep(&format!("GET {path}"), r).await;
    }
    let r = app
        .get(&applicant, &format!("/certificates/{serial}/pdf"))
        .await;
    let pdf = r.bytes().await.unwrap().to_vec();
    rec.responses.push(("GET pdf".into(), pdf.clone(), None));
    let r = app
        .client
        .get(format!("{}/v/{token}", app.url))
        .send()
        .await
        .unwrap();
    rec.keep("GET /v (HTML)", r).await;
    let r = app
        .client
        .post(app.api("/verify"))
        .header("Content-Type", "application/pdf")
        .body(pdf)
        .send()
        .await
        .unwrap();
    assert_eq!(rec.keep("verify PDF", r).await["verdict"], "valid");
    let r = app
        .post(&applicant, "/verify", &json!({"token": token}))
        .await;
    rec.keep("verify token", r).await;
    rec.keep(
        "rotate",
        app.post(&app.admin, "/keys/rotate", &json!({})).await,
    )
    .await;
    let r = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap();
    rec.keep("jwks", r).await;
    // Refused requests are answered and logged too.
    let r = app
        .get("ot_not-a-real-token", &format!("/submissions/{id}"))
        .await;
    rec.responses.push((
        "unknown token".into(),
        r.bytes().await.unwrap().to_vec(),
        None,
    ));

    let mut secrets: Vec<(String, String)> = [&app.admin, &applicant, &reviewer, &clerk, &scjg]
        .into_iter()
        .map(|t| ("API token".to_owned(), t.clone()))
        .collect();
    // The random part alone, should something strip the prefix.
    let random: Vec<(String, String)> = secrets
        .iter()
        .map(|(_, t)| ("API token without ot_".to_owned(), t[3..].to_owned()))
        .collect();
    secrets.extend(random);
    let keys = key_needles(&app.data().join("keys"));
    let pem_files = keys.iter().filter(|(w, _)| w.ends_with("PEM body")).count();
    assert_eq!(pem_files, 2, "the first key and the rotated one");
    secrets.extend(keys);

    let log = std::fs::read(log.path()).unwrap();
    // The scan means something only if the log is the debug log of this very flow.
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("DEBUG"), "the server logged at debug level");
    assert!(text.contains("token created"), "token creation is logged");
    assert!(text.contains("signing key rotated"), "rotation is logged");

    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        if contains(&log, secret) {
            leaks.push(format!("{what} in the server log"));
        }
        for (label, body, allowed) in &rec.responses {
            if contains(body, secret)
                && allowed.as_ref() != Some(secret)
                && !allowed
                    .as_ref()
                    .is_some_and(|a| a.ends_with(secret.as_str()))
            {
                leaks.push(format!("{what} in the response to {label}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    assert!(rec.responses.len() > 25, "the whole flow was recorded");
}
