//! The certificate record and its canonical content, the thing the token's `digest` signs; its
//! status and the changes of it after issue (`status`), and what changed between versions
//! (`changes`).

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

mod changes;
mod status;

pub use changes::{Change, changes};
pub use status::{CertStatus, RENEWAL_WINDOW_MONTHS};

use super::holder::Holder;
use super::identifier::Identifier;
pub use super::revocation::RevocationReason;
use super::submission::Submission;
use super::template::Template;
use super::{ItemCode, Sha256Digest, SubmissionId, VerificationCode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertField {
    pub key: String,
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertItem {
    pub code: ItemCode,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuerInfo {
    pub name: String,
    pub code: String,
}

/// What a certificate says. Everything here is signed (through the canonical digest) and
/// printed; nothing here depends on the PDF or the token, which are made from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    /// The numbers of further paper licences of the same holder merged into this one by a
    /// migration (一企一证), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_former_numbers: Vec<String>,
    /// The SHA-256 of the holder's photo as printed (a permit's JPEG), bound by the
    /// signature; the photo itself is stored beside the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_sha256: Option<Sha256Digest>,
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
            merged_former_numbers: Vec::new(),
            photo_sha256: None,
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

    /// Every paper licence number this certificate replaces.
    pub fn former_numbers(&self) -> impl Iterator<Item = &str> {
        self.former_number
            .iter()
            .chain(&self.merged_former_numbers)
            .map(String::as_str)
    }

    /// Records one more paper licence merged into this one.
    pub fn add_former_number(&mut self, number: String) {
        match self.former_number {
            None => self.former_number = Some(number),
            Some(_) => self.merged_former_numbers.push(number),
        }
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
                (
                    "photo_sha256",
                    self.photo_sha256.as_ref().map(ToString::to_string),
                ),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    members.insert(key.into(), Value::String(value));
                }
            }
            if !self.merged_former_numbers.is_empty() {
                members.insert(
                    "merged_former_numbers".into(),
                    json!(self.merged_former_numbers),
                );
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

/// Valid through the day before the anniversary: issued 2026-11-26 for 5 years → 2031-11-25.
pub fn expiry_date(issue: NaiveDate, years: u32) -> NaiveDate {
    issue
        .checked_add_months(Months::new(years * 12))
        .and_then(|d| d.pred_opt())
        .unwrap_or(NaiveDate::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    Courier,
    Download,
    Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryEvent {
    pub at: DateTime<Utc>,
    pub by: String,
    pub status: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub method: DeliveryMethod,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub address: Option<String>,
    pub events: Vec<DeliveryEvent>,
}

/// The stored certificate: its content plus how it was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// A production licence of the sample enterprise, for tests: valid from `issue` to `expiry`,
/// with placeholder signature fields a test sets when it needs them.
#[cfg(test)]
pub(crate) fn sample_licence(issue: NaiveDate, expiry: NaiveDate) -> Certificate {
    let content = CertContent {
        id: Identifier::parse(SAMPLE_ID).unwrap(),
        kind: "production-licence".into(),
        title: "工业产品生产许可证".into(),
        holder: Holder::parse("enterprise", "91350100M000100Y43", "示例公司").unwrap(),
        fields: vec![],
        items: vec![],
        issue_date: issue,
        expiry_date: expiry,
        issuer: IssuerInfo {
            name: "某局".into(),
            code: "11430000006122244L".into(),
        },
        code: None,
        supersedes: None,
        former_number: None,
        merged_former_numbers: Vec::new(),
        photo_sha256: None,
    };
    Certificate {
        submission: SubmissionId::generate(),
        issued_at: Utc::now(),
        issued_by: "clerk:tok_x".into(),
        kid: String::new(),
        content_digest: content.digest(),
        token: String::new(),
        verify_url: String::new(),
        code_url: None,
        pdf_sha256: Sha256Digest::of(b"pdf"),
        pdf_size: 3,
        status: CertStatus::Valid,
        delivery: None,
        content,
    }
}

/// The identifier of [`sample_licence`].
#[cfg(test)]
pub(crate) const SAMPLE_ID: &str =
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_the_day_before_the_anniversary() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(expiry_date(d("2026-11-26"), 5), d("2031-11-25"));
        assert_eq!(expiry_date(d("2024-02-29"), 1), d("2025-02-27"));
        assert_eq!(expiry_date(d("2026-01-01"), 3), d("2028-12-31"));
    }
}
