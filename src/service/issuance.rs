//! Issuing a certificate, in the order public CAs learned to follow: allocate the identifier,
//! build the record, lint it, sign, render, check the rendering, then store everything in one
//! transaction. A failed step issues nothing and says why.

use std::time::Instant;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};

use super::Services;
use crate::domain::Role;
use crate::domain::actor::Actor;
use crate::domain::certificate::{CertContent, CertItem, CertStatus, Certificate, IssuerInfo};
use crate::domain::identifier::Identifier;
use crate::domain::plan::Provenance;
use crate::domain::submission::Submission;
use crate::domain::template::Template;
use crate::domain::{ParseError, Sha256Digest, SubmissionId, VerificationCode};
use crate::render::{
    CertificateView, Fonts, RenderError, Unprintable, check_rendering, printed_photo, qr_version,
    render_pdf,
};
use crate::service::{ErrorKind, ServiceError, submission_not_found};
use crate::signing::{Claims, sign_token};

/// Certificates are dated in China Standard Time (UTC+8, no daylight saving).
pub use crate::domain::calendar::CHINA;

/// The highest QR version we print (85 modules): at error correction M it holds 504 bytes,
/// and in the 40 mm square its modules are 0.43 mm, which phones read from paper.
pub const MAX_QR_VERSION: i16 = 17;

/// Refuses text the font cannot print as itself, naming the field and the character: a
/// certificate must never show an empty box where a name should be, nor a look-alike that its
/// own text layer gives back as another character.
pub fn check_printable_text(fonts: &Fonts, field: &str, text: &str) -> Result<(), ServiceError> {
    let hex = |c: char| format!("U+{:04X}", u32::from(c));
    let message = match fonts.unprintable(text) {
        None => return Ok(()),
        Some(Unprintable::Missing(c)) => format!(
            "字符“{c}”({}) 无法在证照上打印 / the character {c} ({}) is not in the certificate font",
            hex(c),
            hex(c)
        ),
        Some(Unprintable::TooWide(c)) => format!(
            "字符“{c}”({}) 过宽，无法在证照上打印 / the character {c} ({}) is too wide to print",
            hex(c),
            hex(c)
        ),
        Some(Unprintable::LookAlike { found, of }) => format!(
            "字符“{found}”({}) 与“{of}”({}) 同形，请改用“{of}” / the character {found} ({}) looks like {of} ({}): use {of}",
            hex(found),
            hex(of),
            hex(found),
            hex(of)
        ),
    };
    Err(ServiceError::invalid(
        field,
        ParseError::new("unprintable_character", message),
    ))
}

/// Checked when a submission is created, so an unprintable name is refused at once, not
/// at the window after the applicant has travelled.
pub fn check_printable(fonts: &Fonts, submission: &Submission) -> Result<(), ServiceError> {
    check_printable_text(fonts, "holder.name", submission.holder.name())?;
    for (i, item) in submission.items.iter().enumerate() {
        check_printable_text(fonts, &format!("items[{i}].name"), &item.name)?;
    }
    for (key, value) in &submission.fields {
        check_printable_text(fonts, &format!("fields.{key}"), value)?;
    }
    Ok(())
}

/// The longest QR link this service can print, checked at start-up: with the configured
/// public URL and identifier root, a token of the largest identifier, the latest dates and
/// any holder must fit QR version [`MAX_QR_VERSION`]. Returns the link's length in bytes.
pub fn check_link_capacity(
    public_url: &str,
    issuer: &crate::config::Issuer,
    templates: &crate::templates::Templates,
) -> anyhow::Result<usize> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x5A; 32]);
    let mut longest = 0;
    for template in templates.all() {
        let identifier = Identifier::new(
            &issuer.identifier_root,
            &template.type_code,
            &issuer.authority_code,
            9999,
            9_999_999,
            999,
        )
        .map_err(|e| anyhow::anyhow!("identifier of {}: {e}", template.kind))?;
        let claims = Claims {
            sub: identifier.to_string(),
            iat: 9_999_999_999,
            exp: 9_999_999_999,
            hid: "9".repeat(18),
            dig: Sha256Digest::of(b"").to_base64url(),
        };
        let token = sign_token(&key, &"K".repeat(crate::signing::KID_LEN), &claims)?;
        let link = format!("{public_url}/v/{token}");
        let version = qr_version(&link)?;
        if version > MAX_QR_VERSION {
            anyhow::bail!(
                "verification links of {} bytes need QR version {version}; at most                  {MAX_QR_VERSION} scans from paper. Shorten public_url ({} bytes) or                  identifier_root",
                link.len(),
                public_url.len()
            );
        }
        longest = longest.max(link.len());
    }
    Ok(longest)
}

/// The token's `exp`: the end of the expiry date, China time.
fn end_of_day(date: NaiveDate) -> i64 {
    date.checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(CHINA).single())
        .map_or(i64::MAX, |t| t.timestamp())
}

/// The link printed under the QR code: `<public_url>/c/<code>`.
pub fn code_url(public_url: &str, code: &VerificationCode) -> String {
    format!("{public_url}/c/{code}")
}

pub fn view_of(
    content: &CertContent,
    template: &Template,
    verify_url: &str,
    code_url: &str,
    issued_at: DateTime<Utc>,
    photo: Option<Vec<u8>>,
    specimen: bool,
) -> CertificateView {
    CertificateView {
        title: content.title.clone(),
        subtitle: template.subtitle.clone(),
        holder_label: template.holder_label.clone(),
        holder_name: content.holder.name().to_owned(),
        holder_id_label: template.holder_id_label.clone(),
        holder_id: content.holder.id().to_owned(), // the holder's own document: in full
        fields: content.labelled_fields(),
        items_label: template.items_label.clone(),
        items: content.items.iter().map(|i| i.name.clone()).collect(),
        identifier: content.id.to_string(),
        issue_date: content.issue_date,
        expiry_date: content.expiry_date,
        notes: printed_notes(content),
        issuer: content.issuer.name.clone(),
        verify_url: verify_url.to_owned(),
        code: content
            .code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        code_url: code_url.to_owned(),
        photo,
        specimen,
        issued_at,
        document_id: Sha256Digest::of(content.id.as_str().as_bytes()).to_string(),
    }
}

/// What a certificate prints after its dates: the version and date of change of a version
/// after the first (第002版，2026年12月2日变更), and the numbers of the paper licences a
/// migration replaced (原证书编号).
fn printed_notes(content: &CertContent) -> Vec<(String, String)> {
    let mut notes = Vec::new();
    let version = content.id.version();
    if version > 1 {
        notes.push((
            "版本".to_owned(),
            format!(
                "第{version:03}版，{}变更",
                crate::render::chinese_date(content.issue_date)
            ),
        ));
    }
    let former: Vec<&str> = content.former_numbers().collect();
    if !former.is_empty() {
        notes.push(("原证书编号".to_owned(), former.join("、")));
    }
    notes
}

/// The signing key and the moment of issuance, taken together under the ring's lock after the
/// ring is checked against the store, so `iat` lies inside the signing key's active window.
/// (Across nodes, a rotation in the milliseconds between the check and the moment could
/// retire the key just before `iat`.)
pub struct Signer {
    kid: String,
    key: ed25519_dalek::SigningKey,
    pub issued_at: DateTime<Utc>,
    /// The issue date printed on the certificate, in China time.
    pub issue_date: NaiveDate,
}

impl Signer {
    pub async fn take(state: &Services) -> Result<Self, ServiceError> {
        // The ring as stored now (another node may have rotated), then the moment, under the
        // read lock: a rotation on this node (under the write lock) falls wholly before or
        // after, and the key found active was activated before the moment.
        super::keys::refresh(&*state.store, &state.custody, &state.keys).await?;
        let ring = state.keys.read().await;
        let (kid, key) = ring
            .active()
            .ok_or_else(|| ServiceError::internal("no active signing key"))?;
        let issued_at = Utc::now();
        Ok(Self {
            kid: kid.to_owned(),
            key: key.clone(),
            issued_at,
            issue_date: issued_at.with_timezone(&CHINA).date_naive(),
        })
    }
}

/// Issues the certificate of an accepted submission whose every item is approved (a clerk or
/// an admin); 409 naming what is missing otherwise. An amendment issues the next version of
/// the certificate it amends and supersedes it.
#[tracing::instrument(skip(state, actor), fields(submission = %id, actor = %actor.label()))]
pub async fn issue(
    state: &Services,
    actor: &Actor,
    id: &SubmissionId,
) -> Result<Certificate, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let submission = state
        .store
        .submission(id)
        .await?
        .ok_or_else(|| submission_not_found(id.as_str()))?;
    submission.check_issuable()?;
    let template = template_of(state, &submission.kind)?;
    // The template may have changed since the submission was filed: its stored fields must
    // still satisfy it (they were normalised at filing, so only the check matters here).
    template.normalize_fields(&submission.fields)?;
    let code = unused_code(state).await?;
    let signer = Signer::take(state).await?;
    let issuer = issuer_info(state);
    // An amendment keeps the licence's sequence and expiry and raises its version.
    let previous = match &submission.amends {
        Some(amended) => Some(amendable(state, amended, signer.issue_date).await?),
        None => None,
    };
    let identifier = match &previous {
        None => new_identifier(state, template, signer.issue_date).await?,
        Some(previous) => previous
            .content
            .id
            .next_version()
            .ok_or_else(too_many_versions)?,
    };
    let mut content = CertContent::from_submission(
        identifier,
        &submission,
        template,
        issuer,
        signer.issue_date,
        code,
    );
    // A renewal runs for the kind's validity from today (`from_submission` set that);
    // any other amendment keeps the expiry.
    if let Some(previous) = previous {
        if !submission.renews {
            content.expiry_date = previous.content.expiry_date;
        }
        content.supersedes = Some(previous.content.id);
    }
    let photo = holder_photo(state, template, &submission).await?;
    sign_and_store(
        state,
        actor,
        signer,
        content,
        template,
        photo,
        submission.id.clone(),
        Provenance::Submission,
    )
    .await
}

/// The largest photo upload read: a phone's full-resolution JPEG.
const MAX_PHOTO_UPLOAD: u64 = 20 << 20;

/// The holder's photo as the certificate prints it, from the upload of the template's photo
/// material (a permit's 证件照): checked and brought to its printed form, or 422 naming the
/// material. `None` when the kind prints no photo, or a stored submission filed before it did
/// has none.
pub async fn holder_photo(
    state: &Services,
    template: &Template,
    submission: &Submission,
) -> Result<Option<Vec<u8>>, ServiceError> {
    let Some(name) = template.photo_material.as_deref() else {
        return Ok(None);
    };
    let Some((i, upload)) = submission
        .materials
        .iter()
        .enumerate()
        .find(|(_, m)| m.name.as_str() == name)
        .and_then(|(i, m)| Some((i, m.upload.as_ref()?)))
    else {
        return Ok(None);
    };
    let unusable = |message: String| {
        ServiceError::invalid(
            format!("materials[{i}]"),
            ParseError::new("unusable_photo", message),
        )
    };
    let bytes = state
        .files
        .read(&submission.id, &upload.file, MAX_PHOTO_UPLOAD)
        .await
        .map_err(|e| match e.kind() {
            // Another node stored it; this one cannot see it (a shared file system not
            // mounted here, or lagging): say so, and let the client try again.
            std::io::ErrorKind::NotFound => {
                tracing::error!(submission = %submission.id, file = %upload.file, "a material file the records name is not in materials_dir on this node");
                ServiceError::new(
                    ErrorKind::Unavailable,
                    "material_missing",
                    format!(
                        "本节点找不到材料文件 {}（共享存储是否已挂载？），请稍后重试 / this node cannot find the material file {} (is the shared materials_dir mounted here?); try again",
                        upload.file, upload.file
                    ),
                )
            }
            _ => ServiceError::internal(e),
        })?
        .ok_or_else(|| {
            unusable(format!(
                "证件照不超过 {} MB / the photo is at most {} MB",
                MAX_PHOTO_UPLOAD >> 20,
                MAX_PHOTO_UPLOAD >> 20
            ))
        })?;
    // What is printed is the file pre-reviewed and checked at the window, byte for byte.
    if Sha256Digest::of(&bytes) != upload.sha256 {
        return Err(ServiceError::internal(format!(
            "the stored photo of {} no longer has the digest it was uploaded with",
            submission.id
        )));
    }
    // Decoding a phone photo takes tens of megabytes: one per core at a time, as renderings.
    let slot = state
        .render_slots
        .acquire()
        .await
        .map_err(ServiceError::internal)?;
    let printed = tokio::task::spawn_blocking(move || printed_photo(&bytes))
        .await
        .map_err(ServiceError::internal)?
        .map_err(|e| unusable(e.to_string()))?;
    drop(slot);
    Ok(Some(printed))
}

pub fn template_of<'a>(state: &'a Services, kind: &str) -> Result<&'a Template, ServiceError> {
    state
        .templates
        .get(kind)
        .ok_or_else(|| ServiceError::internal(format!("template {kind} is gone")))
}

pub fn issuer_info(state: &Services) -> IssuerInfo {
    IssuerInfo {
        name: state.settings.issuer.name.clone(),
        code: state.settings.issuer.authority_code.clone(),
    }
}

/// A first-version identifier: the next sequence number of the issue year.
pub async fn new_identifier(
    state: &Services,
    template: &Template,
    issue_date: NaiveDate,
) -> Result<Identifier, ServiceError> {
    let issuer = &state.settings.issuer;
    let sequence = state.store.next_sequence(issue_date.year()).await?;
    Identifier::new(
        &issuer.identifier_root,
        &template.type_code,
        &issuer.authority_code,
        issue_date.year(),
        sequence,
        1,
    )
    .map_err(ServiceError::internal)
}

/// Lints, signs, renders, checks the rendering and stores `content` as issued now by
/// `signer`, with the holder's `photo` (bound through its digest) and what its provenance
/// calls for, in one transaction; counted, with the time it took, in the metrics.
#[allow(clippy::too_many_arguments)]
pub async fn sign_and_store(
    state: &Services,
    actor: &Actor,
    signer: Signer,
    mut content: CertContent,
    template: &Template,
    photo: Option<Vec<u8>>,
    submission: SubmissionId,
    provenance: Provenance<'_>,
) -> Result<Certificate, ServiceError> {
    let started = Instant::now();
    in_catalogue_order(state, &mut content.items).await?;
    content.photo_sha256 = photo.as_deref().map(Sha256Digest::of);
    check_printable_text(&state.fonts, "certificate", &content.printed_text())?;
    let Signer {
        kid,
        key,
        issued_at,
        ..
    } = signer;
    let content_digest = content.digest();
    let claims = Claims {
        sub: content.id.to_string(),
        iat: issued_at.timestamp(),
        exp: end_of_day(content.expiry_date),
        hid: content.holder.public_id(),
        dig: content_digest.to_base64url(),
    };
    let token = sign_token(&key, &kid, &claims).map_err(ServiceError::internal)?;
    let verify_url = format!("{}/v/{token}", state.public_url);
    let code = content
        .code
        .clone()
        .ok_or_else(|| ServiceError::internal("a new certificate without a code"))?;
    let code_url = code_url(&state.public_url, &code);

    let view = view_of(
        &content,
        template,
        &verify_url,
        &code_url,
        issued_at,
        photo.clone(),
        false,
    );
    // Everything the certificate must show: title, holder, fields, items, identifier, dates.
    let expected_texts = view.expected_texts();
    let fonts = state.fonts.clone();
    let slot = state
        .render_slots
        .acquire()
        .await
        .map_err(ServiceError::internal)?;
    let (pdf, render_time, check_time) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let pdf = render_pdf(&fonts, &view)?;
        let rendered = Instant::now();
        check_rendering(&pdf, &view.verify_url, &expected_texts)?;
        Ok::<_, RenderError>((pdf, rendered - started, rendered.elapsed()))
    })
    .await
    .map_err(ServiceError::internal)?
    .map_err(rendering_failed)?;
    drop(slot);

    let certificate = Certificate {
        submission,
        issued_at,
        issued_by: actor.label(),
        kid,
        content_digest,
        token,
        verify_url,
        code_url: Some(code_url),
        pdf_sha256: Sha256Digest::of(&pdf),
        pdf_size: pdf.len() as u64,
        status: CertStatus::Valid,
        delivery: None,
        content,
    };
    let storing = Instant::now();
    super::changes::store_issued(
        state,
        &certificate,
        &pdf,
        photo.as_deref(),
        &actor.label(),
        provenance,
    )
    .await?;
    if certificate.content.supersedes.is_some() {
        state.status_lists.certificates_changed();
    }
    state.metrics.issued(&template.kind, started.elapsed());
    tracing::info!(
        certificate = %certificate.content.id,
        kid = %certificate.kid,
        render_us = render_time.as_micros() as u64,
        check_us = check_time.as_micros() as u64,
        store_us = storing.elapsed().as_micros() as u64,
        "issued"
    );
    Ok(certificate)
}

/// Puts a certificate's items in the catalogue's order (the provincial list's), whatever
/// order they were filed, merged or migrated in.
async fn in_catalogue_order(
    state: &Services,
    items: &mut Vec<CertItem>,
) -> Result<(), ServiceError> {
    let mut keyed = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        let position = state
            .store
            .service_item(item.code.as_str(), None)
            .await?
            .and_then(|s| s.spec.position)
            .unwrap_or(u32::MAX);
        keyed.push(((position, item.code.as_str().to_owned()), item));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    items.extend(keyed.into_iter().map(|(_, item)| item));
    Ok(())
}

pub fn too_many_versions() -> ServiceError {
    ServiceError::new(
        ErrorKind::Conflict,
        "too_many_versions",
        "证照版本已达 999 / the certificate has reached version 999",
    )
}

/// The certificate `id`, if it may be replaced by a newer version today; 409 otherwise.
pub async fn amendable(
    services: &Services,
    id: &Identifier,
    today: NaiveDate,
) -> Result<Certificate, ServiceError> {
    let certificate = super::certificates::stored(services, id.as_str()).await?;
    certificate.check_amendable(today)?;
    Ok(certificate)
}

/// A fresh verification code that no certificate holds yet. With 80 random bits a repeat is
/// not expected in the life of the service; the store refuses one anyway.
pub async fn unused_code(state: &Services) -> Result<VerificationCode, ServiceError> {
    loop {
        let code = VerificationCode::generate();
        if state.store.certificate_id_by_code(&code).await?.is_none() {
            return Ok(code);
        }
        tracing::warn!("a freshly drawn verification code was taken; drawing again");
    }
}

/// What the rendering refused is the submission's content, not a fault of the service: it is
/// answered as such (422), naming the part. Creation-time limits make this unreachable for
/// submissions filed since they exist; it is kept for stored ones filed before.
fn rendering_failed(e: RenderError) -> ServiceError {
    match e {
        RenderError::MissingGlyphs { .. }
        | RenderError::DoesNotFit(_)
        | RenderError::TextMissing(_) => ServiceError::new(
            ErrorKind::Invalid,
            "certificate_does_not_render",
            format!(
                "证照内容无法完整印制，请修改申报 / the certificate cannot be printed as filed: {e}"
            ),
        ),
        other => ServiceError::internal(format!("rendering check failed: {other}")),
    }
}
