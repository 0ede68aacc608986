//! The talent permit prints its holder's photo: the upload of the 证件照 material, checked
//! when the applicant submits (online, before any trip), brought to one printed form, bound
//! by the signature through `photo_sha256`, and carried to the next version.

use sha2::{Digest, Sha256};

use serde_json::{Value, json};

use crate::helpers::*;

fn permit(person: &str) -> Value {
    json!({
        "holder": {"type": "person", "id": person, "name": "欧阳娜娜"},
        "kind": "talent-residence-permit",
        "items": [{"code": "talent-review"}, {"code": "permit-production"}],
        "fields": {"employer": "杭州示例科技有限公司", "residence_address": "浙江省杭州市滨江区网商路599号"}
    })
}

/// The DCT-encoded (JPEG) image streams of a PDF, as lopdf reads them.
fn jpeg_streams(pdf: &[u8]) -> Vec<Vec<u8>> {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    doc.objects
        .values()
        .filter_map(|object| {
            let stream = object.as_stream().ok()?;
            let filter = stream.dict.get(b"Filter").ok()?.as_name().ok()?;
            (filter == b"DCTDecode").then(|| stream.content.clone())
        })
        .collect()
}

#[tokio::test]
async fn the_permit_prints_the_holders_photo_bound_by_the_signature() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;

    // A permit must declare the photo.
    let mut without = permit(PERSON);
    without["materials"] = json!([{"name": "身份证"}]);
    let (status, code, field) =
        error_of(app.post(&staff.clerk, "/submissions", &without).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "photo_required", Some("materials"))
    );

    // A photo that cannot be printed is refused when submitting, naming the material, and
    // nothing changes; a real portrait is then accepted.
    let id = app.create(&staff.clerk, &permit(PERSON)).await;
    let filed = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    let materials = filed["materials"].as_array().unwrap();
    let photo_at = materials.iter().position(|m| m["name"] == PHOTO).unwrap();
    for (i, m) in materials.iter().enumerate() {
        let name = m["name"].as_str().unwrap();
        let bytes = match name {
            PHOTO => b"%PDF-1.7 not a photo".to_vec(),
            _ => format!("{id} {i}").into_bytes(),
        };
        assert_eq!(
            app.upload(&staff.clerk, &id, name, bytes).await.status(),
            200
        );
    }
    let submit = format!("/submissions/{id}/submit");
    let r = app.post(&staff.clerk, &submit, &json!({})).await;
    let (status, code, field) = error_of(r).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field),
        (
            422,
            "unusable_photo",
            Some(format!("materials[{photo_at}]"))
        )
    );
    let landscape = {
        let image = image::RgbImage::from_pixel(800, 600, image::Rgb([90, 90, 90]));
        let mut bytes = Vec::new();
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    };
    app.upload(&staff.clerk, &id, PHOTO, landscape).await;
    let r = app.post(&staff.clerk, &submit, &json!({})).await;
    let (_, code, _) = error_of(r).await;
    assert_eq!(code, "unusable_photo");
    let still = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(still["status"], "draft");

    // Through the whole flow with a portrait.
    let record = issued_permit(&app, &staff, &permit(PERSON)).await;
    let pdf = certificate_pdf(&app, &staff.clerk, &record).await;
    assert!(pdf.len() <= 80_000, "a permit of {} bytes", pdf.len());
    let photos = jpeg_streams(&pdf);
    assert_eq!(photos.len(), 1);
    let printed = image::load_from_memory(&photos[0]).unwrap();
    assert_eq!((printed.width(), printed.height()), (300, 420));
    assert_eq!(
        record["photo_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&photos[0]))
    );
    // The verdict still says valid: the photo's digest is part of what was signed.
    let token = record["token"].as_str().unwrap();
    let (status, verdict) = app.public_json(&format!("/v/{token}")).await;
    assert_eq!((status, verdict["verdict"].as_str()), (200, Some("valid")));
}
