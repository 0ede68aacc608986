//! What is kept of a signing key: its public half, its short id and its life (active, then
//! retired, perhaps revoked from a time on). The private half never leaves `signing`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

impl KeyRecord {
    /// Whether `kid` names this key: its short kid, or its whole thumbprint.
    pub fn names(&self, kid: &str) -> bool {
        self.kid == kid || self.thumbprint == kid
    }
}

/// A private key sealed for the store: its 32-byte seed encrypted and authenticated under a
/// key-encryption key that only the nodes hold (`signing::seal`). The store never sees the
/// seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    /// The thumbprint of the key's public half: which [`KeyRecord`] it belongs to.
    pub thumbprint: String,
    /// Which key-encryption key sealed it: the first 8 bytes of that key's SHA-256, hex.
    pub kek_id: String,
    /// XChaCha20-Poly1305's 24-byte nonce.
    pub nonce: Vec<u8>,
    /// The sealed seed and its 16-byte tag.
    pub ciphertext: Vec<u8>,
    pub sealed_at: DateTime<Utc>,
}
