//! Resolving a session token: the one place that decides whether a session may be used.

use std::collections::BTreeSet;

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

impl LiveSession {
    /// The holder's categories from the registry; none if the registry no longer lists them.
    pub async fn categories(&self, state: &AppState) -> Result<BTreeSet<Category>, ServiceError> {
        match persons::get(&state.db, &self.session.cf).await {
            Ok(person) => Ok(person.categories),
            Err(StoreError::NotFound { .. }) => Ok(BTreeSet::new()),
            Err(other) => Err(other.into()),
        }
    }
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
    let idle = state.policy.session_idle_timeout();
    let session = sessions::use_session(&state.db, &token_hash(&token), call.now, idle)
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
