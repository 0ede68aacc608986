//! One HTTP convention everywhere: every error is the API's JSON shape under `/api/` or when
//! the client asks for JSON, a page elsewhere, in Chinese and English and without our type
//! names, carrying the request's id; `/` leads to `/verify`.

use reqwest::redirect::Policy;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn content_type(r: &Response) -> String {
    r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The JSON error of `r`, after checking its status and that it is JSON, bilingual and free
/// of Rust words.
async fn json_error(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    assert!(
        content_type(&r).starts_with("application/json"),
        "{}",
        content_type(&r)
    );
    let body: Value = r.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(bilingual(message), "{body}");
    for word in ["struct", "enum", "u32", "u64", "String", "Failed to"] {
        assert!(!message.contains(word), "{word} in {body}");
    }
    body
}

/// Chinese, then ` / `, then English.
fn bilingual(message: &str) -> bool {
    let Some((chinese, english)) = message.split_once(" / ") else {
        return false;
    };
    chinese
        .chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        && english.chars().any(|c| c.is_ascii_alphabetic())
}

async fn send(app: &TestApp, method: Method, path: &str, accept: Option<&str>) -> Response {
    let mut request = app.client.request(method, format!("{}{path}", app.url));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_under_the_api_and_pages_elsewhere() {
    let app = TestApp::spawn().await;

    let r = send(&app, Method::GET, "/api/v1/no-such-thing", None).await;
    let body = json_error(r, StatusCode::NOT_FOUND).await;
    assert_eq!(body["error"]["code"], "not_found");

    let r = send(&app, Method::DELETE, "/api/v1/keys", None).await;
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET"), "{allow}");
    let body = json_error(r, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // A browser's Accept: a page, with the page headers.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for (method, path, status) in [
        (Method::GET, "/no-such-page", StatusCode::NOT_FOUND),
        (Method::GET, "/console/no-such-page", StatusCode::NOT_FOUND),
        (Method::DELETE, "/verify", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let r = send(&app, method, path, Some(browser)).await;
        assert_eq!(r.status(), status, "{path}");
        assert!(content_type(&r).starts_with("text/html"), "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.headers().contains_key("content-security-policy"));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(r.headers().contains_key("allow"));
        }
        let html = r.text().await.unwrap();
        assert!(html.contains(&status.as_u16().to_string()), "{html}");
    }

    // A script asking for JSON gets JSON outside the API too.
    let r = send(&app, Method::GET, "/no-such-page", Some("application/json")).await;
    json_error(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_root_leads_to_the_verification_page() {
    let app = TestApp::spawn().await;
    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    let r = client.get(format!("{}/", app.url)).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/verify");
}

#[tokio::test]
async fn an_error_carries_the_request_id() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.api("/no-such-thing"))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    let body = json_error(r, StatusCode::NOT_FOUND).await;
    assert_eq!(body["error"]["request_id"], "req-42");

    // An error a handler made (no token) carries it too.
    let r = app
        .client
        .get(app.api("/keys"))
        .header("x-request-id", "req-43")
        .send()
        .await
        .unwrap();
    let body = json_error(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["error"]["request_id"], "req-43");

    // And the page says it.
    let r = app
        .client
        .get(format!("{}/no-such-page", app.url))
        .header("x-request-id", "req-44")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("req-44"));
}

#[tokio::test]
async fn refused_input_is_said_in_both_languages_without_our_type_names() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;

    let r = app.get(&clerk, "/submissions?due_within=soon").await;
    let body = json_error(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"]["code"], "malformed_query");
    assert_eq!(body["error"]["field"], "due_within");
    let r = app.get(&clerk, "/submissions?due=3").await;
    let body = json_error(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"]["code"], "malformed_query");

    let r = app.get(&clerk, "/submissions/%FF%FE").await;
    let body = json_error(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"]["code"], "invalid_path");

    let mut filed = licence_submission(ENTERPRISE);
    filed["holder"] = json!("示例电缆有限公司");
    let r = app.post(&clerk, "/submissions", &filed).await;
    let body = json_error(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"]["field"], "holder");
    assert!(!body.to_string().contains("HolderBody"), "{body}");

    let r = app
        .post(
            &clerk,
            "/submissions",
            &json!({"kind": "x".repeat(2 << 20)}),
        )
        .await;
    json_error(r, StatusCode::PAYLOAD_TOO_LARGE).await;

    // A multipart body without its boundary, and then the `/verify` form over its limit,
    // posted by a script asking for JSON.
    let r = app
        .client
        .post(format!("{}/verify", app.url))
        .header("Accept", "application/json")
        .header("Content-Type", "multipart/form-data")
        .body("--x--")
        .send()
        .await
        .unwrap();
    let body = json_error(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"]["code"], "malformed_multipart");
    // Last, as the refused form may leave its connection broken: the server answers once the
    // limit is read, and may close before the client has sent the rest.
    let over = (10 << 20) + (64 << 10) + 1;
    let r = app
        .client
        .post(format!("{}/verify", app.url))
        .header("Accept", "application/json")
        .form(&[("token", "x".repeat(over))])
        .send()
        .await;
    match r {
        Ok(r) => {
            json_error(r, StatusCode::PAYLOAD_TOO_LARGE).await;
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }
}

#[tokio::test]
async fn fields_have_one_shape_in_the_record_and_the_verdict() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = issued_licence(&app, &staff, &scjg).await;
    let fields = &record["fields"];
    assert!(
        fields[0]["key"].is_string() && fields[0]["label"].is_string(),
        "{fields}"
    );

    let token = record["token"].as_str().unwrap();
    let code = record["code"].as_str().unwrap();
    let (_, by_link) = app.public_json(&format!("/v/{token}")).await;
    let (_, by_code) = app.public_json(&format!("/c/{code}")).await;
    let by_api: Value = app
        .client
        .post(app.api("/verify"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for verdict in [by_link, by_code, by_api] {
        assert_eq!(&verdict["certificate"]["fields"], fields, "{verdict}");
    }
    // The page shows them as before.
    let page = app.public_page(&format!("/v/{token}")).await;
    let label = fields[0]["label"].as_str().unwrap();
    assert!(page.contains(&format!("<dt>{label}</dt>")), "{page}");
}

#[tokio::test]
async fn verdicts_may_be_cached_a_minute_and_callers_answers_not_at_all() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = issued_licence(&app, &staff, &scjg).await;
    let token = record["token"].as_str().unwrap();
    let code = record["code"].as_str().unwrap();

    for path in [format!("/v/{token}"), format!("/c/{code}")] {
        for accept in ["text/html", "application/json"] {
            let r = send(&app, Method::GET, &path, Some(accept)).await;
            assert_eq!(r.status(), StatusCode::OK, "{path} {accept}");
            assert!(content_type(&r).contains(&accept[5..]), "{path} {accept}");
            assert_eq!(r.headers()["cache-control"], "public, max-age=60", "{path}");
            let vary = r.headers()["vary"].to_str().unwrap().to_ascii_lowercase();
            assert!(vary.contains("accept"), "{path}: {vary}");
        }
    }
    // A code never issued says nothing lasting: not kept.
    let r = send(
        &app,
        Method::GET,
        "/c/0000-0000-0000-0000",
        Some("application/json"),
    )
    .await;
    assert_ne!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");

    // What a caller with a token is told is never stored, whatever the route.
    let id = record["id"].as_str().unwrap();
    for path in [
        format!("/certificates/{id}"),
        "/tokens".to_owned(),
        "/services".to_owned(),
    ] {
        let r = app.get(&app.admin, &path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
}
