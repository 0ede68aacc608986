//! The key ring: which Ed25519 keys exist, which one signs, and the PEM files that hold their
//! private halves (PKCS#8 v1, mode 0600, readable by `openssl pkey`). The ring's metadata lives
//! in the store; the ring itself lives in the service's state behind a lock, never in a global.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::Mode;
use crate::store::Store;

/// The demonstration key shipped in `keys-example/`; production mode refuses to sign with it.
const EXAMPLE_KEY_PEM: &str = include_str!("../../keys-example/demo-ed25519.pem");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Retired,
    Revoked,
}

/// Characters of the thumbprint that make a key id: 96 bits, so two keys of one issuer never
/// share one, and short enough to keep every token inside a scannable QR code.
pub const KID_LEN: usize = 16;

/// What the store keeps of a key: its public half and its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id in tokens, the JWK Set and the API: the thumbprint's first [`KID_LEN`]
    /// characters.
    pub kid: String,
    /// RFC 7638 thumbprint of the public key: names the stored record and the PEM file. The
    /// first version used it as the kid; its tokens still carry it.
    #[serde(default)]
    pub thumbprint: String,
    /// base64url public key, as in the JWK's `x`.
    pub x: String,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub compromised_since: Option<DateTime<Utc>>,
}

pub struct RingKey {
    pub record: KeyRecord,
    pub public: VerifyingKey,
    pub(super) secret: Option<SigningKey>,
}

pub struct KeyRing {
    pub(super) keys: Vec<RingKey>,
}

/// RFC 7638 thumbprint of an OKP/Ed25519 public key: SHA-256 over the required members in
/// lexicographic order, base64url.
pub fn thumbprint(public: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl KeyRing {
    /// The one key that signs now, with its kid.
    pub fn active(&self) -> Option<(&str, &SigningKey)> {
        self.keys
            .iter()
            .find_map(|k| match (&k.record.status, &k.secret) {
                (KeyStatus::Active, Some(secret)) => Some((k.record.kid.as_str(), secret)),
                _ => None,
            })
    }

    /// The key a token names, by its kid or (tokens of the first version) its thumbprint.
    pub fn find(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.record.names(kid))
    }

    pub fn records(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.iter().map(|k| &k.record)
    }

    /// The public JWK Set: every key, with its status and validity window.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                let r = &k.record;
                let mut jwk = json!({
                    "kty": "OKP", "crv": "Ed25519", "x": r.x, "kid": r.kid,
                    "use": "sig", "alg": "EdDSA", "status": r.status,
                    "created_at": r.created_at, "activated_at": r.activated_at,
                    "retired_at": r.retired_at,
                });
                if let Some(since) = r.compromised_since {
                    jwk["compromised_since"] = json!(since);
                }
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }
}

impl KeyRecord {
    /// Whether `kid` names this key: its short kid, or its whole thumbprint.
    pub fn names(&self, kid: &str) -> bool {
        self.kid == kid || self.thumbprint == kid
    }

    /// Sets `thumbprint` and `kid` from the public key, whatever was stored or published.
    fn identify(&mut self, public: &VerifyingKey) {
        self.thumbprint = thumbprint(public);
        self.kid = kid_of(&self.thumbprint);
    }
}

/// The short key id of a thumbprint.
pub fn kid_of(thumbprint: &str) -> String {
    thumbprint.chars().take(KID_LEN).collect()
}

impl KeyRing {
    /// A verify-only ring from a published JWK Set (`/.well-known/jwks.json` or
    /// `onetrip keys export-jwks`), for offline verifiers. Each key's `kid` must be the start
    /// of the thumbprint of its `x` (the whole thumbprint in the first version's key sets).
    pub fn from_jwks(jwks: &Value) -> anyhow::Result<KeyRing> {
        let entries = jwks["keys"]
            .as_array()
            .context("a JWK Set has a \"keys\" array")?;
        let keys = entries
            .iter()
            .map(|jwk| {
                let mut record: KeyRecord = serde_json::from_value(jwk.clone())
                    .context("a key in the JWK Set lacks kid, x, status or its dates")?;
                let public = public_key(&record)?;
                let published = std::mem::take(&mut record.kid);
                record.identify(&public);
                if published.len() < KID_LEN || !record.thumbprint.starts_with(&published) {
                    bail!("key {published} does not match its thumbprint");
                }
                Ok(RingKey {
                    record,
                    public,
                    secret: None,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(KeyRing { keys })
    }
}

fn public_key(record: &KeyRecord) -> anyhow::Result<VerifyingKey> {
    URL_SAFE_NO_PAD
        .decode(&record.x)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .with_context(|| format!("public key of {} is invalid", record.kid))
}

fn pem_path(keys_dir: &Path, kid: &str) -> PathBuf {
    keys_dir.join(format!("{kid}.pem"))
}

pub(super) fn record_for(public: &VerifyingKey, now: DateTime<Utc>) -> KeyRecord {
    let thumbprint = thumbprint(public);
    KeyRecord {
        kid: kid_of(&thumbprint),
        thumbprint,
        x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
        status: KeyStatus::Active,
        created_at: now,
        activated_at: Some(now),
        retired_at: None,
        compromised_since: None,
    }
}

/// Writes the private key as PKCS#8 v1 PEM with mode 0600. (dalek's own `to_pkcs8_pem` writes
/// v2, which OpenSSL 3 and Python's cryptography refuse.)
pub fn write_pem(keys_dir: &Path, key: &SigningKey) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(keys_dir)
        .with_context(|| format!("creating keys directory {}", keys_dir.display()))?;
    let path = pem_path(keys_dir, &thumbprint(&key.verifying_key()));
    let pem = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .context("encoding private key")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}

fn read_pem(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading signing key {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key: {e}", path.display()))
}

/// A key found in the keys directory on first start (e.g. copied from `keys-example/`).
fn find_existing_pem(keys_dir: &Path) -> anyhow::Result<Option<SigningKey>> {
    let Ok(entries) = std::fs::read_dir(keys_dir) else {
        return Ok(None);
    };
    let mut pems: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    pems.sort();
    pems.first().map(|p| read_pem(p)).transpose()
}

/// Loads the ring from the store and the keys directory. On first start with no key it
/// takes a PEM already in the keys directory, or creates a development key.
pub async fn load_or_create(store: &Store, keys_dir: &Path, mode: Mode) -> anyhow::Result<KeyRing> {
    let mut records = store.key_records()?;
    if records.is_empty() {
        let key = match find_existing_pem(keys_dir)? {
            Some(key) => {
                tracing::info!(keys_dir = %keys_dir.display(), "using the signing key found in the keys directory");
                key
            }
            None => {
                let key = SigningKey::generate(&mut OsRng);
                let path = write_pem(keys_dir, &key)?;
                tracing::warn!(path = %path.display(), "created a development signing key (first start, no key found)");
                key
            }
        };
        let record = record_for(&key.verifying_key(), Utc::now());
        let pem = pem_path(keys_dir, &record.thumbprint);
        if !pem.exists() {
            write_pem(keys_dir, &key)?;
        }
        store.put_key_records(std::slice::from_ref(&record)).await?;
        records.push(record);
    }
    let keys = records
        .into_iter()
        .map(|mut record| {
            let public = public_key(&record)?;
            record.identify(&public);
            let secret = match record.status {
                KeyStatus::Active => Some(read_pem(&pem_path(keys_dir, &record.thumbprint))?),
                _ => None,
            };
            Ok(RingKey {
                record,
                public,
                secret,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ring = KeyRing { keys };
    let Some((kid, key)) = ring.active() else {
        bail!("the key ring has no active key: run `onetrip keys rotate` on the stopped store");
    };
    if mode == Mode::Production && thumbprint(&key.verifying_key()) == example_thumbprint()? {
        bail!(
            "production mode refuses the demonstration key from keys-example/ (kid {kid}): its private half is public; rotate to a new key first"
        );
    }
    Ok(ring)
}

fn example_thumbprint() -> anyhow::Result<String> {
    let key = SigningKey::from_pkcs8_pem(EXAMPLE_KEY_PEM)
        .map_err(|e| anyhow::anyhow!("keys-example key unreadable: {e}"))?;
    Ok(thumbprint(&key.verifying_key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            thumbprint(&key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn pem_is_pkcs8_v1_mode_0600_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[9; 32]);
        let path = write_pem(dir.path(), &key).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        // v1 layout: 48 bytes of DER (no public key field) → 64 base64 characters.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(body.len(), 64, "{pem}");
        assert_eq!(read_pem(&path).unwrap().to_bytes(), key.to_bytes());
    }

    #[test]
    fn example_key_is_readable() {
        assert_eq!(example_thumbprint().unwrap().len(), 43);
    }
}
