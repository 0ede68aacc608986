//! Finding a submission, its page, the window check, its report and the receipt (受理回执).

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SignedIn, multipart_form, path, render};
use crate::domain::catalogue::MAX_TIME_LIMIT_WORKING_DAYS;
use crate::domain::holder::Holder;
use crate::domain::submission::{Action, Event, Submission};
use crate::domain::window_check::{Outcome, WindowReport};
use crate::domain::{Role, SubmissionId};
use crate::routes::html::HtmlError;
use crate::routes::multipart::{Parts, hash_parts};
use crate::routes::state::AppState;
use crate::service::certificates;
use crate::service::submissions;
use crate::service::{ErrorKind, ServiceError};

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// The submissions in progress the home page lists.
const IN_PROGRESS_SHOWN: usize = 50;

/// Each role's home: an applicant's submissions, pre-review's queue, a department's queue;
/// for a clerk or an admin, the search by submission id (opens it) or by holder id (lists the
/// holder's submissions) and the work in progress by due date.
pub async fn home(
    State(state): State<AppState>,
    who: SignedIn,
    query: Result<Query<Search>, QueryRejection>,
) -> Result<Response, HtmlError> {
    match who.actor.role {
        Role::Applicant => return super::applicant::home(&state, &who).await,
        Role::Reviewer => return super::review::review_home(&state, &who).await,
        Role::Approver => return super::review::approval_home(&state, &who).await,
        Role::Clerk | Role::Admin => {}
    }
    let search = query.map(|Query(s)| s).unwrap_or_default();
    let q = search.q.trim();
    let mut results = Vec::new();
    let mut notice = None;
    if let Ok(id) = SubmissionId::parse(q) {
        if submissions::exists(&state, &who.actor, &id).await? {
            return Ok(Redirect::to(&format!("/console/submissions/{id}")).into_response());
        }
        notice = Some(format!("办件 {id} 不存在 / no submission {id}"));
    } else if let Ok(holder) = Holder::normalise_id(q) {
        results = submissions::of_holder(&state, &who.actor, &holder).await?;
        if results.is_empty() {
            notice = Some(format!(
                "主体 {holder} 没有办件 / no submissions for holder {holder}"
            ));
        }
    } else if !q.is_empty() {
        notice = Some(
            "请输入办件编号（S 开头，共 13 位）或统一社会信用代码、身份证号 / enter a submission id (S + 12 characters), a USCC or an ID number"
                .to_owned(),
        );
    }
    let results: Vec<Value> = results
        .iter()
        .map(|s| {
            json!({"id": s.id, "holder": s.holder, "kind": s.kind, "status": s.status,
                   "created_at": s.created_at})
        })
        .collect();
    // The work in progress, soonest due first: overdue, then by due date.
    let mut in_progress =
        submissions::due(&state, &who.actor, Some(MAX_TIME_LIMIT_WORKING_DAYS), true).await?;
    in_progress.truncate(IN_PROGRESS_SHOWN);
    let due = serde_json::to_value(submissions::views(&state, &in_progress).await?)
        .map_err(ServiceError::internal)?;
    render(
        &state,
        &who,
        "console_home.html",
        json!({"q": q, "results": results, "notice": notice, "due": due}),
    )
    .await
}

fn window_checks(history: &[Event]) -> impl Iterator<Item = (u64, &WindowReport)> {
    history.iter().filter_map(|e| match &e.action {
        Action::WindowChecked { report } => Some((e.seq, report)),
        _ => None,
    })
}

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let (submission, history) = submissions::read(&state, &who.actor, &path(id)?).await?;
    let checks: Vec<Value> = window_checks(&history)
        .map(|(seq, r)| json!({"seq": seq, "outcome": r.outcome, "checked_at": r.checked_at, "checked_by": r.checked_by}))
        .collect();
    // Pre-reviewers and approvers see that a certificate was issued, not the certificate.
    let certificate = match submission.certificate.as_deref() {
        Some(serial) => match certificates::read(&state, &who.actor, serial).await {
            Ok(certificate) => Some(certificate),
            Err(e) if e.kind == ErrorKind::Forbidden => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let department = who.actor.department.as_ref();
    let awaiting: Vec<&str> = match who.actor.role {
        Role::Approver | Role::Admin => submission
            .awaiting(department)
            .iter()
            .map(|i| i.code.as_str())
            .collect(),
        _ => Vec::new(),
    };
    let editable = submission.status.is_editable() && who.actor.may_edit(&submission).is_ok();
    let template = state.templates.get(&submission.kind);
    let field_labels: serde_json::Map<String, Value> = template
        .map(|t| {
            t.fields
                .iter()
                .map(|f| (f.key.clone(), f.label.clone().into()))
                .collect()
        })
        .unwrap_or_default();
    let title = template.map(|t| t.title.clone());
    render(
        &state,
        &who,
        "console_submission.html",
        json!({
            "s": submissions::view(&state, &submission, Some(&history)).await?,
            "blockers": submission.issuance_blockers(),
            "checks": checks,
            "certificate": certificate,
            "field_labels": field_labels,
            "title": title,
            "awaiting": awaiting,
            "inline": submissions::inline_kinds(&state, &submission).await,
            "editable": editable,
        }),
    )
    .await
}

/// Hashes the files dropped on the page (the first part must be the form's `csrf` field),
/// stores the check exactly as `POST /api/v1/submissions/{id}/window-check` does, and sends
/// the browser to the report (post/redirect/get, so a reload does not check twice).
#[tracing::instrument(skip_all, fields(caller = %who.actor.label()))]
pub async fn window_check(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    multipart: Result<Parts, MultipartRejection>,
) -> Result<Response, HtmlError> {
    let (multipart, submission) = multipart_form(&state, &who, &headers, id, multipart).await?;
    let back = format!("/console/submissions/{}", submission.id);
    submission
        .check_window_check()
        .map_err(|r| HtmlError::from(ServiceError::from(r)).back_to(&back))?;
    let mut presented = hash_parts(multipart, state.settings.max_material_bytes)
        .await
        .map_err(|e| HtmlError::from(e).back_to(&back))?;
    // A file input left empty is still sent, as a part with an empty file name.
    presented.retain(|p| p.filename.as_deref() != Some(""));
    let (seq, report) = submissions::window_check(&state, &who.actor, &submission.id, &presented)
        .await
        .map_err(|e| HtmlError::from(e).back_to(&back))?;
    tracing::info!(submission = %submission.id, outcome = ?report.outcome, "window check from the console");
    Ok(Redirect::to(&format!("{back}/checks/{seq}")).into_response())
}

/// Sizes of the frozen materials by name, which the report itself does not carry.
fn sizes(submission: &Submission) -> Value {
    submission
        .manifest()
        .into_iter()
        .map(|m| (m.name.to_string(), json!(m.size)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub async fn report(
    State(state): State<AppState>,
    who: SignedIn,
    ids: Result<Path<(String, u64)>, PathRejection>,
) -> Result<Response, HtmlError> {
    let (id, seq) = path(ids)?;
    let (submission, history) = submissions::read(&state, &who.actor, &id).await?;
    let report = window_checks(&history)
        .find(|(s, _)| *s == seq)
        .map(|(_, r)| r)
        .ok_or_else(|| {
            HtmlError::new(
                StatusCode::NOT_FOUND,
                format!("没有第 {seq} 号核对记录 / no window check number {seq}"),
            )
            .back_to(format!("/console/submissions/{}", submission.id))
        })?;
    render(
        &state,
        &who,
        "console_report.html",
        json!({"s": submissions::view(&state, &submission, None).await?, "report": report, "seq": seq,
               "sizes": sizes(&submission)}),
    )
    .await
}

/// The receipt of the latest check in which every material matched.
pub async fn receipt(
    State(state): State<AppState>,
    who: SignedIn,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, HtmlError> {
    let (submission, history) = submissions::read(&state, &who.actor, &path(id)?).await?;
    let (seq, report) = window_checks(&history)
        .filter(|(_, r)| r.outcome == Outcome::Matched)
        .last()
        .ok_or_else(|| {
            HtmlError::new(
                StatusCode::CONFLICT,
                "尚无全部一致的窗口核对，不能出具受理回执 / no window check has matched every material yet",
            )
            .back_to(format!("/console/submissions/{}", submission.id))
        })?;
    render(
        &state,
        &who,
        "receipt.html",
        json!({"s": submissions::view(&state, &submission, None).await?, "report": report, "seq": seq,
               "sizes": sizes(&submission)}),
    )
    .await
}
