//! Console sign-ins, kept in the store so that any node serves any request of a signed-in
//! clerk, signing out on one node ends the session on all of them, and the per-token cap
//! holds across nodes. The rules are in `domain::session`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};

use super::{ErrorKind, ServiceError};
use crate::domain::Sha256Digest;
use crate::domain::session::{ConsoleSession, SessionOpening};
use crate::store::{Conflict, Store, StoreError};

/// How often ended sessions are removed from the store.
const TIDY_EVERY: Duration = Duration::from_secs(600);

/// How many times an opening is decided again after another sign-in of the same token came
/// first.
const ATTEMPTS: usize = 8;

/// 256 random bits, base64url: unguessable and safe in a cookie or a form field.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Opens a session for the token whose hash is `token_hash` (the caller has checked the
/// token); answers the secret for the cookie and the session. The token's oldest sessions
/// beyond its cap are closed.
pub async fn open(
    store: &dyn Store,
    token_hash: Sha256Digest,
    now: DateTime<Utc>,
) -> Result<(String, ConsoleSession), ServiceError> {
    let secret = random_secret();
    let session = ConsoleSession::new(&secret, token_hash, random_secret(), now);
    for _ in 0..ATTEMPTS {
        let existing = store.sessions_of_token(&session.token_hash).await?;
        let opening = SessionOpening::decide(session.clone(), &existing);
        match store.open_session(&opening).await {
            Err(StoreError::Conflict(Conflict::Changed(_))) => continue,
            other => other?,
        }
        return Ok((secret, session));
    }
    Err(ServiceError::new(
        ErrorKind::Unavailable,
        "busy",
        "同一令牌正在多处同时登录，请稍后重试 / this token is signing in in many places at once; retry shortly",
    ))
}

/// The live session whose cookie carries `secret`.
pub async fn find(
    store: &dyn Store,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<ConsoleSession>, ServiceError> {
    let id = Sha256Digest::of(secret.as_bytes());
    Ok(store.session(&id).await?.filter(|s| s.is_live(now)))
}

/// Ends the session whose cookie carries `secret`, on every node.
pub async fn close(store: &dyn Store, secret: &str) -> Result<(), ServiceError> {
    Ok(store
        .close_session(&Sha256Digest::of(secret.as_bytes()))
        .await?)
}

/// Removes ended sessions every [`TIDY_EVERY`], for as long as the service runs (each node
/// does; removing what another node removed first is nothing).
pub async fn keep_tidy(store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(TIDY_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match store.remove_expired_sessions(Utc::now()).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "ended console sessions removed"),
            Err(e) => tracing::debug!(error = %e, "ended console sessions not removed"),
        }
    }
}
