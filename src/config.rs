//! Settings, layered: built-in defaults → `onetrip.toml` (or `--config FILE`) → `ONETRIP_*`
//! environment → command-line flags (the last two handled by clap in `cli`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Default material size limit: 1 GiB.
pub const DEFAULT_MAX_MATERIAL_BYTES: u64 = 1 << 30;
const DEFAULT_CONFIG_FILE: &str = "onetrip.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Development,
    Production,
}

/// The issuing authority (统一出证) and the identifier segments that come from configuration.
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Base of every verification URL; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
    /// The sled directory; material files live beside it under `materials/`.
    pub data: PathBuf,
    /// Signing keys; defaults to `<data>/keys`.
    pub keys_dir: Option<PathBuf>,
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
    pub issuer: Issuer,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data: PathBuf::from("./data"),
            keys_dir: None,
            templates_dir: None,
            max_material_bytes: DEFAULT_MAX_MATERIAL_BYTES,
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            mode: Mode::Development,
            issuer: Issuer::default(),
        }
    }
}

/// What one client, or one class of clients, may take of the service (`[limits]`): no class
/// can starve another, no address can take a whole class, and whatever a client makes the
/// service hold in memory counts against one budget. Past a limit the answer is 503 with
/// `Retry-After` at once (or, for a connection, a 503 and close), never a queue.
#[derive(Debug, Clone, Deserialize)]
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
    /// A request's line and headers (hyper's read buffer per connection).
    pub max_header_bytes: usize,
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
            max_buffered_body_bytes: 256 << 20,
        }
    }
}

impl Settings {
    /// Reads `file` if given (it must exist), else `./onetrip.toml` if present, else defaults.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let path = match file {
            Some(path) => path.to_path_buf(),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => PathBuf::from(DEFAULT_CONFIG_FILE),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.keys_dir
            .clone()
            .unwrap_or_else(|| self.data.join("keys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_override_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_material_bytes = 10\n[issuer]\nname = \"某局\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.max_material_bytes, 10);
        assert_eq!(s.issuer.name, "某局");
        assert_eq!(s.issuer.authority_code, "11430000006122244L");
        assert_eq!(s.keys_dir(), PathBuf::from("./data/keys"));

        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        assert!(Settings::load(Some(&path)).is_err());
        assert!(Settings::load(Some(&dir.path().join("missing.toml"))).is_err());
    }
}
