//! A submission as the API and the console show it: its materials without their files' names
//! on disk, and its promise counted on the service's calendar today.

use std::collections::BTreeMap;
use utoipa::ToSchema;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{ServiceError, Services};
use crate::domain::calendar::{Calendar, china_date};
use crate::domain::holder::Holder;
use crate::domain::identifier::Identifier;
use crate::domain::submission::{Event, Item, Status, Submission};
use crate::domain::{MaterialName, Sha256Digest, SubmissionId};

/// A material as clients see it: its digest and size, never the file's name on disk.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaterialView<'a> {
    name: &'a MaterialName,
    sha256: Option<&'a Sha256Digest>,
    size: Option<u64>,
    uploaded_at: Option<DateTime<Utc>>,
    returned_reason: Option<&'a str>,
}

/// A submission as the API and the console show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionView<'a> {
    id: &'a SubmissionId,
    status: Status,
    holder: &'a Holder,
    kind: &'a str,
    items: &'a [Item],
    materials: Vec<MaterialView<'a>>,
    fields: &'a BTreeMap<String, String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    certificate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amends: Option<&'a Identifier>,
    /// 承诺时限 and where the submission stands against it.
    promised_working_days: Option<u32>,
    accepted_at: Option<DateTime<Utc>>,
    due_date: Option<NaiveDate>,
    working_days_elapsed: Option<u32>,
    working_days_left: Option<u32>,
    overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<&'a [Event]>,
}

/// The submission as clients see it, its promise counted on the service's calendar today.
pub async fn view<'a>(
    services: &Services,
    s: &'a Submission,
    history: Option<&'a [Event]>,
) -> Result<SubmissionView<'a>, ServiceError> {
    let calendar = super::calendar::calendar(services).await?;
    Ok(SubmissionView::new(
        s,
        history,
        &calendar,
        super::calendar::today(),
    ))
}

/// Many submissions as clients see them, counted on one reading of the calendar.
pub async fn views<'a>(
    services: &Services,
    list: &'a [Submission],
) -> Result<Vec<SubmissionView<'a>>, ServiceError> {
    let calendar = super::calendar::calendar(services).await?;
    let today = super::calendar::today();
    Ok(list
        .iter()
        .map(|s| SubmissionView::new(s, None, &calendar, today))
        .collect())
}

/// The day the work on the submission ended (its last change once finished), if it has.
pub(super) fn finished_on(s: &Submission) -> Option<NaiveDate> {
    s.status.is_finished().then(|| china_date(s.updated_at))
}

impl<'a> SubmissionView<'a> {
    pub fn new(
        s: &'a Submission,
        history: Option<&'a [Event]>,
        calendar: &Calendar,
        today: NaiveDate,
    ) -> Self {
        let promise = s.promise_state(calendar, today, finished_on(s));
        Self {
            id: &s.id,
            status: s.status,
            holder: &s.holder,
            kind: &s.kind,
            items: &s.items,
            materials: s
                .materials
                .iter()
                .map(|m| MaterialView {
                    name: &m.name,
                    sha256: m.upload.as_ref().map(|u| &u.sha256),
                    size: m.upload.as_ref().map(|u| u.size),
                    uploaded_at: m.upload.as_ref().map(|u| u.uploaded_at),
                    returned_reason: m.returned_reason.as_deref(),
                })
                .collect(),
            fields: &s.fields,
            created_at: s.created_at,
            updated_at: s.updated_at,
            certificate: s.certificate.as_deref(),
            amends: s.amends.as_ref(),
            promised_working_days: s.promised_working_days,
            accepted_at: s.accepted_at,
            due_date: s.due_date,
            working_days_elapsed: promise.working_days_elapsed,
            working_days_left: promise.working_days_left,
            overdue: promise.overdue,
            history,
        }
    }
}
