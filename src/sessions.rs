//! Sign-in sessions of the window console (`/console`).
//!
//! A clerk types their API token once; from then on the browser holds only a random session
//! id in an HttpOnly cookie, so the token never sits in a page, a URL or script-readable
//! storage. The table lives in memory: a restart signs every clerk out, which costs them one
//! paste of their token and spares us storing session secrets on disk.
//!
//! A session remembers the SHA-256 of the token it was opened with, and the console looks the
//! token up again on every request: revoking the API token ends its sessions at once.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;

use crate::domain::Sha256Digest;
use crate::domain::token::TokenRecord;

/// A working day at the window; after that the clerk signs in again.
pub const SESSION_HOURS: i64 = 8;

/// Sessions beyond this many are refused rather than letting sign-ins exhaust memory.
const MAX_SESSIONS: usize = 10_000;

/// Sessions one API token may hold (a clerk's browsers at the window and in the back office);
/// a further sign-in closes that token's oldest, so one token can never fill the table.
pub const MAX_SESSIONS_PER_TOKEN: usize = 8;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The hash of the API token the clerk signed in with (never the token itself).
    pub token_hash: Sha256Digest,
    pub record: TokenRecord,
    /// Sent back in every form and in the `X-CSRF-Token` header of script requests.
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Compares in constant time, so the token cannot be guessed byte by byte from timings.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        same_secret(&self.csrf, presented)
    }
}

/// Constant-time equality of two secrets (lengths are not secret).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The in-memory session table, keyed by the random id the cookie carries.
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
}

/// 256 random bits, base64url: unguessable and safe in a cookie or a form field.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, thiserror::Error)]
#[error("too many open console sessions")]
pub struct TooManySessions;

impl Sessions {
    /// Opens a session; returns its id (for the cookie) and the session.
    pub fn open(
        &self,
        token_hash: Sha256Digest,
        record: TokenRecord,
        now: DateTime<Utc>,
    ) -> Result<(String, Session), TooManySessions> {
        let session = Session {
            token_hash,
            record,
            csrf: random_secret(),
            expires_at: now + Duration::hours(SESSION_HOURS),
        };
        let id = random_secret();
        let mut table = self.lock();
        table.retain(|_, s| s.expires_at > now);
        let mut own: Vec<(String, DateTime<Utc>)> = table
            .iter()
            .filter(|(_, s)| s.token_hash == session.token_hash)
            .map(|(id, s)| (id.clone(), s.expires_at))
            .collect();
        if own.len() >= MAX_SESSIONS_PER_TOKEN {
            own.sort_by_key(|(_, expires_at)| *expires_at);
            for (oldest, _) in own.iter().take(own.len() + 1 - MAX_SESSIONS_PER_TOKEN) {
                table.remove(oldest);
            }
        }
        if table.len() >= MAX_SESSIONS {
            return Err(TooManySessions);
        }
        table.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session with this id; an expired one is dropped and not returned.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut table = self.lock();
        match table.get(id) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                table.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// A poisoned lock only means another request panicked mid-insert; the map is still whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, TokenId};

    fn record() -> TokenRecord {
        TokenRecord {
            id: TokenId("tok_0123456789ab".into()),
            role: Role::Clerk,
            department: None,
            holder: None,
            created_at: Utc::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn a_session_lives_eight_hours_then_is_gone() {
        let sessions = Sessions::default();
        let now = Utc::now();
        let (id, session) = sessions
            .open(Sha256Digest::of(b"t"), record(), now)
            .unwrap();
        assert!(sessions.get(&id, now + Duration::hours(7)).is_some());
        assert!(sessions.get(&id, now + Duration::hours(8)).is_none());
        assert!(
            sessions.get(&id, now).is_none(),
            "expired sessions are dropped"
        );
        assert_ne!(id, session.csrf);
    }

    #[test]
    fn closing_and_unknown_ids() {
        let sessions = Sessions::default();
        let now = Utc::now();
        let (id, _) = sessions
            .open(Sha256Digest::of(b"t"), record(), now)
            .unwrap();
        assert!(sessions.get("nope", now).is_none());
        sessions.close(&id);
        assert!(sessions.get(&id, now).is_none());
    }

    #[test]
    fn a_token_holds_a_bounded_number_of_sessions_and_its_oldest_go_first() {
        let sessions = Sessions::default();
        let now = Utc::now();
        let ids: Vec<String> = (0..MAX_SESSIONS_PER_TOKEN as i64 + 3)
            .map(|i| {
                let at = now + Duration::seconds(i);
                sessions
                    .open(Sha256Digest::of(b"t"), record(), at)
                    .unwrap()
                    .0
            })
            .collect();
        let later = now + Duration::seconds(60);
        let live: Vec<bool> = ids
            .iter()
            .map(|id| sessions.get(id, later).is_some())
            .collect();
        assert_eq!(live.iter().filter(|l| **l).count(), MAX_SESSIONS_PER_TOKEN);
        assert!(live[..3].iter().all(|l| !l), "the three oldest were closed");
        // Another token is not affected.
        let (other, _) = sessions
            .open(Sha256Digest::of(b"u"), record(), later)
            .unwrap();
        assert!(sessions.get(&other, later).is_some());
        assert!(sessions.get(ids.last().unwrap(), later).is_some());
    }

    #[test]
    fn csrf_comparison() {
        let sessions = Sessions::default();
        let (_, session) = sessions
            .open(Sha256Digest::of(b"t"), record(), Utc::now())
            .unwrap();
        let csrf = session.csrf.clone();
        assert!(session.csrf_matches(&csrf));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches(&csrf[1..]));
    }
}
