//! Plausible values only (issue 19): a calendar year of at most 45 days off and 10 make-up
//! days, set no further ahead than next year; printed text without stacked combining marks,
//! line separators or invisible format characters; catalogue codes of words joined by single
//! hyphens; guide pages that list only what an applicant applies for; a batch page whose bar
//! shows failed lines; the README's limits as the code and the catalogue have them.
//! Test enterprises 3000-3999.

use std::path::Path;

use chrono::{Datelike, Utc};
use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::console::session;
use crate::helpers::*;

fn built_in() -> onetrip::templates::TemplateFiles {
    onetrip::templates::TemplateFiles::built_in()
}

/// Sends `PUT /api/v1{path}` as the admin.
async fn put(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.api(path))
        .bearer_auth(&app.admin)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The error of a refused request: (status, field, message).
async fn refusal(response: reqwest::Response) -> (u16, Option<String>, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["field"].as_str().map(str::to_owned),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_calendar_year_of_implausible_holidays_or_too_far_ahead_is_refused() {
    let app = TestApp::spawn().await;
    let notice = |year: i32, holidays: Value| {
        json!({"year": year, "source": "国务院办公厅关于部分节假日安排的通知",
               "confirmed": true, "holidays": holidays})
    };
    // 2026 declared a full-year holiday, as was once accepted.
    let whole_year = json!([{"name": "全年", "from": "2026-01-01", "to": "2026-12-31"}]);
    let (status, field, message) =
        refusal(put(&app, "/calendar/2026", &notice(2026, whole_year)).await).await;
    assert_eq!((status, field.as_deref()), (422, Some("holidays")));
    assert!(
        message.contains("365") && message.contains("45"),
        "{message}"
    );
    // 46 days in two blocks; 45 pass.
    let blocks = |to: &str| {
        json!([{"name": "春节", "from": "2026-02-01", "to": "2026-03-02"},
               {"name": "国庆节", "from": "2026-10-01", "to": to}])
    };
    let (status, field, _) =
        refusal(put(&app, "/calendar/2026", &notice(2026, blocks("2026-10-16"))).await).await;
    assert_eq!((status, field.as_deref()), (422, Some("holidays")));
    assert_eq!(
        put(&app, "/calendar/2026", &notice(2026, blocks("2026-10-15")))
            .await
            .status(),
        200
    );
    // 11 make-up working days (Saturdays), 10 pass.
    let saturdays: Vec<String> = (0..11)
        .map(|w| {
            (chrono::NaiveDate::from_ymd_opt(2026, 7, 4).unwrap() + chrono::Days::new(7 * w))
                .to_string()
        })
        .collect();
    let made_up = |n: usize| {
        json!([{"name": "国庆节", "from": "2026-10-01", "to": "2026-10-07",
                "make_up_workdays": &saturdays[..n]}])
    };
    let (status, field, message) =
        refusal(put(&app, "/calendar/2026", &notice(2026, made_up(11))).await).await;
    assert_eq!(
        (status, field.as_deref()),
        (422, Some("holidays")),
        "{message}"
    );
    assert_eq!(
        put(&app, "/calendar/2026", &notice(2026, made_up(10)))
            .await
            .status(),
        200
    );

    // No notice exists for the year after next, nor for 2100 (where due dates reached 2101).
    let next = onetrip::domain::calendar::china_date(Utc::now()).year() + 1;
    for year in [next + 1, 2100] {
        let body = notice(year, json!([]));
        let (status, field, _) =
            refusal(put(&app, &format!("/calendar/{year}"), &body).await).await;
        assert_eq!((status, field.as_deref()), (422, Some("year")), "{year}");
    }
    assert_eq!(
        put(&app, &format!("/calendar/{next}"), &notice(next, json!([])))
            .await
            .status(),
        200
    );
    let (status, _) = app
        .public_json(&format!("/api/v1/calendar/{}", next + 1))
        .await;
    assert_eq!(status, 404, "nothing was stored for the year after next");
}

#[tokio::test]
async fn stacked_combining_marks_and_line_separators_are_refused_naming_field_and_position() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let holder = enterprise(3001);
    // 58 combining acute accents on the 3rd character of the holder's name: 60 characters
    // after NFC (Z and the first accent make Ź), within the name's limit.
    let zalgo = format!("示例Z{}", "\u{301}".repeat(58));
    let cases = [
        ("holder.name", zalgo.clone(), "character 3 "),
        (
            "holder.name",
            format!("{zalgo}电缆有限公司"),
            "character 3 ",
        ),
        (
            "holder.name",
            "示例电缆\u{2028}有限公司".to_owned(),
            "character 5 ",
        ),
        (
            "holder.name",
            "示例电缆有限\u{2029}公司".to_owned(),
            "character 7 ",
        ),
        (
            "holder.name",
            "示例\u{200B}电缆有限公司".to_owned(),
            "character 3 ",
        ),
        (
            "holder.name",
            "示例电缆有限公司\u{202E}".to_owned(),
            "character 9 ",
        ),
    ];
    for (field, name, position) in &cases {
        let mut body = licence_submission(&holder);
        body["holder"]["name"] = json!(name);
        let (status, got, message) =
            refusal(app.post(&staff.clerk, "/submissions", &body).await).await;
        assert_eq!(
            (status, got.as_deref()),
            (422, Some(*field)),
            "{name:?}: {message}"
        );
        assert!(message.contains(position), "{name:?}: {message}");
    }
    // A field value, the same.
    for (value, position) in [
        (
            format!("浙江省杭州市西湖区文三路1号{}", "\u{308}".repeat(3)),
            "character 14 ",
        ),
        (
            "浙江省杭州市\u{2028}西湖区文三路1号".to_owned(),
            "character 7 ",
        ),
    ] {
        let mut body = licence_submission(&holder);
        body["fields"]["address"] = json!(value);
        let (status, field, message) =
            refusal(app.post(&staff.clerk, "/submissions", &body).await).await;
        assert_eq!(
            (status, field.as_deref()),
            (422, Some("fields.address")),
            "{message}"
        );
        assert!(message.contains(position), "{value:?}: {message}");
    }
    // Marks that NFC composes into one character are a name, and the submission files.
    let mut body = licence_submission(&holder);
    body["holder"]["name"] = json!("Lu\u{308}\u{301}示例电缆有限公司");
    let r = app.post(&staff.clerk, "/submissions", &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // A catalogue text and a holiday name, the same rule.
    let mut spec = service_spec("电线电缆", "SCJG", Some("production-licence"), 10, &[]);
    spec["office_hours"] = json!("工作日\u{2028}9:00-17:00");
    let (status, field, _) = refusal(put(&app, "/services/wire-cable", &spec).await).await;
    assert_eq!((status, field.as_deref()), (422, Some("office_hours")));
}

#[tokio::test]
async fn a_catalogue_code_is_words_of_lower_case_letters_and_digits_joined_by_single_hyphens() {
    let app = TestApp::spawn().await;
    let spec = service_spec("电线电缆", "SCJG", Some("production-licence"), 10, &[]);
    for code in [
        "-",
        "--",
        "-cable",
        "cable-",
        "wire--cable",
        "Wire",
        "wire_cable",
        "%E7%94%B5",
    ] {
        let (status, field, message) =
            refusal(put(&app, &format!("/services/{code}"), &spec).await).await;
        assert_eq!(
            (status, field.as_deref()),
            (422, Some("code")),
            "{code}: {message}"
        );
    }
    put_service(&app, "wire-cable-2", &spec).await;
    put_service(&app, "3c", &spec).await;
    let (_, list) = app.public_json("/api/v1/services").await;
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert!(!codes.contains(&"-"), "{codes:?}");

    // Every seeded code complies (the seeds load with the rule and the server holds them).
    let seeds = onetrip::templates::load_services(&built_in()).unwrap();
    assert_eq!(seeds.len(), 23);
    for (code, _) in &seeds {
        assert!(codes.contains(&code.as_str()), "{code}");
        assert!(
            onetrip::domain::ItemCode::parse(code.as_str()).is_ok(),
            "{code}"
        );
    }
}

#[tokio::test]
async fn the_guide_has_a_guide_header_and_lists_only_what_an_applicant_applies_for() {
    let app = TestApp::spawn().await;
    let page = |path: &str| {
        let url = format!("{}{path}", app.url);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    let index = page("/guide").await.text().await.unwrap();
    let header = |html: &str| {
        let start = html.find("<header").unwrap();
        html[start..start + html[start..].find("</header>").unwrap()].to_owned()
    };
    assert!(header(&index).contains("服务指南"), "{}", header(&index));
    assert!(!header(&index).contains("证照核验"), "{}", header(&index));
    for listed in [
        "/guide/talent-permit",
        "/guide/union-claim",
        "/guide/wire-cable",
    ] {
        assert!(index.contains(listed), "{listed} is not on the index");
    }
    for step in [
        "talent-review",
        "permit-production",
        "引进人才资格审核",
        "居住证制证",
    ] {
        assert!(!index.contains(step), "{step} is listed as a service");
    }
    // A step's own guide still opens, and sends the applicant to its service.
    let step = page("/guide/permit-production").await;
    assert_eq!(step.status(), 200);
    let step = step.text().await.unwrap();
    assert!(!header(&step).contains("证照核验"));
    assert!(step.contains("id=\"part-of\"") && step.contains("href=\"/guide/talent-permit\""));
    let service = page("/guide/talent-permit").await.text().await.unwrap();
    assert!(header(&service).contains("服务指南") && !service.contains("id=\"part-of\""));
    // The API still lists every item, steps with the service they belong to.
    let (_, review) = app.public_json("/api/v1/services/talent-review").await;
    assert_eq!(review["part_of"], "talent-permit");

    // An admin marks an item a step: it leaves the index; a step of nothing is refused.
    let mut spec = service_spec("电线电缆检测", "SCJG", None, 5, &[]);
    spec["part_of"] = json!("perpetual-motion");
    let (status, field, _) = refusal(put(&app, "/services/cable-test", &spec).await).await;
    assert_eq!((status, field.as_deref()), (422, Some("part_of")));
    spec["part_of"] = json!("talent-review");
    let (status, field, _) = refusal(put(&app, "/services/cable-test", &spec).await).await;
    assert_eq!(
        (status, field.as_deref()),
        (422, Some("part_of")),
        "a step of a step"
    );
    spec["part_of"] = json!("wire-cable");
    put_service(&app, "cable-test", &spec).await;
    let index = page("/guide").await.text().await.unwrap();
    assert!(!index.contains("/guide/cable-test") && index.contains("/guide/wire-cable"));
}

/// The `batch-bar` element of a console page, from its opening tag to its `</div>`.
fn bar_of(html: &str) -> &str {
    let start = html.find("<div class=\"batch-bar\"").expect("a batch bar");
    &html[start..start + html[start..].find("</div>").unwrap()]
}

#[tokio::test]
async fn a_batch_whose_lines_failed_shows_them_red_in_its_bar() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let (session, _) = session(&app, &staff.clerk).await;
    let console = |path: String| {
        let url = format!("{}{path}", app.url);
        let (client, session) = (app.client.clone(), session.clone());
        async move {
            client
                .get(url)
                .header(COOKIE, session)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };

    let failed = finished_batch(&app, &staff.clerk, ["{\"migrate\": ", "{", "[]"].join("\n")).await;
    assert_eq!(
        (failed["failed"].as_u64(), failed["total"].as_u64()),
        (Some(3), Some(3))
    );
    let html = console(format!(
        "/console/batches/{}",
        failed["id"].as_str().unwrap()
    ))
    .await;
    let bar = bar_of(&html);
    assert!(
        bar.contains("class=\"failed\" style=\"width: 100.0%\""),
        "{bar}"
    );
    assert!(
        !bar.contains("class=\"issued\"") && !bar.contains("class=\"already\""),
        "{bar}"
    );
    assert!(!html.contains("<progress"), "no full blue bar");

    // One line issued, one failed: half green, half red, on the batch and on the list.
    let mut line = migration_line(0);
    line["migrate"]["holder"]["id"] = json!(enterprise(3101));
    let mixed = finished_batch(&app, &staff.clerk, format!("{line}\n{{")).await;
    assert_eq!(
        (mixed["issued"].as_u64(), mixed["failed"].as_u64()),
        (Some(1), Some(1)),
        "{mixed}"
    );
    let html = console(format!(
        "/console/batches/{}",
        mixed["id"].as_str().unwrap()
    ))
    .await;
    let bar = bar_of(&html);
    assert!(
        bar.contains("class=\"issued\" style=\"width: 50.0%\""),
        "{bar}"
    );
    assert!(
        bar.contains("class=\"failed\" style=\"width: 50.0%\""),
        "{bar}"
    );
    let list = console("/console/batches".into()).await;
    assert_eq!(list.matches("<div class=\"batch-bar\"").count(), 2);
    assert!(list.contains("class=\"failed\" style=\"width: 100.0%\""));
}

#[test]
fn the_readme_states_the_licence_limit_the_template_and_the_catalogue_have() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let templates = onetrip::templates::Templates::load(&built_in()).unwrap();
    let licence = templates.get("production-licence").unwrap();
    let categories = onetrip::templates::load_services(&built_in())
        .unwrap()
        .iter()
        .filter(|(_, spec)| spec.kind.as_deref() == Some("production-licence"))
        .count();
    assert_eq!(categories, 19);
    // One licence cannot list more categories than the catalogue has.
    assert_eq!(licence.max_items, categories);
    let stated = format!("{categories} categories on a");
    assert!(
        readme.replace('\n', " ").contains(&stated),
        "the README does not say {stated:?}"
    );
    assert!(!readme.contains("up to 24"));
}
