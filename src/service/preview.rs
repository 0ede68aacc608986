//! `onetrip preview <kind>`: a SPECIMEN certificate with the template's sample data, so whoever
//! edits a template sees the result at once. Never signed, never stored.

use anyhow::Context;
use chrono::{Datelike, Utc};

use super::issuance::{CHINA, code_url, view_of};
use crate::config::Settings;
use crate::domain::certificate::{CertContent, CertField, CertItem, IssuerInfo, expiry_date};
use crate::domain::holder::{Holder, HolderType};
use crate::domain::identifier::Identifier;
use crate::domain::{IdNumber, ItemCode, Uscc, VerificationCode};
use crate::render::{Fonts, render_pdf};
use crate::templates::{TemplateFiles, Templates};

const SAMPLE_USCC: &str = "91350100M000100Y43";
const SAMPLE_ID_NUMBER: &str = "11010519491231002X";
/// A code no certificate is given by chance (80 zero bits), so the specimen's is inert.
const SAMPLE_CODE: &str = "0000-0000-0000-0000";

pub fn render(settings: &Settings, kind: &str) -> anyhow::Result<Vec<u8>> {
    let templates = Templates::load(&TemplateFiles::new(settings.templates_dir.as_deref())?)?;
    let template = templates.get(kind).with_context(|| {
        format!(
            "no template for kind {kind}; known: {}",
            templates.kinds().collect::<Vec<_>>().join(", ")
        )
    })?;
    let holder = match template.holder {
        HolderType::Enterprise => Holder::Enterprise {
            id: Uscc::parse(SAMPLE_USCC)?,
            name: "样本科技有限公司".into(),
        },
        HolderType::Person => Holder::Person {
            id: IdNumber::parse(SAMPLE_ID_NUMBER)?,
            name: "样本".into(),
        },
    };
    let item_names = if template.sample_items.is_empty() {
        vec!["样本事项".to_owned()]
    } else {
        template.sample_items.clone()
    };
    let items = item_names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            Ok(CertItem {
                code: ItemCode::parse(&format!("sample-{i}"))?,
                name,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let now = Utc::now();
    let issue_date = now.with_timezone(&CHINA).date_naive();
    let issuer = &settings.issuer;
    // Sequence 0 and version 000 are never issued: the identifier itself says "specimen".
    let id = Identifier::new(
        &issuer.identifier_root,
        &template.type_code,
        &issuer.authority_code,
        issue_date.year(),
        0,
        0,
    )?;
    let code = VerificationCode::parse(SAMPLE_CODE)?;
    let content = CertContent {
        id,
        kind: template.kind.clone(),
        title: template.title.clone(),
        holder,
        fields: template
            .fields
            .iter()
            .map(|f| CertField {
                key: f.key.clone(),
                label: f.label.clone(),
                value: f
                    .sample
                    .clone()
                    .unwrap_or_else(|| format!("（样本）{}", f.label)),
            })
            .collect(),
        items,
        issue_date,
        expiry_date: expiry_date(issue_date, template.validity_years),
        issuer: IssuerInfo {
            name: issuer.name.clone(),
            code: issuer.authority_code.clone(),
        },
        code: Some(code.clone()),
        supersedes: None,
        former_number: None,
        merged_former_numbers: Vec::new(),
        photo_sha256: None,
    };
    let base = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.listen));
    let view = view_of(
        &content,
        template,
        &format!("{base}/v/SPECIMEN"),
        &code_url(&base, &code),
        now,
        None,
        true,
    );
    let fonts = Fonts::embedded()?;
    Ok(render_pdf(&fonts, &view)?)
}
