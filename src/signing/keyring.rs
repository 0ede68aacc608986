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
use serde_json::{Value, json};

pub use crate::domain::signing_key::{KID_LEN, KeyRecord, KeyStatus};

use super::seal::{Custody, SealedKey};
use super::thumbprint::thumbprint;

/// The demonstration key shipped in `keys-example/`; production mode refuses to sign with it.
const EXAMPLE_KEY_PEM: &str = include_str!("../../keys-example/demo-ed25519.pem");

pub struct RingKey {
    pub record: KeyRecord,
    pub public: VerifyingKey,
    pub(super) secret: Option<SigningKey>,
}

pub struct KeyRing {
    pub(super) keys: Vec<RingKey>,
    /// The records as the store held them when the ring was opened: what a change to the
    /// ring is decided on, and how a node notices that another one changed it.
    stored: Vec<KeyRecord>,
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

    /// The records as stored when the ring was opened.
    pub fn stored(&self) -> &[KeyRecord] {
        &self.stored
    }

    /// Whether the ring was opened from exactly `records` (the store's answer now).
    pub fn is_current(&self, records: &[KeyRecord]) -> bool {
        self.stored == records
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

/// Sets a record's `thumbprint` and `kid` from its public key, whatever was stored or
/// published.
pub fn identify(record: &mut KeyRecord, public: &VerifyingKey) {
    record.thumbprint = thumbprint(public);
    record.kid = kid_of(&record.thumbprint);
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
                identify(&mut record, &public);
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
        Ok(KeyRing {
            keys,
            stored: Vec::new(),
        })
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

pub fn record_for(public: &VerifyingKey, now: DateTime<Utc>) -> KeyRecord {
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

/// The key to start a new ring with: a PEM already in the keys directory (e.g. copied from
/// `keys-example/`), or a new key, written there when keys are files (sealed into the store
/// by the caller otherwise).
pub fn first_key(custody: &Custody) -> anyhow::Result<SigningKey> {
    let keys_dir = custody.keys_dir();
    let key = match find_existing_pem(keys_dir)? {
        Some(key) => {
            tracing::info!(keys_dir = %keys_dir.display(), "using the signing key found in the keys directory");
            key
        }
        None if custody.keks().is_some() => {
            tracing::warn!(
                "created a signing key (first start, no key found), sealed in the store"
            );
            return Ok(SigningKey::generate(&mut OsRng));
        }
        None => {
            let key = SigningKey::generate(&mut OsRng);
            let path = write_pem(keys_dir, &key)?;
            tracing::warn!(path = %path.display(), "created a development signing key (first start, no key found)");
            key
        }
    };
    if custody.keks().is_none() && !pem_path(keys_dir, &thumbprint(&key.verifying_key())).exists() {
        write_pem(keys_dir, &key)?;
    }
    Ok(key)
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

impl KeyRing {
    /// The ring of the stored `records`, with the active key's private half where `custody`
    /// keeps it: its file in the keys directory, or opened from `sealed` (the store's sealed
    /// keys). Each record's kid and thumbprint are recomputed from its public key.
    pub fn open(
        records: Vec<KeyRecord>,
        sealed: &[SealedKey],
        custody: &Custody,
    ) -> anyhow::Result<KeyRing> {
        let stored = records.clone();
        let keys = records
            .into_iter()
            .map(|mut record| {
                let public = public_key(&record)?;
                identify(&mut record, &public);
                let secret = match record.status {
                    KeyStatus::Active => Some(private_half(&record, sealed, custody)?),
                    _ => None,
                };
                Ok(RingKey {
                    record,
                    public,
                    secret,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(KeyRing { keys, stored })
    }
}

/// The active key's private half, where `custody` keeps it.
fn private_half(
    record: &KeyRecord,
    sealed: &[SealedKey],
    custody: &Custody,
) -> anyhow::Result<SigningKey> {
    let in_store = sealed.iter().find(|s| s.thumbprint == record.thumbprint);
    match (custody, in_store) {
        (Custody::Sealed { keks, .. }, Some(sealed)) => keks.open(sealed),
        (Custody::Sealed { .. }, None) => bail!(
            "the active key {} has no sealed private half in the store (a node without ONETRIP_KEY_ENCRYPTION_KEY_FILE made it): put its PEM in the keys directory of a node that has the key-encryption key and start that node",
            record.kid
        ),
        (Custody::Files(dir), in_store) => {
            read_pem(&pem_path(dir, &record.thumbprint)).with_context(|| match in_store {
                Some(_) => format!(
                    "the active key {} is sealed in the store: this node needs ONETRIP_KEY_ENCRYPTION_KEY_FILE",
                    record.kid
                ),
                None => format!("the active key {} has no private half here", record.kid),
            })
        }
    }
}

/// A key kept in the keys directory under its thumbprint, if there is one.
pub fn pem_of(keys_dir: &Path, thumbprint: &str) -> anyhow::Result<Option<SigningKey>> {
    let path = pem_path(keys_dir, thumbprint);
    if !path.exists() {
        return Ok(None);
    }
    read_pem(&path).map(Some)
}

/// Whether `key` is the demonstration key of `keys-example/`, whose private half is public.
pub fn is_example_key(key: &SigningKey) -> anyhow::Result<bool> {
    Ok(thumbprint(&key.verifying_key()) == example_thumbprint()?)
}

fn example_thumbprint() -> anyhow::Result<String> {
    let key = SigningKey::from_pkcs8_pem(EXAMPLE_KEY_PEM)
        .map_err(|e| anyhow::anyhow!("keys-example key unreadable: {e}"))?;
    Ok(thumbprint(&key.verifying_key()))
}

fn read_pem(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading signing key {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
