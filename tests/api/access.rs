//! Who may do what: API.md's role table on the foundation routes.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn tokens_roles_and_holders_are_enforced() {
    let app = TestApp::spawn().await;
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let other = app
        .token("applicant", json!({"holder": OTHER_ENTERPRISE}))
        .await;
    let reviewer = app.token("reviewer", json!({})).await;
    let clerk = app.token("clerk", json!({})).await;

    // No token, a malformed header, an unknown token: 401.
    let r = app
        .client
        .get(app.api("/submissions/S0123456789AB"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = app
        .client
        .get(app.api("/submissions/S0123456789AB"))
        .header("Authorization", "Basic x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = app
        .get("ot_not-a-real-token", "/submissions/S0123456789AB")
        .await;
    assert_eq!(error_of(r).await.0, 401);

    // Wrong role: a reviewer does not file, an applicant does not make tokens.
    let r = app
        .post(&reviewer, "/submissions", &licence_submission(ENTERPRISE))
        .await;
    assert_eq!(error_of(r).await.0, 403);
    let r = app
        .post(&applicant, "/tokens", &json!({"role": "admin"}))
        .await;
    assert_eq!(error_of(r).await.0, 403);

    // An applicant files only for its own holder.
    let r = app
        .post(&other, "/submissions", &licence_submission(ENTERPRISE))
        .await;
    assert_eq!(error_of(r).await.0, 403);

    let id = app
        .create(&applicant, &licence_submission(ENTERPRISE))
        .await;

    // Another applicant can neither read, upload to, nor submit it.
    assert_eq!(
        error_of(app.get(&other, &format!("/submissions/{id}")).await)
            .await
            .0,
        403
    );
    assert_eq!(
        error_of(app.upload(&other, &id, "营业执照副本", b"x".to_vec()).await)
            .await
            .0,
        403
    );
    let r = app
        .post(&other, &format!("/submissions/{id}/submit"), &json!({}))
        .await;
    assert_eq!(error_of(r).await.0, 403);

    // Reviewers and clerks read; an applicant cannot pre-review or run a window check.
    assert_eq!(
        app.get(&reviewer, &format!("/submissions/{id}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&clerk, &format!("/submissions/{id}"))
            .await
            .status(),
        200
    );
    let r = app
        .post(
            &applicant,
            &format!("/submissions/{id}/pre-review"),
            &json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(error_of(r).await.0, 403);
    let r = app
        .post(
            &applicant,
            &format!("/submissions/{id}/window-check"),
            &json!({"digests": []}),
        )
        .await;
    assert_eq!(error_of(r).await.0, 403);
    // A reviewer does not upload materials.
    assert_eq!(
        error_of(
            app.upload(&reviewer, &id, "营业执照副本", b"x".to_vec())
                .await
        )
        .await
        .0,
        403
    );

    // Unknown submissions are 404 in the same error shape.
    let (status, code, _) = error_of(app.get(&clerk, "/submissions/S0000000000ZZ").await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "submission_not_found")
    );
}

#[tokio::test]
async fn token_bindings_are_checked() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (json!({"role": "approver"}), "department"),
        (json!({"role": "applicant"}), "holder"),
        (
            json!({"role": "applicant", "holder": "91350100M000100Y44"}),
            "holder",
        ),
        (json!({"role": "clerk", "department": "SCJG"}), "department"),
        (json!({"role": "reviewer", "holder": ENTERPRISE}), "holder"),
        (json!({"role": "root"}), "role"),
    ] {
        let (status, _, f) = error_of(app.post(&app.admin, "/tokens", &body).await).await;
        assert_eq!(
            (status.as_u16(), f.as_deref()),
            (422, Some(field)),
            "{body}"
        );
    }
    let r = app
        .post(
            &app.admin,
            "/tokens",
            &json!({"role": "approver", "department": "SCJG"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert!(created["token"].as_str().unwrap().starts_with("ot_"));
    assert_eq!(created["department"], "SCJG");
}

#[tokio::test]
async fn an_admin_lists_and_revokes_tokens() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    assert_eq!(
        app.get(&clerk, "/submissions/S0000000000ZZ").await.status(),
        404
    );

    let listed: Value = app.get_json(&app.admin, "/tokens").await;
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    let text = listed.to_string();
    assert!(
        !text.contains(&clerk) && !text.contains(&app.admin),
        "no secret is listed"
    );
    let clerk_id = tokens.iter().find(|t| t["role"] == "clerk").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(error_of(app.get(&clerk, "/tokens").await).await.0, 403);

    let r = app
        .post(
            &app.admin,
            &format!("/tokens/{clerk_id}/revoke"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["revoked_at"].is_string());
    assert_eq!(
        error_of(app.get(&clerk, "/submissions/S0000000000ZZ").await)
            .await
            .0,
        401
    );
    let r = app
        .post(&app.admin, "/tokens/tok_000000000000/revoke", &json!({}))
        .await;
    assert_eq!(error_of(r).await.0, 404);
}

/// Schemathesis found it: an admin could revoke the token it was using, and lose the server's
/// only admin token. A token cannot revoke itself; another admin token can.
#[tokio::test]
async fn an_admin_token_cannot_revoke_itself() {
    let app = TestApp::spawn().await;
    let tokens: Value = app.get_json(&app.admin, "/tokens").await;
    let own = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(&app.admin, &format!("/tokens/{own}/revoke"), &json!({}))
        .await;
    let (status, code, _) = error_of(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "own_token"));
    assert_eq!(app.get(&app.admin, "/tokens").await.status(), 200);

    let second = app.token("admin", json!({})).await;
    let r = app
        .post(&second, &format!("/tokens/{own}/revoke"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&app.admin, "/tokens").await.status(), 401);
}
