//! A sign-in session of the window console. A clerk types their API token once; from then on
//! the browser holds only a random secret in an HttpOnly cookie, so the token never sits in a
//! page, a URL or script-readable storage.
//!
//! The store keeps sessions for every node, each under the SHA-256 of its cookie's secret:
//! a copy of the store (a backup, a replica) opens no session. A session remembers the hash
//! of the token it was opened with, and the console looks the token up again on every
//! request: revoking the token ends its sessions at once.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::Sha256Digest;

/// A working day at the window; after that the clerk signs in again.
pub const SESSION_HOURS: i64 = 8;

/// Sessions one API token may hold (a clerk's browsers at the window and in the back office);
/// a further sign-in closes that token's oldest, so one token can never fill the store.
pub const MAX_SESSIONS_PER_TOKEN: usize = 8;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSession {
    /// The SHA-256 of the secret the cookie carries (never the secret itself).
    pub id: Sha256Digest,
    /// The hash of the API token the clerk signed in with (never the token itself).
    pub token_hash: Sha256Digest,
    /// Sent back in every form and in the `X-CSRF-Token` header of script requests.
    pub csrf: String,
    pub opened_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl ConsoleSession {
    /// A session opened now for the token with hash `token_hash`, found again by the cookie
    /// secret `secret`; `csrf` is a second random secret.
    pub fn new(
        secret: &str,
        token_hash: Sha256Digest,
        csrf: String,
        now: DateTime<Utc>,
    ) -> ConsoleSession {
        ConsoleSession {
            id: Sha256Digest::of(secret.as_bytes()),
            token_hash,
            csrf,
            opened_at: now,
            expires_at: now + Duration::hours(SESSION_HOURS),
        }
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }

    /// Compares in constant time, so the token cannot be guessed byte by byte from timings.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        same_secret(&self.csrf, presented)
    }
}

/// Constant-time equality of two secrets (lengths are not secret).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// What opening a session changes: the session stored, and the same token's sessions closed
/// with it (the expired ones, and the oldest beyond [`MAX_SESSIONS_PER_TOKEN`]), decided on
/// the token's sessions as read. A store writes it only while the token's sessions are still
/// exactly `read`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOpening {
    pub session: ConsoleSession,
    pub read: Vec<Sha256Digest>,
    pub closed: Vec<Sha256Digest>,
}

impl SessionOpening {
    pub fn decide(session: ConsoleSession, existing: &[ConsoleSession]) -> SessionOpening {
        let now = session.opened_at;
        let mut live: Vec<&ConsoleSession> = existing.iter().filter(|s| s.is_live(now)).collect();
        live.sort_by_key(|s| (s.opened_at, s.id.clone()));
        let beyond = (live.len() + 1).saturating_sub(MAX_SESSIONS_PER_TOKEN);
        let closed = existing
            .iter()
            .filter(|s| !s.is_live(now))
            .chain(live.into_iter().take(beyond))
            .map(|s| s.id.clone())
            .collect();
        SessionOpening {
            session,
            read: existing.iter().map(|s| s.id.clone()).collect(),
            closed,
        }
    }

    /// Whether `stored`, the ids of the token's sessions in the store now, are those this
    /// opening was decided on (in any order).
    pub fn decided_on(&self, stored: &[Sha256Digest]) -> bool {
        let mut read = self.read.clone();
        let mut stored = stored.to_vec();
        read.sort();
        stored.sort();
        read == stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(n: i64, at: DateTime<Utc>) -> ConsoleSession {
        ConsoleSession::new(
            &format!("secret {n}"),
            Sha256Digest::of(b"t"),
            "c".into(),
            at,
        )
    }

    #[test]
    fn a_session_lives_eight_hours() {
        let now = Utc::now();
        let session = opened(0, now);
        assert!(session.is_live(now + Duration::hours(7)));
        assert!(!session.is_live(now + Duration::hours(8)));
        assert_ne!(session.id, Sha256Digest::of(b"c"));
        assert_eq!(session.id, Sha256Digest::of(b"secret 0"));
    }

    #[test]
    fn a_token_keeps_its_newest_sessions_and_loses_its_expired_ones() {
        let now = Utc::now();
        let mut existing: Vec<ConsoleSession> = (0..MAX_SESSIONS_PER_TOKEN as i64 + 2)
            .map(|i| opened(i, now - Duration::minutes(60 - i)))
            .collect();
        existing.push(opened(99, now - Duration::hours(9)));
        let opening = SessionOpening::decide(opened(100, now), &existing);
        let expected: Vec<Sha256Digest> = [existing[10].id.clone()]
            .into_iter()
            .chain(existing[..3].iter().map(|s| s.id.clone()))
            .collect();
        assert_eq!(opening.closed, expected, "the expired one and the 3 oldest");
        assert_eq!(
            existing.len() + 1 - opening.closed.len(),
            MAX_SESSIONS_PER_TOKEN
        );
        assert!(
            opening.decided_on(
                &existing
                    .iter()
                    .rev()
                    .map(|s| s.id.clone())
                    .collect::<Vec<_>>()
            )
        );
        assert!(!opening.decided_on(&[]));
    }

    #[test]
    fn csrf_comparison() {
        let session = opened(0, Utc::now());
        assert!(session.csrf_matches("c"));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches("cc"));
    }
}
