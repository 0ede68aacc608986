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

impl Pages {
    pub fn load(templates_dir: &Path) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(templates_dir.join("pages")));
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
