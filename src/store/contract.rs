//! The contract every implementation of [`Store`] keeps, as tests: each engine's module runs
//! [`contract_suite!`] with a function that opens a fresh, empty store of its own.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Datelike, SubsecRound, Utc};

use super::{Conflict, Store, StoreError, Unique};
use crate::domain::batch::{BatchRecord, Lease, LineResult, NumberedLine, NumberedResult};
use crate::domain::calendar::china_date;
use crate::domain::certificate::{CertStatus, Certificate, RevocationReason, sample_licence};
use crate::domain::holder::Holder;
use crate::domain::identifier::Identifier;
use crate::domain::plan::{
    CertificateWrite, Issuance, IssuanceBasis, KeyRingWrite, Provenance, SubmissionWrite,
};
use crate::domain::session::{ConsoleSession, SessionOpening};
use crate::domain::signing_key::{KeyRecord, KeyStatus, SealedKey};
use crate::domain::submission::tests::issuable;
use crate::domain::submission::{Action, Status, Submission};
use crate::domain::{Refusal, Sha256Digest, SubmissionId, VerificationCode};

/// Generates one `#[tokio::test]` per clause of the contract for the engine that `$open`
/// (an expression giving `(Arc<dyn Store>, guard)`, the guard kept alive for the test) opens.
macro_rules! contract_suite {
    ($open:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_units_of_work() {
            let (store, _guard) = $open;
            $crate::store::contract::units_of_work(&*store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_the_holder_search_and_the_due_listing_follow_every_write() {
            let (store, _guard) = $open;
            $crate::store::contract::holder_search_and_due_listing(&*store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_a_refused_issuance_stores_nothing() {
            let (store, _guard) = $open;
            $crate::store::contract::a_refused_issuance_stores_nothing(&*store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_concurrent_issuances_of_one_submission_give_one_certificate() {
            let (store, _guard) = $open;
            $crate::store::contract::one_certificate_per_submission(store, 50).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_concurrent_issuances_get_unique_numbers() {
            let (store, _guard) = $open;
            $crate::store::contract::unique_numbers(store, 1000).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_concurrent_first_licences_of_one_holder_give_one_in_force() {
            let (store, _guard) = $open;
            $crate::store::contract::one_licence_per_holder(store, 20).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_concurrent_migrations_of_one_former_number_give_one_certificate() {
            let (store, _guard) = $open;
            $crate::store::contract::one_migration_per_former_number(store, 20).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_concurrent_rotations_of_one_ring_leave_one_active_key() {
            let (store, _guard) = $open;
            $crate::store::contract::one_rotation_per_ring(store, 20).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_sealed_keys_come_with_their_record_and_are_replaced_once() {
            let (store, _guard) = $open;
            $crate::store::contract::sealed_keys(store, 20).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_console_sessions_open_close_and_end_for_every_writer() {
            let (store, _guard) = $open;
            $crate::store::contract::console_sessions(store, 20).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_batches_keep_one_result_per_line_and_one_lease_holder() {
            let (store, _guard) = $open;
            $crate::store::contract::batches(store, 20).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn contract_the_status_index_follows_every_change() {
            let (store, _guard) = $open;
            $crate::store::contract::status_index_in_step(&*store).await;
        }
    };
}
pub(crate) use contract_suite;

const ROOT: &str = "1.2.156.3005.2";
const TYPE_CODE: &str = "11100000000013338W011";
const AUTHORITY: &str = "11430000006122244L";

/// A licence of `kind` numbered `sequence` this year, for `submission`, with a code of its
/// own and a PDF digest that is its identifier's.
fn licence(submission: &Submission, kind: &str, sequence: u64) -> Certificate {
    let today = china_date(Utc::now());
    let mut licence = sample_licence(today, today + chrono::Duration::days(5 * 365));
    licence.submission = submission.id.clone();
    licence.content.kind = kind.to_owned();
    licence.content.id =
        Identifier::new(ROOT, TYPE_CODE, AUTHORITY, today.year(), sequence, 1).unwrap();
    licence.content.code = Some(VerificationCode::generate());
    licence.pdf_sha256 = Sha256Digest::of(licence.content.id.as_str().as_bytes());
    licence
}

/// A new submission, ready to issue, stored.
async fn filed(store: &dyn Store) -> Submission {
    let write = SubmissionWrite::create(issuable(), "reviewer:t");
    store.save_submission(&write).await.unwrap();
    write.submission
}

/// Plans `certificate` on what the store holds now and stores it, once: what the domain
/// refused (the outer error) or what the store answered.
async fn try_issue(
    store: &dyn Store,
    certificate: &Certificate,
) -> Result<Result<Issuance, StoreError>, Refusal> {
    let content = &certificate.content;
    let previous = match &content.supersedes {
        Some(id) => store.certificate(id).await.unwrap(),
        None => None,
    };
    let previous_submission = match &previous {
        Some(p) if p.submission != certificate.submission => {
            store.submission(&p.submission).await.unwrap()
        }
        _ => None,
    };
    let basis = IssuanceBasis {
        submission: store.submission(&certificate.submission).await.unwrap(),
        current: store
            .current_certificate(&content.kind, content.holder.id())
            .await
            .unwrap(),
        previous,
        previous_submission,
    };
    let plan = Issuance::plan(
        certificate.clone(),
        Provenance::Submission,
        basis,
        "clerk:t",
    )?;
    let pdf = certificate.pdf_sha256.as_str().as_bytes();
    Ok(store.store_issued(&plan, pdf, None).await.map(|()| plan))
}

/// [`try_issue`] of a certificate the domain allows.
async fn issue(store: &dyn Store, certificate: &Certificate) -> Result<Issuance, StoreError> {
    try_issue(store, certificate)
        .await
        .expect("the domain allows it")
}

/// A submission is created once, changes only from the version it was read at, and its
/// events come back in order.
pub(crate) async fn units_of_work(store: &dyn Store) {
    let submission = filed(store).await;
    let read = store.submission(&submission.id).await.unwrap().unwrap();
    assert_eq!(read, submission);
    let again = store
        .save_submission(&SubmissionWrite::create(submission.clone(), "x"))
        .await;
    assert!(matches!(
        again,
        Err(StoreError::Conflict(Conflict::Taken {
            constraint: Unique::SubmissionId,
            ..
        }))
    ));

    let mut first = read.clone();
    let action = first
        .mark_issued("c".into(), Sha256Digest::of(b"p"), Sha256Digest::of(b"c"))
        .unwrap();
    let first = SubmissionWrite::change(first, action, "applicant:t", Utc::now());
    store.save_submission(&first).await.unwrap();
    // A second change decided on the same read is stale: refused, nothing of it stored.
    let mut second = read.clone();
    second.fields.insert("address".into(), "stale".into());
    let second = SubmissionWrite::change(second, Action::Created, "applicant:t", Utc::now());
    let stale = store.save_submission(&second).await;
    assert!(matches!(
        stale,
        Err(StoreError::Conflict(Conflict::Changed(_)))
    ));
    let stored = store.submission(&submission.id).await.unwrap().unwrap();
    assert_eq!(stored, first.submission);
    let events = store.events(&submission.id).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [0, 1]);
    assert!(matches!(events[0].action, Action::Created));
    assert_eq!(events[1], first.events[0]);
}

/// The holder search finds a holder's submissions and no other's, newest first; the due
/// listing holds the submissions whose promise runs, and loses one when its submission is
/// issued, in the write that issues it.
pub(crate) async fn holder_search_and_due_listing(store: &dyn Store) {
    let due = china_date(Utc::now()) + chrono::Duration::days(20);
    let save = async |mut submission: Submission, promised: bool, holder: Option<Holder>| {
        submission.due_date = promised.then_some(due);
        if let Some(holder) = holder {
            submission.holder = holder;
        }
        let write = SubmissionWrite::create(submission, "reviewer:t");
        store.save_submission(&write).await.unwrap();
        write.submission
    };
    let promised = save(issuable(), true, None).await;
    let unpromised = save(issuable(), false, None).await;
    let other = Holder::parse("enterprise", "91110108558521630L", "另一家公司").unwrap();
    let elsewhere = save(issuable(), true, Some(other)).await;
    let ids =
        |found: Vec<Submission>| -> Vec<SubmissionId> { found.into_iter().map(|s| s.id).collect() };
    let running: HashSet<SubmissionId> = ids(store.submissions_with_promise().await.unwrap())
        .into_iter()
        .collect();
    assert_eq!(
        running,
        HashSet::from([promised.id.clone(), elsewhere.id.clone()])
    );
    let holder = promised.holder.id().to_owned();
    assert_eq!(
        ids(store.submissions_by_holder(&holder).await.unwrap()),
        [unpromised.id.clone(), promised.id.clone()],
        "newest first, and no other holder's"
    );

    issue(store, &licence(&promised, "kind-a", 1))
        .await
        .unwrap();
    assert_eq!(
        ids(store.submissions_with_promise().await.unwrap()),
        std::slice::from_ref(&elsewhere.id)
    );
    assert_eq!(store.submissions_by_holder(&holder).await.unwrap().len(), 2);
    assert_eq!(
        ids(store
            .submissions_by_holder(elsewhere.holder.id())
            .await
            .unwrap()),
        [elsewhere.id]
    );

    // The review queues hold the submitted and pre-approved, oldest first, and lose one in
    // the write that moves it on.
    let mut submitted = issuable();
    submitted.status = Status::Submitted;
    let submitted = save(submitted, false, None).await;
    let mut pre_approved = issuable();
    pre_approved.status = Status::PreApproved;
    pre_approved.created_at = submitted.created_at + chrono::Duration::seconds(1);
    let pre_approved = save(pre_approved, false, None).await;
    assert_eq!(
        ids(store.submissions_in_review().await.unwrap()),
        [submitted.id.clone(), pre_approved.id.clone()]
    );
    let mut accepted = pre_approved.clone();
    accepted.status = Status::Accepted;
    let change = SubmissionWrite::change(
        accepted,
        Action::PreApproved { manifest: vec![] },
        "clerk:t",
        Utc::now(),
    );
    store.save_submission(&change).await.unwrap();
    assert_eq!(
        ids(store.submissions_in_review().await.unwrap()),
        [submitted.id]
    );
}

/// A unique value taken refuses the whole issuance: its submission, certificate, PDF, code
/// and line stay as they were.
pub(crate) async fn a_refused_issuance_stores_nothing(store: &dyn Store) {
    let first = licence(&filed(store).await, "kind-a", 1);
    issue(store, &first).await.unwrap();

    let submission = filed(store).await;
    let mut same_code = licence(&submission, "kind-b", 2);
    same_code.content.code = first.content.code.clone();
    let refused = issue(store, &same_code).await;
    assert!(matches!(
        refused,
        Err(StoreError::Conflict(Conflict::Taken {
            constraint: Unique::VerificationCode,
            ..
        }))
    ));
    let mut same_id = licence(&submission, "kind-b", 1);
    same_id.pdf_sha256 = Sha256Digest::of(b"another pdf");
    let refused = issue(store, &same_id).await;
    assert!(matches!(
        refused,
        Err(StoreError::Conflict(Conflict::Taken {
            constraint: Unique::CertificateId,
            ..
        }))
    ));

    assert_eq!(
        store.submission(&submission.id).await.unwrap(),
        Some(submission.clone())
    );
    assert_eq!(store.events(&submission.id).await.unwrap().len(), 1);
    let id = &same_code.content.id;
    assert_eq!(store.certificate(id).await.unwrap(), None);
    assert_eq!(store.certificate_pdf(id).await.unwrap(), None);
    let holder = submission.holder.id();
    assert_eq!(
        store.current_certificate("kind-b", holder).await.unwrap(),
        None
    );
    let code = first.content.code.as_ref().unwrap();
    assert_eq!(
        store.certificate_id_by_code(code).await.unwrap(),
        Some(first.content.id.clone())
    );
}

/// `tasks` issuances of one submission at once, each planned on what it read: one
/// certificate, the others refused as having lost the race.
pub(crate) async fn one_certificate_per_submission(store: Arc<dyn Store>, tasks: u64) {
    let submission = filed(&*store).await;
    let mut running = tokio::task::JoinSet::new();
    for sequence in 1..=tasks {
        let store = store.clone();
        let certificate = licence(&submission, "kind-a", sequence);
        running.spawn(async move { try_issue(&*store, &certificate).await });
    }
    let mut issued = Vec::new();
    while let Some(result) = running.join_next().await {
        match result.unwrap() {
            Ok(Ok(plan)) => issued.push(plan.certificate.content.id),
            // Lost the race in the store, or read after the winner and refused by the domain.
            Ok(Err(StoreError::Conflict(Conflict::Changed(_)))) => {}
            Err(Refusal::Conflict {
                code: "licence_in_force",
                ..
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(issued.len(), 1, "{issued:?}");
    let stored = store.submission(&submission.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Issued);
    assert_eq!(stored.certificate.as_deref(), Some(issued[0].as_str()));
    assert_eq!(store.events(&submission.id).await.unwrap().len(), 2);
    for sequence in 1..=tasks {
        let id = licence(&submission, "kind-a", sequence).content.id;
        let found = store.certificate(&id).await.unwrap();
        assert_eq!(found.is_some(), id == issued[0], "{id}");
    }
}

/// `tasks` first licences of one kind for one holder, each from a submission of its own, at
/// once: one is in force (一企一证); the others lost the race in the store or, planned after
/// the winner, were refused by the domain.
pub(crate) async fn one_licence_per_holder(store: Arc<dyn Store>, tasks: u64) {
    let mut running = tokio::task::JoinSet::new();
    for sequence in 1..=tasks {
        let store = store.clone();
        running.spawn(async move {
            let submission = filed(&*store).await;
            let certificate = licence(&submission, "kind-a", sequence);
            (certificate.clone(), try_issue(&*store, &certificate).await)
        });
    }
    let mut issued = Vec::new();
    let mut refused = Vec::new();
    while let Some(result) = running.join_next().await {
        match result.unwrap() {
            (certificate, Ok(Ok(_))) => issued.push(certificate),
            (certificate, Ok(Err(StoreError::Conflict(Conflict::Changed(_)))))
            | (
                certificate,
                Err(Refusal::Conflict {
                    code: "licence_in_force",
                    ..
                }),
            ) => refused.push(certificate),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(issued.len(), 1, "{issued:?}");
    let winner = &issued[0];
    let holder = winner.content.holder.id();
    let current = store.current_certificate("kind-a", holder).await.unwrap();
    assert_eq!(current.as_ref(), Some(winner));
    for lost in &refused {
        assert_eq!(store.certificate(&lost.content.id).await.unwrap(), None);
        let submission = store.submission(&lost.submission).await.unwrap().unwrap();
        assert_eq!(submission.status, Status::Accepted, "{}", lost.submission);
        assert_eq!(submission.certificate, None);
    }
}

/// `tasks` licences of as many holders' lines, all carrying one former paper number, at
/// once: the number is migrated once, into the one certificate stored.
pub(crate) async fn one_migration_per_former_number(store: Arc<dyn Store>, tasks: u64) {
    let mut running = tokio::task::JoinSet::new();
    for sequence in 1..=tasks {
        let store = store.clone();
        running.spawn(async move {
            let submission = filed(&*store).await;
            let mut certificate = licence(&submission, &format!("kind-{sequence}"), sequence);
            certificate
                .content
                .add_former_number("浙杭食经字〔2019〕第0001号".into());
            (certificate.clone(), issue(&*store, &certificate).await)
        });
    }
    let mut issued = Vec::new();
    while let Some(result) = running.join_next().await {
        match result.unwrap() {
            (certificate, Ok(_)) => issued.push(certificate),
            (
                certificate,
                Err(StoreError::Conflict(Conflict::Taken {
                    constraint: Unique::FormerNumber,
                    ..
                })),
            ) => {
                assert_eq!(
                    store.certificate(&certificate.content.id).await.unwrap(),
                    None
                );
            }
            (_, Err(other)) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(
        store
            .certificate_id_by_former_number("浙杭食经字〔2019〕第0001号")
            .await
            .unwrap(),
        Some(issued[0].content.id.clone())
    );
}

/// `tasks` issuances of as many submissions at once: every one stored, sequence numbers
/// handed out once each, and every certificate found by its code and its PDF's digest.
/// A key record made now, active, with a public key of its own (a random 32 bytes stands
/// for it: the store keeps records, it does not read keys).
fn key_record(now: chrono::DateTime<Utc>) -> KeyRecord {
    let x = Sha256Digest::of(&rand_core::RngCore::next_u64(&mut rand_core::OsRng).to_le_bytes());
    KeyRecord {
        kid: x.to_string()[..16].to_owned(),
        thumbprint: x.to_string(),
        x: x.to_string(),
        status: KeyStatus::Active,
        created_at: now,
        activated_at: Some(now),
        retired_at: None,
        compromised_since: None,
    }
}

/// A first key, then `tasks` rotations decided at once on that same ring (nodes rotating at
/// the same moment): one is written, the rest are refused as decided on a changed ring and
/// write nothing, and the ring keeps exactly one active key. A first key stored twice is
/// refused the same way.
pub(crate) async fn one_rotation_per_ring(store: Arc<dyn Store>, tasks: usize) {
    let first = key_record(Utc::now());
    let written = [first.clone()];
    let change = KeyRingWrite {
        read: &[],
        written: &written,
        sealed: None,
    };
    store.put_key_records(&change).await.unwrap();
    let again = [key_record(Utc::now())];
    let second_first = KeyRingWrite {
        read: &[],
        written: &again,
        sealed: None,
    };
    assert!(matches!(
        store.put_key_records(&second_first).await,
        Err(StoreError::Conflict(Conflict::Changed(_)))
    ));
    let read = store.key_records().await.unwrap();
    assert_eq!(read, vec![first.clone()]);

    let mut running = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (store, read) = (store.clone(), read.clone());
        running.spawn(async move {
            let now = Utc::now();
            let mut retired = read[0].clone();
            retired.status = KeyStatus::Retired;
            retired.retired_at = Some(now);
            let written = vec![key_record(now), retired];
            let change = KeyRingWrite {
                read: &read,
                written: &written,
                sealed: None,
            };
            (written[0].clone(), store.put_key_records(&change).await)
        });
    }
    let mut rotated = Vec::new();
    while let Some(done) = running.join_next().await {
        match done.unwrap() {
            (record, Ok(())) => rotated.push(record),
            (_, Err(StoreError::Conflict(Conflict::Changed(_)))) => {}
            (_, Err(other)) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    let ring = store.key_records().await.unwrap();
    assert_eq!(
        ring.len(),
        2,
        "the refused rotations wrote nothing: {ring:?}"
    );
    let active: Vec<&KeyRecord> = ring
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .collect();
    assert_eq!(active, vec![&rotated[0]]);
}

/// A key's sealed private half as a store sees it: bytes it cannot read.
fn sealed_half(record: &KeyRecord, kek: &str, fill: u8) -> SealedKey {
    SealedKey {
        thumbprint: record.thumbprint.clone(),
        kek_id: kek.to_owned(),
        nonce: vec![fill; 24],
        ciphertext: vec![fill; 48],
        sealed_at: Utc::now().trunc_subsecs(6),
    }
}

/// A sealed private half is written with its key's record, or not at all when the ring
/// changed meanwhile; it is replaced only while it is as read, so that of `tasks` reseals
/// decided on one reading exactly one is written.
pub(crate) async fn sealed_keys(store: Arc<dyn Store>, tasks: usize) {
    let first = key_record(Utc::now());
    let sealed = sealed_half(&first, "0000000000000001", 1);
    let written = [first.clone()];
    store
        .put_key_records(&KeyRingWrite {
            read: &[],
            written: &written,
            sealed: Some(&sealed),
        })
        .await
        .unwrap();
    assert_eq!(store.sealed_keys().await.unwrap(), vec![sealed.clone()]);

    let late = key_record(Utc::now());
    let late_sealed = sealed_half(&late, "0000000000000001", 2);
    let stale = [late];
    assert!(matches!(
        store
            .put_key_records(&KeyRingWrite {
                read: &[],
                written: &stale,
                sealed: Some(&late_sealed),
            })
            .await,
        Err(StoreError::Conflict(Conflict::Changed(_)))
    ));
    assert_eq!(
        store.sealed_keys().await.unwrap(),
        vec![sealed.clone()],
        "a refused change writes no sealed key"
    );
    assert!(matches!(
        store
            .replace_sealed_key(None, &sealed_half(&first, "0000000000000002", 3))
            .await,
        Err(StoreError::Conflict(Conflict::Changed(_)))
    ));

    let mut running = tokio::task::JoinSet::new();
    for n in 0..tasks {
        let (store, read, first) = (store.clone(), sealed.clone(), first.clone());
        running.spawn(async move {
            let again = sealed_half(&first, "0000000000000002", 10 + n as u8);
            let outcome = store.replace_sealed_key(Some(&read), &again).await;
            (again, outcome)
        });
    }
    let mut replaced = Vec::new();
    while let Some(done) = running.join_next().await {
        match done.unwrap() {
            (again, Ok(())) => replaced.push(again),
            (_, Err(StoreError::Conflict(Conflict::Changed(_)))) => {}
            (_, Err(other)) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(replaced.len(), 1);
    assert_eq!(store.sealed_keys().await.unwrap(), replaced);
}

/// Sessions of one token: one opened is found by its id and under its token; `tasks`
/// openings decided at once on the same sessions store one (the cap holds for every writer);
/// closing removes it; ended sessions are removed and live ones kept.
pub(crate) async fn console_sessions(store: Arc<dyn Store>, tasks: usize) {
    let token = Sha256Digest::of(b"a clerk's token");
    let now = Utc::now();
    let session = |n: usize, at| {
        ConsoleSession::new(&format!("secret {n}"), token.clone(), "csrf".into(), at)
    };
    let first = session(0, now);
    store
        .open_session(&SessionOpening::decide(first.clone(), &[]))
        .await
        .unwrap();
    assert_eq!(store.session(&first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(
        store.sessions_of_token(&token).await.unwrap(),
        vec![first.clone()]
    );
    assert!(matches!(
        store
            .open_session(&SessionOpening::decide(session(1, now), &[]))
            .await,
        Err(StoreError::Conflict(Conflict::Changed(_)))
    ));

    let mut running = tokio::task::JoinSet::new();
    for n in 0..tasks {
        let (store, opening) = (
            store.clone(),
            SessionOpening::decide(session(100 + n, now), std::slice::from_ref(&first)),
        );
        running.spawn(async move { store.open_session(&opening).await });
    }
    let mut opened = 0;
    while let Some(done) = running.join_next().await {
        match done.unwrap() {
            Ok(()) => opened += 1,
            Err(StoreError::Conflict(Conflict::Changed(_))) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(opened, 1);
    assert_eq!(store.sessions_of_token(&token).await.unwrap().len(), 2);

    store.close_session(&first.id).await.unwrap();
    store.close_session(&first.id).await.unwrap();
    assert_eq!(store.session(&first.id).await.unwrap(), None);
    let left = store.sessions_of_token(&token).await.unwrap();
    assert_eq!(left.len(), 1);

    let ended = session(7, now - chrono::Duration::hours(9));
    store
        .open_session(&SessionOpening {
            session: ended.clone(),
            read: left.iter().map(|s| s.id.clone()).collect(),
            closed: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(store.remove_expired_sessions(now).await.unwrap(), 1);
    assert_eq!(store.session(&ended.id).await.unwrap(), None);
    assert_eq!(store.sessions_of_token(&token).await.unwrap(), left);
}

/// A batch stored with its lines; `tasks` writers storing a result for one line at once
/// store one and count it once; the lease changes only from the lease as read (one node
/// takes an abandoned batch over); finishing needs the lease; finished batches beyond those
/// kept go with their lines and results.
pub(crate) async fn batches(store: Arc<dyn Store>, tasks: usize) {
    let now = Utc::now();
    let lease = |node: &str| Lease {
        node: node.into(),
        until: now + chrono::Duration::seconds(15),
    };
    let batch = BatchRecord {
        id: "B0000000000000001".into(),
        started_by: crate::domain::actor::Actor::operator(),
        started_at: now,
        finished_at: None,
        total: 3,
        issued: 0,
        already_issued: 0,
        failed: 0,
        lease: lease("a"),
    };
    let lines: Vec<NumberedLine> = (1..=3)
        .map(|n| NumberedLine::new(n, &format!("{{\"submission\": \"S{n}\"}}")))
        .collect();
    store.insert_batch(&batch, &lines).await.unwrap();
    assert!(matches!(
        store.insert_batch(&batch, &lines).await,
        Err(StoreError::Conflict(Conflict::Taken {
            constraint: Unique::BatchId,
            ..
        }))
    ));
    assert_eq!(store.batch(&batch.id).await.unwrap(), Some(batch.clone()));
    assert_eq!(store.batch_lines(&batch.id).await.unwrap(), lines);
    assert_eq!(store.latest_batches(5).await.unwrap(), vec![batch.clone()]);

    let mut running = tokio::task::JoinSet::new();
    for n in 0..tasks {
        let store = store.clone();
        let result = NumberedResult {
            line: 2,
            result: LineResult::Issued {
                identifier: format!("writer {n}"),
                code: "C".into(),
            },
        };
        running.spawn(async move {
            store
                .record_batch_result("B0000000000000001", &result)
                .await
        });
    }
    let mut stored = 0;
    while let Some(done) = running.join_next().await {
        stored += usize::from(done.unwrap().unwrap());
    }
    assert_eq!(stored, 1, "one result per line");
    let failed = NumberedResult {
        line: 1,
        result: LineResult::failed("x", "no", None),
    };
    assert!(store.record_batch_result(&batch.id, &failed).await.unwrap());
    let results = store.batch_results(&batch.id).await.unwrap();
    assert_eq!(results.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(results[0], failed);
    let counted = store.batch(&batch.id).await.unwrap().unwrap();
    assert_eq!((counted.issued, counted.failed, counted.done()), (1, 1, 2));
    // Results of different lines at once: each stored and counted.
    let mut running = tokio::task::JoinSet::new();
    for line in 100..100 + tasks {
        let store = store.clone();
        let result = NumberedResult {
            line,
            result: LineResult::AlreadyIssued {
                identifier: format!("line {line}"),
            },
        };
        running.spawn(async move {
            store
                .record_batch_result("B0000000000000001", &result)
                .await
        });
    }
    while let Some(done) = running.join_next().await {
        assert!(done.unwrap().unwrap());
    }
    let counted = store.batch(&batch.id).await.unwrap().unwrap();
    assert_eq!(counted.already_issued, tasks);
    assert_eq!(
        store.batch_results(&batch.id).await.unwrap().len(),
        2 + tasks
    );

    let mut takers = tokio::task::JoinSet::new();
    for n in 0..tasks {
        let (store, read, taken) = (store.clone(), lease("a"), lease(&format!("b{n}")));
        takers.spawn(async move {
            store
                .renew_batch_lease("B0000000000000001", &read, &taken)
                .await
                .map(|()| taken)
        });
    }
    let mut holders = Vec::new();
    while let Some(done) = takers.join_next().await {
        match done.unwrap() {
            Ok(taken) => holders.push(taken),
            Err(StoreError::Conflict(Conflict::Changed(_))) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(holders.len(), 1, "one node takes the batch over");
    let holder = holders.remove(0);
    assert_eq!(store.batch(&batch.id).await.unwrap().unwrap().lease, holder);
    assert!(matches!(
        store.finish_batch(&batch.id, &lease("a"), now).await,
        Err(StoreError::Conflict(Conflict::Changed(_)))
    ));
    store.finish_batch(&batch.id, &holder, now).await.unwrap();
    assert_eq!(
        store.remove_old_batches(1).await.unwrap(),
        0,
        "the latest is kept"
    );
    assert_eq!(store.remove_old_batches(0).await.unwrap(), 1);
    assert_eq!(store.batch(&batch.id).await.unwrap(), None);
    assert_eq!(store.batch_lines(&batch.id).await.unwrap(), vec![]);
    assert_eq!(store.batch_results(&batch.id).await.unwrap(), vec![]);
}

pub(crate) async fn unique_numbers(store: Arc<dyn Store>, tasks: usize) {
    let year = china_date(Utc::now()).year();
    let mut running = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let store = store.clone();
        running.spawn(async move {
            let submission = filed(&*store).await;
            let sequence = store.next_sequence(year).await.unwrap();
            let certificate = licence(&submission, &format!("kind-{task}"), sequence);
            issue(&*store, &certificate).await.unwrap();
            (sequence, certificate)
        });
    }
    let mut sequences = HashSet::new();
    let mut issued = Vec::new();
    while let Some(result) = running.join_next().await {
        let (sequence, certificate) = result.unwrap();
        assert!(
            sequences.insert(sequence),
            "sequence {sequence} handed out twice"
        );
        issued.push(certificate);
    }
    assert_eq!(sequences.len(), tasks);
    for certificate in &issued {
        let id = Some(certificate.content.id.clone());
        let code = certificate.content.code.as_ref().unwrap();
        assert_eq!(store.certificate_id_by_code(code).await.unwrap(), id);
        let by_pdf = store
            .certificate_id_by_pdf(&certificate.pdf_sha256)
            .await
            .unwrap();
        assert_eq!(by_pdf, id);
    }
    assert!(store.next_sequence(year).await.unwrap() > tasks as u64);
}

/// The status index lists every certificate that is not plainly valid, through a
/// revocation and a supersession; a change decided on a stale read is refused.
pub(crate) async fn status_index_in_step(store: &dyn Store) {
    let submission = filed(store).await;
    let first = licence(&submission, "kind-a", 1);
    issue(store, &first).await.unwrap();
    assert!(store.listed_statuses().await.unwrap().is_empty());

    let amendment = filed(store).await;
    let mut next = licence(&amendment, "kind-a", 1);
    next.content.id = first.content.id.next_version().unwrap();
    next.content.supersedes = Some(first.content.id.clone());
    next.pdf_sha256 = Sha256Digest::of(next.content.id.as_str().as_bytes());
    let plan = issue(store, &next).await.unwrap();
    assert!(plan.superseded.is_some());
    let listed = store.listed_statuses().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, first.content.id);
    assert!(matches!(listed[0].1, CertStatus::Superseded { .. }));
    let current = store
        .current_certificate("kind-a", submission.holder.id())
        .await;
    assert_eq!(
        current.unwrap().map(|c| c.content.id),
        Some(next.content.id.clone())
    );

    let before = store.certificate(&next.content.id).await.unwrap().unwrap();
    let mut after = before.clone();
    let action = after
        .revoke(
            RevocationReason::IssuedInError,
            "错误颁发".into(),
            Utc::now(),
        )
        .unwrap();
    let history = SubmissionWrite::change(
        store.submission(&amendment.id).await.unwrap().unwrap(),
        action.clone(),
        "admin:t",
        Utc::now(),
    );
    let write = CertificateWrite {
        before: before.clone(),
        after,
    };
    store
        .save_certificate(&write, Some(&history))
        .await
        .unwrap();
    let listed = store.listed_statuses().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|(id, status)| *id == next.content.id
                && matches!(status, CertStatus::Revoked { .. }))
    );

    // The same change decided on the certificate as it was before: refused.
    let stale = store.save_certificate(&write, None).await;
    assert!(matches!(
        stale,
        Err(StoreError::Conflict(Conflict::Changed(_)))
    ));
    let events = store.events(&amendment.id).await.unwrap();
    assert_eq!(events.last().map(|e| &e.action), Some(&action));
}
