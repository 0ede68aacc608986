//! `onetrip verify` and `onetrip trust`: checks a certificate without the service's store —
//! from the PDF, a photo of the printed QR code, a link or a bare token — against issuers the
//! user trusts, and says honestly what it could check.
//!
//! - Keys and status come only from a trusted issuer's own URL (or a key set the user gives
//!   with `--jwks`), never from the host a link names: anyone can print a link to a host that
//!   serves its own keys.
//! - Online, the issuer's signed status list and its verdict decide. When the issuer cannot be
//!   reached, the status list pinned at the last contact decides, and the verdict says how old
//!   it is.
//! - Exit codes: [`Outcome::code`].

mod fetch;
mod input;
mod trust;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use fetch::{FetchError, Fetcher};
pub use input::link_from_input;
pub use trust::{
    TrustList, TrustedIssuer, default_path, describe_keys, normalize, pinned_list_time, trust_add,
};

use crate::domain::presented::Presented;
use crate::domain::status_list::StatusList;
use crate::service::issuance::CHINA;
use crate::service::verdict::{Verdict, verify_offline};
use crate::signing::{Claims, KeyRing, parse_jws};

/// The largest status list accepted (10^5 revoked certificates make ~22 MB).
const MAX_STATUS_LIST: usize = 64 << 20;

/// How a verification ended, and the process's exit code for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Valid, confirmed by the issuer just now: exit 0.
    ValidOnline,
    /// Not valid (revoked, expired, tampered, unknown key, not issued…): exit 1.
    NotValid,
    /// Valid as far as the pinned status list and the keys show; the issuer was not asked:
    /// exit 2.
    ValidOffline,
    /// The link's issuer is not trusted, or the input cannot be used: exit 3.
    Untrusted,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::ValidOnline => 0,
            Outcome::NotValid => 1,
            Outcome::ValidOffline => 2,
            Outcome::Untrusted => 3,
        }
    }
}

/// What `onetrip verify` was asked.
pub struct VerifyRequest {
    pub input: String,
    /// A key set to use instead of the pinned one: a file, or a URL (whose issuer is then
    /// trusted for this run).
    pub jwks: Option<String>,
    /// Ask no one: decide from the pinned key set and status list.
    pub offline: bool,
    pub trust_path: PathBuf,
    pub timeout: Duration,
    pub ca_cert: Option<PathBuf>,
}

/// The issuer a verification is checked against.
struct Issuer {
    /// Its public URL, when known (a `--jwks` file names none).
    url: Option<String>,
    ring: KeyRing,
    /// The newest status list seen, verified.
    status: Option<StatusList>,
    /// The raw JWS of a list fetched in this run, to pin.
    fetched_list: Option<String>,
    online: bool,
}

/// Runs `onetrip verify`; prints what it finds and the verdict.
pub async fn verify(request: &VerifyRequest) -> anyhow::Result<Outcome> {
    let link = link_from_input(&request.input)?;
    let Presented::Token(token) = Presented::read(&link) else {
        bail!(
            "{link} is not a verification link or token (a 核验码 / verification code is checked on the issuer's page: <issuer>/c/<code>)"
        );
    };
    let token = token.trim().to_owned();
    let mut trust = TrustList::load(&request.trust_path)?;
    let fetcher = Fetcher::new(request.timeout, request.ca_cert.as_deref())?;
    let link_service = service_of(&link);

    let explicit_url = request
        .jwks
        .as_deref()
        .and_then(|j| j.strip_suffix("/.well-known/jwks.json"))
        .map(normalize);
    let issuer_url = match &link_service {
        Some(base) => {
            let base = normalize(base);
            if trust.find(&base).is_none() && explicit_url.as_deref() != Some(base.as_str()) {
                return untrusted(&base, request, &token).await;
            }
            Some(base)
        }
        None => explicit_url
            .clone()
            .or_else(|| issuer_by_kid(&trust, &token)),
    };

    let mut issuer = match request.jwks.as_deref() {
        Some(source) => Issuer {
            url: issuer_url.clone(),
            ring: KeyRing::from_jwks(&load_jwks(source, &fetcher).await?)?,
            status: None,
            fetched_list: None,
            online: false,
        },
        None => {
            let Some(pinned) = issuer_url.as_deref().and_then(|u| trust.find(u)) else {
                bail!(
                    "no key set to check this token with: give --jwks FILE_OR_URL, or trust its issuer (onetrip trust add <issuer URL>)"
                );
            };
            Issuer {
                url: Some(pinned.url.clone()),
                ring: KeyRing::from_jwks(&pinned.jwks)?,
                status: None,
                fetched_list: None,
                online: false,
            }
        }
    };
    let pinned = issuer_url.as_deref().and_then(|u| trust.find(u)).cloned();
    if let Some(url) = issuer.url.clone()
        && !request.offline
    {
        refresh(&mut issuer, &url, &fetcher, pinned.as_ref()).await;
    }
    if issuer.status.is_none()
        && let Some(jws) = pinned.as_ref().and_then(|p| p.status_list.as_deref())
    {
        issuer.status = read_status_list(jws, &issuer.ring, issuer.url.as_deref()).ok();
    }
    if let (Some(jws), Some(mut entry)) = (issuer.fetched_list.take(), pinned) {
        entry.status_list = Some(jws);
        trust.put(entry);
        trust.save(&request.trust_path)?;
    }

    let (finding, claims) = verify_offline(&issuer.ring, &token, Utc::now());
    println!("{}", finding.message);
    if let Some(c) = &claims {
        print_claims(c, finding.kid.as_deref());
    }
    if let Some(url) = &issuer.url {
        println!("  发证机关 issuer:     {url} (trusted)");
    }
    let (Verdict::Valid, Some(claims)) = (finding.verdict, claims) else {
        println!("verdict: {}", finding.verdict.as_str());
        return Ok(Outcome::NotValid);
    };
    if let Some(list) = &issuer.status
        && let Some(outcome) = listed(list, &claims, finding.kid.as_deref())
    {
        return Ok(outcome);
    }
    if issuer.online
        && let Some(url) = &issuer.url
    {
        match fetcher.json(&format!("{url}/v/{token}")).await {
            Ok(online) => return Ok(print_online(url, &online)),
            Err(e) => println!("{e}; deciding from the status list"),
        }
    }
    Ok(offline_valid(issuer.status.as_ref()))
}

/// Fetches the issuer's status list (and its key set again when the list is signed by a key
/// the pinned set lacks); on success the issuer counts as online.
async fn refresh(
    issuer: &mut Issuer,
    url: &str,
    fetcher: &Fetcher,
    pinned: Option<&TrustedIssuer>,
) {
    let jws = match fetcher
        .text(&format!("{url}/.well-known/status-list"), "application/jwt")
        .await
    {
        Ok(jws) => jws,
        Err(e) => {
            let since = pinned
                .and_then(|p| p.status_list.as_deref())
                .map_or("no status list pinned".to_owned(), |_| {
                    "using the status list pinned at the last contact".to_owned()
                });
            println!("发证机关无法联网核验 / {e}; {since}");
            return;
        }
    };
    let mut list = read_status_list(&jws, &issuer.ring, Some(url));
    if list.is_err()
        && let Ok(jwks) = fetcher.json(&format!("{url}/.well-known/jwks.json")).await
        && let Ok(ring) = KeyRing::from_jwks(&jwks)
    {
        list = read_status_list(&jws, &ring, Some(url));
        if list.is_ok() {
            issuer.ring = ring;
        }
    }
    match list {
        Ok(list) => {
            issuer.status = Some(list);
            issuer.fetched_list = Some(jws);
            issuer.online = true;
        }
        Err(e) => println!("{url}: the status list does not verify ({e:#}); not used"),
    }
}

/// Reads and verifies a signed status list: signed by a key of `ring` that was not
/// compromised before the list was issued, and naming `url` as its issuer.
pub fn read_status_list(
    jws: &str,
    ring: &KeyRing,
    url: Option<&str>,
) -> anyhow::Result<StatusList> {
    let parsed = parse_jws(jws.trim(), MAX_STATUS_LIST, |payload| {
        serde_json::from_slice::<StatusList>(payload).ok()
    })
    .context("not a status list")?;
    let key = ring
        .find(&parsed.kid)
        .with_context(|| format!("signed by key {}, which the key set lacks", parsed.kid))?;
    if !parsed.verify(&key.public) {
        bail!("its signature does not match");
    }
    let list = parsed.claims;
    if let Some(since) = key.record.compromised_since
        && list.issued_at >= since
    {
        bail!("signed by key {} after its compromise", parsed.kid);
    }
    if let Some(url) = url
        && normalize(&list.iss) != normalize(url)
    {
        bail!("it is {}'s list, not {url}'s", list.iss);
    }
    Ok(list)
}

/// The verdict the status list gives a token that checks with the keys, if it lists it.
fn listed(list: &StatusList, claims: &Claims, kid: Option<&str>) -> Option<Outcome> {
    if let Some(key) = kid.and_then(|k| list.key(k))
        && key
            .compromised_since
            .is_none_or(|since| claims.iat >= since.timestamp())
    {
        println!("{}", Verdict::KeyRevoked.message());
        println!("  (status list of {})", list.issued_at.to_rfc3339());
        println!("verdict: {}", Verdict::KeyRevoked.as_str());
        return Some(Outcome::NotValid);
    }
    let entry = list
        .certificate(&claims.sub)
        .filter(|e| e.holds_on(Utc::now().with_timezone(&CHINA).date_naive()))?;
    let detail = entry
        .reason
        .and_then(|r| serde_json::to_value(r).ok())
        .and_then(|v| v.as_str().map(|reason| format!(" ({reason})")))
        .or_else(|| entry.until.map(|last| format!(" (until {last})")))
        .or_else(|| entry.successor.as_ref().map(|next| format!(" (by {next})")))
        .unwrap_or_default();
    println!(
        "证照状态 status: {} since {}{detail}",
        entry.status.as_str(),
        entry.since.to_rfc3339(),
    );
    println!("  (status list of {})", list.issued_at.to_rfc3339());
    println!("verdict: {}", entry.status.as_str());
    Some(Outcome::NotValid)
}

fn offline_valid(list: Option<&StatusList>) -> Outcome {
    match list {
        Some(list) => {
            let stale = if Utc::now() > list.next_update {
                format!(
                    "; it was due for renewal at {}",
                    list.next_update.to_rfc3339()
                )
            } else {
                String::new()
            };
            println!(
                "已离线核验：签名、密钥、有效期，以及 {} 的状态列表 / Checked offline against the status list of {}{stale}.",
                list.issued_at.to_rfc3339(),
                list.issued_at.to_rfc3339()
            );
            println!(
                "verdict: valid (offline; status as of {})",
                list.issued_at.to_rfc3339()
            );
        }
        None => {
            println!("已离线核验签名、密钥与有效期；没有状态列表，未能核验吊销状态。");
            println!(
                "Checked offline: signature, key and expiry. No status list: Revocation was not checked."
            );
            println!("verdict: valid (offline; revocation not checked)");
        }
    }
    Outcome::ValidOffline
}

fn print_online(url: &str, online: &Value) -> Outcome {
    let verdict = online["verdict"].as_str().unwrap_or("unknown");
    println!("{url}: {}", online["message"].as_str().unwrap_or_default());
    let certificate = &online["certificate"];
    if let Some(holder) = certificate["holder"].as_str() {
        println!("  持证人   holder:     {holder}");
        println!(
            "  证照名称 title:      {}",
            certificate["title"].as_str().unwrap_or_default()
        );
    }
    println!("verdict: {verdict}");
    if verdict == "valid" {
        Outcome::ValidOnline
    } else {
        Outcome::NotValid
    }
}

/// The link names an issuer the user does not trust: say so, fetch nothing from it, and say
/// what the given key set (if any) shows of the signature.
async fn untrusted(base: &str, request: &VerifyRequest, token: &str) -> anyhow::Result<Outcome> {
    println!(
        "链接指向 {base}，该发证机关不在信任列表中 / The link points to {base}, which is not a trusted issuer."
    );
    println!("  Its keys and answers were not fetched: anyone can serve keys for their own links.");
    println!("  To trust it: onetrip trust add {base}");
    if let Some(source) = request.jwks.as_deref().filter(|s| !s.contains("://")) {
        let jwks: Value = serde_json::from_str(
            &std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?,
        )
        .with_context(|| format!("{source} is not JSON"))?;
        let (finding, _) = verify_offline(&KeyRing::from_jwks(&jwks)?, token, Utc::now());
        println!(
            "  With the key set {source}: {} — but its revocation can only be asked of a trusted issuer.",
            finding.verdict.as_str()
        );
    }
    println!("verdict: untrusted_issuer");
    Ok(Outcome::Untrusted)
}

/// The trusted issuer whose pinned key set holds the token's key, for a bare token.
fn issuer_by_kid(trust: &TrustList, token: &str) -> Option<String> {
    let kid = crate::signing::parse_token(token).ok()?.kid;
    trust
        .issuers
        .iter()
        .find(|i| KeyRing::from_jwks(&i.jwks).is_ok_and(|ring| ring.find(&kid).is_some()))
        .map(|i| i.url.clone())
}

/// The service a verification link points at, e.g. `https://zwfw.example.gov.cn`.
fn service_of(link: &str) -> Option<&str> {
    let link = link.trim();
    if !link.starts_with("http://") && !link.starts_with("https://") {
        return None;
    }
    link.rsplit_once("/v/").map(|(base, _)| base)
}

async fn load_jwks(source: &str, fetcher: &Fetcher) -> anyhow::Result<Value> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return Ok(fetcher.json(source).await?);
    }
    let text = std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?;
    serde_json::from_str(&text).with_context(|| format!("{source} is not JSON"))
}

fn print_claims(c: &Claims, kid: Option<&str>) {
    println!("  证照标识 identifier: {}", c.sub);
    println!("  持证主体 holder id:  {}", c.hid);
    println!("  签发     issued:     {}", date(c.iat));
    println!("  有效期至 expires:    {}", date(c.exp));
    println!("  签名密钥 key:        {}", kid.unwrap_or_default());
}

fn date(timestamp: i64) -> String {
    DateTime::from_timestamp(timestamp, 0).map_or_else(|| timestamp.to_string(), |t| t.to_rfc3339())
}
