//! The QR token parser and the offline verifier, against a fixed one-key ring.
//!
//! Byte 0 picks the mode. Mode 0: the rest is a token from a stranger; parsing and verifying
//! must not panic, and whatever verifies must carry our key id (short, or the whole thumbprint
//! of the first version's tokens). Mode 1: the rest is a claim
//! set; signed with the ring's key it must parse back to the same claims and verify (valid or
//! expired), never as malformed or tampered.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use onetrip::signing::{Claims, KeyRing, kid_of, parse_token, sign_token, thumbprint};
use onetrip::service::verdict::{Verdict, verify_offline};

static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[7; 32]));
static RING: LazyLock<KeyRing> = LazyLock::new(|| {
    let public = KEY.verifying_key();
    KeyRing::from_jwks(&serde_json::json!({"keys": [{
        "kid": thumbprint(&public), "x": URL_SAFE_NO_PAD.encode(public.as_bytes()),
        "status": "active", "created_at": "1970-01-01T00:00:00Z",
        "activated_at": "1970-01-01T00:00:00Z", "retired_at": null, "compromised_since": null,
    }]}))
    .expect("a well-formed one-key JWK Set")
});

/// `parse_token`'s limit (private in `signing::jws`).
const MAX_TOKEN_LEN: usize = 4096;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a fixed instant")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode % 2 == 0 {
        let _ = parse_token(text);
        let (finding, claims) = verify_offline(&RING, text, now());
        if finding.verdict.is_valid() || claims.is_some() {
            let long = thumbprint(&KEY.verifying_key());
            let kid = finding.kid.unwrap_or_default();
            assert!(kid == long || kid == kid_of(&long), "{kid}");
        }
        return;
    }
    let Ok(claims) = serde_json::from_str::<Claims>(text) else {
        return;
    };
    let kid = kid_of(&thumbprint(&KEY.verifying_key()));
    let token = sign_token(&KEY, &kid, &claims).expect("our own claims sign");
    if token.len() > MAX_TOKEN_LEN {
        // The parser refuses what no QR code could carry; the service never issues such a
        // token because its QR rendering fails first (a QR holds under 3 KB).
        assert!(parse_token(&token).is_err());
        return;
    }
    let parsed = parse_token(&token).expect("a token we signed parses");
    assert_eq!(parsed.claims, claims);
    let (finding, _) = verify_offline(&RING, &token, now());
    let expected = if claims.iat < 0 {
        // Signed before the key was activated (1970): refused as not ours.
        vec![Verdict::NotIssued]
    } else {
        vec![Verdict::Valid, Verdict::Expired]
    };
    assert!(
        expected.contains(&finding.verdict),
        "{:?} for a token we signed: {token}",
        finding.verdict
    );
});
