//! API tokens on a running server (admin) or a stopped store (the CLI): made, listed,
//! revoked. A token's secret is shown once and never stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::auth::{NewToken, new_token};
use super::{ErrorKind, ServiceError, Services};
use crate::domain::actor::Actor;
use crate::domain::text::quoted;
use crate::domain::token::{TokenRecord, person_name};
use crate::domain::{DepartmentCode, Role, TokenId, holder::Holder};
use crate::store::Store;

/// What a token may do: its role and that role's binding.
#[derive(Debug, Clone)]
pub struct Binding {
    pub role: Role,
    pub department: Option<DepartmentCode>,
    pub holder: Option<String>,
}

impl Binding {
    /// Checks the role's binding: an approver needs a department, an applicant a holder, and no
    /// other role takes either.
    pub fn parse(
        role: &str,
        department: Option<&str>,
        holder: Option<&str>,
    ) -> Result<Self, ServiceError> {
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
            _ => Ok(Self {
                role,
                department,
                holder,
            }),
        }
    }
}

/// Makes a token for `role` bound to a department or a holder, given to `name` (an admin;
/// a clerk makes applicants' tokens only, for the holder at the window).
pub async fn create(
    store: &dyn Store,
    actor: &Actor,
    role: &str,
    department: Option<&str>,
    holder: Option<&str>,
    name: Option<&str>,
) -> Result<NewToken, ServiceError> {
    actor.require(&[Role::Admin, Role::Clerk])?;
    let binding = Binding::parse(role, department, holder)?;
    if actor.role == Role::Clerk && binding.role != Role::Applicant {
        return Err(ServiceError::forbidden(
            "窗口人员只能发放申请人令牌 / a clerk makes applicants' tokens only",
        ));
    }
    let name = name
        .filter(|n| !n.trim().is_empty())
        .map(|n| person_name(n).map_err(|e| ServiceError::invalid("name", e)))
        .transpose()?;
    let token = new_token(binding.role, binding.department, binding.holder, name);
    store.insert_token(&token.hash, &token.record).await?;
    tracing::info!(token = %token.record.id, role = %token.record.role, by = %actor.label(), "token created");
    Ok(token)
}

/// Every token's public record: id, role, binding, dates. Never a secret.
pub async fn list(store: &dyn Store, actor: &Actor) -> Result<Vec<TokenRecord>, ServiceError> {
    actor.require(&[Role::Admin])?;
    Ok(store.tokens().await?)
}

/// Revokes a token by its public id (`tok_…`); it stops working at once.
pub async fn revoke(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
) -> Result<TokenRecord, ServiceError> {
    actor.require(&[Role::Admin])?;
    if actor.token.0 == id {
        return Err(ServiceError::new(
            ErrorKind::Conflict,
            "own_token",
            "不能吊销本次请求所用的令牌，请用另一管理员令牌 / a token cannot revoke itself: use another admin token",
        ));
    }
    let record = store
        .revoke_token(&TokenId(id.to_owned()))
        .await?
        .ok_or_else(|| {
            let id = quoted(id);
            ServiceError::not_found(
                "token_not_found",
                format!("令牌 {id} 不存在 / no token {id}"),
            )
        })?;
    tracing::info!(token = %record.id, by = %actor.label(), "token revoked");
    Ok(record)
}

/// How long pages may print the token names read last: a name given on another node shows
/// within this.
pub const NAMES_FRESH_FOR: Duration = Duration::from_secs(30);

/// The names given to tokens, by the label their holders' actions are recorded under, as
/// last read; every token is read to build it, so it is not read for every page.
#[derive(Default)]
pub struct NameCache {
    read: tokio::sync::Mutex<Option<(Instant, Names)>>,
}

/// `clerk:tok_…` → 王芳 · 3 号窗口（窗口人员）.
pub type Names = Arc<BTreeMap<String, String>>;

impl NameCache {
    /// Makes the next page read the names again (this node made or revoked a token).
    pub async fn forget(&self) {
        *self.read.lock().await = None;
    }
}

/// The names given to tokens with their role, by the label their holders' actions are
/// recorded under (`clerk:tok_…` → 王芳 · 3 号窗口（窗口人员）): what pages print in place of a
/// token id.
pub async fn names(services: &Services) -> Result<Names, ServiceError> {
    let mut read = services.token_names.read.lock().await;
    if let Some((at, names)) = read.as_ref()
        && at.elapsed() < NAMES_FRESH_FOR
    {
        return Ok(names.clone());
    }
    let names: Names = Arc::new(
        services
            .store
            .tokens()
            .await?
            .into_iter()
            .filter_map(|t| {
                // The role beside the name: one person's name given to another role's token
                // cannot pass for them.
                let name = format!("{}（{}）", t.name?, t.role.chinese());
                Some((format!("{}:{}", t.role, t.id), name))
            })
            .collect(),
    );
    *read = Some((Instant::now(), names.clone()));
    Ok(names)
}
