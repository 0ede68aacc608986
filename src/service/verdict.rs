//! Deciding whether a certificate token is genuine and still valid, from the key ring and
//! (online) the issued record: the verdicts, what a verifier may see, and the offline check.
//! One function answers for the QR page, the JSON API, the drop-a-PDF route and the CLI.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::certificate::{CertField, CertStatus, Certificate, Change, RevocationReason};
use crate::service::issuance::CHINA;
use crate::signing::{Claims, KeyRing, KeyStatus, parse_token};

/// The distinct answers a verifier can get (API.md, "Verdicts and exit codes, completed").
/// The last two only the offline verifier gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
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
    /// A PDF carrying our QR code whose bytes are not the issued file's.
    AlteredCopy,
    /// A 核验码 not in the store whose check character fails: mistyped, not forged.
    CodeTypo,
    /// Not a PDF, no readable QR code, or too large.
    UnusableInput,
    /// The link's issuer is not in the verifier's trust list.
    UntrustedIssuer,
    /// The verifier's status list is too old (or missing, or older than the certificate)
    /// to say whether the certificate is still valid.
    StatusUnknown,
}

/// How a verdict is shown: green for valid, red for what must not be trusted, amber for what
/// needs a look (a replaced or suspended version, a typo, a file we cannot read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Green,
    Red,
    Amber,
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
            Verdict::AlteredCopy => "altered_copy",
            Verdict::CodeTypo => "code_typo",
            Verdict::UnusableInput => "unusable_input",
            Verdict::UntrustedIssuer => "untrusted_issuer",
            Verdict::StatusUnknown => "status_unknown",
        }
    }

    /// The colour of its page (API.md): revoked, expired, a compromised key, a bad signature,
    /// an altered copy, an unknown key and a certificate we never issued are red.
    pub fn tone(self) -> Tone {
        match self {
            Verdict::Valid => Tone::Green,
            Verdict::Revoked
            | Verdict::Expired
            | Verdict::KeyRevoked
            | Verdict::UnknownKey
            | Verdict::BadSignature
            | Verdict::NotIssued
            | Verdict::AlteredCopy
            | Verdict::UntrustedIssuer => Tone::Red,
            Verdict::Suspended
            | Verdict::Superseded
            | Verdict::Malformed
            | Verdict::CodeTypo
            | Verdict::UnusableInput
            | Verdict::StatusUnknown => Tone::Amber,
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
            Verdict::Malformed => {
                "无法识别，请核对输入的核验码或链接 / This is not a verification code or link: check what was entered."
            }
            Verdict::NotIssued => "本机关未签发此证照 / This issuer never issued this certificate.",
            Verdict::Suspended => "证照已被暂扣，暂停使用 / This certificate is suspended.",
            Verdict::Superseded => {
                "证照已变更，此版本已被新版本替代 / This version was replaced by a newer one."
            }
            Verdict::AlteredCopy => {
                "文件不是发证机关签发的原件，可能被改动 / This file is not the one the issuer issued: it was altered."
            }
            Verdict::CodeTypo => {
                "核验码校验位不符，可能输入有误，请核对 / The code's check character does not match: probably mistyped. Check the code."
            }
            Verdict::UnusableInput => {
                "无法读取：不是 PDF 证照，或没有可识别的二维码 / Cannot be read: not a certificate PDF, or no readable QR code."
            }
            Verdict::UntrustedIssuer => {
                "发证机关不在信任列表中 / The issuer is not in your trust list."
            }
            Verdict::StatusUnknown => {
                "状态列表已过期，无法确认证照当前状态 / The status list is out of date: whether it is still valid is unknown."
            }
        }
    }

    pub fn is_valid(self) -> bool {
        self == Verdict::Valid
    }
}

/// What a verifier may see: no full ID number, no internal ids.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicCertificate {
    pub id: String,
    /// The verification code printed beside the QR code (none on the first version's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub kind: String,
    pub title: String,
    pub holder: String,
    pub holder_id: String,
    /// `[{key, label, value}]`, in the template's order: the shape of the certificate record's
    /// `content.fields`, so one reader serves both.
    pub fields: Vec<CertField>,
    pub items: Vec<String>,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub issuer: String,
    pub issued_at: DateTime<Utc>,
    /// The identifier's version: 1, or the version after amendments (变更).
    pub version: u16,
    /// The paper licences a migration replaced with this one (原证书编号).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub former_numbers: Vec<String>,
    /// Its signed token (what its QR code carries), so that a verifier handed a 核验码 can
    /// check the signature and the status list itself.
    pub token: String,
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
            fields: content.fields.clone(),
            items: content.items.iter().map(|i| i.name.clone()).collect(),
            issue_date: content.issue_date,
            expiry_date: content.expiry_date,
            issuer: content.issuer.name.clone(),
            issued_at: c.issued_at,
            version: content.id.version(),
            former_numbers: content.former_numbers().map(str::to_owned).collect(),
            token: c.token.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Revocation {
    pub reason: RevocationReason,
    pub text: String,
    pub revoked_at: DateTime<Utc>,
}

/// The verdict and everything known that explains it.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
    /// For a superseded version: the last version of its chain, and whether it is in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<Box<Latest>>,
    /// For an altered copy: the verdict of the certificate the copy claims to be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_verdict: Option<Box<CertificateVerdict>>,
    /// For unusable input: what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<InputProblem>,
}

/// The end of a superseded version's chain of successors.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Latest {
    pub id: String,
    pub code: Option<String>,
    /// Where to verify it.
    pub link: String,
    /// Its own verdict.
    pub verdict: Verdict,
    /// Valid or suspended: the version in force. Otherwise no version is in force.
    pub in_force: bool,
}

/// The verdict of the certificate an altered copy claims to be.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateVerdict {
    pub verdict: Verdict,
    pub message: String,
}

/// Why a file handed to a verifier cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputProblem {
    NotPdf,
    NoQr,
    TooLarge,
    /// Larger, or more objects, images or pixels, than a certificate ever holds.
    TooComplex,
}

impl InputProblem {
    pub fn message(self) -> &'static str {
        match self {
            InputProblem::NotPdf => {
                "不是 PDF 文件，无法核验 / This file is not a PDF: it cannot be verified."
            }
            InputProblem::NoQr => {
                "PDF 中没有可识别的核验二维码，无法核验 / No readable verification QR code in this PDF: it cannot be verified."
            }
            InputProblem::TooComplex => {
                "PDF 过大，或对象、图像过多过大，不是证照 PDF，无法核验 / This PDF is larger, or holds more objects or larger images, than a certificate: it cannot be verified."
            }
            InputProblem::TooLarge => {
                "文件超过 10 MB，不是证照 PDF，无法核验 / The file is over 10 MB: not a certificate PDF, it cannot be verified."
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Suspension {
    pub reason: String,
    /// The last day of the suspension, if it has one.
    pub until: Option<NaiveDate>,
    pub suspended_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
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
            latest: None,
            certificate_verdict: None,
            problem: None,
        }
    }

    /// The verdict for a file that cannot be used.
    pub fn unusable(problem: InputProblem) -> Self {
        Self {
            message: problem.message().to_owned(),
            problem: Some(problem),
            ..Self::of(Verdict::UnusableInput)
        }
    }

    /// This finding, for a file that carries the certificate's QR code but is not the issued
    /// file: `altered_copy`, naming the certificate and its own verdict.
    pub fn altered_copy(self) -> Self {
        let own = CertificateVerdict {
            verdict: self.verdict,
            message: self.message.clone(),
        };
        Self {
            verdict: Verdict::AlteredCopy,
            message: Verdict::AlteredCopy.message().to_owned(),
            certificate_verdict: Some(Box::new(own)),
            ..self
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
    let found = issued(&signed.claims.sub)?;
    Ok(judge_issued(signed, token, found, now))
}

/// What a token whose signature checks ([`check_signature`]) says, given the certificate its
/// subject names as the store holds it (`None`: not issued).
pub fn judge_issued(
    signed: Signed,
    token: &str,
    found: Option<Certificate>,
    now: DateTime<Utc>,
) -> Finding {
    // The token must be the very one issued: a key thief could sign other claims (another
    // holder id) beside the real digest, and a verifier reads the claims.
    let certificate = match found {
        Some(c)
            if c.content_digest.to_base64url() == signed.claims.dig && c.token == token.trim() =>
        {
            c
        }
        _ => return signed.finding(Verdict::NotIssued),
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
    result
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
    use crate::domain::Sha256Digest;
    use crate::domain::certificate::{SAMPLE_ID as ID, sample_licence};
    use crate::signing::{kid_of, sign_token, thumbprint};

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
        let licence = sample_licence(
            NaiveDate::from_ymd_opt(2026, 11, 16).unwrap(),
            NaiveDate::from_ymd_opt(2031, 11, 15).unwrap(),
        );
        let claims = Claims {
            sub: ID.into(),
            iat: issued_at.timestamp(),
            exp: issued_at.timestamp() + 86_400 * 365,
            hid: "91350100M000100Y43".into(),
            dig: licence.content_digest.to_base64url(),
        };
        let token = sign_token(&key, &kid, &claims).unwrap();
        let certificate = Certificate {
            issued_at,
            kid,
            token: token.clone(),
            verify_url: format!("http://x/v/{token}"),
            ..licence
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
