//! Verdicts that say what they mean, the same on every front end (the `/v` and `/c` pages and
//! their JSON, `POST /api/v1/verify`, the `/verify` form, the CLI): their colours, the
//! version in force at the end of a chain of amendments, altered copies and unusable files.
//! Each test's licences belong to enterprises of their own (1000–1999).

use std::path::Path;

use lopdf::dictionary;
use serde_json::{Value, json};

use crate::helpers::*;

/// A licence of enterprise `n`, carried from filing to issuance; its record.
pub async fn licence_of(app: &TestApp, staff: &Staff, scjg: &str, n: u32) -> Value {
    let id = accepted(app, staff, &licence_submission(&enterprise(n))).await;
    issue(app, staff, scjg, &id).await
}

async fn issue(app: &TestApp, staff: &Staff, scjg: &str, id: &str) -> Value {
    for item in ["wire-cable", "fertiliser"] {
        assert_eq!(decide(app, scjg, id, item, "approve").await.status(), 200);
    }
    let r = app
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The next version of `certificate` (of enterprise `n`), with a new production address.
async fn amend(
    app: &TestApp,
    staff: &Staff,
    scjg: &str,
    n: u32,
    certificate: &Value,
    address: &str,
) -> Value {
    let mut body = licence_submission(&enterprise(n));
    body["amends"] = certificate["id"].clone();
    body["fields"]["production_address"] = json!(address);
    let id = accepted(app, staff, &body).await;
    issue(app, staff, scjg, &id).await
}

pub async fn revoke(app: &TestApp, certificate: &Value) {
    let r = app
        .post(
            &app.admin,
            &format!(
                "/certificates/{}/revoke",
                certificate["id"].as_str().unwrap()
            ),
            &json!({"reason": "issued_in_error", "text": "测试撤销"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

pub async fn pdf_bytes(app: &TestApp, staff: &Staff, certificate: &Value) -> Vec<u8> {
    app.get(
        &staff.clerk,
        &format!("/certificates/{}/pdf", certificate["id"].as_str().unwrap()),
    )
    .await
    .bytes()
    .await
    .unwrap()
    .to_vec()
}

/// The page (HTML) at `path`: its status and text.
async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let r = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The `/verify` form's answer to a typed code or link: status and HTML.
async fn form_page(app: &TestApp, typed: &str) -> (u16, String) {
    let r = app
        .client
        .post(format!("{}/verify", app.url))
        .form(&[("token", typed)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The `/verify` form's answer to an uploaded file, as JSON or HTML.
async fn form_upload(app: &TestApp, bytes: Vec<u8>, json: bool) -> (u16, String) {
    let form = reqwest::multipart::Form::new().part(
        "pdf",
        reqwest::multipart::Part::bytes(bytes).file_name("licence.pdf"),
    );
    let mut request = app
        .client
        .post(format!("{}/verify", app.url))
        .multipart(form);
    if json {
        request = request.header("Accept", "application/json");
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `POST /api/v1/verify` with a file: status and verdict.
async fn post_file(app: &TestApp, content_type: &str, bytes: Vec<u8>) -> (u16, Value) {
    let r = app
        .client
        .post(app.api("/verify"))
        .header("Content-Type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The colour a verdict page shows: the tone class on its verdict banner, which the
/// stylesheet paints (checked once below).
fn tone(html: &str) -> &'static str {
    for tone in ["green", "red", "amber"] {
        if html.contains(&format!("tone-{tone}\"")) {
            return tone;
        }
    }
    panic!("no tone in {html}")
}

#[tokio::test]
async fn revoked_is_red_superseded_and_suspended_are_amber_on_every_page() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let revoked = licence_of(&app, &staff, &scjg, 1001).await;
    let suspended = licence_of(&app, &staff, &scjg, 1002).await;
    let old = licence_of(&app, &staff, &scjg, 1003).await;
    let _new = amend(
        &app,
        &staff,
        &scjg,
        1003,
        &old,
        "浙江省杭州市滨江区长河街道江南大道3号",
    )
    .await;
    revoke(&app, &revoked).await;
    let r = app
        .post(
            &scjg,
            &format!(
                "/certificates/{}/suspend",
                suspended["id"].as_str().unwrap()
            ),
            &json!({"reason": "监督抽查不合格", "until": "2099-12-31"}),
        )
        .await;
    assert_eq!(r.status(), 200);

    for (certificate, verdict, colour) in [
        (&revoked, "revoked", "red"),
        (&suspended, "suspended", "amber"),
        (&old, "superseded", "amber"),
    ] {
        let token = certificate["token"].as_str().unwrap();
        let code = certificate["code"].as_str().unwrap();
        let (_, v) = app.public_json(&format!("/v/{token}")).await;
        assert_eq!(v["verdict"], verdict);
        for path in [format!("/v/{token}"), format!("/c/{code}")] {
            let (status, html) = page(&app, &path).await;
            assert_eq!(status, 200);
            assert_eq!(tone(&html), colour, "{verdict} at {path}");
            assert!(html.contains(&format!("verdict-{verdict}")));
        }
        let (_, html) = form_page(&app, code).await;
        assert_eq!(tone(&html), colour, "{verdict} by the form");
        let (_, html) = form_upload(&app, pdf_bytes(&app, &staff, certificate).await, false).await;
        assert_eq!(tone(&html), colour, "{verdict} by the uploaded PDF");
    }
    // The stylesheet paints the tones: red with the "bad" colour, amber with the "warn" one.
    let (_, html) = page(&app, &format!("/v/{}", revoked["token"].as_str().unwrap())).await;
    assert!(html.contains(".verdict.tone-red { background: var(--bad); }"));
    assert!(html.contains(".verdict.tone-amber { background: var(--warn); }"));
    assert!(html.contains("--bad: #b42318") && html.contains("--warn: #9a6700"));
    // Times for people are Beijing time with the zone.
    assert!(html.contains("北京时间 (UTC+8)"), "{html}");
    assert!(!html.contains("(UTC)"));
}

#[tokio::test]
async fn a_superseded_version_names_the_version_in_force_at_the_end_of_its_chain_or_none() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let n = 1010;
    let first = licence_of(&app, &staff, &scjg, n).await;
    let second = amend(
        &app,
        &staff,
        &scjg,
        n,
        &first,
        "浙江省宁波市鄞州区首南街道1号",
    )
    .await;
    let third = amend(
        &app,
        &staff,
        &scjg,
        n,
        &second,
        "浙江省温州市鹿城区五马街道2号",
    )
    .await;
    let token = first["token"].as_str().unwrap();

    // While 003 is valid, 001 names 002 as its next version and 003 as the one in force.
    let (_, v) = app.public_json(&format!("/v/{token}")).await;
    assert_eq!(v["verdict"], "superseded");
    assert_eq!(v["successor"]["id"], second["id"]);
    assert_eq!(v["latest"]["id"], third["id"], "{v}");
    assert_eq!(v["latest"]["in_force"], true);
    assert_eq!(v["latest"]["verdict"], "valid");
    let (_, html) = page(&app, &format!("/v/{token}")).await;
    assert!(html.contains("现行有效版本") && html.contains("The version in force"));
    let in_force_section = html.split("The version in force").nth(1).unwrap();
    assert!(
        in_force_section
            .split("</section>")
            .next()
            .unwrap()
            .contains(third["id"].as_str().unwrap()),
        "{html}"
    );
    assert!(!html.contains("current version"));

    // 003 revoked: no version is in force, on the page, in the JSON, through the code too.
    revoke(&app, &third).await;
    for path in [
        format!("/v/{token}"),
        format!("/c/{}", first["code"].as_str().unwrap()),
        format!("/c/{}", second["code"].as_str().unwrap()),
    ] {
        let (_, v) = app.public_json(&path).await;
        assert_eq!(v["verdict"], "superseded", "{path}");
        assert_eq!(v["latest"]["id"], third["id"]);
        assert_eq!(v["latest"]["in_force"], false);
        assert_eq!(v["latest"]["verdict"], "revoked");
        let (_, html) = page(&app, &path).await;
        assert!(
            html.contains("无现行有效版本") && html.contains("No version in force"),
            "{html}"
        );
        assert!(!html.contains("The version in force"));
    }
    let typed = app.verify_typed(first["code"].as_str().unwrap()).await;
    assert_eq!(typed["latest"]["in_force"], false);
}

#[tokio::test]
async fn files_that_are_not_pdfs_or_carry_no_qr_are_unusable_and_an_altered_pdf_names_its_certificate()
 {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let certificate = licence_of(&app, &staff, &scjg, 1020).await;
    let pdf = pdf_bytes(&app, &staff, &certificate).await;

    // Not a PDF: 415, amber; a PDF with no QR code: 422; over 10 MB: 422. Never "not issued".
    let png = app
        .get(
            &staff.clerk,
            &format!(
                "/certificates/{}/qr.png",
                certificate["id"].as_str().unwrap()
            ),
        )
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let mut blank = lopdf::Document::with_version("1.5");
    let pages = blank.new_object_id();
    let page_id = blank.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    blank.objects.insert(
        pages,
        lopdf::Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog = blank.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
    blank.trailer.set("Root", catalog);
    let mut blank_pdf = Vec::new();
    blank.save_to(&mut blank_pdf).unwrap();
    // A PDF of nine small images (a certificate holds one or two): refused before decoding.
    let mut crowded = lopdf::Document::with_version("1.5");
    let mut xobjects = lopdf::Dictionary::new();
    for i in 0..9 {
        let image = crowded.add_object(lopdf::Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => 8, "Height" => 8,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            vec![255; 64],
        ));
        xobjects.set(format!("Im{i}"), image);
    }
    let pages = crowded.new_object_id();
    let page_id = crowded.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages,
        "Resources" => dictionary! { "XObject" => xobjects },
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    crowded.objects.insert(
        pages,
        lopdf::Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog = crowded.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
    crowded.trailer.set("Root", catalog);
    let mut crowded_pdf = Vec::new();
    crowded.save_to(&mut crowded_pdf).unwrap();
    let mut huge = pdf.clone();
    huge.resize((10 << 20) + 1, b' ');
    for (bytes, content_type, status, problem) in [
        (png.clone(), "application/pdf", 415, "not_pdf"),
        (png.clone(), "image/png", 415, "not_pdf"),
        (b"hello".to_vec(), "application/pdf", 415, "not_pdf"),
        (blank_pdf.clone(), "application/pdf", 422, "no_qr"),
        (crowded_pdf, "application/pdf", 422, "too_complex"),
        (huge.clone(), "application/pdf", 422, "too_large"),
    ] {
        let (got, v) = post_file(&app, content_type, bytes.clone()).await;
        assert_eq!(
            (got, v["verdict"].as_str()),
            (status, Some("unusable_input")),
            "{v}"
        );
        assert_eq!(v["problem"], problem);
        let (got, text) = form_upload(&app, bytes.clone(), true).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (got, v["verdict"].as_str()),
            (status, Some("unusable_input")),
            "{v}"
        );
        let (got, html) = form_upload(&app, bytes, false).await;
        assert_eq!(got, status);
        assert_eq!(tone(&html), "amber");
        assert!(html.contains("无法读取") && !html.contains("非本机关签发"));
    }

    // The genuine PDF with 8 bytes appended: an altered copy of this certificate, which is
    // itself valid; once the certificate is revoked, the copy says so.
    let mut altered = pdf.clone();
    altered.extend_from_slice(b"\n%%EXTRA");
    let (status, v) = post_file(&app, "application/pdf", altered.clone()).await;
    assert_eq!(
        (status, v["verdict"].as_str()),
        (200, Some("altered_copy")),
        "{v}"
    );
    assert_eq!(v["certificate"]["id"], certificate["id"]);
    assert_eq!(v["certificate_verdict"]["verdict"], "valid");
    revoke(&app, &certificate).await;
    let (_, v) = post_file(&app, "application/pdf", altered.clone()).await;
    assert_eq!(v["verdict"], "altered_copy");
    assert_eq!(v["certificate_verdict"]["verdict"], "revoked");
    assert_eq!(v["revocation"]["reason"], "issued_in_error");
    let (status, html) = form_upload(&app, altered.clone(), false).await;
    assert_eq!(status, 200);
    assert_eq!(tone(&html), "red");
    assert!(
        html.contains("文件已被改动") && html.contains("已撤销"),
        "{html}"
    );
    assert!(html.contains(certificate["id"].as_str().unwrap()));
    // The untouched file is still the revoked certificate itself.
    let (_, v) = post_file(&app, "application/pdf", pdf.clone()).await;
    assert_eq!(v["verdict"], "revoked");

    // The CLI says the same of the same files.
    let dir = app.dir.path().to_owned();
    let altered_path = dir.join("altered.pdf");
    std::fs::write(&altered_path, &altered).unwrap();
    let png_path = dir.join("not-a-pdf.pdf");
    std::fs::write(&png_path, b"hello, not a PDF at all").unwrap();
    let (code, out) = onetrip_cli(&dir, &["trust", "add", &app.url]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = onetrip_cli(&dir, &["verify", altered_path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(first_line(&out), "verdict: altered_copy", "{out}");
    assert!(out.contains("its verdict: revoked"), "{out}");
    let (code, out) = onetrip_cli(&dir, &["verify", png_path.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(first_line(&out), "verdict: unusable_input", "{out}");
}

/// Runs the CLI with the test's trust list; its exit code and standard output.
pub fn onetrip_cli(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env("ONETRIP_TRUST", dir.join("trust.json"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub fn first_line(out: &str) -> &str {
    out.lines().next().unwrap_or_default()
}
