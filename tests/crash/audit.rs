//! What must hold after a restart, checked over HTTP (and, for material files, on disk).
//! Every check adds a line to a list of problems rather than stopping at the first, so a
//! failure shows the whole damage.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use onetrip::domain::identifier::Identifier;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;
use crate::workload::{IssuedAck, UploadAck};

/// Everything the server ever acknowledged during the test.
#[derive(Debug, Default)]
pub struct Ledger {
    pub issued: Vec<IssuedAck>,
    pub uploaded: Vec<UploadAck>,
}

/// The submissions found in each state after the audit.
#[derive(Debug, Default)]
pub struct Census {
    pub accepted: Vec<String>,
    pub issued: usize,
    pub certificates: usize,
}

/// The actions that may end the history of a submission in `status`.
fn may_end_history(status: &str) -> &'static [&'static str] {
    match status {
        "draft" => &["created", "material_uploaded"],
        "submitted" => &["submitted"],
        "returned" => &["returned", "material_uploaded"],
        "pre_approved" => &["pre_approved", "window_checked", "item_decided"],
        "accepted" => &["window_checked", "item_decided"],
        "issued" => &["issued", "certificate_revoked"],
        _ => &[],
    }
}

/// The identifier's sequence segment (`YYYY` + 7 digits), after checking the identifier parses.
fn sequence_of(id: &str) -> Option<String> {
    Identifier::parse(id).ok()?;
    id.rsplit('.').nth(2).map(str::to_owned)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub struct Auditor<'a> {
    pub app: &'a TestApp,
    pub clerk: &'a str,
    pub problems: Vec<String>,
}

impl Auditor<'_> {
    async fn get_json(&mut self, path: &str) -> Option<Value> {
        let r = self.app.get(self.clerk, path).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status != 200 {
            self.problems.push(format!("GET {path}: {status} {body}"));
            return None;
        }
        Some(body)
    }

    /// The history runs 0..n without gaps and its last event fits the status; returns it.
    fn check_history(&mut self, id: &str, submission: &Value) -> Vec<Value> {
        let status = submission["status"].as_str().unwrap_or_default();
        let history = submission["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let seqs: Vec<u64> = history.iter().filter_map(|e| e["seq"].as_u64()).collect();
        if seqs != (0..history.len() as u64).collect::<Vec<_>>() {
            self.problems.push(format!(
                "{id}: history seq is {seqs:?}, not 0..{}",
                history.len()
            ));
        }
        let last = history
            .last()
            .and_then(|e| e["action"].as_str())
            .unwrap_or("none");
        if !may_end_history(status).contains(&last) {
            self.problems.push(format!(
                "{id}: status {status} but the last event is {last}"
            ));
        }
        history
    }

    /// Acknowledged certificates are present, verify, and have the PDF they were issued with.
    pub async fn acknowledged_certificates(&mut self, acks: &[IssuedAck]) {
        for ack in acks {
            let Some(cert) = self.get_json(&format!("/certificates/{}", ack.id)).await else {
                self.problems
                    .push(format!("acknowledged certificate {} is gone", ack.id));
                continue;
            };
            if cert["pdf_sha256"] != ack.pdf_sha256.as_str() || cert["token"] != ack.token.as_str()
            {
                self.problems.push(format!(
                    "certificate {} changed since it was acknowledged",
                    ack.id
                ));
            }
            if cert["submission"] != ack.submission.as_str() {
                self.problems.push(format!(
                    "certificate {} names submission {}, was issued for {}",
                    ack.id, cert["submission"], ack.submission
                ));
            }
            let verdict: Value = self
                .app
                .client
                .get(format!("{}/v/{}", self.app.url, ack.token))
                .header("Accept", "application/json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap_or(Value::Null);
            if verdict["verdict"] != "valid" {
                self.problems
                    .push(format!("certificate {} does not verify: {verdict}", ack.id));
            }
            let r = self
                .app
                .get(self.clerk, &format!("/certificates/{}/pdf", ack.id))
                .await;
            let status = r.status();
            let pdf = r.bytes().await.unwrap_or_default();
            if status != 200 || sha256_hex(&pdf) != ack.pdf_sha256 {
                self.problems.push(format!(
                    "certificate {}: PDF answered {status}, sha256 {} (issued {})",
                    ack.id,
                    sha256_hex(&pdf),
                    ack.pdf_sha256
                ));
            }
        }
    }

    /// Every submission meant for issuance is whole: issued ⇔ it has a certificate that
    /// exists and names it back, with exactly one `issued` event. No identifier or sequence
    /// number is shared. Returns which are still `accepted`.
    pub async fn issuance_submissions(&mut self, ids: &[String], acks: &[IssuedAck]) -> Census {
        let mut census = Census::default();
        let mut by_certificate: BTreeMap<String, String> = BTreeMap::new();
        let mut by_sequence: BTreeMap<String, String> = BTreeMap::new();
        for id in ids {
            let Some(submission) = self.get_json(&format!("/submissions/{id}")).await else {
                continue;
            };
            let history = self.check_history(id, &submission);
            let status = submission["status"].as_str().unwrap_or_default();
            let issued_events: Vec<&Value> =
                history.iter().filter(|e| e["action"] == "issued").collect();
            let certificate = submission["certificate"].as_str();
            match (status, certificate) {
                ("issued", Some(cert_id)) => {
                    census.issued += 1;
                    if issued_events.len() != 1 || issued_events[0]["certificate"] != cert_id {
                        self.problems.push(format!(
                            "{id}: issued as {cert_id} but its issued events are {issued_events:?}"
                        ));
                    }
                    if let Some(cert) = self.get_json(&format!("/certificates/{cert_id}")).await
                        && cert["submission"] != id.as_str()
                    {
                        self.problems.push(format!(
                            "{id}: its certificate {cert_id} names submission {}",
                            cert["submission"]
                        ));
                    }
                    if let Some(other) = by_certificate.insert(cert_id.to_owned(), id.clone()) {
                        self.problems
                            .push(format!("{id} and {other} share certificate {cert_id}"));
                    }
                    match sequence_of(cert_id) {
                        Some(seq) => {
                            if let Some(other) = by_sequence.insert(seq.clone(), cert_id.to_owned())
                            {
                                self.problems.push(format!(
                                    "{cert_id} and {other} share sequence number {seq}"
                                ));
                            }
                        }
                        None => self
                            .problems
                            .push(format!("{id}: certificate identifier {cert_id} is invalid")),
                    }
                }
                (_, None) if status != "issued" => {
                    if !issued_events.is_empty() {
                        self.problems
                            .push(format!("{id}: status {status} with an issued event"));
                    }
                    if status == "accepted" {
                        census.accepted.push(id.clone());
                    }
                }
                _ => self.problems.push(format!(
                    "{id}: status {status} with certificate {certificate:?} (half-updated)"
                )),
            }
        }
        for ack in acks {
            if by_certificate.get(&ack.id) != Some(&ack.submission) {
                self.problems.push(format!(
                    "{} no longer says it was issued as acknowledged certificate {}",
                    ack.submission, ack.id
                ));
            }
        }
        census.certificates = by_certificate.len();
        census
    }

    /// Every acknowledged upload is recorded with its digest and its file is on disk, whole.
    pub async fn drafts(&mut self, ids: &[String], acks: &[UploadAck]) {
        let mut recorded: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
        for id in ids {
            let Some(submission) = self.get_json(&format!("/submissions/{id}")).await else {
                continue;
            };
            self.check_history(id, &submission);
            let uploads = submission["history"].as_array().map_or(0, |h| {
                h.iter()
                    .filter(|e| e["action"] == "material_uploaded")
                    .count()
            });
            let mut with_file = 0;
            for m in submission["materials"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if let (Some(name), Some(sha256), Some(size)) =
                    (m["name"].as_str(), m["sha256"].as_str(), m["size"].as_u64())
                {
                    with_file += 1;
                    recorded.insert((id.clone(), name.to_owned()), (sha256.to_owned(), size));
                }
            }
            if uploads != with_file {
                self.problems.push(format!(
                    "{id}: {uploads} upload events but {with_file} materials with a file"
                ));
            }
        }
        let on_disk = digests_on_disk(&self.app.data().join("materials"));
        for ack in acks {
            let key = (ack.submission.clone(), ack.name.clone());
            if recorded.get(&key) != Some(&(ack.sha256.clone(), ack.size)) {
                self.problems.push(format!(
                    "acknowledged upload {}/{} ({}) is recorded as {:?}",
                    ack.submission,
                    ack.name,
                    ack.sha256,
                    recorded.get(&key)
                ));
            }
            if !on_disk.contains(&(ack.submission.clone(), ack.sha256.clone())) {
                self.problems.push(format!(
                    "acknowledged upload {}/{} ({}) has no whole file on disk",
                    ack.submission, ack.name, ack.sha256
                ));
            }
        }
    }
}

/// (submission, sha256) of every file under `<data>/materials/<submission>/`.
fn digests_on_disk(root: &Path) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for dir in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let submission = dir.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(bytes) = std::fs::read(file.path()) {
                found.insert((submission.clone(), sha256_hex(&bytes)));
            }
        }
    }
    found
}
