//! A certificate's life after issue: who may file an amendment (变更; `issuance` issues it as
//! the next version), withdrawing items (注销 one product category), suspension (暂扣) and
//! reinstatement. Revocation, the end of that life, is in `certificates`.

use chrono::{NaiveDate, Utc};

use super::certificates::stored;
use super::changes::update_status;
use super::issuance::{CHINA, Signer, sign_and_store, template_of, too_many_versions, unused_code};
use super::{ServiceError, Services};
use crate::domain::actor::Actor;
use crate::domain::certificate::{Certificate, RevocationReason};
use crate::domain::identifier::Identifier;
use crate::domain::plan::Provenance;
use crate::domain::submission::{Action, NewSubmission};
use crate::domain::{DepartmentCode, ItemCode, ParseError, Refusal, Role};

fn today() -> NaiveDate {
    Utc::now().with_timezone(&CHINA).date_naive()
}

/// Checked when an amendment is filed: the certificate exists, is in force, is of the same
/// kind and holder, and belongs to the filing applicant (a clerk or an admin may file for
/// anyone).
pub async fn check_amendment(
    services: &Services,
    actor: &Actor,
    amended: &Identifier,
    new: &NewSubmission,
) -> Result<(), ServiceError> {
    let certificate = services.store.certificate(amended).await?.ok_or_else(|| {
        ServiceError::invalid(
            "amends",
            ParseError::new(
                "unknown_certificate",
                format!("证照 {amended} 不存在 / no certificate {amended}"),
            ),
        )
    })?;
    let content = &certificate.content;
    actor.may_read_certificate(content.holder.id())?;
    if content.kind != new.kind {
        return Err(ServiceError::invalid(
            "kind",
            ParseError::new(
                "amendment_of_another_kind",
                format!(
                    "变更须与原证照类型相同（{}） / an amendment keeps the kind {}",
                    content.kind, content.kind
                ),
            ),
        ));
    }
    if content.holder.id() != new.holder.id() {
        return Err(ServiceError::invalid(
            "holder.id",
            ParseError::new(
                "amendment_of_another_holder",
                "变更不能更换持证主体 / an amendment keeps the holder's id",
            ),
        ));
    }
    if new.renew {
        certificate.check_renewable(today())?;
    } else {
        certificate.check_amendable(today())?;
    }
    Ok(())
}

/// The departments that decided the certificate's items: they, with the admin, may suspend
/// and reinstate it.
async fn departments(
    services: &Services,
    certificate: &Certificate,
) -> Result<Vec<(ItemCode, DepartmentCode)>, ServiceError> {
    let submission = services
        .store
        .submission(&certificate.submission)
        .await?
        .ok_or_else(|| ServiceError::internal("a certificate's submission is gone"))?;
    Ok(submission
        .items
        .into_iter()
        .map(|i| (i.code, i.department))
        .collect())
}

/// An admin, or an approver of one of `owners`.
fn require_owner(actor: &Actor, owners: &[&DepartmentCode]) -> Result<(), ServiceError> {
    actor.require(&[Role::Admin, Role::Approver])?;
    if actor.role() == Role::Approver
        && !actor
            .department
            .as_ref()
            .is_some_and(|d| owners.contains(&d))
    {
        return Err(ServiceError::forbidden(
            "只有发证部门的审批人或管理员可以操作 / only the issuing department's approver or an admin may do this",
        ));
    }
    Ok(())
}

/// Changes the status of a certificate as its issuing department (or an admin) and
/// publishes the change in the status list.
async fn change_as_issuer(
    services: &Services,
    actor: &Actor,
    id: &str,
    change: impl Fn(&mut Certificate) -> Result<Action, Refusal> + Send + Sync,
) -> Result<Certificate, ServiceError> {
    actor.require(&[Role::Admin, Role::Approver])?;
    let owners = departments(services, &stored(services, id).await?).await?;
    require_owner(actor, &owners.iter().map(|(_, d)| d).collect::<Vec<_>>())?;
    let certificate = update_status(services, id, &actor.label(), change).await?;
    services.status_lists.certificates_changed();
    Ok(certificate)
}

/// Suspends a certificate in force (暂扣), through `until` if given.
pub async fn suspend(
    services: &Services,
    actor: &Actor,
    id: &str,
    reason: String,
    until: Option<NaiveDate>,
) -> Result<Certificate, ServiceError> {
    let certificate = change_as_issuer(services, actor, id, |c| {
        c.suspend(reason.clone(), until, Utc::now(), today())
    })
    .await?;
    tracing::warn!(certificate = %id, ?until, by = %actor.label(), "certificate suspended");
    Ok(certificate)
}

/// Ends a suspension.
pub async fn reinstate(
    services: &Services,
    actor: &Actor,
    id: &str,
    reason: String,
) -> Result<Certificate, ServiceError> {
    let certificate = change_as_issuer(services, actor, id, |c| {
        c.reinstate(reason.clone(), today())
    })
    .await?;
    tracing::info!(certificate = %id, by = %actor.label(), "certificate reinstated");
    Ok(certificate)
}

/// What withdrawing items did.
pub enum Withdrawal {
    /// A new version without them, which superseded the old one.
    Successor(Certificate),
    /// They were the last items: the certificate was revoked instead.
    Revoked(Certificate),
}

/// Withdraws items (product categories) from a certificate in force: an admin, or an
/// approver of the department that owns every one of them.
pub async fn withdraw_items(
    services: &Services,
    actor: &Actor,
    id: &str,
    items: Vec<ItemCode>,
    reason: String,
) -> Result<Withdrawal, ServiceError> {
    actor.require(&[Role::Admin, Role::Approver])?;
    let certificate = stored(services, id).await?;
    let owners = departments(services, &certificate).await?;
    let invalid = |field: String, code, message: String| {
        ServiceError::invalid(field, ParseError::new(code, message))
    };
    if items.is_empty() {
        return Err(invalid(
            "items".into(),
            "items_required",
            "请列出要注销的事项 / name at least one item to withdraw".into(),
        ));
    }
    for (i, code) in items.iter().enumerate() {
        if items[..i].contains(code) {
            return Err(invalid(
                format!("items[{i}]"),
                "duplicate_item",
                "事项代码重复 / an item code appears twice".into(),
            ));
        }
        if !certificate.content.items.iter().any(|c| &c.code == code) {
            return Err(invalid(
                format!("items[{i}]"),
                "unknown_item",
                format!("证照上没有事项 {code} / the certificate lists no item {code}"),
            ));
        }
        let owner: Vec<&DepartmentCode> = owners
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, d)| d)
            .collect();
        require_owner(actor, &owner)?;
    }
    let today = today();
    certificate.check_amendable(today)?;
    if certificate.content.items.len() == items.len() {
        let codes: Vec<&str> = items.iter().map(ItemCode::as_str).collect();
        let text = format!(
            "全部事项已注销（{}）：{reason} / every item withdrawn: {reason}",
            codes.join("、")
        );
        let revoked = update_status(services, id, &actor.label(), |c| {
            c.revoke(
                RevocationReason::CessationOfOperation,
                text.clone(),
                Utc::now(),
            )
        })
        .await?;
        services.status_lists.certificates_changed();
        tracing::warn!(certificate = %id, by = %actor.label(), "last items withdrawn: revoked");
        return Ok(Withdrawal::Revoked(revoked));
    }
    let template = template_of(services, &certificate.content.kind)?;
    let code = unused_code(services).await?;
    let signer = Signer::take(services).await?;
    let mut content = certificate
        .content
        .successor(code, signer.issue_date)
        .ok_or_else(too_many_versions)?;
    content.items.retain(|item| !items.contains(&item.code));
    // The next version prints the same photo.
    let photo = services
        .store
        .certificate_photo(&certificate.content.id)
        .await?;
    let successor = sign_and_store(
        services,
        actor,
        signer,
        content,
        template,
        photo,
        certificate.submission.clone(),
        Provenance::Withdrawal {
            items: &items,
            reason: &reason,
        },
    )
    .await?;
    tracing::info!(certificate = %id, successor = %successor.content.id, "items withdrawn");
    Ok(Withdrawal::Successor(successor))
}
