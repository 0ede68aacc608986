//! `POST /tokens` (admin): make an API token on a running server.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::{DepartmentCode, Role, TokenId, holder::Holder};
use crate::routes::state::AppState;
use crate::service::auth::new_token;
use crate::service::{ErrorKind, ServiceError};
use crate::store::TokenRecord;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    role: String,
    department: Option<String>,
    holder: Option<String>,
}

/// Checks the role's binding: an approver needs a department, an applicant a holder, and no
/// other role takes either.
pub fn parse_binding(
    role: &str,
    department: Option<&str>,
    holder: Option<&str>,
) -> Result<(Role, Option<DepartmentCode>, Option<String>), ServiceError> {
    let role: Role = role.parse().map_err(|e| ServiceError::invalid("role", e))?;
    let department = department
        .map(|d| DepartmentCode::parse(d).map_err(|e| ServiceError::invalid("department", e)))
        .transpose()?;
    let holder = holder
        .map(|h| Holder::normalise_id(h).map_err(|e| ServiceError::invalid("holder", e)))
        .transpose()?;
    let unexpected = |field: &str, message: &str| {
        Err(ServiceError::new(ErrorKind::Invalid, "invalid_binding", message).with_field(field))
    };
    match (role, &department, &holder) {
        (Role::Approver, None, _) => unexpected(
            "department",
            "审批人令牌须绑定部门 / an approver token needs --department",
        ),
        (Role::Applicant, _, None) => unexpected(
            "holder",
            "申请人令牌须绑定主体 / an applicant token needs --holder",
        ),
        (r, _, Some(_)) if r != Role::Applicant => unexpected(
            "holder",
            "只有申请人令牌绑定主体 / only an applicant token has a holder",
        ),
        (r, Some(_), _) if r != Role::Approver => unexpected(
            "department",
            "只有审批人令牌绑定部门 / only an approver token has a department",
        ),
        _ => Ok((role, department, holder)),
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Actor,
    AppJson(body): AppJson<TokenBody>,
) -> Result<(StatusCode, Json<Value>), ServiceError> {
    caller.require(&[Role::Admin])?;
    let (role, department, holder) = parse_binding(
        &body.role,
        body.department.as_deref(),
        body.holder.as_deref(),
    )?;
    let token = new_token(role, department, holder);
    state.store.insert_token(&token.hash, &token.record).await?;
    tracing::info!(token = %token.record.id, role = %role, by = %caller.label(), "token created");
    let r = &token.record;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token.secret, "id": r.id, "role": r.role, "department": r.department,
            "holder": r.holder, "created_at": r.created_at,
        })),
    ))
}

/// Every token's public record: id, role, binding, dates. Never a secret.
pub async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, ServiceError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(json!({ "tokens": state.store.tokens()? })))
}

/// Revokes a token by its public id (`tok_…`); it stops working at once.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Json<TokenRecord>, ServiceError> {
    caller.require(&[Role::Admin])?;
    let record = state
        .store
        .revoke_token(&TokenId(id.clone()))
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                "token_not_found",
                format!("令牌 {id} 不存在 / no token {id}"),
            )
        })?;
    tracing::info!(token = %record.id, by = %caller.label(), "token revoked");
    Ok(Json(record))
}
