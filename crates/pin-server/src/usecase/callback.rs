//! The contact center's callback queue: cases opened by requests that failed the registry
//! check and by PIN halves that could not be delivered, each closed once by an operator,
//! by issuing the PIN or by rejecting the case.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CallbackReason, ContactKind, DeliveryChannel, Email, IssuedVia,
    MobileNumber, Pec, Person, Pin16, PostalAddress, Replacement, Status,
};
use pin_store::{
    StoreError,
    repo::{
        callbacks::{self, CallbackCase, CaseStatus},
        credentials::{self, StoredCredential},
        outbox, persons,
    },
};
use serde::{Deserialize, Serialize};

use super::{
    Audit, Call, Change, RequestKey,
    issuance::{Applicant, Halves, issue_in_halves},
    issue::{Contacts, FirstHalfChannel, hash_new, store_contacts},
    once, recorded_as_is,
};
use crate::{error::ServiceError, state::AppState};

const RESOLVE: &str = "inps.pin.v1.CallbackService/ResolveCallbackCase";

/// What a case keeps of what opened it, stored as JSON without secrets. Every field is
/// optional, so that a case stored by any version reads back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct CaseFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    residence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pec: Option<String>,
    /// `SMS` or `EMAIL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_half_channel: Option<String>,
    /// The operator who filed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opened_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivery_id: Option<i64>,
    /// The credential whose half was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential_id: Option<i64>,
    /// The undelivered delivery's channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    /// The undelivered delivery's purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
}

impl CaseFile {
    /// The file of a request that failed the registry check.
    pub(super) fn of_request(applicant: &Applicant, operator: Option<&str>) -> Self {
        let contacts = &applicant.contacts;
        CaseFile {
            family_name: Some(applicant.family_name.as_str().to_owned()),
            given_name: Some(applicant.given_name.as_str().to_owned()),
            residence: Some(applicant.residence.to_string()),
            mobile: contacts.mobile.as_ref().map(|m| m.as_str().to_owned()),
            email: contacts.email.as_ref().map(|e| e.as_str().to_owned()),
            pec: contacts.pec.as_ref().map(|p| p.as_str().to_owned()),
            first_half_channel: Some(
                match applicant.first_half {
                    FirstHalfChannel::Sms => "SMS",
                    FirstHalfChannel::Email => "EMAIL",
                }
                .to_owned(),
            ),
            opened_by: operator.map(str::to_owned),
            ..CaseFile::default()
        }
    }

    /// The file of a PIN half that could not be delivered.
    pub(super) fn of_failed_delivery(
        person: Option<&Person>,
        delivery: &outbox::Acknowledged,
        failure_reason: Option<&str>,
    ) -> Self {
        CaseFile {
            family_name: person.map(|p| p.family_name.as_str().to_owned()),
            given_name: person.map(|p| p.given_name.as_str().to_owned()),
            delivery_id: Some(delivery.id),
            credential_id: delivery.credential_id,
            channel: Some(delivery.channel.as_str().to_owned()),
            purpose: Some(delivery.purpose.as_str().to_owned()),
            failure_reason: failure_reason.map(str::to_owned),
            ..CaseFile::default()
        }
    }

    /// As stored.
    pub(super) fn to_json(&self) -> String {
        // Plain strings and numbers: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    fn read(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The contacts the request gave (each re-checked; one that no longer parses is left
    /// out).
    fn contacts(&self) -> Contacts {
        Contacts {
            mobile: self
                .mobile
                .as_deref()
                .and_then(|m| MobileNumber::parse(m).ok()),
            email: self.email.as_deref().and_then(|e| Email::parse(e).ok()),
            pec: self.pec.as_deref().and_then(|p| Pec::parse(p).ok()),
        }
    }

    fn first_half(&self) -> Option<FirstHalfChannel> {
        match self.first_half_channel.as_deref() {
            Some("SMS") => Some(FirstHalfChannel::Sms),
            Some("EMAIL") => Some(FirstHalfChannel::Email),
            _ => None,
        }
    }

    /// Which delivery failed and why, for the operator.
    fn delivery_failure(&self) -> String {
        let (Some(purpose), Some(channel)) = (&self.purpose, &self.channel) else {
            return String::new();
        };
        match &self.failure_reason {
            Some(reason) => format!("{purpose} by {channel}: {reason}"),
            None => format!("{purpose} by {channel}"),
        }
    }
}

/// A case as the operator sees it.
#[derive(Debug, Clone)]
pub struct CaseView {
    /// The case.
    pub case: CallbackCase,
    /// Family name as given (or, for a failed delivery, as in the registry).
    pub family_name: String,
    /// Given name likewise.
    pub given_name: String,
    /// The operator who filed the request, if one did.
    pub opened_by: String,
    /// For a failed delivery: which half, by which channel, and why.
    pub delivery_failure: String,
}

impl From<CallbackCase> for CaseView {
    fn from(case: CallbackCase) -> Self {
        let file = CaseFile::read(&case.request);
        CaseView {
            family_name: file.family_name.clone().unwrap_or_default(),
            given_name: file.given_name.clone().unwrap_or_default(),
            opened_by: file.opened_by.clone().unwrap_or_default(),
            delivery_failure: file.delivery_failure(),
            case,
        }
    }
}

/// Up to `limit` cases in `status` after `after_id`, oldest first, and whether more follow.
pub async fn list(
    state: &AppState,
    status: CaseStatus,
    after_id: Option<i64>,
    limit: u64,
) -> Result<(Vec<CaseView>, bool), ServiceError> {
    let mut page = callbacks::list(&state.db, status, after_id, limit + 1).await?;
    let more = page.len() as u64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((page.into_iter().map(CaseView::from).collect(), more))
}

/// How an operator closes a case.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Issue the PIN.
    Issue {
        /// What the operator checked on the phone.
        note: String,
        /// The residence the caller confirmed; it must match the registry.
        confirmed_residence: PostalAddress,
        /// New contacts and the first half's channel, when the caller gave them.
        contacts: Option<(FirstHalfChannel, Contacts)>,
    },
    /// Close without a PIN, for this reason.
    Reject {
        /// What the citizen was told.
        reason: String,
    },
}

/// What a resolution records for its request id: the case it closed, which no longer
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Resolved {
    case_id: i64,
}

recorded_as_is!(Resolved);

fn already_resolved() -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "CASE_ALREADY_RESOLVED",
        message: "this callback case was already closed".to_owned(),
    }
}

fn refused(reason: &'static str, message: &str) -> ServiceError {
    ServiceError::FailedPrecondition {
        reason,
        message: message.to_owned(),
    }
}

/// Closes a case once, by issuing the PIN or rejecting it; returns the closed case. Of two
/// operators closing one case at the same moment, one closes it and the other is refused
/// with `CASE_ALREADY_RESOLVED`; a refused approval leaves the case open.
pub async fn resolve(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    case_id: i64,
    resolution: &Resolution,
) -> Result<CaseView, ServiceError> {
    let resolved = once(state, call, key, async {
        let case = callbacks::get(&state.db, case_id).await?;
        if case.status != CaseStatus::Open {
            return Err(already_resolved());
        }
        match resolution {
            Resolution::Reject { reason } => reject(state, call, key, &case, reason).await,
            Resolution::Issue {
                note,
                confirmed_residence,
                contacts,
            } => approve(state, call, key, &case, note, confirmed_residence, contacts).await,
        }
    })
    .await?;
    Ok(callbacks::get(&state.db, resolved.case_id).await?.into())
}

/// Closes `case`, unless another operator already did.
async fn close(
    change: &Change<'_>,
    case: &CallbackCase,
    issued: bool,
    note: &str,
) -> Result<(), ServiceError> {
    let operator = change.operator_id().unwrap_or_default();
    callbacks::close(change.txn(), case.id, issued, operator, note, change.now())
        .await
        .map_err(|error| match error {
            StoreError::Conflict { .. } => already_resolved(),
            other => other.into(),
        })
}

async fn reject(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    case: &CallbackCase,
    reason: &str,
) -> Result<Resolved, ServiceError> {
    let change = Change::begin_once(state, call, key, RESOLVE).await?;
    close(&change, case, false, reason).await?;
    change
        .audit(Audit {
            action: AuditAction::ResolveCallbackCase,
            cf: Some(&case.cf),
            citizen_acts: false,
            outcome: AuditOutcome::Rejected,
            details: BTreeMap::from([
                ("callback_case_id".to_owned(), case.id.to_string()),
                ("case_reason".to_owned(), case.reason.to_string()),
            ]),
        })
        .await?;
    let answer = Resolved { case_id: case.id };
    change.commit_answer(&answer).await?;
    Ok(answer)
}

async fn approve(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    case: &CallbackCase,
    note: &str,
    confirmed_residence: &PostalAddress,
    new_contacts: &Option<(FirstHalfChannel, Contacts)>,
) -> Result<Resolved, ServiceError> {
    let person = match persons::get(&state.db, &case.cf).await {
        Ok(person) => person,
        Err(StoreError::NotFound { .. }) => {
            return Err(refused(
                "PERSON_NOT_IN_REGISTRY",
                "the registry does not know this person: the case can be approved once it \
                 does, or rejected",
            ));
        }
        Err(other) => return Err(other.into()),
    };
    if !person.residence.matches(confirmed_residence) {
        return Err(refused(
            "ADDRESS_MISMATCH",
            "the confirmed address differs from the registry's, where the letter would go: \
             the caller must have the registry corrected or go to an office",
        ));
    }
    let file = CaseFile::read(&case.request);
    let (first_half, contacts) = match new_contacts {
        Some((channel, contacts)) => (contacts.first_half(*channel), Some(contacts.clone())),
        None if case.reason == CallbackReason::DeliveryFailed => {
            (undelivered_first_half(state, &file).await?, None)
        }
        None => {
            let contacts = file.contacts();
            let first_half = file.first_half().and_then(|c| contacts.first_half(c));
            (first_half, Some(contacts))
        }
    };
    let first_half = first_half.ok_or_else(|| {
        ServiceError::invalid(
            "issue.first_half_channel",
            "REQUIRED_FOR_CASE",
            "this case has no contact for the first half: give first_half_channel and the \
             matching contact",
        )
    })?;

    let pin = state.random(Pin16::generate);
    let hash = hash_new(state, call, pin.expose_secret()).await?;
    let mut change = Change::begin_once(state, call, key, RESOLVE).await?;
    close(&change, case, true, note).await?;
    let replacement = replacement(state, &change, case, &file).await?;
    let phone = Some(case.callback_phone.as_str()).filter(|phone| !phone.is_empty());
    let halves = Halves {
        person: &person,
        first_half,
        via: IssuedVia::ContactCenter,
        callback_phone: phone,
    };
    let issued = issue_in_halves(state, &mut change, &pin, hash, halves, replacement)
        .await?
        .map_err(|_already_holds| {
            refused(
                "PIN_ALREADY_ISSUED",
                "this person holds a live PIN: reject the case",
            )
        })?;
    if let Some(contacts) = &contacts {
        store_contacts(&change, &case.cf, contacts).await?;
    }
    change
        .audit(Audit {
            action: AuditAction::ResolveCallbackCase,
            cf: Some(&case.cf),
            citizen_acts: false,
            outcome: AuditOutcome::LetterComing,
            details: BTreeMap::from([
                ("callback_case_id".to_owned(), case.id.to_string()),
                ("case_reason".to_owned(), case.reason.to_string()),
                ("credential_id".to_owned(), issued.stored.id.to_string()),
                ("replaced_live".to_owned(), issued.replaced_live.to_string()),
            ]),
        })
        .await?;
    let answer = Resolved { case_id: case.id };
    change.commit_answer(&answer).await?;
    Ok(answer)
}

/// Where the undelivered PIN's first half went, when it went by SMS or e-mail.
async fn undelivered_first_half(
    state: &AppState,
    file: &CaseFile,
) -> Result<Option<(DeliveryChannel, String)>, ServiceError> {
    let Some(credential_id) = file.credential_id else {
        return Ok(None);
    };
    let contact = outbox::first_half_contact(&state.db, credential_id).await?;
    Ok(contact.and_then(|(kind, recipient)| match kind {
        ContactKind::Mobile => Some((DeliveryChannel::Sms, recipient)),
        ContactKind::Email => Some((DeliveryChannel::Email, recipient)),
        ContactKind::Pec => None,
    }))
}

/// A case opened by a failed delivery replaces the undelivered PIN, as long as it is still
/// the person's current one and unused; any other live PIN blocks the new one.
async fn replacement(
    state: &AppState,
    change: &Change<'_>,
    case: &CallbackCase,
    file: &CaseFile,
) -> Result<Replacement, ServiceError> {
    if case.reason != CallbackReason::DeliveryFailed {
        return Ok(Replacement::IfNotLive);
    }
    credentials::lock_person(change.txn(), &case.cf).await?;
    let current = credentials::find_current(change.txn(), &case.cf).await?;
    let undelivered = |current: &StoredCredential| {
        Some(current.id) == file.credential_id
            && matches!(
                current.credential.status(change.now(), &state.policy),
                Status::AwaitingFirstAccess | Status::AwaitingActivation
            )
    };
    Ok(match current {
        Some(current) if undelivered(&current) => Replacement::Always,
        _ => Replacement::IfNotLive,
    })
}
