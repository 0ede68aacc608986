//! Certificate templates: one TOML file per kind in `templates/certificates/`, so that a new
//! kind of certificate is a new file, not a code change.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ParseError;
use super::holder::HolderType;
use super::refusal::Refusal;
use super::text::{FIELD_MAX_CHARS_DEFAULT, printed_text, quoted};

/// The most items any template may allow, and the longest field value: what one A4 page
/// holds at the smallest type size the layout uses (the largest-certificate test renders
/// every shipped template at its own limits).
pub const MAX_ITEMS_LIMIT: usize = 30;
pub const FIELD_MAX_CHARS_LIMIT: usize = 150;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The key in a submission's `fields`, e.g. `address`.
    pub key: String,
    /// The Chinese label printed on the certificate, e.g. `住所`.
    pub label: String,
    #[serde(default)]
    pub required: bool,
    /// Longest accepted value, counted after normalisation.
    #[serde(default = "default_max_chars")]
    pub max_chars: usize,
    /// Shown by `onetrip preview`.
    #[serde(default)]
    pub sample: Option<String>,
}

fn default_max_chars() -> usize {
    FIELD_MAX_CHARS_DEFAULT
}

/// A certificate kind. Fields print in the order they are declared.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub subtitle: Option<String>,
    pub holder: HolderType,
    /// GB/T 36904 licence type code: the defining body's USCC followed by three digits.
    pub type_code: String,
    pub validity_years: u32,
    pub holder_label: String,
    pub holder_id_label: String,
    pub items_label: String,
    /// Most items one certificate lists (a 一企一证 licence: every product category held).
    pub max_items: usize,
    pub fields: Vec<FieldSpec>,
    /// Item names shown by `onetrip preview`.
    #[serde(default)]
    pub sample_items: Vec<String>,
    /// The material whose upload is the holder's photo, printed on the certificate (a
    /// permit's 证件照); a submission of this kind must declare it.
    #[serde(default)]
    pub photo_material: Option<String>,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        let template: Template = toml::from_str(source)
            .map_err(|e| ParseError::new("invalid_template", e.to_string()))?;
        template.lint()?;
        Ok(template)
    }

    fn lint(&self) -> Result<(), ParseError> {
        let bad = |message: String| Err(ParseError::new("invalid_template", message));
        if self.kind.is_empty()
            || !self
                .kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad(format!(
                "kind {:?} must be lowercase letters, digits, hyphens",
                self.kind
            ));
        }
        if !(1..=50).contains(&self.validity_years) {
            return bad("validity_years must be between 1 and 50".into());
        }
        let code = self.type_code.as_bytes();
        if code.len() != 21
            || !code
                .iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            || !code[18..].iter().all(u8::is_ascii_digit)
        {
            return bad("type_code must be a USCC followed by three digits".into());
        }
        if !(1..=MAX_ITEMS_LIMIT).contains(&self.max_items) {
            return bad(format!(
                "max_items must be between 1 and {MAX_ITEMS_LIMIT} (what one page holds)"
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for field in &self.fields {
            if field.key.is_empty() || !seen.insert(field.key.as_str()) {
                return bad(format!("field key {:?} is empty or repeated", field.key));
            }
            if !(1..=FIELD_MAX_CHARS_LIMIT).contains(&field.max_chars) {
                return bad(format!(
                    "field {}: max_chars must be between 1 and {FIELD_MAX_CHARS_LIMIT}",
                    field.key
                ));
            }
        }
        Ok(())
    }

    /// Checks a submission's fields against this template and returns them normalised (see
    /// `domain::text`): every required field present, no unknown field, every value short
    /// printable text. Errors name `fields.<key>`.
    pub fn normalize_fields(
        &self,
        fields: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Refusal> {
        let invalid = |key: &str, code, message: String| Refusal::Invalid {
            code,
            field: format!("fields.{key}"),
            message,
        };
        for key in fields.keys() {
            if !self.fields.iter().any(|f| &f.key == key) {
                let key = quoted(key);
                return Err(invalid(
                    &key,
                    "unknown_field",
                    format!(
                        "证照类型 {} 没有字段 {key} / {} has no field {key}",
                        self.kind, self.kind
                    ),
                ));
            }
        }
        let mut normalized = BTreeMap::new();
        for spec in &self.fields {
            match fields.get(&spec.key) {
                None if spec.required => {
                    return Err(invalid(
                        &spec.key,
                        "field_required",
                        format!(
                            "缺少必填字段“{}” / field {} is required",
                            spec.label, spec.key
                        ),
                    ));
                }
                None => {}
                Some(value) => {
                    let value = printed_text(value, spec.max_chars, &spec.key)
                        .map_err(|e| invalid(&spec.key, "invalid_field", e.message.into_owned()))?;
                    normalized.insert(spec.key.clone(), value);
                }
            }
        }
        Ok(normalized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LICENCE: &str = r#"
kind = "production-licence"
title = "工业产品生产许可证"
holder = "enterprise"
type_code = "11100000000013338W011"
validity_years = 5
holder_label = "企业名称"
holder_id_label = "统一社会信用代码"
items_label = "许可产品"
max_items = 19
[[fields]]
key = "address"
label = "住所"
required = true
[[fields]]
key = "note"
label = "备注"
max_chars = 5
"#;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_checks_fields() {
        let t = Template::parse(LICENCE).unwrap();
        assert_eq!(t.fields[0].label, "住所");
        assert_eq!(
            t.normalize_fields(&fields(&[("address", " 杭州市⼀号 ")]))
                .unwrap(),
            fields(&[("address", "杭州市一号")])
        );
        let field_of = |r: Refusal| match r {
            Refusal::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field_of(t.normalize_fields(&fields(&[])).unwrap_err()),
            "fields.address"
        );
        assert_eq!(
            field_of(
                t.normalize_fields(&fields(&[("address", "x"), ("colour", "red")]))
                    .unwrap_err()
            ),
            "fields.colour"
        );
        assert_eq!(
            field_of(
                t.normalize_fields(&fields(&[("address", "x"), ("note", "123456")]))
                    .unwrap_err()
            ),
            "fields.note"
        );
        assert_eq!(
            field_of(
                t.normalize_fields(&fields(&[("address", "a\u{7}b")]))
                    .unwrap_err()
            ),
            "fields.address"
        );
    }

    #[test]
    fn rejects_broken_templates() {
        assert!(Template::parse("kind = 1").is_err());
        assert!(
            Template::parse(&LICENCE.replace("validity_years = 5", "validity_years = 0")).is_err()
        );
        assert!(Template::parse(&LICENCE.replace("W011", "W01")).is_err());
        assert!(Template::parse(&LICENCE.replace("max_items = 19", "max_items = 31")).is_err());
        assert!(Template::parse(&LICENCE.replace("max_chars = 5", "max_chars = 151")).is_err());
        assert!(Template::parse(&LICENCE.replace("\"note\"", "\"address\"")).is_err());
        assert!(Template::parse(&format!("{LICENCE}\ncolour = \"red\"")).is_err());
    }
}
