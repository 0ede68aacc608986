//! Compact JWS (RFC 7515) with `alg: EdDSA` (RFC 8037). The parser is strict and total: any
//! input gives a token or an error, never a panic, so the public verify routes can take
//! whatever a stranger sends.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A token is at most ~410 characters (API.md, "The QR token"); one from the first, longer
/// form ~600. Anything much longer is not one of ours.
const MAX_TOKEN_LEN: usize = 4096;

/// The payload of a certificate token (API.md, "The QR token"). Its size does not depend on
/// what the certificate says: the holder's name, the items and the fields are bound through
/// `dig`, the digest of the canonical record, not carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The certificate identifier.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// The holder's id: a USCC, or a person's masked ID number.
    pub hid: String,
    /// base64url (unpadded) SHA-256 of the canonical certificate record.
    pub dig: String,
}

/// The payload of the first version's tokens, which stores written before the compact form
/// still hold. Read, never written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyClaims {
    #[serde(rename = "iss")]
    _iss: String,
    sub: String,
    iat: i64,
    exp: i64,
    #[serde(rename = "kind")]
    _kind: String,
    #[serde(rename = "holder")]
    _holder: String,
    holder_id: String,
    /// Hex SHA-256 of the canonical record.
    digest: String,
}

impl LegacyClaims {
    fn into_claims(self) -> Option<Claims> {
        let digest = hex::decode(&self.digest).ok().filter(|d| d.len() == 32)?;
        Some(Claims {
            sub: self.sub,
            iat: self.iat,
            exp: self.exp,
            hid: self.holder_id,
            dig: URL_SAFE_NO_PAD.encode(digest),
        })
    }
}

/// The header, exactly `{"alg":"EdDSA","kid":"…"}` when we sign; `typ` is accepted when
/// reading because the first version wrote it.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS: {0}")]
    Malformed(&'static str),
    #[error("unsupported algorithm {0:?}: only EdDSA is accepted")]
    Algorithm(String),
    #[error("claims could not be encoded: {0}")]
    Encode(String),
}

/// A token split and decoded, not yet verified.
pub type ParsedToken = ParsedJws<Claims>;

/// A compact JWS split and decoded, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct ParsedJws<T> {
    pub kid: String,
    pub claims: T,
    signing_input: String,
    signature: Signature,
}

impl<T> ParsedJws<T> {
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        key.verify(self.signing_input.as_bytes(), &self.signature)
            .is_ok()
    }
}

pub fn sign_token(key: &SigningKey, kid: &str, claims: &Claims) -> Result<String, JwsError> {
    sign_jws(key, kid, None, claims)
}

/// Signs any JSON payload as a compact JWS with header `{"alg":"EdDSA","kid":…}` (and `typ`
/// when given).
pub fn sign_jws<T: Serialize>(
    key: &SigningKey,
    kid: &str,
    typ: Option<&str>,
    payload: &T,
) -> Result<String, JwsError> {
    let header = Header {
        alg: "EdDSA".into(),
        kid: kid.into(),
        typ: typ.map(str::to_owned),
        crit: None,
    };
    let encode = |json: serde_json::Result<Vec<u8>>| {
        json.map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|e| JwsError::Encode(e.to_string()))
    };
    let signing_input = format!(
        "{}.{}",
        encode(serde_json::to_vec(&header))?,
        encode(serde_json::to_vec(payload))?
    );
    let signature = key.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

pub fn parse_token(token: &str) -> Result<ParsedToken, JwsError> {
    parse_jws(token, MAX_TOKEN_LEN, |payload| {
        serde_json::from_slice::<Claims>(payload).ok().or_else(|| {
            serde_json::from_slice::<LegacyClaims>(payload)
                .ok()
                .and_then(LegacyClaims::into_claims)
        })
    })
}

/// Splits and decodes a compact JWS of at most `max_len` bytes whose payload `read` accepts.
pub fn parse_jws<T>(
    text: &str,
    max_len: usize,
    read: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<ParsedJws<T>, JwsError> {
    if text.len() > max_len {
        return Err(JwsError::Malformed("too long"));
    }
    let mut parts = text.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("a compact JWS has three parts"));
    };
    let decode = |part: &str, what: &'static str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwsError::Malformed(what))
    };
    let header: Header = serde_json::from_slice(&decode(header, "header is not base64url")?)
        .map_err(|_| JwsError::Malformed("header is not the expected JSON"))?;
    if header.alg != "EdDSA" {
        return Err(JwsError::Algorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(JwsError::Malformed(
            "critical header parameters are not understood",
        ));
    }
    let payload = decode(payload, "payload is not base64url")?;
    let claims = read(&payload).ok_or(JwsError::Malformed("payload is not the expected JSON"))?;
    let signature = decode(signature, "signature is not base64url")?;
    let signature = Signature::from_slice(&signature)
        .map_err(|_| JwsError::Malformed("an Ed25519 signature is 64 bytes"))?;
    let signing_input_len = text.len() - text.rsplit('.').next().map_or(0, str::len) - 1;
    Ok(ParsedJws {
        kid: header.kid,
        claims,
        signing_input: text[..signing_input_len].to_owned(),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            sub: "1.2.156.3005.2.X".into(),
            iat: 1_790_000_000,
            exp: 1_950_000_000,
            hid: "91350100M000100Y43".into(),
            dig: URL_SAFE_NO_PAD.encode([0xab; 32]),
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn signs_and_verifies_and_detects_tampering() {
        let token = sign_token(&key(), "kid1", &claims()).unwrap();
        let parsed = parse_token(&token).unwrap();
        assert_eq!(parsed.kid, "kid1");
        assert_eq!(parsed.claims, claims());
        assert!(parsed.verify(&key().verifying_key()));
        assert!(!parsed.verify(&SigningKey::from_bytes(&[8; 32]).verifying_key()));

        let mut other = claims();
        other.hid = "91330100MA2XXXXX1X".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert!(
            !parse_token(&tampered)
                .unwrap()
                .verify(&key().verifying_key())
        );
    }

    #[test]
    fn refuses_other_algorithms_and_garbage() {
        let token = sign_token(&key(), "kid1", &claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let with_header =
            |h: &str| format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), parts[1], parts[2]);
        assert_eq!(
            parse_token(&with_header(r#"{"alg":"none","kid":"k"}"#)).unwrap_err(),
            JwsError::Algorithm("none".into())
        );
        assert!(matches!(
            parse_token(&with_header(r#"{"alg":"HS256","kid":"k"}"#)),
            Err(JwsError::Algorithm(_))
        ));
        assert!(parse_token(&with_header(r#"{"alg":"EdDSA","kid":"k","crit":["exp"]}"#)).is_err());
        let short_sig = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode([0u8; 63])
        );
        assert!(parse_token(&short_sig).is_err());
        for garbage in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            &"x".repeat(10_000),
            "é.é.é",
        ] {
            assert!(parse_token(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn header_and_payload_are_exactly_the_contract() {
        let token = sign_token(&key(), "AbCdEfGhIjKlMnOp", &claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let header = URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
        assert_eq!(header, br#"{"alg":"EdDSA","kid":"AbCdEfGhIjKlMnOp"}"#);
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let mut keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["dig", "exp", "hid", "iat", "sub"]);
    }

    #[test]
    fn reads_the_first_versions_long_tokens() {
        let legacy = serde_json::json!({
            "iss": "http://127.0.0.1:8080", "sub": "1.2.156.3005.2.X",
            "iat": 1_790_000_000, "exp": 1_950_000_000, "kind": "production-licence",
            "holder": "示例电缆有限公司", "holder_id": "91350100M000100Y43",
            "digest": "ab".repeat(32),
        });
        let header =
            r#"{"alg":"EdDSA","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","typ":"JWT"}"#;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(legacy.to_string())
        );
        let signature = key().sign(input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        let parsed = parse_token(&token).unwrap();
        assert_eq!(parsed.claims, claims());
        assert!(parsed.verify(&key().verifying_key()));
        // A legacy digest that is not a SHA-256 is not a claim set.
        let bad = legacy.to_string().replace(&"ab".repeat(32), "abc");
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(bad)
        );
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));
        assert!(parse_token(&token).is_err());
    }
}
