//! The steps every issuance channel shares: hashing the new secret, putting the new
//! credential in place of the current one, and registering the contacts given.

use pin_domain::{
    CodiceFiscale, ContactKind, Credential, DeliveryChannel, Email, EventDetail, MobileNumber,
    NewCredential, Pec, PinEnd, PinHash, Refusal, Replacement, SessionEnd,
};
use pin_store::repo::{
    contacts,
    credentials::{self, StoredCredential},
    sessions,
};
use secrecy::SecretString;

use super::{Call, Change};
use crate::{error::ServiceError, state::AppState};

/// Hashes a newly drawn secret (a PIN or a half) on the hashing pool, within the caller's
/// deadline. Done before the transaction begins: hashing is slow and needs no lock.
pub(super) async fn hash_new(
    state: &AppState,
    call: &Call,
    secret: &str,
) -> Result<PinHash, ServiceError> {
    Ok(state
        .hashing
        .hash(SecretString::from(secret.to_owned()), call.deadline)
        .await?)
}

/// A credential issued in a change.
#[derive(Debug)]
pub(super) struct Issued {
    /// The new credential as stored.
    pub stored: StoredCredential,
    /// Whether a live PIN was replaced (a lapsed one does not count).
    pub replaced_live: bool,
}

/// Issues `new` to `cf` inside `change`, decided by [`Credential::issue`] against the
/// person's current credential, read under the person's lock. A superseded credential
/// ends with a `PIN_REVOKED` event (`via` for a live PIN, `REPLACED` for one that lapsed)
/// and its sessions with it. `Ok(Err(AlreadyHolds))` when a live PIN blocks the new one:
/// the caller decides what that means for its channel.
pub(super) async fn issue_credential(
    state: &AppState,
    change: &mut Change<'_>,
    cf: &CodiceFiscale,
    new: NewCredential,
    replacement: Replacement,
    via: PinEnd,
) -> Result<Result<Issued, Refusal>, ServiceError> {
    let now = change.now();
    credentials::lock_person(change.txn(), cf).await?;
    let current = credentials::find_current(change.txn(), cf).await?;
    let issuance = match Credential::issue(
        current.as_ref().map(|c| &c.credential),
        new,
        replacement,
        now,
        &state.policy,
    ) {
        Ok(issuance) => issuance,
        Err(refusal @ Refusal::AlreadyHolds) => return Ok(Err(refusal)),
        Err(other) => return Err(other.into()),
    };
    let mut replaced_live = false;
    if let (Some(current), Some(ended)) = (&current, &issuance.superseded) {
        credentials::update(change.txn(), current, ended, now).await?;
        replaced_live = current.credential.is_live(now, &state.policy);
        let via = if replaced_live { via } else { PinEnd::Replaced };
        change.event(cf, &EventDetail::PinRevoked { via }).await?;
        end_sessions(change, cf, SessionEnd::PinSuperseded).await?;
    }
    let stored = credentials::insert(change.txn(), cf, &issuance.issued, now).await?;
    Ok(Ok(Issued {
        stored,
        replaced_live,
    }))
}

/// Ends every open session of `cf` for `reason`, with a `SESSIONS_ENDED` event when there
/// were any; returns how many ended.
pub(super) async fn end_sessions(
    change: &mut Change<'_>,
    cf: &CodiceFiscale,
    reason: SessionEnd,
) -> Result<u32, ServiceError> {
    let ended = sessions::end_all(change.txn(), cf, None, reason, change.now()).await?;
    let count = u32::try_from(ended).unwrap_or(u32::MAX);
    if count > 0 {
        change
            .event(cf, &EventDetail::SessionsEnded { count, reason })
            .await?;
    }
    Ok(count)
}

/// Contacts given with a request, each checked; none is required.
#[derive(Debug, Clone, Default)]
pub struct Contacts {
    /// Mobile number.
    pub mobile: Option<MobileNumber>,
    /// E-mail.
    pub email: Option<Email>,
    /// PEC.
    pub pec: Option<Pec>,
}

impl Contacts {
    /// How many were given.
    pub fn count(&self) -> usize {
        usize::from(self.mobile.is_some())
            + usize::from(self.email.is_some())
            + usize::from(self.pec.is_some())
    }

    /// The channel and recipient of a first half sent by `channel`, if that contact was
    /// given.
    pub fn first_half(&self, channel: FirstHalfChannel) -> Option<(DeliveryChannel, String)> {
        match channel {
            FirstHalfChannel::Sms => self
                .mobile
                .as_ref()
                .map(|mobile| (DeliveryChannel::Sms, mobile.as_str().to_owned())),
            FirstHalfChannel::Email => self
                .email
                .as_ref()
                .map(|email| (DeliveryChannel::Email, email.as_str().to_owned())),
        }
    }
}

/// Where the first half of an initial PIN goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstHalfChannel {
    /// SMS to the mobile number.
    Sms,
    /// E-mail.
    Email,
}

/// Registers the contacts given with a PIN request (unverified until proven).
pub(super) async fn store_contacts(
    change: &Change<'_>,
    cf: &CodiceFiscale,
    contacts: &Contacts,
) -> Result<(), ServiceError> {
    let given = [
        (
            ContactKind::Mobile,
            contacts.mobile.as_ref().map(MobileNumber::as_str),
        ),
        (
            ContactKind::Email,
            contacts.email.as_ref().map(Email::as_str),
        ),
        (ContactKind::Pec, contacts.pec.as_ref().map(Pec::as_str)),
    ];
    for (kind, value) in given {
        if let Some(value) = value {
            contacts::set(change.txn(), cf, kind, value, change.now()).await?;
        }
    }
    Ok(())
}
