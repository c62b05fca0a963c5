//! A holder's contacts. A new or changed contact receives a six-digit code and counts —
//! for recovery, revocation and notices — only once the code came back: whoever filed a
//! request in someone else's name with their own contacts must not be able to use them.
//! Every change is told to the proven contacts the holder had before it.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CodiceFiscale, ContactKind, DeliveryChannel, DeliveryPurpose,
    VerificationCode,
};
use pin_store::repo::{
    codes,
    contacts::{self, Contact},
    outbox::{NewDelivery, SECRET_PLACEHOLDER},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Answer, Audit, Call, Change, RequestKey, live_session, once};
use crate::{error::ServiceError, state::AppState};

const UPDATE: &str = "inps.pin.v1.ContactsService/UpdateContacts";
const ADD_BY_CONTACT_CENTER: &str = "inps.pin.v1.ContactsService/AddContactByContactCenter";

/// Wrong codes allowed per code; the next try with the right one is refused too.
pub const MAX_CODE_TRIES: u32 = 5;

/// One change: a new value for a kind of contact, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChange {
    /// Which contact.
    pub kind: ContactKind,
    /// The new value in canonical form; `None` removes the contact.
    pub value: Option<String>,
}

/// The holder's contacts as answered, and as recorded for a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactList {
    /// `(kind, value, verified at in Unix ms)`, one per kind at most.
    pub contacts: Vec<(String, String, Option<i64>)>,
}

impl ContactList {
    fn of(contacts: &[Contact]) -> Self {
        ContactList {
            contacts: contacts
                .iter()
                .map(|contact| {
                    (
                        contact.kind.as_str().to_owned(),
                        contact.value.clone(),
                        contact.verified_at.map(pin_store::repo::to_millis),
                    )
                })
                .collect(),
        }
    }
}

impl Answer for ContactList {
    type Recorded = Self;

    fn recorded(&self) -> Self {
        self.clone()
    }

    fn replayed(recorded: Self) -> Self {
        recorded
    }
}

/// The contacts of the holder of `session_token`.
pub async fn get(
    state: &AppState,
    call: &Call,
    session_token: &str,
) -> Result<ContactList, ServiceError> {
    let live = live_session(state, call, session_token).await?;
    let list = contacts::list(&state.db, &live.session.cf).await?;
    Ok(ContactList::of(&list))
}

/// Changes the holder's contacts; the session must have been opened within the policy's
/// recent-login window. A new or changed value gets a code; an unchanged value that is
/// still unproven gets a new one; removing the last contact is refused.
pub async fn update(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    session_token: &str,
    changes: &[ContactChange],
) -> Result<ContactList, ServiceError> {
    once(state, call, key, async {
        let live = live_session(state, call, session_token).await?;
        if live.session.created_at + state.policy.recent_login_window() < call.now {
            return Err(ServiceError::FailedPrecondition {
                reason: "LOGIN_TOO_OLD",
                message: "contacts can be changed only soon after logging in: log in again"
                    .to_owned(),
            });
        }
        let cf = &live.session.cf;
        let change = Change::begin_once(state, call, key, UPDATE).await?;
        let before = contacts::list(change.txn(), cf).await?;
        let mut changed = Vec::new();
        for ContactChange { kind, value } in changes {
            let current = before.iter().find(|c| c.kind == *kind);
            match (value, current) {
                (None, None) => {}
                (None, Some(_)) => {
                    contacts::remove(change.txn(), cf, *kind).await?;
                    codes::void(change.txn(), cf, *kind, change.now()).await?;
                    changed.push(*kind);
                }
                (Some(value), Some(current))
                    if current.value == *value && current.verified_at.is_some() => {}
                (Some(value), current) => {
                    contacts::set(change.txn(), cf, *kind, value, change.now()).await?;
                    send_code(state, &change, cf, *kind, value).await?;
                    if current.is_none_or(|c| c.value != *value) {
                        changed.push(*kind);
                    }
                }
            }
        }
        let after = contacts::list(change.txn(), cf).await?;
        if after.is_empty() {
            return Err(ServiceError::FailedPrecondition {
                reason: "LAST_CONTACT",
                message: "the last contact cannot be removed".to_owned(),
            });
        }
        if !changed.is_empty() {
            notify_change(&change, cf, &before).await?;
        }
        change
            .audit(Audit {
                action: AuditAction::UpdateContacts,
                cf: Some(cf),
                citizen_acts: true,
                outcome: AuditOutcome::Ok,
                details: BTreeMap::from([(
                    "changed".to_owned(),
                    changed
                        .iter()
                        .map(|kind| kind.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                )]),
            })
            .await?;
        let answer = ContactList::of(&after);
        change.commit_answer(&answer).await?;
        Ok(answer)
    })
    .await
}

fn code_invalid() -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "CODE_INVALID",
        message: "the code is wrong, expired, already used, or has had too many tries: ask \
                  for a new one"
            .to_owned(),
    }
}

/// A code's salted SHA-256, `salt$digest` in hex: a code lives minutes and allows a
/// handful of tries, so a slow hash would buy nothing.
fn code_hash(salt: &[u8; 16], code: &VerificationCode) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(code.expose_secret().as_bytes());
    format!("{}${}", hex::encode(salt), hex::encode(hasher.finalize()))
}

fn code_matches(stored: &str, code: &VerificationCode) -> bool {
    let Some((salt, _)) = stored.split_once('$') else {
        return false;
    };
    let mut bytes = [0u8; 16];
    match hex::decode_to_slice(salt, &mut bytes) {
        Ok(()) => code_hash(&bytes, code) == stored,
        Err(_) => false,
    }
}

/// Proves the holder's contact of `kind` with the code sent to it. Exactly one of
/// concurrent calls with the right code succeeds; a wrong code counts as a try.
pub async fn verify(
    state: &AppState,
    call: &Call,
    session_token: &str,
    kind: ContactKind,
    code: &VerificationCode,
) -> Result<Contact, ServiceError> {
    let live = live_session(state, call, session_token).await?;
    let cf = &live.session.cf;
    let pending = codes::pending(&state.db, cf, kind, call.now)
        .await?
        .filter(|pending| pending.attempts < MAX_CODE_TRIES)
        .ok_or_else(code_invalid)?;
    if !code_matches(&pending.code_hash, code) {
        codes::count_wrong_try(&state.db, pending.id).await?;
        return Err(code_invalid());
    }
    let change = Change::begin(state, call).await?;
    if !codes::consume(change.txn(), pending.id, MAX_CODE_TRIES, call.now).await? {
        return Err(code_invalid());
    }
    let proof = format!("CODE:{}", pending.id);
    if !contacts::verify(change.txn(), cf, kind, &pending.value, &proof, call.now).await? {
        return Err(code_invalid());
    }
    change
        .audit(Audit {
            action: AuditAction::VerifyContact,
            cf: Some(cf),
            citizen_acts: true,
            outcome: AuditOutcome::Ok,
            details: BTreeMap::from([("kind".to_owned(), kind.as_str().to_owned())]),
        })
        .await?;
    let list = contacts::list(change.txn(), cf).await?;
    change.commit().await?;
    list.into_iter()
        .find(|contact| contact.kind == kind)
        .ok_or_else(code_invalid)
}

/// A contact-center operator adds a contact for a caller who already has one; it gets a
/// code like any new contact.
pub async fn add_by_contact_center(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    cf: &CodiceFiscale,
    kind: ContactKind,
    value: &str,
) -> Result<ContactList, ServiceError> {
    once(state, call, key, async {
        let change = Change::begin_once(state, call, key, ADD_BY_CONTACT_CENTER).await?;
        let before = contacts::list(change.txn(), cf).await?;
        if before.is_empty() {
            return Err(ServiceError::FailedPrecondition {
                reason: "NO_CONTACT",
                message: "the contact center adds contacts only for a person who has one \
                          already: the person can register contacts online or at an office"
                    .to_owned(),
            });
        }
        let current = before.iter().find(|c| c.kind == kind);
        if current.is_none_or(|c| c.value != value || c.verified_at.is_none()) {
            contacts::set(change.txn(), cf, kind, value, change.now()).await?;
            send_code(state, &change, cf, kind, value).await?;
        }
        if current.is_none_or(|c| c.value != value) {
            notify_change(&change, cf, &before).await?;
        }
        change
            .audit(Audit {
                action: AuditAction::AddContactByContactCenter,
                cf: Some(cf),
                citizen_acts: false,
                outcome: AuditOutcome::Ok,
                details: BTreeMap::from([("kind".to_owned(), kind.as_str().to_owned())]),
            })
            .await?;
        let after = contacts::list(change.txn(), cf).await?;
        let answer = ContactList::of(&after);
        change.commit_answer(&answer).await?;
        Ok(answer)
    })
    .await
}

fn channel_of(kind: ContactKind) -> DeliveryChannel {
    match kind {
        ContactKind::Mobile => DeliveryChannel::Sms,
        ContactKind::Email => DeliveryChannel::Email,
        ContactKind::Pec => DeliveryChannel::Pec,
    }
}

/// Sends a new verification code to the contact `kind` = `value` (voiding older ones).
pub(super) async fn send_code(
    state: &AppState,
    change: &Change<'_>,
    cf: &CodiceFiscale,
    kind: ContactKind,
    value: &str,
) -> Result<(), ServiceError> {
    let code = state.random(VerificationCode::generate);
    let salt: [u8; 16] = state.random(|rng| {
        let mut salt = [0u8; 16];
        rand::Rng::fill_bytes(rng, &mut salt);
        salt
    });
    let now = change.now();
    let lifetime = state.policy.code_lifetime();
    codes::create(
        change.txn(),
        cf,
        kind,
        value,
        &code_hash(&salt, &code),
        now,
        now + lifetime,
    )
    .await?;
    change
        .deliver(NewDelivery {
            cf: cf.as_str().to_owned(),
            credential_id: None,
            channel: channel_of(kind),
            recipient: value.to_owned(),
            purpose: DeliveryPurpose::VerificationCode,
            subject: "INPS - codice di verifica".to_owned(),
            body: format!(
                "Il codice per confermare questo recapito presso l'INPS è {SECRET_PLACEHOLDER}. \
                 Vale {} minuti.",
                lifetime.whole_minutes()
            ),
            secret: Some(code.expose_secret().to_owned()),
        })
        .await?;
    Ok(())
}

/// Tells the holder's proven contacts among `before` that the contacts changed.
async fn notify_change(
    change: &Change<'_>,
    cf: &CodiceFiscale,
    before: &[Contact],
) -> Result<(), ServiceError> {
    for contact in before.iter().filter(|c| c.verified_at.is_some()) {
        change
            .deliver(NewDelivery {
                cf: cf.as_str().to_owned(),
                credential_id: None,
                channel: channel_of(contact.kind),
                recipient: contact.value.clone(),
                purpose: DeliveryPurpose::Notice,
                subject: "INPS - recapiti modificati".to_owned(),
                body: "I recapiti associati al suo PIN INPS sono stati modificati. Se non è stato \
                   lei, contatti subito il Contact Center INPS."
                    .to_owned(),
                secret: None,
            })
            .await?;
    }
    Ok(())
}
