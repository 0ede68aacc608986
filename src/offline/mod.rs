//! `onetrip verify` and `onetrip trust`: checks a certificate without the service's store —
//! from the PDF, a photo of the printed QR code, a link, a bare token or the printed 核验码 —
//! against issuers the user trusts, and says honestly what it could check.
//!
//! - The first line printed is the verdict (`verdict: …`); warnings and details follow.
//! - Keys and status come only from a trusted issuer's own URL (or a key set the user gives
//!   with `--jwks`), never from the host a link names: anyone can print a link to a host that
//!   serves its own keys.
//! - The issuer's key set and signed status list are pinned together and refreshed together.
//!   A fetched list older than the pinned one is refused (`stale_status`): a replayed list
//!   cannot undo a revocation. A refreshed key set must keep every pinned key and every
//!   compromise it recorded.
//! - Online, the issuer's signed status list and its verdict decide; an answer of `valid`
//!   never overrides what the signed list says, and counts only beside a list that is not
//!   past its own `next_update` (an attacker replaying the pinned list cannot confirm). When the issuer cannot be reached, the status
//!   list pinned at the last contact decides, and the verdict says how old it is; a list more
//!   than [`STATUS_GRACE`] past its `next_update`, or older than the certificate, decides
//!   nothing (`status_unknown`).
//! - Exit codes: [`Outcome::code`].

mod fetch;
mod input;
mod trust;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use fetch::{FetchError, Fetcher};
pub use input::link_from_input;
pub use trust::{
    TrustList, TrustedIssuer, UnsafeTrustFile, default_path, describe_keys, keys_continue,
    normalize, pinned_list_time, trust_add,
};

use crate::domain::VerificationCode;
use crate::domain::calendar::beijing_time;
use crate::domain::presented::Presented;
use crate::domain::status_list::{ListedStatus, StatusList};
use crate::service::issuance::CHINA;
use crate::service::verdict::{Verdict, verify_offline};
use crate::signing::{Claims, KeyRing, parse_jws};

/// The largest status list accepted (10^5 revoked certificates make ~22 MB).
const MAX_STATUS_LIST: usize = 64 << 20;

/// How long past its `next_update` a pinned status list still decides offline: 24 hours. The
/// service's lists are good for an hour (renewed every half hour, and at once on a change);
/// a day of grace lets a verifier work offline through a day away from the network. Past it,
/// a revocation published since could be missing, so the verdict is `status_unknown`, never
/// valid.
pub const STATUS_GRACE: chrono::Duration = chrono::Duration::hours(24);

/// How a verification ended, and the process's exit code for it (API.md, "Verdicts and exit
/// codes, completed").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Valid, confirmed by the issuer just now: exit 0.
    ValidOnline,
    /// Not valid (revoked, expired, tampered, unknown key, not issued, altered…): exit 1.
    NotValid,
    /// Valid as far as a current pinned status list and the keys show; the issuer was not
    /// asked: exit 2.
    ValidOffline,
    /// The issuer is not trusted, the input cannot be used, the code is mistyped, or a code
    /// was to be checked offline: exit 3.
    Unusable,
    /// The status list is too old, missing or older than the certificate: exit 4.
    StatusUnknown,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::ValidOnline => 0,
            Outcome::NotValid => 1,
            Outcome::ValidOffline => 2,
            Outcome::Unusable => 3,
            Outcome::StatusUnknown => 4,
        }
    }

    /// The outcome of a verdict that is not `valid`.
    fn of(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Valid => Outcome::ValidOnline,
            Verdict::Malformed
            | Verdict::CodeTypo
            | Verdict::UnusableInput
            | Verdict::UntrustedIssuer => Outcome::Unusable,
            Verdict::StatusUnknown => Outcome::StatusUnknown,
            _ => Outcome::NotValid,
        }
    }
}

/// What `onetrip verify` was asked.
pub struct VerifyRequest {
    pub input: String,
    /// A key set to use instead of the pinned one: a file, or a URL (whose issuer is then
    /// trusted for this run).
    pub jwks: Option<String>,
    /// The trusted issuer to ask about a 核验码 (needed when several are trusted).
    pub issuer: Option<String>,
    /// Ask no one: decide from the pinned key set and status list.
    pub offline: bool,
    pub trust_path: PathBuf,
    pub timeout: Duration,
    pub ca_cert: Option<PathBuf>,
}

/// What is printed: the verdict line first, then warnings, then details.
#[derive(Debug, Default)]
struct Report {
    verdict: String,
    warnings: Vec<String>,
    lines: Vec<String>,
}

impl Report {
    fn note(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// Ends with `verdict` (and what it says), for a verdict that is not `valid`.
    fn conclude(&mut self, verdict: Verdict) -> Outcome {
        self.verdict = format!("verdict: {}", verdict.as_str());
        self.lines.insert(0, verdict.message().to_owned());
        Outcome::of(verdict)
    }

    fn print(&self) {
        println!("{}", self.verdict);
        for line in self.warnings.iter().chain(&self.lines) {
            println!("{line}");
        }
    }
}

/// Runs `onetrip verify`: prints the verdict first, then what explains it; an error is
/// `unusable_input` (or `untrusted_issuer` for a trust list others may write), exit 3.
pub async fn verify(request: &VerifyRequest) -> Outcome {
    let mut report = Report::default();
    match run(request, &mut report).await {
        Ok(outcome) => {
            report.print();
            outcome
        }
        Err(e) => {
            let verdict = if e.downcast_ref::<UnsafeTrustFile>().is_some() {
                Verdict::UntrustedIssuer
            } else {
                Verdict::UnusableInput
            };
            report.lines.clear();
            report.conclude(verdict);
            report.print();
            eprintln!("error: {e:#}");
            Outcome::Unusable
        }
    }
}

/// Everything one run needs.
struct Run<'a> {
    request: &'a VerifyRequest,
    trust: TrustList,
    fetcher: Fetcher,
}

async fn run(request: &VerifyRequest, report: &mut Report) -> anyhow::Result<Outcome> {
    let trust = TrustList::load(&request.trust_path)?;
    let link = link_from_input(&request.input)?;
    let pdf = pdf_of(&request.input)?;
    let mut run = Run {
        request,
        trust,
        fetcher: Fetcher::new(request.timeout, request.ca_cert.as_deref())?,
    };
    match Presented::read(&link) {
        Presented::Token(token) => {
            let token = token.trim().to_owned();
            run.token(report, &link, &token, pdf.as_deref(), None).await
        }
        Presented::Code(code) => run.code(report, &link, &code).await,
        Presented::Malformed => {
            bail!("{link} is not a verification link, a token or a 核验码 (verification code)")
        }
    }
}

/// The bytes of a PDF given as a file (to ask the issuer whether it is the issued file).
fn pdf_of(input: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let path = Path::new(input);
    if !path.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(32 << 20).read_to_end(&mut bytes))
        .with_context(|| format!("reading {input}"))?;
    Ok(bytes.starts_with(b"%PDF").then_some(bytes))
}

/// The issuer's keys and status list as this run holds them.
struct IssuerState {
    url: Option<String>,
    /// The issuer's own key set (pinned, or refreshed with the list).
    ring: Option<KeyRing>,
    /// The newest verified status list: the pinned one, or a newer one fetched now.
    list: Option<StatusList>,
    /// A fresh list was fetched and accepted in this run: the issuer may be asked.
    online: bool,
}

impl Run<'_> {
    /// Checks a token (from a link, a PDF's or photo's QR code, or a 核验码's answer).
    /// `issuer` is set when a 核验码 was resolved by a trusted issuer.
    async fn token(
        &mut self,
        report: &mut Report,
        link: &str,
        token: &str,
        pdf: Option<&[u8]>,
        issuer: Option<String>,
    ) -> anyhow::Result<Outcome> {
        let request = self.request;
        let explicit_url = request
            .jwks
            .as_deref()
            .and_then(|j| j.strip_suffix("/.well-known/jwks.json"))
            .map(normalize);
        let issuer_url = match (issuer, service_of(link)) {
            (Some(url), _) => Some(url),
            (None, Some(base)) => {
                let base = normalize(base);
                if self.trust.find(&base).is_none() && explicit_url.as_deref() != Some(&base) {
                    return untrusted(report, &base, request, token);
                }
                Some(base)
            }
            (None, None) => explicit_url
                .clone()
                .or_else(|| issuer_by_kid(&self.trust, token)),
        };
        // Keys given with --jwks (a file, or a URL that is not an issuer's key set).
        let given = match request.jwks.as_deref() {
            Some(source) if explicit_url.is_none() => Some((
                source.to_owned(),
                KeyRing::from_jwks(&load_jwks(source, &self.fetcher).await?)?,
            )),
            _ => None,
        };
        let mut issuer = self.issuer_state(report, issuer_url.as_deref());
        if !request.offline
            && let Some(url) = issuer_url.clone()
        {
            self.refresh(report, &mut issuer, &url).await?;
        }
        let ring = match (&given, &issuer.ring) {
            (Some((_, ring)), _) | (None, Some(ring)) => ring,
            (None, None) => bail!(
                "no key set to check this token with: give --jwks FILE_OR_URL, or trust its issuer (onetrip trust add <issuer URL>)"
            ),
        };

        let now = Utc::now();
        let (finding, claims) = verify_offline(ring, token, now);
        let mut details = Vec::new();
        if let Some(c) = &claims {
            details.extend(claims_lines(c, finding.kid.as_deref()));
        }
        match (&given, &issuer.url) {
            (Some((source, _)), url) => {
                details.push(format!(
                    "  签名密钥 keys:       from {source} (given with --jwks, not a trusted issuer's pinned keys)"
                ));
                if let Some(url) = url {
                    details.push(format!("  状态列表 status:     {url}'s list"));
                }
            }
            (None, Some(url)) => {
                details.push(format!("  发证机关 issuer:     {url} (trusted)"));
            }
            (None, None) => {}
        }
        // What the keys and the signed status list say, without asking anyone.
        let mut local = finding.verdict;
        if let (Verdict::Valid, Some(claims), Some(list)) = (local, &claims, &issuer.list)
            && let Some((verdict, lines)) = listed(list, claims, finding.kid.as_deref())
        {
            local = verdict;
            details.extend(lines);
        }
        // The issuer's own answer, when its fresh list was accepted: for a PDF, whether the
        // file is the one it issued.
        let mut remote = None;
        if issuer.online
            && let Some(url) = &issuer.url
            && (pdf.is_some() || local == Verdict::Valid)
        {
            let answer = match pdf {
                Some(pdf) => {
                    self.fetcher
                        .verdict(&format!("{url}/api/v1/verify"), Some(pdf))
                        .await
                }
                None => {
                    self.fetcher
                        .verdict(&format!("{url}/v/{token}"), None)
                        .await
                }
            };
            match answer {
                Ok(answer) => remote = Some(answer),
                Err(e) => details.push(format!("{e}; deciding from the status list")),
            }
        }
        let file_unchecked = pdf.is_some() && remote.is_none();
        if file_unchecked {
            details.push(
                "  该 PDF 文件本身未与签发的原件比对（仅核验了其二维码） / The file itself was not compared with the issued one: only its QR code was checked.".to_owned(),
            );
        }
        let remote_verdict = remote
            .as_ref()
            .and_then(|r| r["verdict"].as_str())
            .map(str::to_owned);
        match (local, remote_verdict.as_deref(), remote.as_ref()) {
            (_, Some("altered_copy"), Some(answer)) => {
                let claimed = answer["certificate_verdict"]["verdict"]
                    .as_str()
                    .unwrap_or("unknown");
                // The certificate's own verdict: the worse of the issuer's and the list's.
                let claimed = if local == Verdict::Valid {
                    claimed.to_owned()
                } else {
                    local.as_str().to_owned()
                };
                report.lines.extend(details);
                let outcome = report.conclude(Verdict::AlteredCopy);
                report.note(format!(
                    "  声称的证照 claims to be: {} — its verdict: {claimed}",
                    answer["certificate"]["id"].as_str().unwrap_or_default()
                ));
                Ok(outcome)
            }
            (Verdict::Valid, Some("valid"), Some(answer)) => {
                report.lines.insert(0, Verdict::Valid.message().to_owned());
                report.lines.extend(details);
                report
                    .lines
                    .extend(online_lines(issuer.url.as_deref(), answer));
                report.verdict = "verdict: valid".to_owned();
                Ok(Outcome::ValidOnline)
            }
            (Verdict::Valid, Some(other), Some(answer)) => {
                let verdict = verdict_named(other);
                report.lines.extend(details);
                report
                    .lines
                    .extend(online_lines(issuer.url.as_deref(), answer));
                Ok(report.conclude(verdict))
            }
            (Verdict::Valid, _, _) => {
                report.lines.extend(details);
                Ok(offline_decision(
                    report,
                    issuer.list.as_ref(),
                    claims.as_ref(),
                    now,
                    file_unchecked,
                ))
            }
            (local, remote, _) => {
                report.lines.extend(details);
                if remote == Some("valid") {
                    report.note(format!(
                        "  发证机关回答 valid，但其签名的状态列表或密钥显示 {} / The issuer answered valid, but its signed status list or keys say {}: not believed.",
                        local.as_str(),
                        local.as_str()
                    ));
                }
                Ok(report.conclude(local))
            }
        }
    }

    /// The pinned key set and status list of the issuer at `url`, verified together.
    fn issuer_state(&self, report: &mut Report, url: Option<&str>) -> IssuerState {
        let pinned = url.and_then(|u| self.trust.find(u));
        let ring = pinned.and_then(|p| KeyRing::from_jwks(&p.jwks).ok());
        let list = match (pinned.and_then(|p| p.status_list.as_deref()), &ring) {
            (Some(jws), Some(ring)) => match read_status_list(jws, ring, url) {
                Ok(list) => Some(list),
                Err(e) => {
                    report.note(format!(
                        "the pinned status list does not verify with the pinned keys ({e:#}); not used"
                    ));
                    None
                }
            },
            _ => None,
        };
        IssuerState {
            url: url.map(str::to_owned),
            ring,
            list,
            online: false,
        }
    }

    /// Fetches the issuer's key set and status list together. They replace the pinned pair
    /// only if the key set continues the pinned one and the list verifies with it and is not
    /// older than the pinned list; then both are pinned and the issuer counts as online.
    async fn refresh(
        &mut self,
        report: &mut Report,
        issuer: &mut IssuerState,
        url: &str,
    ) -> anyhow::Result<()> {
        let fetched = async {
            let jwks = self
                .fetcher
                .json(&format!("{url}/.well-known/jwks.json"))
                .await?;
            let jws = self
                .fetcher
                .text(&format!("{url}/.well-known/status-list"), "application/jwt")
                .await?;
            Ok::<_, FetchError>((jwks, jws))
        }
        .await;
        let (jwks, jws) = match fetched {
            Ok(pair) => pair,
            Err(e) => {
                let since = issuer.list.as_ref().map_or_else(
                    || "no status list pinned".to_owned(),
                    |l| {
                        format!(
                            "using the status list pinned at the last contact ({})",
                            beijing_time(l.issued_at)
                        )
                    },
                );
                report.note(format!("发证机关无法联网核验 / {e}; {since}"));
                return Ok(());
            }
        };
        let checked = KeyRing::from_jwks(&jwks).and_then(|ring| {
            if let Some(pinned) = &issuer.ring {
                keys_continue(pinned, &ring).context("the key set it serves")?;
            }
            let list = read_status_list(&jws, &ring, Some(url)).context("its status list")?;
            Ok((ring, list))
        });
        let (ring, list) = match checked {
            Ok(pair) => pair,
            Err(e) => {
                report.note(format!(
                    "{url}: {e:#}; not used, the pinned key set and status list are kept"
                ));
                return Ok(());
            }
        };
        if let Some(pinned) = &issuer.list
            && list.issued_at < pinned.issued_at
        {
            report.warnings.push(format!(
                "warning: stale_status — {url} served a status list of {}, older than the pinned one of {}: refused, the pinned one is used",
                beijing_time(list.issued_at),
                beijing_time(pinned.issued_at)
            ));
            return Ok(());
        }
        // A list past its own next update is not the issuer's answer of today (a replay of
        // the pinned one, or a stalled issuer): it is kept, but the issuer's other answers are
        // not taken as a confirmation.
        issuer.online = Utc::now() <= list.next_update;
        if !issuer.online {
            report.note(format!(
                "{url} served a status list of {} that was due for renewal at {}: not taken as a confirmation",
                beijing_time(list.issued_at),
                beijing_time(list.next_update)
            ));
        }
        issuer.ring = Some(ring);
        issuer.list = Some(list);
        if let Some(entry) = self.trust.find(url).cloned() {
            self.trust.put(TrustedIssuer {
                jwks,
                status_list: Some(jws),
                ..entry
            });
            self.trust.save(&self.request.trust_path)?;
        }
        Ok(())
    }

    /// Checks a 核验码: only its issuer can say which certificate it names, so it is asked
    /// (`GET <issuer>/c/<code>`); the certificate's token is then checked as any other, with
    /// the pinned keys and the status list.
    async fn code(
        &mut self,
        report: &mut Report,
        link: &str,
        code: &VerificationCode,
    ) -> anyhow::Result<Outcome> {
        let url = match service_of(link) {
            Some(base) => normalize(base),
            None => match (&self.request.issuer, self.trust.issuers.as_slice()) {
                (Some(named), _) => normalize(named),
                (None, [only]) => only.url.clone(),
                (None, []) => {
                    report.note(
                        "没有受信任的发证机关 / No issuer is trusted: onetrip trust add <issuer URL>",
                    );
                    return Ok(report.conclude(Verdict::UntrustedIssuer));
                }
                (None, _) => bail!(
                    "several issuers are trusted: name the one that issued this code with --issuer <URL>"
                ),
            },
        };
        if self.trust.find(&url).is_none() {
            report.note(format!(
                "{url} 不在信任列表中 / {url} is not a trusted issuer. To trust it: onetrip trust add {url}"
            ));
            return Ok(report.conclude(Verdict::UntrustedIssuer));
        }
        let typo = !code.check_character_holds();
        if self.request.offline {
            report.note(
                "核验码只能向发证机关联网核验 / A 核验码 can only be checked online, with its issuer: offline, verify the PDF or its QR code.",
            );
            if typo {
                report.note(format!(
                    "  {code}: its check character does not match: probably mistyped"
                ));
            }
            return Ok(report.conclude(Verdict::UnusableInput));
        }
        let answer = match self
            .fetcher
            .verdict(&format!("{url}/c/{}", code.as_str()), None)
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                report.note(format!(
                    "{e}: a 核验码 cannot be checked offline; verify the PDF or its QR code"
                ));
                return Ok(report.conclude(Verdict::UnusableInput));
            }
        };
        let verdict = verdict_named(answer["verdict"].as_str().unwrap_or_default());
        let token = answer["certificate"]["token"].as_str().map(str::to_owned);
        let Some(token) = token else {
            report.note(format!("  核验码 code: {code} ({url})"));
            return Ok(report.conclude(verdict));
        };
        let sub = crate::signing::parse_token(&token)
            .map(|t| t.claims.sub)
            .unwrap_or_default();
        if answer["certificate"]["id"].as_str() != Some(sub.as_str())
            || answer["certificate"]["code"].as_str() != Some(code.to_string().as_str())
        {
            bail!("{url} answered for {code} with another certificate's token");
        }
        report.note(format!("  核验码 code:        {code}"));
        self.token(report, link, &token, None, Some(url)).await
    }
}

/// A verdict by its name, as a service answers it.
fn verdict_named(name: &str) -> Verdict {
    [
        Verdict::Valid,
        Verdict::Revoked,
        Verdict::Expired,
        Verdict::KeyRevoked,
        Verdict::UnknownKey,
        Verdict::BadSignature,
        Verdict::Malformed,
        Verdict::NotIssued,
        Verdict::Suspended,
        Verdict::Superseded,
        Verdict::AlteredCopy,
        Verdict::CodeTypo,
        Verdict::UnusableInput,
        Verdict::UntrustedIssuer,
        Verdict::StatusUnknown,
    ]
    .into_iter()
    .find(|v| v.as_str() == name)
    .unwrap_or(Verdict::Malformed)
}

/// Reads and verifies a signed status list: signed by a key of `ring` that was not
/// compromised before the list was issued, and naming `url` as its issuer.
pub fn read_status_list(
    jws: &str,
    ring: &KeyRing,
    url: Option<&str>,
) -> anyhow::Result<StatusList> {
    let parsed = parse_jws(jws.trim(), MAX_STATUS_LIST, |payload| {
        serde_json::from_slice::<StatusList>(payload).ok()
    })
    .context("not a status list")?;
    let key = ring
        .find(&parsed.kid)
        .with_context(|| format!("signed by key {}, which the key set lacks", parsed.kid))?;
    if !parsed.verify(&key.public) {
        bail!("its signature does not match");
    }
    let list = parsed.claims;
    if let Some(since) = key.record.compromised_since
        && list.issued_at >= since
    {
        bail!("signed by key {} after its compromise", parsed.kid);
    }
    if let Some(url) = url
        && normalize(&list.iss) != normalize(url)
    {
        bail!("it is {}'s list, not {url}'s", list.iss);
    }
    Ok(list)
}

/// The verdict the status list gives a token that checks with the keys, if it lists it.
fn listed(list: &StatusList, claims: &Claims, kid: Option<&str>) -> Option<(Verdict, Vec<String>)> {
    let as_of = format!("  (status list of {})", beijing_time(list.issued_at));
    if let Some(key) = kid.and_then(|k| list.key(k))
        && key
            .compromised_since
            .is_none_or(|since| claims.iat >= since.timestamp())
    {
        return Some((Verdict::KeyRevoked, vec![as_of]));
    }
    let entry = list
        .certificate(&claims.sub)
        .filter(|e| e.holds_on(Utc::now().with_timezone(&CHINA).date_naive()))?;
    let detail = entry
        .reason
        .and_then(|r| serde_json::to_value(r).ok())
        .and_then(|v| v.as_str().map(|reason| format!(" ({reason})")))
        .or_else(|| entry.until.map(|last| format!(" (until {last})")))
        .or_else(|| entry.successor.as_ref().map(|next| format!(" (by {next})")))
        .unwrap_or_default();
    let verdict = match entry.status {
        ListedStatus::Revoked => Verdict::Revoked,
        ListedStatus::Suspended => Verdict::Suspended,
        ListedStatus::Superseded => Verdict::Superseded,
    };
    Some((
        verdict,
        vec![
            format!(
                "  证照状态 status:     {} since {}{detail}",
                entry.status.as_str(),
                beijing_time(entry.since),
            ),
            as_of,
        ],
    ))
}

/// The verdict for a token the keys accept and no status list lists, without the issuer's
/// answer: valid offline only with a status list that is current (within [`STATUS_GRACE`] of
/// its `next_update`) and not older than the certificate.
/// `file_unchecked`: a PDF was given but the issuer did not compare the file with the one it
/// issued, so the first line says only its QR code was checked (a forged file may carry a
/// genuine code).
fn offline_decision(
    report: &mut Report,
    list: Option<&StatusList>,
    claims: Option<&Claims>,
    now: DateTime<Utc>,
    file_unchecked: bool,
) -> Outcome {
    let iat = claims.map_or(0, |c| c.iat);
    let Some(list) = list else {
        report.note(
            "没有状态列表，未能核验吊销状态 / No status list: revocation not checked. Connect once to the issuer (onetrip trust add <issuer URL>).",
        );
        return report.conclude(Verdict::StatusUnknown);
    };
    let as_of = beijing_time(list.issued_at);
    if now > list.next_update + STATUS_GRACE {
        report.note(format!(
            "状态列表（{as_of}）已过期 / The status list of {as_of} was due for renewal at {}, more than {} hours ago: a revocation since then would not show.",
            beijing_time(list.next_update),
            STATUS_GRACE.num_hours()
        ));
        return report.conclude(Verdict::StatusUnknown);
    }
    if list.issued_at.timestamp() < iat {
        report.note(format!(
            "状态列表（{as_of}）早于证照签发时间 / The status list of {as_of} is older than the certificate: it says nothing of its status."
        ));
        return report.conclude(Verdict::StatusUnknown);
    }
    if now > list.next_update {
        report.note(format!(
            "  the status list was due for renewal at {} (within the {} hours of grace)",
            beijing_time(list.next_update),
            STATUS_GRACE.num_hours()
        ));
    }
    report.verdict = match file_unchecked {
        false => format!("verdict: valid (offline; status as of {as_of})"),
        true => format!(
            "verdict: valid (offline; status as of {as_of}; QR code only: the file itself was not compared with the issued one)"
        ),
    };
    report.lines.insert(
        0,
        format!(
            "已离线核验签名、密钥、有效期与 {as_of} 的状态列表 / Checked offline: signature, key, expiry and the status list of {as_of}."
        ),
    );
    Outcome::ValidOffline
}

/// What the issuer's verdict adds: who it says holds the certificate.
fn online_lines(url: Option<&str>, online: &Value) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {}",
        url.unwrap_or_default(),
        online["message"].as_str().unwrap_or_default()
    )];
    let certificate = &online["certificate"];
    if let Some(holder) = certificate["holder"].as_str() {
        lines.push(format!("  持证人   holder:     {holder}"));
        lines.push(format!(
            "  证照名称 title:      {}",
            certificate["title"].as_str().unwrap_or_default()
        ));
    }
    lines
}

/// The link names an issuer the user does not trust: say so, fetch nothing from it, and say
/// what the given key set (if any) shows of the signature.
fn untrusted(
    report: &mut Report,
    base: &str,
    request: &VerifyRequest,
    token: &str,
) -> anyhow::Result<Outcome> {
    report.note(format!(
        "链接指向 {base}，该发证机关不在信任列表中 / The link points to {base}, which is not a trusted issuer."
    ));
    report.note(
        "  Its keys and answers were not fetched: anyone can serve keys for their own links.",
    );
    report.note(format!("  To trust it: onetrip trust add {base}"));
    if let Some(source) = request.jwks.as_deref().filter(|s| !s.contains("://")) {
        let jwks: Value = serde_json::from_str(
            &std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?,
        )
        .with_context(|| format!("{source} is not JSON"))?;
        let (finding, _) = verify_offline(&KeyRing::from_jwks(&jwks)?, token, Utc::now());
        report.note(format!(
            "  With the key set {source}: {} — but its revocation can only be asked of a trusted issuer.",
            finding.verdict.as_str()
        ));
    }
    Ok(report.conclude(Verdict::UntrustedIssuer))
}

/// The trusted issuer whose pinned key set holds the token's key, for a bare token.
fn issuer_by_kid(trust: &TrustList, token: &str) -> Option<String> {
    let kid = crate::signing::parse_token(token).ok()?.kid;
    trust
        .issuers
        .iter()
        .find(|i| KeyRing::from_jwks(&i.jwks).is_ok_and(|ring| ring.find(&kid).is_some()))
        .map(|i| i.url.clone())
}

/// The service a verification link (`…/v/<token>` or `…/c/<code>`) points at, e.g.
/// `https://zwfw.example.gov.cn`.
fn service_of(link: &str) -> Option<&str> {
    let link = link.trim();
    if !link.starts_with("http://") && !link.starts_with("https://") {
        return None;
    }
    link.rsplit_once("/v/")
        .or_else(|| link.rsplit_once("/c/"))
        .map(|(base, _)| base)
}

async fn load_jwks(source: &str, fetcher: &Fetcher) -> anyhow::Result<Value> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return Ok(fetcher.json(source).await?);
    }
    let text = std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?;
    serde_json::from_str(&text).with_context(|| format!("{source} is not JSON"))
}

fn claims_lines(c: &Claims, kid: Option<&str>) -> Vec<String> {
    vec![
        format!("  证照标识 identifier: {}", c.sub),
        format!("  持证主体 holder id:  {}", c.hid),
        format!("  签发     issued:     {}", date(c.iat)),
        format!("  有效期至 valid to:   {}", last_day(c.exp)),
        format!("  签名密钥 key:        {}", kid.unwrap_or_default()),
    ]
}

/// The last day of validity, as the certificate prints it: `exp` is the end of that day in
/// Beijing time (the next day's 00:00).
fn last_day(exp: i64) -> String {
    DateTime::from_timestamp(exp.saturating_sub(1), 0).map_or_else(
        || exp.to_string(),
        |t| format!("{} (北京时间)", crate::domain::calendar::china_date(t)),
    )
}

fn date(timestamp: i64) -> String {
    DateTime::from_timestamp(timestamp, 0).map_or_else(|| timestamp.to_string(), beijing_time)
}
