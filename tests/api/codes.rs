//! The verification code (核验码) and the compact token: every accepted spelling, unknown and
//! malformed codes, the printed short link, and certificates issued by the first version.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use onetrip::render::read_qr_from_pdf;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::verdicts::{first_line, licence_of, onetrip_cli, revoke};

/// The Crockford base32 alphabet of the code.
const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `code` (printed form) with the character at `position` (0..16, dashes not counted)
/// replaced by the next one of the alphabet.
fn substituted(code: &str, position: usize) -> String {
    let mut chars: Vec<char> = code.chars().filter(|c| *c != '-').collect();
    let i = ALPHABET.find(chars[position]).unwrap();
    chars[position] = ALPHABET.chars().nth((i + 1) % 32).unwrap();
    chars.into_iter().collect()
}

/// `code` with the characters at `position` and `position + 1` swapped, if they differ.
fn swapped(code: &str, position: usize) -> Option<String> {
    let mut chars: Vec<char> = code.chars().filter(|c| *c != '-').collect();
    (chars[position] != chars[position + 1]).then(|| {
        chars.swap(position, position + 1);
        chars.into_iter().collect()
    })
}

#[tokio::test]
async fn a_mistyped_code_is_a_typo_on_every_front_end_and_a_well_formed_unknown_one_is_not_issued()
{
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = licence_of(&app, &staff, &scjg, 1100).await;
    let code = record["code"].as_str().unwrap();
    let mut typos: Vec<String> = (0..16).map(|i| substituted(code, i)).collect();
    typos.extend((0..15).filter_map(|i| swapped(code, i)));
    for typo in &typos {
        let (status, v) = app.public_json(&format!("/c/{typo}")).await;
        assert_eq!(
            (status, v["verdict"].as_str()),
            (400, Some("code_typo")),
            "{typo}"
        );
        assert!(v.get("certificate").is_none());
    }
    let typo = &typos[7];
    // The page: amber, "check the code", never "not issued by us".
    let r = app
        .client
        .get(format!("{}/c/{typo}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("tone-amber\"") && html.contains("请核对核验码"),
        "{html}"
    );
    assert!(html.contains("Check the code") && !html.contains("非本机关签发"));
    // The API and the form.
    let r = app
        .client
        .post(app.api("/verify"))
        .json(&json!({"code": typo}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["verdict"], "code_typo");
    assert_eq!(app.verify_typed(typo).await["verdict"], "code_typo");
    let r = app
        .client
        .post(format!("{}/verify", app.url))
        .form(&[("token", format!("{}/c/{typo}", app.url))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("tone-amber\""));

    // A well-formed code (its check character holds) that we never issued: not_issued, 404.
    for _ in 0..5 {
        let unknown = onetrip::domain::VerificationCode::generate().to_string();
        let (status, v) = app.public_json(&format!("/c/{unknown}")).await;
        assert_eq!((status, v["verdict"].as_str()), (404, Some("not_issued")));
        let r = app
            .client
            .post(app.api("/verify"))
            .json(&json!({"code": unknown}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["verdict"], "not_issued");
    }
    // The issued code is still answered.
    let (status, v) = app.public_json(&format!("/c/{code}")).await;
    assert_eq!((status, v["verdict"].as_str()), (200, Some("valid")));
}

/// A second implementation of the check character, in Python, written from the definition
/// (Damm over x ∘ y = 2·x + y in GF(32) modulo x^5 + x^2 + 1, multiplication by log tables):
/// it agrees with the codes the service issues and the library generates, and the service
/// agrees with it on which codes are typos.
#[tokio::test]
async fn the_check_character_agrees_with_an_independent_implementation() {
    const PYTHON: &str = r#"
import sys
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
exp, log = [0] * 62, [0] * 32
v = 1
for i in range(31):
    exp[i] = exp[i + 31] = v
    log[v] = i
    v <<= 1
    if v & 32:
        v ^= 0b100101
def mul(a, b):
    return 0 if a == 0 or b == 0 else exp[log[a] + log[b]]
table = [[mul(2, x) ^ y for y in range(32)] for x in range(32)]
def state(symbols):
    s = 0
    for d in symbols:
        s = table[s][d]
    return s
for line in sys.stdin:
    code = line.strip().replace("-", "")
    symbols = [ALPHABET.index(c) for c in code]
    check = next(d for d in range(32) if table[state(symbols[:15])][d] == 0)
    print(ALPHABET[check], "ok" if state(symbols) == 0 else "typo")
"#;
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let issued = licence_of(&app, &staff, &scjg, 1110).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut codes = vec![issued.clone()];
    codes.extend((0..500).map(|_| onetrip::domain::VerificationCode::generate().to_string()));
    let typos: Vec<String> = (0..16).map(|i| substituted(&issued, i)).collect();
    codes.extend(typos.iter().cloned());
    let mut python = std::process::Command::new("python3")
        .args(["-c", PYTHON])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for the independent check");
    {
        use std::io::Write;
        let mut stdin = python.stdin.take().unwrap();
        for code in &codes {
            writeln!(stdin, "{code}").unwrap();
        }
    }
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success());
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(answers.len(), codes.len());
    for (code, answer) in codes.iter().zip(&answers) {
        let (check, verdict) = answer.split_once(' ').unwrap();
        let is_typo = typos.contains(code);
        assert_eq!(verdict, if is_typo { "typo" } else { "ok" }, "{code}");
        if !is_typo {
            assert!(
                code.ends_with(check),
                "{code}: Python's check character is {check}"
            );
        }
    }
    for typo in &typos {
        let (_, v) = app.public_json(&format!("/c/{typo}")).await;
        assert_eq!(v["verdict"], "code_typo");
    }
}

#[tokio::test]
async fn the_cli_checks_the_printed_code_and_its_link_online_and_refuses_to_offline() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = licence_of(&app, &staff, &scjg, 1120).await;
    let code = record["code"].as_str().unwrap();
    let link = record["code_url"].as_str().unwrap();
    let dir = app.dir.path().to_owned();

    // Nothing trusted: no issuer to ask.
    let (exit, out) = onetrip_cli(&dir, &["verify", code]);
    assert_eq!(
        (exit, first_line(&out)),
        (3, "verdict: untrusted_issuer"),
        "{out}"
    );
    let (exit, out) = onetrip_cli(&dir, &["trust", "add", &app.url]);
    assert_eq!(exit, 0, "{out}");

    for input in [
        code.to_owned(),
        code.to_lowercase().replace('-', ""),
        link.to_owned(),
    ] {
        let (exit, out) = onetrip_cli(&dir, &["verify", &input]);
        assert_eq!(
            (exit, first_line(&out)),
            (0, "verdict: valid"),
            "{input}: {out}"
        );
        assert!(out.contains(record["id"].as_str().unwrap()), "{out}");
    }
    let (exit, out) = onetrip_cli(&dir, &["verify", code, "--issuer", &app.url]);
    assert_eq!(exit, 0, "{out}");
    let (exit, out) = onetrip_cli(
        &dir,
        &["verify", code, "--issuer", "https://elsewhere.example"],
    );
    assert_eq!(
        (exit, first_line(&out)),
        (3, "verdict: untrusted_issuer"),
        "{out}"
    );
    // A typo is a typo; a code cannot be checked offline.
    let (exit, out) = onetrip_cli(&dir, &["verify", &substituted(code, 3)]);
    assert_eq!((exit, first_line(&out)), (3, "verdict: code_typo"), "{out}");
    let (exit, out) = onetrip_cli(&dir, &["verify", "--offline", code]);
    assert_eq!(
        (exit, first_line(&out)),
        (3, "verdict: unusable_input"),
        "{out}"
    );
    assert!(out.contains("only be checked online"), "{out}");
    // Revoked: the code says so, first.
    revoke(&app, &record).await;
    let (exit, out) = onetrip_cli(&dir, &["verify", code]);
    assert_eq!((exit, first_line(&out)), (1, "verdict: revoked"), "{out}");
    assert!(!out.contains("证照真实有效"), "{out}");
}

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

    // A code we never issued (its check character holds): not_issued, 404, in the verdict
    // shape. Not a code at all: 400.
    let unknown = onetrip::domain::VerificationCode::generate().to_string();
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
    let by_pdf = app.verify_pdf(&pdf).await;
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

/// Codes issued before the check character existed keep verifying: a code found in the store
/// is answered whatever its 16th character says, on every front end.
#[tokio::test]
async fn codes_issued_before_the_check_character_keep_verifying() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-codes-v2");
    let app = TestApp::spawn_on_copy_of(&fixture.join("data")).await;
    let results = std::fs::read_to_string(fixture.join("results.jsonl")).unwrap();
    let mut checked = 0;
    for line in results.lines() {
        let result: Value = serde_json::from_str(line).unwrap();
        let code = result["code"].as_str().unwrap();
        let parsed = onetrip::domain::VerificationCode::parse(code).unwrap();
        assert!(
            !parsed.check_character_holds(),
            "{code}: the fixture's point"
        );
        let (status, v) = app.public_json(&format!("/c/{code}")).await;
        assert_eq!(
            (status, v["verdict"].as_str()),
            (200, Some("valid")),
            "{code}: {v}"
        );
        assert_eq!(v["certificate"]["id"], result["identifier"]);
        let r = app
            .client
            .post(app.api("/verify"))
            .json(&json!({"code": code.to_lowercase()}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["verdict"], "valid");
        assert_eq!(app.verify_typed(code).await["verdict"], "valid");
        // One character off is a typo all the same.
        let (status, v) = app
            .public_json(&format!("/c/{}", substituted(code, 0)))
            .await;
        assert!(
            (status, v["verdict"].as_str()) == (400, Some("code_typo"))
                || (status, v["verdict"].as_str()) == (404, Some("not_issued")),
            "{v}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}
