//! Batch issuance: many certificates from one file of lines, each an approved submission or
//! an existing licence to migrate. Every line is idempotent (an issued submission, a migrated
//! former number, is reported as already issued and issues nothing), so a batch that stopped
//! half-way is finished by running it again. The CLI runs batches against a stopped store;
//! a running server stores each batch, its lines and each line's result, and issues them in
//! the background on the node that holds the batch's lease, or on another once that node
//! stops renewing it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use utoipa::ToSchema;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::issuance::{
    CHINA, Signer, check_printable, issuer_info, new_identifier, sign_and_store, unused_code,
};
use super::{ErrorKind, ServiceError, Services, issuance, submission_not_found};
use crate::domain::actor::Actor;
use crate::domain::batch::{
    BatchLine, BatchRecord, CatalogueName, Lease, LineResult, LineText, MAX_BATCH_LINES,
    MAX_LINE_BYTES, Migration, NumberedLine, NumberedResult,
};
use crate::domain::certificate::{CertContent, Certificate};
use crate::domain::plan::Provenance;
use crate::domain::submission::{Status, Submission};
use crate::domain::text::{quoted, quoted_parser_message};
use crate::domain::{DepartmentCode, ParseError, Refusal, Role, SubmissionId};
use crate::metrics::Limit;
use crate::store::StoreError;

/// Lines issued at once: enough to keep every core rendering while one line is being stored.
pub const DEFAULT_JOBS: usize = 4;

/// Re-issues an existing licence as an electronic one (a clerk or an admin): its holder,
/// categories, fields and dates as the migration states them, each category printed as the
/// catalogue names it (the paper's wording kept in the record), its former number kept in the
/// record and bound by the signature; 409 `already_migrated` if that number was migrated.
/// 一企一证: when the holder already holds a licence of this kind, the migrated categories
/// and number join it as its next version (see [`merged`]).
pub async fn migrate(
    services: &Services,
    actor: &Actor,
    migration: Migration,
) -> Result<Certificate, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let template = services.templates.get(&migration.kind).ok_or_else(|| {
        ServiceError::invalid(
            "migrate.kind",
            ParseError::new(
                "unknown_kind",
                format!(
                    "未知证照类型 {} / unknown certificate kind",
                    quoted(&migration.kind)
                ),
            ),
        )
    })?;
    let now = Utc::now();
    let today = now.with_timezone(&CHINA).date_naive();
    if migration.expiry_date < today {
        return Err(ServiceError::invalid(
            "migrate.expiry_date",
            ParseError::new(
                "licence_expired",
                "原证书已过有效期，不予迁移 / the licence has expired: it is not migrated",
            ),
        ));
    }
    migration.check(template, now)?;
    let names = catalogue_names(services, &migration).await?;
    let submission = Submission::migrated(
        SubmissionId::generate(),
        &migration,
        template,
        &names,
        &actor.label(),
        now,
    )?;
    check_printable(&services.fonts, &submission).map_err(|mut e| {
        e.field = e.field.map(|field| format!("migrate.{field}"));
        e
    })?;
    // Lines of one holder may run side by side: one stores a licence while another was
    // building its own first version, which the store then refuses; the latter is built
    // again as the next version of what is now in force.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match migrate_once(services, actor, &migration, &submission, template, today).await {
            Err(e) if attempts < MIGRATION_ATTEMPTS && is_race(&e) => continue,
            result => return result,
        }
    }
}

/// How often a migration line is built again after a line of the same holder stored first.
const MIGRATION_ATTEMPTS: usize = 8;

/// The store refused what another line of the same holder changed meanwhile.
fn is_race(e: &ServiceError) -> bool {
    matches!(e.code, "licence_in_force" | "certificate_superseded")
}

/// Builds, signs and stores a migrated licence once: a first version, or the next version
/// of the licence in force.
async fn migrate_once(
    services: &Services,
    actor: &Actor,
    migration: &Migration,
    submission: &Submission,
    template: &crate::domain::template::Template,
    today: chrono::NaiveDate,
) -> Result<Certificate, ServiceError> {
    let code = unused_code(services).await?;
    let signer = Signer::take(services).await?;
    let current = services
        .store
        .current_certificate(&migration.kind, migration.holder.id())
        .await?
        .filter(|c| c.holds_licence(today));
    let (content, photo) = match current {
        // The licence in force keeps its photo (a permit's) in its next version.
        Some(current) => (
            merged(
                &current,
                submission,
                migration,
                code,
                signer.issue_date,
                template.max_items,
            )?,
            services
                .store
                .certificate_photo(&current.content.id)
                .await?,
        ),
        None => {
            let identifier = new_identifier(services, template, signer.issue_date).await?;
            let mut content = CertContent::from_submission(
                identifier,
                submission,
                template,
                issuer_info(services),
                migration.issue_date,
                code,
            );
            content.expiry_date = migration.expiry_date;
            content.former_number = Some(migration.former_number.clone());
            (content, None)
        }
    };
    sign_and_store(
        services,
        actor,
        signer,
        content,
        template,
        photo,
        submission.id.clone(),
        Provenance::Migration {
            submission,
            former_number: &migration.former_number,
        },
    )
    .await
}

/// The catalogue's entry for each migrated category: 422 naming the item when its code is
/// not in the catalogue, belongs to another kind, or is decided by another department than
/// the file says.
async fn catalogue_names(
    services: &Services,
    migration: &Migration,
) -> Result<Vec<CatalogueName>, ServiceError> {
    let invalid = |field: String, code: &'static str, message: String| {
        ServiceError::invalid(field, ParseError::new(code, message))
    };
    let mut names = Vec::with_capacity(migration.items.len());
    for (i, item) in migration.items.iter().enumerate() {
        let code = &item.code;
        let service = services
                .store
                .service_item(code.as_str(), None).await?
                .filter(|s| s.spec.kind.as_deref() == Some(migration.kind.as_str()))
                .ok_or_else(|| {
                    invalid(
                        format!("migrate.items[{i}].code"),
                        "unknown_item",
                        format!(
                            "服务目录中没有 {kind} 的事项 {code} / no item {code} of {kind} in the service catalogue",
                            kind = migration.kind
                        ),
                    )
                })?;
        let department = DepartmentCode::parse(&service.spec.department)
            .map_err(|e| ServiceError::invalid(format!("migrate.items[{i}].code"), e))?;
        if item.department.as_ref().is_some_and(|d| d != &department) {
            return Err(invalid(
                format!("migrate.items[{i}].department"),
                "department_mismatch",
                format!(
                    "事项 {code} 由 {department} 办理 / item {code} is handled by {department}"
                ),
            ));
        }
        names.push(CatalogueName {
            department,
            name: service.spec.name,
            version: service.version,
        });
    }
    Ok(names)
}

/// A second paper licence of a holder that already holds one (一企一证): the next version of
/// the licence in force, listing the categories of both (each once) and keeping every former
/// number. It keeps the licence's fields, and the earlier of the two expiry dates, so no
/// category is valid for longer than it was granted. The holder's name must agree.
fn merged(
    current: &Certificate,
    submission: &Submission,
    migration: &Migration,
    code: crate::domain::VerificationCode,
    today: chrono::NaiveDate,
    max_items: usize,
) -> Result<CertContent, ServiceError> {
    if current.content.holder.name() != migration.holder.name() {
        return Err(ServiceError::invalid(
            "migrate.holder.name",
            ParseError::new(
                "holder_name_mismatch",
                format!(
                    "该主体已持有证照 {}，名称为“{}”；名称变更请另行办理 / the holder's licence {} names it “{}”: a change of name is an amendment of its own",
                    current.content.id,
                    current.content.holder.name(),
                    current.content.id,
                    current.content.holder.name()
                ),
            ),
        ));
    }
    if let Some(number) = current
        .content
        .former_numbers()
        .find(|n| *n == migration.former_number)
    {
        let id = &current.content.id;
        return Err(Refusal::Conflict {
            code: "already_migrated",
            message: format!(
                "原证书 {number} 已迁移为 {id} / licence {number} was already migrated as {id}"
            ),
            details: Some(serde_json::json!({ "identifier": id.to_string() })),
        }
        .into());
    }
    let mut content = current
        .content
        .successor(code, today)
        .ok_or_else(issuance::too_many_versions)?;
    for item in &submission.items {
        if !content.items.iter().any(|i| i.code == item.code) {
            content.items.push(crate::domain::certificate::CertItem {
                code: item.code.clone(),
                name: item.name.clone(),
            });
        }
    }
    if content.items.len() > max_items {
        return Err(ServiceError::invalid(
            "migrate.items",
            ParseError::new(
                "invalid_items",
                format!(
                    "与现有证照 {} 合并后超过{max_items}项 / merged with licence {}, it would list more than {max_items} items",
                    current.content.id, current.content.id
                ),
            ),
        ));
    }
    content.expiry_date = content.expiry_date.min(migration.expiry_date);
    content.add_former_number(migration.former_number.clone());
    Ok(content)
}

/// Issues what one line asks for, or says why not. Never issues twice: an issued
/// submission or a migrated former number answers `already_issued`.
pub async fn issue_line(services: &Services, actor: &Actor, text: &LineText) -> LineResult {
    let raw = match text {
        LineText::Text(raw) => raw,
        LineText::TooLong { bytes } => {
            return LineResult::failed(
                "line_too_long",
                &format!(
                    "该行有 {bytes} 字节，超过每行上限 {MAX_LINE_BYTES} 字节，未予读取 / the line has {bytes} bytes, over the {MAX_LINE_BYTES} a line may have: it was not read"
                ),
                None,
            );
        }
    };
    match line(services, actor, raw).await {
        Ok(result) => result,
        Err(e) => LineResult::failed(e.code, &e.message, e.field.as_deref()),
    }
}

async fn line(services: &Services, actor: &Actor, raw: &str) -> Result<LineResult, ServiceError> {
    let line: BatchLine = serde_json::from_str(raw).map_err(|e| {
        let e = quoted_parser_message(&e.to_string());
        ServiceError::bad_request(
            "malformed_line",
            format!(
                "每行应为 {{\"submission\": …}} 或 {{\"migrate\": {{…}}}} / a line is {{\"submission\": …}} or {{\"migrate\": {{…}}}}: {e}"
            ),
        )
    })?;
    let issued = |c: Certificate| LineResult::Issued {
        identifier: c.content.id.to_string(),
        code: c
            .content
            .code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    };
    match line {
        BatchLine::Submission(id) => {
            let id = SubmissionId::parse(&id).map_err(|_| submission_not_found(&id))?;
            let submission = services
                .store
                .submission(&id)
                .await?
                .ok_or_else(|| submission_not_found(id.as_str()))?;
            if let (Status::Issued, Some(identifier)) = (submission.status, submission.certificate)
            {
                return Ok(LineResult::AlreadyIssued { identifier });
            }
            Ok(issued(issuance::issue(services, actor, &id).await?))
        }
        BatchLine::Migrate(raw) => {
            let migration = raw
                .parse()
                .map_err(|(field, e)| ServiceError::invalid(field, e))?;
            if let Some(identifier) = services
                .store
                .certificate_id_by_former_number(&migration.former_number)
                .await?
            {
                return Ok(LineResult::AlreadyIssued {
                    identifier: identifier.to_string(),
                });
            }
            // The same number twice in one batch: the line that stored second learns of the
            // first only from the store, and it too has issued nothing.
            match migrate(services, actor, migration).await {
                Err(e) if e.code == "already_migrated" => Ok(LineResult::AlreadyIssued {
                    identifier: e
                        .details
                        .as_ref()
                        .and_then(|d| d["identifier"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                }),
                other => Ok(issued(other?)),
            }
        }
    }
}

/// The numbered lines of a batch file that hold something (blank lines are skipped but
/// counted, so line numbers are the file's); refused past [`MAX_BATCH_LINES`]. A line past
/// [`MAX_LINE_BYTES`] is kept as its length only, and fails on its own.
pub fn lines_of(text: &str) -> Result<Vec<NumberedLine>, ServiceError> {
    // Taking one past the limit is enough to refuse: a file of millions of short lines is
    // never copied whole.
    let lines: Vec<NumberedLine> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| NumberedLine::new(i + 1, l))
        .take(MAX_BATCH_LINES + 1)
        .collect();
    if lines.len() > MAX_BATCH_LINES {
        return Err(ServiceError::new(
            ErrorKind::TooLarge,
            "too_many_lines",
            format!(
                "一批最多 {MAX_BATCH_LINES} 行 / a batch holds at most {MAX_BATCH_LINES} lines"
            ),
        ));
    }
    Ok(lines)
}

/// Issues `lines`, `jobs` at a time, handing each result to `on_result` in line order as
/// soon as it and every line before it are done.
pub async fn run(
    services: &Services,
    actor: &Actor,
    lines: Vec<NumberedLine>,
    jobs: usize,
    mut on_result: impl FnMut(NumberedResult),
) {
    let mut results = futures_util::stream::iter(lines)
        .map(|line| async move {
            NumberedResult {
                line: line.line,
                result: issue_line(services, actor, &line.text).await,
            }
        })
        .buffered(jobs.max(1));
    while let Some(result) = results.next().await {
        on_result(result);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    Running,
    Finished,
}

/// A batch, as `GET /api/v1/batches/{id}` and the console show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchProgress {
    pub id: String,
    pub state: BatchState,
    pub total: usize,
    pub done: usize,
    pub issued: usize,
    pub already_issued: usize,
    pub failed: usize,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub results: Vec<NumberedResult>,
}

impl BatchProgress {
    /// The stored batch and its results so far (none for a summary).
    fn of(batch: &BatchRecord, results: Vec<NumberedResult>) -> BatchProgress {
        BatchProgress {
            id: batch.id.clone(),
            state: match batch.finished_at {
                Some(_) => BatchState::Finished,
                None => BatchState::Running,
            },
            total: batch.total,
            done: batch.done(),
            issued: batch.issued,
            already_issued: batch.already_issued,
            failed: batch.failed,
            started_by: batch.started_by.label(),
            started_at: batch.started_at,
            finished_at: batch.finished_at,
            results,
        }
    }
}

/// The batches shown: the latest this many; older finished ones are removed from the store
/// when a batch starts.
pub const KEPT_BATCHES: usize = 50;

/// Batches issuing at once on one node. They share the render slots with every other
/// issuance, so more would not issue faster; the cap bounds the files read into memory and
/// the lines held there (16 MiB a batch at most).
pub const MAX_RUNNING_BATCHES: usize = 4;

/// How long a node's claim on a running batch lasts unless renewed; it renews every third of
/// it. The batches of a node that died are taken over by another this long after.
const LEASE: std::time::Duration = std::time::Duration::from_secs(15);

/// The places of the batches a node runs at once: one is taken before a batch file is read
/// and held until its batch finishes here, so no more than [`MAX_RUNNING_BATCHES`] files are
/// read into memory at once, however many clerks post.
pub struct Batches {
    slots: Arc<Semaphore>,
    /// This process's name in the leases it holds.
    node: String,
}

impl Default for Batches {
    fn default() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(MAX_RUNNING_BATCHES)),
            node: format!(
                "{}-{}",
                std::process::id(),
                &SubmissionId::generate().as_str()[1..9]
            ),
        }
    }
}

impl Batches {
    fn lease(&self) -> Lease {
        Lease {
            node: self.node.clone(),
            until: Utc::now() + LEASE,
        }
    }
}

/// A place among the [`MAX_RUNNING_BATCHES`], taken before the batch file is read (see
/// [`reserve`]) and given back when its batch finishes, or when it is dropped unused.
pub struct BatchSlot {
    /// Held only to be dropped: that gives the place back.
    _permit: OwnedSemaphorePermit,
}

/// Takes a place for a batch (a clerk or an admin) before its file is read: 503
/// `batches_busy` at once when [`MAX_RUNNING_BATCHES`] are running or being read.
pub fn reserve(services: &Services, actor: &Actor) -> Result<BatchSlot, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    services
        .batches
        .slots
        .clone()
        .try_acquire_owned()
        .map(|permit| BatchSlot { _permit: permit })
        .map_err(|_| {
            services.metrics.refused(Limit::RunningBatches);
            ServiceError::new(
                ErrorKind::Unavailable,
                "batches_busy",
                format!(
                    "已有 {MAX_RUNNING_BATCHES} 个批次在进行，请稍后再试 / {MAX_RUNNING_BATCHES} batches are running: try again when one finishes"
                ),
            )
        })
}

/// Starts a batch in the place `slot` took (a clerk or an admin) and answers at once with
/// its progress. The batch and its lines are stored first; this node then issues the lines
/// in the background, and if it dies another node finishes them.
pub async fn start(
    services: &Services,
    actor: &Actor,
    slot: BatchSlot,
    text: &str,
) -> Result<BatchProgress, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let lines = lines_of(text)?;
    if lines.is_empty() {
        return Err(ServiceError::new(
            ErrorKind::Invalid,
            "empty_batch",
            "批次文件没有内容 / the batch has no lines",
        ));
    }
    let batch = BatchRecord {
        // A submission id's random part (Crockford base32, 80 bits) under another letter.
        id: format!("B{}", &SubmissionId::generate().as_str()[1..]),
        started_by: actor.clone(),
        started_at: Utc::now(),
        finished_at: None,
        total: lines.len(),
        issued: 0,
        already_issued: 0,
        failed: 0,
        lease: services.batches.lease(),
    };
    services.store.insert_batch(&batch, &lines).await?;
    if let Err(e) = services.store.remove_old_batches(KEPT_BATCHES).await {
        tracing::warn!(error = %e, "old batches not removed");
    }
    let progress = BatchProgress::of(&batch, Vec::new());
    tokio::spawn(drive(services.clone(), batch, lines, slot));
    Ok(progress)
}

/// Issues the lines of `batch` that have no result yet, each stored as soon as it is issued,
/// while this node holds the batch's lease (renewed beside them), then marks it finished.
/// Stops starting lines once another node took the batch over.
async fn drive(services: Services, batch: BatchRecord, lines: Vec<NumberedLine>, slot: BatchSlot) {
    // The place is held while the lines are issued, and given back at the end.
    let _slot = slot;
    let store = &services.store;
    let done = match store.batch_results(&batch.id).await {
        Ok(results) => results.into_iter().map(|r| r.line).collect::<HashSet<_>>(),
        Err(e) => {
            tracing::warn!(batch = %batch.id, error = %e, "batch not resumed: its results cannot be read");
            return;
        }
    };
    let lease = Arc::new(Mutex::new(batch.lease.clone()));
    let lost = Arc::new(AtomicBool::new(false));
    let renewing = tokio::spawn(renew(
        services.clone(),
        batch.id.clone(),
        Arc::clone(&lease),
        Arc::clone(&lost),
    ));
    let (actor, services, lost, id) = (&batch.started_by, &services, &lost, batch.id.as_str());
    // Each line is issued and its result stored in one future, so a line never waits, half
    // way, for another's store write.
    futures_util::stream::iter(lines.into_iter().filter(|l| !done.contains(&l.line)))
        .map(|line| async move {
            if lost.load(Ordering::SeqCst) {
                return;
            }
            let result = NumberedResult {
                line: line.line,
                result: issue_line(services, actor, &line.text).await,
            };
            match services.store.record_batch_result(id, &result).await {
                // A result the store cannot hold is replaced by one saying so: the batch keeps
                // one result per line.
                Err(StoreError::Encode(e)) => {
                    tracing::error!(batch = %id, line = result.line, error = %e, "a batch line's result cannot be stored; its line is reported failed");
                    let unstorable = NumberedResult {
                        line: result.line,
                        result: LineResult::failed(
                            "result_not_stored",
                            "该行的结果无法保存，请检查该行并单独重新提交 / the line's result could not be stored: check the line and send it again on its own",
                            None,
                        ),
                    };
                    if let Err(e) = services.store.record_batch_result(id, &unstorable).await {
                        tracing::warn!(batch = %id, line = result.line, error = %e, "a batch line's result was not stored");
                    }
                }
                Err(e) => {
                    tracing::warn!(batch = %id, line = result.line, error = %e, "a batch line's result was not stored");
                }
                Ok(_) => {}
            }
        })
        .buffer_unordered(DEFAULT_JOBS)
        .collect::<()>()
        .await;
    renewing.abort();
    if lost.load(Ordering::SeqCst) {
        tracing::warn!(batch = %batch.id, "batch taken over by another node; stopped here");
        return;
    }
    let lease = lease.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match store.finish_batch(&batch.id, &lease, Utc::now()).await {
        Ok(()) => {
            if let Ok(Some(finished)) = store.batch(&batch.id).await {
                tracing::info!(
                    batch = %finished.id,
                    issued = finished.issued,
                    already_issued = finished.already_issued,
                    failed = finished.failed,
                    "batch finished"
                );
            }
        }
        Err(e) => tracing::warn!(batch = %batch.id, error = %e, "batch not marked finished"),
    }
}

/// Renews the batch's lease every third of a [`LEASE`] until aborted; sets `lost` when
/// another node holds it now.
async fn renew(services: Services, id: String, lease: Arc<Mutex<Lease>>, lost: Arc<AtomicBool>) {
    let mut every = tokio::time::interval(LEASE / 3);
    every.tick().await;
    loop {
        every.tick().await;
        let read = lease.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let renewed = services.batches.lease();
        match services.store.renew_batch_lease(&id, &read, &renewed).await {
            Ok(()) => *lease.lock().unwrap_or_else(PoisonError::into_inner) = renewed,
            Err(StoreError::Conflict(_)) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(batch = %id, error = %e, "batch lease not renewed"),
        }
    }
}

/// Takes over, every third of a [`LEASE`], the running batches whose node let their lease
/// run out (it died, or lost the database), as places allow, for as long as the service
/// runs. A line issued twice meanwhile is issued once (lines are idempotent) and has one
/// result (the store keeps the first).
pub async fn keep_going(services: Services) {
    let mut every = tokio::time::interval(LEASE / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Ok(batches) = services.store.latest_batches(KEPT_BATCHES).await else {
            continue;
        };
        for batch in batches.into_iter().filter(|b| b.is_abandoned(Utc::now())) {
            let Ok(permit) = services.batches.slots.clone().try_acquire_owned() else {
                break;
            };
            let lease = services.batches.lease();
            let taken = services
                .store
                .renew_batch_lease(&batch.id, &batch.lease, &lease)
                .await;
            if taken.is_err() {
                continue;
            }
            let lines = match services.store.batch_lines(&batch.id).await {
                Ok(lines) => lines,
                Err(e) => {
                    tracing::warn!(batch = %batch.id, error = %e, "batch lines cannot be read");
                    continue;
                }
            };
            tracing::info!(batch = %batch.id, from = %batch.lease.node, "batch taken over");
            let batch = BatchRecord { lease, ..batch };
            tokio::spawn(drive(
                services.clone(),
                batch,
                lines,
                BatchSlot { _permit: permit },
            ));
        }
    }
}

/// The latest [`KEPT_BATCHES`] batches, newest first, without per-line results (a clerk or
/// an admin).
pub async fn list(services: &Services, actor: &Actor) -> Result<Vec<BatchProgress>, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let batches = services.store.latest_batches(KEPT_BATCHES).await?;
    Ok(batches
        .iter()
        .map(|b| BatchProgress::of(b, Vec::new()))
        .collect())
}

/// A batch's progress and its results so far (a clerk or an admin).
pub async fn progress(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<BatchProgress, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let Some(batch) = services.store.batch(id).await? else {
        let id = quoted(id);
        return Err(ServiceError::not_found(
            "batch_not_found",
            format!("没有批次 {id} / no batch {id}"),
        ));
    };
    let results = services.store.batch_results(id).await?;
    Ok(BatchProgress::of(&batch, results))
}
