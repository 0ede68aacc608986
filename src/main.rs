use std::io::IsTerminal;

use clap::Parser;
use onetrip::config::LogFormat;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Material files are ID cards and contracts, the store holds personal data: whatever this
    // process creates (sled's files included, which it opens itself) is 0600, directories 0700.
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let cli = onetrip::cli::Cli::parse();
    // Logging needs the settings (their log format), so a failure to load them is printed
    // plainly.
    let loaded = match cli.settings() {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e:#}");
            return cli.settings_failure();
        }
    };
    init_logging(cli.log_level(), loaded.settings.log_format);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    match onetrip::cli::run(cli, loaded.settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Log lines go to standard error at `RUST_LOG`'s levels, else at `default_level`. Colours
/// only on a terminal (and not with `NO_COLOR`): in a file or a collector, escape codes are
/// noise. JSON is one object per line, with the request's span (and so its id) in each.
fn init_logging(default_level: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init(),
        LogFormat::Json => builder.with_ansi(false).json().init(),
    }
}
