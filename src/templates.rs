//! The templates the service is made of: certificate templates (`certificates/*.toml`), the
//! catalogue's seed items (`services/*.toml`), the shipped working-day calendars
//! (`calendar/<year>.toml`) and the HTML pages (`pages/*.html`). The repository's
//! `templates/` is built into the binary, so `onetrip` starts from any directory and after
//! `cargo install`; a configured `templates_dir` overrides it file by file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use include_dir::{Dir, include_dir};

use crate::domain::ItemCode;
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::{ServiceSpec, check_part_of};
use crate::domain::template::Template;

/// The repository's `templates/`, as it was when the binary was built (`build.rs` rebuilds
/// the crate when a file is added there, which `include_dir!` alone would not notice).
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// One template file: its name inside its folder, where it came from (for error messages)
/// and its text.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub name: String,
    pub origin: String,
    pub text: String,
}

/// Where the templates are read from: the built-in ones, each replaced by the file of the same
/// relative path in the `templates_dir` directory when one is configured and has it, plus
/// that directory's files of names the binary does not have (a new certificate kind, more
/// seed items). A directory holding only `pages/verify.html` changes only that page.
#[derive(Debug, Clone, Default)]
pub struct TemplateFiles {
    overrides: Option<PathBuf>,
}

impl TemplateFiles {
    /// The templates built into the binary, with no overrides.
    pub fn built_in() -> Self {
        Self::default()
    }

    /// The built-in templates under the overrides of `templates_dir`, if set. A configured
    /// directory that is not there is refused here, at start, naming the path and the
    /// setting: silently falling back to the built-in templates would hide a typo.
    pub fn new(templates_dir: Option<&Path>) -> anyhow::Result<Self> {
        let Some(dir) = templates_dir else {
            return Ok(Self::built_in());
        };
        let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(Self {
                overrides: Some(dir.to_owned()),
            }),
            Ok(_) => bail!(
                "templates_dir {} is not a directory: point the setting `templates_dir` at a \
                 directory of template overrides, or leave it unset to use the templates built \
                 into the binary",
                shown.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "templates_dir {} does not exist: point the setting `templates_dir` at a \
                 directory of template overrides, or leave it unset to use the templates built \
                 into the binary",
                shown.display()
            ),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "reading templates_dir {} (the setting `templates_dir`)",
                    shown.display()
                )
            }),
        }
    }

    /// The files of `folder` whose names end in `.<extension>`, built-in and overriding, in
    /// name order.
    pub fn files(&self, folder: &str, extension: &str) -> anyhow::Result<Vec<TemplateFile>> {
        let mut files = BTreeMap::new();
        for file in BUILT_IN.get_dir(folder).into_iter().flat_map(Dir::files) {
            let path = file.path();
            let Some(name) = named_with(path, extension) else {
                continue;
            };
            let origin = format!("built-in templates/{}", path.display());
            let text = file
                .contents_utf8()
                .with_context(|| format!("{origin} is not UTF-8"))?
                .to_owned();
            files.insert(name.clone(), TemplateFile { name, origin, text });
        }
        if let Some(dir) = &self.overrides {
            for file in overriding(&dir.join(folder), extension)? {
                files.insert(file.name.clone(), file);
            }
        }
        Ok(files.into_values().collect())
    }
}

/// The file name of `path` if it ends in `.<extension>`.
fn named_with(path: &Path, extension: &str) -> Option<String> {
    if path.extension().is_none_or(|e| e != extension) {
        return None;
    }
    Some(path.file_name()?.to_string_lossy().into_owned())
}

/// The files of `dir` whose names end in `.<extension>`; none if `dir` is absent (an override
/// directory need not have every folder).
fn overriding(dir: &Path, extension: &str) -> anyhow::Result<Vec<TemplateFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let Some(name) = named_with(&path, extension) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let origin = path.display().to_string();
        files.push(TemplateFile { name, origin, text });
    }
    Ok(files)
}

/// The catalogue's seed items: each file's `[[services]]` entries over its `[common]` table.
pub fn load_services(templates: &TemplateFiles) -> anyhow::Result<Vec<(ItemCode, ServiceSpec)>> {
    let mut items: Vec<(ItemCode, ServiceSpec)> = Vec::new();
    for file in templates.files("services", "toml")? {
        let origin = &file.origin;
        let table: toml::Table =
            toml::from_str(&file.text).with_context(|| format!("parsing {origin}"))?;
        let common = match table.get("common") {
            Some(toml::Value::Table(common)) => common.clone(),
            _ => toml::Table::new(),
        };
        let entries = match table.get("services") {
            Some(toml::Value::Array(entries)) => entries.clone(),
            _ => bail!("{origin}: no [[services]]"),
        };
        for entry in entries {
            let mut merged = common.clone();
            if let toml::Value::Table(own) = entry {
                merged.extend(own);
            }
            let code = merged
                .remove("code")
                .and_then(|c| c.as_str().map(str::to_owned))
                .with_context(|| format!("{origin}: a service without a code"))?;
            let code = ItemCode::parse(&code)
                .map_err(|e| anyhow::anyhow!("{origin}: code {code}: {e}"))?;
            let mut spec: ServiceSpec = toml::Value::Table(merged)
                .try_into()
                .with_context(|| format!("{origin}: service {code}"))?;
            if spec.position.is_none() {
                spec.position = u32::try_from(items.len() + 1).ok();
            }
            let spec = spec
                .check()
                .map_err(|(field, e)| anyhow::anyhow!("{origin}: {code}.{field}: {e}"))?;
            if items.iter().any(|(c, _)| c == &code) {
                bail!("{origin}: service {code} is defined twice");
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
pub fn load_calendars(templates: &TemplateFiles) -> anyhow::Result<Vec<YearCalendar>> {
    templates
        .files("calendar", "toml")?
        .into_iter()
        .map(|file| {
            let origin = &file.origin;
            let year: YearCalendar =
                toml::from_str(&file.text).with_context(|| format!("parsing {origin}"))?;
            year.check()
                .map_err(|(field, e)| anyhow::anyhow!("{origin}: {field}: {e}"))
        })
        .collect()
}

/// Every certificate kind the service knows, by `kind`.
#[derive(Debug, Clone)]
pub struct Templates(BTreeMap<String, Template>);

impl Templates {
    /// Every `certificates/*.toml`. A kind is declared by one file only: an override that
    /// changes a built-in kind has the built-in file's name.
    pub fn load(templates: &TemplateFiles) -> anyhow::Result<Self> {
        let mut kinds = BTreeMap::new();
        let mut declared_by: BTreeMap<String, String> = BTreeMap::new();
        for file in templates.files("certificates", "toml")? {
            let template =
                Template::parse(&file.text).with_context(|| format!("template {}", file.origin))?;
            if let Some(previous) = declared_by.insert(template.kind.clone(), file.origin.clone()) {
                bail!(
                    "two templates declare kind {}: {previous} and {}",
                    template.kind,
                    file.origin
                );
            }
            kinds.insert(template.kind.clone(), template);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_built_in_templates_are_the_repositorys() {
        let built_in = TemplateFiles::built_in();
        let templates = Templates::load(&built_in).unwrap();
        let kinds: Vec<_> = templates.kinds().collect();
        assert_eq!(kinds, ["production-licence", "talent-residence-permit"]);
        assert!(
            load_services(&built_in)
                .unwrap()
                .iter()
                .any(|(code, _)| code.as_str() == "rebar")
        );
        assert!(
            load_calendars(&built_in)
                .unwrap()
                .iter()
                .any(|c| c.year == 2026)
        );
        let pages = built_in.files("pages", "html").unwrap();
        assert!(pages.iter().any(|p| p.name == "verify.html"));
        assert!(
            pages
                .iter()
                .all(|p| p.origin.starts_with("built-in templates/pages/"))
        );
    }

    #[test]
    fn an_override_replaces_the_file_of_its_name_and_adds_new_ones() {
        let dir = overrides(&[
            ("pages/verify.html", "mine"),
            ("pages/extra.html", "new"),
            ("pages/notes.txt", "not a page"),
        ]);
        let files = TemplateFiles::new(Some(dir.path())).unwrap();
        let pages = files.files("pages", "html").unwrap();
        let built_in = TemplateFiles::built_in().files("pages", "html").unwrap();
        assert_eq!(pages.len(), built_in.len() + 1);
        for page in &pages {
            match page.name.as_str() {
                "verify.html" => assert_eq!(page.text, "mine"),
                "extra.html" => assert_eq!(page.text, "new"),
                name => {
                    let shipped = built_in.iter().find(|p| p.name == name).unwrap();
                    assert_eq!(page.text, shipped.text, "{name}");
                }
            }
        }
        let kinds = Templates::load(&files).unwrap();
        assert_eq!(
            kinds.kinds().count(),
            2,
            "no certificates/ overrides nothing"
        );
    }

    #[test]
    fn a_new_certificate_kind_is_added_and_a_second_file_for_a_kind_is_refused() {
        let licence = TemplateFiles::built_in()
            .files("certificates", "toml")
            .unwrap()
            .into_iter()
            .find(|f| f.name == "production-licence.toml")
            .unwrap()
            .text;
        let renamed = licence.replace("kind = \"production-licence\"", "kind = \"food-licence\"");
        let dir = overrides(&[("certificates/food-licence.toml", &renamed)]);
        let templates = Templates::load(&TemplateFiles::new(Some(dir.path())).unwrap()).unwrap();
        assert!(templates.get("food-licence").is_some());
        assert!(templates.get("production-licence").is_some());

        let dir = overrides(&[("certificates/copy.toml", &licence)]);
        let error = Templates::load(&TemplateFiles::new(Some(dir.path())).unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("production-licence"), "{error}");
        assert!(error.contains("built-in templates/certificates/production-licence.toml"));
        assert!(error.contains("copy.toml"), "{error}");
    }

    #[test]
    fn a_missing_templates_dir_is_refused_naming_the_path_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("my-templates");
        let error = TemplateFiles::new(Some(&missing)).unwrap_err().to_string();
        assert!(error.contains(&missing.display().to_string()), "{error}");
        assert!(error.contains("`templates_dir`"), "{error}");

        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let error = TemplateFiles::new(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("is not a directory"), "{error}");
    }
}
