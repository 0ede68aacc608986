//! The 核对制 flow end to end: create, upload, submit, return, fix, approve, window checks.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn files(parts: &[(&str, &[u8])]) -> Form {
    // Raw UTF-8 part names, as browsers and curl send them.
    parts
        .iter()
        .fold(Form::new().percent_encode_noop(), |form, (name, bytes)| {
            form.part(
                name.to_string(),
                Part::bytes(bytes.to_vec()).file_name(format!("{name}.pdf")),
            )
        })
}

#[tokio::test]
async fn pre_review_return_fix_approve_and_window_check() {
    let app = TestApp::spawn().await;
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let reviewer = app.token("reviewer", json!({})).await;
    let clerk = app.token("clerk", json!({})).await;

    let r = app
        .post(&applicant, "/submissions", &licence_submission(ENTERPRISE))
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["status"], "draft");
    let id = created["id"].as_str().unwrap().to_owned();

    let licence = b"business licence scan".to_vec();
    let report_v1 = b"test report, unsigned page 3".to_vec();
    let report_v2 = b"test report, all pages signed".to_vec();

    let r = app
        .upload(&applicant, &id, "营业执照副本", licence.clone())
        .await;
    assert_eq!(r.status(), 200);
    let uploaded: Value = r.json().await.unwrap();
    assert_eq!(uploaded["sha256"], sha(&licence));
    assert_eq!(uploaded["size"], licence.len());

    // Submitting with a declared material still missing names it.
    let (status, code, field) = error_of(
        app.post(&applicant, &format!("/submissions/{id}/submit"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "material_missing", Some("materials[1]"))
    );

    assert_eq!(
        app.upload(&applicant, &id, "产品检验报告", report_v1.clone())
            .await
            .status(),
        200
    );
    let r = app
        .post(&applicant, &format!("/submissions/{id}/submit"), &json!({}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "submitted");

    // 线上退件: returned with a reason per material.
    let r = app
        .post(
            &reviewer,
            &format!("/submissions/{id}/pre-review"),
            &json!({
                "decision": "return",
                "reasons": [{"material": "产品检验报告", "reason": "第3页缺少签章"}]
            }),
        )
        .await;
    let returned: Value = r.json().await.unwrap();
    assert_eq!(returned["status"], "returned");
    assert_eq!(returned["materials"][1]["returned_reason"], "第3页缺少签章");

    // The applicant fixes the report and resubmits; the old file is replaced.
    let r = app
        .upload(&applicant, &id, "产品检验报告", report_v2.clone())
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["sha256"], sha(&report_v2));
    let r = app
        .post(&applicant, &format!("/submissions/{id}/submit"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .post(
            &reviewer,
            &format!("/submissions/{id}/pre-review"),
            &json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "pre_approved");
    let material_files: Vec<_> = std::fs::read_dir(app.data().join("materials").join(&id))
        .unwrap()
        .collect();
    assert_eq!(
        material_files.len(),
        2,
        "the replaced report's file was deleted"
    );

    // The manifest is frozen now.
    let r = app
        .upload(&applicant, &id, "产品检验报告", b"late change".to_vec())
        .await;
    assert_eq!(error_of(r).await.1, "manifest_frozen");

    // At the window: the applicant brought the old report (altered) and a stray photo.
    let r = app
        .client
        .post(app.api(&format!("/submissions/{id}/window-check")))
        .bearer_auth(&clerk)
        .multipart(files(&[
            ("营业执照副本", &licence),
            ("产品检验报告", &report_v1),
            ("photo", b"holiday"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["outcome"], "mismatch");
    assert_eq!(report["materials"][0]["status"], "matched");
    assert_eq!(report["materials"][1]["status"], "altered", "{report}");
    assert_eq!(report["materials"][1]["expected_sha256"], sha(&report_v2));
    assert_eq!(report["materials"][1]["actual_sha256"], sha(&report_v1));
    assert_eq!(report["unexpected"][0]["part"], "photo");
    assert_eq!(report["unexpected"][0]["filename"], "photo.pdf");
    assert!(
        report["checked_by"]
            .as_str()
            .unwrap()
            .starts_with("clerk:tok_")
    );
    let r = app.get(&clerk, &format!("/submissions/{id}")).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["status"],
        "pre_approved",
        "a mismatch changes nothing"
    );

    // A digest-only check with a malformed digest names the entry.
    let r = app
        .post(
            &clerk,
            &format!("/submissions/{id}/window-check"),
            &json!({"digests": [
                {"name": "营业执照副本", "sha256": sha(&licence)},
                {"name": "产品检验报告", "sha256": "not-a-digest"}
            ]}),
        )
        .await;
    let (status, _, field) = error_of(r).await;
    assert_eq!(
        (status.as_u16(), field.as_deref()),
        (422, Some("digests[1].sha256"))
    );

    // The right files under any part names: accepted.
    let r = app
        .client
        .post(app.api(&format!("/submissions/{id}/window-check")))
        .bearer_auth(&clerk)
        .multipart(files(&[("usb-1", &report_v2), ("usb-2", &licence)]))
        .send()
        .await
        .unwrap();
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["outcome"], "matched", "{report}");
    assert!(report["unexpected"].as_array().unwrap().is_empty());

    let r = app.get(&applicant, &format!("/submissions/{id}")).await;
    let submission: Value = r.json().await.unwrap();
    assert_eq!(submission["status"], "accepted");
    assert_eq!(submission["materials"][1]["sha256"], sha(&report_v2));
    let actions: Vec<&str> = submission["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "created",
            "material_uploaded",
            "material_uploaded",
            "submitted",
            "returned",
            "material_uploaded",
            "submitted",
            "pre_approved",
            "window_checked",
            "window_checked"
        ]
    );
    let history = submission["history"].as_array().unwrap();
    assert_eq!(
        history[4]["reasons"][0]["reason"], "第3页缺少签章",
        "return reasons stay in the history"
    );
    assert_eq!(history[5]["replaced_sha256"], sha(&report_v1));
    assert_eq!(history[7]["manifest"][1]["sha256"], sha(&report_v2));
    assert_eq!(history[8]["report"]["outcome"], "mismatch");
    for (seq, event) in history.iter().enumerate() {
        assert_eq!(event["seq"], seq);
        assert!(event["actor"].as_str().unwrap().contains(":tok_"));
    }
}

#[tokio::test]
async fn digest_only_check_accepts_and_a_second_check_is_refused() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let reviewer = app.token("reviewer", json!({})).await;
    // A clerk files on an applicant's behalf.
    let id = app.create(&clerk, &licence_submission(ENTERPRISE)).await;
    for (name, bytes) in [("营业执照副本", b"a".as_slice()), ("产品检验报告", b"b")] {
        assert_eq!(
            app.upload(&clerk, &id, name, bytes.to_vec()).await.status(),
            200
        );
    }
    app.post(&clerk, &format!("/submissions/{id}/submit"), &json!({}))
        .await;
    app.post(
        &reviewer,
        &format!("/submissions/{id}/pre-review"),
        &json!({"decision": "approve"}),
    )
    .await;
    let digests = json!({"digests": [
        {"name": "x", "sha256": sha(b"b").to_uppercase()},
        {"name": "y", "sha256": sha(b"a")}
    ]});
    let r = app
        .post(&clerk, &format!("/submissions/{id}/window-check"), &digests)
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "matched");
    let r = app
        .post(&clerk, &format!("/submissions/{id}/window-check"), &digests)
        .await;
    assert_eq!(r.status(), 409);
}
