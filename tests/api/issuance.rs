//! 多报合一 and issuance: joint approval by departments, then one signed PDF with a QR code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use onetrip::domain::identifier::Identifier;
use serde_json::{Value, json};

use crate::helpers::*;

fn permit_submission() -> Value {
    json!({
        "holder": {"type": "person", "id": PERSON, "name": "欧阳娜娜"},
        "kind": "talent-residence-permit",
        "items": [
            {"code": "talent-review", "department": "RSJ", "name": "引进人才资格审核"},
            {"code": "permit-production", "department": "GAJ", "name": "居住证制证"}
        ],
        "materials": [{"name": "证件照"}, {"name": "学历证书"}, {"name": "劳动合同"}],
        "fields": {"employer": "杭州示例科技有限公司", "residence_address": "浙江省杭州市滨江区网商路599号"}
    })
}

/// Verifies a compact JWS against the service's JWKS by hand, as any JOSE library would.
fn verify_with_jwks(token: &str, jwks: &Value) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "kid": header["kid"]}));
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is in the JWKS");
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str(),
            jwk["use"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"), Some("sig"))
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("signature verifies with the published key");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[tokio::test]
async fn a_permit_needs_both_departments_then_issues_a_verifiable_pdf() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let rsj = app.token("approver", json!({"department": "RSJ"})).await;
    let gaj = app.token("approver", json!({"department": "GAJ"})).await;
    let person = app.token("applicant", json!({"holder": PERSON})).await;
    let stranger = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let id = accepted(&app, &staff, &permit_submission()).await;

    // No department may decide another's item.
    assert_eq!(
        error_of(decide(&app, &rsj, &id, "permit-production", "approve").await)
            .await
            .0,
        403
    );
    assert_eq!(
        error_of(decide(&app, &staff.clerk, &id, "talent-review", "approve").await)
            .await
            .0,
        403
    );

    // Before any decision: 409 naming both pending items and their departments.
    let r = app
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready_to_issue");
    let missing = body["error"]["details"].as_array().unwrap();
    assert_eq!(missing.len(), 2);
    assert_eq!(
        (
            missing[0]["item"].as_str(),
            missing[0]["department"].as_str()
        ),
        (Some("talent-review"), Some("RSJ"))
    );
    assert_eq!(missing[1]["reason"], "item_pending");

    // GAJ decides first, in any order; still one missing.
    assert_eq!(
        decide(&app, &gaj, &id, "permit-production", "approve")
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
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 1);
    assert_eq!(body["error"]["details"][0]["department"], "RSJ");
    assert_eq!(
        decide(&app, &rsj, &id, "talent-review", "approve")
            .await
            .status(),
        200
    );
    // A decision is final.
    assert_eq!(
        error_of(decide(&app, &rsj, &id, "talent-review", "reject").await)
            .await
            .0,
        409
    );

    let r = app
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let cert: Value = r.json().await.unwrap();
    let serial = cert["id"].as_str().unwrap().to_owned();
    assert!(Identifier::parse(&serial).is_ok());
    assert!(serial.starts_with("1.2.156.3005.2.11100000000013338W012.11430000006122244L."));
    assert_eq!(cert["status"], "valid");
    assert_eq!(cert["holder"]["name"], "欧阳娜娜");
    let token = cert["token"].as_str().unwrap();
    assert_eq!(cert["verify_url"], format!("{}/v/{token}", app.url));

    // Issuing twice is refused.
    let (status, code, _) = error_of(
        app.post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (409, "not_ready_to_issue")
    );

    // The token verifies with the published key and carries a masked ID number.
    let jwks: Value = app.jwks().await;
    let claims = verify_with_jwks(token, &jwks);
    assert_eq!(claims["sub"], serial);
    assert_eq!(claims["hid"], "110105********002X");
    assert!(
        claims.get("holder").is_none(),
        "the name is bound by dig, not carried"
    );
    // `dig` is the SHA-256 of the canonical record, the verification code included.
    let content: onetrip::domain::certificate::CertContent =
        serde_json::from_value(cert.clone()).unwrap();
    assert!(content.code.is_some());
    assert_eq!(claims["dig"], content.digest().to_base64url());
    assert_eq!(
        claims["dig"],
        URL_SAFE_NO_PAD.encode(hex::decode(cert["content_digest"].as_str().unwrap()).unwrap())
    );
    assert_eq!(jwks["keys"][0]["status"], "active");

    // The holder downloads the PDF; its digest is the recorded one and its text is Chinese.
    let r = app
        .get(&person, &format!("/certificates/{serial}/pdf"))
        .await;
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&pdf)),
        cert["pdf_sha256"].as_str().unwrap()
    );
    assert!(pdf.len() < 60 * 1024, "{} bytes", pdf.len());
    let text = pdf_text(&pdf);
    for expected in [
        "引进人才居住证",
        "欧阳娜娜",
        PERSON,
        "杭州示例科技有限公司",
        "引进人才资格审核",
        "居住证制证",
    ] {
        assert!(
            text.contains(expected),
            "{expected} not in PDF text:\n{text}"
        );
    }
    assert!(
        !text.contains("110105********002X"),
        "the holder's own permit prints the whole ID number"
    );

    // The QR image decodes to the verify URL.
    let png = app
        .get(&person, &format!("/certificates/{serial}/qr.png"))
        .await
        .bytes()
        .await
        .unwrap();
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, cert["verify_url"].as_str().unwrap());

    // Another applicant, a reviewer and an approver cannot read it.
    assert_eq!(
        error_of(app.get(&stranger, &format!("/certificates/{serial}")).await)
            .await
            .0,
        403
    );
    assert_eq!(
        error_of(
            app.get(&stranger, &format!("/certificates/{serial}/pdf"))
                .await
        )
        .await
        .0,
        403
    );
    assert_eq!(
        error_of(
            app.get(&staff.reviewer, &format!("/certificates/{serial}"))
                .await
        )
        .await
        .0,
        403
    );
    assert_eq!(
        error_of(app.get(&rsj, &format!("/certificates/{serial}")).await)
            .await
            .0,
        403
    );
    assert_eq!(
        app.get(&person, &format!("/certificates/{serial}"))
            .await
            .status(),
        200
    );

    // The submission's history ends with the issuance and the PDF's digest.
    let s: Value = app.get_json(&person, &format!("/submissions/{id}")).await;
    assert_eq!(s["status"], "issued");
    let last = s["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "issued");
    assert_eq!(last["pdf_sha256"], cert["pdf_sha256"]);
}

#[tokio::test]
async fn a_rejected_item_blocks_issuance() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let id = accepted(&app, &staff, &licence_submission(ENTERPRISE)).await;
    assert_eq!(
        decide(&app, &scjg, &id, "wire-cable", "approve")
            .await
            .status(),
        200
    );
    assert_eq!(
        decide(&app, &scjg, &id, "fertiliser", "reject")
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
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["reason"], "item_rejected");
    assert_eq!(body["error"]["details"][0]["item"], "fertiliser");
}

#[tokio::test]
async fn fifty_concurrent_issuances_get_fifty_distinct_identifiers() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let applicant = app
        .token("applicant", json!({"holder": enterprise(1300)}))
        .await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let id = accepted(&app, &staff, &licence_submission(&enterprise(1300 + i))).await;
        for item in ["wire-cable", "fertiliser"] {
            assert_eq!(
                decide(&app, &scjg, &id, item, "approve").await.status(),
                200
            );
        }
        ids.push(id);
    }
    let issued = futures_util::future::join_all(ids.iter().map(|id| {
        let (app, clerk) = (&app, &staff.clerk);
        async move {
            app.post(clerk, &format!("/submissions/{id}/issue"), &json!({}))
                .await
        }
    }))
    .await;
    let mut serials = Vec::new();
    for r in issued {
        assert_eq!(r.status(), 201);
        let cert: Value = r.json().await.unwrap();
        serials.push(cert["id"].as_str().unwrap().to_owned());
    }
    let mut sequences: Vec<u64> = serials
        .iter()
        .map(|s| {
            Identifier::parse(s).expect("valid check character");
            let segments: Vec<&str> = s.rsplitn(4, '.').collect();
            segments[2][4..].parse().unwrap()
        })
        .collect();
    sequences.sort();
    assert_eq!(sequences, (1..=50).collect::<Vec<u64>>());

    // The enterprise reads one of its certificates.
    let r = app
        .get(&applicant, &format!("/certificates/{}", serials[0]))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn issuances_during_a_rotation_are_each_signed_by_one_key_and_verify() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let id = accepted(&app, &staff, &licence_submission(&enterprise(1400 + i))).await;
        for item in ["wire-cable", "fertiliser"] {
            decide(&app, &scjg, &id, item, "approve").await;
        }
        ids.push(id);
    }
    let issuing = futures_util::future::join_all(ids.iter().map(|id| {
        let (app, clerk) = (&app, &staff.clerk);
        async move {
            app.post(clerk, &format!("/submissions/{id}/issue"), &json!({}))
                .await
        }
    }));
    let rotating = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        app.post(&app.admin, "/keys/rotate", &json!({})).await
    };
    let (issued, rotated) = tokio::join!(issuing, rotating);
    assert_eq!(rotated.status(), 201);
    let jwks: Value = app.jwks().await;
    for r in issued {
        assert_eq!(r.status(), 201);
        let cert: Value = r.json().await.unwrap();
        verify_with_jwks(cert["token"].as_str().unwrap(), &jwks);
        let v: Value = app
            .client
            .get(cert["verify_url"].as_str().unwrap())
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["verdict"], "valid", "{v}");
    }
}

#[tokio::test]
async fn delivery_is_recorded_with_its_events_and_read_by_the_holder() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let path = format!("/certificates/{}/delivery", cert["id"].as_str().unwrap());
    let put = |token: &str, body: Value| {
        let (app, path, token) = (&app, path.clone(), token.to_owned());
        async move {
            app.client
                .put(app.api(&path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    let (status, _, field) =
        error_of(put(&staff.clerk, json!({"method": "courier", "carrier": "EMS"})).await).await;
    assert_eq!(
        (status.as_u16(), field.as_deref()),
        (422, Some("tracking_number"))
    );
    assert_eq!(
        error_of(put(&applicant, json!({"method": "download"})).await)
            .await
            .0,
        403
    );

    let r = put(
        &staff.clerk,
        json!({
            "method": "courier", "carrier": "EMS", "tracking_number": "1180123456789",
            "address": "浙江省杭州市西湖区文三路1号"
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = app
        .post(
            &staff.clerk,
            &format!("{path}/events"),
            &json!({"status": "delivered", "note": "本人签收"}),
        )
        .await;
    assert_eq!(r.status(), 200);

    let read: Value = app
        .get_json(
            &applicant,
            &format!("/certificates/{}", cert["id"].as_str().unwrap()),
        )
        .await;
    let delivery = &read["delivery"];
    assert_eq!(
        (
            delivery["method"].as_str(),
            delivery["tracking_number"].as_str()
        ),
        (Some("courier"), Some("1180123456789"))
    );
    let events: Vec<&str> = delivery["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["recorded", "delivered"]);
}
