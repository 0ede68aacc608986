//! Crash safety: what the server acknowledged survives `kill -9`, nothing is issued twice and
//! nothing is left half-written. Each round fires hundreds of concurrent issuances and
//! material uploads at the real binary, kills it with SIGKILL at a different moment, restarts
//! it on the same store and audits everything over HTTP. Another test kills it while the
//! signing key rotates in a loop.
//!
//! `cargo test --test crash -- --nocapture` prints what each round fired and acknowledged.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod audit;
mod rotation_race;
mod workload;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use audit::{Auditor, Census, Ledger};
use helpers::{ENTERPRISE, Staff, TestApp, accepted, decide, enterprise, licence_submission};
use workload::{Burst, Fired, Job, KillAt, fire};

/// Accepted and approved submissions made before the first kill.
const PREPARED: usize = 200;
/// Draft submissions per round; each receives one upload per declared material (two).
const DRAFTS_PER_ROUND: usize = 40;
/// A round with fewer issuable submissions than this is topped up first.
const MIN_POOL: usize = 60;
const ALL_AT_ONCE: Burst = Burst {
    workers: None,
    rotate: false,
};
/// How many preparations run at once.
const PREP_WORKERS: usize = 16;

/// Makes `count` submissions that are accepted at the window and approved by SCJG.
/// 一企一证: each is for an enterprise of its own, so all of them can be issued.
async fn prepare(app: &TestApp, staff: &Staff, scjg: &str, count: usize) -> Vec<String> {
    static NEXT: AtomicU32 = AtomicU32::new(6000);
    let workers = (0..PREP_WORKERS).map(|w| async move {
        let mut ids = Vec::new();
        for _ in (w..count).step_by(PREP_WORKERS) {
            let body = licence_submission(&enterprise(NEXT.fetch_add(1, Ordering::Relaxed)));
            let id = accepted(app, staff, &body).await;
            for item in ["wire-cable", "fertiliser"] {
                assert_eq!(decide(app, scjg, &id, item, "approve").await.status(), 200);
            }
            ids.push(id);
        }
        ids
    });
    join_all(workers).await.into_iter().flatten().collect()
}

/// Makes `count` draft submissions to upload materials to.
async fn drafts(app: &TestApp, staff: &Staff, count: usize) -> Vec<String> {
    let body = licence_submission(ENTERPRISE);
    let requests = (0..count).map(|_| async {
        let r = app.post(&staff.clerk, "/submissions", &body).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    join_all(requests).await
}

/// One issuance per submission and one upload per (draft, material), interleaved.
fn jobs(round: usize, issuable: &[String], drafts: &[String]) -> Vec<Job> {
    let materials = ["营业执照副本", "产品检验报告"];
    let mut uploads = drafts.iter().flat_map(|d| {
        materials.iter().map(move |name| Job::Upload {
            submission: d.clone(),
            name: (*name).to_owned(),
            // Tens of kilobytes, unique per round, draft and material.
            bytes: format!("round {round} {d} {name};")
                .repeat(1500)
                .into_bytes(),
        })
    });
    let mut jobs = Vec::new();
    for id in issuable {
        jobs.push(Job::Issue {
            submission: id.clone(),
        });
        jobs.extend(uploads.next());
    }
    jobs.extend(uploads);
    jobs
}

fn summary(label: &str, fired: &Fired, census: &Census) -> String {
    format!(
        "{label}: SIGKILL after {:?} with {} requests in flight; acknowledged {} issuances, {} uploads, {} rotations; {} unanswered; after restart {} certificates, {} still accepted",
        fired.killed_after,
        fired.in_flight_at_kill,
        fired.issued.len(),
        fired.uploaded.len(),
        fired.rotations.len(),
        fired.unanswered,
        census.certificates,
        census.accepted.len(),
    )
}

fn assert_no_problems(label: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{label}: {} problems after restart:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_at_three_moments() {
    let started = Instant::now();
    // Hundreds of staff requests at once from one address: past the default shares of one
    // address and of staff, which this test is not about (tests/api/abuse.rs is).
    let mut app = TestApp::spawn_with(
        "[limits]\nmax_connections_per_address = 1024\nmax_requests_per_address = 1024\nmax_staff_requests = 512\nmax_applicant_requests = 512",
    )
    .await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let mut pool = prepare(&app, &staff, &scjg, PREPARED).await;
    let mut issuance_submissions = pool.clone();
    let mut draft_submissions = Vec::new();
    let mut ledger = Ledger::default();
    println!("prepared {PREPARED} submissions in {:?}", started.elapsed());

    // In the middle of the upload wave, early (before anything is acknowledged), and late.
    let kills = [
        KillAt::Acks {
            issued: 0,
            uploaded: DRAFTS_PER_ROUND,
        },
        KillAt::After(Duration::from_millis(300)),
        KillAt::Acks {
            issued: MIN_POOL * 3 / 4,
            uploaded: 0,
        },
    ];
    for (round, kill) in kills.into_iter().enumerate() {
        if pool.len() < MIN_POOL {
            let more = prepare(&app, &staff, &scjg, MIN_POOL - pool.len()).await;
            issuance_submissions.extend(more.iter().cloned());
            pool.extend(more);
        }
        let drafts = drafts(&app, &staff, DRAFTS_PER_ROUND).await;
        draft_submissions.extend(drafts.iter().cloned());
        let jobs = jobs(round, &pool, &drafts);
        let sent = jobs.len();
        let fired = fire(&mut app, &staff.clerk, jobs, kill, ALL_AT_ONCE).await;
        let label = format!(
            "round {} ({sent} concurrent requests, kill at {kill:?})",
            round + 1
        );
        assert!(
            fired.refused.is_empty(),
            "{label}: the server refused requests it should have served:\n{}",
            fired.refused.join("\n")
        );
        assert!(
            fired.in_flight_at_kill > 0,
            "{label}: every request had finished before the kill; the round proves nothing"
        );
        ledger.issued.extend(fired.issued.iter().cloned());
        ledger.uploaded.extend(fired.uploaded.iter().cloned());

        app.restart_stopped();
        let health = app
            .client
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            health.status(),
            200,
            "{label}: the restarted server is unhealthy"
        );
        let mut auditor = Auditor {
            app: &app,
            clerk: &staff.clerk,
            problems: Vec::new(),
        };
        auditor.acknowledged_certificates(&ledger.issued).await;
        let census = auditor
            .issuance_submissions(&issuance_submissions, &ledger.issued)
            .await;
        auditor.drafts(&draft_submissions, &ledger.uploaded).await;
        println!("{}", summary(&label, &fired, &census));
        assert_no_problems(&label, &auditor.problems);
        pool = census.accepted;
    }
    println!("three rounds in {:?}", started.elapsed());
}

async fn jwks(app: &TestApp) -> Value {
    app.client
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn active_kid(app: &TestApp) -> String {
    helpers::active_key(&jwks(app).await)["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_during_key_rotation_leaves_one_active_key_and_valid_certificates() {
    let mut app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let pool = prepare(&app, &staff, &scjg, 60).await;
    let first_kid = active_kid(&app).await;
    let jobs = jobs(0, &pool, &[]);
    // A steady stream of issuances, so that signatures are made all through the rotations.
    let burst = Burst {
        workers: Some(8),
        rotate: true,
    };
    let kill = KillAt::Acks {
        issued: 40,
        uploaded: 0,
    };
    let fired = fire(&mut app, &staff.clerk, jobs, kill, burst).await;
    let label = "rotation round (60 issuances by 8 workers, rotating in a loop)";
    assert!(fired.refused.is_empty(), "{label}: {:?}", fired.refused);
    assert!(
        fired.in_flight_at_kill > 0,
        "{label}: nothing was in flight"
    );
    assert!(
        !fired.rotations.is_empty(),
        "{label}: no rotation was acknowledged"
    );

    app.restart_stopped();
    let jwks = jwks(&app).await;
    let keys = jwks["keys"].as_array().unwrap();
    let active: Vec<&Value> = keys.iter().filter(|k| k["status"] == "active").collect();
    assert_eq!(
        active.len(),
        1,
        "{label}: active keys after restart: {jwks}"
    );
    let published: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
    for kid in &fired.rotations {
        assert!(
            published.contains(&kid.as_str()),
            "{label}: acknowledged rotation to {kid} is not in the JWKS {jwks}"
        );
    }
    // The active key is the last acknowledged one, or one from a later rotation that landed
    // but whose answer the kill cut off; never an older one.
    let active_kid = active[0]["kid"].as_str().unwrap();
    let last = fired.rotations.last().unwrap();
    assert!(
        active_kid == last
            || !(fired.rotations.iter().any(|k| k == active_kid) || active_kid == first_kid),
        "{label}: the active key {active_kid} is older than the last acknowledged rotation {last}"
    );

    let mut auditor = Auditor {
        app: &app,
        clerk: &staff.clerk,
        problems: Vec::new(),
    };
    auditor.acknowledged_certificates(&fired.issued).await;
    let census = auditor.issuance_submissions(&pool, &fired.issued).await;
    println!("{}", summary(label, &fired, &census));
    assert_no_problems(label, &auditor.problems);
}
