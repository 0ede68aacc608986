//! Certificate template files (TOML): parsing and linting must refuse, never panic, and a
//! template that parses must check a submission's fields without panicking.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use onetrip::domain::template::Template;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(template) = Template::parse(source) {
        let _ = template.check_fields(&BTreeMap::new());
        let filled: BTreeMap<String, String> = template
            .fields
            .iter()
            .map(|f| (f.key.clone(), "示例".repeat(f.max_chars.min(300))))
            .collect();
        let _ = template.check_fields(&filled);
    }
});
