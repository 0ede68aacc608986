//! Batch issuance: one JSON object per line, either an approved submission to issue or an
//! existing licence to migrate (re-issue under 一企一证, its former number kept), and what
//! became of each line.

use std::collections::BTreeMap;
use utoipa::ToSchema;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::actor::Actor;
use super::holder::Holder;
use super::refusal::Refusal;
use super::submission::{Decision, DecisionOutcome, Item, Status, Submission};
use super::template::Template;
use super::text::quoted_within;
use super::{DepartmentCode, ItemCode, ParseError, SubmissionId, check_item_name, check_label};

/// The most lines one batch holds: a service centre's whole stock of one licence kind.
pub const MAX_BATCH_LINES: usize = 10_000;

/// The longest line a batch file may hold. The longest valid one, a migration of all 19
/// categories with every printed value at its limit (names of 60 and 20 characters, addresses
/// of 100), is under 4 KiB (under 6 KiB with every Chinese character written as `\uXXXX`); a
/// longer line is refused as it stands, without being parsed or copied.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// The most characters a failed line's message and field keep, whatever the error quoted:
/// a batch's results stay a few hundred bytes a line (a few MB for the largest batch).
pub const MAX_RESULT_MESSAGE_CHARS: usize = 512;
pub const MAX_RESULT_FIELD_CHARS: usize = 128;

/// A line of a batch file as it is kept until it is issued (lines count from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberedLine {
    pub line: usize,
    pub text: LineText,
}

/// What a line holds: its text, or, past [`MAX_LINE_BYTES`], only its length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineText {
    Text(String),
    TooLong { bytes: usize },
}

impl NumberedLine {
    /// Line `line` of a file, kept whole only if it is short enough to be a line.
    pub fn new(line: usize, text: &str) -> Self {
        let text = if text.len() > MAX_LINE_BYTES {
            LineText::TooLong { bytes: text.len() }
        } else {
            LineText::Text(text.to_owned())
        };
        Self { line, text }
    }
}

/// One line of a batch file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BatchLine {
    /// `{"submission": "sub_…"}`: an accepted submission whose items are all approved.
    Submission(String),
    /// `{"migrate": {…}}`: an existing licence re-issued as an electronic one.
    Migrate(MigrationLine),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationHolder {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// A category of the existing licence: its catalogue code; the department, if given, must be
/// the catalogue's; the name, if given, is the paper licence's wording, kept in the record
/// (the certificate prints the catalogue's name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationItem {
    pub code: String,
    pub department: Option<String>,
    pub name: Option<String>,
}

/// An existing licence as a migration file states it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationLine {
    /// The number printed on the existing licence; a number is migrated once.
    pub former_number: String,
    pub holder: MigrationHolder,
    pub kind: String,
    pub items: Vec<MigrationItem>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The existing licence's dates: the electronic one keeps them.
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
}

/// A category of a migration line, checked: its code, and the department and legacy name
/// the file gave.
#[derive(Debug, Clone)]
pub struct MigratedItem {
    pub code: ItemCode,
    pub department: Option<DepartmentCode>,
    pub legacy_name: Option<String>,
}

/// The day the production licence system began: no licence to migrate is older.
pub const FIRST_LICENCE_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1984, 1, 1) {
    Some(date) => date,
    None => panic!("1984-01-01 is a date"),
};

/// A migration line, checked field by field.
#[derive(Debug, Clone)]
pub struct Migration {
    pub former_number: String,
    pub holder: Holder,
    pub kind: String,
    pub items: Vec<MigratedItem>,
    pub fields: BTreeMap<String, String>,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
}

impl MigrationLine {
    /// Checks every value with the same rules as a filed submission; the error names the
    /// field (`migrate.items[2].code`).
    pub fn parse(self) -> Result<Migration, (String, ParseError)> {
        let at = |field: &str| {
            let field = format!("migrate.{field}");
            move |e: ParseError| (field, e)
        };
        let former_number = check_label(&self.former_number).map_err(at("former_number"))?;
        if !former_number.chars().all(|c| c.is_ascii_graphic()) {
            return Err((
                "migrate.former_number".into(),
                ParseError::new(
                    "invalid_former_number",
                    "原证书编号只能含字母、数字和符号 / a licence number is ASCII letters, digits and signs",
                ),
            ));
        }
        let holder = Holder::parse(&self.holder.kind, &self.holder.id, &self.holder.name)
            .map_err(|e| (format!("migrate.holder.{}", e.field), e.error))?;
        let mut items = Vec::with_capacity(self.items.len());
        for (i, item) in self.items.into_iter().enumerate() {
            let code = ItemCode::parse(&item.code).map_err(at(&format!("items[{i}].code")))?;
            let department = item
                .department
                .as_deref()
                .map(DepartmentCode::parse)
                .transpose()
                .map_err(at(&format!("items[{i}].department")))?;
            let legacy_name = item
                .name
                .as_deref()
                .map(check_item_name)
                .transpose()
                .map_err(at(&format!("items[{i}].name")))?;
            items.push(MigratedItem {
                code,
                department,
                legacy_name,
            });
        }
        Ok(Migration {
            former_number,
            holder,
            kind: self.kind,
            items,
            fields: self.fields,
            issue_date: self.issue_date,
            expiry_date: self.expiry_date,
        })
    }
}

impl Submission {
    /// The record of a migrated licence: accepted, every item approved by the migration and
    /// named as the catalogue names it (`names[i]` is item `i`'s entry), no materials (they
    /// were checked when the licence was first issued, on paper).
    pub fn migrated(
        id: SubmissionId,
        migration: &Migration,
        template: &Template,
        names: &[CatalogueName],
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, Refusal> {
        migration.check(template, now)?;
        if names.len() != migration.items.len() {
            return Err(Refusal::Invalid {
                code: "invalid_items",
                field: "migrate.items".into(),
                message: "每个事项须有目录名称 / every item needs its catalogue name".into(),
            });
        }
        let fields = template
            .normalize_fields(&migration.fields)
            .map_err(|e| match e {
                Refusal::Invalid {
                    code,
                    field,
                    message,
                } => Refusal::Invalid {
                    code,
                    field: format!("migrate.{field}"),
                    message,
                },
                other => other,
            })?;
        let approved = || Decision {
            decision: DecisionOutcome::Approve,
            comment: format!("原证书 {} 迁移 / migrated licence", migration.former_number),
            by: by.to_owned(),
            at: now,
        };
        Ok(Self {
            id,
            holder: migration.holder.clone(),
            kind: migration.kind.clone(),
            items: migration
                .items
                .iter()
                .zip(names)
                .map(|(item, service)| Item {
                    code: item.code.clone(),
                    department: service.department.clone(),
                    name: service.name.clone(),
                    decision: Some(approved()),
                    service_version: Some(service.version),
                    steps: Vec::new(),
                    legacy_name: item.legacy_name.clone(),
                })
                .collect(),
            materials: Vec::new(),
            fields,
            status: Status::Accepted,
            created_at: now,
            updated_at: now,
            event_count: 0,
            certificate: None,
            amends: None,
            renews: false,
            promised_working_days: None,
            accepted_at: Some(now),
            due_date: None,
        })
    }
}

impl Migration {
    /// Whether it fits its certificate kind: the holder's type, plausible dates (see
    /// [`check_dates`]), 1 to the kind's most items, each once.
    pub fn check(&self, template: &Template, now: DateTime<Utc>) -> Result<(), Refusal> {
        let invalid = |field: &str, code, message: String| Refusal::Invalid {
            code,
            field: format!("migrate.{field}"),
            message,
        };
        if self.holder.holder_type() != template.holder {
            return Err(invalid(
                "holder.type",
                "wrong_holder_type",
                "该证照的持证主体类型不符 / this certificate kind is for another type of holder"
                    .into(),
            ));
        }
        check_dates(self, template, now)?;
        if self.items.is_empty() || self.items.len() > template.max_items {
            return Err(invalid(
                "items",
                "invalid_items",
                format!(
                    "事项应有1至{}项 / 1 to {} items",
                    template.max_items, template.max_items
                ),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            if self.items[..i].iter().any(|other| other.code == item.code) {
                return Err(invalid(
                    &format!("items[{i}].code"),
                    "duplicate_item",
                    "事项代码重复 / an item code appears twice".into(),
                ));
            }
        }
        Ok(())
    }
}

/// What the catalogue says of a migrated item: the department that decides it, the name
/// printed, and the catalogue version it was mapped under.
#[derive(Debug, Clone)]
pub struct CatalogueName {
    pub department: DepartmentCode,
    pub name: String,
    pub version: u32,
}

/// A licence to migrate was issued between the licence system's start and today, and
/// expires after it was issued, at most the kind's validity later.
fn check_dates(
    migration: &Migration,
    template: &Template,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let invalid = |field: &str, code, message: String| {
        Err(Refusal::Invalid {
            code,
            field: format!("migrate.{field}"),
            message,
        })
    };
    let today = super::calendar::china_date(now);
    let (issued, expires) = (migration.issue_date, migration.expiry_date);
    if issued < FIRST_LICENCE_DATE || issued > today {
        return invalid(
            "issue_date",
            "implausible_issue_date",
            format!(
                "发证日期应在 {FIRST_LICENCE_DATE} 至今天（{today}）之间 / the issue date lies between {FIRST_LICENCE_DATE} and today ({today})"
            ),
        );
    }
    let longest = super::certificate::expiry_date(issued, template.validity_years);
    if expires <= issued || expires > longest {
        return invalid(
            "expiry_date",
            "implausible_expiry_date",
            format!(
                "有效期截止日应晚于发证日期，且不超过 {years} 年有效期（最晚 {longest}） / the expiry date lies after the issue date and within the {years}-year validity (at the latest {longest})",
                years = template.validity_years
            ),
        );
    }
    Ok(())
}

/// What became of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LineResult {
    /// Issued by this run.
    Issued { identifier: String, code: String },
    /// Issued before (by an earlier run of the same file, or otherwise): nothing was issued.
    AlreadyIssued { identifier: String },
    Failed {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
}

impl LineResult {
    /// A failed line, its message and field cut to [`MAX_RESULT_MESSAGE_CHARS`] and
    /// [`MAX_RESULT_FIELD_CHARS`]: what a batch keeps of its lines is bounded even if an
    /// error quoted more than it should.
    pub fn failed(code: &str, message: &str, field: Option<&str>) -> Self {
        LineResult::Failed {
            code: code.to_owned(),
            message: quoted_within(message, MAX_RESULT_MESSAGE_CHARS).into_owned(),
            field: field.map(|f| quoted_within(f, MAX_RESULT_FIELD_CHARS).into_owned()),
        }
    }

    pub fn is_done(&self) -> bool {
        !matches!(self, LineResult::Failed { .. })
    }
}

/// A line's result as the results file and the batch status hold it (lines count from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NumberedResult {
    pub line: usize,
    #[serde(flatten)]
    pub result: LineResult,
}

/// A batch run by the server, as the store keeps it for every node (its lines and results
/// apart): who started it, what its lines came to so far, and which node issues them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub id: String,
    /// Whose batch it is: every line is issued as them, on whichever node.
    pub started_by: Actor,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub total: usize,
    pub issued: usize,
    pub already_issued: usize,
    pub failed: usize,
    pub lease: Lease,
}

/// The node issuing a running batch's lines, and until when unless it renews: once that
/// passes, another node takes the batch over (the node died, or lost the database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub node: String,
    pub until: DateTime<Utc>,
}

impl BatchRecord {
    pub fn done(&self) -> usize {
        self.issued + self.already_issued + self.failed
    }

    /// Counts a line's result (stored once per line: the store counts only a new one).
    pub fn count(&mut self, result: &LineResult) {
        match result {
            LineResult::Issued { .. } => self.issued += 1,
            LineResult::AlreadyIssued { .. } => self.already_issued += 1,
            LineResult::Failed { .. } => self.failed += 1,
        }
    }

    /// A running batch whose node let its lease run out by `now`.
    pub fn is_abandoned(&self, now: DateTime<Utc>) -> bool {
        self.finished_at.is_none() && self.lease.until <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_too_long_to_be_one_is_kept_as_its_length() {
        let long = format!("{{\"submission\": \"S{}\"}}", "0".repeat(MAX_LINE_BYTES));
        let line = NumberedLine::new(3, &long);
        assert!(matches!(line.text, LineText::TooLong { bytes } if bytes == long.len()));
        let short = NumberedLine::new(4, "{\"submission\": \"S0\"}");
        assert!(matches!(short.text, LineText::Text(ref t) if t == "{\"submission\": \"S0\"}"));
    }

    #[test]
    fn a_failed_lines_result_is_bounded_whatever_its_error_says() {
        let message = "办".repeat(1 << 20);
        let field = "f".repeat(1 << 20);
        let result = NumberedResult {
            line: 1,
            result: LineResult::failed("x", &message, Some(&field)),
        };
        let json = serde_json::to_string(&result).unwrap_or_default();
        assert!(json.len() < 2048, "{} bytes", json.len());
    }
}
