//! The audit history: what happened to a submission, appended and never rewritten.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DecisionOutcome, ReturnReason};
use crate::domain::revocation::RevocationReason;
use crate::domain::window_check::ManifestEntry;
use crate::domain::window_check::WindowReport;
use crate::domain::{DepartmentCode, ItemCode, MaterialName, Sha256Digest};

/// What happened, as appended to the audit history. Digests involved are always included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Created,
    MaterialUploaded {
        name: MaterialName,
        sha256: Sha256Digest,
        size: u64,
        replaced_sha256: Option<Sha256Digest>,
    },
    Submitted {
        manifest: Vec<ManifestEntry>,
    },
    Returned {
        reasons: Vec<ReturnReason>,
    },
    PreApproved {
        manifest: Vec<ManifestEntry>,
    },
    WindowChecked {
        report: WindowReport,
    },
    ItemDecided {
        code: ItemCode,
        department: DepartmentCode,
        decision: DecisionOutcome,
        comment: String,
        /// The step of the item's approval chain that was decided.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    Issued {
        certificate: String,
        pdf_sha256: Sha256Digest,
        content_digest: Sha256Digest,
    },
    CertificateRevoked {
        certificate: String,
        reason: RevocationReason,
        text: String,
    },
    CertificateSuspended {
        certificate: String,
        reason: String,
        until: Option<NaiveDate>,
    },
    CertificateReinstated {
        certificate: String,
        reason: String,
    },
    /// A newer version replaced this submission's certificate.
    CertificateSuperseded {
        certificate: String,
        by: String,
    },
    /// Items left the certificate: `successor` is the version without them (none when the
    /// last ones left and the certificate was revoked instead).
    ItemsWithdrawn {
        certificate: String,
        successor: Option<String>,
        items: Vec<ItemCode>,
        reason: String,
    },
    /// Filed from a migration file: an existing licence re-issued, its number kept.
    Migrated {
        former_number: String,
    },
}

/// One audit event. `seq` numbers the submission's events from 0 without gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    #[serde(flatten)]
    pub action: Action,
}

impl super::Submission {
    /// Appends `action` to the history: the event it makes is numbered next (its `seq` is
    /// the count of events before it) and the submission counts it. That count is also the
    /// version a store checks a change against, so two changes of one submission read at
    /// the same version cannot both be stored.
    pub fn record(&mut self, action: Action, actor: &str, at: DateTime<Utc>) -> Event {
        let event = Event {
            seq: self.event_count,
            at,
            actor: actor.to_owned(),
            action,
        };
        self.event_count += 1;
        self.updated_at = at;
        event
    }
}
