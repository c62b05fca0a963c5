//! Ending a PIN: online, by the holder, confirmed through a single-use link sent to their
//! proven e-mail or PEC; or by a contact-center operator. Either way the PIN and every
//! session it opened end in one transaction, with `PIN_REVOKED` and `SESSIONS_ENDED`
//! events.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CodiceFiscale, ContactKind, Event, EventDetail, HealthCard,
    LinkPurpose, OpaqueToken, PinEnd, RevocationReason, SessionEnd,
};
use pin_store::{
    StoreError,
    repo::{
        contacts::Contact,
        credentials::{self, StoredCredential},
        persons,
    },
};
use serde::{Deserialize, Serialize};

use super::{
    Audit, Call, Change, RequestKey,
    issue::end_sessions,
    links::{self, Found, LinkRequested, proven_contacts},
    once, recorded_as_is,
};
use crate::{error::ServiceError, state::AppState};

const BY_CONTACT_CENTER: &str = "inps.pin.v1.RevocationService/RevokeByContactCenter";

/// What the holder gives to start an online revocation.
#[derive(Debug, Clone)]
pub struct RevocationStart {
    /// Codice fiscale.
    pub cf: CodiceFiscale,
    /// The health card, as in the registry.
    pub card: HealthCard,
    /// The registered, proven e-mail or PEC address the link goes to (canonical form).
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// How many sessions ended with the PIN.
    pub sessions_ended: u32,
}

recorded_as_is!(Revoked);

/// What a revocation link remembers: the PIN it ends.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    credential_id: i64,
}

/// Starts an online revocation: when the codice fiscale, health card and address match a
/// person with a live PIN and a proven e-mail or PEC, a link goes to that address. The
/// answer is the same, and takes the same time, in every case.
pub async fn start_online(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    start: &RevocationStart,
) -> Result<LinkRequested, ServiceError> {
    let find = async |change: &Change<'_>| {
        let found = matching(state, change, start).await?;
        Ok(found.map(|(current, to)| Found {
            payload: serde_json::json!(Payload {
                credential_id: current.id
            })
            .to_string(),
            to,
        }))
    };
    links::request(state, call, key, LinkPurpose::Revocation, &start.cf, find).await
}

/// The live PIN and the proven address of the person the data names, if everything
/// matches.
async fn matching(
    state: &AppState,
    change: &Change<'_>,
    start: &RevocationStart,
) -> Result<Option<(StoredCredential, Contact)>, ServiceError> {
    let txn = change.txn();
    let person = match persons::get(txn, &start.cf).await {
        Ok(person) => Some(person),
        Err(StoreError::NotFound { .. }) => None,
        Err(other) => return Err(other.into()),
    };
    let current = credentials::find_current(txn, &start.cf).await?;
    let contacts = proven_contacts(change, &start.cf).await?;
    let address = contacts.into_iter().find(|contact| {
        matches!(contact.kind, ContactKind::Email | ContactKind::Pec)
            && contact.value.eq_ignore_ascii_case(&start.address)
    });
    Ok(match (person, current, address) {
        (Some(person), Some(current), Some(address))
            if person.health_card == start.card
                && current.credential.is_live(change.now(), &state.policy) =>
        {
            Some((current, address))
        }
        _ => None,
    })
}

/// Follows a revocation link: the PIN it was sent for is revoked, with its sessions. The
/// link works once; a link for a PIN that has since ended is refused like a used one.
pub async fn confirm_online(
    state: &AppState,
    call: &Call,
    token: &OpaqueToken,
) -> Result<Revoked, ServiceError> {
    let mut change = Change::begin(state, call).await?;
    let link = links::consume(&change, token, LinkPurpose::Revocation).await?;
    let payload: Payload = serde_json::from_str(&link.payload)
        .map_err(|error| ServiceError::Internal(error.into()))?;
    let revoked = revoke(
        state,
        &mut change,
        &link.cf,
        Some(payload.credential_id),
        RevocationReason::Online,
    )
    .await?
    .ok_or_else(links::link_invalid)?;
    change
        .audit(Audit {
            action: AuditAction::ConfirmOnlineRevocation,
            cf: Some(&link.cf),
            citizen_acts: true,
            outcome: AuditOutcome::Ok,
            details: BTreeMap::from([(
                "sessions_ended".to_owned(),
                revoked.sessions_ended.to_string(),
            )]),
        })
        .await?;
    change.commit().await?;
    Ok(revoked)
}

/// A contact-center operator revokes a caller's PIN, for a reason. `NOT_FOUND` when the
/// person holds no live PIN.
pub async fn by_contact_center(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    cf: &CodiceFiscale,
    reason: &str,
) -> Result<Revoked, ServiceError> {
    once(state, call, key, async {
        let mut change = Change::begin_once(state, call, key, BY_CONTACT_CENTER).await?;
        let revoked = revoke(
            state,
            &mut change,
            cf,
            None,
            RevocationReason::ContactCenter,
        )
        .await?
        .ok_or(ServiceError::NotFound("live PIN"))?;
        change
            .audit(Audit {
                action: AuditAction::RevokeByContactCenter,
                cf: Some(cf),
                citizen_acts: false,
                outcome: AuditOutcome::Ok,
                details: BTreeMap::from([
                    ("reason".to_owned(), reason.to_owned()),
                    (
                        "sessions_ended".to_owned(),
                        revoked.sessions_ended.to_string(),
                    ),
                ]),
            })
            .await?;
        change.commit_answer(&revoked).await?;
        Ok(revoked)
    })
    .await
}

/// Revokes the person's live PIN (only if it is `expected`, when given) and ends its
/// sessions; `None` when there is no such PIN.
async fn revoke(
    state: &AppState,
    change: &mut Change<'_>,
    cf: &CodiceFiscale,
    expected: Option<i64>,
    reason: RevocationReason,
) -> Result<Option<Revoked>, ServiceError> {
    let now = change.now();
    credentials::lock_person(change.txn(), cf).await?;
    let Some(current) = credentials::find_current(change.txn(), cf).await? else {
        return Ok(None);
    };
    if expected.is_some_and(|id| id != current.id)
        || !current.credential.is_live(now, &state.policy)
    {
        return Ok(None);
    }
    let revoked = current
        .credential
        .apply(Event::Revoke { reason }, now, &state.policy)?;
    credentials::update(change.txn(), &current, &revoked.next, now).await?;
    let via = match reason {
        RevocationReason::Online => PinEnd::Online,
        RevocationReason::ContactCenter => PinEnd::ContactCenter,
    };
    change.event(cf, &EventDetail::PinRevoked { via }).await?;
    let sessions_ended = end_sessions(change, cf, SessionEnd::PinRevoked).await?;
    Ok(Some(Revoked { sessions_ended }))
}
