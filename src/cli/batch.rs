//! `onetrip issue --batch FILE.jsonl` on a stopped store: issues every line with a progress
//! bar and appends each line's result to a results file as it comes. Run again after a crash
//! (or after fixing failed lines), it keeps the lines already issued, retries the rest, and
//! issues nothing twice: a line whose certificate was stored but whose result was not written
//! is found issued and reported as `already_issued`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::failure;
use crate::config::Settings;
use crate::domain::actor::Actor;
use crate::domain::batch::{LineResult, NumberedLine, NumberedResult};
use crate::service::Services;
use crate::service::batch::{self, DEFAULT_JOBS};

/// `FILE.jsonl` → `FILE.results.jsonl`, beside it.
pub fn default_results_path(file: &Path) -> PathBuf {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    file.with_file_name(format!("{stem}.results.jsonl"))
}

/// The results of an earlier run that stand (issued or already issued), by line. Failed lines
/// and a line cut short by a crash are dropped, and the file is rewritten without them, so
/// that each line ends up in it exactly once.
fn standing_results(path: &Path) -> anyhow::Result<BTreeMap<usize, NumberedResult>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let standing: BTreeMap<usize, NumberedResult> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<NumberedResult>(l).ok())
        .filter(|r| r.result.is_done())
        .map(|r| (r.line, r))
        .collect();
    write_results(path, standing.values())?;
    Ok(standing)
}

/// Replaces the results file with `results`, atomically (write beside it, then rename).
fn write_results<'a>(
    path: &Path,
    results: impl Iterator<Item = &'a NumberedResult>,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for result in results {
        text.push_str(&serde_json::to_string(result)?);
        text.push('\n');
    }
    let partial = path.with_extension("jsonl.partial");
    std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("replacing {}", path.display()))
}

pub async fn issue_batch(
    settings: Settings,
    file: &Path,
    results: Option<PathBuf>,
    jobs: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let lines = batch::lines_of(&text).map_err(failure)?;
    let results_path = results.unwrap_or_else(|| default_results_path(file));
    let mut standing = standing_results(&results_path)?;
    let todo: Vec<NumberedLine> = lines
        .iter()
        .filter(|l| !standing.contains_key(&l.line))
        .cloned()
        .collect();
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.listen));
    let services = Services::open(settings, public_url).await?;

    let bar = ProgressBar::new(lines.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40.green/white} {pos}/{len} lines  {per_sec}  eta {eta}  {msg}",
        )?
        .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    bar.set_position(standing.len() as u64);
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results_path)
        .with_context(|| format!("opening {}", results_path.display()))?;
    let (mut issued, mut already, mut failed) = (0usize, standing.len(), 0usize);
    let mut write_error = None;
    batch::run(
        &services,
        &Actor::operator(),
        todo,
        jobs.unwrap_or(DEFAULT_JOBS),
        |result| {
            match &result.result {
                LineResult::Issued { .. } => issued += 1,
                LineResult::AlreadyIssued { .. } => already += 1,
                LineResult::Failed { .. } => failed += 1,
            }
            let written = serde_json::to_string(&result)
                .map_err(anyhow::Error::from)
                .and_then(|json| Ok(writeln!(out, "{json}")?));
            if let Err(e) = written {
                write_error.get_or_insert(e);
            }
            standing.insert(result.line, result);
            bar.inc(1);
            bar.set_message(format!("issued {issued}, failed {failed}"));
        },
    )
    .await;
    bar.finish();
    if let Some(e) = write_error {
        return Err(e.context(format!("writing {}", results_path.display())));
    }
    write_results(&results_path, standing.values())?;
    println!(
        "{} lines: {issued} issued, {already} issued before, {failed} failed; results in {}",
        lines.len(),
        results_path.display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
