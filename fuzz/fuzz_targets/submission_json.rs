//! JSON as clients send it (a submission, or a window check's digest list) into the public
//! domain parsers the handlers call: `Holder::parse` (and through it `Uscc::parse` /
//! `IdNumber::parse`), `MaterialName::parse`, `Sha256Digest::parse`. The route DTOs are private,
//! so their shape is mirrored here. What parses must print back to something that parses to
//! the same value.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use onetrip::domain::holder::Holder;
use onetrip::domain::{IdNumber, MaterialName, Sha256Digest, Uscc};
use serde::Deserialize;

#[derive(Deserialize)]
struct HolderBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Submission {
    holder: HolderBody,
    #[allow(dead_code)]
    kind: String,
    materials: Vec<Named>,
    #[serde(default)]
    #[allow(dead_code)]
    fields: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Digest {
    name: String,
    sha256: String,
}

#[derive(Deserialize)]
struct Digests {
    digests: Vec<Digest>,
}

fn material(name: &str) {
    if let Ok(parsed) = MaterialName::parse(name) {
        assert_eq!(MaterialName::parse(parsed.as_str()).as_ref(), Ok(&parsed));
    }
}

fn identity(id: &str) {
    if let Ok(uscc) = Uscc::parse(id) {
        assert_eq!(Uscc::parse(uscc.as_str()).as_ref(), Ok(&uscc));
    }
    if let Ok(number) = IdNumber::parse(id) {
        assert_eq!(IdNumber::parse(number.as_str()).as_ref(), Ok(&number));
        let masked = number.masked();
        assert_eq!(masked.chars().count(), number.as_str().chars().count());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<Submission>(data) {
        identity(&body.holder.id);
        if let Ok(holder) = Holder::parse(&body.holder.kind, &body.holder.id, &body.holder.name) {
            let again = Holder::parse(&body.holder.kind, holder.id(), holder.name());
            assert_eq!(again.as_ref().ok(), Some(&holder));
            let _ = holder.public_id();
        }
        for m in &body.materials {
            material(&m.name);
        }
    }
    if let Ok(body) = serde_json::from_slice::<Digests>(data) {
        for d in &body.digests {
            material(&d.name);
            if let Ok(digest) = Sha256Digest::parse(&d.sha256) {
                assert_eq!(Sha256Digest::parse(digest.as_str()).as_ref(), Ok(&digest));
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        identity(text);
        material(text);
        let _ = Sha256Digest::parse(text);
    }
});
