//! Server-rendered HTML pages from `<templates_dir>/pages/*.html` (minijinja, auto-escaped).

use std::path::Path;

use anyhow::Context;
use minijinja::Environment;
use serde::Serialize;

pub struct Pages(Environment<'static>);

/// Every page, so a broken template stops the service at start, not at a verifier's scan.
const PAGES: &[&str] = &[
    "verdict.html",
    "verify.html",
    "console_error.html",
    "console_login.html",
    "console_home.html",
    "console_submission.html",
    "console_report.html",
    "receipt.html",
];

/// `{{ t | beijing }}`: an RFC 3339 time as people read it everywhere, Beijing time with its
/// zone (`2026-12-02 18:30:05 北京时间 (UTC+8)`).
fn beijing(value: &str) -> Result<String, minijinja::Error> {
    let t = crate::domain::parse_time(value)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.message))?;
    Ok(crate::domain::calendar::beijing_time(t))
}

impl Pages {
    pub fn load(templates_dir: &Path) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(templates_dir.join("pages")));
        env.add_filter("beijing", beijing);
        for page in PAGES {
            env.get_template(page)
                .with_context(|| format!("loading page template {page}"))?;
        }
        Ok(Self(env))
    }

    pub fn render(&self, page: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.0.get_template(page)?.render(context)
    }
}
