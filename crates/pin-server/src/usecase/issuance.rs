//! Requesting a PIN, on the portal or through the contact center: checked against the
//! registry, then a PIN whose halves travel apart, a notice to a person who already holds
//! one, or a callback case. Every channel issues through [`Credential::issue`].
//!
//! [`Credential::issue`]: pin_domain::Credential::issue

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CallbackReason, CodiceFiscale, DeliveryChannel, DeliveryPurpose,
    InitialSecret, IssuedVia, Level, NewCredential, Person, PersonName, Pin16, PinEnd, PinHash,
    PostalAddress, Refusal, Replacement,
};
use pin_store::{
    StoreError,
    repo::{
        callbacks::{self, NewCallbackCase},
        credentials,
        outbox::{NewDelivery, SECRET_PLACEHOLDER},
        persons,
    },
};
use serde::{Deserialize, Serialize};

use super::{
    Audit, Call, Change, RequestKey,
    callback::CaseFile,
    issue::{Contacts, FirstHalfChannel, Issued, hash_new, issue_credential, store_contacts},
    once, recorded_as_is,
};
use crate::{error::ServiceError, state::AppState};

/// Who files a PIN request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// The citizen, on the portal.
    Portal,
    /// A contact-center operator, for a caller on the phone.
    ContactCenter,
}

impl Requester {
    fn method(self) -> &'static str {
        match self {
            Requester::Portal => "inps.pin.v1.IssuanceService/RequestPinOnline",
            Requester::ContactCenter => "inps.pin.v1.IssuanceService/RequestPinByContactCenter",
        }
    }

    fn action(self) -> AuditAction {
        match self {
            Requester::Portal => AuditAction::RequestPinOnline,
            Requester::ContactCenter => AuditAction::RequestPinByContactCenter,
        }
    }

    fn issued_via(self) -> IssuedVia {
        match self {
            Requester::Portal => IssuedVia::Online,
            Requester::ContactCenter => IssuedVia::ContactCenter,
        }
    }
}

/// A PIN applicant, every field parsed and the codice fiscale agreeing with the rest.
#[derive(Debug, Clone)]
pub struct Applicant {
    /// Codice fiscale.
    pub cf: CodiceFiscale,
    /// Family name.
    pub family_name: PersonName,
    /// Given name.
    pub given_name: PersonName,
    /// The address the applicant states.
    pub residence: PostalAddress,
    /// The number the contact center can call.
    pub callback_phone: String,
    /// The contacts given.
    pub contacts: Contacts,
    /// Where the first half goes. The parser guarantees the matching contact.
    pub first_half: FirstHalfChannel,
}

impl Applicant {
    /// The channel and recipient of the first half.
    fn first_half_contact(&self) -> (DeliveryChannel, String) {
        self.contacts
            .first_half(self.first_half)
            .unwrap_or((DeliveryChannel::Sms, String::new()))
    }
}

/// What the applicant is told: only that a letter is coming or that someone will call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOutcome {
    /// The halves are on their way (also when the person already holds a PIN: a letter
    /// then tells them that a PIN was requested in their name).
    LetterComing,
    /// The contact center will call back.
    CallbackScheduled,
}

/// The answer to a PIN request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestAnswer {
    /// The outcome.
    pub outcome: RequestOutcome,
    /// Fewer than two contacts were given: recovery will not be possible.
    pub fewer_than_two_contacts: bool,
    /// The case opened for a callback.
    #[serde(default)]
    pub callback_case_id: Option<i64>,
}

recorded_as_is!(RequestAnswer);

fn answer(outcome: RequestOutcome, applicant: &Applicant) -> RequestAnswer {
    RequestAnswer {
        outcome,
        fewer_than_two_contacts: applicant.contacts.count() < 2,
        callback_case_id: None,
    }
}

/// A PIN request, checked against the registry: a PIN whose halves go by two channels, a
/// notice to a person who already holds one, or a callback case. The answer does not tell
/// the first two apart.
pub async fn request_pin(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    applicant: &Applicant,
    requester: Requester,
) -> Result<RequestAnswer, ServiceError> {
    once(state, call, key, async {
        let person = match persons::get(&state.db, &applicant.cf).await {
            Ok(person) => Some(person),
            Err(StoreError::NotFound { .. }) => None,
            Err(other) => return Err(other.into()),
        };
        let reason = match &person {
            Some(person) if person.residence.matches(&applicant.residence) => {
                return issue_requested(state, call, key, applicant, person, requester).await;
            }
            Some(_) => CallbackReason::AddressMismatch,
            None => CallbackReason::UnknownPerson,
        };
        open_callback(state, call, key, applicant, requester, reason).await
    })
    .await
}

/// A new ordinary initial PIN, and where its halves go.
pub(super) struct Halves<'a> {
    /// The holder, as in the registry: the second half goes to this residence.
    pub person: &'a Person,
    /// The first half's channel and recipient.
    pub first_half: (DeliveryChannel, String),
    /// Through whom it is issued.
    pub via: IssuedVia,
    /// The number the applicant gave for assistance.
    pub callback_phone: Option<&'a str>,
}

/// Issues an ordinary initial PIN (`pin`, already hashed) and queues its halves: the first
/// by SMS or e-mail, the second by post to the registry residence. `Ok(Err(AlreadyHolds))`
/// when `replacement` does not allow replacing the person's live PIN.
pub(super) async fn issue_in_halves(
    state: &AppState,
    change: &mut Change<'_>,
    pin: &Pin16,
    hash: PinHash,
    halves: Halves<'_>,
    replacement: Replacement,
) -> Result<Result<Issued, Refusal>, ServiceError> {
    let person = halves.person;
    let new = NewCredential {
        holder: person.holder(),
        level: Level::Ordinary,
        issued_via: halves.via,
        secret: InitialSecret::Pin(hash),
    };
    let issued = issue_credential(
        state,
        change,
        &person.codice_fiscale,
        new,
        replacement,
        PinEnd::Replaced,
    )
    .await?;
    let Ok(issued) = issued else {
        return Ok(issued);
    };
    let id = issued.stored.id;
    if let Some(phone) = halves.callback_phone {
        credentials::set_callback_phone(change.txn(), id, phone).await?;
    }
    queue_halves(change, id, person, halves.first_half, pin).await?;
    Ok(Ok(issued))
}

async fn issue_requested(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    applicant: &Applicant,
    person: &Person,
    requester: Requester,
) -> Result<RequestAnswer, ServiceError> {
    // Draw and hash the PIN before the transaction (hashing is slow and needs no lock),
    // also for a person who turns out to hold a PIN: both answers cost the same.
    let pin = state.random(Pin16::generate);
    let hash = hash_new(state, call, pin.expose_secret()).await?;

    let mut change = Change::begin_once(state, call, key, requester.method()).await?;
    let halves = Halves {
        person,
        first_half: applicant.first_half_contact(),
        via: requester.issued_via(),
        callback_phone: Some(&applicant.callback_phone),
    };
    let issued = issue_in_halves(
        state,
        &mut change,
        &pin,
        hash,
        halves,
        Replacement::IfNotLive,
    )
    .await?;
    let Ok(Issued { stored, .. }) = issued else {
        return notify_holder(change, applicant, person, requester).await;
    };
    store_contacts(&change, &applicant.cf, &applicant.contacts).await?;
    change
        .audit(Audit {
            action: requester.action(),
            cf: Some(&applicant.cf),
            citizen_acts: requester == Requester::Portal,
            outcome: AuditOutcome::LetterComing,
            details: BTreeMap::from([
                (
                    "first_half_channel".to_owned(),
                    applicant.first_half_contact().0.to_string(),
                ),
                ("credential_id".to_owned(), stored.id.to_string()),
            ]),
        })
        .await?;
    let answer = answer(RequestOutcome::LetterComing, applicant);
    change.commit_answer(&answer).await?;
    Ok(answer)
}

/// A request in the name of someone who holds a PIN issues nothing and stores none of
/// the contacts given (they may be an impostor's). The holder gets a letter at the
/// registered residence; the applicant gets the answer any applicant gets.
async fn notify_holder(
    change: Change<'_>,
    applicant: &Applicant,
    person: &Person,
    requester: Requester,
) -> Result<RequestAnswer, ServiceError> {
    let date = change.now().date();
    let how = match requester {
        Requester::Portal => "online",
        Requester::ContactCenter => "tramite il Contact Center",
    };
    let delivery = change
        .deliver(NewDelivery {
            cf: applicant.cf.as_str().to_owned(),
            credential_id: None,
            channel: DeliveryChannel::Post,
            recipient: postal_recipient(person),
            purpose: DeliveryPurpose::Notice,
            subject: "INPS - richiesta di PIN a suo nome".to_owned(),
            body: format!(
                "Gentile {} {},\nil {:02}/{:02}/{} è stato richiesto {how} un PIN INPS a suo \
                 nome. Lei è già titolare di un PIN, che resta valido: non ne è stato emesso \
                 un altro.\nSe ha dimenticato il PIN può ripristinarlo online. Se la \
                 richiesta non è stata fatta da lei, contatti il Contact Center INPS o si \
                 rechi presso una sede INPS.",
                person.given_name.as_str(),
                person.family_name.as_str(),
                date.day(),
                u8::from(date.month()),
                date.year()
            ),
            secret: None,
        })
        .await?;
    change
        .audit(Audit {
            action: requester.action(),
            cf: Some(&applicant.cf),
            citizen_acts: requester == Requester::Portal,
            outcome: AuditOutcome::AlreadyHolds,
            details: BTreeMap::from([("notice_delivery_id".to_owned(), delivery.to_string())]),
        })
        .await?;
    let answer = answer(RequestOutcome::LetterComing, applicant);
    change.commit_answer(&answer).await?;
    Ok(answer)
}

/// The postal address lines of a person in the registry.
pub fn postal_recipient(person: &Person) -> String {
    let address = &person.residence;
    format!(
        "{} {}\n{} {}\n{} {} ({})",
        person.given_name.as_str(),
        person.family_name.as_str(),
        address.street(),
        address.number(),
        address.cap(),
        address.municipality(),
        address.province()
    )
}

async fn queue_halves(
    change: &Change<'_>,
    credential_id: i64,
    person: &Person,
    (channel, recipient): (DeliveryChannel, String),
    pin: &Pin16,
) -> Result<(), ServiceError> {
    let cf = person.codice_fiscale.as_str().to_owned();
    change
        .deliver(NewDelivery {
            cf: cf.clone(),
            credential_id: Some(credential_id),
            channel,
            recipient,
            purpose: DeliveryPurpose::PinFirstHalf,
            subject: "INPS - prima parte del PIN".to_owned(),
            body: format!(
                "La prima parte del suo PIN INPS è {SECRET_PLACEHOLDER}. La seconda parte le \
                 arriverà per posta all'indirizzo di residenza."
            ),
            secret: Some(pin.first_half().expose_secret().to_owned()),
        })
        .await?;
    change
        .deliver(NewDelivery {
            cf,
            credential_id: Some(credential_id),
            channel: DeliveryChannel::Post,
            recipient: postal_recipient(person),
            purpose: DeliveryPurpose::PinSecondHalf,
            subject: "INPS - seconda parte del PIN".to_owned(),
            body: format!(
                "Gentile {} {},\nla seconda parte del suo PIN INPS è {SECRET_PLACEHOLDER}.\n\
                 Unita alla prima parte, ricevuta per SMS o e-mail, forma il PIN di 16 \
                 caratteri da usare per il primo accesso.",
                person.given_name.as_str(),
                person.family_name.as_str()
            ),
            secret: Some(pin.second_half().expose_secret().to_owned()),
        })
        .await?;
    Ok(())
}

async fn open_callback(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    applicant: &Applicant,
    requester: Requester,
    reason: CallbackReason,
) -> Result<RequestAnswer, ServiceError> {
    let change = Change::begin_once(state, call, key, requester.method()).await?;
    let file = CaseFile::of_request(applicant, change.operator_id());
    let case_id = callbacks::open(
        change.txn(),
        NewCallbackCase {
            cf: applicant.cf.as_str().to_owned(),
            reason,
            request: file.to_json(),
            callback_phone: applicant.callback_phone.clone(),
        },
        change.now(),
    )
    .await?;
    change
        .audit(Audit {
            action: requester.action(),
            cf: Some(&applicant.cf),
            citizen_acts: requester == Requester::Portal,
            outcome: AuditOutcome::Callback,
            details: BTreeMap::from([
                ("reason".to_owned(), reason.to_string()),
                ("callback_case_id".to_owned(), case_id.to_string()),
            ]),
        })
        .await?;
    let answer = RequestAnswer {
        callback_case_id: Some(case_id),
        ..answer(RequestOutcome::CallbackScheduled, applicant)
    };
    change.commit_answer(&answer).await?;
    Ok(answer)
}
