//! Bad input: clear errors naming the field, and nothing stored.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn submissions_are_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let expect = |body: Value, status: u16, field: &'static str| {
        let app = &app;
        let clerk = clerk.clone();
        async move {
            let (s, code, f) = error_of(app.post(&clerk, "/submissions", &body).await).await;
            assert_eq!(
                (s.as_u16(), f.as_deref()),
                (status, Some(field)),
                "{code}: {body}"
            );
        }
    };
    let with = |pointer: &str, value: Value| {
        let mut body = licence_submission(ENTERPRISE);
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    expect(
        with("/holder/id", json!("91350100M000100Y44")),
        422,
        "holder.id",
    )
    .await;
    expect(with("/holder/type", json!("person")), 422, "holder.id").await;
    expect(with("/holder/name", json!("")), 422, "holder.name").await;
    // 𠮷 (U+20BB7) is not in the certificate font: refused now, not printed as a box later.
    let r = app
        .post(
            &clerk,
            "/submissions",
            &with("/holder/name", json!("𠮷野家有限公司")),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unprintable_character");
    assert_eq!(body["error"]["field"], "holder.name");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("U+20BB7")
    );
    expect(with("/kind", json!("fishing-licence")), 422, "kind").await;
    expect(
        with("/items/0/department", json!("scjg")),
        422,
        "items[0].department",
    )
    .await;
    expect(
        with("/items/1/code", json!("wire-cable")),
        422,
        "items[1].code",
    )
    .await;
    expect(
        with("/materials/1/name", json!("营业执照副本")),
        422,
        "materials[1].name",
    )
    .await;
    expect(
        with("/materials/0/name", json!("../../etc/passwd")),
        422,
        "materials[0].name",
    )
    .await;
    expect(with("/fields/address", json!(null)), 422, "fields.address").await;
    expect(with("/items", json!([])), 422, "items").await;
    let mut missing = licence_submission(ENTERPRISE);
    missing["fields"]
        .as_object_mut()
        .unwrap()
        .remove("legal_representative");
    expect(missing, 422, "fields.legal_representative").await;
    let mut unknown = licence_submission(ENTERPRISE);
    unknown["colour"] = json!("red");
    let (s, _, _) = error_of(app.post(&clerk, "/submissions", &unknown).await).await;
    assert_eq!(s, 422);

    // A permit is for a person: an enterprise holder is refused by the template.
    let permit = json!({
        "holder": {"type": "enterprise", "id": ENTERPRISE, "name": "某公司"},
        "kind": "talent-residence-permit",
        "items": [{"code": "talent-review", "department": "RSJ", "name": "引进人才资格审核"}],
        "materials": [{"name": "学历证书"}],
        "fields": {"employer": "某公司", "residence_address": "某地"}
    });
    expect(permit, 422, "holder.type").await;
}

#[tokio::test]
async fn malformed_json_is_400_and_wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let r = app
        .client
        .post(app.api("/submissions"))
        .bearer_auth(&clerk)
        .header("Content-Type", "application/json")
        .body("{\"holder\": ")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "malformed_json"));
    let r = app
        .client
        .post(app.api("/submissions"))
        .bearer_auth(&clerk)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 415);
}

#[tokio::test]
async fn errors_quote_a_short_prefix_of_a_huge_value_or_key() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let huge = "x".repeat(512 << 10);
    let mut unknown_type = licence_submission(&enterprise(8201));
    unknown_type["holder"]["type"] = json!(huge);
    let mut unknown_field = licence_submission(&enterprise(8202));
    unknown_field["fields"][huge.as_str()] = json!("x");
    let mut unknown_kind = licence_submission(&enterprise(8203));
    unknown_kind["kind"] = json!(huge);
    for body in [unknown_type, unknown_field, unknown_kind] {
        let r = app.post(&clerk, "/submissions", &body).await;
        assert!(r.status().is_client_error(), "{}", r.status());
        let error: Value = r.json().await.unwrap();
        let shown = error.to_string();
        assert!(
            shown.len() < 1024,
            "{} bytes: {}",
            shown.len(),
            &shown[..1024]
        );
    }
    // A key the parser itself refuses, and a value of the wrong type.
    let mut unknown_key = licence_submission(&enterprise(8204));
    unknown_key[huge.as_str()] = json!(1);
    let mut wrong_type = licence_submission(&enterprise(8205));
    wrong_type["items"] = json!(huge);
    for body in [unknown_key, wrong_type] {
        let r = app.post(&clerk, "/submissions", &body).await;
        assert!(r.status().is_client_error(), "{}", r.status());
        let error: Value = r.json().await.unwrap();
        assert!(error.to_string().len() < 512, "{error}");
    }
    let r = app
        .get(&clerk, &format!("/submissions/S{}", "0".repeat(4000)))
        .await;
    let error: Value = r.json().await.unwrap();
    assert!(error.to_string().len() < 512, "{error}");
}
