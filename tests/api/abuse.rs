//! Holding up under abuse: slow headers, stalled bodies on every route that reads one, a limit
//! of requests in flight for the whole service, private files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

fn connect(app: &TestApp) -> TcpStream {
    let stream = TcpStream::connect(app.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// Reads what the server sends until it closes the connection (or 15 s pass).
fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.len() > 12 {
                    // Status line and headers are in; the body follows or the socket closes.
                    std::thread::sleep(Duration::from_millis(100));
                    if let Ok(n) = stream.read(&mut buffer) {
                        answer.extend_from_slice(&buffer[..n]);
                    }
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = TestApp::spawn_with("header_read_timeout_secs = 1").await;
    let started = Instant::now();
    let mut stream = connect(&app);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: onetrip\r\nX-Slow: ")
        .unwrap();
    let answer = read_answer(&mut stream);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "held for {took:?}: {answer}");
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_stalled_body_gets_408_on_the_public_forms_the_api_and_the_console_sign_in() {
    let app = TestApp::spawn_with("body_idle_timeout_secs = 1").await;
    for (path, content_type) in [
        ("/verify", "application/x-www-form-urlencoded"),
        ("/verify", "multipart/form-data; boundary=XYZ"),
        ("/console/login", "application/x-www-form-urlencoded"),
        ("/api/v1/verify", "application/pdf"),
    ] {
        let started = Instant::now();
        let mut stream = connect(&app);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: onetrip\r\nContent-Type: {content_type}\r\nContent-Length: 100000\r\n\r\ntoken=abc"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let answer = read_answer(&mut stream);
        let took = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(took < Duration::from_secs(8), "{path}: held for {took:?}");
    }
}

#[tokio::test]
async fn past_the_limit_of_requests_in_flight_every_route_answers_503_with_retry_after() {
    let app = TestApp::spawn_with("max_concurrent_requests = 3").await;
    // Three uploads that started and stalled hold the three places.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = connect(&app);
            stream
                .write_all(
                    b"POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n%PDF-",
                )
                .unwrap();
            stream
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    assert!(busy.headers().contains_key("retry-after"));
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = app.public_json("/healthz").await;
    assert_eq!(status, 200, "places are given back when the clients go");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` is 0600 and every directory 0700.
fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_private(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

#[tokio::test]
async fn material_files_the_store_and_keys_are_private_to_the_service() {
    let app = TestApp::spawn().await;
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let id = app
        .create(&applicant, &licence_submission(ENTERPRISE))
        .await;
    let r = app
        .upload(
            &applicant,
            &id,
            "营业执照副本",
            b"scan of an ID card".to_vec(),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(app.data().join("materials").join(&id).is_dir());
    assert_private(&app.data());
}

#[tokio::test]
async fn pdf_uploads_to_verify_are_limited_so_anonymous_bodies_cannot_fill_memory() {
    let app = TestApp::spawn().await;
    let places = onetrip::routes::limits::MAX_VERIFY_UPLOADS;
    // Stalled uploads over both routes take every place.
    let held: Vec<TcpStream> = (0..places)
        .map(|i| {
            let mut stream = connect(&app);
            let head = if i % 2 == 0 {
                "POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: application/pdf\r\nContent-Length: 10000000\r\n\r\n%PDF-".to_owned()
            } else {
                "POST /verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 10000000\r\n\r\n--XYZ\r\n".to_owned()
            };
            stream.write_all(head.as_bytes()).unwrap();
            stream
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = app
        .client
        .post(format!("{}/api/v1/verify", app.url))
        .header("Content-Type", "application/pdf")
        .body(b"%PDF-1.5".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    assert!(busy.headers().contains_key("retry-after"));
    // Everything else still answers: the places are only for PDF uploads.
    let (status, _) = app.public_json("/healthz").await;
    assert_eq!(status, 200);
    let page = app
        .client
        .get(format!("{}/verify", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = app
        .client
        .post(format!("{}/api/v1/verify", app.url))
        .header("Content-Type", "application/pdf")
        .body(b"%PDF-1.5".to_vec())
        .send()
        .await
        .unwrap();
    assert_ne!(again.status(), 503);
}

#[tokio::test]
async fn a_window_check_part_whose_headers_never_end_is_refused_without_waiting_for_the_rest() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let content = |_: &str, i: usize| vec![b'0' + i as u8];
    let (id, _) = pre_approved(&app, &staff, &licence_submission(ENTERPRISE), content).await;
    let mut stream = connect(&app);
    let head = format!(
        "POST /api/v1/submissions/{id}/window-check HTTP/1.1\r\nHost: onetrip\r\n\
         Authorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=b\r\n\
         Content-Length: 1073741824\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ",
        staff.clerk
    );
    stream.write_all(head.as_bytes()).unwrap();
    // Up to 1 MiB of one header line, then nothing: the body stalls, the header never ends.
    // The server may answer and close before all of it is written.
    for _ in 0..16 {
        if stream.write_all(&[b'a'; 64 << 10]).is_err() {
            break;
        }
    }
    let started = Instant::now();
    let answer = read_answer(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "after {:?}: {answer}",
        started.elapsed()
    );
    assert!(answer.contains("malformed_multipart"), "{answer}");
    let s: Value = app
        .get_json(&staff.clerk, &format!("/submissions/{id}"))
        .await;
    assert_eq!(s["status"], "pre_approved");
}
