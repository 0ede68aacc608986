//! Loads the certificate templates from `<templates_dir>/certificates/*.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::domain::template::Template;

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
