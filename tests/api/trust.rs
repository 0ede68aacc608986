//! The offline verifier against real issuers and fake ones: trusted issuers only, the signed
//! status list, honest offline verdicts, timeouts, HTTPS with a test CA, decompression bombs.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use lopdf::dictionary;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::verdicts::{first_line, licence_of, revoke as revoke_record};

/// Runs `onetrip` with the trust list at `trust`; the exit code and everything printed.
fn onetrip(trust: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("ONETRIP_TRUST", trust)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A port where nothing answers and any connection attempt is visible afterwards.
struct Silent(TcpListener);

impl Silent {
    fn new() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Silent(listener)
    }
    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }
    fn was_contacted(&self) -> bool {
        self.0.accept().is_ok()
    }
}

async fn revoke(app: &TestApp, serial: &str) {
    let r = app
        .post(
            &app.admin,
            &format!("/certificates/{serial}/revoke"),
            &json!({"reason": "issued_in_error", "text": "测试撤销"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn pdf_of(app: &TestApp, staff: &Staff, serial: &str, dir: &Path) -> PathBuf {
    let pdf = app
        .get(&staff.clerk, &format!("/certificates/{serial}/pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    let path = dir.join(format!("{serial}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    path
}

#[tokio::test]
async fn status_list_is_signed_lists_revocations_and_revoked_keys_and_caches() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let kept = issued_licence(&app, &staff, &scjg).await;
    let revoked = issued_licence_of(&app, &staff, &scjg, &enterprise(1101)).await;
    revoke(&app, revoked["id"].as_str().unwrap()).await;
    let old_kid = kept["kid"].as_str().unwrap().to_owned();
    let r = app.post(&app.admin, "/keys/rotate", &json!({})).await;
    assert_eq!(r.status(), 201);
    let since = "2020-01-01T00:00:00Z";
    let r = app
        .post(
            &app.admin,
            &format!("/keys/{old_kid}/revoke"),
            &json!({"compromised_since": since}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Moving the compromise later would make what the key signed meanwhile valid again.
    let r = app
        .post(
            &app.admin,
            &format!("/keys/{old_kid}/revoke"),
            &json!({"compromised_since": "2021-01-01T00:00:00Z"}),
        )
        .await;
    let (status, code, _) = error_of(r).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (409, "key_already_revoked")
    );

    let response = app
        .client
        .get(format!("{}/.well-known/status-list", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let jws = response.text().await.unwrap();

    // An independent JOSE library verifies it with the published key set.
    let header = jsonwebtoken::decode_header(&jws).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(app.jwks().await).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let list = jsonwebtoken::decode::<Value>(
        &jws,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(list["iss"], app.url.as_str());
    let certificates = list["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 1, "{list}");
    assert_eq!(certificates[0]["sub"], revoked["id"]);
    assert_eq!(certificates[0]["status"], "revoked");
    assert_eq!(certificates[0]["reason"], "issued_in_error");
    assert_eq!(
        list["keys"],
        json!([{"kid": old_kid, "compromised_since": since}])
    );
    assert!(list["next_update"].as_str().unwrap() > list["issued_at"].as_str().unwrap());

    // Unchanged: 304 on the entity tag. A revocation makes a new list at once.
    let again = app
        .client
        .get(format!("{}/.well-known/status-list", app.url))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    revoke(&app, kept["id"].as_str().unwrap()).await;
    let fresh = app
        .client
        .get(format!("{}/.well-known/status-list", app.url))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_ne!(fresh.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn untrusted_hosts_are_reported_and_never_contacted_and_status_comes_only_from_the_trusted_issuer()
 {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let serial = cert["id"].as_str().unwrap();
    let token = cert["token"].as_str().unwrap();
    let dir = app.dir.path();
    let trust = dir.join("trust.json");
    let jwks_path = dir.join("jwks.json");
    std::fs::write(&jwks_path, app.jwks().await.to_string()).unwrap();
    let pdf = pdf_of(&app, &staff, serial, dir).await;

    // Nothing trusted yet: the PDF's own issuer is not trusted either.
    let (code, out) = onetrip(&trust, &["verify", pdf.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("verdict: untrusted_issuer") && out.contains("onetrip trust add"));

    let (code, out) = onetrip(&trust, &["trust", "add", &app.url]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(cert["kid"].as_str().unwrap()), "{out}");
    let (code, out) = onetrip(&trust, &["verify", pdf.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: valid") && out.contains("示例电缆有限公司"));
    // The last day of validity, as the certificate prints it (not the next day's midnight).
    let expiry = cert["expiry_date"].as_str().unwrap();
    assert!(
        out.contains(&format!("valid to:   {expiry} (北京时间)")),
        "{out}"
    );

    // The genuine token of a revoked certificate behind a link to another host: that host is
    // never asked, with the pinned keys or with --jwks, and the verdict is never valid.
    revoke(&app, serial).await;
    let fake = Silent::new();
    let forged_link = format!("{}/v/{token}", fake.url());
    for extra in [vec![], vec!["--jwks", jwks_path.to_str().unwrap()]] {
        let mut args = vec!["verify", forged_link.as_str()];
        args.extend(extra);
        let (code, out) = onetrip(&trust, &args);
        assert_eq!(code, 3, "{out}");
        assert!(out.contains("verdict: untrusted_issuer"), "{out}");
    }
    assert!(!fake.was_contacted(), "the untrusted host was contacted");

    // The same token, bare or behind its real link: revoked, from the trusted issuer.
    // The verdict is the first line, and no line reads better than it.
    for input in [
        token.to_owned(),
        format!("{}/v/{token}", app.url),
        pdf.to_str().unwrap().to_owned(),
    ] {
        let (code, out) = onetrip(&trust, &["verify", &input]);
        assert_eq!(code, 1, "{out}");
        assert_eq!(first_line(&out), "verdict: revoked", "{out}");
        assert!(
            !out.contains("证照真实有效") && !out.contains("genuine and valid"),
            "{out}"
        );
    }

    let (code, out) = onetrip(&trust, &["trust", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&app.url) && out.contains("status list of"),
        "{out}"
    );
    let (code, _) = onetrip(&trust, &["trust", "remove", &app.url]);
    assert_eq!(code, 0);
    let (code, out) = onetrip(&trust, &["verify", pdf.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
}

#[tokio::test]
async fn with_the_issuer_down_the_pinned_status_list_decides_and_says_its_age() {
    let mut app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let good = issued_licence(&app, &staff, &scjg).await;
    let bad = issued_licence_of(&app, &staff, &scjg, &enterprise(1102)).await;
    let dir = app.dir.path().to_owned();
    let trust = dir.join("trust.json");
    let good_pdf = pdf_of(&app, &staff, good["id"].as_str().unwrap(), &dir).await;
    let (code, out) = onetrip(&trust, &["trust", "add", &app.url]);
    assert_eq!(code, 0, "{out}");
    // Revoked after the issuer was trusted: the next online check pins the newer list.
    revoke(&app, bad["id"].as_str().unwrap()).await;
    let bad_link = format!("{}/v/{}", app.url, bad["token"].as_str().unwrap());
    let (code, out) = onetrip(&trust, &["verify", &bad_link]);
    assert_eq!(code, 1, "{out}");

    app.stop();
    let (code, out) = onetrip(&trust, &["verify", good_pdf.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("could not be reached")
            && out.contains("verdict: valid (offline; status as of 20"),
        "{out}"
    );
    // Only the QR code was checked, not the file: the verdict line itself says so.
    assert!(
        first_line(&out)
            .ends_with("QR code only: the file itself was not compared with the issued one)"),
        "{out}"
    );
    let (code, out) = onetrip(&trust, &["verify", &bad_link]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verdict: revoked") && out.contains("status list of"),
        "{out}"
    );
    let (code, out) = onetrip(&trust, &["verify", "--offline", good_pdf.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        !out.contains("could not be reached"),
        "--offline asks no one: {out}"
    );
}

#[tokio::test]
async fn a_hanging_issuer_times_out_within_the_configured_time() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    // Accepts connections and never answers.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hang.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hang.incoming() {
            held.push(stream);
        }
    });
    let trust = app.dir.path().join("trust.json");
    let list = json!({"issuers": [{
        "url": url, "added_at": "2026-01-01T00:00:00Z", "jwks": app.jwks().await,
    }]});
    std::fs::write(&trust, list.to_string()).unwrap();
    let link = format!("{url}/v/{}", cert["token"].as_str().unwrap());
    let started = Instant::now();
    let (code, out) = onetrip(&trust, &["verify", &link, "--timeout", "1"]);
    let took = started.elapsed();
    // No status list pinned: its status cannot be known, never "valid".
    assert_eq!(code, 4, "{out}");
    assert!(out.starts_with("verdict: status_unknown"), "{out}");
    assert!(
        out.contains("timed out") || out.contains("could not be reached"),
        "{out}"
    );
    assert!(out.contains("revocation not checked"), "{out}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

/// A TLS front on `listener` for the plain-HTTP server at `backend`, with a certificate for
/// `localhost` signed by a test CA; returns the CA's PEM.
fn tls_front(listener: std::net::TcpListener, backend: String) -> String {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "onetrip test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    ca.pem()
}

// Multi-threaded: the TLS front runs on the runtime while the test waits for the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_issuers_are_verified_with_rustls_and_a_test_ca() {
    let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let public = format!("https://localhost:{}", front.local_addr().unwrap().port());
    let app = TestApp::spawn_launched(
        "",
        Launch {
            env: vec![("ONETRIP_PUBLIC_URL".into(), public.clone())],
            ..Launch::default()
        },
    )
    .await;
    let ca = tls_front(front, app.url.trim_start_matches("http://").to_owned());
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    assert!(cert["verify_url"].as_str().unwrap().starts_with(&public));
    let dir = app.dir.path();
    let (trust, ca_path) = (dir.join("trust.json"), dir.join("ca.pem"));
    std::fs::write(&ca_path, ca).unwrap();
    let pdf = pdf_of(&app, &staff, cert["id"].as_str().unwrap(), dir).await;

    // Without the test CA the certificate is not trusted: nothing is pinned.
    let (code, out) = onetrip(&trust, &["trust", "add", &public]);
    assert_ne!(code, 0, "{out}");
    let ca_arg = ca_path.to_str().unwrap();
    let (code, out) = onetrip(&trust, &["trust", "add", &public, "--ca-cert", ca_arg]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = onetrip(
        &trust,
        &["verify", pdf.to_str().unwrap(), "--ca-cert", ca_arg],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("verdict: valid") && out.contains(&public),
        "{out}"
    );
}

/// Runs the CLI with its data segment (heap and every private writable mapping) limited to
/// `bytes`, and returns its exit code: a process that needs more fails to allocate and aborts
/// instead of exiting with a verdict. (A child's `ru_maxrss` cannot be used here: Linux carries
/// the spawning test process's peak into it.)
fn onetrip_within(trust: &Path, args: &[&str], bytes: u64) -> i32 {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("ONETRIP_TRUST", trust)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only setrlimit (async-signal-safe) runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.status().unwrap().code().unwrap_or(-1)
}

#[tokio::test]
async fn decompression_bombs_are_refused_within_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.json");
    let side = 20_000u32;

    // A PDF whose page draws a 20000 × 20000 grey image: 400 MB of zeros in ~400 KB.
    let mut doc = lopdf::Document::with_version("1.5");
    let zeros = deflate_zeros(side as usize * side as usize);
    let image = lopdf::Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => side as i64,
            "Height" => side as i64, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            "Filter" => "FlateDecode",
        },
        zeros,
    );
    let image_id = doc.add_object(image);
    let content = doc.add_object(lopdf::Stream::new(
        dictionary! {},
        b"q 100 0 0 100 0 0 cm /Im0 Do Q".to_vec(),
    ));
    let pages = doc.new_object_id();
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages, "Contents" => content,
        "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages,
        lopdf::Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
    doc.trailer.set("Root", catalog);
    let pdf_path = dir.path().join("bomb.pdf");
    doc.save(&pdf_path).unwrap();
    assert!(std::fs::metadata(&pdf_path).unwrap().len() < 1 << 20);

    // A PNG that declares 20000 × 20000 pixels, its rows all zero.
    let png_path = dir.path().join("bomb.png");
    std::fs::write(&png_path, png_of_zeros(side)).unwrap();

    for path in [&pdf_path, &png_path] {
        let code = onetrip_within(&trust, &["verify", path.to_str().unwrap()], 200 << 20);
        assert_eq!(code, 3, "{} within 200 MiB", path.display());
        let (code, out) = onetrip(&trust, &["verify", path.to_str().unwrap()]);
        assert_eq!(code, 3, "{out}");
        assert!(
            out.contains("20000") && out.contains("verdict: unusable_input"),
            "{out}"
        );
    }
    // The bound leaves room for real work: a certificate's PDF verifies within it.
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let cert = issued_licence(&app, &staff, &scjg).await;
    let pdf = pdf_of(&app, &staff, cert["id"].as_str().unwrap(), dir.path()).await;
    let (code, _) = onetrip(&trust, &["trust", "add", &app.url]);
    assert_eq!(code, 0);
    let code = onetrip_within(&trust, &["verify", pdf.to_str().unwrap()], 200 << 20);
    assert_eq!(code, 0, "a genuine PDF within 200 MiB");
}

fn deflate_zeros(len: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).unwrap();
        left -= n;
    }
    encoder.finish().unwrap()
}

/// A grey PNG of `side` × `side` zero pixels, written chunk by chunk.
fn png_of_zeros(side: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    // Each row: filter byte 0 and `side` zero pixels.
    chunk(
        &mut png,
        b"IDAT",
        &deflate_zeros((side as usize + 1) * side as usize),
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

// ---- Verdicts first, and a verifier that cannot be rolled back (issue 19). ----

/// A compact JWS of `claims` with header `{"alg":"EdDSA","kid":kid}`, signed here with
/// ed25519-dalek alone.
fn jws(key: &ed25519_dalek::SigningKey, kid: &str, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "EdDSA", "kid": kid}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes())
    )
}

/// Serves fixed answers at `addr` (path prefix → content type and body) until the test ends,
/// as an attacker in the issuer's place would.
fn impostor(addr: &str, answers: Vec<(&'static str, &'static str, String)>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind(addr).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
            let (status, content_type, body) = answers
                .iter()
                .find(|(prefix, _, _)| path.starts_with(prefix))
                .map_or(
                    ("404 Not Found", "text/plain", String::new()),
                    |(_, t, b)| ("200 OK", *t, b.clone()),
                );
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

fn pinned_list(trust: &Path) -> String {
    let list: Value = serde_json::from_str(&std::fs::read_to_string(trust).unwrap()).unwrap();
    list["issuers"][0]["status_list"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_replayed_older_status_list_is_refused_as_stale_and_never_makes_a_revoked_certificate_valid()
 {
    let mut app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let good = licence_of(&app, &staff, &scjg, 1200).await;
    let bad = licence_of(&app, &staff, &scjg, 1201).await;
    let trust = app.dir.path().join("trust.json");
    let (code, out) = onetrip(&trust, &["trust", "add", &app.url]);
    assert_eq!(code, 0, "{out}");
    // Captured before the revocation: genuinely signed, and older.
    let old_list = app.public_page("/.well-known/status-list").await;
    let jwks = app.public_page("/.well-known/jwks.json").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    revoke_record(&app, &bad).await;
    let bad_link = format!("{}/v/{}", app.url, bad["token"].as_str().unwrap());
    let good_link = format!("{}/v/{}", app.url, good["token"].as_str().unwrap());
    let (code, out) = onetrip(&trust, &["verify", &bad_link]);
    assert_eq!((code, first_line(&out)), (1, "verdict: revoked"), "{out}");
    let newer = pinned_list(&trust);
    assert_ne!(newer, old_list);

    // The issuer's address now answers with the old list, and "valid" to every question.
    app.stop();
    let addr = app.url.trim_start_matches("http://").to_owned();
    let valid = json!({"verdict": "valid", "message": "证照真实有效 / This certificate is genuine and valid."})
        .to_string();
    impostor(
        &addr,
        vec![
            (
                "/.well-known/status-list",
                "application/jwt",
                old_list.clone(),
            ),
            ("/.well-known/jwks.json", "application/json", jwks),
            ("/v/", "application/json", valid.clone()),
            ("/api/v1/verify", "application/json", valid),
        ],
    );
    for _ in 0..2 {
        let (code, out) = onetrip(&trust, &["verify", &bad_link]);
        assert_eq!((code, first_line(&out)), (1, "verdict: revoked"), "{out}");
        assert!(out.contains("warning: stale_status"), "{out}");
        assert_eq!(pinned_list(&trust), newer, "the newer pinned list is kept");
    }
    let (code, out) = onetrip(&trust, &["verify", &good_link]);
    assert_eq!(code, 2, "a refused list is no confirmation: {out}");
    assert!(
        first_line(&out).starts_with("verdict: valid (offline; status as of ")
            && first_line(&out).ends_with("北京时间 (UTC+8))"),
        "{out}"
    );
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with("warning: stale_status"),
        "{out}"
    );
}

#[tokio::test]
async fn after_a_key_rotation_the_new_keys_are_pinned_with_the_new_list() {
    let mut app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let old_key = licence_of(&app, &staff, &scjg, 1210).await;
    let trust = app.dir.path().join("trust.json");
    let (code, out) = onetrip(&trust, &["trust", "add", &app.url]);
    assert_eq!(code, 0, "{out}");
    let r = app.post(&app.admin, "/keys/rotate", &json!({})).await;
    assert_eq!(r.status(), 201);
    let new_key = licence_of(&app, &staff, &scjg, 1211).await;
    assert_ne!(new_key["kid"], old_key["kid"]);
    revoke_record(&app, &old_key).await;
    let link = format!("{}/v/{}", app.url, old_key["token"].as_str().unwrap());
    let (code, out) = onetrip(&trust, &["verify", &link]);
    assert_eq!((code, first_line(&out)), (1, "verdict: revoked"), "{out}");

    // Offline from now on: the list signed by the new key still verifies with what is pinned.
    app.stop();
    for extra in [vec![], vec!["--offline"]] {
        let mut args = vec!["verify", link.as_str()];
        args.extend(extra);
        let (code, out) = onetrip(&trust, &args);
        assert_eq!((code, first_line(&out)), (1, "verdict: revoked"), "{out}");
        assert!(!out.contains("does not verify"), "{out}");
    }
    let new_link = format!("{}/v/{}", app.url, new_key["token"].as_str().unwrap());
    let (code, out) = onetrip(&trust, &["verify", "--offline", &new_link]);
    assert_eq!(code, 2, "{out}");
}

/// An issuer of the test's own making: a key, its JWK Set, a token signed at `iat` and a
/// trust list (mode 0600) pinning the set with a status list of `issued_at` and
/// `next_update`. Returns the token and the key set's file.
fn own_issuer(
    dir: &Path,
    iat: chrono::DateTime<chrono::Utc>,
    issued_at: chrono::DateTime<chrono::Utc>,
    next_update: chrono::DateTime<chrono::Utc>,
) -> (String, PathBuf) {
    own_issuer_at(dir, "http://127.0.0.1:9", iat, issued_at, next_update)
}

/// [`own_issuer`] at `url`; the status list it returns is the one pinned.
fn own_issuer_at(
    dir: &Path,
    url: &str,
    iat: chrono::DateTime<chrono::Utc>,
    issued_at: chrono::DateTime<chrono::Utc>,
    next_update: chrono::DateTime<chrono::Utc>,
) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let key = ed25519_dalek::SigningKey::from_bytes(&[77; 32]);
    let kid = onetrip::signing::kid_of(&onetrip::signing::thumbprint(&key.verifying_key()));
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        "status": "active", "created_at": "2020-01-01T00:00:00Z",
        "activated_at": "2020-01-01T00:00:00Z", "retired_at": null, "compromised_since": null,
    }]});
    let token = jws(
        &key,
        &kid,
        &json!({"sub": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
                "iat": iat.timestamp(), "exp": iat.timestamp() + 86_400 * 365 * 5,
                "hid": "91350100M000100Y43", "dig": URL_SAFE_NO_PAD.encode([1u8; 32])}),
    );
    let list = jws(
        &key,
        &kid,
        &json!({"iss": url, "iat": issued_at.timestamp(), "issued_at": issued_at,
                "next_update": next_update, "certificates": [], "keys": []}),
    );
    let trust = dir.join("trust.json");
    let file = json!({"issuers": [{"url": url, "added_at": "2026-01-01T00:00:00Z",
                                   "jwks": jwks, "status_list": list}]});
    std::fs::write(&trust, file.to_string()).unwrap();
    std::fs::set_permissions(&trust, std::fs::Permissions::from_mode(0o600)).unwrap();
    let jwks_path = dir.join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    (token, jwks_path)
}

#[tokio::test]
async fn an_old_pinned_status_list_gives_status_unknown_never_valid() {
    use chrono::{Duration as Days, Utc};
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.json");
    let now = Utc::now();
    // Current: valid offline, exit 2, with its age in Beijing time.
    let (token, _) = own_issuer(
        dir.path(),
        now - Days::days(3),
        now - Days::hours(1),
        now + Days::hours(23),
    );
    let (code, out) = onetrip(&trust, &["verify", "--offline", &token]);
    assert_eq!(code, 2, "{out}");
    assert!(
        first_line(&out).starts_with("verdict: valid (offline; status as of 20"),
        "{out}"
    );
    // Past its next update by less than the 24 hours of grace: still valid, and it says so.
    own_issuer(
        dir.path(),
        now - Days::days(3),
        now - Days::hours(30),
        now - Days::hours(6),
    );
    let (code, out) = onetrip(&trust, &["verify", "--offline", &token]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("due for renewal"), "{out}");
    // Past it by more: status_unknown, exit 4. (400 days old: the same.)
    for age in [Days::hours(60), Days::days(400)] {
        own_issuer(
            dir.path(),
            now - Days::days(500),
            now - age,
            now - age + Days::hours(24),
        );
        let (code, out) = onetrip(&trust, &["verify", "--offline", &token]);
        assert_eq!(
            (code, first_line(&out)),
            (4, "verdict: status_unknown"),
            "{out}"
        );
        assert!(!out.contains("verdict: valid"), "{out}");
    }
    // A current list older than the certificate says nothing of it.
    let (newer, _) = own_issuer(
        dir.path(),
        now - Days::hours(2),
        now - Days::hours(3),
        now + Days::hours(20),
    );
    let (code, out) = onetrip(&trust, &["verify", "--offline", &newer]);
    assert_eq!(
        (code, first_line(&out)),
        (4, "verdict: status_unknown"),
        "{out}"
    );
    assert!(out.contains("older than the certificate"), "{out}");
}

#[tokio::test]
async fn a_trust_list_others_may_write_is_refused_and_given_keys_are_never_called_trusted() {
    use chrono::{Duration as Days, Utc};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.json");
    let now = Utc::now();
    let (token, jwks) = own_issuer(
        dir.path(),
        now - Days::days(3),
        now - Days::hours(1),
        now + Days::hours(23),
    );
    let (code, out) = onetrip(&trust, &["verify", "--offline", &token]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("(trusted)"),
        "a pinned issuer is trusted: {out}"
    );
    // With --jwks FILE the keys came from the file: never "(trusted)".
    let (code, out) = onetrip(
        &trust,
        &[
            "verify",
            "--offline",
            &token,
            "--jwks",
            jwks.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(!out.contains("trusted)"), "{out}");
    assert!(out.contains(jwks.to_str().unwrap()), "{out}");

    for mode in [0o666, 0o620, 0o602] {
        std::fs::set_permissions(&trust, std::fs::Permissions::from_mode(mode)).unwrap();
        let (code, out) = onetrip(&trust, &["verify", "--offline", &token]);
        assert_eq!(code, 3, "{mode:o}: {out}");
        assert_eq!(first_line(&out), "verdict: untrusted_issuer", "{out}");
        assert!(out.contains("chmod 600"), "{out}");
        let (code, out) = onetrip(&trust, &["trust", "list"]);
        assert_ne!(code, 0, "{out}");
    }
    std::fs::set_permissions(&trust, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = onetrip(&trust, &["verify", "--offline", &token]);
    assert_eq!(code, 2, "{out}");
}

#[tokio::test]
async fn a_replayed_list_past_its_next_update_is_no_confirmation_even_when_v_answers_valid() {
    use chrono::{Duration as Days, Utc};
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.json");
    let addr = {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().to_string()
    };
    let url = format!("http://{addr}");
    let now = Utc::now();
    let (token, jwks) = own_issuer_at(
        dir.path(),
        &url,
        now - Days::days(3),
        now - Days::hours(3),
        now - Days::hours(2),
    );
    // The pinned list served again (genuine, but due for renewal two hours ago), and "valid".
    let valid = json!({"verdict": "valid", "message": "ok"}).to_string();
    impostor(
        &addr,
        vec![
            (
                "/.well-known/status-list",
                "application/jwt",
                pinned_list(&trust),
            ),
            (
                "/.well-known/jwks.json",
                "application/json",
                std::fs::read_to_string(jwks).unwrap(),
            ),
            ("/v/", "application/json", valid),
        ],
    );
    let link = format!("{url}/v/{token}");
    let (code, out) = onetrip(&trust, &["verify", &link]);
    assert_eq!(code, 2, "{out}");
    assert!(
        first_line(&out).starts_with("verdict: valid (offline; status as of"),
        "{out}"
    );
    assert!(out.contains("not taken as a confirmation"), "{out}");
}
