//! The command line: `serve`, `token create`, `config check`, and the commands that work on a
//! stopped store (batch issuance in `batch`).

mod backup;
mod batch;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Flag, Loaded, Mode, Settings, Sources};
use crate::domain::actor::Actor;
use crate::domain::calendar::beijing_time;
use crate::domain::parse_time;
use crate::service::{ServiceError, keys, store_copy, tokens};
use crate::store::{Location, Store};

#[derive(Parser)]
#[command(
    name = "onetrip",
    version,
    about = "最多跑一次: pre-review, window check, joint approval, signed certificates"
)]
pub struct Cli {
    /// The data directory (sled store and material files) [env: ONETRIP_DATA].
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// Where the records live: `sled:<dir>` or `postgres://…` (default: sled in the data
    /// directory) [env: ONETRIP_STORE].
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// Material files (default: `materials/` in the data directory; a shared file system
    /// for several nodes) [env: ONETRIP_MATERIALS_DIR].
    #[arg(long, global = true)]
    pub materials_dir: Option<PathBuf>,
    /// A TOML config file (default: ./onetrip.toml if it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Any setting, by its name in the config file (`limits.max_connections=100`); repeat for
    /// more. Flags override `ONETRIP_*` variables, which override the file.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = key_value)]
    pub set: Vec<(String, String)>,
    /// `text` or `json` (one object per line) [env: ONETRIP_LOG_FORMAT].
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Log what a command does (`-v`: info, `-vv`: debug); without it only warnings and errors
    /// are logged, except by `serve`. `RUST_LOG` overrides both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the HTTP service.
    Serve(ServeArgs),
    /// Bring a PostgreSQL store's schema up to this binary's (`serve` does it too, at start);
    /// a sled store needs none.
    Migrate,
    /// Manage API tokens on a stopped store.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Move the records between stores.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Check a certificate from its PDF, a photo of its QR code, a link, a token or its
    /// 核验码, against the issuers you trust. The first line printed is the verdict. Exit 0:
    /// valid (confirmed online); 1: not valid; 2: valid as far as a current pinned status
    /// list shows (issuer not reached); 3: untrusted issuer, unusable input, mistyped code, or
    /// a code to check offline; 4: status unknown (the pinned status list is more than 24
    /// hours past its next update, missing, or older than the certificate).
    Verify(VerifyArgs),
    /// The issuers `verify` trusts, with their pinned key sets and status lists.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Render a SPECIMEN certificate of a kind with sample data (never signed, never stored).
    Preview {
        kind: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Manage signing keys on a stopped store (a running server: use /api/v1/keys).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Issue certificates on a stopped store (a running server: POST /api/v1/batches).
    Issue(IssueArgs),
    /// The settings (docs/configuration.md).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a backup (records, signing keys, material files, and a manifest of their
    /// SHA-256) into a new directory: from a running service with `--server`, whose admin
    /// token is read from ONETRIP_TOKEN, or else from the stopped store of `--data`.
    Backup {
        /// The directory to write (new, or empty).
        #[arg(long)]
        to: PathBuf,
        /// The running service's address, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: Option<String>,
    },
    /// Check a backup and make a new data directory of it (records, keys under keys/,
    /// material files under materials/).
    Restore {
        /// The backup directory (`onetrip backup --to`).
        #[arg(long)]
        from: PathBuf,
        /// The data directory to make (new, or empty).
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Load the settings as `serve` would (same flags), check them, and print the effective
    /// settings as TOML with secrets masked. Exit 0 if they are usable, 2 if not.
    Check(ServeArgs),
}

#[derive(Args)]
pub struct IssueArgs {
    /// A JSON Lines file: one `{"submission": "S…"}` (an accepted, approved submission) or
    /// `{"migrate": {…}}` (an existing licence) per line. Run it again to resume: lines
    /// already issued are kept, nothing is issued twice.
    #[arg(long)]
    batch: PathBuf,
    /// Where each line's result goes (default: FILE.results.jsonl beside the batch file).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Lines issued at once.
    #[arg(long)]
    jobs: Option<usize>,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// certificate.pdf, photo.png/jpg, a https://…/v/<token> or …/c/<code> link, the token,
    /// or the 核验码 printed on the certificate.
    input: String,
    /// The trusted issuer to ask about a 核验码 (needed only when several are trusted).
    #[arg(long)]
    issuer: Option<String>,
    /// A key set to use instead of the pinned one: a JWKS file (`onetrip keys export-jwks`),
    /// or a URL (`<issuer>/.well-known/jwks.json`, which trusts that issuer for this run).
    #[arg(long)]
    jwks: Option<String>,
    /// Ask no one: decide from the pinned key set and status list.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    net: NetArgs,
}

/// Where the trust list is, and how to reach issuers.
#[derive(Args)]
pub struct NetArgs {
    /// The trust list file (default: ~/.config/onetrip/trust.json).
    #[arg(long, env = "ONETRIP_TRUST")]
    trust: Option<PathBuf>,
    /// Seconds to wait for an issuer to connect, and then for each read.
    #[arg(long, default_value_t = 5, env = "ONETRIP_TIMEOUT")]
    timeout: u64,
    /// A PEM root certificate to trust besides the system's and the web's (a private CA).
    #[arg(long, env = "ONETRIP_CA_CERT")]
    ca_cert: Option<PathBuf>,
}

impl NetArgs {
    fn trust_path(&self) -> PathBuf {
        self.trust
            .clone()
            .unwrap_or_else(crate::offline::default_path)
    }

    fn fetcher(&self) -> anyhow::Result<crate::offline::Fetcher> {
        crate::offline::Fetcher::new(
            std::time::Duration::from_secs(self.timeout),
            self.ca_cert.as_deref(),
        )
    }
}

#[derive(Subcommand)]
pub enum TrustCommand {
    /// Trust an issuer: fetch its key set and signed status list from its public URL and pin
    /// them (compare the key ids it prints with what the issuer publishes elsewhere).
    Add {
        url: String,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Every trusted issuer, its keys and the age of its pinned status list.
    List {
        #[command(flatten)]
        net: NetArgs,
    },
    /// Stop trusting an issuer.
    Remove {
        url: String,
        #[command(flatten)]
        net: NetArgs,
    },
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
    /// Seal every private key in the store again under ONETRIP_KEY_ENCRYPTION_KEY_FILE,
    /// opening those sealed under ONETRIP_PREVIOUS_KEY_ENCRYPTION_KEY_FILE (PostgreSQL; the
    /// nodes keep serving, started with both files).
    Reseal,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port [env: ONETRIP_LISTEN].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// A private address serving only GET /metrics, without a token (default: none; /metrics
    /// is then served on --listen to an admin token) [env: ONETRIP_METRICS_LISTEN].
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Base URL printed in QR codes (default: http://<bound address>) [env:
    /// ONETRIP_PUBLIC_URL].
    #[arg(long)]
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed, comma-separated addresses: behind
    /// them the per-address limits count each client's own address [env:
    /// ONETRIP_TRUSTED_PROXIES].
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy every record (submissions with their histories, certificates and their PDFs,
    /// tokens, key records, catalogue versions, calendars) from one store into another,
    /// then check the copy record by record. Run again to resume: what the target holds
    /// already is skipped. Material files and keys stay where they are. A sled store must
    /// not be served meanwhile.
    Copy {
        /// The store to read: `sled:<dir>` or `postgres://…`.
        #[arg(long)]
        from: String,
        /// The store to write: `sled:<dir>` (new or empty) or `postgres://…`.
        #[arg(long)]
        to: String,
    },
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
        /// Whom the token is given to, shown wherever it acts (王芳 · 3 号窗口).
        #[arg(long)]
        name: Option<String>,
    },
    /// Every token's public id, role and binding (secrets are never stored).
    List,
    /// Revoke a token by its public id (`tok_…`).
    Revoke { id: String },
}

impl Cli {
    /// Settings from the defaults, the config file, `ONETRIP_*` and the flags (in that order;
    /// `config.rs` merges them). The named flags are kept, beside `--set`, for the settings
    /// set most often.
    pub fn settings(&self) -> anyhow::Result<Loaded> {
        let mut flags = Vec::new();
        let mut named = |name: &str, key: &str, value: String| {
            flags.push(Flag {
                name: name.to_owned(),
                key: key.to_owned(),
                value,
            });
        };
        if let Some(data) = &self.data {
            named("--data", "data", data.display().to_string());
        }
        if let Some(store) = &self.store {
            named("--store", "store", store.clone());
        }
        if let Some(dir) = &self.materials_dir {
            named(
                "--materials-dir",
                "materials_dir",
                dir.display().to_string(),
            );
        }
        if let Some(format) = &self.log_format {
            named("--log-format", "log_format", format.clone());
        }
        if let Command::Serve(args) | Command::Config(ConfigCommand::Check(args)) = &self.command {
            if let Some(listen) = args.listen {
                named("--listen", "listen", listen.to_string());
            }
            if let Some(address) = args.metrics_listen {
                named("--metrics-listen", "metrics_listen", address.to_string());
            }
            if let Some(url) = &args.public_url {
                named("--public-url", "public_url", url.clone());
            }
            if !args.trusted_proxies.is_empty() {
                let proxies: Vec<String> =
                    args.trusted_proxies.iter().map(|p| p.to_string()).collect();
                named("--trusted-proxies", "trusted_proxies", proxies.join(","));
            }
        }
        for (key, value) in &self.set {
            named(&format!("--set {key}"), key, value.clone());
        }
        Settings::load(&Sources {
            file: self.config.clone(),
            env: std::env::vars().collect(),
            flags,
        })
    }

    /// The log level when `RUST_LOG` does not say: the service logs what it does; a one-shot
    /// command prints its answer on stdout and logs only trouble, unless asked with `-v`. A
    /// batch draws a progress bar that a log line per certificate would tear.
    pub fn log_level(&self) -> &'static str {
        match (self.verbose, &self.command) {
            (0, Command::Serve(_)) => "info",
            (0, _) => "warn",
            (1, _) => "info",
            _ => "debug",
        }
    }

    /// The exit code when the settings cannot be loaded: 2 for `config check`, whose answer
    /// that is, 1 for every other command.
    pub fn settings_failure(&self) -> ExitCode {
        match self.command {
            Command::Config(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// `--set KEY=VALUE`.
fn key_value(arg: &str) -> Result<(String, String), String> {
    arg.split_once('=')
        .map(|(key, value)| (key.trim().to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{arg:?} is not KEY=VALUE"))
}

/// Runs a command. `verify` answers with its own exit codes (see [`crate::offline::Outcome`]);
/// other commands fail only with an error, which the caller reports.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(_) => crate::server::serve(settings).await?,
        Command::Token(TokenCommand::Create {
            role,
            department,
            holder,
            name,
        }) => {
            let store = open_store(&settings).await?;
            let token = tokens::create(
                &*store,
                &Actor::operator(),
                &role,
                department.as_deref(),
                holder.as_deref(),
                name.as_deref(),
            )
            .await
            .map_err(failure)?;
            println!("{}", token.secret);
        }
        Command::Token(TokenCommand::List) => {
            let store = open_store(&settings).await?;
            for t in tokens::list(&*store, &Actor::operator())
                .await
                .map_err(failure)?
            {
                let binding = t
                    .department
                    .map(|d| d.to_string())
                    .or(t.holder)
                    .unwrap_or_default();
                let revoked = t
                    .revoked_at
                    .map(|r| format!("  revoked {}", r.to_rfc3339()))
                    .unwrap_or_default();
                let name = t.name.map(|n| format!("  {n}")).unwrap_or_default();
                println!(
                    "{}  {:<9} {binding:<18} created {}{revoked}{name}",
                    t.id,
                    t.role,
                    t.created_at.to_rfc3339()
                );
            }
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let store = open_store(&settings).await?;
            tokens::revoke(&*store, &Actor::operator(), &id)
                .await
                .map_err(failure)?;
            println!("{id} revoked");
        }
        Command::Keys(command) => keys(&settings, command).await?,
        Command::Store(StoreCommand::Copy { from, to }) => {
            store_copy(&settings, &from, &to).await?;
        }
        Command::Migrate => {
            let location = Location::parse(settings.store.as_deref(), &settings.data)
                .map_err(|e| anyhow::anyhow!(e))?;
            location.open().await?;
            println!("{location}: the schema is this binary's");
        }
        Command::Verify(args) => {
            let request = crate::offline::VerifyRequest {
                trust_path: args.net.trust_path(),
                timeout: std::time::Duration::from_secs(args.net.timeout),
                ca_cert: args.net.ca_cert,
                input: args.input,
                jwks: args.jwks,
                issuer: args.issuer,
                offline: args.offline,
            };
            let outcome = crate::offline::verify(&request).await;
            return Ok(ExitCode::from(outcome.code()));
        }
        Command::Trust(command) => trust(command).await?,
        Command::Issue(args) => {
            return batch::issue_batch(settings, &args.batch, args.results, args.jobs).await;
        }
        Command::Config(ConfigCommand::Check(_)) => {
            if let Err(e) = settings.check() {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
            print!("{}", settings.to_masked_toml()?);
        }
        Command::Backup { to, server } => {
            backup::back_up(&settings, &to, server.as_deref()).await?;
        }
        Command::Restore { from, to } => backup::restore(from, to).await?,
        Command::Preview { kind, out } => {
            let pdf = crate::service::preview::render(&settings, &kind)?;
            std::fs::write(&out, pdf).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn trust(command: TrustCommand) -> anyhow::Result<()> {
    match command {
        TrustCommand::Add { url, net } => {
            let issuer =
                crate::offline::trust_add(&url, &net.trust_path(), &net.fetcher()?).await?;
            println!("trusted {}", issuer.url);
            for key in crate::offline::describe_keys(&issuer) {
                println!("  key {key}");
            }
        }
        TrustCommand::List { net } => {
            for issuer in crate::offline::TrustList::load(&net.trust_path())?.issuers {
                let list = crate::offline::pinned_list_time(&issuer)
                    .map_or("no status list".to_owned(), |t| {
                        format!("status list of {}", beijing_time(t))
                    });
                println!(
                    "{}  trusted {}  {list}",
                    issuer.url,
                    beijing_time(issuer.added_at)
                );
                for key in crate::offline::describe_keys(&issuer) {
                    println!("  key {key}");
                }
            }
        }
        TrustCommand::Remove { url, net } => {
            let path = net.trust_path();
            let mut list = crate::offline::TrustList::load(&path)?;
            if !list.remove(&url) {
                anyhow::bail!(
                    "{} is not a trusted issuer",
                    crate::offline::normalize(&url)
                );
            }
            list.save(&path)?;
            println!("no longer trusted: {}", crate::offline::normalize(&url));
        }
    }
    Ok(())
}

async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    // A change is written to the store, which every running node follows within a second
    // (sled's lock keeps the CLI off a store a server holds).
    let store = open_store(settings).await?;
    let location = Location::parse(settings.store.as_deref(), &settings.data)
        .map_err(|e| anyhow::anyhow!(e))?;
    let custody = keys::custody(settings, &location)?;
    let operator = Actor::operator();
    // The CLI must be able to rotate away from the demonstration key, so it never refuses it.
    let ring = async || keys::load_or_create(&*store, &custody, Mode::Development).await;
    match command {
        KeysCommand::List => {
            for r in keys::list(&ring().await?, &operator).map_err(failure)? {
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
            let record = keys::rotate(
                &*store,
                &custody,
                &tokio::sync::RwLock::new(ring().await?),
                &operator,
            )
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
            keys::revoke(
                &*store,
                &custody,
                &tokio::sync::RwLock::new(ring().await?),
                &operator,
                &kid,
                since,
            )
            .await
            .map_err(failure)?;
            println!("{kid} revoked, compromised since {}", since.to_rfc3339());
        }
        KeysCommand::ExportJwks => {
            println!(
                "{}",
                serde_json::to_string_pretty(&keys::jwks(&ring().await?))?
            )
        }
        KeysCommand::Reseal => {
            let done = keys::reseal(&*store, &custody, &operator)
                .await
                .map_err(failure)?;
            println!(
                "{} keys sealed again under key-encryption key {}; {} were already",
                done.resealed, done.kek_id, done.already
            );
        }
    }
    Ok(())
}

async fn store_copy(settings: &Settings, from: &str, to: &str) -> anyhow::Result<()> {
    let open = |name: &str, setting: &str| {
        let location = Location::parse(Some(setting), &settings.data)
            .map_err(|e| anyhow::anyhow!("--{name}: {e}"))?;
        anyhow::ensure!(
            setting.trim().starts_with("sled:") || matches!(location, Location::Postgres(_)),
            "--{name}: name the store (sled:<dir> or postgres://…)"
        );
        Ok::<_, anyhow::Error>(location)
    };
    let (from, to) = (open("from", from)?, open("to", to)?);
    anyhow::ensure!(from != to, "--from and --to name the same store");
    if let Location::Sled(dir) = &from {
        anyhow::ensure!(dir.is_dir(), "--from: no sled store at {}", dir.display());
    }
    let source = from
        .open()
        .await
        .with_context(|| format!("opening {from}"))?;
    let target = to.open().await.with_context(|| format!("opening {to}"))?;
    let operator = Actor::operator();
    let tallies = store_copy::copy(&operator, &*source, &*target, |tally| {
        tracing::info!(
            sort = tally.sort.name(),
            written = tally.written,
            already = tally.already,
            "copying"
        );
    })
    .await
    .map_err(failure)?;
    for tally in &tallies {
        println!(
            "{:<15} {:>8} written, {:>8} already there",
            tally.sort.name(),
            tally.written,
            tally.already
        );
    }
    let counts = store_copy::verify(&operator, &*source, &*target)
        .await
        .map_err(failure)?;
    let counts: Vec<String> = counts
        .iter()
        .map(|(sort, count)| format!("{count} {}", sort.name()))
        .collect();
    println!("verified {to} against {from}: {}", counts.join(", "));
    Ok(())
}

/// The store the settings name: a sled one must be stopped (sled allows one process), a
/// PostgreSQL one may be serving meanwhile.
async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    crate::service::open_data_dir(&settings.data)?;
    let location = Location::parse(settings.store.as_deref(), &settings.data)
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(location.open().await?)
}

/// A refused use-case as one line: the field at fault (if any) and the message.
fn failure(e: ServiceError) -> anyhow::Error {
    match e.field {
        Some(field) => anyhow::anyhow!("{field}: {}", e.message),
        None => anyhow::anyhow!("{}", e.message),
    }
}
