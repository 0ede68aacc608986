//! The command line: `serve`, `token create`, and the commands that work on a stopped store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Mode, Settings};
use crate::domain::actor::Actor;
use crate::domain::parse_time;
use crate::service::{ServiceError, keys, tokens};
use crate::store::SledStore;

#[derive(Parser)]
#[command(
    name = "onetrip",
    version,
    about = "最多跑一次: pre-review, window check, joint approval, signed certificates"
)]
pub struct Cli {
    /// The data directory (sled store and material files).
    #[arg(long, global = true, env = "ONETRIP_DATA")]
    pub data: Option<PathBuf>,
    /// A TOML config file (default: ./onetrip.toml if it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the HTTP service.
    Serve(ServeArgs),
    /// Manage API tokens on a stopped store.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check a certificate from its PDF, a photo of its QR code, a link or a token; exits 0
    /// only for a valid one.
    Verify {
        /// certificate.pdf, photo.png/jpg, a https://…/v/<token> link, or the token.
        input: String,
        /// The key set: a JWKS file (`onetrip keys export-jwks`) or URL. Defaults to the
        /// link's service.
        #[arg(long)]
        jwks: Option<String>,
    },
    /// Render a SPECIMEN certificate of a kind with sample data (never signed, never stored).
    Preview {
        kind: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Manage signing keys on a stopped store (a running server: use /api/v1/keys).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Every key with its status and validity window.
    List,
    /// Make a new active key; the current one is retired and keeps verifying what it signed.
    Rotate,
    /// Mark a key compromised: what it signed from that time on is no longer valid.
    Revoke {
        kid: String,
        #[arg(long)]
        compromised_since: String,
    },
    /// Print the public JWK Set, for offline verifiers.
    ExportJwks,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "ONETRIP_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Base URL printed in QR codes (default: http://<bound address>).
    #[arg(long, env = "ONETRIP_PUBLIC_URL")]
    pub public_url: Option<String>,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it on stdout (shown this once; the store keeps its hash).
    Create {
        #[arg(long)]
        role: String,
        /// Department code, for an approver.
        #[arg(long)]
        department: Option<String>,
        /// Holder id (USCC or ID number), for an applicant.
        #[arg(long)]
        holder: Option<String>,
    },
    /// Every token's public id, role and binding (secrets are never stored).
    List,
    /// Revoke a token by its public id (`tok_…`).
    Revoke { id: String },
}

impl Cli {
    /// Settings from the config file, then the environment and flags on top.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(data) = &self.data {
            settings.data = data.clone();
        }
        if let Command::Serve(args) = &self.command {
            if let Some(listen) = args.listen {
                settings.listen = listen;
            }
            if let Some(url) = &args.public_url {
                settings.public_url = Some(url.clone());
            }
        }
        Ok(settings)
    }
}

/// Runs a command; the exit code is failure only for `verify` of a certificate that is not
/// valid (errors are reported by the caller).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings()?;
    match cli.command {
        Command::Serve(_) => crate::server::serve(settings).await?,
        Command::Token(TokenCommand::Create {
            role,
            department,
            holder,
        }) => {
            let store = open_stopped_store(&settings)?;
            let token = tokens::create(
                &store,
                &Actor::operator(),
                &role,
                department.as_deref(),
                holder.as_deref(),
            )
            .await
            .map_err(failure)?;
            println!("{}", token.secret);
        }
        Command::Token(TokenCommand::List) => {
            let store = open_stopped_store(&settings)?;
            for t in tokens::list(&store, &Actor::operator()).map_err(failure)? {
                let binding = t
                    .department
                    .map(|d| d.to_string())
                    .or(t.holder)
                    .unwrap_or_default();
                let revoked = t
                    .revoked_at
                    .map(|r| format!("  revoked {}", r.to_rfc3339()))
                    .unwrap_or_default();
                println!(
                    "{}  {:<9} {binding:<18} created {}{revoked}",
                    t.id,
                    t.role,
                    t.created_at.to_rfc3339()
                );
            }
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let store = open_stopped_store(&settings)?;
            tokens::revoke(&store, &Actor::operator(), &id)
                .await
                .map_err(failure)?;
            println!("{id} revoked");
        }
        Command::Keys(command) => keys(&settings, command).await?,
        Command::Verify { input, jwks } => {
            if !crate::offline::run(&input, jwks.as_deref()).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Preview { kind, out } => {
            let pdf = crate::service::preview::render(&settings, &kind)?;
            std::fs::write(&out, pdf).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let store = open_stopped_store(settings)?;
    let keys_dir = settings.keys_dir();
    // The CLI must be able to rotate away from the demonstration key, so it never refuses it.
    let mut ring = keys::load_or_create(&store, &keys_dir, Mode::Development).await?;
    let operator = Actor::operator();
    match command {
        KeysCommand::List => {
            for r in keys::list(&ring, &operator).map_err(failure)? {
                println!(
                    "{}  {:<8} created {}{}{}",
                    r.kid,
                    format!("{:?}", r.status).to_lowercase(),
                    r.created_at.to_rfc3339(),
                    r.retired_at
                        .map(|t| format!("  retired {}", t.to_rfc3339()))
                        .unwrap_or_default(),
                    r.compromised_since
                        .map(|t| format!("  compromised since {}", t.to_rfc3339()))
                        .unwrap_or_default(),
                );
            }
        }
        KeysCommand::Rotate => {
            let record = keys::rotate(&store, &keys_dir, &mut ring, &operator)
                .await
                .map_err(failure)?;
            println!("{}", record.kid);
        }
        KeysCommand::Revoke {
            kid,
            compromised_since,
        } => {
            let since = parse_time(&compromised_since)
                .map_err(|e| anyhow::anyhow!("--compromised-since: {}", e.message))?;
            keys::revoke(&store, &mut ring, &operator, &kid, since)
                .await
                .map_err(failure)?;
            println!("{kid} revoked, compromised since {}", since.to_rfc3339());
        }
        KeysCommand::ExportJwks => {
            println!("{}", serde_json::to_string_pretty(&keys::jwks(&ring))?)
        }
    }
    Ok(())
}

fn open_stopped_store(settings: &Settings) -> anyhow::Result<SledStore> {
    std::fs::create_dir_all(&settings.data)
        .with_context(|| format!("creating data directory {}", settings.data.display()))?;
    Ok(SledStore::open(&settings.data)?)
}

/// A refused use-case as one line: the field at fault (if any) and the message.
fn failure(e: ServiceError) -> anyhow::Error {
    match e.field {
        Some(field) => anyhow::anyhow!("{field}: {}", e.message),
        None => anyhow::anyhow!("{}", e.message),
    }
}
