//! What still stands between a submission and its certificate, as a list a clerk can act on.

use serde::Serialize;
use utoipa::ToSchema;

use super::{DecisionOutcome, Status, Submission};
use crate::domain::refusal::Refusal;
use crate::domain::{DepartmentCode, ItemCode};

/// Why a submission cannot be issued yet, as the 409's `details` and the console list it:
/// `{"reason": "window_check", "status": …}`, `{"reason": "item_pending", "item": …, …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Blocker {
    /// A certificate-free kind: its outcome is the items' decisions.
    NoCertificate {
        kind: String,
    },
    AlreadyIssued {
        certificate: Option<String>,
    },
    WindowCheck {
        status: Status,
    },
    ItemPending {
        item: ItemCode,
        name: String,
        department: DepartmentCode,
    },
    ItemRejected {
        item: ItemCode,
        name: String,
        department: DepartmentCode,
    },
}

impl Submission {
    /// What still stands between this submission and its certificate; empty when it can be
    /// issued.
    pub fn issuance_blockers(&self) -> Vec<Blocker> {
        if self.kind == super::DECISION_ONLY {
            return vec![Blocker::NoCertificate {
                kind: self.kind.clone(),
            }];
        }
        if self.status == Status::Issued {
            return vec![Blocker::AlreadyIssued {
                certificate: self.certificate.clone(),
            }];
        }
        let mut blockers = Vec::new();
        if self.status != Status::Accepted {
            blockers.push(Blocker::WindowCheck {
                status: self.status,
            });
        }
        for item in &self.items {
            let blocker = match item.decision.as_ref().map(|d| d.decision) {
                Some(DecisionOutcome::Approve) => continue,
                Some(DecisionOutcome::Reject) => Blocker::ItemRejected {
                    item: item.code.clone(),
                    name: item.name.clone(),
                    department: item.department.clone(),
                },
                None => Blocker::ItemPending {
                    item: item.code.clone(),
                    name: item
                        .waiting_step()
                        .map_or(item.name.clone(), |s| format!("{}：{}", item.name, s.name)),
                    department: item.waiting_department().clone(),
                },
            };
            blockers.push(blocker);
        }
        blockers
    }

    pub fn check_issuable(&self) -> Result<(), Refusal> {
        let blockers = self.issuance_blockers();
        if blockers.is_empty() {
            return Ok(());
        }
        Err(Refusal::Conflict {
            code: "not_ready_to_issue",
            message: format!(
                "尚有 {} 项未满足出证条件 / {} condition(s) still block issuance",
                blockers.len(),
                blockers.len()
            ),
            details: serde_json::to_value(&blockers).ok(),
        })
    }
}
