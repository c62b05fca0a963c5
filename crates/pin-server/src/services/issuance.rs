//! `IssuanceService`: obtaining a PIN. Online requests today; the other channels answer
//! `UNIMPLEMENTED` until they are built.

use std::collections::BTreeMap;

use pin_domain::{Credential, CredentialState, Event, IssuedVia, Level, Person, Pin16};
use pin_proto::v1::{
    IssuanceOutcome, RequestPinOnlineRequest, RequestPinOnlineResponse,
    issuance_service_server::IssuanceService,
};
use pin_store::{
    StoreError, begin_write,
    repo::{
        callbacks::{self, NewCallbackCase},
        contacts, credentials,
        outbox::{self, NewDelivery, SECRET_PLACEHOLDER},
        persons,
    },
};
use prost::Message;
use secrecy::SecretString;
use tonic::{Request, Response, Status};

use crate::{
    auth::CallContext,
    convert::{self, Applicant, FirstHalfChannel},
    deadline::deadline_of,
    error::ServiceError,
    services::common::{self, Audit},
    state::{AppState, context},
};

/// Advice returned when recovery will not be possible.
pub const FEWER_THAN_TWO_CONTACTS: &str = "FEWER_THAN_TWO_CONTACTS";

/// The gRPC face of issuance.
#[derive(Debug, Clone)]
pub struct IssuanceApi {
    state: AppState,
}

impl IssuanceApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl IssuanceService for IssuanceApi {
    async fn request_pin_online(
        &self,
        request: Request<RequestPinOnlineRequest>,
    ) -> Result<Response<RequestPinOnlineResponse>, Status> {
        let context = context(&request)?;
        let deadline = deadline_of(&request);
        let message = request.into_inner();
        let fingerprint = common::sha256_hex(&message.encode_to_vec());
        let RequestPinOnlineRequest {
            request_id,
            applicant,
        } = message;
        let request_id = common::request_id("request_id", &request_id)?;
        let applicant = convert::applicant("applicant", applicant.as_ref())?;
        let state = &self.state;
        if let Some(answer) = common::replay(&state.db, &context, &request_id, &fingerprint).await?
        {
            return Ok(Response::new(answer));
        }
        let request = Issue {
            context: &context,
            request_id: &request_id,
            fingerprint: &fingerprint,
        };
        match request_online(state, &request, &applicant, deadline).await {
            // A concurrent retry with the same request id won the race: its answer is ours.
            Err(ServiceError::Conflict) => {
                match common::replay(&state.db, &context, &request_id, &fingerprint).await? {
                    Some(answer) => Ok(Response::new(answer)),
                    None => Err(ServiceError::Conflict.into()),
                }
            }
            other => Ok(Response::new(other?)),
        }
    }
}

/// Who is asking, for idempotency and audit.
struct Issue<'a> {
    context: &'a CallContext,
    request_id: &'a str,
    fingerprint: &'a str,
}

const RPC: &str = "inps.pin.v1.IssuanceService/RequestPinOnline";

impl Issue<'_> {
    /// Records the answer for the request id and commits: the last steps of either outcome.
    async fn finish(
        &self,
        txn: pin_store::DatabaseTransaction,
        response: RequestPinOnlineResponse,
        now: time::OffsetDateTime,
    ) -> Result<RequestPinOnlineResponse, ServiceError> {
        common::record(
            &txn,
            self.context,
            self.request_id,
            RPC,
            self.fingerprint,
            &response,
            now,
        )
        .await?;
        pin_store::commit(txn).await?;
        Ok(response)
    }
}

fn answer(outcome: IssuanceOutcome, applicant: &Applicant) -> RequestPinOnlineResponse {
    let mut warnings = Vec::new();
    if applicant.contact_count() < 2 {
        warnings.push(FEWER_THAN_TWO_CONTACTS.to_owned());
    }
    RequestPinOnlineResponse {
        outcome: outcome.into(),
        warnings,
    }
}

/// The online request: checked against the registry, then either a PIN whose halves go by
/// two channels, or a callback case. Everything of one outcome commits in one transaction.
async fn request_online(
    state: &AppState,
    issue: &Issue<'_>,
    applicant: &Applicant,
    deadline: Option<std::time::Instant>,
) -> Result<RequestPinOnlineResponse, ServiceError> {
    let now = state.now();
    let person = match persons::get(&state.db, &applicant.cf).await {
        Ok(person) => Some(person),
        Err(StoreError::NotFound { .. }) => None,
        Err(other) => return Err(other.into()),
    };
    let matched = person
        .as_ref()
        .filter(|person| person.residence.matches(&applicant.residence));
    let Some(person) = matched else {
        let reason = if person.is_some() {
            "ADDRESS_MISMATCH"
        } else {
            "UNKNOWN_PERSON"
        };
        return open_callback(state, issue, applicant, reason).await;
    };

    // Draw and hash the PIN before the transaction: hashing is slow and needs no lock.
    let pin = state.random(Pin16::generate);
    let hash = state
        .hashing
        .hash(SecretString::from(pin.expose_secret().to_owned()), deadline)
        .await?;

    let txn = begin_write(&state.db).await?;
    credentials::lock_person(&txn, &applicant.cf).await?;
    if let Some(current) = credentials::find_current(&txn, &applicant.cf).await? {
        if current.credential.is_live(now, &state.policy) {
            return Err(ServiceError::FailedPrecondition {
                reason: "PIN_ALREADY_ISSUED",
                message: "this person already holds a PIN; use recovery to obtain a new one"
                    .to_owned(),
            });
        }
        // A lapsed initial PIN is replaced by the new one.
        let ended = current
            .credential
            .apply(Event::Supersede, now, &state.policy)
            .map_err(|refusal| ServiceError::Internal(refusal.into()))?;
        credentials::update(&txn, &current, &ended.next, now).await?;
    }
    let credential = Credential {
        holder: person.holder(),
        level: Level::Ordinary,
        issued_via: IssuedVia::Online,
        state: CredentialState::AwaitingFirstAccess {
            pin: hash,
            issued_at: now,
        },
    };
    let stored = credentials::insert(&txn, &applicant.cf, &credential, now).await?;
    store_contacts(&txn, applicant, now).await?;
    queue_halves(&txn, stored.id, person, applicant, &pin, now).await?;
    let response = answer(IssuanceOutcome::LetterComing, applicant);
    let channel = match applicant.first_half {
        FirstHalfChannel::Sms => "SMS",
        FirstHalfChannel::Email => "EMAIL",
    };
    Audit {
        context: issue.context,
        action: "pin.request_online",
        cf: Some(applicant.cf.as_str()),
        citizen_acts: true,
        outcome: "LETTER_COMING",
        request_id: Some(issue.request_id),
        details: BTreeMap::from([
            ("first_half_channel".to_owned(), channel.to_owned()),
            ("credential_id".to_owned(), stored.id.to_string()),
        ]),
    }
    .append(&txn, now)
    .await?;
    issue.finish(txn, response, now).await
}

async fn store_contacts(
    txn: &pin_store::DatabaseTransaction,
    applicant: &Applicant,
    now: time::OffsetDateTime,
) -> Result<(), StoreError> {
    use pin_domain::ContactKind;
    let cf = &applicant.cf;
    if let Some(mobile) = &applicant.mobile {
        contacts::set(txn, cf, ContactKind::Mobile, mobile.as_str(), now).await?;
    }
    if let Some(email) = &applicant.email {
        contacts::set(txn, cf, ContactKind::Email, email.as_str(), now).await?;
    }
    if let Some(pec) = &applicant.pec {
        contacts::set(txn, cf, ContactKind::Pec, pec.as_str(), now).await?;
    }
    Ok(())
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
    txn: &pin_store::DatabaseTransaction,
    credential_id: i64,
    person: &Person,
    applicant: &Applicant,
    pin: &Pin16,
    now: time::OffsetDateTime,
) -> Result<(), StoreError> {
    let (channel, recipient) = match applicant.first_half {
        FirstHalfChannel::Sms => (
            "SMS",
            applicant.mobile.as_ref().map(|m| m.as_str().to_owned()),
        ),
        FirstHalfChannel::Email => (
            "EMAIL",
            applicant.email.as_ref().map(|e| e.as_str().to_owned()),
        ),
    };
    let cf = applicant.cf.as_str().to_owned();
    outbox::enqueue(
        txn,
        NewDelivery {
            cf: cf.clone(),
            credential_id: Some(credential_id),
            channel,
            // The applicant parser guarantees the contact of the chosen channel.
            recipient: recipient.unwrap_or_default(),
            purpose: "PIN_FIRST_HALF",
            subject: "INPS - prima parte del PIN".to_owned(),
            body: format!(
                "La prima parte del suo PIN INPS è {SECRET_PLACEHOLDER}. La seconda parte le \
                 arriverà per posta all'indirizzo di residenza."
            ),
            secret: Some(pin.first_half().expose_secret().to_owned()),
        },
        now,
    )
    .await?;
    outbox::enqueue(
        txn,
        NewDelivery {
            cf,
            credential_id: Some(credential_id),
            channel: "POST",
            recipient: postal_recipient(person),
            purpose: "PIN_SECOND_HALF",
            subject: "INPS - seconda parte del PIN".to_owned(),
            body: format!(
                "Gentile {} {},\nla seconda parte del suo PIN INPS è {SECRET_PLACEHOLDER}.\n\
                 Unita alla prima parte, ricevuta per SMS o e-mail, forma il PIN di 16 \
                 caratteri da usare per il primo accesso.",
                person.given_name.as_str(),
                person.family_name.as_str()
            ),
            secret: Some(pin.second_half().expose_secret().to_owned()),
        },
        now,
    )
    .await?;
    Ok(())
}

async fn open_callback(
    state: &AppState,
    issue: &Issue<'_>,
    applicant: &Applicant,
    reason: &'static str,
) -> Result<RequestPinOnlineResponse, ServiceError> {
    let now = state.now();
    let submitted = serde_json::json!({
        "family_name": applicant.family_name.as_str(),
        "given_name": applicant.given_name.as_str(),
        "residence": applicant.residence.to_string(),
        "mobile": applicant.mobile.as_ref().map(|m| m.as_str()),
        "email": applicant.email.as_ref().map(|e| e.as_str()),
        "pec": applicant.pec.as_ref().map(|p| p.as_str()),
        "first_half_channel": match applicant.first_half {
            FirstHalfChannel::Sms => "SMS",
            FirstHalfChannel::Email => "EMAIL",
        },
    });
    let response = answer(IssuanceOutcome::CallbackScheduled, applicant);
    let txn = begin_write(&state.db).await?;
    let case_id = callbacks::open(
        &txn,
        NewCallbackCase {
            cf: applicant.cf.as_str().to_owned(),
            reason,
            request: submitted.to_string(),
            callback_phone: applicant.callback_phone.clone(),
        },
        now,
    )
    .await?;
    Audit {
        context: issue.context,
        action: "pin.request_online",
        cf: Some(applicant.cf.as_str()),
        citizen_acts: true,
        outcome: "CALLBACK",
        request_id: Some(issue.request_id),
        details: BTreeMap::from([
            ("reason".to_owned(), reason.to_owned()),
            ("callback_case_id".to_owned(), case_id.to_string()),
        ]),
    }
    .append(&txn, now)
    .await?;
    issue.finish(txn, response, now).await
}
