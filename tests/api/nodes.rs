//! Several service nodes on one PostgreSQL database and one shared data directory, as a
//! province runs them behind a load balancer: any node serves any step of the work, nodes
//! agree on what they answer, and a node lost loses nothing it acknowledged. Real processes,
//! each on a loopback address of its own; they run in the PostgreSQL pass.

use std::collections::HashSet;

use onetrip::domain::identifier::Identifier;
use serde_json::{Value, json};

use crate::helpers::*;

fn skipped() -> bool {
    if !on_postgres() {
        eprintln!("runs in the PostgreSQL pass (STORE_UNDER_TEST=postgres)");
    }
    !on_postgres()
}

/// Filed on A, its materials uploaded on B, window-checked on C, decided on A, issued on B:
/// every node verifies the certificate by its link, its 核验码 and its PDF.
#[tokio::test]
async fn one_submission_moves_across_nodes_and_every_node_verifies_its_certificate() {
    if skipped() {
        return;
    }
    let cluster = Nodes::spawn(3).await;
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let staff = Staff::new(a).await;
    let scjg = b.token("approver", json!({"department": "SCJG"})).await;

    let id = a
        .create(&staff.clerk, &licence_submission(ENTERPRISE))
        .await;
    let mut digests = Vec::new();
    for (i, name) in ["营业执照副本", "产品检验报告"].into_iter().enumerate() {
        let r = b
            .upload(&staff.clerk, &id, name, format!("{id} {i}").into_bytes())
            .await;
        assert_eq!(r.status(), 200);
        let uploaded: Value = r.json().await.unwrap();
        digests.push(json!({"name": name, "sha256": uploaded["sha256"]}));
    }
    let shared = a.dir.path().join("shared/materials").join(&id);
    assert_eq!(
        std::fs::read_dir(&shared).map(|d| d.count()).unwrap_or(0),
        2,
        "the files uploaded through B are in the shared materials_dir"
    );
    submit_and_pre_approve(c, &staff, &id).await;
    let check = c
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/window-check"),
            &json!({"digests": digests}),
        )
        .await;
    assert_eq!(check.json::<Value>().await.unwrap()["outcome"], "matched");
    for item in ["wire-cable", "fertiliser"] {
        assert_eq!(decide(a, &scjg, &id, item, "approve").await.status(), 200);
    }
    let r = b
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let record: Value = r.json().await.unwrap();
    let pdf = certificate_pdf(c, &staff.clerk, &record).await;

    let token = record["token"].as_str().unwrap();
    let code = record["code"].as_str().unwrap();
    for node in &cluster.nodes {
        let (status, by_link) = node.public_json(&format!("/v/{token}")).await;
        assert_eq!((status, by_link["verdict"].as_str()), (200, Some("valid")));
        assert_eq!(by_link["certificate"]["id"], record["id"]);
        let (status, by_code) = node.public_json(&format!("/c/{code}")).await;
        assert_eq!((status, by_code["verdict"].as_str()), (200, Some("valid")));
        let by_pdf = node.verify_pdf(&pdf).await;
        assert_eq!(by_pdf["verdict"], "valid", "{by_pdf}");
        assert_eq!(by_pdf["certificate"]["id"], record["id"]);
        assert_eq!(
            certificate_pdf(node, &staff.clerk, &record).await,
            pdf,
            "every node serves the one stored PDF"
        );
    }
    let jwks: Vec<Value> = jwks_of_every_node(&cluster).await;
    assert!(jwks.windows(2).all(|w| w[0] == w[1]), "{jwks:?}");
}

async fn jwks_of_every_node(cluster: &Nodes) -> Vec<Value> {
    let mut sets = Vec::new();
    for node in &cluster.nodes {
        sets.push(node.jwks().await);
    }
    sets
}

/// 300 issuances at once, spread over three nodes: 300 certificates, no identifier, sequence
/// number or 核验码 twice, and no 5xx.
#[tokio::test]
async fn concurrent_issuances_spread_over_nodes_are_unique_and_never_fail() {
    if skipped() {
        return;
    }
    const ISSUANCES: usize = 300;
    // The test's clients share one address, which the nodes would otherwise hold to 64
    // requests in flight each.
    let limits = "[limits]\nmax_requests_per_address = 200";
    let cluster = Nodes::spawn_launched(3, limits, Launch::default()).await;
    let staff = Staff::new(&cluster.nodes[0]).await;
    let scjg = cluster.nodes[0]
        .token("approver", json!({"department": "SCJG"}))
        .await;
    let mut ids = Vec::new();
    for i in 0..ISSUANCES {
        let node = &cluster.nodes[i % 3];
        let id = accepted(node, &staff, &licence_submission(&enterprise(i as u32))).await;
        for item in ["wire-cable", "fertiliser"] {
            assert_eq!(
                decide(node, &scjg, &id, item, "approve").await.status(),
                200
            );
        }
        ids.push(id);
    }
    let mut running = tokio::task::JoinSet::new();
    for (i, id) in ids.into_iter().enumerate() {
        let node = &cluster.nodes[i % 3];
        let (client, url, clerk) = (node.client.clone(), node.api(""), staff.clerk.clone());
        running.spawn(async move {
            let r = client
                .post(format!("{url}/submissions/{id}/issue"))
                .bearer_auth(clerk)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        });
    }
    let (mut identifiers, mut sequences, mut codes) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    while let Some(done) = running.join_next().await {
        let (status, record) = done.unwrap();
        assert_eq!(status, 201, "{record}");
        assert!(identifiers.insert(record["id"].as_str().unwrap().to_owned()));
        let identifier = record["id"].as_str().unwrap();
        Identifier::parse(identifier).expect("valid check character");
        let segments: Vec<&str> = identifier.rsplitn(4, '.').collect();
        assert!(sequences.insert(segments[2][4..].parse::<usize>().unwrap()));
        assert!(codes.insert(record["code"].as_str().unwrap().to_owned()));
    }
    assert_eq!(identifiers.len(), ISSUANCES);
    assert_eq!(
        sequences,
        (1..=ISSUANCES).collect(),
        "none skipped, none twice"
    );
}

/// A node killed with SIGKILL while clients file through it: every filing it acknowledged
/// is there through another node.
#[tokio::test]
async fn a_node_killed_under_load_loses_nothing_it_acknowledged() {
    if skipped() {
        return;
    }
    let mut cluster = Nodes::spawn(2).await;
    let clerk = cluster.nodes[0].token("clerk", json!({})).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..6u32 {
        let (client, url, clerk, stop) = (
            cluster.nodes[0].client.clone(),
            cluster.nodes[0].api("/submissions"),
            clerk.clone(),
            stop.clone(),
        );
        workers.spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let body = licence_submission(&enterprise(w * 10_000 + n));
                let Ok(r) = client
                    .post(&url)
                    .bearer_auth(&clerk)
                    .json(&body)
                    .send()
                    .await
                else {
                    continue;
                };
                if r.status() == 201
                    && let Ok(filed) = r.json::<Value>().await
                {
                    acknowledged.push(filed["id"].as_str().unwrap().to_owned());
                }
            }
            acknowledged
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    cluster.nodes[0].kill();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    while let Some(done) = workers.join_next().await {
        acknowledged.extend(done.unwrap());
    }
    assert!(
        acknowledged.len() > 10,
        "the load got going: {acknowledged:?}"
    );
    let survivor = &cluster.nodes[1];
    for id in &acknowledged {
        let r = survivor.get(&clerk, &format!("/submissions/{id}")).await;
        assert_eq!(r.status(), 200, "{id} was acknowledged by the killed node");
    }
}

/// The claims of a compact JWS, unverified (the tests that verify it are in `trust.rs`).
fn claims(jws: &str) -> Value {
    use base64::Engine;
    let payload = jws.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn status_list(node: &TestApp) -> Value {
    let jws = node.public_page("/.well-known/status-list").await;
    claims(&jws)
}

fn active_kid(jwks: &Value) -> String {
    active_key(jwks)["kid"].as_str().unwrap().to_owned()
}

/// Polls `check` on `node` until it holds, for at most 30 s (a busy machine must not make
/// this flaky; the service's own bound is a second); answers how long it took.
async fn within_30s(
    node: &TestApp,
    what: &str,
    check: impl AsyncFn() -> bool,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{} never saw {what}",
            node.url
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    started.elapsed()
}

/// A key rotated on A: B and C publish it and sign with it, their JWK Sets are A's, and their
/// signed status lists say what A's says, including a certificate revoked on A after each
/// node had a list cached.
#[tokio::test]
async fn a_rotation_and_a_revocation_on_one_node_reach_every_node() {
    if skipped() {
        return;
    }
    let cluster = Nodes::spawn(3).await;
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let staff = Staff::new(a).await;
    let scjg = a.token("approver", json!({"department": "SCJG"})).await;
    let before = issued_licence_of(a, &staff, &scjg, &enterprise(1)).await;
    for node in &cluster.nodes {
        assert_eq!(status_list(node).await["certificates"], json!([]));
    }

    let r = a.post(&a.admin, "/keys/rotate", &json!({})).await;
    assert_eq!(r.status(), 201);
    let rotated: Value = r.json().await.unwrap();
    let kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(before["kid"], kid.as_str());
    for node in [b, c] {
        let delay = within_30s(node, "the new key", async || {
            active_kid(&node.jwks().await) == kid
        })
        .await;
        eprintln!("rotation on A published by {} after {delay:?}", node.url);
    }
    let jwks = a.jwks().await;
    for node in [b, c] {
        assert_eq!(node.jwks().await, jwks);
    }
    for (i, node) in [b, c].into_iter().enumerate() {
        let issued = issued_licence_of(node, &staff, &scjg, &enterprise(2 + i as u32)).await;
        let header = claims(&format!(
            "x.{}",
            issued["token"].as_str().unwrap().split('.').next().unwrap()
        ));
        assert_eq!(
            header["kid"],
            kid.as_str(),
            "{} signs with the new key",
            node.url
        );
        assert_eq!(issued["kid"], kid.as_str());
    }

    // Each node has a list cached when the revocation comes.
    for node in [b, c] {
        assert_eq!(status_list(node).await["certificates"], json!([]));
    }
    let revoke = format!("/certificates/{}/revoke", before["id"].as_str().unwrap());
    let r = a
        .post(&a.admin, &revoke, &json!({"reason": "issued_in_error"}))
        .await;
    assert_eq!(r.status(), 200);
    let listed = status_list(a).await;
    assert_eq!(listed["certificates"][0]["sub"], before["id"]);
    for node in [b, c] {
        let delay = within_30s(node, "the revocation in its status list", async || {
            let list = status_list(node).await;
            list["certificates"] == listed["certificates"] && list["keys"] == listed["keys"]
        })
        .await;
        eprintln!("revocation on A listed by {} after {delay:?}", node.url);
    }
}

/// The console page `node` shows for the session `cookie`: 200, or 303 to the sign-in page.
async fn console_home(node: &TestApp, cookie: &str) -> u16 {
    crate::console::client()
        .get(format!("{}/console", node.url))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A clerk signed in through A is signed in on B and C; signing out on B ends the session on
/// A and C; and the cap on one token's sessions holds across nodes.
#[tokio::test]
async fn a_console_session_opened_on_one_node_serves_and_ends_on_every_node() {
    if skipped() {
        return;
    }
    let cluster = Nodes::spawn(3).await;
    let [a, b, _] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let clerk = a.token("clerk", json!({})).await;
    let (session, csrf) = crate::console::session(a, &clerk).await;
    for node in &cluster.nodes {
        assert_eq!(console_home(node, &session).await, 200, "{}", node.url);
    }
    let out = crate::console::client()
        .post(format!("{}/console/logout", b.url))
        .header(reqwest::header::COOKIE, &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    for node in &cluster.nodes {
        assert_eq!(console_home(node, &session).await, 303, "{}", node.url);
    }

    let cap = onetrip::domain::session::MAX_SESSIONS_PER_TOKEN;
    let mut cookies = Vec::new();
    for i in 0..cap + 3 {
        let r = crate::console::sign_in(&cluster.nodes[i % 3], &clerk).await;
        assert_eq!(r.status(), 303);
        cookies.push(crate::console::cookie(&r, "onetrip_console").unwrap().0);
    }
    for (i, cookie) in cookies.iter().enumerate() {
        let expected = if i < 3 { 303 } else { 200 };
        for node in &cluster.nodes {
            assert_eq!(console_home(node, cookie).await, expected, "sign-in {i}");
        }
    }
}

/// A batch started on A, and A killed while it issues: once A's lease runs out, B takes the
/// batch over and finishes it, with one result per line and one licence per line.
#[tokio::test]
async fn a_batch_whose_node_dies_is_finished_by_another_with_one_result_per_line() {
    if skipped() {
        return;
    }
    const LINES: usize = 300;
    let mut cluster = Nodes::spawn(2).await;
    let clerk = cluster.nodes[0].token("clerk", json!({})).await;
    let lines: Vec<Value> = (0..LINES).map(migration_line).collect();
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    let r = cluster.nodes[0]
        .client
        .post(cluster.nodes[0].api("/batches"))
        .bearer_auth(&clerk)
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let started: Value = r.json().await.unwrap();
    let path = format!("/batches/{}", started["id"].as_str().unwrap());
    let b = &cluster.nodes[1];
    within_30s(b, "the batch under way", async || {
        let progress: Value = b.get_json(&clerk, &path).await;
        progress["done"].as_u64() >= Some(10)
    })
    .await;
    cluster.nodes[0].kill();
    let b = &cluster.nodes[1];
    let killed_at = std::time::Instant::now();
    let at_kill: Value = b.get_json(&clerk, &path).await;
    assert_eq!(at_kill["state"], "running", "killed before it finished");

    let progress = loop {
        let progress: Value = b.get_json(&clerk, &path).await;
        if progress["state"] == "finished" {
            break progress;
        }
        assert!(
            killed_at.elapsed() < std::time::Duration::from_secs(120),
            "{}",
            progress["done"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    eprintln!(
        "batch finished by B {:?} after A was killed ({} of {LINES} lines done then)",
        killed_at.elapsed(),
        at_kill["done"]
    );
    assert_eq!(progress["done"], LINES);
    assert_eq!(progress["failed"], 0, "{progress}");
    let results = progress["results"].as_array().unwrap();
    let numbers: Vec<u64> = results
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (1..=LINES as u64).collect::<Vec<_>>(),
        "one result per line"
    );
    let identifiers: HashSet<&str> = results
        .iter()
        .map(|r| r["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(identifiers.len(), LINES, "one licence per line");
    for (result, line) in results.iter().zip(&lines).step_by(25) {
        let record: Value = b
            .get_json(
                &b.admin,
                &format!("/certificates/{}", result["identifier"].as_str().unwrap()),
            )
            .await;
        assert_eq!(record["former_number"], line["migrate"]["former_number"]);
    }
}

/// A node that cannot see a material file another node stored (its share not mounted) says
/// so when it needs the file, to print a permit's photo: 503 `material_missing` naming the
/// file, nothing stored; the node that sees the file then issues the permit.
#[tokio::test]
async fn a_node_that_cannot_see_a_material_file_says_so_and_stores_nothing() {
    if skipped() {
        return;
    }
    let mut cluster = Nodes::spawn(2).await;
    let b = &mut cluster.nodes[1];
    let unmounted = b.dir.path().join("node-1-materials");
    b.launch.env.push((
        "ONETRIP_MATERIALS_DIR".into(),
        unmounted.display().to_string(),
    ));
    b.restart();
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    let staff = Staff::new(a).await;
    let permit = json!({
        "holder": {"type": "person", "id": PERSON, "name": "欧阳娜娜"},
        "kind": "talent-residence-permit",
        "items": [{"code": "talent-review"}, {"code": "permit-production"}],
        "fields": {"employer": "杭州示例科技有限公司", "residence_address": "浙江省杭州市滨江区网商路599号"}
    });
    let id = accepted(a, &staff, &permit).await;
    for (item, department) in [("talent-review", "RSJ"), ("permit-production", "GAJ")] {
        let approver = a.token("approver", json!({"department": department})).await;
        assert_eq!(
            decide(a, &approver, &id, item, "approve").await.status(),
            200
        );
    }
    let issue = format!("/submissions/{id}/issue");
    let r = b.post(&staff.clerk, &issue, &json!({})).await;
    assert_eq!(r.status(), 503);
    let refused: Value = r.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "material_missing", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("materials_dir") && message.contains("共享存储"),
        "{message}"
    );
    let filed = a
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(filed["status"], "accepted", "nothing issued: {filed}");
    assert_eq!(filed["certificate"], Value::Null, "{filed}");

    let r = a.post(&staff.clerk, &issue, &json!({})).await;
    assert_eq!(r.status(), 201);
}
