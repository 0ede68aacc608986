//! The service side of 最多跑一次: the versioned service catalogue, its guide pages and their
//! QR codes, the working-day calendar with promised time limits, and approval chains.

use chrono::NaiveDate;
use onetrip::domain::calendar::Calendar;
use serde_json::{Value, json};

use crate::helpers::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The calendars the service ships (`templates/calendar/`, built into the binary).
fn shipped() -> Calendar {
    let templates = onetrip::templates::TemplateFiles::built_in();
    Calendar::new(onetrip::templates::load_calendars(&templates).unwrap())
}

#[test]
fn due_dates_skip_weekends_and_holidays_count_make_up_days_and_cross_the_year() {
    let calendar = shipped();
    // Friday 2026-03-06 + 3 working days: the weekend is skipped.
    assert_eq!(
        calendar.add_working_days(d("2026-03-06"), 3),
        d("2026-03-11")
    );
    // Accepted on the eve of 国庆节: 1–7 October are off, Saturday 10 October is worked.
    assert_eq!(
        calendar.add_working_days(d("2026-09-30"), 3),
        d("2026-10-10")
    );
    // Accepted before 春节: Saturday 14 February is worked, then nine days off.
    assert_eq!(
        calendar.add_working_days(d("2026-02-13"), 2),
        d("2026-02-24")
    );
    // The union's 5 working days, from Sunday 20 September (a make-up working day itself).
    assert_eq!(
        calendar.add_working_days(d("2026-09-18"), 2),
        d("2026-09-21")
    );
    // Across the year: 31 December, then 1 January 2027 (元旦) and a weekend are skipped.
    assert_eq!(
        calendar.add_working_days(d("2026-12-30"), 3),
        d("2027-01-05")
    );
    assert_eq!(
        calendar.working_days_between(d("2026-12-30"), d("2027-01-05")),
        3
    );
    assert!(calendar.year(2026).unwrap().confirmed);
    assert!(!calendar.year(2027).unwrap().confirmed);
}

#[tokio::test]
async fn the_catalogue_is_versioned_and_a_submission_keeps_the_version_it_was_filed_under() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let (status, list) = app.public_json("/api/v1/services").await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    for code in CATEGORY_CODES.iter().chain(&[
        "talent-permit",
        "talent-review",
        "permit-production",
        "union-claim",
    ]) {
        assert!(codes.contains(code), "{code} is not in {codes:?}");
    }
    let (_, wire) = app.public_json("/api/v1/services/wire-cable").await;
    assert_eq!(
        (
            wire["version"].as_u64(),
            wire["time_limit_working_days"].as_u64()
        ),
        (Some(1), Some(10))
    );
    assert_eq!(wire["materials"].as_array().unwrap().len(), 3);

    // Filed without materials: the catalogue's list is declared.
    let mut body = licence_submission(ENTERPRISE);
    body.as_object_mut().unwrap().remove("materials");
    body["items"] = json!([{"code": "wire-cable"}, {"code": "fertiliser"}]);
    let r = app.post(&staff.clerk, "/submissions", &body).await;
    assert_eq!(r.status(), 201);
    let before: Value = r.json().await.unwrap();
    assert_eq!(before["items"][0]["service_version"], 1);
    assert_eq!(before["items"][0]["department"], "SCJG");
    assert_eq!(before["items"][0]["name"], "电线电缆");
    assert_eq!(before["promised_working_days"], 10);
    let materials: Vec<&str> = before["materials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        materials,
        ["工业产品生产许可证申请书", "营业执照副本", "产品检验报告"]
    );

    // Only an admin edits, and a bad value is refused naming its field.
    let mut spec = wire.clone();
    for key in ["code", "version", "updated_at", "updated_by"] {
        spec.as_object_mut().unwrap().remove(key);
    }
    spec["time_limit_working_days"] = json!(5);
    let put = |token: Option<String>, spec: Value| {
        let mut r = app.client.put(app.api("/services/wire-cable")).json(&spec);
        if let Some(token) = token {
            r = r.bearer_auth(token);
        }
        r.send()
    };
    assert_eq!(put(None, spec.clone()).await.unwrap().status(), 401);
    assert_eq!(
        put(Some(staff.clerk.clone()), spec.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    let mut bad = spec.clone();
    bad["steps"] = json!([{"name": "审核", "department": "not a code"}]);
    let (status, _, field) = error_of(put(Some(app.admin.clone()), bad).await.unwrap()).await;
    assert_eq!(
        (status.as_u16(), field.as_deref()),
        (422, Some("steps[0].department"))
    );
    let mut unprintable = spec.clone();
    unprintable["name"] = json!("𠮷野家电缆");
    let (status, code, field) =
        error_of(put(Some(app.admin.clone()), unprintable).await.unwrap()).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "unprintable_character", Some("name"))
    );
    let r = put(Some(app.admin.clone()), spec).await.unwrap();
    assert_eq!(r.status(), 200);
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["version"], 2);

    let (_, old) = app
        .public_json("/api/v1/services/wire-cable?version=1")
        .await;
    assert_eq!(old["time_limit_working_days"], 10);
    let id = before["id"].as_str().unwrap();
    let kept: Value = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(kept["items"][0]["service_version"], 1);
    assert_eq!(kept["promised_working_days"], 10);
    let r = app.post(&staff.clerk, "/submissions", &body).await;
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["items"][0]["service_version"], 2);

    // An item the catalogue does not know, or filed under another department, is refused.
    let mut unknown = body.clone();
    unknown["items"] = json!([{"code": "perpetual-motion"}]);
    let (status, code, field) =
        error_of(app.post(&staff.clerk, "/submissions", &unknown).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "unknown_item", Some("items[0].code"))
    );
    let mut elsewhere = body.clone();
    elsewhere["items"] = json!([{"code": "wire-cable", "department": "GAJ"}]);
    let (_, code, field) = error_of(app.post(&staff.clerk, "/submissions", &elsewhere).await).await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("department_mismatch", Some("items[0].department"))
    );
    let (status, _) = app.public_json("/api/v1/services/perpetual-motion").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn each_guide_is_a_public_page_whose_qr_code_opens_it_and_edits_show_at_once() {
    let app = TestApp::spawn().await;
    let page = |path: &str| {
        let url = format!("{}{path}", app.url);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    let r = page("/guide/talent-permit").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let html = r.text().await.unwrap();
    for expected in [
        "引进人才居住证办理",
        "人社审核",
        "公安制证",
        "身份证",
        "原件及复印件",
        "0571-12333",
        "12345",
        "市民中心A座1楼",
        "第 1 版",
        "name=\"viewport\"",
    ] {
        assert!(html.contains(expected), "{expected} is not on the guide");
    }
    assert!(html.contains("<strong id=\"time-limit\">3</strong>"));

    let png = page("/guide/talent-permit/qr.png").await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let image = image::load_from_memory(&png.bytes().await.unwrap())
        .unwrap()
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let (_, decoded) = grids[0].decode().unwrap();
    assert_eq!(decoded, format!("{}/guide/talent-permit", app.url));
    let svg = page("/guide/talent-permit/qr.svg").await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    let (size, dark) =
        onetrip::render::qr_modules(&format!("{}/guide/talent-permit", app.url)).unwrap();
    assert!(svg.contains(&format!("viewBox=\"0 0 {} {}\"", size + 8, size + 8)));
    assert_eq!(
        svg.matches('M').count(),
        dark.iter().filter(|d| **d).count()
    );

    let (_, current) = app.public_json("/api/v1/services/talent-permit").await;
    let mut spec = current.clone();
    for key in ["code", "version", "updated_at", "updated_by"] {
        spec.as_object_mut().unwrap().remove(key);
    }
    spec["office_hours"] = json!("工作日 8:30-18:00，周六上午 9:00-12:00");
    put_service(&app, "talent-permit", &spec).await;
    let html = page("/guide/talent-permit").await.text().await.unwrap();
    assert!(html.contains("周六上午 9:00-12:00") && html.contains("第 2 版"));

    let index = page("/guide").await.text().await.unwrap();
    assert!(index.contains("/guide/union-claim") && index.contains("职工互助保障理赔"));
    assert_eq!(page("/guide/perpetual-motion").await.status(), 404);
    assert_eq!(page("/guide/perpetual-motion/qr.png").await.status(), 404);
}

#[tokio::test]
async fn the_calendar_is_public_and_an_admin_sets_a_year() {
    let app = TestApp::spawn().await;
    let (status, year) = app.public_json("/api/v1/calendar/2026").await;
    assert_eq!(status, 200);
    assert_eq!(year["holidays"].as_array().unwrap().len(), 7);
    assert_eq!(
        year["holidays"][1]["make_up_workdays"],
        json!(["2026-02-14", "2026-02-28"])
    );
    let (status, _) = app.public_json("/api/v1/calendar/2031").await;
    assert_eq!(status, 404);
    let (status, _) = app.public_json("/api/v1/calendar/twenty").await;
    assert_eq!(status, 422);

    let notice = json!({"year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知",
        "confirmed": true, "holidays": [
            {"name": "元旦", "from": "2027-01-01", "to": "2027-01-03", "make_up_workdays": []},
            {"name": "春节", "from": "2027-02-05", "to": "2027-02-13", "make_up_workdays": ["2027-01-31"]}]});
    let clerk = app.token("clerk", json!({})).await;
    let put = |token: &str, body: &Value| {
        app.client
            .put(app.api("/calendar/2027"))
            .bearer_auth(token)
            .json(body)
            .send()
    };
    assert_eq!(put(&clerk, &notice).await.unwrap().status(), 403);
    let mut weekday = notice.clone();
    weekday["holidays"][1]["make_up_workdays"] = json!(["2027-02-01"]);
    let (status, _, field) = error_of(put(&app.admin, &weekday).await.unwrap()).await;
    assert_eq!(
        (status.as_u16(), field.as_deref()),
        (422, Some("holidays[1].make_up_workdays[0]"))
    );
    assert_eq!(put(&app.admin, &notice).await.unwrap().status(), 200);
    let (_, year) = app.public_json("/api/v1/calendar/2027").await;
    assert_eq!(year["confirmed"], true);
    assert_eq!(year["holidays"][1]["name"], "春节");
}

#[tokio::test]
async fn an_accepted_submission_is_due_on_the_promised_working_day_and_is_listed_until_issued() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    // A one-day promise, so the submission is due within one working day.
    let spec = service_spec("电线电缆", "SCJG", Some("production-licence"), 1, &[]);
    put_service(&app, "wire-cable", &spec).await;
    let mut body = licence_submission(ENTERPRISE);
    body["items"] = json!([{"code": "wire-cable"}]);
    let id = accepted(&app, &staff, &body).await;
    let s: Value = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(s["promised_working_days"], 1);
    let today = chrono::Utc::now()
        .with_timezone(&onetrip::domain::calendar::CHINA)
        .date_naive();
    let due = shipped().add_working_days(today, 1);
    assert_eq!(s["due_date"], due.to_string());
    assert_eq!(
        (s["working_days_elapsed"].as_u64(), s["overdue"].as_bool()),
        (Some(0), Some(false))
    );

    let list = |query: &'static str| {
        let (app, clerk) = (&app, &staff.clerk);
        async move {
            let r = app.get(clerk, &format!("/submissions?{query}")).await;
            assert_eq!(r.status(), 200, "{query}");
            let found: Value = r.json().await.unwrap();
            found
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("due_within=1").await, std::slice::from_ref(&id));
    assert!(list("due_within=0").await.is_empty());
    assert!(list("overdue=true").await.is_empty());
    let (status, code, _) = error_of(app.get(&staff.clerk, "/submissions").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "missing_filter"));
    let (status, _, _) = error_of(app.get(&scjg, "/submissions?overdue=true").await).await;
    assert_eq!(status.as_u16(), 403);

    assert_eq!(
        decide(&app, &scjg, &id, "wire-cable", "approve")
            .await
            .status(),
        200
    );
    let r = app
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert!(
        list("due_within=5").await.is_empty(),
        "an issued submission is no longer due"
    );
}

#[tokio::test]
async fn the_talent_permit_chain_is_decided_in_order_and_an_early_step_changes_nothing() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let rsj = app.token("approver", json!({"department": "RSJ"})).await;
    let gaj = app.token("approver", json!({"department": "GAJ"})).await;
    let body = json!({
        "holder": {"type": "person", "id": PERSON, "name": "欧阳明远"},
        "kind": "talent-residence-permit",
        "items": [{"code": "talent-permit"}],
        "fields": {"employer": "杭州萧山国际机场航空食品包装制品有限公司",
                   "residence_address": "浙江省杭州市滨江区网商路599号"}
    });
    let id = accepted(&app, &staff, &body).await;
    let path = format!("/submissions/{id}");
    let before: Value = app.get_json(&staff.clerk, &path).await;
    assert_eq!(before["promised_working_days"], 3);
    let steps = before["items"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);

    let (status, code, _) =
        error_of(decide(&app, &gaj, &id, "talent-permit", "approve").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "step_waiting"));
    let unchanged: Value = app.get_json(&staff.clerk, &path).await;
    assert_eq!(unchanged["items"], before["items"]);
    assert_eq!(
        unchanged["history"].as_array().unwrap().len(),
        before["history"].as_array().unwrap().len()
    );
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let (status, _, _) = error_of(decide(&app, &scjg, &id, "talent-permit", "approve").await).await;
    assert_eq!(status.as_u16(), 403);

    for token in [&rsj, &gaj] {
        assert_eq!(
            decide(&app, token, &id, "talent-permit", "approve")
                .await
                .status(),
            200
        );
    }
    // Issuance waits for the last step.
    let issue = format!("/submissions/{id}/issue");
    let (status, _, _) = error_of(app.post(&staff.clerk, &issue, &json!({})).await).await;
    assert_eq!(status.as_u16(), 409);
    assert_eq!(
        decide(&app, &gaj, &id, "talent-permit", "approve")
            .await
            .status(),
        200
    );
    let after: Value = app.get_json(&staff.clerk, &path).await;
    let steps = after["items"][0]["steps"].as_array().unwrap();
    for (step, who) in steps.iter().zip([&rsj, &gaj, &gaj]) {
        assert_eq!(step["decision"], "approve");
        assert!(step["decided_at"].is_string());
        assert!(
            step["decided_by"]
                .as_str()
                .unwrap()
                .starts_with("approver:"),
            "{who:.4}…"
        );
    }
    assert_eq!(after["items"][0]["decision"]["decision"], "approve");
    let r = app.post(&staff.clerk, &issue, &json!({})).await;
    assert_eq!(r.status(), 201);
    let certificate: Value = r.json().await.unwrap();
    assert_eq!(certificate["items"][0]["name"], "引进人才居住证办理");
}

#[tokio::test]
async fn the_union_claim_climbs_three_levels_and_ends_in_a_decision_without_a_certificate() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let body = json!({
        "holder": {"type": "person", "id": PERSON, "name": "欧阳明远"},
        "kind": "decision",
        "items": [{"code": "union-claim"}]
    });
    let id = accepted(&app, &staff, &body).await;
    let mut levels = Vec::new();
    for department in ["QYGH", "QZGH", "SZGH"] {
        levels.push(
            app.token("approver", json!({"department": department}))
                .await,
        );
    }
    let (_, code, _) =
        error_of(decide(&app, &levels[2], &id, "union-claim", "approve").await).await;
    assert_eq!(code, "step_waiting");
    for token in &levels {
        assert_eq!(
            decide(&app, token, &id, "union-claim", "approve")
                .await
                .status(),
            200
        );
    }
    let s: Value = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(s["status"], "decided");
    assert_eq!(s["overdue"], false);
    let (status, _, _) = error_of(
        app.post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status.as_u16(), 409);
    let mut wrong = body.clone();
    wrong["items"] = json!([{"code": "wire-cable"}]);
    let (_, code, field) = error_of(app.post(&staff.clerk, "/submissions", &wrong).await).await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("item_of_another_kind", Some("items[0].code"))
    );
}
