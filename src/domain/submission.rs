//! A submission and the state machine of the 核对制 flow. Every transition is a method that
//! either refuses (leaving the submission as it was) or changes it and returns the audit
//! action to append.

use std::collections::BTreeMap;
use utoipa::ToSchema;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::identifier::Identifier;
use super::refusal::Refusal;
use super::window_check::{ManifestEntry, Outcome, WindowReport};
use super::{DepartmentCode, ItemCode, MaterialName, Sha256Digest, SubmissionId, holder::Holder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Submitted,
    Returned,
    PreApproved,
    Accepted,
    Issued,
    /// Every item of a certificate-free submission is decided: the decision is the outcome.
    Decided,
}

/// The kind of a submission whose items end in a decision, not a certificate (the union's
/// insurance claim): no template, no fields, finished once every item is decided.
pub const DECISION_ONLY: &str = "decision";

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Returned => "returned",
            Status::PreApproved => "pre_approved",
            Status::Accepted => "accepted",
            Status::Issued => "issued",
            Status::Decided => "decided",
        }
    }

    /// Whether a queue holds it: pre-review's (submitted) or the departments' before the
    /// window check (pre-approved).
    pub fn is_in_review(self) -> bool {
        matches!(self, Status::Submitted | Status::PreApproved)
    }

    /// Whether the work is over: nothing is promised any more.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Issued | Status::Decided)
    }

    /// Materials may change only before pre-review approves them.
    pub fn is_editable(self) -> bool {
        matches!(self, Status::Draft | Status::Returned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    Approve,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    pub decision: DecisionOutcome,
    pub comment: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Item {
    pub code: ItemCode,
    pub department: DepartmentCode,
    pub name: String,
    pub decision: Option<Decision>,
    /// The catalogue version the item was filed under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_version: Option<u32>,
    /// The approval chain, decided in order (empty: the department decides in one step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepState>,
    /// The category as a migrated paper licence wrote it, kept in the record only: what is
    /// printed is the catalogue's `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_name: Option<String>,
}

/// One step of an item's approval chain and, once taken, its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepState {
    pub name: String,
    pub department: DepartmentCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

impl Item {
    /// The step waiting for a decision, if the item has a chain and is not decided.
    pub fn waiting_step(&self) -> Option<&StepState> {
        if self.decision.is_some() {
            return None;
        }
        self.steps.iter().find(|s| s.decision.is_none())
    }

    /// The department whose decision the item waits for.
    pub fn waiting_department(&self) -> &DepartmentCode {
        self.waiting_step()
            .map_or(&self.department, |s| &s.department)
    }
}

/// A stored upload: the digest and size computed while it streamed to disk, and the file's
/// name under the submission's directory (never derived from the material name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredFile {
    pub sha256: Sha256Digest,
    pub size: u64,
    pub file: String,
    pub uploaded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Material {
    pub name: MaterialName,
    pub upload: Option<StoredFile>,
    /// The pre-reviewer's reason from the latest return, cleared by a new upload.
    pub returned_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnReason {
    pub material: MaterialName,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Submission {
    pub id: SubmissionId,
    pub holder: Holder,
    pub kind: String,
    pub items: Vec<Item>,
    pub materials: Vec<Material>,
    pub fields: BTreeMap<String, String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many events the history holds; the next event's `seq`.
    pub event_count: u64,
    pub certificate: Option<String>,
    /// The certificate this submission amends (变更): issuing it issues that certificate's
    /// next version and supersedes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amends: Option<Identifier>,
    /// A renewal (延续) of the certificate it amends: the next version runs for the kind's
    /// whole validity from its issue, instead of keeping the expiry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renews: bool,
    /// 承诺时限: the largest time limit of its items, in working days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_working_days: Option<u32>,
    /// When the window check accepted it (受理), and the promise's last day from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
}

impl Refusal {
    fn wrong_state(status: Status, wanted: &str) -> Self {
        Refusal::Conflict {
            code: "wrong_state",
            message: format!(
                "办件状态为 {}，{wanted} / the submission is {}: {wanted}",
                status.as_str(),
                status.as_str()
            ),
            details: None,
        }
    }
}

impl Submission {
    /// The frozen list of names, sizes and digests, in declaration order. Only meaningful once
    /// every material has a file.
    pub fn manifest(&self) -> Vec<ManifestEntry> {
        self.materials
            .iter()
            .filter_map(|m| {
                m.upload.as_ref().map(|u| ManifestEntry {
                    name: m.name.clone(),
                    sha256: u.sha256.clone(),
                    size: u.size,
                })
            })
            .collect()
    }

    fn material_index(&self, name: &MaterialName) -> Result<usize, Refusal> {
        self.materials
            .iter()
            .position(|m| &m.name == name)
            .ok_or_else(|| Refusal::NotFound {
                code: "unknown_material",
                message: format!("办件未申报材料“{name}” / no material named {name} was declared"),
            })
    }

    /// Whether a file for `name` would be taken now; asked before streaming a body.
    pub fn check_upload(&self, name: &MaterialName) -> Result<usize, Refusal> {
        if !self.status.is_editable() {
            return Err(Refusal::Conflict {
                code: "manifest_frozen",
                message: format!(
                    "办件状态为 {}，材料清单已冻结 / the manifest is frozen once pre-review approves it",
                    self.status.as_str()
                ),
                details: None,
            });
        }
        self.material_index(name)
    }

    /// Records a finished upload; returns the file it replaced so the caller can delete it.
    pub fn record_upload(
        &mut self,
        name: &MaterialName,
        upload: StoredFile,
    ) -> Result<(Action, Option<StoredFile>), Refusal> {
        let i = self.check_upload(name)?;
        let material = &mut self.materials[i];
        let action = Action::MaterialUploaded {
            name: name.clone(),
            sha256: upload.sha256.clone(),
            size: upload.size,
            replaced_sha256: material.upload.as_ref().map(|u| u.sha256.clone()),
        };
        material.returned_reason = None;
        let replaced = material.upload.replace(upload);
        Ok((action, replaced))
    }

    pub fn submit(&mut self) -> Result<Action, Refusal> {
        if !self.status.is_editable() {
            return Err(Refusal::wrong_state(
                self.status,
                "只有草稿或退回件可提交 / only a draft or returned submission can be submitted",
            ));
        }
        if let Some(i) = self.materials.iter().position(|m| m.upload.is_none()) {
            let name = &self.materials[i].name;
            return Err(Refusal::Invalid {
                code: "material_missing",
                field: format!("materials[{i}]"),
                message: format!("材料“{name}”尚未上传 / material {name} has no file yet"),
            });
        }
        self.status = Status::Submitted;
        Ok(Action::Submitted {
            manifest: self.manifest(),
        })
    }

    pub fn approve_pre_review(&mut self) -> Result<Action, Refusal> {
        self.expect(
            Status::Submitted,
            "只有已提交的办件可预审 / only a submitted submission can be pre-reviewed",
        )?;
        self.status = Status::PreApproved;
        Ok(Action::PreApproved {
            manifest: self.manifest(),
        })
    }

    pub fn return_pre_review(&mut self, reasons: Vec<ReturnReason>) -> Result<Action, Refusal> {
        self.expect(
            Status::Submitted,
            "只有已提交的办件可退回 / only a submitted submission can be returned",
        )?;
        if reasons.is_empty() {
            return Err(Refusal::Invalid {
                code: "reasons_required",
                field: "reasons".into(),
                message: "退件须逐项说明理由 / a return needs a reason for at least one material"
                    .into(),
            });
        }
        let mut indices = Vec::with_capacity(reasons.len());
        for (n, r) in reasons.iter().enumerate() {
            let i = self
                .material_index(&r.material)
                .map_err(|_| Refusal::Invalid {
                    code: "unknown_material",
                    field: format!("reasons[{n}].material"),
                    message: format!("办件未申报材料“{}” / no such material", r.material),
                })?;
            indices.push(i);
        }
        for (i, r) in indices.into_iter().zip(&reasons) {
            self.materials[i].returned_reason = Some(r.reason.clone());
        }
        self.status = Status::Returned;
        Ok(Action::Returned { reasons })
    }

    /// Whether a window check may run now; asked before reading the files.
    pub fn check_window_check(&self) -> Result<(), Refusal> {
        self.expect(Status::PreApproved, "只有预审通过的办件可窗口核对 / only a pre-approved submission can be checked at the window")
    }

    /// Stores a window check. Only a full match moves the submission on (accepted, with the
    /// promise's last day `due_date` if it has a promise); a mismatch is recorded and changes
    /// nothing else.
    pub fn record_window_check(
        &mut self,
        report: WindowReport,
        due_date: Option<NaiveDate>,
    ) -> Result<Action, Refusal> {
        self.check_window_check()?;
        if report.outcome == Outcome::Matched {
            self.status = Status::Accepted;
            self.accepted_at = Some(report.checked_at);
            self.due_date = due_date;
            self.settle();
        }
        Ok(Action::WindowChecked { report })
    }

    /// The items whose turn it is for `department` (for any department when `None`): undecided,
    /// and waiting for that department's step, once pre-review has approved.
    pub fn awaiting(&self, department: Option<&DepartmentCode>) -> Vec<&Item> {
        if !matches!(self.status, Status::PreApproved | Status::Accepted) {
            return Vec::new();
        }
        self.items
            .iter()
            .filter(|i| i.decision.is_none())
            .filter(|i| department.is_none_or(|d| i.waiting_department() == d))
            .collect()
    }

    /// A department decides one of its items (an admin, `department` `None`, acts for the
    /// department it waits for). Departments work in parallel once pre-review has approved,
    /// before or after the window check; an item with a chain is decided step by step, each
    /// step by its own department after the step before approved, and a rejection at any
    /// step ends it. A decision is final.
    pub fn decide(
        &mut self,
        code: &ItemCode,
        department: Option<&DepartmentCode>,
        decision: Decision,
    ) -> Result<Action, Refusal> {
        if !matches!(self.status, Status::PreApproved | Status::Accepted) {
            return Err(Refusal::wrong_state(
                self.status,
                "预审通过后方可审批事项 / items are decided after pre-review approves",
            ));
        }
        let item = self
            .items
            .iter_mut()
            .find(|i| &i.code == code)
            .ok_or_else(|| Refusal::NotFound {
                code: "unknown_item",
                message: format!("办件没有事项 {code} / no item {code} in this submission"),
            })?;
        if let Some(previous) = &item.decision {
            return Err(Refusal::Conflict {
                code: "already_decided",
                message: format!(
                    "事项 {code} 已于 {} 作出决定 / item {code} was already decided",
                    previous.at.to_rfc3339()
                ),
                details: None,
            });
        }
        let waiting = item.waiting_department().clone();
        let department = department.unwrap_or(&waiting).clone();
        if department != waiting {
            let later = item.steps.iter().any(|s| s.department == department);
            return Err(match (later, item.waiting_step()) {
                (true, Some(step)) => Refusal::Conflict {
                    code: "step_waiting",
                    message: format!(
                        "事项 {code} 须先由“{}”（{}）审批 / item {code} waits for step {} ({})",
                        step.name, step.department, step.name, step.department
                    ),
                    details: Some(serde_json::json!({
                        "waiting_step": step.name,
                        "department": step.department,
                    })),
                },
                _ => Refusal::Forbidden {
                    message: format!(
                        "事项 {code} 由 {waiting} 审批 / item {code} is decided by department {waiting}"
                    ),
                },
            });
        }
        let step = item.steps.iter_mut().find(|s| s.decision.is_none());
        let step_name = step.as_ref().map(|s| s.name.clone());
        let ends_item = match step {
            None => true,
            Some(step) => {
                step.decision = Some(decision.decision);
                step.comment = Some(decision.comment.clone());
                step.decided_by = Some(decision.by.clone());
                step.decided_at = Some(decision.at);
                decision.decision == DecisionOutcome::Reject
                    || item.steps.iter().all(|s| s.decision.is_some())
            }
        };
        let action = Action::ItemDecided {
            code: code.clone(),
            department,
            decision: decision.decision,
            comment: decision.comment.clone(),
            step: step_name,
        };
        if ends_item {
            item.decision = Some(decision);
        }
        self.settle();
        Ok(action)
    }

    /// A certificate-free submission that is accepted and has every item decided is decided.
    fn settle(&mut self) {
        if self.kind == DECISION_ONLY
            && self.status == Status::Accepted
            && self.items.iter().all(|i| i.decision.is_some())
        {
            self.status = Status::Decided;
        }
    }

    pub fn mark_issued(
        &mut self,
        certificate: String,
        pdf_sha256: Sha256Digest,
        content_digest: Sha256Digest,
    ) -> Result<Action, Refusal> {
        self.check_issuable()?;
        self.status = Status::Issued;
        self.certificate = Some(certificate.clone());
        Ok(Action::Issued {
            certificate,
            pdf_sha256,
            content_digest,
        })
    }

    fn expect(&self, status: Status, wanted: &str) -> Result<(), Refusal> {
        if self.status == status {
            Ok(())
        } else {
            Err(Refusal::wrong_state(self.status, wanted))
        }
    }
}

mod blockers;
mod create;
mod history;
mod promise;

pub use blockers::Blocker;
pub use create::{FiledItem, NewSubmission};
pub use history::{Action, Event};
pub use promise::PromiseState;

#[cfg(test)]
pub(crate) mod tests;
