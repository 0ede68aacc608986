//! Private signing keys of several nodes, sealed in PostgreSQL under a key-encryption key
//! (XChaCha20-Poly1305): never in the clear in a node's directory, the database, a dump of it
//! or a log; opened by libsodium (a second implementation) to the key the JWK Set publishes;
//! sealed again under a new key-encryption key by `onetrip keys reseal` while nodes serve.
//! They run in the PostgreSQL pass.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn skipped() -> bool {
    if !on_postgres() {
        eprintln!("runs in the PostgreSQL pass (STORE_UNDER_TEST=postgres)");
    }
    !on_postgres()
}

/// The id the service records beside each key it seals: the first 8 bytes of the
/// key-encryption key's SHA-256, hex.
fn kek_id(kek: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(kek)[..8])
}

fn read_kek(path: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(path).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
        .try_into()
        .unwrap()
}

struct SealedRow {
    thumbprint: String,
    kek_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

async fn sealed_rows(url: &str) -> Vec<SealedRow> {
    use sqlx::{Connection, Row};
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("SELECT thumbprint, kek_id, nonce, ciphertext FROM sealed_keys ORDER BY thumbprint")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| SealedRow {
            thumbprint: row.get("thumbprint"),
            kek_id: row.get("kek_id"),
            nonce: row.get("nonce"),
            ciphertext: row.get("ciphertext"),
        })
        .collect()
}

/// Opens a sealed key with libsodium (PyNaCl's binding of
/// `crypto_aead_xchacha20poly1305_ietf_decrypt`) and answers its seed and its Ed25519 public
/// key, both base64url.
fn open_with_libsodium(row: &SealedRow, kek: &[u8; 32]) -> (String, String) {
    let script = r#"
import sys, base64
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.signing import SigningKey
kek, nonce, ciphertext, thumbprint = (bytes.fromhex(a) for a in sys.argv[1:5])
aad = b"onetrip sealed Ed25519 seed v1\0" + thumbprint
seed = crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, kek)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print(b64(seed), b64(bytes(SigningKey(seed).verify_key)))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &hex::encode(kek),
            &hex::encode(&row.nonce),
            &hex::encode(&row.ciphertext),
            &hex::encode(row.thumbprint.as_bytes()),
        ])
        .output()
        .expect("python3 with PyNaCl (.ci/python-requirements.txt) opens sealed keys");
    assert!(
        out.status.success(),
        "libsodium could not open the sealed key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (seed, public) = text.trim().split_once(' ').unwrap();
    (seed.to_owned(), public.to_owned())
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Two nodes with keys directories of their own sign with one key that no file holds: the
/// database keeps it sealed under the key-encryption key it names, libsodium opens it to the
/// public key of the JWK Set, and neither a dump of the database nor the nodes' logs hold
/// its seed.
#[tokio::test]
async fn private_keys_are_sealed_in_the_database_and_libsodium_opens_them() {
    if skipped() {
        return;
    }
    let log_dir = tempfile::tempdir().unwrap();
    let launch = Launch {
        stderr: Some(log_dir.path().join("nodes.log")),
        ..Launch::default()
    };
    let cluster = Nodes::spawn_launched(2, "", launch).await;
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    let staff = Staff::new(a).await;
    let scjg = a.token("approver", json!({"department": "SCJG"})).await;
    let issued = issued_licence_of(b, &staff, &scjg, &enterprise(1)).await;
    let jwks = a.jwks().await;
    assert_eq!(b.jwks().await, jwks);
    let active = active_key(&jwks);
    assert_eq!(issued["kid"], active["kid"]);

    let pems: Vec<_> = files_under(a.dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    assert_eq!(pems, Vec::<std::path::PathBuf>::new(), "no key is a file");

    let kek = read_kek(&a.dir.path().join("kek-1"));
    let url = a.database_url().unwrap();
    let rows = sealed_rows(url).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kek_id, kek_id(&kek));
    let (seed, public) = open_with_libsodium(&rows[0], &kek);
    assert_eq!(
        public,
        active["x"].as_str().unwrap(),
        "the sealed key is the published one"
    );

    let seed_bytes = URL_SAFE_NO_PAD.decode(&seed).unwrap();
    let dump = Command::new("pg_dump")
        .args(["--data-only", url])
        .output()
        .expect("pg_dump (PostgreSQL's client programs)");
    assert!(dump.status.success(), "{dump:?}");
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    assert!(
        dump.contains(&hex::encode(&rows[0].ciphertext)),
        "the dump holds the sealed key"
    );
    let logs = std::fs::read_to_string(log_dir.path().join("nodes.log")).unwrap_or_default();
    for form in [
        seed.clone(),
        hex::encode(&seed_bytes),
        base64::engine::general_purpose::STANDARD.encode(&seed_bytes),
    ] {
        assert!(
            !dump.contains(&form),
            "the seed is in the database dump as {form}"
        );
        assert!(
            !logs.contains(&form),
            "the seed is in a node's log as {form}"
        );
    }
}

/// A change of key-encryption key while two nodes serve: restarted one by one with the new key
/// and the previous one, they keep issuing while `onetrip keys reseal` seals every key again;
/// then a rotation is sealed under the new key, a node holding only the new key serves, and
/// one holding only the old key is refused with both key ids named.
#[tokio::test]
async fn a_reseal_under_a_new_key_encryption_key_runs_while_nodes_serve() {
    if skipped() {
        return;
    }
    let mut cluster = Nodes::spawn(2).await;
    let dir = cluster.nodes[0].dir.path().to_owned();
    let (old, new) = (dir.join("kek-1"), dir.join("kek-2"));
    let new_kek = write_kek(&new);
    let staff = Staff::new(&cluster.nodes[0]).await;
    let scjg = cluster.nodes[0]
        .token("approver", json!({"department": "SCJG"}))
        .await;
    issued_licence_of(&cluster.nodes[0], &staff, &scjg, &enterprise(1)).await;

    for node in &mut cluster.nodes {
        node.launch.env.extend([
            (
                "ONETRIP_KEY_ENCRYPTION_KEY_FILE".to_owned(),
                new.display().to_string(),
            ),
            (
                "ONETRIP_PREVIOUS_KEY_ENCRYPTION_KEY_FILE".to_owned(),
                old.display().to_string(),
            ),
        ]);
        node.restart();
    }
    let both = [
        ("ONETRIP_KEY_ENCRYPTION_KEY_FILE", new.as_path()),
        ("ONETRIP_PREVIOUS_KEY_ENCRYPTION_KEY_FILE", old.as_path()),
    ];
    let reseal = {
        let (dir, both) = (dir.clone(), both.map(|(k, v)| (k, v.to_owned())));
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let env: Vec<(&str, &Path)> = both.iter().map(|(k, v)| (*k, v.as_path())).collect();
            cli_with(&dir, &env, &["keys", "reseal"])
        })
    };
    let mut n = 2;
    while !reseal.is_finished() {
        let node = &cluster.nodes[n as usize % 2];
        issued_licence_of(node, &staff, &scjg, &enterprise(n)).await;
        n += 1;
    }
    let resealed = reseal.await.unwrap();
    assert!(resealed.status.success(), "{resealed:?}");
    let said = String::from_utf8_lossy(&resealed.stdout);
    assert!(
        said.contains(&format!(
            "1 keys sealed again under key-encryption key {}",
            kek_id(&new_kek)
        )),
        "{said}"
    );
    assert!(n > 2, "the nodes issued while the reseal ran");
    for node in &cluster.nodes {
        issued_licence_of(node, &staff, &scjg, &enterprise(n)).await;
        n += 1;
    }
    let url = cluster.nodes[0].database_url().unwrap().to_owned();
    let rows = sealed_rows(&url).await;
    assert!(rows.iter().all(|r| r.kek_id == kek_id(&new_kek)));
    let (_, public) = open_with_libsodium(&rows[0], &new_kek);
    assert_eq!(public, active_key(&cluster.nodes[1].jwks().await)["x"]);

    let a = &cluster.nodes[0];
    let r = a.post(&a.admin, "/keys/rotate", &json!({})).await;
    assert_eq!(r.status(), 201);
    let rotated: Value = r.json().await.unwrap();
    let rows = sealed_rows(&url).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.kek_id == kek_id(&new_kek)));

    let b = &mut cluster.nodes[1];
    b.launch
        .env
        .retain(|(k, _)| k != "ONETRIP_PREVIOUS_KEY_ENCRYPTION_KEY_FILE");
    b.restart();
    let issued = issued_licence_of(b, &staff, &scjg, &enterprise(n)).await;
    assert_eq!(
        issued["kid"], rotated["kid"],
        "the node with the new key alone signs"
    );

    let refused = cli_with(&dir, &[], &["keys", "list"]);
    assert!(!refused.status.success(), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    let old_id = kek_id(&read_kek(&old));
    assert!(
        said.contains(&kek_id(&new_kek)) && said.contains(&old_id),
        "the refusal names both keys: {said}"
    );

    let again = cli_with(&dir, &both, &["keys", "reseal"]);
    assert!(again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 keys sealed again"),
        "{again:?}"
    );
}
