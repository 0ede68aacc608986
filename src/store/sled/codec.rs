//! Stored values are one schema-version byte followed by JSON. A reader meeting a version it
//! does not know refuses the value instead of misreading it.

use serde::{Serialize, de::DeserializeOwned};

use crate::store::StoreError;

const SCHEMA_VERSION: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![SCHEMA_VERSION];
    serde_json::to_writer(&mut bytes, value).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(bytes)
}

pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    match bytes.split_first() {
        Some((&SCHEMA_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))
        }
        Some((version, _)) => Err(corrupt(format!("unknown schema version {version}"))),
        None => Err(corrupt("empty value".into())),
    }
}

/// Every value of a tree, decoded, in key order.
pub fn decode_all<T: DeserializeOwned>(tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
    tree.iter()
        .map(|entry| {
            let (key, value) = entry?;
            decode(&key, &value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_unknown_versions() {
        let bytes = encode(&vec!["营业执照".to_string()]).unwrap();
        assert_eq!(bytes[0], SCHEMA_VERSION);
        let back: Vec<String> = decode(b"k", &bytes).unwrap();
        assert_eq!(back, ["营业执照"]);
        let mut future = bytes.clone();
        future[0] = 99;
        assert!(decode::<Vec<String>>(b"k", &future).is_err());
        assert!(decode::<Vec<String>>(b"k", &[]).is_err());
    }
}
