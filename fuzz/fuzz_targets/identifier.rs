//! Certificate identifiers (GB/T 36904 shape, MOD 37,36 check character): what parses must
//! re-parse identically, and its sequence segment is a year and seven digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onetrip::domain::identifier::{Identifier, mod37_36};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = mod37_36(text);
    if let Ok(id) = Identifier::parse(text) {
        assert_eq!(Identifier::parse(id.as_str()).as_ref(), Ok(&id));
        let sequence = id.as_str().rsplit('.').nth(2).expect("six segments");
        assert!(sequence.len() == 11 && sequence.bytes().all(|b| b.is_ascii_digit()));
    }
});
