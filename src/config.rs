//! Settings, layered: built-in defaults → `onetrip.toml` (or `--config FILE`) → `ONETRIP_*`
//! environment → command-line flags. figment merges the layers and names, in an error, the
//! file, variable or flag a bad value came from; `docs/configuration.md` lists every setting.
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Default material size limit: 1 GiB.
pub const DEFAULT_MAX_MATERIAL_BYTES: u64 = 1 << 30;
const DEFAULT_CONFIG_FILE: &str = "onetrip.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Development,
    Production,
}

/// The issuing authority (统一出证) and the identifier segments that come from configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Issuer {
    /// Printed on every certificate and put in the token's payload.
    pub name: String,
    /// The issuing authority's USCC: the third segment of every identifier.
    pub authority_code: String,
    /// The identifier's root OID.
    pub identifier_root: String,
}

impl Default for Issuer {
    fn default() -> Self {
        Self {
            name: "演示市行政审批服务局".into(),
            authority_code: "11430000006122244L".into(),
            identifier_root: "1.2.156.3005.2".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: SocketAddr,
    /// A second address that serves only `GET /metrics`, without a token: a private one
    /// (loopback, a management network). Unset, `/metrics` is served on `listen` alone, to an
    /// admin token.
    pub metrics_listen: Option<SocketAddr>,
    /// Base of every verification URL; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
    /// The directory of local files: the sled store (unless `store` names another place),
    /// material files under `materials/`, keys under `keys/`.
    pub data: PathBuf,
    /// Where the records live: unset, sled in `data`; `sled:<dir>`, sled in that directory;
    /// `postgres://…` (or `postgresql://…`), that PostgreSQL database. Material files and
    /// keys stay in their directories whatever the store.
    pub store: Option<String>,
    /// Signing keys; defaults to `<data>/keys`.
    pub keys_dir: Option<PathBuf>,
    /// Material files; defaults to `<data>/materials`. Several nodes share one directory
    /// (a shared file system mounted on each).
    pub materials_dir: Option<PathBuf>,
    /// With PostgreSQL: a file holding the key-encryption key (32 random bytes, base64) under
    /// which private signing keys are sealed in the database, for several nodes. Unset (and
    /// always with sled), private keys are 0600 files in `keys_dir`.
    pub key_encryption_key_file: Option<PathBuf>,
    /// During `onetrip keys reseal`: the key-encryption key being replaced, which nodes still
    /// open keys with.
    pub previous_key_encryption_key_file: Option<PathBuf>,
    /// A directory whose files override the built-in templates of the same relative path
    /// (`certificates/*.toml`, `pages/*.html`, `services/*.toml`, `calendar/*.toml`) and add
    /// those the binary lacks; unset, the built-in templates alone.
    pub templates_dir: Option<PathBuf>,
    pub max_material_bytes: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed: behind them the
    /// per-address limits count the client's own address, not the proxy's.
    pub trusted_proxies: Vec<IpAddr>,
    pub limits: Limits,
    pub mode: Mode,
    /// How log lines are written to standard error.
    pub log_format: LogFormat,
    pub issuer: Issuer,
    /// Department codes of the catalogue and the names pages print for them (`[departments]`,
    /// `SCJG = "市场监管局"`); the file's entries are added to, or replace, the built-in ones.
    pub departments: BTreeMap<String, String>,
}

/// `text` for people at a terminal, `json` (one object per line) for a log collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            public_url: None,
            data: PathBuf::from("./data"),
            store: None,
            keys_dir: None,
            materials_dir: None,
            key_encryption_key_file: None,
            previous_key_encryption_key_file: None,
            templates_dir: None,
            max_material_bytes: DEFAULT_MAX_MATERIAL_BYTES,
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            mode: Mode::Development,
            log_format: LogFormat::Text,
            issuer: Issuer::default(),
            departments: [
                ("SCJG", "市场监管局"),
                ("RSJ", "人力社保局"),
                ("GAJ", "公安局"),
                ("QYGH", "企业工会"),
                ("QZGH", "区总工会"),
                ("SZGH", "市总工会"),
            ]
            .into_iter()
            .map(|(code, name)| (code.to_owned(), name.to_owned()))
            .collect(),
        }
    }
}

/// What one client, or one class of clients, may take of the service (`[limits]`): no class
/// can starve another, no address can take a whole class, and whatever a client makes the
/// service hold in memory counts against one budget. Past a limit the answer is 503 with
/// `Retry-After` at once (or, for a connection, a 503 and close), never a queue.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Open connections, for the whole service. The process raises its file-descriptor limit
    /// to the hard limit at start and keeps this under three quarters of it.
    pub max_connections: usize,
    /// Open connections from one address (a service hall's Wi-Fi, a carrier's NAT). Trusted
    /// proxies are not held to it.
    pub max_connections_per_address: usize,
    /// Requests in flight from one address, whatever their class.
    pub max_requests_per_address: usize,
    /// Requests in flight at once, for the whole service: a backstop at least as large as the
    /// classes' places together, so that each class can have all of its own.
    pub max_concurrent_requests: usize,
    /// Requests in flight of each class: public reads (`/v`, `/c`, `/healthz`, guides, pages,
    /// assets), anonymous requests that send a body (drop-a-PDF, the sign-in form), applicants
    /// signed in with their token (filing, uploading materials: slow phones must not hold the
    /// windows up), staff with a token or a console session, and batch uploads.
    pub max_public_requests: usize,
    pub max_anonymous_requests: usize,
    pub max_applicant_requests: usize,
    pub max_staff_requests: usize,
    pub max_batch_requests: usize,
    /// A connection with no request for this long (or whose request headers take longer) is
    /// closed.
    pub header_read_timeout_secs: u64,
    /// A request body must arrive at `body_min_bytes_per_sec` or faster, measured over each
    /// window of `body_rate_window_secs`; slower, it is cut off with 408.
    pub body_min_bytes_per_sec: u64,
    pub body_rate_window_secs: u64,
    /// An anonymous request (drop-a-PDF, sign-in) must be over within this long: 408.
    pub anonymous_request_timeout_secs: u64,
    /// Upper bound for any request, so one slow client cannot hold a connection forever.
    pub request_timeout_secs: u64,
    /// A request's line and headers, at most: 431 past it.
    pub max_header_bytes: usize,
    /// Each connection's read buffer, at most: a body streams through in chunks of up to
    /// this, each handed from the connection to the handler (a window check hashes at 0.5× the
    /// machine's own SHA-256 through 16 KiB chunks, 0.7–0.8× through 256 KiB, 0.8–0.9×
    /// through 1 MiB). It grows only while a client sends faster than it is read, and is never
    /// smaller than `max_header_bytes`; `max_connections` × this bounds what a flood of large
    /// headers can make the service hold.
    pub read_buffer_bytes: usize,
    /// Request bodies held in memory at once (JSON, PDFs to verify, batch files), together;
    /// past it the next body is refused with 503 instead of growing the process.
    pub max_buffered_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_address: 256,
            max_requests_per_address: 64,
            max_concurrent_requests: 600,
            max_public_requests: 256,
            max_anonymous_requests: 64,
            max_applicant_requests: 128,
            max_staff_requests: 128,
            max_batch_requests: 8,
            header_read_timeout_secs: 10,
            body_min_bytes_per_sec: 1024,
            body_rate_window_secs: 10,
            anonymous_request_timeout_secs: 120,
            request_timeout_secs: 3600,
            max_header_bytes: 16 << 10,
            read_buffer_bytes: 256 << 10,
            max_buffered_body_bytes: 256 << 20,
        }
    }
}

/// `ONETRIP_*` variables that are not settings: the command line reads them itself (the
/// verifier's trust list, timeout and extra root certificate).
const NOT_SETTINGS: &[&str] = &[
    "ONETRIP_TRUST",
    "ONETRIP_TIMEOUT",
    "ONETRIP_CA_CERT",
    "ONETRIP_TOKEN",
];
const ENV_PREFIX: &str = "ONETRIP_";
/// What a secret's value is printed as.
const MASK: &str = "********";

/// Where settings come from besides the built-in defaults; the command line fills it.
#[derive(Debug, Default)]
pub struct Sources {
    /// `--config FILE`, which must exist; without it `./onetrip.toml` is read if present.
    pub file: Option<PathBuf>,
    /// The environment (only `ONETRIP_*` names are looked at): passed in rather than read
    /// here so that a test can give its own without touching the process's.
    pub env: Vec<(String, String)>,
    /// Flags in the order given, applied last.
    pub flags: Vec<Flag>,
}

/// One setting given on the command line, as text, like an environment variable's value.
#[derive(Debug, Clone)]
pub struct Flag {
    /// The flag as the user wrote it (`--listen`, `--set limits.max_connections`): errors
    /// name it.
    pub name: String,
    /// The setting's dotted name (`listen`, `limits.max_connections`).
    pub key: String,
    pub value: String,
}

/// Loaded settings, and what was odd but not wrong (an `ONETRIP_*` variable that is no
/// setting): the caller logs those once logging is set up, which itself needs the settings.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

/// One value from one variable or flag, as a figment layer that names its origin in errors.
struct Given {
    origin: String,
    key: String,
    value: Value,
}

impl Provider for Given {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

impl Settings {
    /// Defaults, then the file, then each `ONETRIP_*` variable, then each flag. A key the file
    /// does not know, a flag naming no setting and a value of the wrong kind are errors that
    /// name the file, variable or flag; an unknown `ONETRIP_*` variable is only a warning (the
    /// environment is shared with other programs and older deployments).
    pub fn load(sources: &Sources) -> anyhow::Result<Loaded> {
        let defaults = Value::serialize(Settings::default())?;
        let mut known = Vec::new();
        leaf_keys(&defaults, "", &mut known);
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match &sources.file {
            Some(path) if !path.is_file() => {
                anyhow::bail!("config file {} does not exist", path.display())
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let mut warnings = Vec::new();
        let mut env: Vec<_> = sources
            .env
            .iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (name, raw) in env {
            let key = env_key(name);
            if known.contains(&key) {
                figment = figment.merge(given(name.clone(), key, raw, &defaults));
            } else if !NOT_SETTINGS.contains(&name.as_str()) {
                warnings.push(format!(
                    "{name} is not a setting (see docs/configuration.md); ignored"
                ));
            }
        }
        for flag in &sources.flags {
            anyhow::ensure!(
                known.contains(&flag.key),
                "{}: no such setting (see docs/configuration.md)",
                flag.name
            );
            figment = figment.merge(given(
                flag.name.clone(),
                flag.key.clone(),
                &flag.value,
                &defaults,
            ));
        }
        // Lossy: a variable's or flag's text `100` is a number where a number is wanted and
        // stays text where text is (an all-digit USCC, say).
        let settings = figment.extract_lossy().map_err(|e| {
            let all: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("{}", all.join("; "))
        })?;
        Ok(Loaded { settings, warnings })
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.keys_dir
            .clone()
            .unwrap_or_else(|| self.data.join("keys"))
    }

    pub fn materials_dir(&self) -> PathBuf {
        self.materials_dir
            .clone()
            .unwrap_or_else(|| self.data.join("materials"))
    }

    /// What would stop the service or leave it unable to serve, found without starting it:
    /// every problem at once, one per line, so that a deployment is fixed in one go.
    pub fn check(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if self.metrics_listen == Some(self.listen) && self.listen.port() != 0 {
            problems.push(format!(
                "metrics_listen: {} is listen's address too; give the metrics one of their own",
                self.listen
            ));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "public_url: {url:?} is not an http:// or https:// URL"
                ));
            }
        }
        let dirs = [
            ("data", Some(&self.data)),
            ("keys_dir", self.keys_dir.as_ref()),
            ("materials_dir", self.materials_dir.as_ref()),
        ];
        for (name, dir) in dirs {
            if let Some(dir) = dir.filter(|d| d.exists() && !d.is_dir()) {
                problems.push(format!("{name}: {} is not a directory", dir.display()));
            }
        }
        if let Some(dir) = self.templates_dir.as_ref().filter(|d| !d.is_dir()) {
            problems.push(format!(
                "templates_dir: {} is not a directory",
                dir.display()
            ));
        }
        let kek_files = [
            ("key_encryption_key_file", &self.key_encryption_key_file),
            (
                "previous_key_encryption_key_file",
                &self.previous_key_encryption_key_file,
            ),
        ];
        for (name, file) in kek_files {
            if let Some(file) = file.as_ref().filter(|f| !f.is_file()) {
                problems.push(format!("{name}: {} is not a file", file.display()));
            }
        }
        if self.previous_key_encryption_key_file.is_some() && self.key_encryption_key_file.is_none()
        {
            problems.push(
                "previous_key_encryption_key_file is set without key_encryption_key_file, the key to seal with"
                    .to_owned(),
            );
        }
        let l = &self.limits;
        // At zero each of these refuses every connection or request.
        let counts = [
            ("max_connections", l.max_connections as u64),
            (
                "max_connections_per_address",
                l.max_connections_per_address as u64,
            ),
            (
                "max_requests_per_address",
                l.max_requests_per_address as u64,
            ),
            ("max_concurrent_requests", l.max_concurrent_requests as u64),
            ("max_public_requests", l.max_public_requests as u64),
            ("max_anonymous_requests", l.max_anonymous_requests as u64),
            ("max_applicant_requests", l.max_applicant_requests as u64),
            ("max_staff_requests", l.max_staff_requests as u64),
            ("max_batch_requests", l.max_batch_requests as u64),
            ("header_read_timeout_secs", l.header_read_timeout_secs),
            (
                "anonymous_request_timeout_secs",
                l.anonymous_request_timeout_secs,
            ),
            ("request_timeout_secs", l.request_timeout_secs),
            ("max_header_bytes", l.max_header_bytes as u64),
            ("read_buffer_bytes", l.read_buffer_bytes as u64),
            ("max_buffered_body_bytes", l.max_buffered_body_bytes),
        ];
        for (name, value) in counts {
            if value == 0 {
                problems.push(format!("limits.{name}: 0 would refuse everything"));
            }
        }
        anyhow::ensure!(problems.is_empty(), "{}", problems.join("\n"));
        Ok(())
    }

    /// The settings as TOML, with the value of anything that looks like a secret (a name with
    /// `key`, `token`, `password` or `secret` in it, other than a directory or file holding
    /// them) masked: what `onetrip config check` prints, safe to paste into a ticket.
    pub fn to_masked_toml(&self) -> anyhow::Result<String> {
        let mut value = toml::Value::try_from(self)?;
        mask_secrets(&mut value);
        Ok(toml::to_string(&value)?)
    }
}

/// The setting an environment variable names: `ONETRIP_LIMITS__MAX_CONNECTIONS` is
/// `limits.max_connections` (two underscores step into a table).
fn env_key(name: &str) -> String {
    name[ENV_PREFIX.len()..]
        .to_ascii_lowercase()
        .replace("__", ".")
}

/// A variable's or flag's text as the value of `key`: a list setting takes comma-separated
/// items (`10.0.0.1,10.0.0.2`, as `ONETRIP_TRUSTED_PROXIES` always has) or a `[…]` list;
/// anything else stays text until the setting's type reads it.
fn given(origin: String, key: String, raw: &str, defaults: &Value) -> Given {
    let is_list = matches!(defaults.find_ref(&key), Some(Value::Array(..)));
    let value = if is_list && raw.trim_start().starts_with('[') {
        raw.parse().unwrap_or_else(|never| match never {})
    } else if is_list {
        Value::from(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::from(item.to_owned()))
                .collect::<Vec<_>>(),
        )
    } else {
        Value::from(raw.to_owned())
    };
    Given { origin, key, value }
}

/// Every setting's dotted name: the leaves of the defaults (an unset optional setting is a
/// leaf too).
fn leaf_keys(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Dict(_, dict) => {
            for (name, inner) in dict {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                leaf_keys(inner, &key, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn mask_secrets(value: &mut toml::Value) {
    if let toml::Value::Table(table) = value {
        for (name, inner) in table.iter_mut() {
            if is_secret(name) && !inner.is_table() {
                *inner = toml::Value::String(MASK.to_owned());
            } else if let toml::Value::String(text) = inner {
                *text = mask_password(text);
            } else {
                mask_secrets(inner);
            }
        }
    }
}

/// An address with its password masked (`postgres://onetrip:********@db/onetrip`), in its
/// user part or as a `password=` parameter.
fn mask_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    if let Some((address, query)) = rest.split_once('?') {
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.ends_with("password") => format!("{name}={MASK}"),
                _ => pair.to_owned(),
            })
            .collect();
        let address = mask_password(&format!("{scheme}://{address}"));
        return format!("{address}?{}", query.join("&"));
    }
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return text.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{MASK}@{host}"),
        None => text.to_owned(),
    }
}

fn is_secret(name: &str) -> bool {
    let words: Vec<&str> = name.split('_').collect();
    let holds_them = matches!(words.last(), Some(&("dir" | "file" | "path")));
    !holds_them
        && words.iter().any(|w| {
            matches!(
                *w,
                "key" | "keys" | "token" | "tokens" | "password" | "secret"
            )
        })
}
#[cfg(test)]
mod tests {
    use super::*;

    fn sources(file: &Path, env: &[(&str, &str)], flags: &[(&str, &str)]) -> Sources {
        Sources {
            file: Some(file.to_path_buf()),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            flags: flags
                .iter()
                .map(|(key, value)| Flag {
                    name: format!("--set {key}"),
                    key: key.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn file_values_override_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_material_bytes = 10\n[issuer]\nname = \"某局\"\n",
        )
        .unwrap();
        let s = Settings::load(&sources(&path, &[], &[])).unwrap().settings;
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.max_material_bytes, 10);
        assert_eq!(s.issuer.name, "某局");
        assert_eq!(s.issuer.authority_code, "11430000006122244L");
        assert_eq!(s.keys_dir(), PathBuf::from("./data/keys"));

        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let e = Settings::load(&sources(&path, &[], &[])).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        let missing = dir.path().join("missing.toml");
        assert!(Settings::load(&sources(&missing, &[], &[])).is_err());
    }

    #[test]
    fn environment_overrides_the_file_and_flags_override_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[limits]\nmax_connections = 10\nmax_batch_requests = 3\n",
        )
        .unwrap();
        let env = [("ONETRIP_LIMITS__MAX_CONNECTIONS", "20")];
        let s = Settings::load(&sources(&path, &env, &[])).unwrap().settings;
        assert_eq!(s.limits.max_connections, 20);
        assert_eq!(s.limits.max_batch_requests, 3);

        let flags = [("limits.max_connections", "30")];
        let s = Settings::load(&sources(&path, &env, &flags))
            .unwrap()
            .settings;
        assert_eq!(s.limits.max_connections, 30);
        assert_eq!(s.limits.max_batch_requests, 3);
    }

    #[test]
    fn the_older_variable_names_still_work_and_text_stays_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "").unwrap();
        let env = [
            ("ONETRIP_LISTEN", "0.0.0.0:80"),
            ("ONETRIP_METRICS_LISTEN", "10.1.2.3:9464"),
            ("ONETRIP_PUBLIC_URL", "https://zwfw.example.gov.cn"),
            ("ONETRIP_DATA", "/srv/onetrip"),
            ("ONETRIP_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2"),
            ("ONETRIP_LOG_FORMAT", "json"),
            ("ONETRIP_ISSUER__AUTHORITY_CODE", "123456789012345678"),
            ("ONETRIP_TRUST", "/tmp/trust.json"),
        ];
        let loaded = Settings::load(&sources(&path, &env, &[])).unwrap();
        let s = loaded.settings;
        assert_eq!(s.listen.port(), 80);
        assert_eq!(s.metrics_listen, Some("10.1.2.3:9464".parse().unwrap()));
        assert_eq!(s.public_url.as_deref(), Some("https://zwfw.example.gov.cn"));
        assert_eq!(s.data, PathBuf::from("/srv/onetrip"));
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.issuer.authority_code, "123456789012345678");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn an_unknown_variable_is_a_warning_an_unknown_flag_or_a_bad_value_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "").unwrap();
        let loaded = Settings::load(&sources(&path, &[("ONETRIP_LISEN", "x")], &[])).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("ONETRIP_LISEN"));

        let e =
            Settings::load(&sources(&path, &[], &[("limits.max_conections", "1")])).unwrap_err();
        assert!(e.to_string().contains("max_conections"), "{e}");
        let env = [("ONETRIP_LIMITS__MAX_CONNECTIONS", "many")];
        let e = Settings::load(&sources(&path, &env, &[])).unwrap_err();
        assert!(
            e.to_string().contains("ONETRIP_LIMITS__MAX_CONNECTIONS"),
            "{e}"
        );
    }

    #[test]
    fn the_metrics_listener_needs_an_address_of_its_own() {
        let mut s = Settings {
            metrics_listen: Some(Settings::default().listen),
            ..Settings::default()
        };
        let e = s.check().unwrap_err();
        assert!(e.to_string().contains("metrics_listen"), "{e}");
        s.metrics_listen = Some("127.0.0.1:9464".parse().unwrap());
        s.check().unwrap();
    }

    #[test]
    fn secrets_are_masked_and_key_directories_are_not() {
        assert!(is_secret("api_token") && is_secret("password") && is_secret("signing_key"));
        assert!(!is_secret("keys_dir") && !is_secret("key_file") && !is_secret("listen"));
        let text = Settings::default().to_masked_toml().unwrap();
        assert!(text.contains("max_connections = 4096"), "{text}");
        assert!(!text.contains(MASK), "{text}");
        let store = Settings {
            store: Some("postgres://onetrip:s3cret@db.example:5432/onetrip".into()),
            ..Settings::default()
        };
        let text = store.to_masked_toml().unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("postgres://onetrip:********@db.example:5432/onetrip"),
            "{text}"
        );
        let store = Settings {
            store: Some("postgres://u:pw1@db/onetrip?sslmode=require&password=pw2".into()),
            ..Settings::default()
        };
        let text = store.to_masked_toml().unwrap();
        assert!(!text.contains("pw1") && !text.contains("pw2"), "{text}");
        assert!(text.contains("sslmode=require"), "{text}");
    }
}
