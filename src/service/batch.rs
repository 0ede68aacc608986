//! Batch issuance: many certificates from one file of lines, each an approved submission or
//! an existing licence to migrate. Every line is idempotent (an issued submission, a migrated
//! former number, is reported as already issued and issues nothing), so a batch that stopped
//! half-way is finished by running it again. The CLI runs batches against a stopped store;
//! a running server runs them in the background and keeps their progress in memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
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
    BatchLine, CatalogueName, LineResult, LineText, MAX_BATCH_LINES, MAX_LINE_BYTES, Migration,
    NumberedLine, NumberedResult,
};
use crate::domain::certificate::{CertContent, Certificate};
use crate::domain::plan::Provenance;
use crate::domain::submission::{Status, Submission};
use crate::domain::text::{quoted, quoted_parser_message};
use crate::domain::{DepartmentCode, ParseError, Refusal, Role, SubmissionId};
use crate::metrics::Limit;

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

/// A batch on a running server, as `GET /api/v1/batches/{id}` and the console show it.
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
    /// What `results` holds in memory, as [`NumberedResult::kept_bytes`] counts it.
    #[serde(skip)]
    pub kept_bytes: usize,
}

impl BatchProgress {
    fn record(&mut self, result: NumberedResult) {
        self.done += 1;
        self.kept_bytes += result.kept_bytes();
        match &result.result {
            LineResult::Issued { .. } => self.issued += 1,
            LineResult::AlreadyIssued { .. } => self.already_issued += 1,
            LineResult::Failed { .. } => self.failed += 1,
        }
        self.results.push(result);
    }

    /// The batch without its per-line results, copied without them.
    fn summary(&self) -> BatchProgress {
        BatchProgress {
            id: self.id.clone(),
            started_by: self.started_by.clone(),
            results: Vec::new(),
            kept_bytes: 0,
            ..*self
        }
    }
}

/// The batches a running server knows of, newest last. Only the latest [`KEPT_BATCHES`]
/// are kept, and finished ones are forgotten, oldest first, while the results kept in all
/// of them pass [`KEPT_RESULT_BYTES`]; a batch lost to a restart is finished by posting its
/// file again.
pub struct Batches {
    batches: Mutex<VecDeque<Arc<Mutex<BatchProgress>>>>,
    /// The places of the batches running at once: one is taken before a batch file is read
    /// and held until its batch finishes, so no more than [`MAX_RUNNING_BATCHES`] files are
    /// read into memory at once, however many clerks post.
    slots: Arc<Semaphore>,
}

impl Default for Batches {
    fn default() -> Self {
        Self {
            batches: Mutex::default(),
            slots: Arc::new(Semaphore::new(MAX_RUNNING_BATCHES)),
        }
    }
}

pub const KEPT_BATCHES: usize = 50;

/// The results the kept batches may hold in memory together. A line's result is about 150
/// bytes (a few hundred when it failed), so a batch of 10,000 lines keeps 1.5 to 5 MB: the
/// latest dozen or more full batches stay, 50 small ones easily.
pub const KEPT_RESULT_BYTES: usize = 64 << 20;

/// Batches issuing at once. They share the render slots with every other issuance, so more
/// would not issue faster; the cap bounds the files read into memory and the lines held
/// there (16 MiB a batch at most).
pub const MAX_RUNNING_BATCHES: usize = 4;

/// A place among the [`MAX_RUNNING_BATCHES`], taken before the batch file is read (see
/// [`reserve`]) and given back when its batch finishes, or when it is dropped unused.
pub struct BatchSlot {
    /// Held only to be dropped: that gives the place back.
    _permit: OwnedSemaphorePermit,
}

impl Batches {
    fn find(&self, id: &str) -> Option<Arc<Mutex<BatchProgress>>> {
        self.batches.lock().ok().and_then(|batches| {
            batches
                .iter()
                .find(|b| b.lock().is_ok_and(|b| b.id == id))
                .cloned()
        })
    }

    fn add(&self, progress: BatchProgress) -> Arc<Mutex<BatchProgress>> {
        let entry = Arc::new(Mutex::new(progress));
        if let Ok(mut batches) = self.batches.lock() {
            batches.push_back(entry.clone());
            let kept_bytes = |b: &Arc<Mutex<BatchProgress>>| b.lock().map_or(0, |b| b.kept_bytes);
            let mut kept: usize = batches.iter().map(kept_bytes).sum();
            while batches.len() > KEPT_BATCHES || kept > KEPT_RESULT_BYTES {
                let Some(i) = batches
                    .iter()
                    .position(|b| b.lock().is_ok_and(|b| b.state == BatchState::Finished))
                else {
                    break;
                };
                if let Some(forgotten) = batches.remove(i) {
                    kept -= kept_bytes(&forgotten);
                }
            }
        }
        entry
    }

    /// Every kept batch, newest first, without their per-line results.
    pub fn summaries(&self) -> Vec<BatchProgress> {
        self.batches.lock().map_or_else(
            |_| Vec::new(),
            |batches| {
                batches
                    .iter()
                    .rev()
                    .filter_map(|b| b.lock().ok().map(|b| b.summary()))
                    .collect()
            },
        )
    }
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

/// Starts a batch on the running server in the place `slot` took (a clerk or an admin) and
/// answers at once with its progress; the lines are issued in the background.
pub fn start(
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
    let progress = BatchProgress {
        // A submission id's random part (Crockford base32, 80 bits) under another letter.
        id: format!("B{}", &SubmissionId::generate().as_str()[1..]),
        state: BatchState::Running,
        total: lines.len(),
        done: 0,
        issued: 0,
        already_issued: 0,
        failed: 0,
        started_by: actor.label(),
        started_at: Utc::now(),
        finished_at: None,
        results: Vec::new(),
        kept_bytes: 0,
    };
    let entry = services.batches.add(progress.clone());
    let (services, actor) = (services.clone(), actor.clone());
    tokio::spawn(async move {
        // The place is held while the lines are issued, and given back at the end.
        let _slot = slot;
        run(&services, &actor, lines, DEFAULT_JOBS, |result| {
            if let Ok(mut progress) = entry.lock() {
                progress.record(result);
            }
        })
        .await;
        if let Ok(mut progress) = entry.lock() {
            progress.state = BatchState::Finished;
            progress.finished_at = Some(Utc::now());
            tracing::info!(
                batch = %progress.id,
                issued = progress.issued,
                already_issued = progress.already_issued,
                failed = progress.failed,
                "batch finished"
            );
        }
    });
    Ok(progress)
}

/// Every batch the server keeps, newest first, without per-line results (a clerk or an
/// admin).
pub fn list(services: &Services, actor: &Actor) -> Result<Vec<BatchProgress>, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    Ok(services.batches.summaries())
}

/// A batch's progress and its results so far (a clerk or an admin).
pub fn progress(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<BatchProgress, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    services
        .batches
        .find(id)
        .and_then(|b| b.lock().ok().map(|b| b.clone()))
        .ok_or_else(|| {
            let id = quoted(id);
            ServiceError::not_found("batch_not_found", format!("没有批次 {id} / no batch {id}"))
        })
}
