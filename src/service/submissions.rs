//! A submission's life before issuance: filing, reading, uploading materials, submitting,
//! pre-review, the window check and the departments' decisions. The JSON API and the window
//! console both come through here.

use std::collections::BTreeMap;

use axum::body::Bytes;
use chrono::Utc;
use futures_util::Stream;
use serde::Serialize;
use utoipa::ToSchema;

use super::changes::update_submission;
use super::submission_view::finished_on;
pub use super::submission_view::{SubmissionView, view, views};
use super::{ServiceError, Services, submission_not_found};
use crate::body::ReceiveError;
use crate::domain::actor::Actor;
use crate::domain::media::{SNIFF_BYTES, sniff};
use crate::domain::plan::SubmissionWrite;
use crate::domain::submission::{
    DECISION_ONLY, Decision, DecisionOutcome, Event, NewSubmission, ReturnReason, Status,
    Submission,
};
use crate::domain::text::quoted;
use crate::domain::window_check::{Presented, WindowReport, compare};
use crate::domain::{ItemCode, MaterialName, ParseError, Role, Sha256Digest, SubmissionId};
use crate::store::FilesError;

/// Files a new submission: an applicant for its own holder, or a clerk or admin for anyone.
#[tracing::instrument(skip_all, fields(actor = %actor.label()))]
pub async fn create(
    services: &Services,
    actor: &Actor,
    new: NewSubmission,
) -> Result<Submission, ServiceError> {
    actor.require(&[Role::Applicant, Role::Clerk, Role::Admin])?;
    if actor.role() == Role::Applicant && !actor.is_holder(new.holder.id()) {
        return Err(ServiceError::forbidden(
            "申请人令牌只能为其绑定的主体申报 / an applicant token files only for its own holder",
        ));
    }
    let template = match services.templates.get(&new.kind) {
        Some(template) => Some(template),
        None if new.kind == DECISION_ONLY => None,
        None => {
            return Err(ServiceError::new(
                super::ErrorKind::Invalid,
                "unknown_kind",
                format!(
                    "未知证照类型 {} / unknown certificate kind; known: {}, or {DECISION_ONLY} for items that end in a decision",
                    quoted(&new.kind),
                    services.templates.kinds().collect::<Vec<_>>().join(", ")
                ),
            )
            .with_field("kind"));
        }
    };
    if let Some(amended) = &new.amends {
        super::lifecycle::check_amendment(services, actor, amended, &new).await?;
    }
    let mut catalogue = Vec::with_capacity(new.items.len());
    for (i, item) in new.items.iter().enumerate() {
        let found = services
                .store
                .service_item(item.code.as_str(), None).await?
                .ok_or_else(|| {
                    ServiceError::invalid(
                        format!("items[{i}].code"),
                        ParseError::new(
                            "unknown_item",
                            format!(
                                "服务目录中没有事项 {} / no item {} in the service catalogue (GET /api/v1/services)",
                                item.code, item.code
                            ),
                        ),
                    )
                })?;
        catalogue.push(found);
    }
    let submission = Submission::create(
        SubmissionId::generate(),
        new,
        template,
        &catalogue,
        Utc::now(),
    )?;
    super::issuance::check_printable(&services.fonts, &submission)?;
    // 一企一证: while the holder's licence of this kind holds, a new one is an amendment.
    // Checked once the declaration is otherwise valid, and again inside the issuance
    // transaction, so two racing applications cannot both issue.
    if template.is_some()
        && submission.amends.is_none()
        && let Some(current) = services
            .store
            .current_certificate(&submission.kind, submission.holder.id())
            .await?
    {
        current.refuse_second_licence(super::calendar::today())?;
    }
    let created = SubmissionWrite::create(submission, &actor.label());
    services.store.save_submission(&created).await?;
    Ok(created.submission)
}

/// The submissions whose promise is overdue (`overdue`) or ends within `due_within` working
/// days from today, soonest first (a clerk or an admin).
pub async fn due(
    services: &Services,
    actor: &Actor,
    due_within: Option<u32>,
    overdue: bool,
) -> Result<Vec<Submission>, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let calendar = super::calendar::calendar(services).await?;
    let today = super::calendar::today();
    let mut found = services.store.submissions_with_promise().await?;
    found.retain(|s| {
        let promise = s.promise_state(&calendar, today, finished_on(s));
        (overdue && promise.overdue)
            || due_within.is_some_and(|n| promise.working_days_left.is_some_and(|left| left <= n))
    });
    found.sort_by_key(|s| (s.due_date, s.created_at));
    Ok(found)
}

/// Pre-review's queue: the submitted files, oldest first (a reviewer or an admin).
pub async fn review_queue(
    services: &Services,
    actor: &Actor,
) -> Result<Vec<Submission>, ServiceError> {
    actor.require(&[Role::Reviewer, Role::Admin])?;
    let mut found = services.store.submissions_in_review().await?;
    found.retain(|s| s.status == Status::Submitted);
    Ok(found)
}

/// A department's queue: the submissions with an item whose turn is the approver's
/// department (any department's, for an admin), overdue first, then by due date (those not
/// yet accepted at the window, without one, after), then the oldest.
pub async fn approval_queue(
    services: &Services,
    actor: &Actor,
) -> Result<Vec<Submission>, ServiceError> {
    actor.require(&[Role::Approver, Role::Admin])?;
    let department = actor.department.as_ref();
    let mut found = services.store.submissions_in_review().await?;
    found.extend(services.store.submissions_with_promise().await?);
    found.retain(|s| !s.awaiting(department).is_empty());
    found.sort_by_key(|s| (s.due_date.is_none(), s.due_date, s.created_at));
    Ok(found)
}

/// A submission the actor may read, or 404/403. `id` is as the caller typed it.
pub async fn load(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<Submission, ServiceError> {
    let id = SubmissionId::parse(id).map_err(|_| submission_not_found(id))?;
    let submission = services
        .store
        .submission(&id)
        .await?
        .ok_or_else(|| submission_not_found(id.as_str()))?;
    actor.may_read(&submission)?;
    Ok(submission)
}

/// The submission and its whole history.
pub async fn read(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<(Submission, Vec<Event>), ServiceError> {
    let submission = load(services, actor, id).await?;
    let history = services.store.events(&submission.id).await?;
    Ok((submission, history))
}

/// The submissions of one holder (the console's search), for staff.
pub async fn of_holder(
    services: &Services,
    actor: &Actor,
    holder_id: &str,
) -> Result<Vec<Submission>, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    Ok(services.store.submissions_by_holder(holder_id).await?)
}

/// An applicant's own submissions, newest first.
pub async fn mine(services: &Services, actor: &Actor) -> Result<Vec<Submission>, ServiceError> {
    actor.require(&[Role::Applicant])?;
    match actor.holder.as_deref() {
        Some(holder) => Ok(services.store.submissions_by_holder(holder).await?),
        None => Ok(Vec::new()),
    }
}

/// Whether a submission exists (the console's search opens it if so), for staff.
pub async fn exists(
    services: &Services,
    actor: &Actor,
    id: &SubmissionId,
) -> Result<bool, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    Ok(services.store.submission(id).await?.is_some())
}

/// Submits a complete submission for pre-review (its owner, a clerk or an admin).
pub async fn submit(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<Submission, ServiceError> {
    let submission = load(services, actor, id).await?;
    actor.may_edit(&submission)?;
    // A photo that cannot be printed is refused now, online, not at issuance.
    if let Some(template) = services.templates.get(&submission.kind) {
        super::issuance::holder_photo(services, template, &submission).await?;
    }
    let (submission, _, ()) = update_submission(services, &submission.id, &actor.label(), |s| {
        Ok((s.submit()?, ()))
    })
    .await?;
    Ok(submission)
}

/// What the pre-reviewer decides.
#[derive(Debug, Clone)]
pub enum PreReview {
    /// Approve: the manifest is frozen.
    Approve,
    /// Return online (线上退件), with a reason for each faulty material.
    Return(Vec<ReturnReason>),
}

pub async fn pre_review(
    services: &Services,
    actor: &Actor,
    id: &str,
    decision: PreReview,
) -> Result<Submission, ServiceError> {
    actor.require(&[Role::Reviewer, Role::Admin])?;
    let submission = load(services, actor, id).await?;
    let (submission, _, ()) = update_submission(services, &submission.id, &actor.label(), |s| {
        let action = match &decision {
            PreReview::Approve => s.approve_pre_review()?,
            PreReview::Return(reasons) => s.return_pre_review(reasons.clone())?,
        };
        Ok((action, ()))
    })
    .await?;
    Ok(submission)
}

/// An item's department approves or rejects it. The department is the approver's own (an
/// admin acts for the item's), so the domain refuses an approver of another department.
pub async fn decide(
    services: &Services,
    actor: &Actor,
    id: &str,
    item: &str,
    outcome: DecisionOutcome,
    comment: String,
) -> Result<Submission, ServiceError> {
    actor.require(&[Role::Approver, Role::Admin])?;
    let submission = load(services, actor, id).await?;
    let item = ItemCode::parse(item)
        .ok()
        .and_then(|code| submission.items.iter().find(|i| i.code == code))
        .ok_or_else(|| {
            let item = quoted(item);
            ServiceError::not_found(
                "unknown_item",
                format!("办件没有事项 {item} / no item {item}"),
            )
        })?;
    let code = item.code.clone();
    let department = actor.department.clone();
    let label = actor.label();
    let (submission, _, ()) = update_submission(services, &submission.id, &label, |s| {
        let decision = Decision {
            decision: outcome,
            comment: comment.clone(),
            by: label.clone(),
            at: Utc::now(),
        };
        Ok((s.decide(&code, department.as_ref(), decision)?, ()))
    })
    .await?;
    Ok(submission)
}

/// What an upload stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Uploaded {
    pub name: MaterialName,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// Streams a material to disk through SHA-256 (never held in memory) and records it; a
/// replaced file is removed, and so is the new one if the record is refused.
pub async fn upload<S, E>(
    services: &Services,
    actor: &Actor,
    id: &str,
    name: &str,
    declared_len: Option<u64>,
    body: S,
) -> Result<Uploaded, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let submission = load(services, actor, id).await?;
    actor.may_edit(&submission)?;
    let name = MaterialName::parse(name).map_err(|e| ServiceError::invalid("name", e))?;
    // Refuse before reading a byte when the answer is already known.
    submission.check_upload(&name)?;
    let limit = services.settings.max_material_bytes;
    if declared_len.is_some_and(|len| len > limit) {
        return Err(material_too_large(limit));
    }
    services.files.room_for(declared_len.unwrap_or(0))?;
    let stored = services
        .files
        .receive(&submission.id, body, limit)
        .await
        .map_err(|e| match e {
            FilesError::Body(ReceiveError::TooLarge { limit }) => material_too_large(limit),
            other => other.into(),
        })?;
    let result = update_submission(services, &submission.id, &actor.label(), |s| {
        s.record_upload(&name, stored.clone())
    })
    .await;
    match result {
        Ok((_, _, replaced)) => {
            if let Some(old) = replaced {
                services.files.remove(&submission.id, &old.file).await;
            }
            Ok(Uploaded {
                name,
                sha256: stored.sha256,
                size: stored.size,
            })
        }
        Err(e) => {
            services.files.remove(&submission.id, &stored.file).await;
            Err(e)
        }
    }
}

/// A stored material as a reader gets it: its name, size, how it may be shown, and the file
/// open at its start.
pub struct MaterialFile {
    pub name: MaterialName,
    pub size: u64,
    /// Its media type when its content is a PDF or an image ([`sniff`]), else `None`: a
    /// download.
    pub inline: Option<&'static str>,
    pub file: tokio::fs::File,
}

/// The media type `file`'s first bytes show, the file left at its start.
async fn sniff_file(file: &mut tokio::fs::File) -> std::io::Result<Option<&'static str>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut head = [0u8; SNIFF_BYTES];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]).await? {
            0 => break,
            n => read += n,
        }
    }
    file.rewind().await?;
    Ok(sniff(&head[..read]))
}

/// Opens an uploaded material for whoever may read the submission but the holder's
/// competitors: its applicant, a pre-reviewer, an approver, a clerk or an admin.
pub async fn material(
    services: &Services,
    actor: &Actor,
    id: &str,
    name: &str,
) -> Result<MaterialFile, ServiceError> {
    let submission = load(services, actor, id).await?;
    let missing = || {
        let name = quoted(name);
        ServiceError::not_found(
            "unknown_material",
            format!("办件没有已上传的材料 {name} / no uploaded material {name}"),
        )
    };
    let material = submission
        .materials
        .iter()
        .find(|m| m.name.as_str() == name)
        .ok_or_else(missing)?;
    let stored = material.upload.as_ref().ok_or_else(missing)?;
    let path = services.files.path(&submission.id, &stored.file);
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(ServiceError::internal)?;
    let inline = sniff_file(&mut file)
        .await
        .map_err(ServiceError::internal)?;
    Ok(MaterialFile {
        name: material.name.clone(),
        size: stored.size,
        inline,
        file,
    })
}

/// How each uploaded material would be shown, judged by its first bytes
/// ([`crate::domain::media::sniff`]): its media type when it is a PDF or an image; materials
/// shown only as downloads are absent.
pub async fn inline_kinds(
    services: &Services,
    submission: &Submission,
) -> BTreeMap<String, &'static str> {
    let mut kinds = BTreeMap::new();
    for material in &submission.materials {
        let Some(stored) = &material.upload else {
            continue;
        };
        let path = services.files.path(&submission.id, &stored.file);
        let Ok(mut file) = tokio::fs::File::open(path).await else {
            continue;
        };
        if let Ok(Some(kind)) = sniff_file(&mut file).await {
            kinds.insert(material.name.to_string(), kind);
        }
    }
    kinds
}

fn material_too_large(limit: u64) -> ServiceError {
    ServiceError::too_large(format!(
        "材料超过大小上限 {limit} 字节 / the material is larger than the {limit}-byte limit"
    ))
}

/// Refuses a window check before the files are read when the submission is not ready for one.
pub async fn ready_for_window_check(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<Submission, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let submission = load(services, actor, id).await?;
    submission.check_window_check()?;
    Ok(submission)
}

/// 核对制: compares what was presented at the window with the frozen manifest and stores the
/// check, in one transaction; returns the audit event's `seq` and the report.
pub async fn window_check(
    services: &Services,
    actor: &Actor,
    id: &SubmissionId,
    presented: &[Presented],
) -> Result<(u64, WindowReport), ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let label = actor.label();
    // Accepted today, the promise runs from tomorrow: its last day is fixed now.
    let calendar = super::calendar::calendar(services).await?;
    let today = super::calendar::today();
    let (_, event, report) = update_submission(services, id, &label, |s| {
        let report = compare(&s.manifest(), presented, label.clone(), Utc::now());
        let due = s
            .promised_working_days
            .map(|days| calendar.add_working_days(today, days));
        Ok((s.record_window_check(report.clone(), due)?, report))
    })
    .await?;
    Ok((event.seq, report))
}
