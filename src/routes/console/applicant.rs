//! The applicant's pages: their submissions, the catalogue, the application form, uploading
//! materials (one request per file, as `PUT /api/v1/submissions/{id}/materials/{name}`) and
//! submitting. The form is turned into the API's own request body and goes through the same
//! parsing and use-case, so a page can accept nothing the API would refuse.

use std::collections::{BTreeMap, BTreeSet};

use axum::Form;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CsrfForm, SignedIn, csrf_of, field, form_fields, multipart_form, path, render};
use crate::domain::Role;
use crate::domain::submission::DECISION_ONLY;
use crate::routes::bodies::{CreateBody, parse_new};
use crate::routes::html::HtmlError;
use crate::routes::limits::declared_length;
use crate::routes::multipart::{self, Parts};
use crate::routes::state::AppState;
use crate::service::submissions::{self, Uploaded};
use crate::service::{ServiceError, catalogue, certificates};

/// The applicant's home: their submissions, newest first, and the way to file a new one.
pub async fn home(state: &AppState, who: &SignedIn) -> Result<Response, HtmlError> {
    let mine = submissions::mine(state, &who.actor).await?;
    let views = serde_json::to_value(submissions::views(state, &mine).await?)
        .map_err(ServiceError::internal)?;
    render(
        state,
        who,
        "applicant_home.html",
        json!({"submissions": views}),
    )
    .await
}

/// The catalogue: every service one can apply for, with its guide.
pub async fn services(State(state): State<AppState>, who: SignedIn) -> Result<Response, HtmlError> {
    let items = catalogue::services_to_apply_for(&state).await?;
    render(
        &state,
        &who,
        "applicant_services.html",
        json!({"items": items}),
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct ApplyQuery {
    /// The certificate an amendment changes: the form starts from what it was issued for.
    amends: Option<String>,
}

/// The application form for a catalogue service: the holder, the certificate's fields with
/// their limits, and the items of the same kind to apply for together (一企一证).
pub async fn form(
    State(state): State<AppState>,
    who: SignedIn,
    code: Result<Path<String>, PathRejection>,
    query: Result<Query<ApplyQuery>, QueryRejection>,
) -> Result<Response, HtmlError> {
    let code = path(code)?;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let mut values = json!({"items": [code]});
    if let Some(amends) = query.amends.as_deref().filter(|a| !a.is_empty()) {
        values = amendment_values(&state, &who, amends).await?;
    }
    apply_page(&state, &who, &code, StatusCode::OK, None, values).await
}

/// What an amendment starts from: the holder, fields and items of the submission the
/// certificate was issued for.
async fn amendment_values(
    state: &AppState,
    who: &SignedIn,
    serial: &str,
) -> Result<Value, HtmlError> {
    let certificate = certificates::read(state, &who.actor, serial).await?;
    let issued_for = submissions::load(state, &who.actor, certificate.submission.as_str()).await?;
    let items: Vec<&str> = issued_for.items.iter().map(|i| i.code.as_str()).collect();
    Ok(json!({
        "holder_name": issued_for.holder.name(),
        "holder_id": issued_for.holder.id(),
        "fields": issued_for.fields,
        "items": items,
        "amends": certificate.content.id.to_string(),
    }))
}

async fn apply_page(
    state: &AppState,
    who: &SignedIn,
    code: &str,
    status: StatusCode,
    error: Option<Value>,
    values: Value,
) -> Result<Response, HtmlError> {
    let item = catalogue::get(state, code, None).await?;
    let kind = item.spec.kind.clone();
    let template = kind.as_deref().and_then(|k| state.templates.get(k));
    // Items of the same kind can share one certificate (a licence lists every category).
    let mut together = Vec::new();
    if let Some(kind) = &kind {
        together = catalogue::list(state).await?;
        together.retain(|i| i.spec.kind.as_deref() == Some(kind));
    }
    let mut page = render(
        state,
        who,
        "applicant_apply.html",
        json!({
            "item": item,
            "template": template.map(|t| json!({
                "title": t.title,
                "holder": t.holder,
                "holder_label": t.holder_label,
                "holder_id_label": t.holder_id_label,
                "max_items": t.max_items,
                "fields": t.fields.iter().map(|f| json!({
                    "key": f.key, "label": f.label, "required": f.required, "max_chars": f.max_chars,
                })).collect::<Vec<_>>(),
            })),
            "together": together,
            "holder_id": who.actor.holder,
            "values": values,
            "error": error,
        }),
    )
    .await?;
    *page.status_mut() = status;
    Ok(page)
}

/// Creates the draft from the form (fields as `field.<key>`, items as `item`, repeated) and
/// opens it; a refusal shows the form again with what was typed and the field named.
pub async fn apply(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    code: Result<Path<String>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, HtmlError> {
    let code = path(code)?;
    let pairs = form_fields(form)?;
    let value = |name: &str| field(&pairs, name).map(str::to_owned);
    who.check_csrf(&headers, value("csrf").as_deref())?;
    let item = catalogue::get(&state, &code, None).await?;
    let fields: BTreeMap<String, String> = pairs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("field.")?.to_owned(), v.clone())))
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let items: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "item")
        .map(|(_, v)| v.clone())
        .collect();
    let holder_id = match who.actor.role {
        Role::Applicant => who.actor.holder.clone().unwrap_or_default(),
        _ => value("holder_id").unwrap_or_default(),
    };
    let kind = item.spec.kind.clone();
    let holder_type = kind
        .as_deref()
        .and_then(|k| state.templates.get(k))
        .map(|t| serde_json::to_value(t.holder).unwrap_or_default())
        .unwrap_or_else(|| value("holder_type").unwrap_or_default().into());
    let amends = value("amends").filter(|a| !a.is_empty());
    let body = json!({
        "holder": {"type": holder_type, "id": holder_id, "name": value("holder_name").unwrap_or_default()},
        "kind": kind.unwrap_or_else(|| DECISION_ONLY.to_owned()),
        "items": items.iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
        "fields": fields,
        "amends": amends,
    });
    let created = match serde_json::from_value::<CreateBody>(body) {
        Ok(body) => match parse_new(body) {
            Ok(new) => submissions::create(&state, &who.actor, new).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(ServiceError::bad_request("invalid_form", e.to_string())),
    };
    match created {
        Ok(submission) => {
            tracing::info!(submission = %submission.id, "filed from the console");
            Ok(Redirect::to(&format!("/console/submissions/{}", submission.id)).into_response())
        }
        Err(e) if e.kind == crate::service::ErrorKind::Internal => Err(e.into()),
        Err(e) => {
            let status = crate::routes::error::status_of(e.kind);
            let error = json!({"message": e.message, "field": e.field});
            let values = json!({
                "holder_name": value("holder_name"), "holder_id": value("holder_id"),
                "fields": fields, "items": items, "amends": amends,
            });
            apply_page(&state, &who, &code, status, Some(error), values).await
        }
    }
}

/// One material, the request body being the file (the page's script sends it with its
/// progress); answers as the API does, with the digest the server computed.
pub async fn upload(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    ids: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Result<Json<Uploaded>, HtmlError> {
    who.check_csrf(&headers, None)?;
    let (id, name) = path(ids)?;
    let uploaded = submissions::upload(
        &state,
        &who.actor,
        &id,
        &name,
        declared_length(&headers),
        body.into_data_stream(),
    )
    .await?;
    Ok(Json(uploaded))
}

/// The same without script: a multipart form whose first part is `csrf` and whose file parts
/// are named by material, each material at most once (a form has one input per material);
/// an empty file input is skipped.
pub async fn upload_form(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    multipart: Result<Parts, MultipartRejection>,
) -> Result<Response, HtmlError> {
    let (mut multipart, submission) = multipart_form(&state, &who, &headers, id, multipart).await?;
    who.actor
        .may_edit(&submission)
        .map_err(ServiceError::from)?;
    let back = format!("/console/submissions/{}", submission.id);
    let mut named = BTreeSet::new();
    while let Some(part) = multipart.next_field().await.map_err(multipart::malformed)? {
        let name = multipart::decode_name(part.name().unwrap_or_default());
        if !named.insert(name.clone()) || named.len() > submission.materials.len() {
            return Err(HtmlError::bad_request(format!(
                "每份材料在一次提交中只能出现一次，至多 {} 份 / each material at most once per form, {} in all",
                submission.materials.len(),
                submission.materials.len()
            ))
            .back_to(&back));
        }
        if part.file_name().is_none_or(str::is_empty) {
            continue;
        }
        submissions::upload(
            &state,
            &who.actor,
            submission.id.as_str(),
            &name,
            None,
            part,
        )
        .await
        .map_err(|e| HtmlError::from(e).back_to(&back))?;
    }
    Ok(Redirect::to(&format!("{back}#materials")).into_response())
}

/// Submits the draft (or the fixed return) for pre-review.
pub async fn submit(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    who.check_csrf(&headers, csrf_of(form).as_deref())?;
    let id = path(id)?;
    let back = format!("/console/submissions/{id}");
    submissions::submit(&state, &who.actor, &id)
        .await
        .map_err(|e| HtmlError::from(e).back_to(&back))?;
    Ok(Redirect::to(&back).into_response())
}
