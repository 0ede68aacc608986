//! The signed status list with 10^5 revoked certificates (ONETRIP_BENCH_N sets the count):
//! the time to build and sign it, its size as served and gzipped, and the time an offline
//! verifier takes to check it. The store's part (reading the status index) is one sled scan
//! of the listed entries and is not included.
//!
//! `cargo bench --bench status_list`

use std::io::Write;
use std::time::Instant;

use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use onetrip::domain::certificate::CertStatus;
use onetrip::domain::revocation::RevocationReason;
use onetrip::domain::status_list::StatusList;
use onetrip::signing::{KeyRing, kid_of, sign_jws, thumbprint};
use serde_json::json;

fn main() {
    let n: usize = std::env::var("ONETRIP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let now = Utc::now();
    let statuses: Vec<(String, CertStatus)> = (0..n)
        .map(|i| {
            (
                format!("1.2.156.3005.2.11100000000013338W011.11430000006122244L.2026{i:07}.001.U"),
                CertStatus::Revoked {
                    reason: RevocationReason::Superseded,
                    text: "换发新证".into(),
                    revoked_at: now - Duration::minutes(i as i64),
                },
            )
        })
        .collect();
    let key = SigningKey::from_bytes(&[9; 32]);
    let kid = kid_of(&thumbprint(&key.verifying_key()));

    let started = Instant::now();
    let list = StatusList::build(
        "https://zwfw.example.gov.cn",
        now,
        now + Duration::hours(1),
        &statuses,
        &[],
    );
    let jws = sign_jws(&key, &kid, Some("onetrip-status-list+jwt"), &list).unwrap();
    let build = started.elapsed();

    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(jws.as_bytes()).unwrap();
    let gzipped = gzip.finish().unwrap().len();

    let ring = KeyRing::from_jwks(&json!({"keys": [{
        "kid": kid, "x": base64_url(key.verifying_key().as_bytes()), "status": "active",
        "created_at": now - Duration::days(1), "activated_at": now - Duration::days(1),
        "retired_at": null, "compromised_since": null,
    }]}))
    .unwrap();
    let started = Instant::now();
    let read = onetrip::offline::read_status_list(&jws, &ring, Some("https://zwfw.example.gov.cn"))
        .unwrap();
    let verify = started.elapsed();
    assert_eq!(read.certificates.len(), n);

    println!("status list with {n} revoked certificates");
    println!("build and sign: {:8.1} ms", build.as_secs_f64() * 1000.0);
    println!(
        "size:          {:8.1} MB as served, {:.1} MB gzipped",
        jws.len() as f64 / 1e6,
        gzipped as f64 / 1e6
    );
    println!("verify (CLI):  {:8.1} ms", verify.as_secs_f64() * 1000.0);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
