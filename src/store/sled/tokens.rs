use chrono::Utc;

use super::Trees;
use super::codec::{decode, decode_all, encode};
use crate::domain::token::TokenRecord;
use crate::domain::{Sha256Digest, TokenId};
use crate::store::StoreError;

impl Trees {
    #[tracing::instrument(skip(self, hash), fields(token = %record.id))]
    pub async fn insert_token(
        &self,
        hash: &Sha256Digest,
        record: &TokenRecord,
    ) -> Result<(), StoreError> {
        let value = encode(record)?;
        self.exclusive(|| {
            self.tokens.insert(hash.as_str(), value)?;
            Ok(())
        })
        .await
    }

    pub fn token(&self, hash: &Sha256Digest) -> Result<Option<TokenRecord>, StoreError> {
        self.tokens
            .get(hash.as_str())?
            .map(|bytes| decode(hash.as_str().as_bytes(), &bytes))
            .transpose()
    }
}

impl Trees {
    /// Every token record (never a secret: only hashes are stored), oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut records: Vec<TokenRecord> = decode_all(&self.tokens)?;
        records.sort_by_key(|r| r.created_at);
        Ok(records)
    }

    /// Marks the token with public id `id` revoked; `None` if there is no such token.
    pub async fn revoke_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        self.exclusive(|| {
            for entry in self.tokens.iter() {
                let (key, value) = entry?;
                let mut record: TokenRecord = decode(&key, &value)?;
                if &record.id != id {
                    continue;
                }
                if record.revoked_at.is_none() {
                    record.revoked_at = Some(Utc::now());
                    self.tokens.insert(key, encode(&record)?)?;
                }
                return Ok(Some(record));
            }
            Ok(None)
        })
        .await
    }
}
