//! Firing a burst of concurrent writes at the server and killing it with SIGKILL in the middle.
//! Only what came back as a complete 2xx response counts as acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;

/// One request of the burst.
pub enum Job {
    Issue {
        submission: String,
    },
    Upload {
        submission: String,
        name: String,
        bytes: Vec<u8>,
    },
}

/// When the server is killed.
#[derive(Debug, Clone, Copy)]
pub enum KillAt {
    /// Once at least this many issuances and this many uploads have been acknowledged.
    Acks { issued: usize, uploaded: usize },
    /// This long after the first request went out.
    After(Duration),
}

/// How a burst is sent.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    /// `None`: every job at once, one connection each. `Some(n)`: n workers take jobs in turn,
    /// so requests keep arriving for the whole burst.
    pub workers: Option<usize>,
    /// Rotate the signing key in a loop meanwhile.
    pub rotate: bool,
}

#[derive(Debug, Clone)]
pub struct IssuedAck {
    pub submission: String,
    pub id: String,
    pub pdf_sha256: String,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct UploadAck {
    pub submission: String,
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

enum Outcome {
    Issued(IssuedAck),
    Uploaded(UploadAck),
    /// A complete response that was not 2xx: the server answered, and refused.
    Refused(String),
    /// No complete response: the connection died with the server.
    Unanswered,
}

/// What one burst produced.
#[derive(Debug, Default)]
pub struct Fired {
    pub issued: Vec<IssuedAck>,
    pub uploaded: Vec<UploadAck>,
    /// Kids of key rotations that were acknowledged, in order.
    pub rotations: Vec<String>,
    pub refused: Vec<String>,
    pub unanswered: usize,
    /// Requests still in flight when SIGKILL was sent.
    pub in_flight_at_kill: usize,
    pub killed_after: Duration,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn send(client: Client, base: String, clerk: String, job: Job) -> Outcome {
    match job {
        Job::Issue { submission } => {
            let sent = client
                .post(format!("{base}/api/v1/submissions/{submission}/issue"))
                .bearer_auth(&clerk)
                .json(&json!({}))
                .send()
                .await;
            let Ok(r) = sent else {
                return Outcome::Unanswered;
            };
            let status = r.status();
            let Ok(body) = r.json::<Value>().await else {
                return Outcome::Unanswered;
            };
            if !status.is_success() {
                return Outcome::Refused(format!("issue {submission}: {status} {body}"));
            }
            Outcome::Issued(IssuedAck {
                submission,
                id: body["id"].as_str().unwrap_or_default().to_owned(),
                pdf_sha256: body["pdf_sha256"].as_str().unwrap_or_default().to_owned(),
                token: body["token"].as_str().unwrap_or_default().to_owned(),
            })
        }
        Job::Upload {
            submission,
            name,
            bytes,
        } => {
            let expected = sha256_hex(&bytes);
            let size = bytes.len() as u64;
            let sent = client
                .put(format!(
                    "{base}/api/v1/submissions/{submission}/materials/{name}"
                ))
                .bearer_auth(&clerk)
                .body(bytes)
                .send()
                .await;
            let Ok(r) = sent else {
                return Outcome::Unanswered;
            };
            let status = r.status();
            let Ok(body) = r.json::<Value>().await else {
                return Outcome::Unanswered;
            };
            if !status.is_success() {
                return Outcome::Refused(format!("upload {submission}/{name}: {status} {body}"));
            }
            if body["sha256"] != expected.as_str() || body["size"] != size {
                return Outcome::Refused(format!(
                    "upload {submission}/{name} acknowledged {body}, sent sha256 {expected} size {size}"
                ));
            }
            Outcome::Uploaded(UploadAck {
                submission,
                name,
                sha256: expected,
                size,
            })
        }
    }
}

/// Rotates the signing key again and again until the server dies; returns the acknowledged kids.
async fn rotate_until_dead(client: Client, base: String, admin: String) -> Vec<String> {
    let mut kids = Vec::new();
    loop {
        let sent = client
            .post(format!("{base}/api/v1/keys/rotate"))
            .bearer_auth(&admin)
            .send()
            .await;
        let Ok(r) = sent else { return kids };
        let status = r.status();
        let Ok(body) = r.json::<Value>().await else {
            return kids;
        };
        assert_eq!(status, 201, "rotation refused: {body}");
        kids.push(body["kid"].as_str().unwrap().to_owned());
    }
}

/// Sends the jobs as `burst` says, kills the server with SIGKILL at `kill`, and collects what
/// was acknowledged.
pub async fn fire(
    app: &mut TestApp,
    clerk: &str,
    jobs: Vec<Job>,
    kill: KillAt,
    burst: Burst,
) -> Fired {
    // A fresh client per burst, so every request has its own connection and none waits for
    // another to finish.
    let client = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let issued_acks = Arc::new(AtomicUsize::new(0));
    let uploaded_acks = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let total = jobs.len();
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(jobs.into_iter()));
    let workers = burst.workers.unwrap_or(total);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, base, clerk) = (client.clone(), app.url.clone(), clerk.to_owned());
            let (issued_acks, uploaded_acks) = (issued_acks.clone(), uploaded_acks.clone());
            let (finished, queue) = (finished.clone(), queue.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                loop {
                    let Some(job) = queue.lock().unwrap().next() else {
                        return outcomes;
                    };
                    let outcome = send(client.clone(), base.clone(), clerk.clone(), job).await;
                    match outcome {
                        Outcome::Issued(_) => issued_acks.fetch_add(1, Ordering::SeqCst),
                        Outcome::Uploaded(_) => uploaded_acks.fetch_add(1, Ordering::SeqCst),
                        _ => 0,
                    };
                    finished.fetch_add(1, Ordering::SeqCst);
                    outcomes.push(outcome);
                }
            })
        })
        .collect();
    let rotator = burst.rotate.then(|| {
        tokio::spawn(rotate_until_dead(
            client.clone(),
            app.url.clone(),
            app.admin.clone(),
        ))
    });

    let deadline = started + Duration::from_secs(30);
    loop {
        let due = match kill {
            KillAt::Acks { issued, uploaded } => {
                issued_acks.load(Ordering::SeqCst) >= issued
                    && uploaded_acks.load(Ordering::SeqCst) >= uploaded
            }
            KillAt::After(delay) => started.elapsed() >= delay,
        };
        if due || finished.load(Ordering::SeqCst) == total || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let in_flight_at_kill = total - finished.load(Ordering::SeqCst);
    let killed_after = started.elapsed();
    app.kill();

    let mut fired = Fired {
        in_flight_at_kill,
        killed_after,
        ..Fired::default()
    };
    for task in tasks {
        for outcome in task.await.unwrap() {
            match outcome {
                Outcome::Issued(ack) => fired.issued.push(ack),
                Outcome::Uploaded(ack) => fired.uploaded.push(ack),
                Outcome::Refused(what) => fired.refused.push(what),
                Outcome::Unanswered => fired.unanswered += 1,
            }
        }
    }
    // Jobs no worker took before the kill were never sent.
    fired.unanswered += queue.lock().unwrap().len();
    if let Some(rotator) = rotator {
        fired.rotations = rotator.await.unwrap();
    }
    fired
}
