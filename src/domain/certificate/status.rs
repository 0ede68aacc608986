//! A certificate's status and its changes after issue: revocation, suspension (暂扣) and
//! reinstatement, supersession by a newer version. Each change is refused unless the
//! certificate is in a state that allows it, and returns the audit action to record.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Certificate;
use crate::domain::identifier::Identifier;
use crate::domain::refusal::Refusal;
use crate::domain::revocation::RevocationReason;
use crate::domain::submission::Action;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CertStatus {
    Valid,
    Revoked {
        reason: RevocationReason,
        text: String,
        revoked_at: DateTime<Utc>,
    },
    /// Held (暂扣) after an inspection, through `until` (inclusive) or until reinstated.
    Suspended {
        reason: String,
        until: Option<NaiveDate>,
        suspended_at: DateTime<Utc>,
    },
    /// Replaced by a newer version (an amendment, or a withdrawal of items).
    Superseded {
        superseded_by: Identifier,
        superseded_at: DateTime<Utc>,
    },
}

impl CertStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::Revoked { .. } => "revoked",
            CertStatus::Suspended { .. } => "suspended",
            CertStatus::Superseded { .. } => "superseded",
        }
    }

    /// The status in force on `today` (China time): a suspension whose last day has passed
    /// is over without anyone reinstating it.
    pub fn in_force(&self, today: NaiveDate) -> &CertStatus {
        match self {
            CertStatus::Suspended {
                until: Some(last), ..
            } if *last < today => &CertStatus::Valid,
            other => other,
        }
    }
}

/// A certificate is renewed (延续) within this many months before it expires.
pub const RENEWAL_WINDOW_MONTHS: u32 = 6;

impl Certificate {
    /// Whether the certificate holds on `today` for 一企一证: valid or suspended (a suspended
    /// licence is still the enterprise's one licence), and not past its expiry date.
    pub fn holds_licence(&self, today: NaiveDate) -> bool {
        matches!(
            self.status,
            CertStatus::Valid | CertStatus::Suspended { .. }
        ) && today <= self.content.expiry_date
    }

    /// Refuses a first-version certificate of this kind for this holder while this one is in
    /// force: a new category or a changed detail is an amendment of this licence.
    pub fn refuse_second_licence(&self, today: NaiveDate) -> Result<(), Refusal> {
        if !self.holds_licence(today) {
            return Ok(());
        }
        let id = &self.content.id;
        Err(Refusal::Conflict {
            code: "licence_in_force",
            message: format!(
                "一企一证：该主体已持有有效证照 {id}，新增或变更事项请提交变更申请（amends: \"{id}\"） / one licence per holder: {id} is in force; file an amendment of it (\"amends\": \"{id}\") to add or change categories"
            ),
            details: Some(serde_json::json!({ "identifier": id.to_string() })),
        })
    }

    /// Whether it may be renewed (延续) on `today`: in force, and within the last
    /// [`RENEWAL_WINDOW_MONTHS`] months of its validity.
    pub fn check_renewable(&self, today: NaiveDate) -> Result<(), Refusal> {
        self.check_amendable(today)?;
        let opens = self
            .content
            .expiry_date
            .checked_sub_months(chrono::Months::new(RENEWAL_WINDOW_MONTHS))
            .unwrap_or(NaiveDate::MIN);
        if today < opens {
            return Err(Refusal::Conflict {
                code: "renewal_too_early",
                message: format!(
                    "延续申请应在有效期届满前{RENEWAL_WINDOW_MONTHS}个月内提出（{opens}起） / a renewal is filed within the last {RENEWAL_WINDOW_MONTHS} months of validity (from {opens})"
                ),
                details: Some(serde_json::json!({ "opens": opens.to_string() })),
            });
        }
        Ok(())
    }

    /// Refuses a change that needs the certificate in force, naming what it is instead.
    fn require_in_force(&self, today: NaiveDate) -> Result<(), Refusal> {
        let conflict = |code, message: String| {
            Err(Refusal::Conflict {
                code,
                message,
                details: None,
            })
        };
        match self.status.in_force(today) {
            CertStatus::Valid => Ok(()),
            CertStatus::Revoked { revoked_at, .. } => conflict(
                "certificate_revoked",
                format!(
                    "证照已于 {} 撤销 / the certificate was revoked",
                    revoked_at.to_rfc3339()
                ),
            ),
            CertStatus::Superseded { superseded_by, .. } => conflict(
                "certificate_superseded",
                format!(
                    "证照已被新版本 {superseded_by} 替代，请对新版本操作 / the certificate was replaced by {superseded_by}: act on that version"
                ),
            ),
            CertStatus::Suspended { reason, .. } => conflict(
                "certificate_suspended",
                format!(
                    "证照已暂扣（{reason}），请先恢复 / the certificate is suspended: reinstate it first"
                ),
            ),
        }
    }

    /// Whether a new version may replace this one (an amendment, a withdrawal of items): only
    /// a certificate in force and not yet expired may be amended; an expired licence is
    /// applied for anew.
    pub fn check_amendable(&self, today: NaiveDate) -> Result<(), Refusal> {
        self.require_in_force(today)?;
        let expiry = self.content.expiry_date;
        if today > expiry {
            return Err(Refusal::Conflict {
                code: "certificate_expired",
                message: format!(
                    "证照已于 {expiry} 到期，请重新申请 / the certificate expired on {expiry}: apply anew"
                ),
                details: None,
            });
        }
        Ok(())
    }

    /// Revocation is final: a revoked certificate cannot be revoked again or reinstated. A
    /// suspended one may be revoked; a superseded one is revoked through its successor.
    pub fn revoke(
        &mut self,
        reason: RevocationReason,
        text: String,
        now: DateTime<Utc>,
    ) -> Result<Action, Refusal> {
        match &self.status {
            CertStatus::Revoked { revoked_at, .. } => {
                return Err(Refusal::Conflict {
                    code: "already_revoked",
                    message: format!(
                        "证照已于 {} 撤销 / the certificate was already revoked",
                        revoked_at.to_rfc3339()
                    ),
                    details: None,
                });
            }
            // The date does not matter: a superseded certificate is refused on any day.
            CertStatus::Superseded { .. } => self.require_in_force(now.date_naive())?,
            CertStatus::Valid | CertStatus::Suspended { .. } => {}
        }
        self.status = CertStatus::Revoked {
            reason,
            text: text.clone(),
            revoked_at: now,
        };
        Ok(Action::CertificateRevoked {
            certificate: self.content.id.to_string(),
            reason,
            text,
        })
    }

    /// Suspends (暂扣) a certificate in force, through `until` if given.
    pub fn suspend(
        &mut self,
        reason: String,
        until: Option<NaiveDate>,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<Action, Refusal> {
        self.require_in_force(today)?;
        if until.is_some_and(|last| last < today) {
            return Err(Refusal::Invalid {
                code: "until_in_the_past",
                field: "until".into(),
                message: format!("暂扣截止日早于今天 {today} / until is before today"),
            });
        }
        self.status = CertStatus::Suspended {
            reason: reason.clone(),
            until,
            suspended_at: now,
        };
        Ok(Action::CertificateSuspended {
            certificate: self.content.id.to_string(),
            reason,
            until,
        })
    }

    /// Ends a suspension before its last day (or one without a last day).
    pub fn reinstate(&mut self, reason: String, today: NaiveDate) -> Result<Action, Refusal> {
        if !matches!(self.status.in_force(today), CertStatus::Suspended { .. }) {
            return Err(Refusal::Conflict {
                code: "not_suspended",
                message: format!(
                    "证照状态为 {}，无需恢复 / the certificate is {}, not suspended",
                    self.status.in_force(today).as_str(),
                    self.status.in_force(today).as_str()
                ),
                details: None,
            });
        }
        self.status = CertStatus::Valid;
        Ok(Action::CertificateReinstated {
            certificate: self.content.id.to_string(),
            reason,
        })
    }

    /// Marks this version replaced by `successor`.
    pub fn supersede(
        &mut self,
        successor: &Identifier,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<Action, Refusal> {
        self.require_in_force(today)?;
        self.status = CertStatus::Superseded {
            superseded_by: successor.clone(),
            superseded_at: now,
        };
        Ok(Action::CertificateSuperseded {
            certificate: self.content.id.to_string(),
            by: successor.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::certificate::sample_licence;

    fn licence(expiry: NaiveDate) -> Certificate {
        sample_licence(expiry - chrono::Duration::days(5 * 365), expiry)
    }

    #[test]
    fn an_expired_licence_neither_holds_nor_is_amended_or_renewed() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let licence = licence(d("2026-12-01"));
        // On its last day it holds and may be renewed; the day after, neither.
        assert!(licence.holds_licence(d("2026-12-01")));
        assert!(licence.check_renewable(d("2026-12-01")).is_ok());
        assert!(licence.refuse_second_licence(d("2026-12-01")).is_err());
        assert!(!licence.holds_licence(d("2026-12-02")));
        assert!(licence.refuse_second_licence(d("2026-12-02")).is_ok());
        for refused in [
            licence.check_amendable(d("2026-12-02")),
            licence.check_renewable(d("2026-12-02")),
        ] {
            match refused {
                Err(Refusal::Conflict { code, .. }) => assert_eq!(code, "certificate_expired"),
                other => panic!("an expired licence was not refused: {other:?}"),
            }
        }
        // Renewal opens six months before the end.
        match licence.check_renewable(d("2026-05-31")) {
            Err(Refusal::Conflict { code, .. }) => assert_eq!(code, "renewal_too_early"),
            other => panic!("{other:?}"),
        }
        assert!(licence.check_renewable(d("2026-06-01")).is_ok());
    }

    #[test]
    fn a_suspension_is_in_force_through_its_last_day_only() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let suspended = CertStatus::Suspended {
            reason: "抽查不合格".into(),
            until: Some(d("2027-03-31")),
            suspended_at: Utc::now(),
        };
        assert_eq!(suspended.in_force(d("2027-03-31")), &suspended);
        assert_eq!(suspended.in_force(d("2027-04-01")), &CertStatus::Valid);
        let open_ended = CertStatus::Suspended {
            reason: "抽查不合格".into(),
            until: None,
            suspended_at: Utc::now(),
        };
        assert_eq!(open_ended.in_force(d("2099-01-01")), &open_ended);
    }
}
