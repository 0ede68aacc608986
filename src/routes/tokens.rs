//! `POST /tokens`, `GET /tokens`, `POST /tokens/{id}/revoke` (admin): API tokens on a running
//! server.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::token::TokenRecord;
use crate::routes::state::AppState;
use crate::service::{ServiceError, tokens};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// `applicant`, `pre_reviewer`, `approver`, `clerk` or `admin`.
    role: String,
    /// The department an approver decides for (a code of the catalogue).
    department: Option<String>,
    /// The holder (USCC or ID number) an applicant files for.
    holder: Option<String>,
    /// 持有人姓名，显示在办理记录和回执上 / whom the token is given to, shown in history and on
    /// receipts (at most 40 characters).
    name: Option<String>,
}

/// A new token: the secret, shown this once, and its record.
#[derive(Serialize, ToSchema)]
pub struct NewToken {
    /// 令牌本身，仅此一次显示 / the token itself, shown this once.
    token: String,
    #[serde(flatten)]
    record: TokenRecord,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenRecord>,
}

/// 新建令牌（管理员） / Create a token (admin).
#[utoipa::path(
    post,
    path = "/tokens",
    tag = "administration",
    request_body = TokenBody,
    security(("bearer" = [])),
    responses((status = 201, description = "已建立 / created", body = NewToken))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Actor,
    AppJson(body): AppJson<TokenBody>,
) -> Result<(StatusCode, Json<NewToken>), ServiceError> {
    let token = tokens::create(
        &*state.store,
        &caller,
        &body.role,
        body.department.as_deref(),
        body.holder.as_deref(),
        body.name.as_deref(),
    )
    .await?;
    state.token_names.forget().await;
    Ok((
        StatusCode::CREATED,
        Json(NewToken {
            token: token.secret,
            record: token.record,
        }),
    ))
}

/// 全部令牌（不含令牌本身） / Every token's record, never the token itself (admin).
#[utoipa::path(
    get,
    path = "/tokens",
    tag = "administration",
    security(("bearer" = [])),
    responses((status = 200, description = "令牌 / tokens", body = TokenList))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<TokenList>, ServiceError> {
    Ok(Json(TokenList {
        tokens: tokens::list(&*state.store, &caller).await?,
    }))
}

/// 吊销令牌 / Revoke a token (admin).
#[utoipa::path(
    post,
    path = "/tokens/{id}/revoke",
    tag = "administration",
    params(("id" = String, Path, description = "令牌编号 / the token's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "已吊销 / revoked", body = TokenRecord))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<TokenRecord>, ServiceError> {
    Ok(Json(tokens::revoke(&*state.store, &caller, &id).await?))
}
