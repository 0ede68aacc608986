//! Files handed to a browser or a client: the certificate PDF as a download that no shared
//! cache keeps. The API and the console serve it alike.

use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;

use crate::domain::certificate::Certificate;

pub fn pdf_download(certificate: &Certificate, pdf: Vec<u8>) -> impl IntoResponse + use<> {
    let filename = format!("{}.pdf", certificate.content.id);
    (
        [
            (CONTENT_TYPE, "application/pdf".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        pdf,
    )
}
