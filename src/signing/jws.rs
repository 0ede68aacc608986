//! Compact JWS (RFC 7515) with `alg: EdDSA` (RFC 8037). The parser is strict and total: any
//! input gives a token or an error, never a panic, so the public verify routes can take
//! whatever a stranger sends.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A real token is ~500 characters; anything much longer is not one of ours.
const MAX_TOKEN_LEN: usize = 4096;

/// The payload of a certificate token (API.md, "The QR token").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The certificate identifier.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub kind: String,
    pub holder: String,
    /// Masked for a person.
    pub holder_id: String,
    /// Hex SHA-256 of the certificate's canonical content.
    pub digest: String,
}

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
#[derive(Debug, Clone)]
pub struct ParsedToken {
    pub kid: String,
    pub claims: Claims,
    signing_input: String,
    signature: Signature,
}

impl ParsedToken {
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        key.verify(self.signing_input.as_bytes(), &self.signature)
            .is_ok()
    }
}

pub fn sign_token(key: &SigningKey, kid: &str, claims: &Claims) -> Result<String, JwsError> {
    let header = Header {
        alg: "EdDSA".into(),
        kid: kid.into(),
        typ: Some("JWT".into()),
        crit: None,
    };
    let encode = |json: serde_json::Result<Vec<u8>>| {
        json.map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|e| JwsError::Encode(e.to_string()))
    };
    let signing_input = format!(
        "{}.{}",
        encode(serde_json::to_vec(&header))?,
        encode(serde_json::to_vec(claims))?
    );
    let signature = key.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

pub fn parse_token(token: &str) -> Result<ParsedToken, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::Malformed("too long"));
    }
    let mut parts = token.split('.');
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
    let claims: Claims = serde_json::from_slice(&decode(payload, "payload is not base64url")?)
        .map_err(|_| JwsError::Malformed("payload is not a certificate claim set"))?;
    let signature = decode(signature, "signature is not base64url")?;
    let signature = Signature::from_slice(&signature)
        .map_err(|_| JwsError::Malformed("an Ed25519 signature is 64 bytes"))?;
    let signing_input_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
    Ok(ParsedToken {
        kid: header.kid,
        claims,
        signing_input: token[..signing_input_len].to_owned(),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "http://127.0.0.1:8080".into(),
            sub: "1.2.156.3005.2.X".into(),
            iat: 1_790_000_000,
            exp: 1_950_000_000,
            kind: "production-licence".into(),
            holder: "示例电缆有限公司".into(),
            holder_id: "91350100M000100Y43".into(),
            digest: "ab".repeat(32),
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
        other.holder = "冒名公司".into();
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
}
