//! A licence's life after issue: amendments that issue the next version and supersede the
//! old one, withdrawing product categories, suspension and reinstatement, as a verifier sees
//! them through `/v/{token}`, `/c/{code}`, `POST /verify` and the signed status list.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use onetrip::domain::identifier::Identifier;
use serde_json::{Value, json};

use crate::helpers::*;

/// The verdict JSON of a certificate's QR link, its code and its PDF, which must agree.
async fn verdicts(app: &TestApp, staff: &Staff, certificate: &Value) -> Value {
    let token = certificate["token"].as_str().unwrap();
    let (status, by_token) = app.public_json(&format!("/v/{token}")).await;
    assert_eq!(status, 200);
    let code = certificate["code"].as_str().unwrap();
    let (_, by_code) = app.public_json(&format!("/c/{code}")).await;
    assert_eq!(by_code["verdict"], by_token["verdict"], "{by_code}");
    let id = certificate["id"].as_str().unwrap();
    let pdf = app
        .get(&staff.clerk, &format!("/certificates/{id}/pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    let by_pdf: Value = app
        .client
        .post(app.api("/verify"))
        .header("Content-Type", "application/pdf")
        .body(pdf.to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_pdf["verdict"], by_token["verdict"], "{by_pdf}");
    let typed = app.verify_typed(code).await;
    assert_eq!(typed["verdict"], by_token["verdict"], "{typed}");
    by_token
}

/// The status list's payload (its signature is checked in `trust.rs`).
async fn status_list(app: &TestApp) -> Value {
    let jws = app
        .client
        .get(format!("{}/.well-known/status-list", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let payload = jws.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn listed<'a>(list: &'a Value, id: &Value) -> Option<&'a Value> {
    list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sub"] == *id)
}

/// Files an amendment of `certificate` with a new production address and carries it to
/// issuance; returns the new version's record.
async fn amend(
    app: &TestApp,
    staff: &Staff,
    scjg: &str,
    certificate: &Value,
    address: &str,
) -> Value {
    let mut body = licence_submission(ENTERPRISE);
    body["amends"] = certificate["id"].clone();
    body["fields"]["production_address"] = json!(address);
    let id = accepted(app, staff, &body).await;
    for item in ["wire-cable", "fertiliser"] {
        assert_eq!(decide(app, scjg, &id, item, "approve").await.status(), 200);
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

#[tokio::test]
async fn amending_twice_issues_versions_two_and_three_and_the_old_ones_name_their_successor() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let first = issued_licence(&app, &staff, &scjg).await;
    assert_eq!(first["version"], 1);

    let moved = "浙江省杭州市钱塘区白杨街道科技园路88号智造产业园3幢";
    let second = amend(&app, &staff, &scjg, &first, moved).await;
    let third = amend(
        &app,
        &staff,
        &scjg,
        &second,
        "浙江省湖州市德清县武康街道长虹中街9号",
    )
    .await;
    for (record, version) in [(&second, 2), (&third, 3)] {
        assert_eq!(record["version"], version);
        let id = Identifier::parse(record["id"].as_str().unwrap()).unwrap();
        assert_eq!(id.version(), version);
        let sequence = |v: &Value| {
            v["id"]
                .as_str()
                .unwrap()
                .rsplit('.')
                .nth(2)
                .map(str::to_owned)
        };
        assert_eq!(sequence(record), sequence(&first));
        assert_eq!(record["status"], "valid");
        assert_eq!(record["expiry_date"], first["expiry_date"]);
    }
    assert_eq!(second["supersedes"], first["id"]);
    assert_eq!(third["supersedes"], second["id"]);

    // The first version's QR, code and PDF all say superseded and point at version 2.
    let old = verdicts(&app, &staff, &first).await;
    assert_eq!(old["verdict"], "superseded", "{old}");
    assert_eq!(old["successor"]["id"], second["id"]);
    assert!(
        old["successor"]["link"]
            .as_str()
            .unwrap()
            .ends_with(second["code"].as_str().unwrap())
    );
    let changes = old["successor"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["after"], moved);
    assert_eq!(
        changes[0]["before"],
        licence_submission(ENTERPRISE)["fields"]["production_address"]
    );
    let page = app
        .client
        .get(format!(
            "{}/v/{}",
            app.url,
            first["token"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("已变更") && page.contains(moved), "{page}");
    assert_eq!(
        verdicts(&app, &staff, &second).await["verdict"],
        "superseded"
    );
    assert_eq!(verdicts(&app, &staff, &third).await["verdict"], "valid");

    let record: Value = app
        .get_json(
            &staff.clerk,
            &format!("/certificates/{}", first["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(record["status"], "superseded");
    assert_eq!(record["superseded_by"], second["id"]);
    let list = status_list(&app).await;
    assert_eq!(
        listed(&list, &first["id"]).unwrap()["successor"],
        second["id"]
    );
    assert!(listed(&list, &third["id"]).is_none());

    // A superseded version cannot be amended again, nor revoked: act on the current one.
    let mut again = licence_submission(ENTERPRISE);
    again["amends"] = first["id"].clone();
    let (status, code, _) = error_of(app.post(&staff.clerk, "/submissions", &again).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (409, "certificate_superseded")
    );
    let admin = app.token("admin", json!({})).await;
    let revoke = format!("/certificates/{}/revoke", first["id"].as_str().unwrap());
    let r = app
        .post(&admin, &revoke, &json!({"reason": "holder_request"}))
        .await;
    assert_eq!(error_of(r).await.1, "certificate_superseded");
}

#[tokio::test]
async fn only_the_holders_applicant_or_a_clerk_may_amend_and_never_another_holder_or_kind() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let first = issued_licence(&app, &staff, &scjg).await;
    let mut body = licence_submission(ENTERPRISE);
    body["amends"] = first["id"].clone();

    let stranger = app
        .token("applicant", json!({"holder": OTHER_ENTERPRISE}))
        .await;
    let mut theirs = body.clone();
    theirs["holder"]["id"] = json!(OTHER_ENTERPRISE);
    let (status, _, _) = error_of(app.post(&stranger, "/submissions", &theirs).await).await;
    assert_eq!(status.as_u16(), 403);
    let (status, code, field) =
        error_of(app.post(&staff.clerk, "/submissions", &theirs).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "amendment_of_another_holder", Some("holder.id"))
    );
    let mut unknown = body.clone();
    unknown["amends"] = json!(first["id"].as_str().unwrap().replace(".001.", ".002."));
    let (status, _, field) = error_of(app.post(&staff.clerk, "/submissions", &unknown).await).await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("amends")));

    let owner = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let r = app.post(&owner, "/submissions", &body).await;
    assert_eq!(r.status(), 201);
    let filed: Value = r.json().await.unwrap();
    assert_eq!(filed["amends"], first["id"]);
}

#[tokio::test]
async fn withdrawing_a_category_issues_a_version_without_it_and_the_last_one_revokes() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let first = issued_licence(&app, &staff, &scjg).await;
    let id = first["id"].as_str().unwrap();
    let withdraw = format!("/certificates/{id}/withdraw-items");

    let gaj = app.token("approver", json!({"department": "GAJ"})).await;
    let body = json!({"items": ["fertiliser"], "reason": "企业申请注销化肥产品类别"});
    let (status, _, _) = error_of(app.post(&gaj, &withdraw, &body).await).await;
    assert_eq!(status.as_u16(), 403);
    let unknown = json!({"items": ["fertiliser", "pumps"], "reason": "x"});
    let (status, _, field) = error_of(app.post(&scjg, &withdraw, &unknown).await).await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("items[1]")));

    let r = app.post(&scjg, &withdraw, &body).await;
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["version"], 2);
    assert_eq!(second["supersedes"], first["id"]);
    assert_eq!(
        second["items"],
        json!([{"code": "wire-cable", "name": "电线电缆"}])
    );
    let text = pdf_text(
        &app.get(
            &staff.clerk,
            &format!("/certificates/{}/pdf", second["id"].as_str().unwrap()),
        )
        .await
        .bytes()
        .await
        .unwrap(),
    );
    assert!(
        text.contains("电线电缆") && !text.contains("化肥"),
        "{text}"
    );

    let old = verdicts(&app, &staff, &first).await;
    assert_eq!(old["verdict"], "superseded");
    assert_eq!(
        old["successor"]["changes"],
        json!([{"what": "事项 Item", "before": "化肥", "after": null}])
    );
    let submission: Value = app
        .get_json(
            &staff.clerk,
            &format!("/submissions/{}", first["submission"].as_str().unwrap()),
        )
        .await;
    let withdrawn = submission["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "items_withdrawn")
        .expect("the history records the withdrawal");
    assert_eq!(withdrawn["items"], json!(["fertiliser"]));
    assert_eq!(withdrawn["reason"], "企业申请注销化肥产品类别");
    assert_eq!(withdrawn["successor"], second["id"]);
    assert_eq!(submission["certificate"], second["id"]);

    // The superseded version is no longer the one to act on.
    let (status, code, _) = error_of(app.post(&scjg, &withdraw, &body).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (409, "certificate_superseded")
    );

    let last = format!(
        "/certificates/{}/withdraw-items",
        second["id"].as_str().unwrap()
    );
    let r = app
        .post(
            &scjg,
            &last,
            &json!({"items": ["wire-cable"], "reason": "企业停产"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let revoked: Value = r.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["id"], second["id"]);
    assert_eq!(verdicts(&app, &staff, &second).await["verdict"], "revoked");

    // A revoked licence is not amended.
    let mut amendment = licence_submission(ENTERPRISE);
    amendment["amends"] = second["id"].clone();
    let (status, code, _) =
        error_of(app.post(&staff.clerk, "/submissions", &amendment).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (409, "certificate_revoked")
    );
}

#[tokio::test]
async fn a_suspension_shows_its_reason_and_last_day_until_reinstated() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let first = issued_licence(&app, &staff, &scjg).await;
    let id = first["id"].as_str().unwrap();
    let suspend = format!("/certificates/{id}/suspend");
    let reinstate = format!("/certificates/{id}/reinstate");
    let reason = "监督抽查不合格，责令整改";

    let gaj = app.token("approver", json!({"department": "GAJ"})).await;
    let body = json!({"reason": reason, "until": "2099-12-31"});
    for token in [&gaj, &staff.clerk] {
        assert_eq!(app.post(token, &suspend, &body).await.status(), 403);
    }
    let past = json!({"reason": reason, "until": "2020-01-01"});
    let (status, _, field) = error_of(app.post(&scjg, &suspend, &past).await).await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("until")));
    let (status, _, field) = error_of(
        app.post(
            &scjg,
            &suspend,
            &json!({"reason": reason, "until": "31/12/2099"}),
        )
        .await,
    )
    .await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("until")));
    let (status, code, _) =
        error_of(app.post(&scjg, &reinstate, &json!({"reason": "x"})).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "not_suspended"));

    let r = app.post(&scjg, &suspend, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "suspended");
    let seen = verdicts(&app, &staff, &first).await;
    assert_eq!(seen["verdict"], "suspended");
    assert_eq!(seen["suspension"]["reason"], reason);
    assert_eq!(seen["suspension"]["until"], "2099-12-31");
    let page = app
        .client
        .get(format!("{}/c/{}", app.url, first["code"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("已暂扣") && page.contains(reason), "{page}");
    let entry = listed(&status_list(&app).await, &first["id"])
        .cloned()
        .unwrap();
    assert_eq!(
        (entry["status"].as_str(), entry["until"].as_str()),
        (Some("suspended"), Some("2099-12-31"))
    );

    // Suspended: it cannot be suspended again, nor amended until reinstated.
    let (status, code, _) = error_of(app.post(&scjg, &suspend, &body).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (409, "certificate_suspended")
    );
    let mut amendment = licence_submission(ENTERPRISE);
    amendment["amends"] = first["id"].clone();
    let (_, code, _) = error_of(app.post(&staff.clerk, "/submissions", &amendment).await).await;
    assert_eq!(code, "certificate_suspended");

    let admin = app.token("admin", json!({})).await;
    let r = app
        .post(&admin, &reinstate, &json!({"reason": "整改完成，复查合格"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(verdicts(&app, &staff, &first).await["verdict"], "valid");
    assert!(listed(&status_list(&app).await, &first["id"]).is_none());

    let submission: Value = app
        .get_json(
            &staff.clerk,
            &format!("/submissions/{}", first["submission"].as_str().unwrap()),
        )
        .await;
    let actions: Vec<&str> = submission["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.ends_with(&["issued", "certificate_suspended", "certificate_reinstated"]),
        "{actions:?}"
    );
}
