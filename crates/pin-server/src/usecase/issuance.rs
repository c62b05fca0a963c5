//! Obtaining a PIN. Online requests today; every channel goes through the same decision,
//! [`Credential::issue`].

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CallbackReason, CodiceFiscale, DeliveryChannel, DeliveryPurpose,
    Email, InitialSecret, IssuedVia, Level, MobileNumber, NewCredential, Pec, Person, PersonName,
    Pin16, PinEnd, PostalAddress, Replacement,
};
use pin_store::{
    StoreError,
    repo::{
        callbacks::{self, NewCallbackCase},
        outbox::{NewDelivery, SECRET_PLACEHOLDER},
        persons,
    },
};
use serde::{Deserialize, Serialize};

use super::{
    Audit, Call, Change, RequestKey,
    issue::{Issued, hash_new, issue_credential, store_contacts},
    once, recorded_as_is,
};
use crate::{error::ServiceError, state::AppState};

const REQUEST_ONLINE: &str = "inps.pin.v1.IssuanceService/RequestPinOnline";

/// Where the first half of an online PIN goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstHalfChannel {
    /// SMS to the mobile number.
    Sms,
    /// E-mail.
    Email,
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
    /// Mobile number, if given.
    pub mobile: Option<MobileNumber>,
    /// E-mail, if given.
    pub email: Option<Email>,
    /// PEC, if given.
    pub pec: Option<Pec>,
    /// Where the first half goes. The parser guarantees the matching contact.
    pub first_half: FirstHalfChannel,
}

impl Applicant {
    /// How many contacts were given.
    pub fn contact_count(&self) -> usize {
        usize::from(self.mobile.is_some())
            + usize::from(self.email.is_some())
            + usize::from(self.pec.is_some())
    }

    /// The channel and recipient of the first half.
    fn first_half_contact(&self) -> (DeliveryChannel, String) {
        let (channel, recipient) = match self.first_half {
            FirstHalfChannel::Sms => (
                DeliveryChannel::Sms,
                self.mobile.as_ref().map(MobileNumber::as_str),
            ),
            FirstHalfChannel::Email => (
                DeliveryChannel::Email,
                self.email.as_ref().map(Email::as_str),
            ),
        };
        (channel, recipient.unwrap_or_default().to_owned())
    }
}

/// What the applicant is told: only that a letter is coming or that someone will call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnlineOutcome {
    /// The halves are on their way (also when the person already holds a PIN: a letter
    /// then tells them that a PIN was requested in their name).
    LetterComing,
    /// The contact center will call back.
    CallbackScheduled,
}

/// The answer to an online request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineAnswer {
    /// The outcome.
    pub outcome: OnlineOutcome,
    /// Fewer than two contacts were given: recovery will not be possible.
    pub fewer_than_two_contacts: bool,
}

recorded_as_is!(OnlineAnswer);

fn answer(outcome: OnlineOutcome, applicant: &Applicant) -> OnlineAnswer {
    OnlineAnswer {
        outcome,
        fewer_than_two_contacts: applicant.contact_count() < 2,
    }
}

/// The online request: checked against the registry, then either a PIN whose halves go by
/// two channels, or a notice to a person who already holds one, or a callback case. The
/// answer does not tell these apart beyond "a letter is coming" / "we will call you".
pub async fn request_online(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    applicant: &Applicant,
) -> Result<OnlineAnswer, ServiceError> {
    once(state, call, key, async {
        let person = match persons::get(&state.db, &applicant.cf).await {
            Ok(person) => Some(person),
            Err(StoreError::NotFound { .. }) => None,
            Err(other) => return Err(other.into()),
        };
        match &person {
            Some(person) if person.residence.matches(&applicant.residence) => {
                issue_online(state, call, key, applicant, person).await
            }
            Some(_) => {
                open_callback(state, call, key, applicant, CallbackReason::AddressMismatch).await
            }
            None => open_callback(state, call, key, applicant, CallbackReason::UnknownPerson).await,
        }
    })
    .await
}

async fn issue_online(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    applicant: &Applicant,
    person: &Person,
) -> Result<OnlineAnswer, ServiceError> {
    // Draw and hash the PIN before the transaction (hashing is slow and needs no lock),
    // also for a person who turns out to hold a PIN: both answers cost the same.
    let pin = state.random(Pin16::generate);
    let hash = hash_new(state, call, pin.expose_secret()).await?;

    let mut change = Change::begin_once(state, call, key, REQUEST_ONLINE).await?;
    let new = NewCredential {
        holder: person.holder(),
        level: Level::Ordinary,
        issued_via: IssuedVia::Online,
        secret: InitialSecret::Pin(hash),
    };
    let via = PinEnd::Replaced;
    let issued = issue_credential(
        state,
        &mut change,
        &applicant.cf,
        new,
        Replacement::IfNotLive,
        via,
    )
    .await?;
    let Ok(Issued { stored, .. }) = issued else {
        return notify_holder(change, applicant, person).await;
    };
    let (mobile, email, pec) = (&applicant.mobile, &applicant.email, &applicant.pec);
    store_contacts(
        &change,
        &applicant.cf,
        mobile.as_ref(),
        email.as_ref(),
        pec.as_ref(),
    )
    .await?;
    queue_halves(&change, stored.id, person, applicant, &pin).await?;
    change
        .audit(Audit {
            action: AuditAction::RequestPinOnline,
            cf: Some(&applicant.cf),
            citizen_acts: true,
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
    let answer = answer(OnlineOutcome::LetterComing, applicant);
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
) -> Result<OnlineAnswer, ServiceError> {
    let date = change.now().date();
    let delivery = change
        .deliver(NewDelivery {
            cf: applicant.cf.as_str().to_owned(),
            credential_id: None,
            channel: DeliveryChannel::Post,
            recipient: postal_recipient(person),
            purpose: DeliveryPurpose::Notice,
            subject: "INPS - richiesta di PIN a suo nome".to_owned(),
            body: format!(
                "Gentile {} {},\nil {:02}/{:02}/{} è stato richiesto online un PIN INPS a suo \
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
            action: AuditAction::RequestPinOnline,
            cf: Some(&applicant.cf),
            citizen_acts: true,
            outcome: AuditOutcome::AlreadyHolds,
            details: BTreeMap::from([("notice_delivery_id".to_owned(), delivery.to_string())]),
        })
        .await?;
    let answer = answer(OnlineOutcome::LetterComing, applicant);
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
    applicant: &Applicant,
    pin: &Pin16,
) -> Result<(), ServiceError> {
    let (channel, recipient) = applicant.first_half_contact();
    let cf = applicant.cf.as_str().to_owned();
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
    reason: CallbackReason,
) -> Result<OnlineAnswer, ServiceError> {
    let submitted = serde_json::json!({
        "family_name": applicant.family_name.as_str(),
        "given_name": applicant.given_name.as_str(),
        "residence": applicant.residence.to_string(),
        "mobile": applicant.mobile.as_ref().map(|m| m.as_str()),
        "email": applicant.email.as_ref().map(|e| e.as_str()),
        "pec": applicant.pec.as_ref().map(|p| p.as_str()),
        "first_half_channel": applicant.first_half_contact().0.as_str(),
    });
    let change = Change::begin_once(state, call, key, REQUEST_ONLINE).await?;
    let case_id = callbacks::open(
        change.txn(),
        NewCallbackCase {
            cf: applicant.cf.as_str().to_owned(),
            reason,
            request: submitted.to_string(),
            callback_phone: applicant.callback_phone.clone(),
        },
        change.now(),
    )
    .await?;
    change
        .audit(Audit {
            action: AuditAction::RequestPinOnline,
            cf: Some(&applicant.cf),
            citizen_acts: true,
            outcome: AuditOutcome::Callback,
            details: BTreeMap::from([
                ("reason".to_owned(), reason.to_string()),
                ("callback_case_id".to_owned(), case_id.to_string()),
            ]),
        })
        .await?;
    let answer = answer(OnlineOutcome::CallbackScheduled, applicant);
    change.commit_answer(&answer).await?;
    Ok(answer)
}
