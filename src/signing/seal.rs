//! Private keys sealed for a shared store: each key's 32-byte seed encrypted with
//! XChaCha20-Poly1305 under a key-encryption key (KEK) that every node reads from a file and
//! the database never sees. The associated data binds a sealed seed to its key's thumbprint,
//! so a sealed half moved onto another key's row does not open; the seed opened is checked
//! against that thumbprint again.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use crate::domain::signing_key::SealedKey;

use super::thumbprint::thumbprint;

/// What the associated data starts with: names the format, so that a later one cannot be
/// taken for this one.
const CONTEXT: &[u8] = b"onetrip sealed Ed25519 seed v1\0";

/// A key-encryption key, read from the file that `ONETRIP_KEY_ENCRYPTION_KEY_FILE` names:
/// 32 random bytes in base64 (`openssl rand -base64 32`). Wiped from memory when dropped.
pub struct Kek {
    id: String,
    key: Zeroizing<[u8; 32]>,
    path: PathBuf,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({} from {})", self.id, self.path.display())
    }
}

impl Kek {
    /// Reads and checks the file: base64 of exactly 32 bytes, surrounding whitespace allowed.
    /// A file that other users may read is used, with a warning.
    pub fn from_file(path: &Path) -> anyhow::Result<Kek> {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the key-encryption key file is readable by other users: make it 0600 (or 0400)"
            );
        }
        let text =
            Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                format!("reading the key-encryption key file {}", path.display())
            })?);
        let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
            anyhow::anyhow!(
                "{}: not base64 (make one with `openssl rand -base64 32`)",
                path.display()
            )
        })?);
        let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            bail!(
                "{}: holds {} bytes; a key-encryption key is 32 (`openssl rand -base64 32`)",
                path.display(),
                bytes.len()
            );
        };
        Ok(Kek::new(Zeroizing::new(key), path))
    }

    fn new(key: Zeroizing<[u8; 32]>, path: &Path) -> Kek {
        let digest = Sha256::digest(key.as_slice());
        Kek {
            id: hex::encode(&digest[..8]),
            key,
            path: path.to_owned(),
        }
    }

    /// The first 8 bytes of the key's SHA-256, hex: recorded beside every key it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `secret`'s seed under this key, with a fresh random nonce.
    pub fn seal(&self, secret: &SigningKey, now: DateTime<Utc>) -> anyhow::Result<SealedKey> {
        let thumbprint = thumbprint(&secret.verifying_key());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let seed = Zeroizing::new(secret.to_bytes());
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: seed.as_slice(),
                    aad: &associated_data(&thumbprint),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing key {thumbprint} failed"))?;
        Ok(SealedKey {
            thumbprint,
            kek_id: self.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
            // What PostgreSQL keeps of a time: a sealed key reads back equal to itself.
            sealed_at: now.trunc_subsecs(6),
        })
    }

    fn open(&self, sealed: &SealedKey) -> anyhow::Result<SigningKey> {
        let Ok(nonce) = <[u8; 24]>::try_from(sealed.nonce.as_slice()) else {
            bail!("the sealed key {} has no 24-byte nonce", sealed.thumbprint);
        };
        let seed = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &associated_data(&sealed.thumbprint),
                    },
                )
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the sealed key {} does not open under key-encryption key {} ({}): altered, or sealed under another key with the same id",
                        sealed.thumbprint,
                        self.id,
                        self.path.display()
                    )
                })?,
        );
        let Ok(seed) = <[u8; 32]>::try_from(seed.as_slice()) else {
            bail!("the sealed key {} is not a 32-byte seed", sealed.thumbprint);
        };
        let secret = SigningKey::from_bytes(&seed);
        if thumbprint(&secret.verifying_key()) != sealed.thumbprint {
            bail!("the sealed key {} opens to another key", sealed.thumbprint);
        }
        Ok(secret)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.as_slice().into())
    }
}

fn associated_data(thumbprint: &str) -> Vec<u8> {
    [CONTEXT, thumbprint.as_bytes()].concat()
}

/// The key-encryption keys a node holds: the one it seals with, and during `onetrip keys
/// reseal` the previous one, which it still opens with.
#[derive(Debug)]
pub struct Keks {
    pub current: Kek,
    pub previous: Option<Kek>,
}

impl Keks {
    /// Opens `sealed` with whichever key sealed it, naming both when neither did.
    pub fn open(&self, sealed: &SealedKey) -> anyhow::Result<SigningKey> {
        let kek = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == sealed.kek_id);
        match kek {
            Some(kek) => kek.open(sealed),
            None => bail!(
                "key {} is sealed under key-encryption key {}, which this node does not hold (ONETRIP_KEY_ENCRYPTION_KEY_FILE is {}{})",
                sealed.thumbprint,
                sealed.kek_id,
                self.current.id,
                match &self.previous {
                    Some(p) => format!(", ONETRIP_PREVIOUS_KEY_ENCRYPTION_KEY_FILE {}", p.id),
                    None => String::new(),
                }
            ),
        }
    }
}

/// Where the private halves of the signing keys are kept.
#[derive(Debug)]
pub enum Custody {
    /// 0600 PEM files in this directory (sled, or PostgreSQL without a key-encryption key).
    Files(PathBuf),
    /// Sealed in the store; `keys_dir` is read only for a key kept there before (sealed into
    /// the store the first time a node finds it).
    Sealed { keks: Keks, keys_dir: PathBuf },
}

impl Custody {
    /// The keys directory: where the files are, or were.
    pub fn keys_dir(&self) -> &Path {
        match self {
            Custody::Files(dir) | Custody::Sealed { keys_dir: dir, .. } => dir,
        }
    }

    /// The key-encryption keys, when the store keeps the private halves.
    pub fn keks(&self) -> Option<&Keks> {
        match self {
            Custody::Files(_) => None,
            Custody::Sealed { keks, .. } => Some(keks),
        }
    }
}

#[cfg(test)]
mod tests {
    use chacha20poly1305::aead::Aead;

    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::new(Zeroizing::new([byte; 32]), Path::new("test"))
    }

    #[test]
    fn a_sealed_seed_opens_to_the_same_key_and_not_in_the_clear() {
        let secret = SigningKey::from_bytes(&[7; 32]);
        let sealed = kek(1).seal(&secret, Utc::now()).unwrap();
        assert_eq!(sealed.nonce.len(), 24);
        assert_eq!(sealed.ciphertext.len(), 32 + 16);
        assert!(
            !sealed
                .ciphertext
                .windows(8)
                .any(|w| secret.to_bytes().windows(8).any(|s| s == w)),
            "no run of the seed appears in what is stored"
        );
        let keks = Keks {
            current: kek(1),
            previous: None,
        };
        assert_eq!(keks.open(&sealed).unwrap().to_bytes(), secret.to_bytes());
        let again = kek(1).seal(&secret, Utc::now()).unwrap();
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce each time");
    }

    /// The cipher as the specification's own test vector has it (the API tests open a sealed
    /// key with libsodium too).
    #[test]
    fn xchacha20_poly1305_matches_the_draft_rfc_test_vector() {
        // draft-irtf-cfrg-xchacha-03, A.3.1.
        let key: [u8; 32] =
            hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
                .unwrap()
                .try_into()
                .unwrap();
        let nonce = hex::decode("404142434445464748494a4b4c4d4e4f5051525354555657").unwrap();
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = XChaCha20Poly1305::new(&key.into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap();
        let (ciphertext, tag) = sealed.split_at(plaintext.len());
        assert_eq!(hex::encode(tag), "c0875924c1c7987947deafd8780acf49");
        assert!(hex::encode(ciphertext).starts_with("bd6d179d3e83d43b9576579493c0e939"));
    }

    #[test]
    fn another_kek_a_moved_row_or_a_flipped_bit_does_not_open() {
        let secret = SigningKey::from_bytes(&[7; 32]);
        let sealed = kek(1).seal(&secret, Utc::now()).unwrap();
        let other = Keks {
            current: kek(2),
            previous: None,
        };
        let refused = other.open(&sealed).unwrap_err().to_string();
        assert!(
            refused.contains(&kek(1).id) && refused.contains(&kek(2).id),
            "{refused}"
        );

        let keks = Keks {
            current: kek(2),
            previous: Some(kek(1)),
        };
        assert!(keks.open(&sealed).is_ok(), "the previous key still opens");

        let mut moved = sealed.clone();
        moved.thumbprint = thumbprint(&SigningKey::from_bytes(&[8; 32]).verifying_key());
        assert!(keks.open(&moved).is_err());
        let mut flipped = sealed;
        flipped.ciphertext[3] ^= 1;
        assert!(keks.open(&flipped).is_err());
    }

    #[test]
    fn the_kek_file_is_base64_of_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, format!("{}\n", STANDARD.encode([5u8; 32]))).unwrap();
        let kek = Kek::from_file(&path).unwrap();
        assert_eq!(kek.id(), &hex::encode(&Sha256::digest([5u8; 32])[..8]));
        assert!(!format!("{kek:?}").contains(&STANDARD.encode([5u8; 32])));
        std::fs::write(&path, STANDARD.encode([5u8; 16])).unwrap();
        let short = Kek::from_file(&path).unwrap_err().to_string();
        assert!(short.contains("16 bytes"), "{short}");
        std::fs::write(&path, "not base64!").unwrap();
        assert!(Kek::from_file(&path).is_err());
        assert!(Kek::from_file(&dir.path().join("missing")).is_err());
    }
}
