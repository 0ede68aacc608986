//! Real enterprises get their certificate: real-length names from the shared corpus, the
//! largest certificate each template's limits allow, look-alike characters, random accepted
//! submissions, the compact token and the verification code.

use std::collections::HashMap;

use onetrip::render::{Fonts, qr_version, read_qr_from_pdf};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The catalogue code of the `i`th category: a licence lists at most the 19 seeded ones.
fn category_code(i: usize) -> String {
    CATEGORY_CODES[i].to_owned()
}

/// A 一企一证 licence for `name` listing `categories`, with one declared material.
/// A licence application of the next enterprise of this file (一企一证: one licence each).
fn licence(name: &str, categories: &[String], address: &str) -> Value {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(4000);
    let holder = enterprise(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let items: Vec<Value> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"code": category_code(i), "department": "SCJG", "name": c}))
        .collect();
    json!({
        "holder": {"type": "enterprise", "id": holder, "name": name},
        "kind": "production-licence",
        "items": items,
        "materials": [{"name": "营业执照副本"}],
        "fields": {"address": address, "production_address": address, "legal_representative": "欧阳明远"}
    })
}

/// Approver tokens by department, made on first use.
#[derive(Default)]
struct Approvers(HashMap<String, String>);

impl Approvers {
    async fn of(&mut self, app: &TestApp, department: &str) -> String {
        if let Some(token) = self.0.get(department) {
            return token.clone();
        }
        let token = app
            .token("approver", json!({"department": department}))
            .await;
        self.0.insert(department.to_owned(), token.clone());
        token
    }
}

/// Carries `body` through pre-review, the window check and every item's approval, then asks
/// for issuance; returns the issuance response.
async fn issue(
    app: &TestApp,
    staff: &Staff,
    approvers: &mut Approvers,
    body: &Value,
) -> reqwest::Response {
    let id = accepted(app, staff, body).await;
    for item in body["items"].as_array().unwrap() {
        let token = approvers
            .of(app, item["department"].as_str().unwrap())
            .await;
        let code = item["code"].as_str().unwrap();
        assert_eq!(
            decide(app, &token, &id, code, "approve").await.status(),
            200
        );
    }
    app.post(
        &staff.clerk,
        &format!("/submissions/{id}/issue"),
        &json!({}),
    )
    .await
}

/// Issues `body` (which must be accepted), then checks the certificate as its holder and a
/// bank would: 201, the PDF's QR code decodes to the record's link, the link is at most 460
/// bytes and QR version 17, the PDF's text holds the name as filed (normalised) and the code,
/// and the code verifies. Returns the record.
async fn issue_and_check(
    app: &TestApp,
    staff: &Staff,
    approvers: &mut Approvers,
    body: &Value,
) -> Value {
    let r = issue(app, staff, approvers, body).await;
    let status = r.status();
    let record: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{record}");
    let id = record["id"].as_str().unwrap();
    let pdf = app
        .get(&staff.clerk, &format!("/certificates/{id}/pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    let link = record["verify_url"].as_str().unwrap();
    assert_eq!(read_qr_from_pdf(&pdf).unwrap(), link);
    assert!(link.len() <= 460, "{} bytes: {link}", link.len());
    assert!(qr_version(link).unwrap() <= 17);
    let text: String = pdf_text(&pdf)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let code = record["code"].as_str().unwrap();
    for printed in [record["holder"]["name"].as_str().unwrap(), code, id] {
        let printed: String = printed.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(text.contains(&printed), "{printed} not in the PDF's text");
    }
    let (_, verdict) = app.public_json(&format!("/c/{code}")).await;
    assert_eq!(verdict["verdict"], "valid", "{verdict}");
    assert_eq!(verdict["certificate"]["holder"], record["holder"]["name"]);
    record
}

#[tokio::test]
async fn every_enterprise_of_the_corpus_gets_its_certificate() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let mut approvers = Approvers::default();
    let corpus = corpus();
    let names = strings(&corpus["enterprise_names"]);
    let categories = strings(&corpus["production_licence_categories"]);
    let addresses = strings(&corpus["addresses"]);
    for (i, name) in names.iter().enumerate() {
        // From one category to all nineteen, and every address.
        let held = &categories[..1 + i * 18 / (names.len() - 1)];
        let body = licence(name, held, &addresses[i % addresses.len()]);
        let record = issue_and_check(&app, &staff, &mut approvers, &body).await;
        assert_eq!(record["holder"]["name"], name.as_str());
        assert_eq!(record["items"].as_array().unwrap().len(), held.len());
    }
}

/// The widest character a holder may use: whatever passes creation must print.
fn widest_accepted_char() -> char {
    let fonts = Fonts::embedded().unwrap();
    fonts
        .widest_char(|c| {
            !c.is_control()
                && onetrip::domain::text::normalize(&c.to_string()) == c.to_string()
                && fonts.unprintable(&c.to_string()).is_none()
        })
        .unwrap()
}

#[tokio::test]
async fn the_largest_certificate_each_template_allows_issues() {
    use onetrip::domain::text::{HOLDER_NAME_MAX_CHARS, ITEM_NAME_MAX_CHARS};
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let mut approvers = Approvers::default();
    let wide = widest_accepted_char();
    let templates =
        onetrip::templates::Templates::load(&onetrip::templates::TemplateFiles::built_in())
            .unwrap();
    let long = |n: usize| wide.to_string().repeat(n);
    for template in templates.all() {
        let (holder_type, holder_id) = match template.holder {
            onetrip::domain::holder::HolderType::Enterprise => ("enterprise", ENTERPRISE),
            onetrip::domain::holder::HolderType::Person => ("person", PERSON),
        };
        // The catalogue holds as many items of the kind as the template allows, and one more.
        for i in 0..=template.max_items {
            let code = format!("{}-{i}", template.kind);
            let spec = service_spec(
                &long(ITEM_NAME_MAX_CHARS),
                "SCJG",
                Some(&template.kind),
                5,
                &[],
            );
            put_service(&app, &code, &spec).await;
        }
        let items: Vec<Value> = (0..template.max_items)
            .map(|i| json!({"code": format!("{}-{i}", template.kind), "department": "SCJG"}))
            .collect();
        let fields: serde_json::Map<String, Value> = template
            .fields
            .iter()
            .map(|f| (f.key.clone(), Value::String(long(f.max_chars))))
            .collect();
        // A permit declares the holder's photo too.
        let materials: Vec<Value> = std::iter::once("营业执照副本")
            .chain(template.photo_material.as_deref())
            .map(|name| json!({"name": name}))
            .collect();
        let body = json!({
            "holder": {"type": holder_type, "id": holder_id, "name": long(HOLDER_NAME_MAX_CHARS)},
            "kind": template.kind,
            "items": items,
            "materials": materials,
            "fields": fields,
        });
        let record = issue_and_check(&app, &staff, &mut approvers, &body).await;
        assert_eq!(
            record["items"].as_array().unwrap().len(),
            template.max_items,
            "{}",
            template.kind
        );
        // One more of anything is refused at creation, naming the field.
        let mut over = body.clone();
        over["holder"]["name"] = json!(long(HOLDER_NAME_MAX_CHARS + 1));
        let r = app.post(&staff.clerk, "/submissions", &over).await;
        assert_eq!(error_of(r).await.2.as_deref(), Some("holder.name"));
        let mut over = body.clone();
        over["items"][0]["name"] = json!(long(ITEM_NAME_MAX_CHARS + 1));
        let r = app.post(&staff.clerk, "/submissions", &over).await;
        assert_eq!(error_of(r).await.2.as_deref(), Some("items[0].name"));
        let mut over = body.clone();
        let extra = json!({"code": format!("{}-{}", template.kind, template.max_items), "department": "SCJG"});
        over["items"].as_array_mut().unwrap().push(extra);
        let r = app.post(&staff.clerk, "/submissions", &over).await;
        assert_eq!(error_of(r).await.2.as_deref(), Some("items"));
        for f in &template.fields {
            let mut over = body.clone();
            over["fields"][&f.key] = json!(long(f.max_chars + 1));
            let r = app.post(&staff.clerk, "/submissions", &over).await;
            let (status, _, field) = error_of(r).await;
            assert_eq!(
                (status, field),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(format!("fields.{}", f.key))
                )
            );
        }
    }
}

#[tokio::test]
async fn look_alike_characters_are_mapped_or_refused_at_creation_never_at_issuance() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let mut approvers = Approvers::default();
    let categories = vec!["电线电缆".to_owned()];
    let address = "浙江省杭州市萧山区城厢街道人民路66号";
    for (filed, printed) in [
        ("一\u{2F00}号公司", "一一号公司"),
        ("\u{F900}\u{F900}公司", "\u{8C48}\u{8C48}公司"),
        (
            "ＡＢＣ１２３科技（杭州）有限公司",
            "ABC123科技（杭州）有限公司",
        ),
    ] {
        let record = issue_and_check(
            &app,
            &staff,
            &mut approvers,
            &licence(filed, &categories, address),
        )
        .await;
        assert_eq!(record["holder"]["name"], printed);
    }
    // A character the font lacks is refused when the submission is filed, naming it.
    let r = app
        .post(
            &staff.clerk,
            "/submissions",
            &licence("张\u{20BB7}有限公司", &categories, address),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "unprintable_character");
    assert_eq!(body["error"]["field"], "holder.name");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("U+20BB7")
    );
    // So is a look-alike in an item name or a field.
    let mut in_item = licence("杭州萧山宁围五金制品厂", &categories, address);
    in_item["items"][0]["name"] = json!("电线\u{2EEA}缆");
    let r = app.post(&staff.clerk, "/submissions", &in_item).await;
    if r.status() != 201 {
        assert_eq!(error_of(r).await.2.as_deref(), Some("items[0].name"));
    }
}

/// A small deterministic generator (xorshift), so a failing case can be replayed by its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test]
async fn random_accepted_submissions_all_issue() {
    use onetrip::domain::text::{HOLDER_NAME_MAX_CHARS, ITEM_NAME_MAX_CHARS};
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let mut approvers = Approvers::default();
    let corpus = corpus();
    // Characters people really use, the widest one, and look-alikes that normalise.
    let mut pool: Vec<char> = corpus
        .to_string()
        .chars()
        .filter(|c| {
            !c.is_control() && !c.is_whitespace() && *c != '\u{20BB7}' && *c != '\\' && *c != '"'
        })
        .collect();
    pool.extend([
        '\u{2F00}',
        '\u{F900}',
        'Ａ',
        '１',
        '·',
        '（',
        '）',
        widest_accepted_char(),
    ]);
    let seed = std::env::var("ONETRIP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0001);
    let mut random = Random(seed);
    let text = |random: &mut Random, max: usize| -> String {
        let n = 1 + random.below(max);
        (0..n)
            .map(|_| pool[random.below(pool.len())])
            .collect::<String>()
    };
    for case in 0..12 {
        let items = 1 + random.below(CATEGORY_CODES.len());
        let categories: Vec<String> = (0..items)
            .map(|_| text(&mut random, ITEM_NAME_MAX_CHARS))
            .collect();
        let mut body = licence(
            &text(&mut random, HOLDER_NAME_MAX_CHARS),
            &categories,
            &text(&mut random, 100),
        );
        body["fields"]["legal_representative"] = json!(text(&mut random, 30));
        let r = app.post(&staff.clerk, "/submissions", &body).await;
        if r.status() != 201 {
            // Refused at creation is allowed (e.g. a name that is only punctuation), with a field.
            let (status, _, field) = error_of(r).await;
            assert_eq!(status, 422, "seed {seed} case {case}");
            assert!(field.is_some());
            continue;
        }
        let record = issue_and_check(&app, &staff, &mut approvers, &body).await;
        assert_eq!(
            record["items"].as_array().unwrap().len(),
            items,
            "seed {seed} case {case}"
        );
    }
}
