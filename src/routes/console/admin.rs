//! The admin's pages: tokens with the name of whom each was given to (create, list, revoke),
//! the signing keys (rotate, revoke with the time the key stopped being trusted), and the
//! catalogue and the calendar (edited as the API's JSON bodies). Each calls the use-case the
//! API calls, so a page accepts nothing the API would refuse.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{CsrfForm, SignedIn, csrf_of, form_fields, path, render};
use crate::domain::Role;
use crate::domain::calendar::{YearCalendar, beijing_local_time};
use crate::domain::catalogue::ServiceSpec;
use crate::routes::bodies::year as parse_year;
use crate::routes::html::HtmlError;
use crate::routes::state::AppState;
use crate::service::{ErrorKind, ServiceError, calendar, catalogue, keys, tokens};

async fn tokens_page(
    state: &AppState,
    who: &SignedIn,
    status: StatusCode,
    extra: serde_json::Value,
) -> Result<Response, HtmlError> {
    // A clerk makes applicants' tokens here but does not see the list.
    let mut list = match who.actor.role {
        Role::Admin => tokens::list(&*state.store, &who.actor).await?,
        _ => {
            who.actor
                .require(&[Role::Admin, Role::Clerk])
                .map_err(ServiceError::from)?;
            Vec::new()
        }
    };
    list.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    let mut context = json!({"tokens": list, "roles": Role::ALL.map(|r| r.to_string())});
    if let (Some(map), Some(extra)) = (context.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    let mut page = render(state, who, "admin_tokens.html", context).await?;
    *page.status_mut() = status;
    Ok(page)
}

pub async fn list_tokens(
    State(state): State<AppState>,
    who: SignedIn,
) -> Result<Response, HtmlError> {
    tokens_page(&state, &who, StatusCode::OK, json!({})).await
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    csrf: Option<String>,
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    holder: String,
}

/// Makes a token and shows its secret on the answer to this request only (the page is not
/// cached and the secret is never stored).
pub async fn create_token(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    form: Result<Form<NewTokenForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let form = form_fields(form)?;
    who.check_csrf(&headers, form.csrf.as_deref())?;
    let given = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let made = tokens::create(
        &*state.store,
        &who.actor,
        &form.role,
        given(&form.department).as_deref(),
        given(&form.holder).as_deref(),
        Some(form.name.as_str()),
    )
    .await;
    match made {
        Ok(token) => {
            state.token_names.forget().await;
            let created = json!({"secret": token.secret, "record": token.record});
            tokens_page(
                &state,
                &who,
                StatusCode::CREATED,
                json!({"created": created}),
            )
            .await
        }
        Err(e) if e.kind == crate::service::ErrorKind::Internal => Err(e.into()),
        Err(e) => {
            let status = crate::routes::error::status_of(e.kind);
            let error = json!({"message": e.message, "field": e.field});
            let values = json!({"role": form.role, "name": form.name,
                                "department": form.department, "holder": form.holder});
            tokens_page(
                &state,
                &who,
                status,
                json!({"error": error, "values": values}),
            )
            .await
        }
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    who.check_csrf(&headers, csrf_of(form).as_deref())?;
    let id = path(id)?;
    tokens::revoke(&*state.store, &who.actor, &id)
        .await
        .map_err(|e| HtmlError::from(e).back_to("/console/admin/tokens"))?;
    Ok(Redirect::to("/console/admin/tokens").into_response())
}

pub async fn list_keys(
    State(state): State<AppState>,
    who: SignedIn,
) -> Result<Response, HtmlError> {
    let list = keys::list(&*state.keys.read().await, &who.actor)?;
    render(&state, &who, "admin_keys.html", json!({"keys": list})).await
}

#[derive(Deserialize)]
pub struct RotateForm {
    csrf: Option<String>,
    confirm: Option<String>,
}

/// Rotates only when the admin ticked the confirmation: every certificate from now on is
/// signed by the new key.
pub async fn rotate_key(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    form: Result<Form<RotateForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let form = form_fields(form)?;
    who.check_csrf(&headers, form.csrf.as_deref())?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(HtmlError::bad_request(
            "请勾选确认后再轮换密钥 / tick the confirmation to rotate the key",
        )
        .back_to("/console/admin/keys"));
    }
    keys::rotate(&*state.store, &state.custody, &state.keys, &who.actor)
        .await
        .map_err(|e| HtmlError::from(e).back_to("/console/admin/keys"))?;
    Ok(Redirect::to("/console/admin/keys").into_response())
}

#[derive(Deserialize)]
pub struct RevokeKeyForm {
    csrf: Option<String>,
    #[serde(default)]
    compromised_since: String,
}

/// Marks a retired key compromised from a time typed in Beijing time.
pub async fn revoke_key(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    kid: Result<Path<String>, PathRejection>,
    form: Result<Form<RevokeKeyForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let form = form_fields(form)?;
    who.check_csrf(&headers, form.csrf.as_deref())?;
    let kid = path(kid)?;
    let back = "/console/admin/keys";
    let since = beijing_local_time(&form.compromised_since).map_err(|e| {
        HtmlError::from(ServiceError::invalid("compromised_since", e)).back_to(back)
    })?;
    keys::revoke(
        &*state.store,
        &state.custody,
        &state.keys,
        &who.actor,
        &kid,
        since,
    )
    .await
    .map_err(|e| HtmlError::from(e).back_to(back))?;
    Ok(Redirect::to(back).into_response())
}

/// The catalogue: every item's latest version, and who changed it last.
pub async fn catalogue(
    State(state): State<AppState>,
    who: SignedIn,
) -> Result<Response, HtmlError> {
    who.actor
        .require(&[Role::Admin])
        .map_err(ServiceError::from)?;
    let items = catalogue::list(&state).await?;
    let this_year = chrono::Datelike::year(&calendar::today());
    render(
        &state,
        &who,
        "admin_catalogue.html",
        json!({"items": items, "this_year": this_year}),
    )
    .await
}

/// One item's edit page: its specification as JSON, the API's `PUT /services/{code}` body.
pub async fn service_form(
    State(state): State<AppState>,
    who: SignedIn,
    code: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    who.actor
        .require(&[Role::Admin])
        .map_err(ServiceError::from)?;
    let code = path(code)?;
    let item = catalogue::get(&state, &code, None).await?;
    let text = serde_json::to_string_pretty(&item.spec).map_err(ServiceError::internal)?;
    editor(
        &state,
        &who,
        StatusCode::OK,
        json!({"item": item, "code": code, "text": text}),
    )
    .await
}

async fn editor(
    state: &AppState,
    who: &SignedIn,
    status: StatusCode,
    context: serde_json::Value,
) -> Result<Response, HtmlError> {
    let mut page = render(state, who, "admin_edit.html", context).await?;
    *page.status_mut() = status;
    Ok(page)
}

#[derive(Deserialize)]
pub struct JsonForm {
    csrf: Option<String>,
    #[serde(default)]
    text: String,
}

/// A refusal shown on the editor, what was typed kept.
fn refused(e: &ServiceError) -> (StatusCode, serde_json::Value) {
    (
        crate::routes::error::status_of(e.kind),
        json!({"message": e.message, "field": e.field}),
    )
}

/// Saves a new version of the item through `catalogue::put`, validated as the API validates.
pub async fn save_service(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    code: Result<Path<String>, PathRejection>,
    form: Result<Form<JsonForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let form = form_fields(form)?;
    who.check_csrf(&headers, form.csrf.as_deref())?;
    let code = path(code)?;
    let text = form.text;
    let saved = match serde_json::from_str::<ServiceSpec>(&text) {
        Ok(spec) => catalogue::put(&state, &who.actor, &code, spec).await,
        Err(e) => Err(ServiceError::bad_request("invalid_json", e.to_string())),
    };
    match saved {
        Ok(_) => Ok(Redirect::to("/console/admin/catalogue").into_response()),
        Err(e) if e.kind == ErrorKind::Internal => Err(e.into()),
        Err(e) => {
            let (status, error) = refused(&e);
            let item = catalogue::get(&state, &code, None).await.ok();
            let context = json!({"item": item, "code": code, "text": text, "error": error});
            editor(&state, &who, status, context).await
        }
    }
}

/// A year's calendar as JSON, the API's `PUT /calendar/{year}` body (the shipped one, or
/// an empty year when none is known).
pub async fn calendar_form(
    State(state): State<AppState>,
    who: SignedIn,
    year: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    who.actor
        .require(&[Role::Admin])
        .map_err(ServiceError::from)?;
    let year = parse_year(&path(year)?)?;
    let known = match calendar::year(&state, year).await {
        Ok(known) => known,
        Err(e) if e.kind == ErrorKind::NotFound => YearCalendar {
            year,
            source: String::new(),
            confirmed: false,
            holidays: Vec::new(),
        },
        Err(e) => return Err(e.into()),
    };
    let text = serde_json::to_string_pretty(&known).map_err(ServiceError::internal)?;
    editor(
        &state,
        &who,
        StatusCode::OK,
        json!({"year": year, "text": text}),
    )
    .await
}

/// Sets the year through `calendar::set_year`, validated as the API validates.
pub async fn save_calendar(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    year: Result<Path<String>, PathRejection>,
    form: Result<Form<JsonForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let form = form_fields(form)?;
    who.check_csrf(&headers, form.csrf.as_deref())?;
    let year = parse_year(&path(year)?)?;
    let text = form.text;
    let saved = match serde_json::from_str::<YearCalendar>(&text) {
        Ok(body) => calendar::set_year(&state, &who.actor, year, body).await,
        Err(e) => Err(ServiceError::bad_request("invalid_json", e.to_string())),
    };
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/console/admin/calendar/{year}")).into_response()),
        Err(e) if e.kind == ErrorKind::Internal => Err(e.into()),
        Err(e) => {
            let (status, error) = refused(&e);
            editor(
                &state,
                &who,
                status,
                json!({"year": year, "text": text, "error": error}),
            )
            .await
        }
    }
}
