//! The signed status list (API.md, `GET /.well-known/status-list`): every certificate that is
//! not plainly valid and every revoked key, as of one moment. The service signs it with its
//! active key; an offline verifier pins it and says how old it is.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::certificate::CertStatus;
use super::revocation::RevocationReason;
use super::signing_key::{KeyRecord, KeyStatus};

/// The payload of the signed list. `iss` names the issuer (its public URL) so that a list
/// cannot be passed off as another issuer's; `iat` repeats `issued_at` for JOSE libraries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusList {
    pub iss: String,
    pub iat: i64,
    pub issued_at: DateTime<Utc>,
    /// When the issuer publishes the next list; a verifier holding an older one should say so.
    pub next_update: DateTime<Utc>,
    pub certificates: Vec<ListedCertificate>,
    pub keys: Vec<ListedKey>,
}

/// A certificate whose status is not plainly valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListedCertificate {
    /// The certificate identifier (the token's `sub`).
    pub sub: String,
    pub status: ListedStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RevocationReason>,
    /// Since when the status holds.
    pub since: DateTime<Utc>,
    /// The last day of a suspension that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// The version that replaced a superseded certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListedStatus {
    Revoked,
    Suspended,
    Superseded,
}

impl ListedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ListedStatus::Revoked => "revoked",
            ListedStatus::Suspended => "suspended",
            ListedStatus::Superseded => "superseded",
        }
    }
}

/// A revoked signing key: what it signed from `compromised_since` on is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListedKey {
    pub kid: String,
    pub compromised_since: Option<DateTime<Utc>>,
}

impl ListedCertificate {
    /// The entry for a certificate of this status; `None` for a valid one.
    pub fn of(sub: &str, status: &CertStatus) -> Option<Self> {
        let entry = |status, since| Self {
            sub: sub.to_owned(),
            status,
            reason: None,
            since,
            until: None,
            successor: None,
        };
        match status {
            CertStatus::Valid => None,
            CertStatus::Revoked {
                reason, revoked_at, ..
            } => Some(Self {
                reason: Some(*reason),
                ..entry(ListedStatus::Revoked, *revoked_at)
            }),
            CertStatus::Suspended {
                until,
                suspended_at,
                ..
            } => Some(Self {
                until: *until,
                ..entry(ListedStatus::Suspended, *suspended_at)
            }),
            CertStatus::Superseded {
                superseded_by,
                superseded_at,
            } => Some(Self {
                successor: Some(superseded_by.to_string()),
                ..entry(ListedStatus::Superseded, *superseded_at)
            }),
        }
    }

    /// Whether the status still holds on `today`: a suspension past its last day does not.
    pub fn holds_on(&self, today: NaiveDate) -> bool {
        !(self.status == ListedStatus::Suspended && self.until.is_some_and(|last| last < today))
    }
}

impl StatusList {
    /// The list as of `now`, from the certificates that are not plainly valid and the key
    /// records; entries sorted so that the same state gives the same list.
    pub fn build(
        iss: &str,
        now: DateTime<Utc>,
        next_update: DateTime<Utc>,
        statuses: &[(String, CertStatus)],
        keys: &[KeyRecord],
    ) -> Self {
        let mut certificates: Vec<ListedCertificate> = statuses
            .iter()
            .filter_map(|(sub, status)| ListedCertificate::of(sub, status))
            .collect();
        certificates.sort_by(|a, b| a.sub.cmp(&b.sub));
        let mut keys: Vec<ListedKey> = keys
            .iter()
            .filter(|k| k.status == KeyStatus::Revoked)
            .map(|k| ListedKey {
                kid: k.kid.clone(),
                compromised_since: k.compromised_since,
            })
            .collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        Self {
            iss: iss.to_owned(),
            iat: now.timestamp(),
            issued_at: now,
            next_update,
            certificates,
            keys,
        }
    }

    /// The entry of a certificate, if it is listed (the list is sorted by `sub`).
    pub fn certificate(&self, sub: &str) -> Option<&ListedCertificate> {
        self.certificates
            .binary_search_by(|c| c.sub.as_str().cmp(sub))
            .ok()
            .and_then(|i| self.certificates.get(i))
    }

    /// The entry of a revoked key, if it is listed.
    pub fn key(&self, kid: &str) -> Option<&ListedKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}
