//! What changed between two versions of a certificate, as a verifier of the old one is
//! shown it.

use serde::Serialize;
use utoipa::ToSchema;

use super::CertContent;

/// One difference between two versions of a certificate, as a verifier is shown it: a
/// removed item has no `after`, an added one no `before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Change {
    pub what: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What changed from `old` to `new`, field by field: the holder's name, every template field,
/// the items and the expiry date.
pub fn changes(old: &CertContent, new: &CertContent) -> Vec<Change> {
    let mut found = Vec::new();
    let mut differ = |what: &str, before: Option<&str>, after: Option<&str>| {
        if before != after {
            found.push(Change {
                what: what.to_owned(),
                before: before.map(str::to_owned),
                after: after.map(str::to_owned),
            });
        }
    };
    differ(
        "持证人 Holder",
        Some(old.holder.name()),
        Some(new.holder.name()),
    );
    let value = |c: &CertContent, key: &str| {
        c.fields
            .iter()
            .find(|f| f.key == key)
            .map(|f| (f.label.clone(), f.value.clone()))
    };
    let mut keys: Vec<&str> = old.fields.iter().map(|f| f.key.as_str()).collect();
    for key in new.fields.iter().map(|f| f.key.as_str()) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in keys {
        let (before, after) = (value(old, key), value(new, key));
        let label = before
            .as_ref()
            .or(after.as_ref())
            .map_or(key.to_owned(), |(label, _)| label.clone());
        differ(
            &label,
            before.as_ref().map(|(_, v)| v.as_str()),
            after.as_ref().map(|(_, v)| v.as_str()),
        );
    }
    for item in &old.items {
        if !new.items.iter().any(|i| i.code == item.code) {
            differ("事项 Item", Some(&item.name), None);
        }
    }
    for item in &new.items {
        match old.items.iter().find(|i| i.code == item.code) {
            None => differ("事项 Item", None, Some(&item.name)),
            Some(before) => differ("事项 Item", Some(&before.name), Some(&item.name)),
        }
    }
    differ(
        "有效期至 Valid until",
        Some(&old.expiry_date.to_string()),
        Some(&new.expiry_date.to_string()),
    );
    found
}
