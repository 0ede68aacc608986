//! What a unit of work changes, decided here and applied by a store as a whole. A use-case
//! reads what the change depends on, the domain computes the new states and the events, and
//! the store writes all of it in one transaction or nothing: it refuses with a conflict when
//! anything the plan was computed from has changed since it was read (a submission's
//! version, a certificate, the holder's current certificate) or a unique value is taken.
//! The store checks; it never decides.

use chrono::{DateTime, Utc};

use super::calendar::china_date;
use super::certificate::Certificate;
use super::identifier::Identifier;
use super::signing_key::{KeyRecord, SealedKey};
use super::submission::{Action, Event, Submission};
use super::{ItemCode, Refusal, SubmissionId};

/// A submission as one unit of work leaves it: its new state, the events appended to its
/// history, and the version it was read at (its event count then); `None` for a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionWrite {
    pub submission: Submission,
    pub read_at: Option<u64>,
    pub events: Vec<Event>,
}

impl SubmissionWrite {
    /// A new submission, its history begun with its `created` event.
    pub fn create(mut submission: Submission, actor: &str) -> Self {
        submission.event_count = 0;
        let created = submission.record(Action::Created, actor, submission.created_at);
        Self {
            submission,
            read_at: None,
            events: vec![created],
        }
    }

    /// `changed`, a submission as read and then changed, with `action` recorded: the store
    /// writes it only while the stored one is still at the version it was read at.
    pub fn change(mut changed: Submission, action: Action, actor: &str, at: DateTime<Utc>) -> Self {
        let read_at = changed.event_count;
        let event = changed.record(action, actor, at);
        Self {
            submission: changed,
            read_at: Some(read_at),
            events: vec![event],
        }
    }

    /// The event the change appended last.
    pub fn last_event(&self) -> Option<&Event> {
        self.events.last()
    }
}

/// A certificate as read and as a change leaves it: the store writes `after` only while the
/// stored certificate is still `before`.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateWrite {
    pub before: Certificate,
    pub after: Certificate,
}

/// Where an issued certificate comes from, which decides what else its issuance changes.
/// Whatever the provenance, a certificate that `supersedes` another marks that one
/// superseded in the same unit of work (refused unless it is still in force).
#[derive(Debug, Clone, Copy)]
pub enum Provenance<'a> {
    /// The certificate's submission (an application or an amendment) is marked issued.
    Submission,
    /// Items left the superseded version; its submission's history records which and why.
    Withdrawal {
        items: &'a [ItemCode],
        reason: &'a str,
    },
    /// An existing licence re-issued from a migration file (`former_number`, the paper
    /// licence this line migrates): its submission record is stored with it, and its former
    /// number may be migrated only once.
    Migration {
        submission: &'a Submission,
        former_number: &'a str,
    },
}

/// What the store holds that an issuance depends on, read just before it is planned.
#[derive(Debug, Clone, Default)]
pub struct IssuanceBasis {
    /// The certificate's submission (for a migration: whatever has its id already).
    pub submission: Option<Submission>,
    /// The holder's current certificate of the kind (一企一证).
    pub current: Option<Certificate>,
    /// The version the certificate supersedes, if it names one.
    pub previous: Option<Certificate>,
    /// That version's submission, when it is another than the certificate's.
    pub previous_submission: Option<Submission>,
}

/// Everything one issuance writes. The certificate's former numbers are unique values too,
/// except that they move on from the version it supersedes.
#[derive(Debug, Clone)]
pub struct Issuance {
    pub certificate: Certificate,
    /// The holder's current certificate of the kind when planned: the store refuses if the
    /// line has moved since, and makes the new certificate its current one.
    pub line_was: Option<Identifier>,
    /// The certificate's submission as the issuance leaves it.
    pub submission: SubmissionWrite,
    /// The version superseded, and its submission's history when that is another one.
    pub superseded: Option<(CertificateWrite, Option<SubmissionWrite>)>,
}

impl Issuance {
    /// Plans the issuance of `certificate` by `actor` on what `basis` holds. Refused if the
    /// submission is not issuable, the superseded version is no longer in force or is not the
    /// holder's current one, or (for a first version) the holder's current certificate of
    /// the kind still holds (一企一证). Former numbers, identifiers and codes are unique
    /// values: the store refuses a taken one.
    pub fn plan(
        certificate: Certificate,
        provenance: Provenance<'_>,
        basis: IssuanceBasis,
        actor: &str,
    ) -> Result<Self, Refusal> {
        let content = &certificate.content;
        let at = certificate.issued_at;
        // Whether the holder's current certificate still holds is judged on the day of issue
        // (a migrated licence's own issue date lies in the past).
        let today = china_date(at);
        match (&content.supersedes, &basis.current) {
            (None, Some(current)) => current.refuse_second_licence(today)?,
            (Some(previous), Some(current)) if *previous != current.content.id => {
                return Err(not_the_current_version(&current.content.id));
            }
            _ => {}
        }
        let (read, mut subject, mut events) = match provenance {
            Provenance::Migration {
                submission,
                former_number,
            } => {
                if let Some(existing) = &basis.submission {
                    return Err(submission_exists(&existing.id));
                }
                let mut filed = SubmissionWrite::create(submission.clone(), actor);
                let migrated = Action::Migrated {
                    former_number: former_number.to_owned(),
                };
                let event = filed.submission.record(migrated, actor, at);
                filed.events.push(event);
                (None, filed.submission, filed.events)
            }
            _ => {
                let stored = basis
                    .submission
                    .clone()
                    .ok_or_else(|| submission_not_found(&certificate.submission))?;
                (Some(stored.event_count), stored, Vec::new())
            }
        };
        let action = match provenance {
            Provenance::Submission | Provenance::Migration { .. } => subject.mark_issued(
                content.id.to_string(),
                certificate.pdf_sha256.clone(),
                certificate.content_digest.clone(),
            )?,
            Provenance::Withdrawal { items, reason } => {
                subject.certificate = Some(content.id.to_string());
                Action::ItemsWithdrawn {
                    certificate: content
                        .supersedes
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    successor: Some(content.id.to_string()),
                    items: items.to_vec(),
                    reason: reason.to_owned(),
                }
            }
        };
        events.push(subject.record(action, actor, at));
        let superseded = match &content.supersedes {
            None => None,
            Some(previous) => {
                let before = basis
                    .previous
                    .clone()
                    .filter(|p| p.content.id == *previous)
                    .ok_or_else(|| certificate_not_found(previous))?;
                let mut after = before.clone();
                let action = after.supersede(&content.id, at, content.issue_date)?;
                let theirs = if after.submission == subject.id {
                    None
                } else {
                    let theirs = basis
                        .previous_submission
                        .filter(|s| s.id == after.submission)
                        .ok_or_else(|| submission_not_found(&after.submission))?;
                    Some(SubmissionWrite::change(theirs, action, actor, at))
                };
                Some((CertificateWrite { before, after }, theirs))
            }
        };
        Ok(Self {
            line_was: basis.current.map(|c| c.content.id),
            submission: SubmissionWrite {
                submission: subject,
                read_at: read,
                events,
            },
            superseded,
            certificate,
        })
    }

    /// The event that records the issuance in the certificate's submission.
    pub fn event(&self) -> Option<&Event> {
        self.submission.last_event()
    }

    /// Every submission the issuance writes.
    pub fn submissions(&self) -> impl Iterator<Item = &SubmissionWrite> {
        std::iter::once(&self.submission).chain(
            self.superseded
                .iter()
                .filter_map(|(_, theirs)| theirs.as_ref()),
        )
    }
}

fn not_the_current_version(current: &Identifier) -> Refusal {
    Refusal::Conflict {
        code: "not_the_current_version",
        message: format!(
            "该主体的现行证照是 {current}，请对其办理 / the holder's current certificate is {current}: act on that one"
        ),
        details: Some(serde_json::json!({ "identifier": current.to_string() })),
    }
}

fn submission_exists(id: &SubmissionId) -> Refusal {
    Refusal::Conflict {
        code: "submission_exists",
        message: format!("办件 {id} 已存在 / submission {id} already exists"),
        details: None,
    }
}

fn submission_not_found(id: &SubmissionId) -> Refusal {
    Refusal::NotFound {
        code: "submission_not_found",
        message: format!("办件 {id} 不存在 / no submission {id}"),
    }
}

/// A change to the key ring (the first key, a rotation, a revocation): the records written,
/// and every record as it was read when the change was decided. A store writes them only
/// while the ring it holds is still exactly `read`, so that two nodes rotating at once cannot
/// both leave an active key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRingWrite<'a> {
    pub read: &'a [KeyRecord],
    pub written: &'a [KeyRecord],
    /// The new key's sealed private half, when the store keeps private keys: written with
    /// its record, so that no node reads an active key whose private half is not there.
    pub sealed: Option<&'a SealedKey>,
}

impl KeyRingWrite<'_> {
    /// Whether `stored`, the ring as a store holds it now, is the ring this change was decided
    /// on (in any order).
    pub fn decided_on(&self, stored: &[KeyRecord]) -> bool {
        let by_thumbprint = |records: &[KeyRecord]| {
            let mut sorted = records.to_vec();
            sorted.sort_by(|a, b| a.thumbprint.cmp(&b.thumbprint));
            sorted
        };
        by_thumbprint(self.read) == by_thumbprint(stored)
    }
}

/// 404 for a certificate the store does not hold.
pub fn certificate_not_found(id: impl std::fmt::Display) -> Refusal {
    Refusal::NotFound {
        code: "certificate_not_found",
        message: format!("证照 {id} 不存在 / no certificate {id}"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::certificate::{CertStatus, sample_licence};
    use crate::domain::submission::Status;
    use crate::domain::submission::tests::issuable;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A licence issued today for `submission`, valid five years.
    fn licence_for(submission: &Submission) -> Certificate {
        let today = china_date(Utc::now());
        let mut licence = sample_licence(today, today + chrono::Duration::days(5 * 365));
        licence.submission = submission.id.clone();
        licence
    }

    /// The next version of `previous`, for `submission` (an amendment).
    fn next_version(previous: &Certificate, submission: &Submission) -> Certificate {
        let mut next = licence_for(submission);
        next.content.id = previous.content.id.next_version().unwrap();
        next.content.supersedes = Some(previous.content.id.clone());
        next
    }

    fn code(refusal: Refusal) -> &'static str {
        match refusal {
            Refusal::Conflict { code, .. } | Refusal::NotFound { code, .. } => code,
            other => panic!("unexpected refusal {other:?}"),
        }
    }

    #[test]
    fn a_first_version_marks_its_submission_issued_at_the_version_read() {
        let submission = issuable();
        let read_at = submission.event_count;
        let licence = licence_for(&submission);
        let basis = IssuanceBasis {
            submission: Some(submission),
            ..Default::default()
        };
        let plan =
            Issuance::plan(licence.clone(), Provenance::Submission, basis, "clerk:a").unwrap();
        assert_eq!(plan.line_was, None);
        assert!(plan.superseded.is_none());
        assert_eq!(plan.submission.read_at, Some(read_at));
        assert_eq!(plan.submission.submission.status, Status::Issued);
        assert_eq!(plan.submission.submission.event_count, read_at + 1);
        let event = plan.event().unwrap();
        assert_eq!(event.seq, read_at);
        assert_eq!(event.actor, "clerk:a");
        assert!(matches!(&event.action, Action::Issued { certificate, .. }
            if *certificate == licence.content.id.to_string()));
    }

    #[test]
    fn one_licence_in_force_per_holder_and_kind() {
        let submission = issuable();
        let held = licence_for(&issuable());
        let basis = IssuanceBasis {
            submission: Some(submission.clone()),
            current: Some(held.clone()),
            ..Default::default()
        };
        let licence = licence_for(&submission);
        let refused = Issuance::plan(licence.clone(), Provenance::Submission, basis, "a");
        assert_eq!(code(refused.unwrap_err()), "licence_in_force");

        // Once the held licence has expired, a first version may be issued again, and the
        // store is told which line it replaces.
        let mut expired = held;
        expired.content.issue_date = date(2015, 1, 1);
        expired.content.expiry_date = date(2020, 1, 1);
        let basis = IssuanceBasis {
            submission: Some(submission),
            current: Some(expired.clone()),
            ..Default::default()
        };
        let plan = Issuance::plan(licence, Provenance::Submission, basis, "a").unwrap();
        assert_eq!(plan.line_was, Some(expired.content.id));
    }

    #[test]
    fn a_next_version_supersedes_the_current_one_in_both_histories() {
        let first = issuable();
        let previous = licence_for(&first);
        let amendment = issuable();
        let next = next_version(&previous, &amendment);
        let basis = IssuanceBasis {
            submission: Some(amendment.clone()),
            current: Some(previous.clone()),
            previous: Some(previous.clone()),
            previous_submission: Some(first.clone()),
        };
        let plan = Issuance::plan(next.clone(), Provenance::Submission, basis, "a").unwrap();
        let (superseded, theirs) = plan.superseded.clone().unwrap();
        assert_eq!(superseded.before, previous);
        assert!(matches!(&superseded.after.status,
            CertStatus::Superseded { superseded_by, .. } if *superseded_by == next.content.id));
        let theirs = theirs.unwrap();
        assert_eq!(theirs.read_at, Some(first.event_count));
        assert_eq!(theirs.events.len(), 1);
        assert!(matches!(
            theirs.events[0].action,
            Action::CertificateSuperseded { .. }
        ));
        assert_eq!(plan.submissions().count(), 2);

        // Planned against another current certificate than the one it supersedes: refused.
        let mut other = previous.clone();
        other.content.id = next.content.id.next_version().unwrap();
        let basis = IssuanceBasis {
            submission: Some(amendment),
            current: Some(other),
            previous: Some(previous),
            previous_submission: Some(first),
        };
        let refused = Issuance::plan(next, Provenance::Submission, basis, "a");
        assert_eq!(code(refused.unwrap_err()), "not_the_current_version");
    }

    #[test]
    fn a_migration_files_its_submission_once() {
        let submission = issuable();
        let licence = licence_for(&submission);
        let provenance = Provenance::Migration {
            submission: &submission,
            former_number: "XK06-001-00001",
        };
        let plan =
            Issuance::plan(licence.clone(), provenance, IssuanceBasis::default(), "a").unwrap();
        assert_eq!(plan.submission.read_at, None);
        let seqs: Vec<u64> = plan.submission.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 1, 2]);
        assert!(matches!(plan.submission.events[0].action, Action::Created));
        assert!(matches!(
            plan.submission.events[1].action,
            Action::Migrated { .. }
        ));
        assert_eq!(plan.submission.submission.event_count, 3);

        let basis = IssuanceBasis {
            submission: Some(submission.clone()),
            ..Default::default()
        };
        let refused = Issuance::plan(licence, provenance, basis, "a");
        assert_eq!(code(refused.unwrap_err()), "submission_exists");
    }
}
