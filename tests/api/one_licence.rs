//! What is printed is what was approved, and 一企一证: one licence in force per enterprise.
//! Each invariant is checked end to end, through the real server and the real PDF (read back
//! by poppler's `pdftotext`, which we did not write).

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{Datelike, Months, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

/// The catalogue's names of the 19 provincial categories, in the catalogue's order (the
/// order of `CATEGORY_CODES`).
const CATALOGUE_NAMES: [&str; 19] = [
    "电线电缆",
    "危险化学品",
    "危险化学品包装物及容器",
    "化肥",
    "建筑用钢筋",
    "水泥",
    "人民币鉴别仪",
    "广播电视传输设备",
    "食品用塑料包装容器工具等制品",
    "食品用纸包装容器等制品",
    "餐具洗涤剂",
    "砂轮",
    "防伪技术产品",
    "预应力混凝土铁路桥简支梁",
    "建筑防水卷材",
    "铜及铜合金管材",
    "摩托车头盔",
    "特种劳动防护用品",
    "电力整流器",
];

fn today() -> NaiveDate {
    (Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// The PDF's text as poppler reads it, whitespace removed (names may wrap across lines).
fn pdftotext(pdf: &[u8]) -> String {
    let mut child = Command::new("pdftotext")
        .args(["-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is installed by .ci/run");
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// A licence submission of `holder` for the categories `codes`, names left to the catalogue.
fn licence_of(holder: &str, codes: &[&str]) -> Value {
    let mut body = licence_submission(holder);
    body["items"] = codes.iter().map(|code| json!({"code": code})).collect();
    body
}

/// Carries `body` to an accepted submission with every item approved; returns its id.
async fn approved(app: &TestApp, staff: &Staff, scjg: &str, body: &Value) -> String {
    let id = accepted(app, staff, body).await;
    for item in body["items"].as_array().unwrap() {
        let code = item["code"].as_str().unwrap();
        assert_eq!(decide(app, scjg, &id, code, "approve").await.status(), 200);
    }
    id
}

async fn issue(app: &TestApp, staff: &Staff, id: &str) -> reqwest::Response {
    app.post(
        &staff.clerk,
        &format!("/submissions/{id}/issue"),
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn the_licence_prints_the_catalogues_names_in_the_catalogues_order() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;

    // A name the applicant typed is never printed: one that differs is refused.
    let mut body = licence_of(&enterprise(1), &["cement"]);
    body["items"][0]["name"] = json!("食品添加剂");
    let r = app.post(&staff.clerk, "/submissions", &body).await;
    let (status, code, field) = error_of(r).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "item_name_mismatch", Some("items[0].name"))
    );
    let mut body = licence_of(&enterprise(1), &CATEGORY_CODES);
    for item in body["items"].as_array_mut().unwrap() {
        item["name"] = json!("特种劳动防护用品（安全帽、安全带、防护服");
    }
    let (status, code, _) = error_of(app.post(&staff.clerk, "/submissions", &body).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (422, "item_name_mismatch")
    );

    // All 19 categories filed in the codes' alphabetical order print in the catalogue's.
    let mut alphabetical = CATEGORY_CODES.to_vec();
    alphabetical.sort_unstable();
    assert_ne!(alphabetical, CATEGORY_CODES);
    let body = licence_of(&enterprise(1), &alphabetical);
    let id = approved(&app, &staff, &scjg, &body).await;
    let r = issue(&app, &staff, &id).await;
    assert_eq!(r.status(), 201);
    let certificate: Value = r.json().await.unwrap();
    let printed: Vec<&str> = certificate["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(printed, CATALOGUE_NAMES);
    // In the order the page draws them (lopdf's extraction keeps the content stream's order;
    // poppler reads the two columns row by row).
    let text: String = pdf_text(&certificate_pdf(&app, &staff.clerk, &certificate).await)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut from = 0;
    for (i, name) in CATALOGUE_NAMES.iter().enumerate() {
        let numbered = format!("{}.{name}", i + 1);
        let at = text[from..]
            .find(&numbered)
            .unwrap_or_else(|| panic!("{numbered} not printed in order in {text}"));
        from += at + numbered.len();
    }
}

#[tokio::test]
async fn one_licence_in_force_per_enterprise() {
    let mut app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let holder = enterprise(2);

    // Two applications filed before either is issued: they race at issuance, and exactly one
    // licence is issued; the other is told which licence holds and to amend it.
    let first = approved(&app, &staff, &scjg, &licence_of(&holder, &["cement"])).await;
    let second = approved(&app, &staff, &scjg, &licence_of(&holder, &["rebar"])).await;
    let (a, b) = tokio::join!(issue(&app, &staff, &first), issue(&app, &staff, &second));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    let (issued, refused) = if a.status() == 201 { (a, b) } else { (b, a) };
    let licence: Value = issued.json().await.unwrap();
    let refusal: Value = refused.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "licence_in_force", "{refusal}");
    assert_eq!(
        refusal["error"]["details"]["identifier"], licence["id"],
        "{refusal}"
    );

    // A third application is refused when it is filed, in both languages, naming the licence.
    let r = app
        .post(
            &staff.clerk,
            "/submissions",
            &licence_of(&holder, &["fertiliser"]),
        )
        .await;
    assert_eq!(r.status(), 409);
    let refusal: Value = r.json().await.unwrap();
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("一企一证") && message.contains("amend"),
        "{message}"
    );
    assert!(
        message.contains(licence["id"].as_str().unwrap()),
        "{message}"
    );

    // A new category is an amendment (增项) of the licence in force: its next version.
    let mut amendment = licence_of(&holder, &["cement", "fertiliser"]);
    amendment["amends"] = licence["id"].clone();
    let id = approved(&app, &staff, &scjg, &amendment).await;
    let r = issue(&app, &staff, &id).await;
    assert_eq!(r.status(), 201);
    let amended: Value = r.json().await.unwrap();
    assert_eq!(amended["supersedes"], licence["id"]);

    // Suspended is still in force; revoked is not, and a new licence may then be applied for.
    let admin = app.admin.clone();
    let amended_id = amended["id"].as_str().unwrap();
    let r = app
        .post(
            &admin,
            &format!("/certificates/{amended_id}/suspend"),
            &json!({"reason": "监督抽查不合格"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .post(
            &staff.clerk,
            "/submissions",
            &licence_of(&holder, &["rebar"]),
        )
        .await;
    assert_eq!(error_of(r).await.1, "licence_in_force");
    let r = app
        .post(
            &admin,
            &format!("/certificates/{amended_id}/revoke"),
            &json!({"reason": "holder_request"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = approved(&app, &staff, &scjg, &licence_of(&holder, &["rebar"])).await;
    assert_eq!(issue(&app, &staff, &id).await.status(), 201);

    // The rule holds across a restart (the index is the store's, not the process's).
    app.restart();
    let r = app
        .post(
            &staff.clerk,
            "/submissions",
            &licence_of(&holder, &["cement"]),
        )
        .await;
    assert_eq!(error_of(r).await.1, "licence_in_force");
}

#[tokio::test]
async fn an_amended_licence_prints_its_version_and_date_of_change() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let holder = enterprise(3);
    let id = approved(&app, &staff, &scjg, &licence_of(&holder, &["cement"])).await;
    let first: Value = issue(&app, &staff, &id).await.json().await.unwrap();
    assert!(!pdftotext(&certificate_pdf(&app, &staff.clerk, &first).await).contains("变更"));

    let mut amendment = licence_of(&holder, &["cement", "rebar"]);
    amendment["amends"] = first["id"].clone();
    let id = approved(&app, &staff, &scjg, &amendment).await;
    let second: Value = issue(&app, &staff, &id).await.json().await.unwrap();
    let text = pdftotext(&certificate_pdf(&app, &staff.clerk, &second).await);
    let t = today();
    let change = format!("第002版，{}年{}月{}日变更", t.year(), t.month(), t.day());
    assert!(text.contains(&change), "{change} not in {text}");
    // The QR code's page and JSON say the same.
    let token = second["token"].as_str().unwrap();
    let (_, verdict) = app.public_json(&format!("/v/{token}")).await;
    assert_eq!(verdict["certificate"]["version"], 2, "{verdict}");
    let page = app.public_page(&format!("/v/{token}")).await;
    assert!(page.contains(&format!("第002版，{t}变更")), "{page}");
}

#[tokio::test]
async fn a_renewal_in_the_last_six_months_runs_the_full_validity_again() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    // A migrated licence that expires in a week.
    let expiry = today() + chrono::Duration::days(7);
    let issued = expiry
        .checked_sub_months(Months::new(60))
        .unwrap()
        .succ_opt()
        .unwrap();
    let mut line = migration_line(4);
    line["migrate"]["issue_date"] = json!(issued.to_string());
    line["migrate"]["expiry_date"] = json!(expiry.to_string());
    let migrated = migrate(&app, &staff.clerk, std::slice::from_ref(&line)).await;
    assert_eq!(migrated[0]["status"], "issued", "{migrated:?}");
    let licence = migrated[0]["identifier"].as_str().unwrap().to_owned();
    let holder = line["migrate"]["holder"]["id"].as_str().unwrap();
    let name = line["migrate"]["holder"]["name"].clone();

    let mut renewal = licence_of(holder, &["wire-cable"]);
    renewal["holder"]["name"] = name;
    renewal["amends"] = json!(licence);
    renewal["renew"] = json!(true);
    let id = approved(&app, &staff, &scjg, &renewal).await;
    let r = issue(&app, &staff, &id).await;
    assert_eq!(r.status(), 201);
    let renewed: Value = r.json().await.unwrap();
    let five_years = today()
        .checked_add_months(Months::new(60))
        .unwrap()
        .pred_opt()
        .unwrap();
    assert_eq!(renewed["expiry_date"], five_years.to_string());

    // The renewed licence is far from its end: renewing it again is refused, naming when.
    let mut early = renewal.clone();
    early["amends"] = renewed["id"].clone();
    let r = app.post(&staff.clerk, "/submissions", &early).await;
    let (status, code, _) = error_of(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "renewal_too_early"));
    // A renewal names what it renews.
    let mut orphan = licence_of(&enterprise(5), &["cement"]);
    orphan["renew"] = json!(true);
    let (status, code, field) =
        error_of(app.post(&staff.clerk, "/submissions", &orphan).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "renewal_without_certificate", Some("renew"))
    );
}

/// Runs `lines` as a batch on the server and returns each line's result.
async fn migrate(app: &TestApp, clerk: &str, lines: &[Value]) -> Vec<Value> {
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    let progress = finished_batch(app, clerk, body.join("\n")).await;
    progress["results"].as_array().unwrap().clone()
}

#[tokio::test]
async fn two_paper_licences_of_one_enterprise_migrate_to_one_licence_keeping_both_numbers() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let mut first = migration_line(6);
    first["migrate"]["items"] = json!([
        {"code": "paper-packaging", "name": "食品用纸包装、容器等制品"}
    ]);
    let mut second = first.clone();
    second["migrate"]["former_number"] = json!("XK16-204-99999");
    second["migrate"]["items"] = json!([{"code": "cement", "department": "SCJG"}]);
    let lines = [first.clone(), second.clone()];
    let results = migrate(&app, &staff.clerk, &lines).await;
    assert!(
        results.iter().all(|r| r["status"] == "issued"),
        "{results:?}"
    );
    // The lines run side by side: whichever stores second issues version 002 of the other.
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["identifier"].as_str().unwrap())
        .collect();
    let (latest, first_id) = match ids.iter().position(|id| id.contains(".002.")) {
        Some(i) => (ids[i], ids[1 - i]),
        None => panic!("no version 002 among {ids:?}"),
    };
    assert!(first_id.contains(".001."), "{ids:?}");
    let licence = app
        .get_json(&staff.clerk, &format!("/certificates/{latest}"))
        .await;
    let names: Vec<&str> = licence["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    // The catalogue's wording, in the catalogue's order; the paper's wording is not printed.
    assert_eq!(names, ["水泥", "食品用纸包装容器等制品"]);
    let mut numbers = vec![licence["former_number"].clone()];
    numbers.extend(licence["merged_former_numbers"].as_array().unwrap().clone());
    numbers.sort_by_key(|n| n.to_string());
    assert_eq!(numbers, [json!("XK13-001-00006"), json!("XK16-204-99999")]);
    let text = pdftotext(&certificate_pdf(&app, &staff.clerk, &licence).await);
    assert!(!text.contains("食品用纸包装、容器等制品"), "{text}");
    for number in ["XK13-001-00006", "XK16-204-99999"] {
        assert!(text.contains(number), "{number} not printed: {text}");
    }
    // A bank scanning the QR code sees the former numbers too, on the page and in the JSON.
    let token = licence["token"].as_str().unwrap();
    let (_, verdict) = app.public_json(&format!("/v/{token}")).await;
    let mut shown: Vec<&str> = verdict["certificate"]["former_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    shown.sort_unstable();
    assert_eq!(shown, ["XK13-001-00006", "XK16-204-99999"]);
    let page = app.public_page(&format!("/v/{token}")).await;
    assert!(page.contains("XK16-204-99999") && page.contains("原证书编号"));
    let first_version = app
        .get_json(&staff.clerk, &format!("/certificates/{first_id}"))
        .await;
    assert_eq!(first_version["status"], "superseded");
    // The paper wording stays in the migration's record.
    let mut legacy = Vec::new();
    let mut migrated = Vec::new();
    for id in [&first_version, &licence].map(|c| c["submission"].as_str().unwrap()) {
        let submission = app
            .get_json(&staff.clerk, &format!("/submissions/{id}"))
            .await;
        legacy.push(submission["items"][0]["legacy_name"].clone());
        // Each migration's history names the paper licence it migrated.
        let history = submission["history"].as_array().unwrap();
        let event = history.iter().find(|e| e["action"] == "migrated").unwrap();
        migrated.push(event["former_number"].as_str().unwrap().to_owned());
    }
    migrated.sort();
    assert_eq!(migrated, ["XK13-001-00006", "XK16-204-99999"]);
    assert!(
        legacy.contains(&json!("食品用纸包装、容器等制品")),
        "{legacy:?}"
    );

    // Run again: both numbers are known, nothing is issued.
    let again = migrate(&app, &staff.clerk, &lines).await;
    assert!(
        again.iter().all(|r| r["status"] == "already_issued"),
        "{again:?}"
    );
    // A third paper licence under another name is not merged: the name must agree.
    let mut renamed = second.clone();
    renamed["migrate"]["former_number"] = json!("XK16-204-88888");
    renamed["migrate"]["holder"]["name"] = json!("另一家有限公司");
    let results = migrate(&app, &staff.clerk, &[renamed]).await;
    assert_eq!(results[0]["code"], "holder_name_mismatch", "{results:?}");
    assert_eq!(results[0]["field"], "migrate.holder.name");
}

#[tokio::test]
async fn implausible_migration_values_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let tomorrow = (today() + chrono::Duration::days(1)).to_string();
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "issue_date",
            json!("1900-01-01"),
            "implausible_issue_date",
            "migrate.issue_date",
        ),
        (
            "issue_date",
            json!(tomorrow),
            "implausible_issue_date",
            "migrate.issue_date",
        ),
        (
            "expiry_date",
            json!("+262142-12-31"),
            "implausible_expiry_date",
            "migrate.expiry_date",
        ),
        (
            "expiry_date",
            json!("2028-04-03"),
            "implausible_expiry_date",
            "migrate.expiry_date",
        ),
    ];
    let lines: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (key, value, _, _))| {
            let mut line = migration_line(10 + i);
            line["migrate"][key] = value.clone();
            line
        })
        .chain([{
            let mut line = migration_line(20);
            line["migrate"]["items"] = json!([{"code": "cement", "department": "RSJ"}]);
            line
        }])
        .chain([{
            let mut line = migration_line(21);
            line["migrate"]["items"] = json!([{"code": "talent-review"}]);
            line
        }])
        .collect();
    let results = migrate(&app, &staff.clerk, &lines).await;
    for (result, (_, value, code, field)) in results.iter().zip(&cases) {
        assert_eq!(
            (result["code"].as_str(), result["field"].as_str()),
            (Some(*code), Some(*field)),
            "{value}: {result}"
        );
    }
    assert_eq!(results[4]["code"], "department_mismatch", "{}", results[4]);
    assert_eq!(results[5]["code"], "unknown_item", "{}", results[5]);
    // Nothing was issued.
    assert!(results.iter().all(|r| r["status"] == "failed"));
}
