//! Where a submission stands against its promise (承诺时限): working days elapsed since
//! acceptance, working days left, overdue; counted on the working-day calendar.

use chrono::NaiveDate;

use super::Submission;
use crate::domain::calendar::{Calendar, china_date};

/// Where a submission stands against its promise (承诺时限) on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromiseState {
    /// Working days since acceptance, up to today (or to the day the work finished).
    pub working_days_elapsed: Option<u32>,
    /// Working days from today to the due date (0 on the due date; `None` once overdue,
    /// finished, or without a promise).
    pub working_days_left: Option<u32>,
    pub overdue: bool,
}

impl Submission {
    /// The promise counted on `calendar`, as of `today` (China time); `finished_on` is the
    /// day the work ended, if it has.
    pub fn promise_state(
        &self,
        calendar: &Calendar,
        today: NaiveDate,
        finished_on: Option<NaiveDate>,
    ) -> PromiseState {
        let until = finished_on.unwrap_or(today);
        let running = finished_on.is_none() && !self.status.is_finished();
        let overdue = running && self.due_date.is_some_and(|due| today > due);
        PromiseState {
            working_days_elapsed: self
                .accepted_at
                .map(|at| calendar.working_days_between(china_date(at), until)),
            working_days_left: self
                .due_date
                .filter(|due| running && *due >= today)
                .map(|due| calendar.working_days_between(today, due)),
            overdue,
        }
    }
}
