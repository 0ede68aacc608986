use clap::Parser;
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
    // A batch draws a progress bar on the terminal: a log line per certificate would tear it.
    let default_level = match cli.command {
        onetrip::cli::Command::Issue(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match onetrip::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
