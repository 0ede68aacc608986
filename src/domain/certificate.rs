//! The certificate record and its canonical content, the thing the token's `digest` signs.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::holder::Holder;
use super::identifier::Identifier;
use super::refusal::Refusal;
pub use super::revocation::RevocationReason;
use super::submission::{Action, Submission};
use super::template::Template;
use super::{ItemCode, Sha256Digest, SubmissionId, VerificationCode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertField {
    pub key: String,
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertItem {
    pub code: ItemCode,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerInfo {
    pub name: String,
    pub code: String,
}

/// What a certificate says. Everything here is signed (through the canonical digest) and
/// printed; nothing here depends on the PDF or the token, which are made from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertContent {
    pub id: Identifier,
    pub kind: String,
    pub title: String,
    pub holder: Holder,
    pub fields: Vec<CertField>,
    pub items: Vec<CertItem>,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub issuer: IssuerInfo,
    /// The verification code printed beside the QR code; certificates of the first version
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<VerificationCode>,
    /// The version this one replaces (after an amendment or a withdrawal of items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Identifier>,
    /// The number of the earlier (paper) licence that a migration re-issued as this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub former_number: Option<String>,
}

impl CertContent {
    /// Builds the content from an issuable submission and its template. Fields follow the
    /// template's order; items are the approved ones, in the submission's order.
    pub fn from_submission(
        id: Identifier,
        submission: &Submission,
        template: &Template,
        issuer: IssuerInfo,
        issue_date: NaiveDate,
        code: VerificationCode,
    ) -> Self {
        let fields = template
            .fields
            .iter()
            .filter_map(|spec| {
                submission.fields.get(&spec.key).map(|value| CertField {
                    key: spec.key.clone(),
                    label: spec.label.clone(),
                    value: value.clone(),
                })
            })
            .collect();
        let items = submission
            .items
            .iter()
            .map(|i| CertItem {
                code: i.code.clone(),
                name: i.name.clone(),
            })
            .collect();
        Self {
            id,
            kind: template.kind.clone(),
            title: template.title.clone(),
            holder: submission.holder.clone(),
            fields,
            items,
            issue_date,
            expiry_date: expiry_date(issue_date, template.validity_years),
            issuer,
            code: Some(code),
            supersedes: None,
            former_number: None,
        }
    }

    /// The next version of this content: same holder and expiry, the next identifier, a
    /// new code and date, and `supersedes` naming this one. The caller changes what changed.
    pub fn successor(&self, code: VerificationCode, issue_date: NaiveDate) -> Option<Self> {
        Some(Self {
            id: self.id.next_version()?,
            issue_date,
            code: Some(code),
            supersedes: Some(self.id.clone()),
            ..self.clone()
        })
    }

    /// The canonical form (RFC 8785, JSON Canonicalization Scheme): members sorted by key, no
    /// whitespace. The content holds only strings, arrays and objects with ASCII keys, so
    /// serde_json's compact output of a sorted map is exactly the JCS form. The verification
    /// code is bound too, where there is one (the first version had none, and its digests
    /// must stay what they were).
    pub fn canonical_json(&self) -> String {
        let fields: serde_json::Map<String, Value> = self
            .fields
            .iter()
            .map(|f| (f.key.clone(), Value::String(f.value.clone())))
            .collect();
        let mut canonical = json!({
            "id": self.id,
            "kind": self.kind,
            "holder": {"type": self.holder.holder_type(), "id": self.holder.id(), "name": self.holder.name()},
            "fields": fields,
            "items": self.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            "issue_date": self.issue_date.to_string(),
            "expiry_date": self.expiry_date.to_string(),
            "issuer": {"name": self.issuer.name, "code": self.issuer.code},
        });
        if let Some(members) = canonical.as_object_mut() {
            let optional = [
                ("code", self.code.as_ref().map(ToString::to_string)),
                (
                    "supersedes",
                    self.supersedes.as_ref().map(ToString::to_string),
                ),
                ("former_number", self.former_number.clone()),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    members.insert(key.into(), Value::String(value));
                }
            }
        }
        canonical.to_string()
    }

    /// The fields as printed: (label, value), in the template's order.
    pub fn labelled_fields(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| (f.label.clone(), f.value.clone()))
            .collect()
    }

    pub fn digest(&self) -> Sha256Digest {
        Sha256Digest::of(self.canonical_json().as_bytes())
    }

    /// Every string the certificate will print, for the font-coverage lint.
    pub fn printed_text(&self) -> String {
        let mut text = format!(
            "{}{}{}{}",
            self.title,
            self.holder.name(),
            self.issuer.name,
            self.id
        );
        for f in &self.fields {
            text.push_str(&f.label);
            text.push_str(&f.value);
        }
        for i in &self.items {
            text.push_str(&i.name);
        }
        text
    }
}

/// One difference between two versions of a certificate, as a verifier is shown it: a
/// removed item has no `after`, an added one no `before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub what: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What changed from `old` to `new`, field by field: the holder's name, every template field,
/// the items and the expiry date.
pub fn changes(old: &CertContent, new: &CertContent) -> Vec<Change> {
    let mut found = Vec::new();
    let mut differ = |what: &str, before: Option<&str>, after: Option<&str>| {
        if before != after {
            found.push(Change {
                what: what.to_owned(),
                before: before.map(str::to_owned),
                after: after.map(str::to_owned),
            });
        }
    };
    differ(
        "持证人 Holder",
        Some(old.holder.name()),
        Some(new.holder.name()),
    );
    let value = |c: &CertContent, key: &str| {
        c.fields
            .iter()
            .find(|f| f.key == key)
            .map(|f| (f.label.clone(), f.value.clone()))
    };
    let mut keys: Vec<&str> = old.fields.iter().map(|f| f.key.as_str()).collect();
    for key in new.fields.iter().map(|f| f.key.as_str()) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in keys {
        let (before, after) = (value(old, key), value(new, key));
        let label = before
            .as_ref()
            .or(after.as_ref())
            .map_or(key.to_owned(), |(label, _)| label.clone());
        differ(
            &label,
            before.as_ref().map(|(_, v)| v.as_str()),
            after.as_ref().map(|(_, v)| v.as_str()),
        );
    }
    for item in &old.items {
        if !new.items.iter().any(|i| i.code == item.code) {
            differ("事项 Item", Some(&item.name), None);
        }
    }
    for item in &new.items {
        match old.items.iter().find(|i| i.code == item.code) {
            None => differ("事项 Item", None, Some(&item.name)),
            Some(before) => differ("事项 Item", Some(&before.name), Some(&item.name)),
        }
    }
    differ(
        "有效期至 Valid until",
        Some(&old.expiry_date.to_string()),
        Some(&new.expiry_date.to_string()),
    );
    found
}

/// Valid through the day before the anniversary: issued 2026-11-26 for 5 years → 2031-11-25.
pub fn expiry_date(issue: NaiveDate, years: u32) -> NaiveDate {
    issue
        .checked_add_months(Months::new(years * 12))
        .and_then(|d| d.pred_opt())
        .unwrap_or(NaiveDate::MAX)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    Courier,
    Download,
    Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEvent {
    pub at: DateTime<Utc>,
    pub by: String,
    pub status: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub method: DeliveryMethod,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub address: Option<String>,
    pub events: Vec<DeliveryEvent>,
}

/// The stored certificate: its content plus how it was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    #[serde(flatten)]
    pub content: CertContent,
    pub submission: SubmissionId,
    pub issued_at: DateTime<Utc>,
    pub issued_by: String,
    pub kid: String,
    pub content_digest: Sha256Digest,
    pub token: String,
    /// The QR code's link, `<public_url>/v/<token>`.
    pub verify_url: String,
    /// The link printed under the QR code, `<public_url>/c/<code>`: short enough to type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_url: Option<String>,
    pub pdf_sha256: Sha256Digest,
    pub pdf_size: u64,
    #[serde(flatten)]
    pub status: CertStatus,
    pub delivery: Option<Delivery>,
}

impl Certificate {
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
    /// a certificate in force may be amended.
    pub fn check_amendable(&self, today: NaiveDate) -> Result<(), Refusal> {
        self.require_in_force(today)
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

    #[test]
    fn expiry_is_the_day_before_the_anniversary() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(expiry_date(d("2026-11-26"), 5), d("2031-11-25"));
        assert_eq!(expiry_date(d("2024-02-29"), 1), d("2025-02-27"));
        assert_eq!(expiry_date(d("2026-01-01"), 3), d("2028-12-31"));
    }
}
