//! Holding up under abuse: slow headers, idle connections, slow bodies on every route that
//! reads one, places per class of client and per address, limits of connections and of
//! bodies held in memory, private files; each refusal counted by the limit that made it.
//! Abusers connect from 127.0.0.2 and up, as they would from other machines; the well-behaved
//! clients from 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::metrics::{admin_scrape, value};

/// The refusals counted for limit `reason`, as an admin reads them in `/metrics`.
async fn refusals(app: &TestApp, reason: &str) -> f64 {
    let samples = admin_scrape(app).await;
    value(
        &samples,
        "onetrip_http_refused_total",
        &[("reason", reason)],
    )
}

fn connect(app: &TestApp) -> TcpStream {
    connect_from(app, 1)
}

/// A connection from 127.0.0.`host`.
fn connect_from(app: &TestApp, host: u8) -> TcpStream {
    let socket = std::net::SocketAddr::from(([127, 0, 0, host], 0));
    let to: std::net::SocketAddr = app.url.trim_start_matches("http://").parse().unwrap();
    // std cannot bind before connecting; tokio can, on a runtime of this thread's own.
    let stream = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let s = tokio::net::TcpSocket::new_v4().unwrap();
                    s.bind(socket).unwrap();
                    s.connect(to).await.unwrap().into_std().unwrap()
                })
            })
            .join()
            .unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// A request that sends its head and the start of its body, then stalls, holding its place.
/// Its body is announced as a 100,000-byte PDF, or a 10,000-byte form for the console (whose
/// forms are limited to 16 KiB).
fn stalled(app: &TestApp, host: u8, path: &str, extra_headers: &str) -> TcpStream {
    let mut stream = connect_from(app, host);
    let (length, content_type) = if path.starts_with("/console") {
        (10_000, "application/x-www-form-urlencoded")
    } else {
        (100_000, "application/pdf")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: onetrip\r\nContent-Type: {content_type}\r\n{extra_headers}Content-Length: {length}\r\n\r\n%PDF-"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Sends a whole small request on a new connection from 127.0.0.`host` and reads the answer.
fn request_from(app: &TestApp, host: u8, request: &str) -> String {
    let mut stream = connect_from(app, host);
    stream.write_all(request.as_bytes()).unwrap();
    read_answer(&mut stream)
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
                    // Status line and headers are in; the body follows (a kept-alive
                    // connection stays open after it).
                    stream
                        .set_read_timeout(Some(Duration::from_millis(300)))
                        .unwrap();
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
    let app = TestApp::spawn_with("[limits]\nheader_read_timeout_secs = 1").await;
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
    let app = TestApp::spawn_with("[limits]\nbody_rate_window_secs = 1").await;
    for (path, content_type) in [
        ("/verify", "application/x-www-form-urlencoded"),
        ("/verify", "multipart/form-data; boundary=XYZ"),
        ("/console/login", "application/x-www-form-urlencoded"),
        ("/api/v1/verify", "application/pdf"),
    ] {
        let started = Instant::now();
        let mut stream = connect(&app);
        // Within each route's limit of a body (a console form: 16 KiB).
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: onetrip\r\nContent-Type: {content_type}\r\nContent-Length: 10000\r\n\r\ntoken=abc"
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
    let app = TestApp::spawn_with("[limits]\nmax_concurrent_requests = 3").await;
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
    // Refused before any route was found.
    let samples = admin_scrape(&app).await;
    let shed = [("route", "unmatched"), ("method", "GET"), ("status", "503")];
    assert_eq!(value(&samples, "onetrip_http_requests_total", &shed), 1.0);
    let reason = [("reason", "max_concurrent_requests")];
    assert_eq!(value(&samples, "onetrip_http_refused_total", &reason), 1.0);
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
    // Stalled uploads over both routes, from four addresses, take every place.
    let held: Vec<TcpStream> = (0..places)
        .map(|i| {
            let mut stream = connect_from(&app, 2 + (i % 4) as u8);
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
    assert_eq!(refusals(&app, "verify_uploads").await, 1.0);
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

#[tokio::test]
async fn an_idle_connection_is_closed_before_and_between_requests() {
    let app = TestApp::spawn_with("[limits]\nheader_read_timeout_secs = 1").await;
    // Connected, nothing sent.
    let started = Instant::now();
    let mut silent = connect_from(&app, 2);
    let mut buffer = [0u8; 64];
    assert_eq!(silent.read(&mut buffer).unwrap_or(0), 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // One request answered, then nothing: closed as well.
    let mut kept = connect_from(&app, 2);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: onetrip\r\n\r\n")
        .unwrap();
    let answer = read_answer(&mut kept);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    kept.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    assert!(
        matches!(kept.read(&mut buffer), Ok(0)),
        "the server closes it"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_slower_than_the_minimum_rate_is_cut_with_408_though_it_never_stops() {
    let app =
        TestApp::spawn_with("[limits]\nbody_rate_window_secs = 1\nbody_min_bytes_per_sec = 1024")
            .await;
    for path in ["/api/v1/verify", "/console/login"] {
        let mut stream = stalled(&app, 2, path, "");
        let started = Instant::now();
        // 10 bytes every 200 ms: never idle, far under 1 KiB/s.
        let mut answer = String::new();
        while started.elapsed() < Duration::from_secs(8) {
            if stream.write_all(&[b'a'; 10]).is_err() {
                break;
            }
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buffer = [0u8; 1024];
            if let Ok(n) = stream.read(&mut buffer) {
                let mut bytes = buffer[..n].to_vec();
                // The rest of the answer (a page is longer than one read).
                stream
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let _ = stream.read_to_end(&mut bytes);
                answer = String::from_utf8_lossy(&bytes).into_owned();
                break;
            }
        }
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        // The API answers with the error's code; the console's form, as a page, says it.
        assert!(
            answer.contains("body_too_slow") || answer.contains("请求内容传输过慢"),
            "{path}: {answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(refusals(&app, "body_min_bytes_per_sec").await, 2.0);
}

#[tokio::test]
async fn an_anonymous_request_is_cut_at_its_deadline_however_steadily_it_sends() {
    let app = TestApp::spawn_with(
        "[limits]\nanonymous_request_timeout_secs = 2\nbody_rate_window_secs = 1\nbody_min_bytes_per_sec = 1024",
    )
    .await;
    let mut stream = connect_from(&app, 2);
    stream
        .write_all(b"POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: application/pdf\r\nContent-Length: 10000000\r\n\r\n%PDF-")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    // 4 KiB every 100 ms: well over the minimum rate, and 10 MB would take minutes.
    while started.elapsed() < Duration::from_secs(8) {
        let _ = stream.write_all(&[b'a'; 4096]);
        let mut buffer = [0u8; 1024];
        if let Ok(n) = stream.read(&mut buffer) {
            answer = String::from_utf8_lossy(&buffer[..n]).into_owned();
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_too_slow"), "{answer}");
    assert_eq!(refusals(&app, "anonymous_request_timeout_secs").await, 1.0);
}

#[tokio::test]
async fn any_request_is_cut_at_the_deadline_of_all_however_steadily_it_sends() {
    let app = TestApp::spawn_with("[limits]\nrequest_timeout_secs = 2").await;
    let staff = Staff::new(&app).await;
    let id = app
        .create(&staff.clerk, &licence_submission(ENTERPRISE))
        .await;
    let material: String = "营业执照副本"
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    let mut stream = connect_from(&app, 2);
    let head = format!(
        "PUT /api/v1/submissions/{id}/materials/{material} HTTP/1.1\r\nHost: onetrip\r\nAuthorization: Bearer {}\r\nContent-Length: 10000000\r\n\r\n",
        staff.clerk
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    // A clerk's upload at 40 KiB/s: far over the minimum rate, and 10 MB would take minutes.
    while started.elapsed() < Duration::from_secs(8) {
        let _ = stream.write_all(&[b'a'; 4096]);
        let mut buffer = [0u8; 1024];
        if let Ok(n) = stream.read(&mut buffer) {
            answer = String::from_utf8_lossy(&buffer[..n]).into_owned();
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{answer}");
    assert_eq!(refusals(&app, "request_timeout_secs").await, 1.0);
}

#[tokio::test]
async fn anonymous_uploads_that_fill_their_class_leave_readers_and_signed_in_callers_served() {
    let app = TestApp::spawn_with("[limits]\nmax_anonymous_requests = 4").await;
    let staff = Staff::new(&app).await;
    // Four abusers on four addresses hold every anonymous place: the sign-in form included.
    let held: Vec<TcpStream> = (2..6)
        .map(|host| stalled(&app, host, "/console/login", ""))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = request_from(
        &app,
        9,
        "POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 2"),
        "{refused}"
    );
    // Readers, the sign-in page and a signed-in clerk are served all the same.
    for path in ["/healthz", "/verify", "/console/login"] {
        let answer = request_from(
            &app,
            1,
            &format!("GET {path} HTTP/1.1\r\nHost: onetrip\r\nConnection: close\r\n\r\n"),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    let listed = app.get(&staff.clerk, "/submissions?overdue=true").await;
    assert_eq!(listed.status(), 200);
    // A forged token is not signed in: it gets no signed-in place.
    let forged = request_from(
        &app,
        9,
        "POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\nAuthorization: Bearer ot_forged\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert!(forged.starts_with("HTTP/1.1 503"), "{forged}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = app.public_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(refusals(&app, "max_anonymous_requests").await, 2.0);
}

#[tokio::test]
async fn one_address_gets_429_past_its_share_while_other_addresses_are_served() {
    let app = TestApp::spawn_with("[limits]\nmax_requests_per_address = 2").await;
    let held: Vec<TcpStream> = (0..2)
        .map(|_| stalled(&app, 2, "/api/v1/verify", ""))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = request_from(&app, 2, &anonymous_post(""));
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(refused.contains("too_many_requests"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 2"),
        "{refused}"
    );
    // Another address is served, and so is the same address in another class.
    assert!(request_from(&app, 3, &anonymous_post("")).starts_with("HTTP/1.1 422"));
    let get = "GET /healthz HTTP/1.1\r\nHost: onetrip\r\nConnection: close\r\n\r\n";
    assert!(request_from(&app, 2, get).starts_with("HTTP/1.1 200"));
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(request_from(&app, 2, &anonymous_post("")).starts_with("HTTP/1.1 422"));
    assert_eq!(refusals(&app, "max_requests_per_address").await, 1.0);
}

#[tokio::test]
async fn one_address_takes_at_most_a_quarter_of_a_class() {
    let app = TestApp::spawn_with("[limits]\nmax_anonymous_requests = 8").await;
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| stalled(&app, 2, "/api/v1/verify", ""))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = request_from(&app, 2, &anonymous_post(""));
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(request_from(&app, 3, &anonymous_post("")).starts_with("HTTP/1.1 422"));
}

/// A whole anonymous request (an empty JSON body to `/api/v1/verify`: 422 when served),
/// with `extra_headers`.
fn anonymous_post(extra_headers: &str) -> String {
    format!(
        "POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\n{extra_headers}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_share() {
    let app = TestApp::spawn_with(
        "trusted_proxies = [\"127.0.0.1\"]\n[limits]\nmax_requests_per_address = 1",
    )
    .await;
    let _held = stalled(
        &app,
        1,
        "/api/v1/verify",
        "X-Forwarded-For: 198.51.100.1\r\n",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let get = |client: &str| anonymous_post(&format!("X-Forwarded-For: {client}\r\n"));
    let same = request_from(&app, 1, &get("198.51.100.1"));
    assert!(same.starts_with("HTTP/1.1 429"), "{same}");
    // A client cannot escape its share by forging the left of the header.
    let forged = request_from(&app, 1, &get("203.0.113.9, 198.51.100.1"));
    assert!(forged.starts_with("HTTP/1.1 429"), "{forged}");
    // Nor by writing something that is not an address at the right of what the proxy adds.
    let unreadable = request_from(&app, 1, &get("198.51.100.1, junk"));
    assert!(
        unreadable.starts_with("HTTP/1.1 422"),
        "the proxy itself: {unreadable}"
    );
    let other = request_from(&app, 1, &get("198.51.100.2"));
    assert!(other.starts_with("HTTP/1.1 422"), "{other}");
    // From an address that is not a trusted proxy, the header is not believed.
    let _held_too = stalled(
        &app,
        2,
        "/api/v1/verify",
        "X-Forwarded-For: 198.51.100.3\r\n",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let untrusted = request_from(&app, 2, &get("198.51.100.4"));
    assert!(untrusted.starts_with("HTTP/1.1 429"), "{untrusted}");
}

#[tokio::test]
async fn connections_past_an_address_cap_are_told_503_and_closed_and_others_still_connect() {
    let app = TestApp::spawn_with("[limits]\nmax_connections_per_address = 3").await;
    let open: Vec<TcpStream> = (0..3).map(|_| connect_from(&app, 2)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = connect_from(&app, 2);
    let answer = read_answer(&mut fourth);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"busy\""), "{answer}");
    let get = "GET /healthz HTTP/1.1\r\nHost: onetrip\r\nConnection: close\r\n\r\n";
    assert!(request_from(&app, 1, get).starts_with("HTTP/1.1 200"));
    drop(open);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(request_from(&app, 2, get).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn the_process_raises_its_file_limit_and_bounds_header_bytes() {
    let app = TestApp::spawn().await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", app.pid())).unwrap();
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(
        numbers[0], numbers[1],
        "soft limit raised to the hard one: {files}"
    );
    let padded = |bytes: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: onetrip\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(bytes)
        )
    };
    // Under the 16 KiB bound: served.
    let answer = request_from(&app, 2, &padded(15 << 10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Over it, within the read buffer (bodies stream through 256 KiB): refused by name.
    let answer = request_from(&app, 2, &padded(64 << 10));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("headers_too_large"), "{answer}");
    // Past the read buffer itself: hyper refuses before anything is parsed.
    let answer = request_from(&app, 2, &padded(1 << 20));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn bodies_held_in_memory_count_against_one_budget_given_back_when_they_go() {
    let app = TestApp::spawn_with("[limits]\nmax_buffered_body_bytes = 1048576").await;
    // Two anonymous PDFs of 600 KB each, sent but for their last byte: the second cannot fit.
    let send = |host: u8| {
        let mut stream = connect_from(&app, host);
        let head = "POST /api/v1/verify HTTP/1.1\r\nHost: onetrip\r\nContent-Type: application/pdf\r\nContent-Length: 600001\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        // The server may refuse and close before all of it is written.
        let _ = stream.write_all(&vec![b'%'; 600_000]);
        stream
    };
    let _first = send(2);
    std::thread::sleep(Duration::from_millis(300));
    let mut second = send(3);
    let answer = read_answer(&mut second);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"busy\""), "{answer}");
    drop(_first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = send(4);
    third.write_all(b"%").unwrap();
    let answer = read_answer(&mut third);
    // Read whole and judged (not a PDF), not refused for the budget.
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert_eq!(refusals(&app, "max_buffered_body_bytes").await, 1.0);
}

#[tokio::test]
async fn applicants_uploading_slowly_from_phones_leave_the_windows_served() {
    let app = TestApp::spawn_with("[limits]\nmax_applicant_requests = 2").await;
    let staff = Staff::new(&app).await;
    let applicant = app.token("applicant", json!({"holder": ENTERPRISE})).await;
    let id = app
        .create(&applicant, &licence_submission(ENTERPRISE))
        .await;
    let upload = |host: u8| {
        let mut stream = connect_from(&app, host);
        let head = format!(
            "PUT /api/v1/submissions/{id}/materials/%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7%E5%89%AF%E6%9C%AC HTTP/1.1\r\nHost: onetrip\r\nAuthorization: Bearer {applicant}\r\nContent-Type: application/pdf\r\nContent-Length: 1000000\r\n\r\n%PDF-"
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream
    };
    let _held = [upload(2), upload(3)];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = app.get(&applicant, &format!("/submissions/{id}")).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let request_id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");
    assert_eq!(body["error"]["request_id"], request_id.as_str());
    // A person is shown the refusal as a page, with when to come back and the request's id.
    let page = app
        .client
        .get(format!("{}/console", app.url))
        .bearer_auth(&applicant)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("retry-after"));
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let request_id = page.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("服务繁忙") && html.contains(&request_id),
        "{html}"
    );
    let clerk = app.get(&staff.clerk, &format!("/submissions/{id}")).await;
    assert_eq!(clerk.status(), 200, "the window is served all the same");
}

#[tokio::test]
async fn past_the_service_wide_connection_limit_a_new_connection_is_told_503_until_one_closes() {
    let app = TestApp::spawn_with("[limits]\nmax_connections = 4").await;
    // Idle connections from four addresses: each well under its own cap.
    let open: Vec<TcpStream> = (2..6).map(|host| connect_from(&app, host)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let get = "GET /healthz HTTP/1.1\r\nHost: onetrip\r\nConnection: close\r\n\r\n";
    let refused = request_from(&app, 6, get);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 2"),
        "{refused}"
    );
    drop(open);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(request_from(&app, 6, get).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_sign_in_form_of_a_megabyte_is_refused_at_once_without_being_read() {
    let app = TestApp::spawn().await;
    let mut stream = connect_from(&app, 2);
    let head = "POST /console/login HTTP/1.1\r\nHost: onetrip\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\ntoken=";
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// A flood of unfinished headers just under the read buffer, 200 connections from one
/// address: what the service holds for them is bounded by connections × `read_buffer_bytes`
/// (here 200 × 256 KiB = 50 MiB), each is refused with 431 once its headers end, and the
/// service answers others meanwhile.
#[tokio::test]
async fn a_flood_of_large_headers_holds_at_most_a_read_buffer_per_connection() {
    let app = TestApp::spawn().await;
    let before = resident_mib(app.pid());
    let pad = "a".repeat(250 << 10);
    let mut flood: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut stream = connect_from(&app, 7);
            let head = format!("GET /healthz HTTP/1.1\r\nHost: onetrip\r\nX-Pad: {pad}");
            stream.write_all(head.as_bytes()).unwrap();
            stream
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = resident_mib(app.pid()) - before;
    eprintln!("200 connections of 250 KiB unfinished headers: {held:.1} MiB held");
    assert!(held < 50.0 + 16.0, "{held:.1} MiB held for 200 connections");
    assert!(
        request_from(&app, 2, "GET /healthz HTTP/1.1\r\nHost: onetrip\r\n\r\n")
            .starts_with("HTTP/1.1 200")
    );
    let mut stream = flood.pop().unwrap();
    stream.write_all(b"\r\n\r\n").unwrap();
    let answer = read_answer(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("headers_too_large"), "{answer}");
}
