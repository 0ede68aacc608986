//! Server-rendered HTML pages from the templates' `pages/*.html` (minijinja, auto-escaped):
//! the built-in ones, each overridable by a file in `templates_dir` (`crate::templates`).

use std::path::Path;

use anyhow::Context;
use minijinja::Environment;
use serde::Serialize;

use crate::templates::TemplateFiles;

pub struct Pages(Environment<'static>);

/// `{{ t | beijing }}`: an RFC 3339 time as people read it everywhere, Beijing time with its
/// zone (`2026-12-02 18:30:05 北京时间 (UTC+8)`).
fn beijing(value: &str) -> Result<String, minijinja::Error> {
    let t = crate::domain::parse_time(value)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.message))?;
    Ok(crate::domain::calendar::beijing_time(t))
}

impl Pages {
    /// Every page, built-in or overriding, compiled once at start: what the service shows
    /// does not change under it if a file in `templates_dir` is edited while it runs.
    pub fn load(templates_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.add_filter("beijing", beijing);
        for page in TemplateFiles::new(templates_dir)?.files("pages", "html")? {
            env.add_template_owned(page.name, page.text)
                .with_context(|| format!("page template {}", page.origin))?;
        }
        Ok(Self(env))
    }

    pub fn render(&self, page: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.0.get_template(page)?.render(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages the routes render, so a renamed file fails here rather than at a verifier's
    /// scan.
    const RENDERED: &[&str] = &[
        "verdict.html",
        "verify.html",
        "console_error.html",
        "console_login.html",
        "console_home.html",
        "console_submission.html",
        "console_report.html",
        "receipt.html",
    ];

    #[test]
    fn every_rendered_page_is_built_in() {
        let pages = Pages::load(None).unwrap();
        for page in RENDERED {
            assert!(pages.0.get_template(page).is_ok(), "{page}");
        }
    }

    #[test]
    fn an_overriding_page_replaces_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pages")).unwrap();
        std::fs::write(
            dir.path().join("pages/verify.html"),
            "<p>本地核验页 {{ 6 * 7 }}</p>",
        )
        .unwrap();
        let built_in = Pages::load(None).unwrap();
        let overridden = Pages::load(Some(dir.path())).unwrap();
        assert_eq!(
            overridden.render("verify.html", ()).unwrap(),
            "<p>本地核验页 42</p>"
        );
        let source =
            |pages: &Pages, page: &str| pages.0.get_template(page).unwrap().source().to_owned();
        assert_ne!(
            source(&built_in, "verify.html"),
            source(&overridden, "verify.html")
        );
        for page in RENDERED.iter().filter(|p| **p != "verify.html") {
            assert_eq!(source(&built_in, page), source(&overridden, page), "{page}");
        }
    }

    #[test]
    fn a_broken_overriding_page_stops_the_start_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pages")).unwrap();
        std::fs::write(dir.path().join("pages/verify.html"), "{% if %}").unwrap();
        let error = format!("{:#}", Pages::load(Some(dir.path())).err().unwrap());
        assert!(error.contains("pages/verify.html"), "{error}");
    }
}
