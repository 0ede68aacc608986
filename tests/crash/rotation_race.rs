//! Regression test for a race the rotation crash round found: a certificate issued while the
//! signing key rotated could be signed by the new key with an `iat` read before that key's
//! `activated_at`, so the service acknowledged it with 201 and later verified it as
//! `not_issued`. `issuance::issue` now takes the key and the issuance time together under the
//! ring's read lock. The race needed the gap to straddle a second boundary, so before the fix
//! this failed in about half of the runs; it reports the certificate, its `issued_at` and the
//! signing key's `activated_at`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Staff, TestApp};
use crate::prepare;

/// Issuable submissions made up front; more than the run can use.
const POOL: usize = 300;
/// How long certificates are issued while keys rotate.
const SECS: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_issued_during_rotation_verifies() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let pool = prepare(&app, &staff, &scjg, POOL).await;

    let stop = Arc::new(AtomicBool::new(false));
    let rotator = {
        let (client, url, admin, stop) = (
            app.client.clone(),
            app.url.clone(),
            app.admin.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let r = client
                    .post(format!("{url}/api/v1/keys/rotate"))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        })
    };
    // Eight clerks issue one after another while keys rotate. Each second boundary gives the
    // race one chance; about one in four boundaries loses it on a 2-core machine.
    let deadline = Instant::now() + Duration::from_secs(SECS);
    let queue = std::sync::Mutex::new(pool.iter());
    let (app_ref, clerk, queue) = (&app, &staff.clerk, &queue);
    let workers = (0..8).map(|_| async move {
        let mut issued = Vec::new();
        while Instant::now() < deadline {
            let Some(id) = queue.lock().unwrap().next() else {
                break;
            };
            let r = app_ref
                .post(clerk, &format!("/submissions/{id}/issue"), &json!({}))
                .await;
            assert_eq!(r.status(), 201);
            issued.push(r.json::<Value>().await.unwrap());
        }
        issued
    });
    let issued: Vec<Value> = join_all(workers).await.into_iter().flatten().collect();
    stop.store(true, Ordering::SeqCst);
    rotator.await.unwrap();

    let jwks: Value = app.jwks().await;
    let mut wrong = Vec::new();
    for cert in &issued {
        let verdict: Value = app
            .client
            .get(format!("{}/v/{}", app.url, cert["token"].as_str().unwrap()))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if verdict["verdict"] != "valid" {
            let key = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["kid"] == cert["kid"]);
            wrong.push(format!(
                "{}: verdict {}, issued_at {}, signed by {} (activated_at {}, retired_at {})",
                cert["id"],
                verdict["verdict"],
                cert["issued_at"],
                cert["kid"],
                key.map_or(Value::Null, |k| k["activated_at"].clone()),
                key.map_or(Value::Null, |k| k["retired_at"].clone()),
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} certificates acknowledged with 201 during rotations do not verify:\n{}",
        wrong.len(),
        issued.len(),
        wrong.join("\n")
    );
}
