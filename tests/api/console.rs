//! The window console and the verification page, server side: sessions, CSRF, who may sign
//! in, and the no-JavaScript verification form. The browser flow is in `e2e/`.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::helpers::{PERSON, Staff, TestApp, accepted, decide, issued_licence};

pub(crate) fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The value of the hidden `csrf` field of the first form in `html`.
fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

/// `name=value` of the `Set-Cookie` header setting `name`, and the whole header.
pub(crate) fn cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v.to_owned()))
}

/// Opens the sign-in page and posts `token`; returns the response to the post.
pub(crate) async fn sign_in(app: &TestApp, token: &str) -> reqwest::Response {
    let client = client();
    let page = client
        .get(format!("{}/console/login", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let (login_cookie, _) = cookie(&page, "onetrip_login").expect("a sign-in form cookie");
    let csrf = csrf_of(&page.text().await.unwrap());
    client
        .post(format!("{}/console/login", app.url))
        .header(COOKIE, login_cookie)
        .form(&[("csrf", csrf.as_str()), ("token", token)])
        .send()
        .await
        .unwrap()
}

/// A signed-in clerk: the session cookie and the CSRF token its pages carry.
pub(crate) async fn session(app: &TestApp, token: &str) -> (String, String) {
    let r = sign_in(app, token).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (session, _) = cookie(&r, "onetrip_console").unwrap();
    let home = client()
        .get(format!("{}/console", app.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(!html.contains(token), "the token must not appear in a page");
    (session, csrf_of(&html))
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_that_expires() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let r = sign_in(&app, &clerk).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/console");
    let (_, header) = cookie(&r, "onetrip_console").expect("a session cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=28800",
        "Expires=",
    ] {
        assert!(
            header.contains(attribute),
            "{attribute} missing from {header}"
        );
    }
    assert!(!header.contains(&clerk));

    let (session, csrf) = session(&app, &clerk).await;
    let out = client()
        .post(format!("{}/console/logout", app.url))
        .header(COOKIE, &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = client()
        .get(format!("{}/console", app.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.headers()[LOCATION], "/console/login", "signed out");
}

#[tokio::test]
async fn the_sign_in_form_is_refused_without_its_own_cookie() {
    let app = TestApp::spawn().await;
    // Without the sign-in form's own cookie, the post is refused (login CSRF).
    let clerk = app.token("clerk", json!({})).await;
    let r = client()
        .post(format!("{}/console/login", app.url))
        .form(&[("csrf", "guess"), ("token", clerk.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(cookie(&r, "onetrip_console").is_none());
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused_with_an_html_403() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let (session, csrf) = session(&app, &staff.clerk).await;
    let id = crate::helpers::accepted(
        &app,
        &staff,
        &crate::helpers::licence_submission(crate::helpers::ENTERPRISE),
    )
    .await;
    let issue = format!("{}/console/submissions/{id}/issue", app.url);
    for form in [vec![], vec![("csrf", "wrong")]] {
        let r = client()
            .post(&issue)
            .header(COOKIE, &session)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(r.text().await.unwrap().contains("CSRF"));
    }
    // A file upload without the token is refused before anything is read or stored.
    let multipart = reqwest::multipart::Form::new().part(
        "files",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"),
    );
    let r = client()
        .post(format!("{}/console/submissions/{id}/window-check", app.url))
        .header(COOKIE, &session)
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A "csrf" part of megabytes is refused as too large, never read whole into memory.
    let multipart = reqwest::multipart::Form::new()
        .part("csrf", reqwest::multipart::Part::bytes(vec![b'a'; 4 << 20]));
    let r = client()
        .post(format!("{}/console/submissions/{id}/window-check", app.url))
        .header(COOKIE, &session)
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let history = app.get(&staff.clerk, &format!("/submissions/{id}")).await;
    let history: serde_json::Value = history.json().await.unwrap();
    assert_eq!(history["status"], "accepted");

    // With the token, the same issue post goes through (to the blockers, here: items pending).
    let r = client()
        .post(&issue)
        .header(COOKIE, &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("尚有 2 项未满足出证条件"));
}

#[tokio::test]
async fn the_verify_page_takes_a_pasted_link_without_javascript() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let certificate = issued_licence(&app, &staff, &scjg).await;
    let page = client()
        .get(format!("{}/verify", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("enctype=\"multipart/form-data\"")
    );

    let verify_url = certificate["verify_url"].as_str().unwrap();
    for pasted in [
        verify_url.to_owned(),
        format!("  {}\n", certificate["token"].as_str().unwrap()),
    ] {
        let r = client()
            .post(format!("{}/verify", app.url))
            .form(&[("token", pasted.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains("verdict-valid"), "{html}");
        assert!(html.contains("<h1>有效</h1>"));
        assert!(html.contains("示例电缆有限公司"));
        assert!(
            html.contains("href=\"/verify\""),
            "a way back to the verify page"
        );
    }
    let r = client()
        .post(format!("{}/verify", app.url))
        .form(&[("token", "not a token")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("verdict-malformed"));
}

#[tokio::test]
async fn one_token_signing_in_again_and_again_closes_its_oldest_sessions_and_blocks_no_one() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let mut cookies = Vec::new();
    for _ in 0..onetrip::domain::session::MAX_SESSIONS_PER_TOKEN + 4 {
        let r = sign_in(&app, &clerk).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        cookies.push(cookie(&r, "onetrip_console").unwrap().0);
    }
    let home = |session: String| {
        let url = format!("{}/console", app.url);
        async move {
            client()
                .get(url)
                .header(COOKIE, session)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        home(cookies[0].clone()).await,
        StatusCode::SEE_OTHER,
        "oldest closed"
    );
    assert_eq!(home(cookies.last().unwrap().clone()).await, StatusCode::OK);
    // Another token signs in as usual.
    let (admin_session, _) = session(&app, &app.admin).await;
    assert_eq!(home(admin_session).await, StatusCode::OK);
}

#[tokio::test]
async fn a_decision_only_submission_shows_its_chain_and_that_it_ends_without_a_certificate() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let body = json!({
        "holder": {"type": "person", "id": PERSON, "name": "欧阳明远"},
        "kind": "decision",
        "items": [{"code": "union-claim"}]
    });
    let id = accepted(&app, &staff, &body).await;
    let first = app.token("approver", json!({"department": "QYGH"})).await;
    assert_eq!(
        decide(&app, &first, &id, "union-claim", "approve")
            .await
            .status(),
        200
    );
    let (session, _) = session(&app, &staff.clerk).await;
    let page = client()
        .get(format!("{}/console/submissions/{id}", app.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for expected in [
        "此类办件不出证",
        "企业工会审核",
        "区总工会审核",
        "准予",
        "待审批",
        "办结期限",
    ] {
        assert!(html.contains(expected), "{expected} is not on the page");
    }
}
