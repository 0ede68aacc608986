//! The talent permit prints its holder's whole ID number (it is the holder's own document, as
//! an ID card is); public pages, verdicts and the token keep it masked. Test persons 3200-3299.

use serde_json::json;

use crate::helpers::*;

/// The `n`th test person: a valid resident ID number of its own (born 1990-01-01 in 西湖区).
fn person(n: u32) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let body = format!("33010619900101{:03}", n % 1000);
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

#[tokio::test]
async fn the_permit_prints_the_whole_id_number_and_public_pages_mask_it() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let id_number = person(201);
    let masked = format!("{}********{}", &id_number[..6], &id_number[14..]);
    let body = json!({
        "holder": {"type": "person", "id": id_number, "name": "欧阳明远"},
        "kind": "talent-residence-permit",
        "items": [{"code": "talent-review"}, {"code": "permit-production"}],
        "fields": {"employer": "杭州示例科技有限公司", "residence_address": "浙江省杭州市滨江区网商路599号"}
    });
    let cert = issued_permit(&app, &staff, &body).await;
    let pdf = certificate_pdf(&app, &staff.clerk, &cert).await;
    let text: String = pdf_text(&pdf)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        text.contains(&id_number),
        "{id_number} is not in the PDF:\n{text}"
    );
    assert!(
        !text.contains(&masked),
        "the PDF prints the masked number:\n{text}"
    );

    // Public: the verdict page and its JSON, by link and by code, mask it.
    let token = cert["token"].as_str().unwrap();
    let code = cert["code"].as_str().unwrap();
    for path in [format!("/v/{token}"), format!("/c/{code}")] {
        let (status, verdict) = app.public_json(&path).await;
        assert_eq!(
            (status, verdict["verdict"].as_str()),
            (200, Some("valid")),
            "{verdict}"
        );
        let json = verdict.to_string();
        assert!(
            json.contains(&masked) && !json.contains(&id_number),
            "{path}: {json}"
        );
        let html = app.public_page(&path).await;
        assert!(
            html.contains(&masked) && !html.contains(&id_number),
            "{path}"
        );
    }
}
