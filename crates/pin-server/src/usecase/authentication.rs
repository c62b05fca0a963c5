//! Logins, first access, renewal, PIN changes and sessions.
//!
//! Every failed login (unknown codice fiscale, wrong PIN, revoked or replaced PIN, locked
//! codice fiscale) — at `Authenticate` or at `ChangePin` — goes through one step,
//! [`attempt`] then [`refuse`]: take a place in the allowance, verify against a real or a
//! dummy hash, give the place back as a failure, write an audit record under the RPC's own
//! action, and end in
//! [`ServiceError::AuthenticationFailed`], so neither the answer nor its timing tells the
//! causes apart.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CodiceFiscale, Effect, Event, EventDetail, Level, OpaqueToken, Pin,
    Pin8, PinHash, Refusal, Refused, SessionEnd, Settled, TicketClaim, TicketPurpose, Verification,
};
use pin_store::{
    StoreError,
    repo::{
        contacts,
        credentials::{self, StoredCredential},
        outbox, sessions, throttle, tickets,
    },
};
use secrecy::SecretString;
use time::OffsetDateTime;

use super::{Audit, Call, Change, contacts::send_code, live_session, resolved_session};
use crate::{error::ServiceError, state::AppState, tokens::token_hash};

/// A session opened for a holder. The token is shown to the caller once, here.
#[derive(Debug)]
pub struct SessionGrant {
    /// The bearer token of the session.
    pub token: OpaqueToken,
    /// The level of the PIN behind it.
    pub level: Level,
    /// Ends if unused until then.
    pub idle_expires_at: OffsetDateTime,
    /// Ends then whatever its use.
    pub absolute_expires_at: OffsetDateTime,
    /// When the PIN must be renewed.
    pub pin_expires_at: Option<OffsetDateTime>,
}

/// A single-use ticket that continues a guided procedure.
#[derive(Debug)]
pub struct TicketGrant {
    /// The ticket.
    pub token: OpaqueToken,
    /// Refused from this instant.
    pub expires_at: OffsetDateTime,
}

/// How a correct login continues.
#[derive(Debug)]
pub enum Login {
    /// A session is open.
    Session(SessionGrant),
    /// The 16-character initial PIN was used: first access comes next.
    FirstAccessRequired(TicketGrant),
    /// The PIN expired: renewal comes next.
    RenewalRequired(TicketGrant),
}

/// A new 8-character PIN and the session it opened.
#[derive(Debug)]
pub struct NewPin {
    /// The PIN, shown to the holder once.
    pub pin: Pin8,
    /// The session.
    pub session: SessionGrant,
}

/// The result of a PIN change.
#[derive(Debug)]
pub struct ChangedPin {
    /// When the new PIN must be renewed.
    pub pin_expires_at: Option<OffsetDateTime>,
    /// How many other sessions ended.
    pub other_sessions_ended: u32,
}

/// What a session is, for introspection.
#[derive(Debug)]
pub struct SessionView {
    /// Whose.
    pub cf: CodiceFiscale,
    /// The level of the PIN behind it.
    pub level: Level,
    /// The holder's categories.
    pub categories: std::collections::BTreeSet<pin_domain::Category>,
    /// Ends if unused until then.
    pub idle_expires_at: OffsetDateTime,
    /// Ends then whatever its use.
    pub absolute_expires_at: OffsetDateTime,
}

fn secret(pin: &Pin) -> SecretString {
    SecretString::from(pin.expose_secret().to_owned())
}

/// How long an attempt waits for a place while the places of its codice fiscale are
/// taken by attempts in flight (at most: a shorter gRPC deadline wins).
const PLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How often a waiting attempt asks again.
const PLACE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// The place an attempt holds in its codice fiscale's allowance ([`pin_domain::throttle`]).
/// Settle it when the login is decided. Dropped unsettled — an error, or the client gone —
/// it is settled by a task of its own: as a failure once the verification has run (a
/// request cut short still costs an attempt), as never verified otherwise.
#[derive(Debug)]
pub(super) struct Place {
    state: AppState,
    cf: CodiceFiscale,
    now: OffsetDateTime,
    verified: bool,
    settled: bool,
}

impl Place {
    /// Gives the place back: the login ended as `outcome`.
    pub(super) async fn settle(mut self, outcome: Settled) -> Result<(), ServiceError> {
        self.settled = true;
        give_back(&self.state, &self.cf, outcome, self.now).await
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let outcome = if self.verified {
            Settled::Failed
        } else {
            Settled::NotVerified
        };
        let (state, cf, now) = (self.state.clone(), self.cf.clone(), self.now);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = give_back(&state, &cf, outcome, now).await {
                    tracing::warn!(
                        %error,
                        "a login attempt's place could not be given back; it counts as a \
                         failure once held too long"
                    );
                }
            });
        }
    }
}

async fn give_back(
    state: &AppState,
    cf: &CodiceFiscale,
    outcome: Settled,
    now: OffsetDateTime,
) -> Result<(), ServiceError> {
    let (before, after) = throttle::settle(&state.db, cf, outcome, now, &state.policy).await?;
    if after.consecutive_locks > before.consecutive_locks {
        crate::metrics::get().lockouts.add(1, &[]);
    }
    Ok(())
}

/// The first half of the failed-login step: reserves a verification in the hashing pool
/// (refused at once, uncounted, when it could not finish in time), takes a place in the
/// codice fiscale's allowance *before* verifying (waiting a little while attempts in flight hold every
/// place), then verifies `pin` against `hash`, or against a dummy hash when there is none
/// or no place was given. Without a place the attempt is refused here, after the same
/// work, through [`refuse`]; with one, the caller settles the returned [`Place`] once the
/// login is decided.
pub(super) async fn attempt(
    state: &AppState,
    call: &Call,
    action: AuditAction,
    cf: &CodiceFiscale,
    secret: SecretString,
    hash: Option<PinHash>,
) -> Result<(Verification, Place), ServiceError> {
    // A place in the hashing queue first: an attempt the pool cannot serve in time is
    // refused before anything is counted or written — it gave the guesser nothing.
    let reservation = state.hashing.reserve(call.deadline)?;
    let give_up = std::time::Instant::now() + PLACE_WAIT;
    let give_up = call
        .deadline
        .map_or(give_up, |deadline| deadline.min(give_up));
    let admitted = loop {
        match throttle::admit(&state.db, cf, call.now, &state.policy).await? {
            Err(Refused::Busy) if std::time::Instant::now() + PLACE_POLL < give_up => {
                tokio::time::sleep(PLACE_POLL).await;
            }
            other => break other,
        }
    };
    let why = match admitted {
        Ok(_) => {
            let mut place = Place {
                state: state.clone(),
                cf: cf.clone(),
                now: call.now,
                verified: false,
                settled: false,
            };
            // Refused by the hashing pool: the place is given back unverified (dropped).
            let verification = reservation.verify(secret, hash).await?;
            place.verified = true;
            return Ok((verification, place));
        }
        Err(Refused::Locked { .. }) => "LOCKED",
        Err(Refused::Busy) => "ATTEMPTS_IN_FLIGHT",
    };
    reservation.verify(secret, None).await?;
    Err(refuse(state, call, action, cf, why).await)
}

/// The second half of the failed-login step: audits the failure under the RPC's own
/// action and returns the one answer every failed login gets.
pub(super) async fn refuse(
    state: &AppState,
    call: &Call,
    action: AuditAction,
    cf: &CodiceFiscale,
    why: &'static str,
) -> ServiceError {
    crate::metrics::get().authentication(action.as_str(), why);
    let audited = async {
        let change = Change::begin(state, call).await?;
        change
            .audit(Audit {
                action,
                cf: Some(cf),
                citizen_acts: true,
                outcome: AuditOutcome::Failed,
                details: BTreeMap::from([("refusal".to_owned(), why.to_owned())]),
            })
            .await?;
        change.commit().await
    };
    match audited.await {
        Ok(()) => ServiceError::AuthenticationFailed,
        // The attempt was counted; an audit that could not be written is the store's
        // failure, and the caller must learn that rather than a verdict.
        Err(error) => error,
    }
}

/// A login with a codice fiscale and a PIN (8 characters, or the 16 of an initial PIN).
pub async fn authenticate(
    state: &AppState,
    call: &Call,
    cf: &CodiceFiscale,
    pin: &Pin,
) -> Result<Login, ServiceError> {
    const ACTION: AuditAction = AuditAction::Authenticate;
    let now = call.now;
    let current = credentials::find_current(&state.db, cf).await?;
    let hash = current
        .as_ref()
        .and_then(|c| c.credential.login_hash().cloned());
    let (verification, place) = attempt(state, call, ACTION, cf, secret(pin), hash).await?;
    let Some(mut stored) = current else {
        place.settle(Settled::Failed).await?;
        return Err(refuse(state, call, ACTION, cf, Refusal::WrongPin.code()).await);
    };
    let login = Event::Login {
        verified: verification.matched(),
    };
    let effect = match stored.credential.apply(login, now, &state.policy) {
        Ok(transition) => transition.effect,
        Err(refusal) => {
            place.settle(Settled::Failed).await?;
            return Err(refuse(state, call, ACTION, cf, refusal.code()).await);
        }
    };
    place.settle(Settled::Succeeded).await?;
    // Hashed with parameters no longer current: store a new hash of the same PIN.
    let rehash = match verification {
        Verification::Match { needs_rehash: true } => {
            Some(state.hashing.hash(secret(pin), call.deadline).await?)
        }
        Verification::Match { .. } | Verification::Mismatch => None,
    };

    let change = Change::begin(state, call).await?;
    if let Some(pin) = rehash
        && let Ok(transition) = stored
            .credential
            .apply(Event::Rehash { pin }, now, &state.policy)
        // Losing a race to a concurrent change is harmless: the next login rehashes.
        && let Ok(updated) =
            credentials::update(change.txn(), &stored, &transition.next, now).await
    {
        stored = updated;
    }
    let (login, outcome) = match effect {
        Effect::StartSession => (
            Login::Session(open_session(state, &change, &stored).await?),
            AuditOutcome::Session,
        ),
        Effect::IssueTicket { purpose, bound_to } => {
            let ticket = issue_ticket(state, &change, &stored, purpose, bound_to).await?;
            match purpose {
                TicketPurpose::FirstAccess => (
                    Login::FirstAccessRequired(ticket),
                    AuditOutcome::FirstAccessRequired,
                ),
                TicketPurpose::Renewal => (
                    Login::RenewalRequired(ticket),
                    AuditOutcome::RenewalRequired,
                ),
            }
        }
        Effect::None => {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "a login changed nothing"
            )));
        }
    };
    change
        .audit(Audit {
            action: ACTION,
            cf: Some(cf),
            citizen_acts: true,
            outcome,
            details: BTreeMap::from([("credential_id".to_owned(), stored.id.to_string())]),
        })
        .await?;
    change.commit().await?;
    crate::metrics::get().authentication(ACTION.as_str(), outcome.as_str());
    Ok(login)
}

async fn issue_ticket(
    state: &AppState,
    change: &Change<'_>,
    stored: &StoredCredential,
    purpose: TicketPurpose,
    bound_to: OffsetDateTime,
) -> Result<TicketGrant, ServiceError> {
    let token = state.random(OpaqueToken::generate);
    let claim = TicketClaim {
        purpose,
        bound_to,
        expires_at: change.now() + state.policy.ticket_lifetime(),
    };
    tickets::create(
        change.txn(),
        &token_hash(&token),
        &stored.cf,
        stored.id,
        claim,
        change.now(),
    )
    .await?;
    Ok(TicketGrant {
        token,
        expires_at: claim.expires_at,
    })
}

/// Opens a session for `stored`.
async fn open_session(
    state: &AppState,
    change: &Change<'_>,
    stored: &StoredCredential,
) -> Result<SessionGrant, ServiceError> {
    let token = state.random(OpaqueToken::generate);
    let session = sessions::create(
        change.txn(),
        &token_hash(&token),
        &stored.cf,
        stored.id,
        stored.credential.level,
        change.now(),
        state.policy.session_idle_timeout(),
        state.policy.session_absolute_timeout(),
    )
    .await?;
    Ok(SessionGrant {
        token,
        level: stored.credential.level,
        idle_expires_at: session.idle_expires_at,
        absolute_expires_at: session.absolute_expires_at,
        pin_expires_at: stored.credential.pin_expires_at(&state.policy),
    })
}

/// Completes a guided procedure with its ticket: assigns a new 8-character PIN (first
/// access, or renewal of an expired PIN) and opens a session.
pub async fn complete_with_ticket(
    state: &AppState,
    call: &Call,
    ticket: &OpaqueToken,
    purpose: TicketPurpose,
) -> Result<NewPin, ServiceError> {
    let now = call.now;
    let ticket = tickets::find(&state.db, &token_hash(ticket))
        .await?
        .filter(|t| !t.used && t.claim.purpose == purpose)
        .ok_or(ServiceError::TicketInvalid)?;
    let stored = credentials::get(&state.db, ticket.credential_id).await?;
    let pin = state.random(Pin8::generate);
    let hash = state
        .hashing
        .hash(
            SecretString::from(pin.expose_secret().to_owned()),
            call.deadline,
        )
        .await?;
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
    // Whatever the state machine refuses here, the caller holds a ticket that will not do.
    let transition = stored
        .credential
        .apply(event, now, &state.policy)
        .map_err(|_| ServiceError::TicketInvalid)?;

    let change = Change::begin(state, call).await?;
    // Both guards make the ticket single-use: the ticket row is consumed only once, and
    // the credential moves only from the version it was read at.
    let stored = match tickets::consume(change.txn(), ticket.id, now).await {
        Ok(()) => credentials::update(change.txn(), &stored, &transition.next, now).await,
        Err(error) => Err(error),
    }
    .map_err(|error| match error {
        StoreError::Conflict { .. } => ServiceError::TicketInvalid,
        other => other.into(),
    })?;
    credentials::record_pin(change.txn(), stored.id, &stored.cf, &hash, now).await?;
    if purpose == TicketPurpose::FirstAccess {
        prove_first_half_contact(state, &change, &stored).await?;
    }
    let session = open_session(state, &change, &stored).await?;
    change
        .audit(Audit {
            action: match purpose {
                TicketPurpose::FirstAccess => AuditAction::CompleteFirstAccess,
                TicketPurpose::Renewal => AuditAction::RenewExpiredPin,
            },
            cf: Some(&stored.cf),
            citizen_acts: true,
            outcome: AuditOutcome::Ok,
            details: BTreeMap::from([("credential_id".to_owned(), stored.id.to_string())]),
        })
        .await?;
    change.commit().await?;
    Ok(NewPin { pin, session })
}

/// The contact that carried the first half delivered a secret the holder has now used:
/// it is proven. Every other unproven contact is sent a code, with which its holder can
/// prove it (`VerifyContact`).
async fn prove_first_half_contact(
    state: &AppState,
    change: &Change<'_>,
    stored: &StoredCredential,
) -> Result<(), ServiceError> {
    if let Some((kind, recipient)) = outbox::first_half_contact(change.txn(), stored.id).await? {
        contacts::verify(
            change.txn(),
            &stored.cf,
            kind,
            &recipient,
            "PIN_FIRST_HALF",
            change.now(),
        )
        .await?;
    }
    for contact in contacts::list(change.txn(), &stored.cf).await? {
        if contact.verified_at.is_none() {
            send_code(state, change, &stored.cf, contact.kind, &contact.value).await?;
        }
    }
    Ok(())
}

/// A logged-in holder changes the PIN, giving the current one: a wrong current PIN is a
/// failed login like any other. The holder's other sessions end.
pub async fn change_pin(
    state: &AppState,
    call: &Call,
    session_token: &str,
    current: &Pin,
    new: &Pin8,
) -> Result<ChangedPin, ServiceError> {
    const ACTION: AuditAction = AuditAction::ChangePin;
    let now = call.now;
    let live = live_session(state, call, session_token).await?;
    let (session, stored) = (live.session, live.credential);
    let hash = stored.credential.login_hash().cloned();
    let (verification, place) =
        attempt(state, call, ACTION, &stored.cf, secret(current), hash).await?;
    let verified = verification.matched();
    let new_secret = || SecretString::from(new.expose_secret().to_owned());
    let mut recently_used = false;
    if verified {
        let depth = u64::try_from(state.policy.pin_history_depth()).unwrap_or(u64::MAX);
        for old in credentials::recent_pins(&state.db, &stored.cf, depth).await? {
            if state
                .hashing
                .verify(new_secret(), Some(old), call.deadline)
                .await?
                .matched()
            {
                recently_used = true;
                break;
            }
        }
    }
    let new_hash = state.hashing.hash(new_secret(), call.deadline).await?;
    let event = Event::ChangePin {
        current_verified: verified,
        recently_used,
        new_pin: new_hash.clone(),
    };
    let transition = match stored.credential.apply(event, now, &state.policy) {
        Ok(transition) => transition,
        Err(refusal @ Refusal::WrongPin) => {
            place.settle(Settled::Failed).await?;
            return Err(refuse(state, call, ACTION, &stored.cf, refusal.code()).await);
        }
        // The new PIN may not be used: the attempt counts as the current PIN's check did.
        Err(other) => {
            let outcome = if verified {
                Settled::Succeeded
            } else {
                Settled::Failed
            };
            place.settle(outcome).await?;
            return Err(other.into());
        }
    };
    place.settle(Settled::Succeeded).await?;
    let mut change = Change::begin(state, call).await?;
    let stored = credentials::update(change.txn(), &stored, &transition.next, now).await?;
    credentials::record_pin(change.txn(), stored.id, &stored.cf, &new_hash, now).await?;
    let ended = sessions::end_all(
        change.txn(),
        &stored.cf,
        Some(session.id),
        SessionEnd::PinChanged,
        now,
    )
    .await?;
    let ended = u32::try_from(ended).unwrap_or(u32::MAX);
    if ended > 0 {
        change
            .event(
                &stored.cf,
                &EventDetail::SessionsEnded {
                    count: ended,
                    reason: SessionEnd::PinChanged,
                },
            )
            .await?;
    }
    change
        .audit(Audit {
            action: ACTION,
            cf: Some(&stored.cf),
            citizen_acts: true,
            outcome: AuditOutcome::Ok,
            details: BTreeMap::from([("other_sessions_ended".to_owned(), ended.to_string())]),
        })
        .await?;
    change.commit().await?;
    crate::metrics::get().authentication(ACTION.as_str(), AuditOutcome::Ok.as_str());
    Ok(ChangedPin {
        pin_expires_at: stored.credential.pin_expires_at(&state.policy),
        other_sessions_ended: ended,
    })
}

/// Whose a session is and until when; `None` when it cannot be used.
pub async fn introspect(
    state: &AppState,
    call: &Call,
    session_token: &str,
) -> Result<Option<SessionView>, ServiceError> {
    let live = match resolved_session(state, call, session_token).await {
        Ok(live) => live,
        Err(ServiceError::SessionInvalid) => return Ok(None),
        Err(other) => return Err(other),
    };
    Ok(Some(SessionView {
        categories: live.categories.clone(),
        level: live.credential.credential.level,
        cf: live.session.cf.clone(),
        idle_expires_at: live.session.idle_expires_at,
        absolute_expires_at: live.session.absolute_expires_at,
    }))
}

/// Ends a session. Ending one that is unknown or already ended changes nothing and is not
/// an error: the caller wanted it gone, and it is.
pub async fn logout(
    state: &AppState,
    call: &Call,
    session_token: &str,
) -> Result<(), ServiceError> {
    let Ok(token) = OpaqueToken::parse(session_token) else {
        return Ok(());
    };
    let mut change = Change::begin(state, call).await?;
    let Some(cf) = sessions::end_returning_cf(
        change.txn(),
        &token_hash(&token),
        SessionEnd::Logout,
        call.now,
    )
    .await?
    else {
        return Ok(());
    };
    change
        .event(
            &cf,
            &EventDetail::SessionsEnded {
                count: 1,
                reason: SessionEnd::Logout,
            },
        )
        .await?;
    change
        .audit(Audit {
            action: AuditAction::Logout,
            cf: Some(&cf),
            citizen_acts: true,
            outcome: AuditOutcome::Ok,
            details: BTreeMap::new(),
        })
        .await?;
    change.commit().await?;
    // Other replicas stop trusting it within the cache's TTL; this one at once.
    state.sessions.forget(&token);
    Ok(())
}
