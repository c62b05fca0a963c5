//! Campaign letters: the institute mails first halves to a list of people; each activates
//! the PIN online with the first half and their health card, and receives the second half
//! once. The result is an initial PIN that goes through first access like any other.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CodiceFiscale, DeliveryChannel, DeliveryPurpose, Event, HealthCard,
    InitialSecret, IssuedVia, Level, NewCredential, Person, Pin16, PinEnd, PinHalf, Refusal,
    Replacement, Settled,
};
use pin_store::{
    StoreError,
    repo::{
        credentials,
        outbox::{NewDelivery, SECRET_PLACEHOLDER},
        persons,
    },
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    Answer, Audit, Call, Change, RequestKey,
    authentication::{attempt, refuse},
    issuance::postal_recipient,
    issue::{Issued, hash_new, issue_credential},
    once, recorded_as_is,
};
use crate::{error::ServiceError, state::AppState};

const ISSUE: &str = "inps.pin.v1.IssuanceService/IssueCampaignPins";
const ACTIVATE: &str = "inps.pin.v1.IssuanceService/ActivateCampaignPin";

/// Most people one call may write to: each letter costs an argon2id hash.
pub const MAX_BATCH: usize = 500;

/// Why a campaign did not write to someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Skip {
    /// Not a codice fiscale.
    InvalidCodiceFiscale,
    /// The registry does not know the person.
    NotInRegistry,
    /// The person holds a live PIN.
    PinAlreadyIssued,
}

/// The outcome of a campaign batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignOutcome {
    /// Letters queued.
    pub issued: u32,
    /// People skipped, as given, with the reason.
    pub skipped: Vec<(String, Skip)>,
}

recorded_as_is!(CampaignOutcome);

/// Writes to every registered person of `people` who holds no live PIN: a campaign
/// credential whose first half goes by post. All of it commits together.
pub async fn issue(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    campaign: &str,
    people: &[String],
) -> Result<CampaignOutcome, ServiceError> {
    once(state, call, key, async {
        let mut skipped = Vec::new();
        let mut candidates: Vec<(CodiceFiscale, Person)> = Vec::new();
        for given in people {
            let Ok(cf) = CodiceFiscale::parse(given) else {
                skipped.push((given.clone(), Skip::InvalidCodiceFiscale));
                continue;
            };
            if candidates.iter().any(|(seen, _)| *seen == cf) {
                continue;
            }
            match persons::get(&state.db, &cf).await {
                Ok(person) => candidates.push((cf, person)),
                Err(StoreError::NotFound { .. }) => {
                    skipped.push((given.clone(), Skip::NotInRegistry));
                }
                Err(other) => return Err(other.into()),
            }
        }
        // Hash every first half before the transaction: hashing is slow and needs no lock.
        let mut letters = Vec::with_capacity(candidates.len());
        for (cf, person) in candidates {
            let half = state.random(PinHalf::generate);
            let hash = hash_new(state, call, half.expose_secret()).await?;
            letters.push((cf, person, half, hash));
        }

        let mut change = Change::begin_once(state, call, key, ISSUE).await?;
        let mut issued = 0u32;
        for (cf, person, half, hash) in letters {
            let new = NewCredential {
                holder: person.holder(),
                level: Level::Ordinary,
                issued_via: IssuedVia::Campaign,
                secret: InitialSecret::CampaignFirstHalf(hash),
            };
            let via = PinEnd::Replaced;
            let outcome =
                issue_credential(state, &mut change, &cf, new, Replacement::IfNotLive, via).await?;
            let Ok(Issued { stored, .. }) = outcome else {
                skipped.push((cf.to_string(), Skip::PinAlreadyIssued));
                continue;
            };
            change
                .deliver(NewDelivery {
                    cf: cf.to_string(),
                    credential_id: Some(stored.id),
                    channel: DeliveryChannel::Post,
                    recipient: postal_recipient(&person),
                    purpose: DeliveryPurpose::PinFirstHalf,
                    subject: "INPS - il suo PIN".to_owned(),
                    body: format!(
                        "Gentile {} {},\nla prima parte del suo PIN INPS è \
                         {SECRET_PLACEHOLDER}. Per ottenere la seconda parte attivi il PIN \
                         sul portale INPS con questa prima parte e i dati della sua tessera \
                         sanitaria.",
                        person.given_name.as_str(),
                        person.family_name.as_str()
                    ),
                    secret: Some(half.expose_secret().to_owned()),
                })
                .await?;
            change
                .audit(Audit {
                    action: AuditAction::IssueCampaignPin,
                    cf: Some(&cf),
                    citizen_acts: false,
                    outcome: AuditOutcome::Issued,
                    details: BTreeMap::from([
                        ("campaign_id".to_owned(), campaign.to_owned()),
                        ("credential_id".to_owned(), stored.id.to_string()),
                    ]),
                })
                .await?;
            issued += 1;
        }
        let outcome = CampaignOutcome { issued, skipped };
        change.commit_answer(&outcome).await?;
        Ok(outcome)
    })
    .await
}

/// The second half of an activated campaign PIN; `None` on a replay: it was shown once.
#[derive(Debug)]
pub struct Activated {
    /// The second half, the first time only.
    pub second_half: Option<PinHalf>,
    /// First access must happen before this instant.
    pub first_access_deadline: OffsetDateTime,
}

/// What is recorded of an [`Activated`]: everything but the half.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordedActivation {
    first_access_deadline_unix_ms: i64,
}

impl Answer for Activated {
    type Recorded = RecordedActivation;

    fn recorded(&self) -> RecordedActivation {
        RecordedActivation {
            first_access_deadline_unix_ms: i64::try_from(
                self.first_access_deadline.unix_timestamp_nanos() / 1_000_000,
            )
            .unwrap_or(i64::MAX),
        }
    }

    fn replayed(recorded: RecordedActivation) -> Self {
        let nanos = i128::from(recorded.first_access_deadline_unix_ms) * 1_000_000;
        Activated {
            second_half: None,
            first_access_deadline: OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }
}

/// Activates a campaign letter: the first half and the health card must match. A wrong
/// half or card is a failed attempt under the same lockout as PINs, with the same answer.
pub async fn activate(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    cf: &CodiceFiscale,
    first_half: &PinHalf,
    card: &HealthCard,
) -> Result<Activated, ServiceError> {
    const ACTION: AuditAction = AuditAction::ActivateCampaignPin;
    once(state, call, key, async {
        let now = call.now;
        let current = credentials::find_current(&state.db, cf).await?;
        let hash = current
            .as_ref()
            .and_then(|c| c.credential.activation_hash().cloned());
        let secret = SecretString::from(first_half.expose_secret().to_owned());
        let (verification, place) = attempt(state, call, ACTION, cf, secret, hash).await?;
        let card_matches = match persons::get(&state.db, cf).await {
            Ok(person) => person.health_card == *card,
            Err(StoreError::NotFound { .. }) => false,
            Err(other) => return Err(other.into()),
        };
        let Some(stored) = current else {
            place.settle(Settled::Failed).await?;
            return Err(refuse(state, call, ACTION, cf, Refusal::WrongPin.code()).await);
        };
        let second = state.random(PinHalf::generate);
        let pin = Pin16::from_halves(first_half, &second);
        let pin_hash = hash_new(state, call, pin.expose_secret()).await?;
        let event = Event::ActivateCampaign {
            first_half_verified: verification.matched(),
            health_card_matches: card_matches,
            pin: pin_hash,
        };
        let transition = match stored.credential.apply(event, now, &state.policy) {
            Ok(transition) => transition,
            Err(refusal) => {
                place.settle(Settled::Failed).await?;
                return Err(refuse(state, call, ACTION, cf, refusal.code()).await);
            }
        };
        place.settle(Settled::Succeeded).await?;
        let change = Change::begin_once(state, call, key, ACTIVATE).await?;
        let activated = credentials::update(change.txn(), &stored, &transition.next, now)
            .await
            .map_err(|error| match error {
                // Activated concurrently by another request: this one's half is void.
                StoreError::Conflict { .. } => ServiceError::AuthenticationFailed,
                other => other.into(),
            })?;
        change
            .audit(Audit {
                action: ACTION,
                cf: Some(cf),
                citizen_acts: true,
                outcome: AuditOutcome::Ok,
                details: BTreeMap::from([("credential_id".to_owned(), activated.id.to_string())]),
            })
            .await?;
        let answer = Activated {
            second_half: Some(second),
            first_access_deadline: activated
                .credential
                .pin_expires_at(&state.policy)
                .unwrap_or(now + state.policy.initial_pin_lifetime()),
        };
        change.commit_answer(&answer).await?;
        crate::metrics::get().authentication(ACTION.as_str(), AuditOutcome::Ok.as_str());
        Ok(answer)
    })
    .await
}
