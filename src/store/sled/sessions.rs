use chrono::{DateTime, Utc};
use sled::Transactional;

use super::Trees;
use super::codec::{decode, encode};
use super::submissions::{InTransaction, abort_with};
use crate::domain::Sha256Digest;
use crate::domain::session::{ConsoleSession, SessionOpening};
use crate::store::{Conflict, StoreError};

/// The key of a session in the by-token index: the token's hash, then the session's id.
pub(super) fn by_token(token_hash: &Sha256Digest, id: &Sha256Digest) -> String {
    format!("{token_hash}{id}")
}

impl Trees {
    pub fn session(&self, id: &Sha256Digest) -> Result<Option<ConsoleSession>, StoreError> {
        self.sessions
            .get(id.as_str())?
            .map(|bytes| decode(id.as_str().as_bytes(), &bytes))
            .transpose()
    }

    pub fn sessions_of_token(
        &self,
        token_hash: &Sha256Digest,
    ) -> Result<Vec<ConsoleSession>, StoreError> {
        let mut found = Vec::new();
        for entry in self.sessions_by_token.scan_prefix(token_hash.as_str()) {
            let (key, _) = entry?;
            let id = String::from_utf8_lossy(&key[token_hash.as_str().len()..]).into_owned();
            let id = Sha256Digest::parse(&id).map_err(|e| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: e.to_string(),
            })?;
            if let Some(session) = self.session(&id)? {
                found.push(session);
            }
        }
        Ok(found)
    }

    /// Writers take turns (`exclusive`), so the check and the write are one step.
    pub async fn open_session(&self, opening: &SessionOpening) -> Result<(), StoreError> {
        let session = &opening.session;
        let value = encode(session)?;
        self.exclusive(|| {
            let stored: Vec<Sha256Digest> = self
                .sessions_of_token(&session.token_hash)?
                .into_iter()
                .map(|s| s.id)
                .collect();
            if !opening.decided_on(&stored) {
                return Err(Conflict::Changed("the token's console sessions".into()).into());
            }
            (&self.sessions, &self.sessions_by_token)
                .transaction(|(sessions, index)| {
                    for id in &opening.closed {
                        sessions.remove(id.as_str())?;
                        index.remove(by_token(&session.token_hash, id).as_str())?;
                    }
                    sessions.insert(session.id.as_str(), value.as_slice())?;
                    index.insert(by_token(&session.token_hash, &session.id).as_str(), &[])?;
                    InTransaction::Ok(())
                })
                .map_err(abort_with)
        })
        .await
    }

    pub async fn close_session(&self, id: &Sha256Digest) -> Result<(), StoreError> {
        self.exclusive(|| {
            let Some(session) = self.session(id)? else {
                return Ok(());
            };
            (&self.sessions, &self.sessions_by_token)
                .transaction(|(sessions, index)| {
                    sessions.remove(id.as_str())?;
                    index.remove(by_token(&session.token_hash, id).as_str())?;
                    InTransaction::Ok(())
                })
                .map_err(abort_with)
        })
        .await
    }

    pub async fn remove_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.exclusive(|| {
            let mut removed = 0;
            for entry in self.sessions.iter() {
                let (key, value) = entry?;
                let session: ConsoleSession = decode(&key, &value)?;
                if session.is_live(now) {
                    continue;
                }
                self.sessions.remove(&key)?;
                self.sessions_by_token
                    .remove(by_token(&session.token_hash, &session.id).as_str())?;
                removed += 1;
            }
            Ok(removed)
        })
        .await
    }
}
