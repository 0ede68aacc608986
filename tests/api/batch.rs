//! Batch issuance: from the CLI on a stopped store (results file, a bad line, resuming after
//! `kill -9`) and on a running server (`POST /api/v1/batches` and its progress).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

fn write_batch(path: &Path, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn results(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each line's result appears exactly once, in line order; the identifiers are distinct.
fn assert_one_result_per_line(results: &[Value], lines: usize) -> Vec<String> {
    let numbers: Vec<u64> = results
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=lines as u64).collect::<Vec<_>>());
    let identifiers: Vec<String> = results
        .iter()
        .filter_map(|r| r["identifier"].as_str().map(str::to_owned))
        .collect();
    let distinct: BTreeSet<&String> = identifiers.iter().collect();
    assert_eq!(distinct.len(), identifiers.len(), "an identifier twice");
    identifiers
}

async fn issuable(app: &TestApp, staff: &Staff, scjg: &str, holder: &str) -> String {
    let id = accepted(app, staff, &licence_submission(holder)).await;
    for item in ["wire-cable", "fertiliser"] {
        assert_eq!(decide(app, scjg, &id, item, "approve").await.status(), 200);
    }
    id
}

#[tokio::test]
async fn a_batch_of_two_hundred_with_one_bad_line_reports_it_and_issues_the_rest() {
    let mut app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let approved = [
        issuable(&app, &staff, &scjg, &enterprise(5001)).await,
        issuable(&app, &staff, &scjg, &enterprise(5002)).await,
    ];
    app.stop();

    let mut lines: Vec<Value> = (0..200).map(migration_line).collect();
    lines[0] = json!({"submission": approved[0]});
    lines[1] = json!({"submission": approved[1]});
    lines[99]["migrate"]["holder"]["id"] = json!("91350100M000100Y4X");
    let file = app.dir.path().join("licences.jsonl");
    write_batch(&file, &lines);
    let run = cli(
        app.dir.path(),
        &["issue", "--batch", file.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("199 issued"), "{stdout}");
    let results_file = app.dir.path().join("licences.results.jsonl");
    let first = results(&results_file);
    assert_one_result_per_line(&first, 200);
    assert_eq!(first[99]["status"], "failed");
    assert_eq!(first[99]["field"], "migrate.holder.id");
    assert!(
        first
            .iter()
            .enumerate()
            .all(|(i, r)| i == 99 || r["status"] == "issued")
    );

    // Run again: the bad line fails again, nothing else is issued twice.
    let again = cli(
        app.dir.path(),
        &["issue", "--batch", file.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("0 issued, 199 issued before, 1 failed"),
        "{stdout}"
    );
    assert_eq!(results(&results_file), first);

    app.restart_stopped();
    for (i, result) in first.iter().enumerate().filter(|(i, _)| *i != 99) {
        if i % 37 != 0 && i > 1 {
            continue;
        }
        let id = result["identifier"].as_str().unwrap();
        let record: Value = app
            .get_json(&staff.clerk, &format!("/certificates/{id}"))
            .await;
        let (_, verdict) = app
            .public_json(&format!("/c/{}", result["code"].as_str().unwrap()))
            .await;
        assert_eq!(verdict["verdict"], "valid", "{verdict}");
        if i > 1 {
            let line = &lines[i]["migrate"];
            assert_eq!(record["former_number"], line["former_number"]);
            assert_eq!(record["issue_date"], "2023-04-03");
            assert_eq!(record["expiry_date"], "2028-04-02");
            assert_eq!(record["holder"]["name"], line["holder"]["name"]);
            assert_eq!(
                record["items"].as_array().unwrap().len(),
                line["items"].as_array().unwrap().len()
            );
            let pdf = app
                .get(&staff.clerk, &format!("/certificates/{id}/pdf"))
                .await
                .bytes()
                .await
                .unwrap();
            let text = pdf_text(&pdf);
            let name = line["holder"]["name"].as_str().unwrap();
            assert!(text.contains(name), "{name} is not in {text}");
        } else {
            assert_eq!(record["submission"], approved[i].as_str());
        }
    }
}

#[tokio::test]
async fn a_batch_killed_in_the_middle_resumes_without_duplicates_or_gaps() {
    let mut app = TestApp::spawn().await;
    app.stop();
    let lines: Vec<Value> = (0..120).map(migration_line).collect();
    let file = app.dir.path().join("migration.jsonl");
    write_batch(&file, &lines);
    let results_file = app.dir.path().join("migration.results.jsonl");

    let mut child = Command::new(BIN)
        .args([
            "--config",
            app.dir.path().join("onetrip.toml").to_str().unwrap(),
        ])
        .args(["issue", "--batch", file.to_str().unwrap()])
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let written = std::fs::read_to_string(&results_file)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if written >= 25 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the batch did not progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before_kill = results(&results_file).len();
    assert!(before_kill < 120, "the batch finished before the kill");

    let rerun = cli(
        app.dir.path(),
        &["issue", "--batch", file.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&rerun.stdout);
    assert!(rerun.status.success(), "{stdout}");
    let after = results(&results_file);
    let identifiers = assert_one_result_per_line(&after, 120);
    assert_eq!(identifiers.len(), 120);

    // Each former number has the one certificate that names it.
    app.restart_stopped();
    let admin = app.token("admin", json!({})).await;
    for (i, identifier) in identifiers.iter().enumerate() {
        let record: Value = app
            .get_json(&admin, &format!("/certificates/{identifier}"))
            .await;
        assert_eq!(
            record["former_number"],
            lines[i]["migrate"]["former_number"]
        );
    }
}

#[tokio::test]
async fn a_batch_on_the_running_server_reports_progress_and_each_lines_result() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let mut lines: Vec<String> = (0..20).map(|i| migration_line(i).to_string()).collect();
    lines.insert(5, "{\"migrate\": {\"former_number\": ".into());
    lines.insert(9, String::new());
    let body = lines.join("\n");
    let post = |token: Option<String>, body: String| {
        let mut request = app.client.post(app.api("/batches")).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(post(None, body.clone()).await.unwrap().status(), 401);
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    for token in [applicant, scjg] {
        assert_eq!(post(Some(token), body.clone()).await.unwrap().status(), 403);
    }
    let (status, code, _) = error_of(
        post(Some(staff.clerk.clone()), "\n\n".into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (422, "empty_batch"));

    let r = post(Some(staff.clerk.clone()), body.clone()).await.unwrap();
    assert_eq!(r.status(), 202);
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["total"], 21);
    let id = started["id"].as_str().unwrap();
    let progress = wait_for(&app, &staff.clerk, id).await;
    assert_eq!(
        (progress["issued"].as_u64(), progress["failed"].as_u64()),
        (Some(20), Some(1)),
        "{progress}"
    );
    let failed = &progress["results"].as_array().unwrap()[5];
    assert_eq!(
        (failed["line"].as_u64(), failed["code"].as_str()),
        (Some(6), Some("malformed_line"))
    );

    // Posted again, every line is already issued.
    let r = post(Some(staff.clerk.clone()), body).await.unwrap();
    let again: Value = r.json().await.unwrap();
    let progress = wait_for(&app, &staff.clerk, again["id"].as_str().unwrap()).await;
    assert_eq!(progress["already_issued"], 20, "{progress}");
    let (status, code, _) = error_of(app.get(&staff.clerk, "/batches/BNOSUCHBATCH").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "batch_not_found"));

    // Last, as the refused upload may leave its connection broken. It is refused from its
    // Content-Length: the server may answer before the body is all sent.
    match post(Some(staff.clerk.clone()), "x".repeat(17 << 20)).await {
        Ok(r) => assert_eq!(error_of(r).await.0.as_u16(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
}

async fn wait_for(app: &TestApp, token: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let progress: Value = app.get_json(token, &format!("/batches/{id}")).await;
        if progress["state"] == "finished" {
            assert_eq!(progress["done"], progress["total"]);
            return progress;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{progress}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn hostile_batches_are_refused_whole_or_line_by_line() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", json!({})).await;
    let post = |body: Vec<u8>| {
        app.client
            .post(app.api("/batches"))
            .bearer_auth(&admin)
            .body(body)
            .send()
    };
    let too_many = "{}\n".repeat(onetrip::domain::batch::MAX_BATCH_LINES + 1);
    let (status, code, _) = error_of(post(too_many.into_bytes()).await.unwrap()).await;
    assert_eq!((status.as_u16(), code.as_str()), (413, "too_many_lines"));
    let (status, code, _) = error_of(post(vec![b'{', 0xff, 0xfe, b'}']).await.unwrap()).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "malformed_batch"));
    // What schemathesis sent: a raw NUL (PostgreSQL's text holds none), refused naming its line.
    let r = post(b"{}\n\x00\xf0\xbb\xa1\x82\x0b9\x1b".to_vec())
        .await
        .unwrap();
    let refused: serde_json::Value = r.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "malformed_batch", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{refused}"
    );

    let mut long_name = migration_line(0);
    long_name["migrate"]["holder"]["name"] = json!("浙".repeat(61));
    let mut missing_glyph = migration_line(1);
    missing_glyph["migrate"]["fields"]["legal_representative"] = json!("𠮷野家");
    let mut too_many_items = migration_line(2);
    too_many_items["migrate"]["items"] = json!(
        (0..25)
            .map(|i| json!({"code": format!("c{i}"), "department": "SCJG", "name": "电线电缆"}))
            .collect::<Vec<_>>()
    );
    let mut expired = migration_line(3);
    expired["migrate"]["expiry_date"] = json!("2024-01-01");
    expired["migrate"]["issue_date"] = json!("2019-01-02");
    let mut backwards = migration_line(4);
    backwards["migrate"]["expiry_date"] = json!("2022-01-01");
    let mut unknown_field = migration_line(5);
    unknown_field["migrate"]["surprise"] = json!(true);
    let twice = migration_line(6);
    let lines = [
        long_name,
        missing_glyph,
        too_many_items,
        expired,
        backwards,
        unknown_field,
        json!({"submission": "../../etc/passwd"}),
        json!({"submission": "S0000000000000", "migrate": {}}),
        // A NUL quoted back in the line's error (PostgreSQL's JSON cannot hold one).
        json!({"submission": "S\u{0}\u{7}"}),
        twice.clone(),
        twice,
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = post(body.into_bytes()).await.unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let progress = wait_for(&app, &admin, &id).await;
    let mut fields: Vec<(String, String)> = progress["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let status = r["status"].as_str().unwrap().to_owned();
            let why = match status.as_str() {
                "failed" => r["field"].as_str().or(r["code"].as_str()).unwrap(),
                _ => "",
            };
            (status, why.to_owned())
        })
        .collect();
    // The same former number twice: one line issues it, the other finds it issued, in
    // whichever order the concurrent lines reach the store.
    fields[9..].sort();
    let quoted = progress["results"][8]["message"].as_str().unwrap();
    assert!(
        quoted.contains("S\\u{0}\\u{7}"),
        "control characters written out: {quoted}"
    );
    let expect = |status: &str, field: &str| (status.to_owned(), field.to_owned());
    assert_eq!(
        fields,
        vec![
            expect("failed", "migrate.holder.name"),
            expect("failed", "migrate.fields.legal_representative"),
            expect("failed", "migrate.items"),
            expect("failed", "migrate.expiry_date"),
            expect("failed", "migrate.expiry_date"),
            expect("failed", "malformed_line"),
            expect("failed", "submission_not_found"),
            expect("failed", "malformed_line"),
            expect("failed", "submission_not_found"),
            expect("already_issued", ""),
            expect("issued", ""),
        ],
        "{progress}"
    );
}

#[tokio::test]
async fn errors_quote_a_short_prefix_of_what_they_refuse_and_a_batch_stays_small() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let huge_id = format!("S{}", "0".repeat(1 << 20));
    let long_id = format!("S{}", "7".repeat(60 << 10));
    let mut unknown_field = migration_line(8001);
    unknown_field["migrate"]["fields"][format!("k{}", "e".repeat(30 << 10))] = json!("x");
    let mut unknown_variant = serde_json::Map::new();
    unknown_variant.insert(format!("v{}", "w".repeat(30 << 10)), json!({}));
    let lines = [
        json!({ "submission": huge_id }),
        json!({ "submission": long_id }),
        unknown_field,
        Value::Object(unknown_variant),
        migration_line(8002),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let progress = finished_batch(&app, &staff.clerk, body).await;
    let results = progress["results"].as_array().unwrap();
    let codes: Vec<&str> = results
        .iter()
        .map(|r| match r["status"].as_str().unwrap() {
            "failed" => r["code"].as_str().unwrap(),
            status => status,
        })
        .collect();
    assert_eq!(
        codes,
        [
            "line_too_long",
            "submission_not_found",
            "unknown_field",
            "malformed_line",
            "issued"
        ],
        "{progress}"
    );
    for failed in &results[..4] {
        let message = failed["message"].as_str().unwrap();
        let longest_run = message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(str::len)
            .max()
            .unwrap();
        assert!(longest_run <= 100, "{message}");
        assert!(message.chars().count() < 400, "{message}");
        assert!(
            failed["field"].as_str().is_none_or(|f| f.len() <= 100),
            "{failed}"
        );
    }
    let id = progress["id"].as_str().unwrap();
    let got = app
        .get(&staff.clerk, &format!("/batches/{id}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        got.len() < 4096,
        "GET /batches/{id} answered {} bytes",
        got.len()
    );
}

/// A request whose body is sent only in part: the connection is held open, as a slow or
/// stalled client holds it, until it is dropped.
async fn partial_batch_post(app: &TestApp, token: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = app.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/batches HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        8 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(format!("{}\n", migration_line(8003)).as_bytes())
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn batch_uploads_past_the_running_limit_are_refused_before_their_files_are_read() {
    use tokio::io::AsyncReadExt;
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let max = onetrip::service::batch::MAX_RUNNING_BATCHES;
    let mut held = Vec::new();
    for _ in 0..max {
        held.push(partial_batch_post(&app, &staff.clerk).await);
    }
    // Each of them has taken its place once the server has read its headers.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // One more, its 8 MiB announced and barely begun: answered at once, unread.
    let mut refused = partial_batch_post(&app, &staff.clerk).await;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: "), "{answer}");
    assert!(answer.contains("batches_busy"), "{answer}");
    let r = app
        .client
        .post(app.api("/batches"))
        .bearer_auth(&staff.clerk)
        .body(format!("{}\n", migration_line(8004)))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (503, "batches_busy"));

    // The stalled uploads go away: their places are free again.
    drop(held);
    let started = Instant::now();
    loop {
        let r = app
            .client
            .post(app.api("/batches"))
            .bearer_auth(&staff.clerk)
            .body(format!("{}\n", migration_line(8004)))
            .send()
            .await
            .unwrap();
        if r.status() == 202 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "places not given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ten_thousand_failing_lines_keep_a_few_hundred_bytes_each() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let lines = onetrip::domain::batch::MAX_BATCH_LINES;
    let body: String = (0..lines)
        .map(|i| format!("{}\n", json!({"submission": format!("S{i:01600}")})))
        .collect();
    assert!(body.len() > 15 << 20, "{} bytes", body.len());
    let progress = finished_batch(&app, &staff.clerk, body).await;
    assert_eq!(progress["failed"], lines, "{}", progress["failed"]);
    let id = progress["id"].as_str().unwrap();
    let got = app
        .get(&staff.clerk, &format!("/batches/{id}"))
        .await
        .bytes()
        .await
        .unwrap();
    eprintln!(
        "GET /batches/{{id}} of {lines} failed lines: {} bytes",
        got.len()
    );
    assert!(got.len() < 4 << 20, "{} bytes", got.len());
}
