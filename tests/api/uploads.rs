//! Material uploads: limits, and nothing partial left behind.

use serde_json::{Value, json};

use crate::helpers::*;

fn files_under(dir: &std::path::Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

#[tokio::test]
async fn oversize_upload_is_413_and_leaves_nothing() {
    let app = TestApp::spawn_with("max_material_bytes = 1000").await;
    let clerk = app.token("clerk", json!({})).await;
    let id = app.create(&clerk, &licence_submission(ENTERPRISE)).await;
    let materials = app.data().join("materials");

    assert_eq!(
        app.upload(&clerk, &id, "营业执照副本", vec![7; 1000])
            .await
            .status(),
        200
    );
    assert_eq!(files_under(&materials), 1);

    // Declared too large: refused before a byte is read.
    let (status, code, _) =
        error_of(app.upload(&clerk, &id, "产品检验报告", vec![7; 1001]).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (413, "too_large"));

    // Streamed without a length: refused when the limit is crossed, partial file removed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..5).map(|_| Ok(vec![1u8; 300])).collect();
    let r = app
        .client
        .put(app.api(&format!("/submissions/{id}/materials/产品检验报告")))
        .bearer_auth(&clerk)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(files_under(&materials), 1, "no partial file is left");

    // The earlier upload is untouched.
    let s: Value = app.get_json(&clerk, &format!("/submissions/{id}")).await;
    assert_eq!(s["materials"][0]["size"], 1000);
    assert_eq!(s["materials"][1]["sha256"], Value::Null);
}

#[tokio::test]
async fn undeclared_and_malformed_material_names_are_refused() {
    let app = TestApp::spawn().await;
    let clerk = app.token("clerk", json!({})).await;
    let id = app.create(&clerk, &licence_submission(ENTERPRISE)).await;
    let (status, code, _) = error_of(app.upload(&clerk, &id, "身份证", b"x".to_vec()).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "unknown_material"));
    let (status, _, field) =
        error_of(app.upload(&clerk, &id, "%20lead", b"x".to_vec()).await).await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("name")));
    assert_eq!(files_under(&app.data().join("materials")), 0);
}
