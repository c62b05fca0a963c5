//! Resolving a session token: the one place that decides whether a session may be used.
//!
//! State changes resolve a session afresh ([`live_session`]). Reads — authorization,
//! entitlements, introspection — go through [`resolved_session`], which keeps what it read
//! in the replica's [`SessionCache`] for at most `session_cache.ttl` (≤ 1 s): a burst of
//! calls with one token reads the database once, and an ending decided on another replica
//! (a logout, a revoked PIN) is seen within the TTL. A change committed on this replica
//! is seen at once: every [`super::Change`] names the codici fiscali it concerns, and their
//! cached sessions are read again. Whatever the cache holds is checked again against the
//! clock on every use.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pin_domain::{Category, OpaqueToken, Status};
use pin_store::{
    StoreError,
    repo::{
        credentials::{self, StoredCredential},
        persons,
        sessions::{self, Session},
    },
};

use super::Call;
use crate::{error::ServiceError, state::AppState, tokens::token_hash};

/// A session that may be used now, with the credential behind it.
#[derive(Debug)]
pub struct LiveSession {
    /// The session.
    pub session: Session,
    /// Its credential, as stored now.
    pub credential: StoredCredential,
}

/// A session resolved for reading: the session, its credential and its holder's
/// categories (none if the registry no longer lists them), as read at most a TTL ago.
#[derive(Debug)]
pub struct ResolvedSession {
    /// The session.
    pub session: Session,
    /// Its credential.
    pub credential: StoredCredential,
    /// The holder's categories.
    pub categories: BTreeSet<Category>,
}

/// The sessions one replica resolved recently, by token hash, and the codici fiscali whose
/// state this replica changed recently: a session resolved before its holder's last change
/// here is resolved again.
#[derive(Debug, Clone)]
pub struct SessionCache {
    entries: Option<moka::sync::Cache<String, Cached>>,
    changed: Option<moka::sync::Cache<String, Instant>>,
}

#[derive(Debug, Clone)]
struct Cached {
    session: Arc<ResolvedSession>,
    /// When the database read behind it began.
    read_at: Instant,
}

impl SessionCache {
    /// A cache trusting what it holds for `ttl` (none when zero), of at most `capacity`
    /// sessions.
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        if ttl.is_zero() {
            return SessionCache {
                entries: None,
                changed: None,
            };
        }
        SessionCache {
            entries: Some(
                moka::sync::Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
            ),
            // A change older than the TTL is older than every cached session.
            changed: Some(
                moka::sync::Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
            ),
        }
    }

    fn get(&self, token_hash: &str) -> Option<Arc<ResolvedSession>> {
        let cached = self.entries.as_ref()?.get(token_hash)?;
        let changed = self
            .changed
            .as_ref()
            .and_then(|changed| changed.get(cached.session.session.cf.as_str()));
        match changed {
            Some(at) if at >= cached.read_at => None,
            _ => Some(cached.session),
        }
    }

    fn insert(&self, token_hash: String, session: Arc<ResolvedSession>, read_at: Instant) {
        if let Some(entries) = &self.entries {
            entries.insert(token_hash, Cached { session, read_at });
        }
    }

    /// Forgets the session of `token`, ended on this replica.
    pub fn forget(&self, token: &OpaqueToken) {
        if let Some(entries) = &self.entries {
            entries.invalidate(&token_hash(token));
        }
    }

    /// Notes that this replica just committed a change concerning `cf`: its sessions,
    /// PIN or registry record may have moved, so what the cache holds for it is read
    /// again.
    pub fn changed(&self, cf: &str) {
        if let Some(changed) = &self.changed {
            changed.insert(cf.to_owned(), Instant::now());
        }
    }
}

/// The session behind `token` for a read: from the replica's cache when it was resolved
/// less than a TTL ago and is still usable by the clock, otherwise as [`live_session`]
/// resolves it. `SessionInvalid` as there.
pub async fn resolved_session(
    state: &AppState,
    call: &Call,
    token: &str,
) -> Result<Arc<ResolvedSession>, ServiceError> {
    let token = OpaqueToken::parse(token).map_err(|_| ServiceError::SessionInvalid)?;
    let hash = token_hash(&token);
    if let Some(cached) = state.sessions.get(&hash) {
        let session = &cached.session;
        if call.now < session.idle_expires_at
            && call.now < session.absolute_expires_at
            && cached.credential.credential.status(call.now, &state.policy) == Status::Active
        {
            return Ok(cached);
        }
        // Timed out by the clock, or touched since by another replica: ask the database.
    }
    let read_at = Instant::now();
    let live = resolve(state, call, &hash).await?;
    let categories = match persons::get(&state.db, &live.session.cf).await {
        Ok(person) => person.categories,
        Err(StoreError::NotFound { .. }) => BTreeSet::new(),
        Err(other) => return Err(other.into()),
    };
    let resolved = Arc::new(ResolvedSession {
        session: live.session,
        credential: live.credential,
        categories,
    });
    state.sessions.insert(hash, Arc::clone(&resolved), read_at);
    Ok(resolved)
}

/// The session behind `token`, its idle timeout pushed forward; `SessionInvalid` when the
/// token is malformed, unknown, ended or timed out, or its PIN can no longer be used
/// (revoked, replaced, expired).
pub async fn live_session(
    state: &AppState,
    call: &Call,
    token: &str,
) -> Result<LiveSession, ServiceError> {
    let token = OpaqueToken::parse(token).map_err(|_| ServiceError::SessionInvalid)?;
    resolve(state, call, &token_hash(&token)).await
}

async fn resolve(
    state: &AppState,
    call: &Call,
    token_hash: &str,
) -> Result<LiveSession, ServiceError> {
    let idle = state.policy.session_idle_timeout();
    let session = sessions::use_session(&state.db, token_hash, call.now, idle)
        .await?
        .ok_or(ServiceError::SessionInvalid)?;
    let credential = credentials::get(&state.db, session.credential_id).await?;
    if credential.credential.status(call.now, &state.policy) != Status::Active {
        return Err(ServiceError::SessionInvalid);
    }
    Ok(LiveSession {
        session,
        credential,
    })
}
