//! The console for every role: who signs in lands on their own page, and every console route
//! answers every caller as the API would (a role the API refuses is refused here too, with a
//! valid CSRF token, and the refusal changes nothing); without a session, a route leads to
//! sign-in; a change without the session's CSRF token is refused.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::{Value, json};

use crate::access_matrix::blank;
use crate::console::{client, cookie, session, sign_in};
use crate::helpers::*;

/// The columns: one signed-in caller each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    OtherApplicant,
    Reviewer,
    ApproverSameDept,
    ApproverOtherDept,
    Clerk,
    Admin,
}

use Who::*;

const EVERYONE: &[Who] = &[
    Owner,
    OtherApplicant,
    Reviewer,
    ApproverSameDept,
    ApproverOtherDept,
    Clerk,
    Admin,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Page,
    Form,
    Upload,
    Multipart,
}

struct Row {
    kind: Kind,
    path: String,
    /// Form fields beside `csrf`, so that an allowed role's call would be valid.
    fields: Vec<(&'static str, String)>,
    allowed: &'static [Who],
}

struct Caller {
    who: Who,
    session: String,
    csrf: String,
}

async fn send(app: &TestApp, row: &Row, session: &str, csrf: &str) -> reqwest::Response {
    let url = format!("{}{}", app.url, row.path);
    let request = match row.kind {
        Kind::Page => client().get(url),
        Kind::Form => {
            let mut fields = vec![("csrf", csrf.to_owned())];
            fields.extend(row.fields.iter().cloned());
            client().post(url).form(&fields)
        }
        Kind::Upload => client()
            .put(url)
            .header("x-csrf-token", csrf)
            .body(b"%PDF-1.7 a replacement".to_vec()),
        Kind::Multipart => client().post(url).multipart(
            reqwest::multipart::Form::new()
                .text("csrf", csrf.to_owned())
                .part(
                    "营业执照副本",
                    reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.pdf"),
                ),
        ),
    };
    request.header(COOKIE, session).send().await.unwrap()
}

/// What the fixture's records look like to an admin: a refused call must leave it unchanged.
async fn snapshot(app: &TestApp, ids: &[&str], serial: &str) -> Value {
    let mut all = Vec::new();
    for id in ids {
        all.push(
            app.get_json(&app.admin, &format!("/submissions/{id}"))
                .await,
        );
    }
    all.push(
        app.get_json(&app.admin, &format!("/certificates/{serial}"))
            .await,
    );
    all.push(app.get_json(&app.admin, "/tokens").await);
    all.push(app.get_json(&app.admin, "/keys").await);
    all.push(app.get_json(&app.admin, "/services").await);
    all.push(app.get_json(&app.admin, "/calendar/2026").await);
    json!(all)
}

/// The console routes `src/routes/console/mod.rs` registers, as `(METHOD, path)` with
/// `{…}` blanked, but the sign-in page and form (anyone's, tested in `console.rs`): a new
/// route without a row fails the matrix.
fn registered() -> Vec<(String, String)> {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/console/mod.rs"),
    )
    .unwrap();
    let mut found = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap();
        if path == "/console/login" {
            continue;
        }
        let code = chunk.split(';').next().unwrap();
        for method in ["get", "post", "put"] {
            let called = code.match_indices(&format!("{method}(")).any(|(i, _)| {
                !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if called {
                found.push((method.to_uppercase(), blank(path)));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::test]
async fn every_role_signs_in_to_its_own_home() {
    let app = TestApp::spawn().await;
    for (role, binding, heading) in [
        (
            "applicant",
            json!({"holder": ENTERPRISE, "name": "陈晓"}),
            "我的办件",
        ),
        ("reviewer", json!({"name": "周敏"}), "待预审"),
        (
            "approver",
            json!({"department": "SCJG", "name": "刘强"}),
            "市场监管局 · 待审批",
        ),
        ("clerk", json!({"name": "王芳 · 3 号窗口"}), "查找办件"),
        ("admin", json!({"name": "赵磊"}), "查找办件"),
    ] {
        let token = app.token(role, binding.clone()).await;
        let r = sign_in(&app, &token).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{role}");
        assert_eq!(r.headers()[LOCATION], "/console", "{role}");
        let (session, _) = session(&app, &token).await;
        let home = client()
            .get(format!("{}/console", app.url))
            .header(COOKIE, session)
            .send()
            .await
            .unwrap();
        assert_eq!(home.status(), 200, "{role}");
        let html = home.text().await.unwrap();
        assert!(html.contains(heading), "{role}'s home says {heading}");
        let name = binding["name"].as_str().unwrap();
        assert!(html.contains(name), "{role}'s page names them: {name}");
        assert!(
            !html.contains("tok_"),
            "{role}'s page shows a name, not a token id"
        );
    }
    let r = sign_in(&app, "ot_not-a-real-token").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie(&r, "onetrip_console").is_none());
}

#[tokio::test]
async fn every_console_route_answers_every_role_as_the_api_does() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    // A pre-approved licence submission of ENTERPRISE (its items wait for SCJG), then another
    // carried to an issued certificate.
    let content = |id: &str, i: usize| format!("%PDF-1.7 {id} material {i}").into_bytes();
    let (pending, _) = pre_approved(&app, &staff, &licence_submission(ENTERPRISE), content).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let serial = cert["id"].as_str().unwrap().to_owned();
    let issued = cert["submission"].as_str().unwrap().to_owned();
    let history: Value = app
        .get_json(&staff.clerk, &format!("/submissions/{issued}"))
        .await;
    let check = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "window_checked")
        .unwrap()["seq"]
        .clone();
    let batch = start_batch(&app, &app.admin, migration_line(3).to_string()).await;
    let kid = app.get_json(&app.admin, "/keys").await["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let spare: Value = app
        .post(
            &app.admin,
            "/tokens",
            &json!({"role": "clerk", "name": "备用"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let spare = spare["id"].as_str().unwrap().to_owned();
    // What the editors would save: the item and the year as they are.
    let mut item = app.get_json(&app.admin, "/services/wire-cable").await;
    for key in ["code", "version", "updated_at", "updated_by"] {
        item.as_object_mut().unwrap().remove(key);
    }
    let catalogue_text = item.to_string();
    let calendar_text = app.get_json(&app.admin, "/calendar/2026").await.to_string();

    let tokens = [
        (
            Owner,
            app.token("applicant", json!({"holder": ENTERPRISE})).await,
        ),
        (
            OtherApplicant,
            app.token("applicant", json!({"holder": OTHER_ENTERPRISE}))
                .await,
        ),
        (Reviewer, staff.reviewer.clone()),
        (ApproverSameDept, scjg.clone()),
        (
            ApproverOtherDept,
            app.token("approver", json!({"department": "RSJ"})).await,
        ),
        (Clerk, staff.clerk.clone()),
        (Admin, app.admin.clone()),
    ];
    let mut callers = Vec::new();
    for (who, token) in &tokens {
        let (session, csrf) = session(&app, token).await;
        callers.push(Caller {
            who: *who,
            session,
            csrf,
        });
    }

    let material = "/materials/%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7%E5%89%AF%E6%9C%AC";
    let page = |path: String, allowed: &'static [Who]| Row {
        kind: Kind::Page,
        path,
        fields: vec![],
        allowed,
    };
    let form = |path: String, fields: Vec<(&'static str, String)>, allowed: &'static [Who]| Row {
        kind: Kind::Form,
        path,
        fields,
        allowed,
    };
    let readers: &[Who] = &[
        Owner,
        Reviewer,
        ApproverSameDept,
        ApproverOtherDept,
        Clerk,
        Admin,
    ];
    let staff_only: &[Who] = &[Clerk, Admin];
    let rows = vec![
        page("/console".into(), EVERYONE),
        page("/console/services".into(), EVERYONE),
        page("/console/apply/wire-cable".into(), EVERYONE),
        form(
            "/console/apply/wire-cable".into(),
            vec![
                ("holder_name", "示例电缆有限公司".into()),
                ("holder_id", OTHER_ENTERPRISE.into()),
                ("item", "wire-cable".into()),
            ],
            &[Owner, OtherApplicant, Clerk, Admin],
        ),
        page(format!("/console/submissions/{pending}"), readers),
        page(format!("/console/submissions/{pending}{material}"), readers),
        Row {
            kind: Kind::Upload,
            path: format!("/console/submissions/{pending}{material}"),
            fields: vec![],
            allowed: &[Owner, Clerk, Admin],
        },
        Row {
            kind: Kind::Multipart,
            path: format!("/console/submissions/{pending}/materials"),
            fields: vec![],
            allowed: &[Owner, Clerk, Admin],
        },
        form(
            format!("/console/submissions/{pending}/submit"),
            vec![],
            &[Owner, Clerk, Admin],
        ),
        form(
            format!("/console/submissions/{pending}/pre-review"),
            vec![("decision", "approve".into())],
            &[Reviewer, Admin],
        ),
        form(
            format!("/console/submissions/{pending}/items/wire-cable/decision"),
            vec![("decision", "approve".into()), ("comment", "同意".into())],
            &[ApproverSameDept, Admin],
        ),
        Row {
            kind: Kind::Multipart,
            path: format!("/console/submissions/{pending}/window-check"),
            fields: vec![],
            allowed: staff_only,
        },
        form(
            format!("/console/submissions/{pending}/issue"),
            vec![],
            staff_only,
        ),
        page(
            format!("/console/submissions/{issued}/checks/{check}"),
            readers,
        ),
        page(format!("/console/submissions/{issued}/receipt"), readers),
        page(
            format!("/console/certificates/{serial}/pdf"),
            &[Owner, Clerk, Admin],
        ),
        form(
            format!("/console/certificates/{serial}/delivery"),
            vec![("method", "window".into())],
            staff_only,
        ),
        page("/console/batches".into(), staff_only),
        page(format!("/console/batches/{batch}"), staff_only),
        page("/console/admin/tokens".into(), staff_only),
        form(
            "/console/admin/tokens".into(),
            vec![
                ("role", "applicant".into()),
                ("name", "新申请人".into()),
                ("holder", PERSON.into()),
            ],
            staff_only,
        ),
        form(
            format!("/console/admin/tokens/{spare}/revoke"),
            vec![],
            &[Admin],
        ),
        page("/console/admin/catalogue".into(), &[Admin]),
        page("/console/admin/catalogue/wire-cable".into(), &[Admin]),
        form(
            "/console/admin/catalogue/wire-cable".into(),
            vec![("text", catalogue_text.clone())],
            &[Admin],
        ),
        page("/console/admin/calendar/2026".into(), &[Admin]),
        form(
            "/console/admin/calendar/2026".into(),
            vec![("text", calendar_text.clone())],
            &[Admin],
        ),
        page("/console/admin/keys".into(), &[Admin]),
        form(
            "/console/admin/keys/rotate".into(),
            vec![("confirm", "yes".into())],
            &[Admin],
        ),
        form(
            format!("/console/admin/keys/{kid}/revoke"),
            vec![("compromised_since", "2026-01-01T09:00".into())],
            &[Admin],
        ),
        form("/console/logout".into(), vec![], EVERYONE),
    ];

    let mut covered: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let method = match r.kind {
                Kind::Page => "GET",
                Kind::Upload => "PUT",
                Kind::Form | Kind::Multipart => "POST",
            };
            let mut path = r.path.clone();
            for value in [&pending, &issued, &serial, &batch, &kid, &spare] {
                path = path.replace(value.as_str(), "{}");
            }
            let path = path
                .replace(material, "/materials/{}")
                .replace(&format!("/checks/{check}"), "/checks/{}")
                .replace("/wire-cable", "/{}")
                .replace("/2026", "/{}");
            (method.to_owned(), path)
        })
        .collect();
    covered.sort();
    let missing: Vec<_> = registered()
        .into_iter()
        .filter(|r| !covered.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "console routes with no row: {missing:?}"
    );

    let before = snapshot(&app, &[&pending, &issued], &serial).await;
    let mut failures = Vec::new();
    for row in &rows {
        for caller in &callers {
            let allowed = row.allowed.contains(&caller.who);
            if row.kind == Kind::Page {
                let r = send(&app, row, &caller.session, &caller.csrf).await;
                let want = if allowed { 200 } else { 403 };
                if r.status().as_u16() != want {
                    failures.push(format!(
                        "GET {} as {:?}: {}",
                        row.path,
                        caller.who,
                        r.status()
                    ));
                }
                continue;
            }
            if row.path == "/console/logout" {
                continue;
            }
            // A change: refused without the CSRF token whoever asks; refused with it to a role
            // the API refuses.
            let r = send(&app, row, &caller.session, "wrong").await;
            if r.status() != StatusCode::FORBIDDEN {
                failures.push(format!(
                    "{:?} {} as {:?} without CSRF: {}",
                    row.kind,
                    row.path,
                    caller.who,
                    r.status()
                ));
            }
            if !allowed {
                let r = send(&app, row, &caller.session, &caller.csrf).await;
                if r.status() != StatusCode::FORBIDDEN {
                    failures.push(format!(
                        "{:?} {} as {:?}: {}",
                        row.kind,
                        row.path,
                        caller.who,
                        r.status()
                    ));
                }
            }
        }
    }
    assert_eq!(
        snapshot(&app, &[&pending, &issued], &serial).await,
        before,
        "a refused call changed something"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Without a live session every route leads to sign-in (or is refused).
    let revoked = app.token("clerk", json!({})).await;
    let (revoked_session, _) = session(&app, &revoked).await;
    let id = app.get_json(&app.admin, "/tokens").await["tokens"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post(&app.admin, &format!("/tokens/{id}/revoke"), &json!({}))
            .await
            .status(),
        200
    );
    for session in [
        String::new(),
        "onetrip_console=forged".to_owned(),
        revoked_session,
    ] {
        for row in &rows {
            let r = send(&app, row, &session, "x").await;
            assert!(
                r.status() == StatusCode::SEE_OTHER || r.status() == StatusCode::FORBIDDEN,
                "{} with {session:?}: {}",
                row.path,
                r.status()
            );
            if r.status() == StatusCode::SEE_OTHER {
                assert_eq!(r.headers()[LOCATION], "/console/login", "{}", row.path);
            }
        }
    }
}

/// An applicant files through the form and uploads through the page's request: a refused
/// form names the field, keeps what was typed and stores nothing; an upload answers the
/// digest the server computed; a material is served as uploaded, inline only when it is a PDF
/// or an image, and in a sandbox either way.
#[tokio::test]
async fn an_applicant_files_and_uploads_through_the_console() {
    let app = TestApp::spawn().await;
    let applicant = app
        .token("applicant", json!({"holder": ENTERPRISE, "name": "陈晓"}))
        .await;
    let (session, csrf) = session(&app, &applicant).await;
    let post = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields);
        client()
            .post(format!("{}/console/apply/wire-cable", app.url))
            .header(COOKIE, &session)
            .form(&form)
            .send()
    };
    let name = "浙江省杭州市萧山区临浦镇建筑用钢筋加工有限责任公司";
    let long_representative = "欧".repeat(31);
    let fields = |representative: &str| {
        vec![
            ("holder_name", name.to_owned()),
            ("field.address", "浙江省杭州市西湖区文三路1号".to_owned()),
            (
                "field.production_address",
                "浙江省杭州市余杭区良渚街道2号".to_owned(),
            ),
            ("field.legal_representative", representative.to_owned()),
            ("item", "wire-cable".to_owned()),
            ("item", "rebar".to_owned()),
        ]
    };
    let refused = post(fields(&long_representative)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("fields.legal_representative"),
        "names the field"
    );
    assert!(
        html.contains(&long_representative) && html.contains(name),
        "keeps what was typed"
    );
    let mine = client()
        .get(format!("{}/console", app.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(mine.contains("还没有办件"), "nothing was stored");

    let filed = post(fields("欧阳明远")).await.unwrap();
    assert_eq!(filed.status(), StatusCode::SEE_OTHER);
    let page = filed.headers()[LOCATION].to_str().unwrap().to_owned();
    let id = page.trim_start_matches("/console/submissions/").to_owned();
    let stored = app
        .get_json(&app.admin, &format!("/submissions/{id}"))
        .await;
    assert_eq!(
        stored["holder"]["id"], ENTERPRISE,
        "the token's holder, not a typed one"
    );
    assert_eq!(stored["holder"]["name"], name);
    let items: Vec<&str> = stored["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["wire-cable", "rebar"]);

    let materials: Vec<String> = stored["materials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    let url = |name: &str| {
        format!(
            "{}{page}/materials/{}",
            app.url,
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    let pdf = b"%PDF-1.7\n% a scanned licence\n".to_vec();
    let html_page = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    for (name, bytes) in [(&materials[0], &pdf), (&materials[1], &html_page)] {
        let put = |token: &str| {
            client()
                .put(url(name))
                .header(COOKIE, &session)
                .header("x-csrf-token", token)
                .header("accept", "application/json")
                .body(bytes.clone())
                .send()
        };
        assert_eq!(put("wrong").await.unwrap().status(), StatusCode::FORBIDDEN);
        let r = put(&csrf).await.unwrap();
        assert_eq!(r.status(), 200);
        let uploaded: Value = r.json().await.unwrap();
        assert_eq!(uploaded["sha256"], sha256_hex(bytes), "{name}");
        let served = client()
            .get(url(name))
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        let header = |h: &str| served.headers()[h].to_str().unwrap().to_owned();
        assert!(
            header("content-security-policy").starts_with("sandbox"),
            "{name}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        if bytes == &pdf {
            assert_eq!(header("content-type"), "application/pdf");
            assert!(header("content-disposition").starts_with("inline"));
        } else {
            assert_eq!(header("content-type"), "application/octet-stream");
            assert!(header("content-disposition").starts_with("attachment"));
        }
        assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    let undeclared = client()
        .put(url("不存在的材料"))
        .header(COOKIE, &session)
        .header("x-csrf-token", &csrf)
        .header("accept", "application/json")
        .body("x")
        .send()
        .await
        .unwrap();
    assert!(undeclared.status().is_client_error());
    let error: Value = undeclared.json().await.unwrap();
    assert!(
        error["error"]["message"].as_str().unwrap().contains('/'),
        "{error}"
    );

    // The form without script names each material once: a form naming one again and again is
    // refused at the second, so one request cannot write a history event per part.
    let events = |stored: &Value| stored["history"].as_array().unwrap().len();
    let before = events(
        &app.get_json(&app.admin, &format!("/submissions/{id}"))
            .await,
    );
    // Raw UTF-8 part names, as browsers send them.
    let mut form = reqwest::multipart::Form::new()
        .percent_encode_noop()
        .text("csrf", csrf.clone());
    for i in 0..10 {
        form = form.part(
            materials[0].clone(),
            reqwest::multipart::Part::bytes(format!("%PDF-1.7 {i}").into_bytes())
                .file_name("a.pdf"),
        );
    }
    let r = client()
        .post(format!("{}{page}/materials", app.url))
        .header(COOKIE, &session)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{:?}", r.text().await);
    let after = events(
        &app.get_json(&app.admin, &format!("/submissions/{id}"))
            .await,
    );
    assert!(after <= before + 1, "{before} → {after} events");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}
