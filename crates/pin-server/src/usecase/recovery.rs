//! Recovery of a lost PIN (ripristino): the holder names at least two of their contacts;
//! when two of them match contacts the holder has **proven**, a single-use link goes to
//! the PEC (else the e-mail). Following it issues a new 16-character PIN whose halves go
//! to two different proven contacts; the old PIN and its sessions end, the level and the
//! proofing record stay, and every registered contact is told that a recovery happened.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CodiceFiscale, ContactKind, DeliveryChannel, DeliveryPurpose,
    InitialSecret, IssuedVia, LinkPurpose, NewCredential, OpaqueToken, Pin16, PinEnd, Replacement,
};
use pin_store::repo::{
    contacts::{self, Contact},
    credentials::{self, StoredCredential},
    outbox::{NewDelivery, SECRET_PLACEHOLDER},
};
use serde::{Deserialize, Serialize};

use super::{
    Audit, Call, Change, RequestKey,
    issue::{Contacts, hash_new, issue_credential},
    links::{self, Found, LinkRequested, proven, proven_contacts},
};
use crate::{error::ServiceError, state::AppState};

/// What the holder gives to start a recovery.
#[derive(Debug, Clone)]
pub struct RecoveryStart {
    /// Codice fiscale.
    pub cf: CodiceFiscale,
    /// At least two contacts, as the holder remembers them.
    pub contacts: Contacts,
    /// Where the link should go; `None` for the rule (PEC if proven, else e-mail).
    pub link_to: Option<ContactKind>,
}

/// A contact a half goes to, as remembered by the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Recipient {
    kind: String,
    value: String,
}

impl Recipient {
    fn of(contact: &Contact) -> Self {
        Recipient {
            kind: contact.kind.as_str().to_owned(),
            value: contact.value.clone(),
        }
    }

    fn channel(&self) -> DeliveryChannel {
        match self.kind.as_str() {
            "MOBILE" => DeliveryChannel::Sms,
            "PEC" => DeliveryChannel::Pec,
            _ => DeliveryChannel::Email,
        }
    }

    /// Whether it is still among the holder's proven contacts.
    fn still_proven(&self, proven: &[Contact]) -> bool {
        proven
            .iter()
            .any(|c| c.kind.as_str() == self.kind && c.value == self.value)
    }
}

/// What a recovery link remembers: the PIN it replaces and where the new halves go.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    credential_id: i64,
    first_half: Recipient,
    second_half: Recipient,
}

/// Starts a recovery. The answer is the same, and takes the same time, whether or not the
/// codice fiscale exists, holds a PIN, or the contacts matched.
pub async fn start(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    start: &RecoveryStart,
) -> Result<LinkRequested, ServiceError> {
    let find = async |change: &Change<'_>| {
        let Some((payload, to)) = plan(state, change, start).await? else {
            return Ok(None);
        };
        let payload = serde_json::to_string(&payload)
            .map_err(|error| ServiceError::Internal(error.into()))?;
        Ok(Some(Found { payload, to }))
    };
    links::request(state, call, key, LinkPurpose::Recovery, &start.cf, find).await
}

/// Where the link and the halves go, when at least two of the given contacts match
/// proven ones and the person holds a live PIN. The link and the second half go to the
/// PEC if it matched (else the e-mail), or where the holder asked; the first half by SMS
/// to the mobile if it matched, else to the other matching contact: two different
/// contacts, since two matched.
async fn plan(
    state: &AppState,
    change: &Change<'_>,
    start: &RecoveryStart,
) -> Result<Option<(Payload, Contact)>, ServiceError> {
    let current = credentials::find_current(change.txn(), &start.cf).await?;
    let proven_all = proven_contacts(change, &start.cf).await?;
    let given = [
        (
            ContactKind::Mobile,
            start.contacts.mobile.as_ref().map(|m| m.as_str()),
        ),
        (
            ContactKind::Email,
            start.contacts.email.as_ref().map(|e| e.as_str()),
        ),
        (
            ContactKind::Pec,
            start.contacts.pec.as_ref().map(|p| p.as_str()),
        ),
    ];
    let matched: Vec<Contact> = given
        .into_iter()
        .filter_map(|(kind, value)| {
            let value = value?;
            proven(&proven_all, kind)
                .filter(|contact| contact.value.eq_ignore_ascii_case(value))
                .cloned()
        })
        .collect();
    let Some(current) = current.filter(|c| c.credential.is_live(change.now(), &state.policy))
    else {
        return Ok(None);
    };
    if matched.len() < 2 {
        return Ok(None);
    }
    let find = |kind| matched.iter().find(|c| c.kind == kind);
    let link_to = match start.link_to {
        Some(kind) => find(kind),
        None => find(ContactKind::Pec).or_else(|| find(ContactKind::Email)),
    };
    let Some(link_to) = link_to else {
        return Ok(None);
    };
    let first_half = find(ContactKind::Mobile)
        .or_else(|| matched.iter().find(|contact| contact.kind != link_to.kind));
    let Some(first_half) = first_half else {
        return Ok(None);
    };
    let payload = Payload {
        credential_id: current.id,
        first_half: Recipient::of(first_half),
        second_half: Recipient::of(link_to),
    };
    Ok(Some((payload, link_to.clone())))
}

/// Follows a recovery link: a new initial PIN replaces the old one (same level), its
/// halves go where the link says, and every registered contact is told. The link works
/// once; a link whose PIN or contacts have changed since is refused like a used one.
pub async fn confirm(
    state: &AppState,
    call: &Call,
    token: &OpaqueToken,
) -> Result<(), ServiceError> {
    // Hashing is slow and needs no lock: done before the transaction, for every link.
    let pin = state.random(Pin16::generate);
    let hash = hash_new(state, call, pin.expose_secret()).await?;
    let mut change = Change::begin(state, call).await?;
    let link = links::consume(&change, token, LinkPurpose::Recovery).await?;
    let payload: Payload = serde_json::from_str(&link.payload)
        .map_err(|error| ServiceError::Internal(error.into()))?;
    let cf = link.cf;
    credentials::lock_person(change.txn(), &cf).await?;
    let current = credentials::find_current(change.txn(), &cf).await?;
    let registered = contacts::list(change.txn(), &cf).await?;
    let proven_now: Vec<Contact> = registered
        .iter()
        .filter(|c| c.verified_at.is_some())
        .cloned()
        .collect();
    let current = match current {
        Some(current)
            if current.id == payload.credential_id
                && current.credential.is_live(call.now, &state.policy)
                && payload.first_half.still_proven(&proven_now)
                && payload.second_half.still_proven(&proven_now) =>
        {
            current
        }
        _ => return Err(links::link_invalid()),
    };
    let new = NewCredential {
        holder: current.credential.holder,
        level: current.credential.level,
        issued_via: IssuedVia::Recovery,
        secret: InitialSecret::Pin(hash),
    };
    let issued = issue_credential(
        state,
        &mut change,
        &cf,
        new,
        Replacement::Always,
        PinEnd::Recovery,
    )
    .await?
    .map_err(|_| links::link_invalid())?;
    queue_halves(&change, &cf, &issued.stored, &payload, &pin).await?;
    for contact in &registered {
        notify(&change, &cf, contact).await?;
    }
    change
        .audit(Audit {
            action: AuditAction::ConfirmRecovery,
            cf: Some(&cf),
            citizen_acts: true,
            outcome: AuditOutcome::Ok,
            details: BTreeMap::from([
                ("credential_id".to_owned(), issued.stored.id.to_string()),
                (
                    "first_half_channel".to_owned(),
                    payload.first_half.channel().to_string(),
                ),
                (
                    "second_half_channel".to_owned(),
                    payload.second_half.channel().to_string(),
                ),
            ]),
        })
        .await?;
    change.commit().await
}

async fn queue_halves(
    change: &Change<'_>,
    cf: &CodiceFiscale,
    stored: &StoredCredential,
    payload: &Payload,
    pin: &Pin16,
) -> Result<(), ServiceError> {
    let halves = [
        (
            &payload.first_half,
            DeliveryPurpose::PinFirstHalf,
            "prima",
            pin.first_half().expose_secret().to_owned(),
        ),
        (
            &payload.second_half,
            DeliveryPurpose::PinSecondHalf,
            "seconda",
            pin.second_half().expose_secret().to_owned(),
        ),
    ];
    for (recipient, purpose, which, secret) in halves {
        change
            .deliver(NewDelivery {
                cf: cf.as_str().to_owned(),
                credential_id: Some(stored.id),
                channel: recipient.channel(),
                recipient: recipient.value.clone(),
                purpose,
                subject: format!("INPS - {which} parte del PIN ripristinato"),
                body: format!(
                    "La {which} parte del suo nuovo PIN INPS è {SECRET_PLACEHOLDER}. Le due \
                     parti formano il PIN di 16 caratteri da usare per il primo accesso."
                ),
                secret: Some(secret),
            })
            .await?;
    }
    Ok(())
}

async fn notify(
    change: &Change<'_>,
    cf: &CodiceFiscale,
    contact: &Contact,
) -> Result<(), ServiceError> {
    let channel = match contact.kind {
        ContactKind::Mobile => DeliveryChannel::Sms,
        ContactKind::Email => DeliveryChannel::Email,
        ContactKind::Pec => DeliveryChannel::Pec,
    };
    change
        .deliver(NewDelivery {
            cf: cf.as_str().to_owned(),
            credential_id: None,
            channel,
            recipient: contact.value.clone(),
            purpose: DeliveryPurpose::Notice,
            subject: "INPS - PIN ripristinato".to_owned(),
            body: "Il suo PIN INPS è stato ripristinato: il PIN precedente non è più valido. \
                   Se non è stato lei, contatti subito il Contact Center INPS."
                .to_owned(),
            secret: None,
        })
        .await?;
    Ok(())
}
