//! Hostile input: every refusal is a 4xx in the one error shape, nothing is stored, nothing
//! panics.

use serde_json::{Value, json};

use crate::helpers::*;

async fn raw_post(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.api(path))
        .bearer_auth(token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn oversize_malformed_and_nested_bodies_are_refused_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let big = vec![b' '; 2 << 20];
    for path in ["/submissions", "/tokens"] {
        let token = if path == "/tokens" {
            &app.admin
        } else {
            &clerk
        };
        let (status, _, _) =
            error_of(raw_post(&app, token, path, "application/json", big.clone()).await).await;
        assert_eq!(status, 413, "{path}");
    }
    // A file over 10 MB to verify is unusable input (422), with an error beside the verdict.
    let (status, _, _) = error_of(
        raw_post(
            &app,
            &clerk,
            "/verify",
            "application/pdf",
            vec![0; 11 << 20],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);

    let invalid_utf8 = b"{\"holder\": \"\xff\xfe\"}".to_vec();
    let (status, code, _) = error_of(
        raw_post(
            &app,
            &clerk,
            "/submissions",
            "application/json",
            invalid_utf8,
        )
        .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "malformed_json"));

    let nested = format!(
        "{{\"holder\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    )
    .into_bytes();
    let (status, _, _) =
        error_of(raw_post(&app, &clerk, "/submissions", "application/json", nested).await).await;
    assert!(
        status == 400 || status == 422,
        "deep nesting is refused, not recursed into: {status}"
    );

    let mut unknown = licence_submission(ENTERPRISE);
    unknown["holder"]["nickname"] = json!("x");
    let (status, _, field) = error_of(app.post(&clerk, "/submissions", &unknown).await).await;
    assert_eq!(
        (status.as_u16(), field.as_deref()),
        (422, Some("holder.nickname"))
    );

    let list: Value = app.get_json(&app.admin, "/tokens").await;
    assert_eq!(
        list["tokens"].as_array().unwrap().len(),
        2,
        "no token was made by a refused request"
    );
}

#[tokio::test]
async fn hostile_material_names_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let long = "材".repeat(10_000);
    for name in [
        "../../etc/passwd",
        "a\u{0}b",
        "a\u{7}b",
        "tab\there",
        long.as_str(),
        "",
    ] {
        let mut body = licence_submission(ENTERPRISE);
        body["materials"][0]["name"] = json!(name);
        let (status, _, field) = error_of(app.post(&clerk, "/submissions", &body).await).await;
        assert_eq!(
            (status.as_u16(), field.as_deref()),
            (422, Some("materials[0].name")),
            "{name:?}"
        );
    }
    let id = app.create(&clerk, &licence_submission(ENTERPRISE)).await;
    for name in ["..%2F..%2Fetc%2Fpasswd", "a%00b", "%E6%9D%90%0A"] {
        let r = app
            .client
            .put(format!(
                "{}/api/v1/submissions/{id}/materials/{name}",
                app.url
            ))
            .bearer_auth(&clerk)
            .body("x")
            .send()
            .await
            .unwrap();
        let (status, _, _) = error_of(r).await;
        assert!(status == 422 || status == 404, "{name}: {status}");
    }
    let dir = app.data().join("materials").join(&id);
    assert!(
        !dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_window_check_with_ten_thousand_parts_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let content = |_: &str, i: usize| vec![b'0' + i as u8];
    let (id, _) = pre_approved(&app, &staff, &licence_submission(ENTERPRISE), content).await;
    let mut form = reqwest::multipart::Form::new();
    for i in 0..10_000 {
        form = form.part(format!("p{i}"), reqwest::multipart::Part::bytes(vec![b'x']));
    }
    let r = app
        .client
        .post(app.api(&format!("/submissions/{id}/window-check")))
        .bearer_auth(&staff.clerk)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (413, "too_many_parts"));
    let digests: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("p{i}"), "sha256": "0".repeat(64)}))
        .collect();
    let (status, _, _) = error_of(
        app.post(
            &staff.clerk,
            &format!("/submissions/{id}/window-check"),
            &json!({"digests": digests}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 413);
    let s: Value = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(s["status"], "pre_approved");
    assert_eq!(
        s["history"].as_array().unwrap().last().unwrap()["action"],
        "pre_approved",
        "no check was stored"
    );
}
