//! The trust list of the offline verifier: the issuers a user trusts, each with its pinned key
//! set and the last status list it signed, in one small JSON file (default
//! `~/.config/onetrip/trust.json`, or `ONETRIP_TRUST`); and `onetrip trust add`, which fills it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Fetcher, read_status_list};
use crate::signing::{KeyRing, KeyStatus};

/// The trust list as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TrustList {
    pub issuers: Vec<TrustedIssuer>,
}

/// One trusted issuer: its public URL, the key set pinned when it was trusted (refreshed only
/// from that URL), and the newest status list it signed that the verifier has seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedIssuer {
    pub url: String,
    pub added_at: DateTime<Utc>,
    pub jwks: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list: Option<String>,
}

/// An issuer's base URL as compared and stored: no surrounding space, no trailing slash.
pub fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// Where the trust list lives when `--trust` is not given.
pub fn default_path() -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    config.join("onetrip").join("trust.json")
}

/// A trust list that others could have written: refused, as ssh refuses such key files.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} may be written by its group or by others (mode {mode:o}): a trust list anyone can edit cannot be trusted. Fix it with: chmod 600 {path}"
)]
pub struct UnsafeTrustFile {
    pub path: String,
    pub mode: u32,
}

/// Refuses a trust list writable by its group or others.
#[cfg(unix)]
fn check_mode(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o022 != 0 => Err(UnsafeTrustFile {
            path: path.display().to_string(),
            mode: meta.permissions().mode() & 0o7777,
        }
        .into()),
        _ => Ok(()),
    }
}

#[cfg(not(unix))]
fn check_mode(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Whether a key set fetched from an issuer may replace the pinned one: every pinned key is
/// still there with the same public key, and a key pinned as compromised stays compromised
/// from no later a time. (A replayed older key set would unrevoke a key.)
pub fn keys_continue(pinned: &KeyRing, fetched: &KeyRing) -> anyhow::Result<()> {
    for old in pinned.records() {
        let Some(new) = fetched.find(&old.kid) else {
            bail!("it drops key {}", old.kid);
        };
        let Some(old_key) = pinned.find(&old.kid) else {
            continue;
        };
        if new.public != old_key.public {
            bail!("it changes the public key of {}", old.kid);
        }
        let still_revoked = match (old.compromised_since, new.record.compromised_since) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(old_since), Some(new_since)) => new_since <= old_since,
        };
        if old.status == KeyStatus::Revoked
            && (new.record.status != KeyStatus::Revoked || !still_revoked)
        {
            bail!("it no longer marks key {} compromised as pinned", old.kid);
        }
    }
    Ok(())
}

impl TrustList {
    /// The list at `path`; an empty one if the file does not exist yet. A file its group or
    /// others may write is refused ([`UnsafeTrustFile`]).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        check_mode(path)?;
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is not a trust list", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the list whole (a temporary file renamed over the old one, mode 0600), so a
    /// crash leaves the old list or the new one, never half of one.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut file = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("writing in {}", dir.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn find(&self, url: &str) -> Option<&TrustedIssuer> {
        let url = normalize(url);
        self.issuers.iter().find(|i| i.url == url)
    }

    /// Adds the issuer, or replaces the one with the same URL.
    pub fn put(&mut self, issuer: TrustedIssuer) {
        match self.issuers.iter_mut().find(|i| i.url == issuer.url) {
            Some(existing) => *existing = issuer,
            None => self.issuers.push(issuer),
        }
    }

    /// Removes the issuer; whether it was there.
    pub fn remove(&mut self, url: &str) -> bool {
        let url = normalize(url);
        let before = self.issuers.len();
        self.issuers.retain(|i| i.url != url);
        self.issuers.len() != before
    }
}

/// `onetrip trust add`: fetches the issuer's key set and status list from its URL, checks
/// that they belong together, and pins both.
pub async fn trust_add(
    url: &str,
    trust_path: &Path,
    fetcher: &Fetcher,
) -> anyhow::Result<TrustedIssuer> {
    let url = normalize(url);
    if !url.starts_with("https://") && !url.starts_with("http://") {
        bail!(
            "{url} is not an http(s) URL: give the issuer's public URL, e.g. https://zwfw.example.gov.cn"
        );
    }
    let jwks = fetcher
        .json(&format!("{url}/.well-known/jwks.json"))
        .await?;
    let ring = KeyRing::from_jwks(&jwks).context("the issuer's key set")?;
    let jws = fetcher
        .text(&format!("{url}/.well-known/status-list"), "application/jwt")
        .await?;
    read_status_list(&jws, &ring, Some(&url)).context("the issuer's status list")?;
    let mut trust = TrustList::load(trust_path)?;
    let issuer = TrustedIssuer {
        url,
        added_at: Utc::now(),
        jwks,
        status_list: Some(jws),
    };
    trust.put(issuer.clone());
    trust.save(trust_path)?;
    Ok(issuer)
}

/// One line per key of a pinned key set: kid and status.
pub fn describe_keys(issuer: &TrustedIssuer) -> Vec<String> {
    KeyRing::from_jwks(&issuer.jwks)
        .map(|ring| {
            ring.records()
                .map(|r| format!("{} {}", r.kid, format!("{:?}", r.status).to_lowercase()))
                .collect()
        })
        .unwrap_or_default()
}

/// When the pinned status list of `issuer` was issued, if it holds one that verifies.
pub fn pinned_list_time(issuer: &TrustedIssuer) -> Option<DateTime<Utc>> {
    let ring = KeyRing::from_jwks(&issuer.jwks).ok()?;
    let jws = issuer.status_list.as_deref()?;
    read_status_list(jws, &ring, Some(&issuer.url))
        .ok()
        .map(|l| l.issued_at)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::SigningKey;
    use serde_json::{Value, json};

    use super::*;
    use crate::signing::{kid_of, thumbprint};

    fn jwk(seed: u8, status: &str, compromised_since: Option<&str>) -> Value {
        let key = SigningKey::from_bytes(&[seed; 32]);
        json!({
            "kid": kid_of(&thumbprint(&key.verifying_key())),
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            "status": status, "created_at": "2026-01-01T00:00:00Z",
            "activated_at": "2026-01-01T00:00:00Z", "retired_at": null,
            "compromised_since": compromised_since,
        })
    }

    fn ring(keys: &[Value]) -> KeyRing {
        KeyRing::from_jwks(&json!({ "keys": keys })).unwrap()
    }

    #[test]
    fn a_refreshed_key_set_keeps_every_pinned_key_and_compromise() {
        let since = Some("2026-06-01T00:00:00Z");
        let pinned = ring(&[jwk(1, "revoked", since), jwk(2, "active", None)]);
        // A rotation: the active key retires, a new one is added. A compromise moved earlier.
        for fetched in [
            vec![
                jwk(1, "revoked", since),
                jwk(2, "retired", None),
                jwk(3, "active", None),
            ],
            vec![
                jwk(1, "revoked", Some("2026-05-01T00:00:00Z")),
                jwk(2, "active", None),
            ],
            vec![jwk(1, "revoked", None), jwk(2, "active", None)],
        ] {
            assert!(
                keys_continue(&pinned, &ring(&fetched)).is_ok(),
                "{fetched:?}"
            );
        }
        // A replayed older set (the key not yet revoked), a later compromise, a dropped key.
        for fetched in [
            vec![jwk(1, "active", None), jwk(2, "active", None)],
            vec![
                jwk(1, "revoked", Some("2026-07-01T00:00:00Z")),
                jwk(2, "active", None),
            ],
            vec![jwk(2, "active", None), jwk(3, "active", None)],
        ] {
            assert!(
                keys_continue(&pinned, &ring(&fetched)).is_err(),
                "{fetched:?}"
            );
        }
    }
}
