//! Issuing a certificate, in the order public CAs learned to follow: allocate the identifier,
//! build the record, lint it, sign, render, check the rendering, then store everything in one
//! transaction. A failed step issues nothing and says why.

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, Utc};

use crate::app::AppState;
use crate::domain::certificate::{CertContent, CertStatus, Certificate, IssuerInfo};
use crate::domain::identifier::Identifier;
use crate::domain::submission::NewSubmission;
use crate::domain::template::Template;
use crate::domain::{ParseError, Sha256Digest, SubmissionId};
use crate::error::{ApiError, submission_not_found};
use crate::render::{CertificateView, Fonts, check_rendering, render_pdf};
use crate::signing::{Claims, sign_token};

/// Certificates are dated in China Standard Time (UTC+8, no daylight saving).
pub const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// Refuses text the font cannot print, naming the field and the character: a certificate
/// must never show an empty box where a name should be.
pub fn check_printable_text(fonts: &Fonts, field: &str, text: &str) -> Result<(), ApiError> {
    match fonts.missing_chars(text).first() {
        None => Ok(()),
        Some(c) => Err(ApiError::invalid(
            field,
            ParseError::new(
                "unprintable_character",
                format!(
                    "字符“{c}”(U+{:04X}) 无法在证照上打印 / the character {c} (U+{:04X}) is not in the certificate font",
                    *c as u32, *c as u32
                ),
            ),
        )),
    }
}

/// Checked when a submission is created, so an unprintable name is refused at once, not
/// at the window after the applicant has travelled.
pub fn check_printable(fonts: &Fonts, new: &NewSubmission) -> Result<(), ApiError> {
    check_printable_text(fonts, "holder.name", new.holder.name())?;
    for (i, (_, _, name)) in new.items.iter().enumerate() {
        check_printable_text(fonts, &format!("items[{i}].name"), name)?;
    }
    for (key, value) in &new.fields {
        check_printable_text(fonts, &format!("fields.{key}"), value)?;
    }
    Ok(())
}

/// The token's `exp`: the end of the expiry date, China time.
fn end_of_day(date: NaiveDate) -> i64 {
    date.checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(CHINA).single())
        .map_or(i64::MAX, |t| t.timestamp())
}

pub fn view_of(
    content: &CertContent,
    template: &Template,
    verify_url: &str,
    issued_at: DateTime<Utc>,
    specimen: bool,
) -> CertificateView {
    CertificateView {
        title: content.title.clone(),
        subtitle: template.subtitle.clone(),
        holder_label: template.holder_label.clone(),
        holder_name: content.holder.name().to_owned(),
        holder_id_label: template.holder_id_label.clone(),
        holder_id: content.holder.public_id(),
        fields: content
            .fields
            .iter()
            .map(|f| (f.label.clone(), f.value.clone()))
            .collect(),
        items_label: template.items_label.clone(),
        items: content.items.iter().map(|i| i.name.clone()).collect(),
        identifier: content.id.to_string(),
        issue_date: content.issue_date,
        expiry_date: content.expiry_date,
        issuer: content.issuer.name.clone(),
        verify_url: verify_url.to_owned(),
        specimen,
        issued_at,
        document_id: Sha256Digest::of(content.id.as_str().as_bytes()).to_string(),
    }
}

#[tracing::instrument(skip(state), fields(submission = %id))]
pub async fn issue(
    state: &AppState,
    id: &SubmissionId,
    actor: &str,
) -> Result<Certificate, ApiError> {
    let submission = state
        .store
        .submission(id)?
        .ok_or_else(|| submission_not_found(id.as_str()))?;
    submission.check_issuable()?;
    let template = state
        .templates
        .get(&submission.kind)
        .ok_or_else(|| ApiError::internal(format!("template {} is gone", submission.kind)))?;
    template.check_fields(&submission.fields)?;

    // The signing key and the issuance time are taken together under the ring's lock: a
    // rotation (under the write lock) then falls wholly before or after, so `iat` always lies
    // inside the signing key's active window.
    let (kid, key, issued_at) = {
        let ring = state.keys.read().await;
        let (kid, key) = ring
            .active()
            .ok_or_else(|| ApiError::internal("no active signing key"))?;
        (kid.to_owned(), key.clone(), Utc::now())
    };
    let issue_date = issued_at.with_timezone(&CHINA).date_naive();
    let issuer = &state.settings.issuer;
    let sequence = state.store.next_sequence(issue_date.year()).await?;
    let identifier = Identifier::new(
        &issuer.identifier_root,
        &template.type_code,
        &issuer.authority_code,
        issue_date.year(),
        sequence,
        1,
    )
    .map_err(ApiError::internal)?;
    let content = CertContent::from_submission(
        identifier,
        &submission,
        template,
        IssuerInfo {
            name: issuer.name.clone(),
            code: issuer.authority_code.clone(),
        },
        issue_date,
    );
    check_printable_text(&state.fonts, "certificate", &content.printed_text())?;

    let content_digest = content.digest();
    let claims = Claims {
        iss: state.public_url.to_string(),
        sub: content.id.to_string(),
        iat: issued_at.timestamp(),
        exp: end_of_day(content.expiry_date),
        kind: content.kind.clone(),
        holder: content.holder.name().to_owned(),
        holder_id: content.holder.public_id(),
        digest: content_digest.to_string(),
    };
    let token = sign_token(&key, &kid, &claims).map_err(ApiError::internal)?;
    let verify_url = format!("{}/v/{token}", state.public_url);

    let view = view_of(&content, template, &verify_url, issued_at, false);
    // Everything the certificate must show: title, holder, fields, items, identifier, dates.
    let expected_texts = view.expected_texts();
    let fonts = state.fonts.clone();
    let slot = state
        .render_slots
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let pdf = tokio::task::spawn_blocking(move || {
        let pdf = render_pdf(&fonts, &view)?;
        check_rendering(&pdf, &view.verify_url, &expected_texts)?;
        Ok::<_, crate::render::RenderError>(pdf)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(format!("rendering check failed: {e}")))?;
    drop(slot);

    let certificate = Certificate {
        submission: submission.id.clone(),
        issued_at,
        issued_by: actor.to_owned(),
        kid,
        content_digest,
        token,
        verify_url,
        pdf_sha256: Sha256Digest::of(&pdf),
        pdf_size: pdf.len() as u64,
        status: CertStatus::Valid,
        delivery: None,
        content,
    };
    state.store.store_issued(&certificate, &pdf, actor).await?;
    tracing::info!(certificate = %certificate.content.id, kid = %certificate.kid, "issued");
    Ok(certificate)
}
