//! `POST /tokens`, `GET /tokens`, `POST /tokens/{id}/revoke` (admin): API tokens on a running
//! server.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::token::TokenRecord;
use crate::routes::state::AppState;
use crate::service::{ServiceError, tokens};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    role: String,
    department: Option<String>,
    holder: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Actor,
    AppJson(body): AppJson<TokenBody>,
) -> Result<(StatusCode, Json<Value>), ServiceError> {
    let token = tokens::create(
        &*state.store,
        &caller,
        &body.role,
        body.department.as_deref(),
        body.holder.as_deref(),
    )
    .await?;
    let r = &token.record;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token.secret, "id": r.id, "role": r.role, "department": r.department,
            "holder": r.holder, "created_at": r.created_at,
        })),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, ServiceError> {
    Ok(Json(
        json!({ "tokens": tokens::list(&*state.store, &caller)? }),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<TokenRecord>, ServiceError> {
    Ok(Json(tokens::revoke(&*state.store, &caller, &id).await?))
}
