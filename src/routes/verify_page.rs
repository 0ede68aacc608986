//! `/verify`: the page where anyone (a bank, a landlord) pastes a verification link or token,
//! or drops the PDF they were sent, and gets the same verdict page as `/v/{token}`.
//! It works without JavaScript: the two forms post plainly (the PDF as multipart).

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::html::{HtmlError, with_page_headers};
use super::multipart;
use super::verdict::respond;
use crate::body::{Collector, HeldBody, MemoryBudget, ReceiveError, read_limited};
use crate::domain::presented::Presented;
use crate::routes::state::AppState;
use crate::service::ServiceError;
use crate::service::verdict::{Finding, InputProblem};
use crate::service::verification::{self, MAX_PDF_BYTES};

/// `places` limits the PDF uploads served at once (shared with `/api/v1/verify`).
pub fn router(places: Arc<Semaphore>) -> Router<AppState> {
    let upload = post(submit).layer(axum::middleware::from_fn_with_state(
        places,
        super::limits::verify_upload_place,
    ));
    let router = Router::new()
        .route("/verify", get(page).merge(upload))
        .layer(axum::extract::DefaultBodyLimit::max(
            MAX_PDF_BYTES + (64 << 10),
        ));
    with_page_headers(router)
}

async fn page(State(state): State<AppState>) -> Result<Response, HtmlError> {
    let html = state
        .pages
        .render("verify.html", serde_json::json!({}))
        .map_err(ServiceError::internal)?;
    Ok(Html(html).into_response())
}

/// The largest link-or-code form: a verification link is a few hundred bytes.
const TOKEN_FORM_LIMIT: usize = 16 << 10;

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HtmlError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let finding = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(multipart::rejected)?;
        match read_pdf(multipart, &state.memory).await? {
            Some(pdf) => verification::verify_pdf(&state, &pdf).await?,
            None => Finding::unusable(InputProblem::TooLarge),
        }
    } else if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(HtmlError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "请通过页面上的表单提交 / send the page's form (URL-encoded or multipart)",
        ));
    } else {
        // A pasted link or a code: a few hundred bytes, read within the memory budget.
        let body = read_limited(
            request.into_body().into_data_stream(),
            TOKEN_FORM_LIMIT,
            &state.memory,
        )
        .await
        .map_err(|e| ServiceError::body(e, "form"))?;
        let form: TokenForm = serde_urlencoded::from_bytes(&body)
            .map_err(|_| HtmlError::bad_request("表单无效 / the form could not be read"))?;
        if form.token.trim().is_empty() {
            return Err(HtmlError::bad_request(
                "请粘贴核验链接或输入核验码 / paste a verification link or type the code",
            ));
        }
        verification::verify_presented(&state, Presented::read(&form.token)).await?
    };
    Ok(respond(&state, &headers, finding)?)
}

/// The bytes of the form's `pdf` part (`None` if it is over the limit), within the service's
/// memory budget, refusing an empty choice.
async fn read_pdf(
    mut multipart: Multipart,
    budget: &MemoryBudget,
) -> Result<Option<HeldBody>, HtmlError> {
    while let Some(mut field) = multipart.next_field().await.map_err(multipart::malformed)? {
        if field.name() != Some("pdf") {
            continue;
        }
        let mut pdf = Collector::new(budget, MAX_PDF_BYTES);
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // The body limit (the file's limit and a little for the form) was reached.
                Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    return Ok(None);
                }
                Err(e) => return Err(multipart::malformed(e).into()),
            };
            match pdf.push(&chunk) {
                Ok(()) => {}
                Err(ReceiveError::TooLarge { .. }) => return Ok(None),
                Err(e) => return Err(ServiceError::body(e, "PDF").into()),
            }
        }
        let pdf = pdf.finish();
        if !pdf.is_empty() {
            return Ok(Some(pdf));
        }
    }
    Err(HtmlError::bad_request(
        "请选择要核验的 PDF 文件 / choose the PDF to verify",
    ))
}
