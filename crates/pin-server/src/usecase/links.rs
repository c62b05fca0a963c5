//! What recovery and revocation share: single-use links sent by e-mail or PEC, answers
//! that take the same time whatever the data, and limits on how often one codice fiscale,
//! and one calling service, may ask.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use pin_domain::{
    AuditAction, AuditOutcome, CodiceFiscale, ContactKind, DeliveryChannel, DeliveryPurpose,
    LinkPurpose, OpaqueToken,
};
use pin_store::repo::{
    audit,
    contacts::{self, Contact},
    credentials,
    links::{self, ConsumedLink, NewLink},
    outbox::{NewDelivery, SECRET_PLACEHOLDER},
};
use serde::{Deserialize, Serialize};

use super::{Audit, Call, Change, RequestKey, once, recorded_as_is};
use crate::{error::ServiceError, state::AppState, tokens::token_hash};

/// Every answer to a request that must not tell whether the data matched takes at least
/// this long, so that its time says nothing either: the work it covers (a few reads and
/// one short transaction) takes a few milliseconds.
pub(super) const UNIFORM_ANSWER: Duration = Duration::from_millis(250);

/// How many link requests of one kind a codice fiscale may make per hour, whether or not
/// the data matched (so the limit tells nothing either).
const REQUESTS_PER_HOUR: u64 = 5;

/// The answer to a link request: nothing, whatever happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequested;

recorded_as_is!(LinkRequested);

/// What a link request found when the data matched: the link to send.
pub(super) struct Found {
    /// What following the link needs, as JSON.
    pub payload: String,
    /// The proven e-mail or PEC it goes to.
    pub to: Contact,
}

/// A request for a recovery or revocation link, one shape for both: within the rates, the
/// request's change runs `find` and sends the link it returns, if any; the same audit
/// record either way (its outcome says which, for the institute's eyes only); and the
/// answer, identical in both cases, no sooner than [`UNIFORM_ANSWER`].
pub(super) async fn request(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    purpose: LinkPurpose,
    cf: &CodiceFiscale,
    find: impl AsyncFnOnce(&Change<'_>) -> Result<Option<Found>, ServiceError>,
) -> Result<LinkRequested, ServiceError> {
    let (method, action) = match purpose {
        LinkPurpose::Recovery => (
            "inps.pin.v1.RecoveryService/StartRecovery",
            AuditAction::StartRecovery,
        ),
        LinkPurpose::Revocation => (
            "inps.pin.v1.RevocationService/StartOnlineRevocation",
            AuditAction::StartOnlineRevocation,
        ),
    };
    let started = Instant::now();
    let answer = once(state, call, key, async {
        let change = Change::begin_once(state, call, key, method).await?;
        within_rate(state, &change, cf, action).await?;
        let mut details = BTreeMap::new();
        let outcome = match find(&change).await? {
            Some(Found { payload, to }) => {
                let link = Link {
                    purpose,
                    cf,
                    payload,
                    to: &to,
                };
                let delivery = send(state, &change, link).await?;
                details.insert("link_delivery_id".to_owned(), delivery.to_string());
                AuditOutcome::Sent
            }
            None => AuditOutcome::Failed,
        };
        change
            .audit(Audit {
                action,
                cf: Some(cf),
                citizen_acts: true,
                outcome,
                details,
            })
            .await?;
        change.commit_answer(&LinkRequested).await?;
        Ok(LinkRequested)
    })
    .await;
    tokio::time::sleep_until((started + UNIFORM_ANSWER).into()).await;
    answer
}

/// Refuses a codice fiscale that asked for `action` too often in the last hour, and a
/// calling service that did in the last minute (the portal asks for every citizen, so its
/// limit is high: it stops a caller that enumerates, not citizens). Counted inside the
/// request's own change under the person's lock, so that concurrent requests for one
/// codice fiscale cannot all slip under its limit.
async fn within_rate(
    state: &AppState,
    change: &Change<'_>,
    cf: &CodiceFiscale,
    action: AuditAction,
) -> Result<(), ServiceError> {
    let (txn, now) = (change.txn(), change.now());
    credentials::lock_person(txn, cf).await?;
    let caller = change.caller_id();
    let last_minute = now - time::Duration::MINUTE;
    let by_caller = audit::count_by_caller_since(txn, caller, action, last_minute).await?;
    if by_caller >= state.link_requests_per_caller_per_minute {
        return Err(ServiceError::RateLimited {
            scope: "from this caller",
            retry_after: Duration::from_secs(60),
        });
    }
    let last_hour = now - time::Duration::HOUR;
    let recent = audit::count_since(txn, cf.as_str(), action, last_hour).await?;
    if recent >= REQUESTS_PER_HOUR {
        return Err(ServiceError::RateLimited {
            scope: "for this codice fiscale",
            retry_after: Duration::from_secs(3600),
        });
    }
    Ok(())
}

/// The holder's proven contact of `kind`, if any.
pub(super) fn proven(contacts: &[Contact], kind: ContactKind) -> Option<&Contact> {
    contacts
        .iter()
        .find(|contact| contact.kind == kind && contact.verified_at.is_some())
}

/// The holder's proven contacts.
pub(super) async fn proven_contacts(
    change: &Change<'_>,
    cf: &CodiceFiscale,
) -> Result<Vec<Contact>, ServiceError> {
    let mut all = contacts::list(change.txn(), cf).await?;
    all.retain(|contact| contact.verified_at.is_some());
    Ok(all)
}

/// A link to send.
struct Link<'a> {
    /// What following it does.
    pub purpose: LinkPurpose,
    /// Whose.
    pub cf: &'a CodiceFiscale,
    /// What following it needs, as JSON.
    pub payload: String,
    /// The e-mail or PEC it goes to.
    pub to: &'a Contact,
}

/// Stores a new link (voiding older ones of its purpose) and queues the message carrying
/// it; returns the delivery's id.
async fn send(state: &AppState, change: &Change<'_>, link: Link<'_>) -> Result<i64, ServiceError> {
    let token = state.random(OpaqueToken::generate);
    let now = change.now();
    links::create(
        change.txn(),
        NewLink {
            token_hash: &token_hash(&token),
            purpose: link.purpose,
            cf: link.cf,
            payload: link.payload,
            expires_at: now + state.policy.link_lifetime(),
        },
        now,
    )
    .await?;
    let minutes = state.policy.link_lifetime().whole_minutes();
    let (purpose, subject, what, path) = match link.purpose {
        LinkPurpose::Recovery => (
            DeliveryPurpose::RecoveryLink,
            "INPS - ripristino del PIN",
            "ripristinare il suo PIN INPS",
            "ripristino",
        ),
        LinkPurpose::Revocation => (
            DeliveryPurpose::RevocationLink,
            "INPS - revoca del PIN",
            "revocare il suo PIN INPS",
            "revoca",
        ),
    };
    let channel = match link.to.kind {
        ContactKind::Pec => DeliveryChannel::Pec,
        ContactKind::Email | ContactKind::Mobile => DeliveryChannel::Email,
    };
    change
        .deliver(NewDelivery {
            cf: link.cf.as_str().to_owned(),
            credential_id: None,
            channel,
            recipient: link.to.value.clone(),
            purpose,
            subject: subject.to_owned(),
            body: format!(
                "Per {what} apra entro {minutes} minuti questo link, valido una sola volta:\n\
                 https://servizi.inps.it/pin/{path}?token={SECRET_PLACEHOLDER}\n\
                 Se non ha fatto lei la richiesta, ignori questo messaggio."
            ),
            secret: Some(token.expose_secret().to_owned()),
        })
        .await
}

/// Consumes a link of `purpose` inside `change`: every link that cannot be used — unknown,
/// expired, used, voided by a newer one, of another purpose — is refused alike.
pub(super) async fn consume(
    change: &Change<'_>,
    token: &OpaqueToken,
    purpose: LinkPurpose,
) -> Result<ConsumedLink, ServiceError> {
    links::consume(change.txn(), &token_hash(token), purpose, change.now())
        .await?
        .ok_or_else(link_invalid)
}

/// The one refusal for a link that cannot be used.
pub(super) fn link_invalid() -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "LINK_INVALID",
        message: "the link is not valid: it expired, was already used, or a newer one replaced \
                  it"
        .to_owned(),
    }
}
