//! Deciding whether a certificate token is genuine and still valid, from the key ring and
//! (online) the issued record: the verdicts, what a verifier may see, and the offline check.
//! One function answers for the QR page, the JSON API, the drop-a-PDF route and the CLI.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::certificate::{CertStatus, Certificate, Change, RevocationReason};
use crate::service::issuance::CHINA;
use crate::signing::{Claims, KeyRing, KeyStatus, parse_token};

/// The distinct answers a verifier can get (API.md, "Verdict").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Revoked,
    Expired,
    KeyRevoked,
    UnknownKey,
    BadSignature,
    Malformed,
    NotIssued,
    Suspended,
    Superseded,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Revoked => "revoked",
            Verdict::Expired => "expired",
            Verdict::KeyRevoked => "key_revoked",
            Verdict::UnknownKey => "unknown_key",
            Verdict::BadSignature => "bad_signature",
            Verdict::Malformed => "malformed",
            Verdict::NotIssued => "not_issued",
            Verdict::Suspended => "suspended",
            Verdict::Superseded => "superseded",
        }
    }

    /// One sentence in Chinese, then English.
    pub fn message(self) -> &'static str {
        match self {
            Verdict::Valid => "证照真实有效 / This certificate is genuine and valid.",
            Verdict::Revoked => "证照已被撤销 / This certificate has been revoked.",
            Verdict::Expired => "证照已过有效期 / This certificate has expired.",
            Verdict::KeyRevoked => {
                "签名密钥已泄露，此证照签于泄露之后，不可信 / Signed by a key after its compromise: not to be trusted."
            }
            Verdict::UnknownKey => {
                "签名密钥不属于本发证机关 / Signed by a key this issuer does not know."
            }
            Verdict::BadSignature => {
                "签名无效，内容可能被篡改 / The signature does not match: the content was altered."
            }
            Verdict::Malformed => "不是有效的核验码 / This is not a valid verification code.",
            Verdict::NotIssued => "本机关未签发此证照 / This issuer never issued this certificate.",
            Verdict::Suspended => "证照已被暂扣，暂停使用 / This certificate is suspended.",
            Verdict::Superseded => {
                "证照已变更，此版本已被新版本替代 / This version was replaced by a newer one."
            }
        }
    }

    pub fn is_valid(self) -> bool {
        self == Verdict::Valid
    }
}

/// What a verifier may see: no full ID number, no internal ids.
#[derive(Debug, Clone, Serialize)]
pub struct PublicCertificate {
    pub id: String,
    /// The verification code printed beside the QR code (none on the first version's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub kind: String,
    pub title: String,
    pub holder: String,
    pub holder_id: String,
    pub fields: Vec<(String, String)>,
    pub items: Vec<String>,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub issuer: String,
    pub issued_at: DateTime<Utc>,
}

impl From<&Certificate> for PublicCertificate {
    fn from(c: &Certificate) -> Self {
        let content = &c.content;
        Self {
            id: content.id.to_string(),
            code: content.code.as_ref().map(ToString::to_string),
            kind: content.kind.clone(),
            title: content.title.clone(),
            holder: content.holder.name().to_owned(),
            holder_id: content.holder.public_id(),
            fields: content.labelled_fields(),
            items: content.items.iter().map(|i| i.name.clone()).collect(),
            issue_date: content.issue_date,
            expiry_date: content.expiry_date,
            issuer: content.issuer.name.clone(),
            issued_at: c.issued_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Revocation {
    pub reason: RevocationReason,
    pub text: String,
    pub revoked_at: DateTime<Utc>,
}

/// The verdict and everything known that explains it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub verdict: Verdict,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Box<PublicCertificate>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Box<Revocation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspension: Option<Box<Suspension>>,
    /// The version that replaced a superseded one, and what changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successor: Option<Box<Successor>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Suspension {
    pub reason: String,
    /// The last day of the suspension, if it has one.
    pub until: Option<NaiveDate>,
    pub suspended_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Successor {
    pub id: String,
    pub code: Option<String>,
    /// Where to verify it: its `/c/<code>` link (or its QR link for a first-version record).
    pub link: String,
    pub superseded_at: DateTime<Utc>,
    pub changes: Vec<Change>,
}

impl Finding {
    pub fn of(verdict: Verdict) -> Self {
        Self {
            verdict,
            message: verdict.message().to_owned(),
            certificate: None,
            kid: None,
            signed_at: None,
            revocation: None,
            suspension: None,
            successor: None,
        }
    }
}

/// A token whose signature checks with a known key, signed inside that key's active window
/// and before any compromise. What the key ring alone can prove.
pub struct Signed {
    pub claims: Claims,
    pub kid: String,
}

/// Checks the signature side of a token, or says why it fails.
pub fn check_signature(ring: &KeyRing, token: &str) -> Result<Signed, Finding> {
    let parsed = parse_token(token.trim()).map_err(|_| Finding::of(Verdict::Malformed))?;
    let finding = |verdict| Finding {
        kid: Some(parsed.kid.clone()),
        signed_at: DateTime::from_timestamp(parsed.claims.iat, 0),
        ..Finding::of(verdict)
    };
    let key = ring
        .find(&parsed.kid)
        .ok_or_else(|| finding(Verdict::UnknownKey))?;
    if !parsed.verify(&key.public) {
        return Err(finding(Verdict::BadSignature));
    }
    let record = &key.record;
    let iat = parsed.claims.iat;
    if record.status == KeyStatus::Revoked
        && record
            .compromised_since
            .is_none_or(|since| iat >= since.timestamp())
    {
        return Err(finding(Verdict::KeyRevoked));
    }
    let before_activation = record.activated_at.is_none_or(|a| iat < a.timestamp());
    let after_retirement = record.retired_at.is_some_and(|r| iat > r.timestamp());
    if before_activation || after_retirement {
        return Err(finding(Verdict::NotIssued));
    }
    Ok(Signed {
        kid: parsed.kid,
        claims: parsed.claims,
    })
}

impl Signed {
    fn finding(&self, verdict: Verdict) -> Finding {
        Finding {
            kid: Some(self.kid.clone()),
            signed_at: DateTime::from_timestamp(self.claims.iat, 0),
            ..Finding::of(verdict)
        }
    }

    fn expired(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() >= self.claims.exp
    }
}

/// Verifies `token` against the key ring, then against what was issued (`issued` looks a
/// certificate up by identifier). A token is valid only if its signature checks with a known
/// key, it was signed inside that key's active window and before any compromise, the
/// certificate is in the store with the same content digest and the same token, is not revoked
/// and not expired.
pub fn verify_token<E>(
    ring: &KeyRing,
    token: &str,
    now: DateTime<Utc>,
    issued: impl FnOnce(&str) -> Result<Option<Certificate>, E>,
) -> Result<Finding, E> {
    let signed = match check_signature(ring, token) {
        Ok(signed) => signed,
        Err(finding) => return Ok(finding),
    };
    // The token must be the very one issued: a key thief could sign other claims (another
    // holder id) beside the real digest, and a verifier reads the claims.
    let certificate = match issued(&signed.claims.sub)? {
        Some(c)
            if c.content_digest.to_base64url() == signed.claims.dig && c.token == token.trim() =>
        {
            c
        }
        _ => return Ok(signed.finding(Verdict::NotIssued)),
    };
    let today = now.with_timezone(&CHINA).date_naive();
    let status = certificate.status.in_force(today);
    let verdict = match status {
        CertStatus::Revoked { .. } => Verdict::Revoked,
        CertStatus::Superseded { .. } => Verdict::Superseded,
        CertStatus::Suspended { .. } => Verdict::Suspended,
        CertStatus::Valid if signed.expired(now) => Verdict::Expired,
        CertStatus::Valid => Verdict::Valid,
    };
    let mut result = signed.finding(verdict);
    match status {
        CertStatus::Revoked {
            reason,
            text,
            revoked_at,
        } => {
            result.revocation = Some(Box::new(Revocation {
                reason: *reason,
                text: text.clone(),
                revoked_at: *revoked_at,
            }));
        }
        CertStatus::Suspended {
            reason,
            until,
            suspended_at,
        } => {
            result.suspension = Some(Box::new(Suspension {
                reason: reason.clone(),
                until: *until,
                suspended_at: *suspended_at,
            }));
        }
        CertStatus::Superseded { .. } | CertStatus::Valid => {}
    }
    result.certificate = Some(Box::new(PublicCertificate::from(&certificate)));
    Ok(result)
}

/// Verifies with the key set alone, as an offline verifier must: signature, key window,
/// compromise and expiry. Whether the certificate was revoked, or is in the issuer's records,
/// only the service can say; the caller must tell its user so.
pub fn verify_offline(
    ring: &KeyRing,
    token: &str,
    now: DateTime<Utc>,
) -> (Finding, Option<Claims>) {
    match check_signature(ring, token) {
        Err(finding) => (finding, None),
        Ok(signed) => {
            let verdict = if signed.expired(now) {
                Verdict::Expired
            } else {
                Verdict::Valid
            };
            (signed.finding(verdict), Some(signed.claims))
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::{Duration, NaiveDate};
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    use super::*;
    use crate::domain::certificate::{CertContent, IssuerInfo};
    use crate::domain::holder::Holder;
    use crate::domain::identifier::Identifier;
    use crate::domain::{Sha256Digest, SubmissionId};
    use crate::signing::{kid_of, sign_token, thumbprint};

    const ID: &str = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";

    struct Fixture {
        ring: KeyRing,
        token: String,
        certificate: Certificate,
        issued_at: DateTime<Utc>,
    }

    fn fixture(key_status: &str, compromised_since: Option<DateTime<Utc>>) -> Fixture {
        let key = SigningKey::from_bytes(&[5; 32]);
        let kid = kid_of(&thumbprint(&key.verifying_key()));
        let activated = Utc::now() - Duration::days(30);
        let issued_at = Utc::now() - Duration::days(10);
        let ring = KeyRing::from_jwks(&json!({"keys": [{
            "kid": kid, "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            "status": key_status, "created_at": activated, "activated_at": activated,
            "retired_at": null, "compromised_since": compromised_since,
        }]}))
        .unwrap();
        let content = CertContent {
            id: Identifier::parse(ID).unwrap(),
            kind: "production-licence".into(),
            title: "工业产品生产许可证".into(),
            holder: Holder::parse("enterprise", "91350100M000100Y43", "示例公司").unwrap(),
            fields: vec![],
            items: vec![],
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 16).unwrap(),
            expiry_date: NaiveDate::from_ymd_opt(2031, 11, 15).unwrap(),
            issuer: IssuerInfo {
                name: "某局".into(),
                code: "11430000006122244L".into(),
            },
            code: None,
            supersedes: None,
            former_number: None,
            merged_former_numbers: Vec::new(),
            photo_sha256: None,
        };
        let claims = Claims {
            sub: ID.into(),
            iat: issued_at.timestamp(),
            exp: issued_at.timestamp() + 86_400 * 365,
            hid: "91350100M000100Y43".into(),
            dig: content.digest().to_base64url(),
        };
        let token = sign_token(&key, &kid, &claims).unwrap();
        let certificate = Certificate {
            submission: SubmissionId::generate(),
            issued_at,
            issued_by: "clerk:tok_x".into(),
            kid,
            content_digest: content.digest(),
            token: token.clone(),
            verify_url: format!("http://x/v/{token}"),
            code_url: None,
            pdf_sha256: Sha256Digest::of(b"pdf"),
            pdf_size: 3,
            status: CertStatus::Valid,
            delivery: None,
            content,
        };
        Fixture {
            ring,
            token,
            certificate,
            issued_at,
        }
    }

    fn verdict(f: &Fixture, now: DateTime<Utc>) -> Verdict {
        let found = Some(f.certificate.clone());
        verify_token(&f.ring, &f.token, now, |_| Ok::<_, ()>(found))
            .unwrap()
            .verdict
    }

    #[test]
    fn valid_until_the_token_expires() {
        let f = fixture("active", None);
        assert_eq!(verdict(&f, Utc::now()), Verdict::Valid);
        assert_eq!(
            verdict(&f, Utc::now() + Duration::days(400)),
            Verdict::Expired
        );
        let (offline, claims) = verify_offline(&f.ring, &f.token, Utc::now() + Duration::days(400));
        assert_eq!(offline.verdict, Verdict::Expired);
        assert_eq!(claims.unwrap().sub, ID);
    }

    #[test]
    fn a_compromise_invalidates_only_what_was_signed_after_it() {
        let signed_after_compromise = fixture("revoked", Some(Utc::now() - Duration::days(20)));
        assert_eq!(
            verdict(&signed_after_compromise, Utc::now()),
            Verdict::KeyRevoked
        );
        let signed_before_compromise = fixture("revoked", Some(Utc::now() - Duration::days(5)));
        assert!(signed_before_compromise.issued_at < Utc::now() - Duration::days(5));
        assert_eq!(
            verdict(&signed_before_compromise, Utc::now()),
            Verdict::Valid
        );
    }

    #[test]
    fn a_record_that_differs_or_is_missing_is_not_issued() {
        let f = fixture("active", None);
        let none = verify_token(&f.ring, &f.token, Utc::now(), |_| Ok::<_, ()>(None)).unwrap();
        assert_eq!(none.verdict, Verdict::NotIssued);
        let mut other = f.certificate.clone();
        other.content_digest = Sha256Digest::of(b"other");
        let differs =
            verify_token(&f.ring, &f.token, Utc::now(), |_| Ok::<_, ()>(Some(other))).unwrap();
        assert_eq!(differs.verdict, Verdict::NotIssued);
    }
}
