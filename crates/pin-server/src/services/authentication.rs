//! `AuthenticationService`: logins, first access, sessions.
//!
//! Every failed login (unknown codice fiscale, wrong PIN, revoked or replaced PIN, locked
//! codice fiscale) runs the same steps — count the attempt, verify against a real or a
//! dummy hash, write an audit record — and ends in the same [`authentication_failed`]
//! status, so neither the answer nor its timing tells them apart.

use std::collections::BTreeMap;

use pin_domain::{
    CodiceFiscale, Effect, Event, Level, OpaqueToken, Pin, Pin8, Refusal, TicketClaim,
    TicketPurpose, Transition, Verification,
};
use pin_proto::v1::{
    self as pb, AuthenticateRequest, AuthenticateResponse, ChangePinRequest, ChangePinResponse,
    CompleteFirstAccessRequest, CompleteFirstAccessResponse, IntrospectSessionRequest,
    IntrospectSessionResponse, LogoutRequest, LogoutResponse, RenewExpiredPinRequest,
    RenewExpiredPinResponse, authenticate_response::Result as Outcome,
    authentication_service_server::AuthenticationService,
};
use pin_store::{
    StoreError, begin_write,
    repo::{
        contacts,
        credentials::{self, StoredCredential},
        outbox, sessions, throttle, tickets,
    },
};
use secrecy::SecretString;
use tonic::{Request, Response, Status};

use crate::{
    auth::CallContext,
    convert::{self, timestamp},
    deadline::deadline_of,
    error::ServiceError,
    services::common::{self, Audit, authentication_failed, ticket_invalid},
    state::{AppState, context},
};

/// The gRPC face of authentication.
#[derive(Debug, Clone)]
pub struct AuthenticationApi {
    state: AppState,
}

impl AuthenticationApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn level_to_pb(level: Level) -> pb::Level {
    match level {
        Level::Ordinary => pb::Level::Ordinary,
        Level::Dispositive => pb::Level::Dispositive,
    }
}

fn token_field(field: &str, value: &str) -> Result<OpaqueToken, ServiceError> {
    OpaqueToken::parse(value)
        .map_err(|error| ServiceError::invalid(field, error.reason(), error.to_string()))
}

async fn audit_login(
    state: &AppState,
    context: &CallContext,
    cf: &CodiceFiscale,
    outcome: &'static str,
    detail: &str,
) -> Result<(), ServiceError> {
    let now = state.now();
    let txn = begin_write(&state.db).await?;
    Audit {
        context,
        action: "auth.authenticate",
        cf: Some(cf.as_str()),
        citizen_acts: true,
        outcome,
        request_id: None,
        details: BTreeMap::from([("detail".to_owned(), detail.to_owned())]),
    }
    .append(&txn, now)
    .await?;
    pin_store::commit(txn).await?;
    Ok(())
}

/// Opens a session for `stored` and returns its grant.
async fn open_session(
    state: &AppState,
    txn: &pin_store::DatabaseTransaction,
    stored: &StoredCredential,
    now: time::OffsetDateTime,
) -> Result<pb::SessionGrant, ServiceError> {
    let token = state.random(OpaqueToken::generate);
    let session = sessions::create(
        txn,
        &common::sha256_hex(token.expose_secret().as_bytes()),
        &stored.cf,
        stored.id,
        stored.credential.level,
        now,
        state.policy.session_idle_timeout(),
        state.policy.session_absolute_timeout(),
    )
    .await?;
    Ok(pb::SessionGrant {
        session_token: token.expose_secret().to_owned(),
        level: level_to_pb(stored.credential.level).into(),
        idle_expires_at: Some(timestamp(session.idle_expires_at)),
        absolute_expires_at: Some(timestamp(session.absolute_expires_at)),
        pin_expires_at: stored
            .credential
            .pin_expires_at(&state.policy)
            .map(timestamp),
    })
}

impl AuthenticationApi {
    async fn authenticate(
        &self,
        context: &CallContext,
        cf: &CodiceFiscale,
        pin: Pin,
        deadline: Option<std::time::Instant>,
    ) -> Result<AuthenticateResponse, Status> {
        let state = &self.state;
        let now = state.now();
        let secret = || SecretString::from(pin.expose_secret().to_owned());

        // Count the attempt first: a request cut short after this still used a guess.
        if let Err(_locked) = throttle::admit(&state.db, cf, now, &state.policy)
            .await
            .map_err(ServiceError::from)?
        {
            state
                .hashing
                .verify(secret(), None, deadline)
                .await
                .map_err(ServiceError::from)?;
            audit_login(state, context, cf, "FAILED", "locked").await?;
            return Err(authentication_failed());
        }
        let current = credentials::find_current(&state.db, cf)
            .await
            .map_err(ServiceError::from)?;
        let hash = current
            .as_ref()
            .and_then(|c| c.credential.login_hash().cloned());
        let verification = state
            .hashing
            .verify(secret(), hash, deadline)
            .await
            .map_err(ServiceError::from)?;
        let decided = match &current {
            Some(stored) => stored.credential.apply(
                Event::Login {
                    verified: verification.matched(),
                },
                now,
                &state.policy,
            ),
            None => Err(Refusal::WrongPin),
        };
        let (mut stored, Transition { effect, .. }) = match (current, decided) {
            (Some(stored), Ok(transition)) => (stored, transition),
            (_, Err(refusal)) => {
                audit_login(state, context, cf, "FAILED", &format!("{refusal:?}")).await?;
                return Err(authentication_failed());
            }
            (None, Ok(_)) => return Err(authentication_failed()),
        };
        throttle::succeeded(&state.db, cf)
            .await
            .map_err(ServiceError::from)?;
        // Hashed with parameters no longer current: store a new hash of the same PIN.
        let rehash = match verification {
            Verification::Match { needs_rehash: true } => Some(
                state
                    .hashing
                    .hash(secret(), deadline)
                    .await
                    .map_err(ServiceError::from)?,
            ),
            _ => None,
        };

        let txn = begin_write(&state.db).await.map_err(ServiceError::from)?;
        if let Some(pin) = rehash
            && let Ok(transition) =
                stored
                    .credential
                    .apply(Event::Rehash { pin }, now, &state.policy)
        {
            // Losing a race to a concurrent change is harmless: the next login rehashes.
            if let Ok(updated) = credentials::update(&txn, &stored, &transition.next, now).await {
                stored = updated;
            }
        }
        let result = match effect {
            Effect::StartSession => {
                Outcome::Session(open_session(state, &txn, &stored, now).await?)
            }
            Effect::IssueTicket { purpose, bound_to } => {
                let token = state.random(OpaqueToken::generate);
                let claim = TicketClaim {
                    purpose,
                    bound_to,
                    expires_at: now + state.policy.ticket_lifetime(),
                };
                tickets::create(
                    &txn,
                    &common::sha256_hex(token.expose_secret().as_bytes()),
                    cf,
                    stored.id,
                    claim,
                    now,
                )
                .await
                .map_err(ServiceError::from)?;
                let ticket = pb::Ticket {
                    ticket: token.expose_secret().to_owned(),
                    expires_at: Some(timestamp(claim.expires_at)),
                };
                match purpose {
                    TicketPurpose::FirstAccess => Outcome::FirstAccessRequired(ticket),
                    TicketPurpose::Renewal => Outcome::RenewalRequired(ticket),
                }
            }
            Effect::None => {
                return Err(
                    ServiceError::Internal(anyhow::anyhow!("login changed nothing")).into(),
                );
            }
        };
        let outcome = match &result {
            Outcome::Session(_) => "SESSION",
            Outcome::FirstAccessRequired(_) => "FIRST_ACCESS_REQUIRED",
            Outcome::RenewalRequired(_) => "RENEWAL_REQUIRED",
        };
        Audit {
            context,
            action: "auth.authenticate",
            cf: Some(cf.as_str()),
            citizen_acts: true,
            outcome,
            request_id: None,
            details: BTreeMap::from([("credential_id".to_owned(), stored.id.to_string())]),
        }
        .append(&txn, now)
        .await
        .map_err(ServiceError::from)?;
        pin_store::commit(txn).await.map_err(ServiceError::from)?;
        Ok(AuthenticateResponse {
            result: Some(result),
        })
    }

    /// Completes a guided procedure with its ticket: assigns a new 8-character PIN (first
    /// access or renewal of an expired PIN) and opens a session.
    async fn complete_with_ticket(
        &self,
        context: &CallContext,
        token: &OpaqueToken,
        purpose: TicketPurpose,
        deadline: Option<std::time::Instant>,
    ) -> Result<(Pin8, pb::SessionGrant), Status> {
        let state = &self.state;
        let now = state.now();
        let Some(ticket) = tickets::find(
            &state.db,
            &common::sha256_hex(token.expose_secret().as_bytes()),
        )
        .await
        .map_err(ServiceError::from)?
        .filter(|t| !t.used && t.claim.purpose == purpose) else {
            return Err(ticket_invalid());
        };
        let stored = credentials::get(&state.db, ticket.credential_id)
            .await
            .map_err(ServiceError::from)?;
        let pin = state.random(Pin8::generate);
        let hash = state
            .hashing
            .hash(SecretString::from(pin.expose_secret().to_owned()), deadline)
            .await
            .map_err(ServiceError::from)?;
        let event = match purpose {
            TicketPurpose::FirstAccess => Event::CompleteFirstAccess {
                ticket: ticket.claim,
                new_pin: hash.clone(),
            },
            TicketPurpose::Renewal => Event::Renew {
                ticket: ticket.claim,
                new_pin: hash.clone(),
            },
        };
        let Ok(transition) = stored.credential.apply(event, now, &state.policy) else {
            return Err(ticket_invalid());
        };

        let txn = begin_write(&state.db).await.map_err(ServiceError::from)?;
        // Both guards make the ticket single-use: the ticket row is consumed only once,
        // and the credential moves only from the version it was read at.
        let consumed = tickets::consume(&txn, ticket.id, now).await;
        let updated = match consumed {
            Ok(()) => credentials::update(&txn, &stored, &transition.next, now).await,
            Err(error) => Err(error),
        };
        let stored = match updated {
            Ok(stored) => stored,
            Err(StoreError::Conflict { .. }) => return Err(ticket_invalid()),
            Err(other) => return Err(ServiceError::from(other).into()),
        };
        credentials::record_pin(&txn, stored.id, &stored.cf, &hash, now)
            .await
            .map_err(ServiceError::from)?;
        if purpose == TicketPurpose::FirstAccess {
            prove_first_half_contact(&txn, &stored, now).await?;
        }
        let session = open_session(state, &txn, &stored, now).await?;
        Audit {
            context,
            action: match purpose {
                TicketPurpose::FirstAccess => "auth.complete_first_access",
                TicketPurpose::Renewal => "auth.renew_expired_pin",
            },
            cf: Some(stored.cf.as_str()),
            citizen_acts: true,
            outcome: "OK",
            request_id: None,
            details: BTreeMap::from([("credential_id".to_owned(), stored.id.to_string())]),
        }
        .append(&txn, now)
        .await
        .map_err(ServiceError::from)?;
        pin_store::commit(txn).await.map_err(ServiceError::from)?;
        Ok((pin, session))
    }
}

impl AuthenticationApi {
    async fn change(
        &self,
        context: &CallContext,
        session_token: &str,
        current: Pin,
        new: Pin8,
        deadline: Option<std::time::Instant>,
    ) -> Result<ChangePinResponse, Status> {
        let state = &self.state;
        let now = state.now();
        let Some(common::LiveSession {
            session,
            credential: stored,
        }) = common::live_session(state, session_token).await?
        else {
            return Err(Status::unauthenticated("the session is not valid"));
        };
        // A wrong current PIN is a guess like any other: counted before verification.
        if throttle::admit(&state.db, &stored.cf, now, &state.policy)
            .await
            .map_err(ServiceError::from)?
            .is_err()
        {
            return Err(authentication_failed());
        }
        let current_secret = SecretString::from(current.expose_secret().to_owned());
        let verified = state
            .hashing
            .verify(
                current_secret,
                stored.credential.login_hash().cloned(),
                deadline,
            )
            .await
            .map_err(ServiceError::from)?
            .matched();
        let new_secret = || SecretString::from(new.expose_secret().to_owned());
        let mut recently_used = false;
        if verified {
            let depth = u64::try_from(state.policy.pin_history_depth()).unwrap_or(u64::MAX);
            for old in credentials::recent_pins(&state.db, &stored.cf, depth)
                .await
                .map_err(ServiceError::from)?
            {
                if state
                    .hashing
                    .verify(new_secret(), Some(old), deadline)
                    .await
                    .map_err(ServiceError::from)?
                    .matched()
                {
                    recently_used = true;
                    break;
                }
            }
        }
        let new_hash = state
            .hashing
            .hash(new_secret(), deadline)
            .await
            .map_err(ServiceError::from)?;
        let event = Event::ChangePin {
            current_verified: verified,
            recently_used,
            new_pin: new_hash.clone(),
        };
        let transition = match stored.credential.apply(event, now, &state.policy) {
            Ok(transition) => transition,
            Err(Refusal::WrongPin) => {
                audit_login(
                    state,
                    context,
                    &stored.cf,
                    "FAILED",
                    "change_pin: wrong current pin",
                )
                .await?;
                return Err(authentication_failed());
            }
            Err(Refusal::RecentlyUsed) => {
                return Err(ServiceError::FailedPrecondition {
                    reason: "PIN_RECENTLY_USED",
                    message: format!(
                        "the new PIN must differ from the last {} PINs",
                        state.policy.pin_history_depth()
                    ),
                }
                .into());
            }
            Err(other) => {
                return Err(ServiceError::FailedPrecondition {
                    reason: "PIN_NOT_CHANGEABLE",
                    message: format!("the PIN cannot be changed now: {other}"),
                }
                .into());
            }
        };
        throttle::succeeded(&state.db, &stored.cf)
            .await
            .map_err(ServiceError::from)?;
        let txn = begin_write(&state.db).await.map_err(ServiceError::from)?;
        let stored = credentials::update(&txn, &stored, &transition.next, now)
            .await
            .map_err(ServiceError::from)?;
        credentials::record_pin(&txn, stored.id, &stored.cf, &new_hash, now)
            .await
            .map_err(ServiceError::from)?;
        let ended = sessions::end_all(&txn, &stored.cf, Some(session.id), "PIN_CHANGED", now)
            .await
            .map_err(ServiceError::from)?;
        Audit {
            context,
            action: "auth.change_pin",
            cf: Some(stored.cf.as_str()),
            citizen_acts: true,
            outcome: "OK",
            request_id: None,
            details: BTreeMap::from([("other_sessions_ended".to_owned(), ended.to_string())]),
        }
        .append(&txn, now)
        .await
        .map_err(ServiceError::from)?;
        pin_store::commit(txn).await.map_err(ServiceError::from)?;
        Ok(ChangePinResponse {
            pin_expires_at: stored
                .credential
                .pin_expires_at(&state.policy)
                .map(timestamp),
            other_sessions_ended: u32::try_from(ended).unwrap_or(u32::MAX),
        })
    }
}

/// The contact that carried the first half delivered a secret the holder has now used:
/// it is proven. The other contacts stay unverified until their holder verifies them.
async fn prove_first_half_contact(
    txn: &pin_store::DatabaseTransaction,
    stored: &StoredCredential,
    now: time::OffsetDateTime,
) -> Result<(), ServiceError> {
    if let Some((kind, recipient)) = outbox::first_half_contact(txn, stored.id).await? {
        contacts::verify(txn, &stored.cf, kind, &recipient, "PIN_FIRST_HALF", now).await?;
    }
    Ok(())
}

#[tonic::async_trait]
impl AuthenticationService for AuthenticationApi {
    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let context = context(&request)?;
        let deadline = deadline_of(&request);
        let AuthenticateRequest {
            codice_fiscale,
            pin,
        } = request.into_inner();
        let cf = convert::codice_fiscale("codice_fiscale", &codice_fiscale)?;
        let pin = Pin::parse(&pin)
            .map_err(|error| ServiceError::invalid("pin", error.reason(), error.to_string()))?;
        AuthenticationApi::authenticate(self, &context, &cf, pin, deadline)
            .await
            .map(Response::new)
    }

    async fn complete_first_access(
        &self,
        request: Request<CompleteFirstAccessRequest>,
    ) -> Result<Response<CompleteFirstAccessResponse>, Status> {
        let context = context(&request)?;
        let deadline = deadline_of(&request);
        let CompleteFirstAccessRequest { ticket } = request.into_inner();
        let token = token_field("ticket", &ticket)?;
        let (pin, session) = self
            .complete_with_ticket(&context, &token, TicketPurpose::FirstAccess, deadline)
            .await?;
        Ok(Response::new(CompleteFirstAccessResponse {
            new_pin: pin.expose_secret().to_owned(),
            session: Some(session),
        }))
    }

    async fn renew_expired_pin(
        &self,
        request: Request<RenewExpiredPinRequest>,
    ) -> Result<Response<RenewExpiredPinResponse>, Status> {
        let context = context(&request)?;
        let deadline = deadline_of(&request);
        let RenewExpiredPinRequest { ticket } = request.into_inner();
        let token = token_field("ticket", &ticket)?;
        let (pin, session) = self
            .complete_with_ticket(&context, &token, TicketPurpose::Renewal, deadline)
            .await?;
        Ok(Response::new(RenewExpiredPinResponse {
            new_pin: pin.expose_secret().to_owned(),
            session: Some(session),
        }))
    }

    async fn change_pin(
        &self,
        request: Request<ChangePinRequest>,
    ) -> Result<Response<ChangePinResponse>, Status> {
        let context = context(&request)?;
        let deadline = deadline_of(&request);
        let ChangePinRequest {
            session_token,
            current_pin,
            new_pin,
        } = request.into_inner();
        let current = Pin::parse(&current_pin).map_err(|error| {
            ServiceError::invalid("current_pin", error.reason(), error.to_string())
        })?;
        let new = Pin8::parse(&new_pin)
            .map_err(|error| ServiceError::invalid("new_pin", error.reason(), error.to_string()))?;
        self.change(&context, &session_token, current, new, deadline)
            .await
            .map(Response::new)
    }

    async fn introspect_session(
        &self,
        request: Request<IntrospectSessionRequest>,
    ) -> Result<Response<IntrospectSessionResponse>, Status> {
        let IntrospectSessionRequest { session_token } = request.into_inner();
        let state = &self.state;
        let Some(common::LiveSession {
            session,
            credential: stored,
        }) = common::live_session(state, &session_token).await?
        else {
            return Ok(Response::new(IntrospectSessionResponse::default()));
        };
        let categories = common::categories(state, &session.cf)
            .await?
            .iter()
            .map(|c| convert::category_to_pb(*c).into())
            .collect();
        Ok(Response::new(IntrospectSessionResponse {
            active: true,
            codice_fiscale: session.cf.as_str().to_owned(),
            level: level_to_pb(stored.credential.level).into(),
            categories,
            idle_expires_at: Some(timestamp(session.idle_expires_at)),
            absolute_expires_at: Some(timestamp(session.absolute_expires_at)),
        }))
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let context = context(&request)?;
        let LogoutRequest { session_token } = request.into_inner();
        let state = &self.state;
        if let Ok(token) = OpaqueToken::parse(&session_token) {
            let now = state.now();
            let txn = begin_write(&state.db).await.map_err(ServiceError::from)?;
            let hash = common::sha256_hex(token.expose_secret().as_bytes());
            if let Some(cf) = sessions::end_returning_cf(&txn, &hash, "LOGOUT", now)
                .await
                .map_err(ServiceError::from)?
            {
                Audit {
                    context: &context,
                    action: "auth.logout",
                    cf: Some(cf.as_str()),
                    citizen_acts: true,
                    outcome: "OK",
                    request_id: None,
                    details: BTreeMap::new(),
                }
                .append(&txn, now)
                .await
                .map_err(ServiceError::from)?;
            }
            pin_store::commit(txn).await.map_err(ServiceError::from)?;
        }
        Ok(Response::new(LogoutResponse {}))
    }
}
