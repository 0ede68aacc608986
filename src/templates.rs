//! Loads the certificate templates from `<templates_dir>/certificates/*.toml`, the catalogue's
//! seed items from `services/*.toml` and the shipped working-day calendars from
//! `calendar/<year>.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::domain::ItemCode;
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::{ServiceSpec, check_part_of};
use crate::domain::template::Template;

/// The `*.toml` files of `dir`, with their text, in name order; none if `dir` is absent.
fn toml_files(dir: &Path) -> anyhow::Result<Vec<(std::path::PathBuf, String)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            files.push((path, text));
        }
    }
    files.sort();
    Ok(files)
}

/// The catalogue's seed items: each file's `[[services]]` entries over its `[common]` table.
pub fn load_services(templates_dir: &Path) -> anyhow::Result<Vec<(ItemCode, ServiceSpec)>> {
    let mut items: Vec<(ItemCode, ServiceSpec)> = Vec::new();
    for (path, text) in toml_files(&templates_dir.join("services"))? {
        let file: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let common = match file.get("common") {
            Some(toml::Value::Table(common)) => common.clone(),
            _ => toml::Table::new(),
        };
        let entries = match file.get("services") {
            Some(toml::Value::Array(entries)) => entries.clone(),
            _ => bail!("{}: no [[services]]", path.display()),
        };
        for entry in entries {
            let mut merged = common.clone();
            if let toml::Value::Table(own) = entry {
                merged.extend(own);
            }
            let code = merged
                .remove("code")
                .and_then(|c| c.as_str().map(str::to_owned))
                .with_context(|| format!("{}: a service without a code", path.display()))?;
            let code = ItemCode::parse(&code)
                .map_err(|e| anyhow::anyhow!("{}: code {code}: {e}", path.display()))?;
            let mut spec: ServiceSpec = toml::Value::Table(merged)
                .try_into()
                .with_context(|| format!("{}: service {code}", path.display()))?;
            if spec.position.is_none() {
                spec.position = u32::try_from(items.len() + 1).ok();
            }
            let spec = spec
                .check()
                .map_err(|(field, e)| anyhow::anyhow!("{}: {code}.{field}: {e}", path.display()))?;
            if items.iter().any(|(c, _)| c == &code) {
                bail!("{}: service {code} is defined twice", path.display());
            }
            items.push((code, spec));
        }
    }
    for (code, spec) in &items {
        let catalogue = items
            .iter()
            .map(|(c, s)| (c.as_str(), s.part_of.as_deref()));
        check_part_of(code.as_str(), spec, catalogue)
            .map_err(|(field, e)| anyhow::anyhow!("service {code}.{field}: {e}"))?;
    }
    Ok(items)
}

/// The shipped calendars, one file per year.
pub fn load_calendars(templates_dir: &Path) -> anyhow::Result<Vec<YearCalendar>> {
    toml_files(&templates_dir.join("calendar"))?
        .into_iter()
        .map(|(path, text)| {
            let year: YearCalendar =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            year.check()
                .map_err(|(field, e)| anyhow::anyhow!("{}: {field}: {e}", path.display()))
        })
        .collect()
}

/// Every certificate kind the service knows, by `kind`.
#[derive(Debug, Clone)]
pub struct Templates(BTreeMap<String, Template>);

impl Templates {
    pub fn load(templates_dir: &Path) -> anyhow::Result<Self> {
        let dir = templates_dir.join("certificates");
        let mut kinds = BTreeMap::new();
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("reading certificate templates in {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let template =
                Template::parse(&source).with_context(|| format!("template {}", path.display()))?;
            if let Some(previous) = kinds.insert(template.kind.clone(), template) {
                bail!("two templates declare kind {}", previous.kind);
            }
        }
        if kinds.is_empty() {
            bail!("no certificate templates (*.toml) in {}", dir.display());
        }
        Ok(Self(kinds))
    }

    pub fn get(&self, kind: &str) -> Option<&Template> {
        self.0.get(kind)
    }

    pub fn all(&self) -> impl Iterator<Item = &Template> {
        self.0.values()
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
