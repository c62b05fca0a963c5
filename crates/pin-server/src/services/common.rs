//! Pieces every handler uses: idempotent replay, token hashing, audit records, and the
//! uniform refusals that must not tell one failure from another.

use std::collections::{BTreeMap, HashMap};

use pin_store::{
    DatabaseTransaction, StoreError,
    repo::{
        audit::{self, ActorKind, NewAuditRecord},
        idempotency,
    },
};
use prost::Message;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    auth::CallContext,
    error::{ERROR_DOMAIN, ServiceError},
    state::AppState,
};

/// Hex SHA-256: how tokens and request fingerprints are stored.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks a caller's request id: 1-64 characters from `[A-Za-z0-9._:-]`.
pub fn request_id(field: &str, value: &str) -> Result<String, ServiceError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ServiceError::invalid(
            field,
            "REQUEST_ID",
            "request_id must be 1-64 characters from letters, digits and . _ : -",
        ))
    }
}

/// The answer recorded for an earlier request with the same id, if any. The same id with a
/// different request is `ALREADY_EXISTS`.
pub async fn replay<R: Message + Default>(
    db: &impl pin_store::ConnectionTrait,
    context: &CallContext,
    request_id: &str,
    fingerprint: &str,
) -> Result<Option<R>, ServiceError> {
    match idempotency::find(db, &context.caller_id, request_id).await? {
        None => Ok(None),
        Some(recorded) if recorded.fingerprint == fingerprint => R::decode(&*recorded.response)
            .map(Some)
            .map_err(|error| ServiceError::Internal(error.into())),
        Some(_) => Err(ServiceError::RequestIdReused),
    }
}

/// Records the answer inside the transaction of the change it answers.
pub async fn record<R: Message>(
    txn: &DatabaseTransaction,
    context: &CallContext,
    request_id: &str,
    rpc: &str,
    fingerprint: &str,
    response: &R,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    idempotency::record(
        txn,
        &context.caller_id,
        request_id,
        rpc,
        fingerprint,
        response.encode_to_vec(),
        now,
    )
    .await
}

/// An audit record being written.
#[derive(Debug)]
pub struct Audit<'a> {
    /// Who called.
    pub context: &'a CallContext,
    /// The action, e.g. `pin.request_online`.
    pub action: &'static str,
    /// Whom it concerns.
    pub cf: Option<&'a str>,
    /// Whether the citizen `cf` is the one acting (through the portal), rather than the
    /// calling service on its own account (a delivery worker, a registry load).
    pub citizen_acts: bool,
    /// How it ended.
    pub outcome: &'static str,
    /// The caller's request id.
    pub request_id: Option<&'a str>,
    /// Non-secret details.
    pub details: BTreeMap<String, String>,
}

impl Audit<'_> {
    /// Appends the record inside `txn`. The actor is the operator when there is one, the
    /// citizen when the citizen acts, the calling service otherwise.
    pub async fn append(
        self,
        txn: &DatabaseTransaction,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (actor_kind, actor_id) = match (&self.context.operator_id, self.cf) {
            (Some(operator), _) => (ActorKind::Operator, operator.clone()),
            (None, Some(cf)) if self.citizen_acts => (ActorKind::Citizen, cf.to_owned()),
            _ => (ActorKind::Caller, self.context.caller_id.to_string()),
        };
        audit::append(
            txn,
            &NewAuditRecord {
                at,
                caller_id: self.context.caller_id.to_string(),
                actor_kind,
                actor_id,
                action: self.action.to_owned(),
                cf: self.cf.map(str::to_owned),
                outcome: self.outcome.to_owned(),
                request_id: self.request_id.map(str::to_owned),
                details: self.details,
            },
        )
        .await?;
        Ok(())
    }
}

/// The one answer to every failed login: unknown codice fiscale, wrong PIN, revoked or
/// replaced PIN, locked codice fiscale. Byte-identical whatever the cause.
pub fn authentication_failed() -> Status {
    Status::with_error_details(
        Code::Unauthenticated,
        "the codice fiscale or the PIN is not valid",
        ErrorDetails::with_error_info(
            "AUTHENTICATION_FAILED",
            ERROR_DOMAIN,
            HashMap::<String, String>::new(),
        ),
    )
}

/// The one answer to a ticket that is unknown, used, expired or for another PIN.
pub fn ticket_invalid() -> Status {
    Status::with_error_details(
        Code::FailedPrecondition,
        "the ticket is not valid; log in again",
        ErrorDetails::with_error_info(
            "TICKET_INVALID",
            ERROR_DOMAIN,
            HashMap::<String, String>::new(),
        ),
    )
}

/// A session that may be used now, with the credential behind it.
#[derive(Debug)]
pub struct LiveSession {
    /// The session.
    pub session: pin_store::repo::sessions::Session,
    /// Its credential, as stored now.
    pub credential: pin_store::repo::credentials::StoredCredential,
}

/// The session behind `token`, its idle timeout pushed forward; `None` when the token is
/// malformed, unknown, ended or timed out, or its PIN can no longer be used (revoked,
/// replaced, expired).
pub async fn live_session(
    state: &AppState,
    token: &str,
) -> Result<Option<LiveSession>, ServiceError> {
    use pin_store::repo::{credentials, sessions};
    let Ok(token) = pin_domain::OpaqueToken::parse(token) else {
        return Ok(None);
    };
    let now = state.now();
    let hash = sha256_hex(token.expose_secret().as_bytes());
    let idle = state.policy.session_idle_timeout();
    let Some(session) = sessions::use_session(&state.db, &hash, now, idle).await? else {
        return Ok(None);
    };
    let credential = credentials::get(&state.db, session.credential_id).await?;
    if credential.credential.status(now, &state.policy) != pin_domain::Status::Active {
        return Ok(None);
    }
    Ok(Some(LiveSession {
        session,
        credential,
    }))
}

/// The holder's categories from the registry; none if the registry no longer lists them.
pub async fn categories(
    state: &AppState,
    cf: &pin_domain::CodiceFiscale,
) -> Result<std::collections::BTreeSet<pin_domain::Category>, ServiceError> {
    match pin_store::repo::persons::get(&state.db, cf).await {
        Ok(person) => Ok(person.categories),
        Err(StoreError::NotFound { .. }) => Ok(Default::default()),
        Err(other) => Err(other.into()),
    }
}
