//! The office counter: a dispositive PIN issued in person, or an ordinary PIN made
//! dispositive in person. Either way the identity check is kept as a proofing record, and
//! every application held for the person is released in the same transaction.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CodiceFiscale, Event, EventDetail, IdentityDocument, InitialSecret,
    IssuedVia, Level, NewCredential, OfficeReference, Pin16, PinEnd, Refusal, Replacement,
    UpgradeVia,
};
use pin_store::{
    StoreError,
    repo::{
        credentials, held, persons,
        proofing::{self, NewProofing, ProofingChannel},
    },
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    Answer, Audit, Call, Change, RequestKey,
    issue::{Contacts, Issued, hash_new, issue_credential, store_contacts},
    once, recorded_as_is,
};
use crate::{error::ServiceError, state::AppState};

const ISSUE_AT_OFFICE: &str = "inps.pin.v1.IssuanceService/IssuePinAtOffice";
const UPGRADE_AT_OFFICE: &str = "inps.pin.v1.UpgradeService/UpgradeAtOffice";

/// What the operator checked at the counter.
#[derive(Debug, Clone)]
pub struct CounterCheck {
    /// Whose identity.
    pub cf: CodiceFiscale,
    /// The document, valid today.
    pub document: IdentityDocument,
    /// The signed form MV35.
    pub mv35: OfficeReference,
    /// The office.
    pub office: OfficeReference,
}

/// A PIN to issue at the counter.
#[derive(Debug, Clone)]
pub struct OfficeIssue {
    /// The identity check.
    pub check: CounterCheck,
    /// Replace the person's current PIN.
    pub substitution: bool,
    /// Contacts to register.
    pub contacts: Contacts,
}

/// The PIN handed over at the counter. `pin` is `None` on a replay: it was shown once.
#[derive(Debug)]
pub struct OfficeAnswer {
    /// The whole 16-character initial PIN, the first time only.
    pub pin: Option<Pin16>,
    /// First access must happen before this instant.
    pub first_access_deadline: OffsetDateTime,
    /// Whether a previous PIN was replaced.
    pub replaced_previous: bool,
}

/// What is recorded of an [`OfficeAnswer`]: everything but the PIN.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordedOfficeAnswer {
    first_access_deadline_unix_ms: i64,
    replaced_previous: bool,
}

impl Answer for OfficeAnswer {
    type Recorded = RecordedOfficeAnswer;

    fn recorded(&self) -> RecordedOfficeAnswer {
        RecordedOfficeAnswer {
            first_access_deadline_unix_ms: i64::try_from(
                self.first_access_deadline.unix_timestamp_nanos() / 1_000_000,
            )
            .unwrap_or(i64::MAX),
            replaced_previous: self.replaced_previous,
        }
    }

    fn replayed(recorded: RecordedOfficeAnswer) -> Self {
        let nanos = i128::from(recorded.first_access_deadline_unix_ms) * 1_000_000;
        OfficeAnswer {
            pin: None,
            first_access_deadline: OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            replaced_previous: recorded.replaced_previous,
        }
    }
}

/// Issues a dispositive PIN at the counter.
pub async fn issue_at_office(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    issue: &OfficeIssue,
) -> Result<OfficeAnswer, ServiceError> {
    once(state, call, key, async {
        let cf = &issue.check.cf;
        let person = persons::get(&state.db, cf).await?;
        let pin = state.random(Pin16::generate);
        let hash = hash_new(state, call, pin.expose_secret()).await?;

        let mut change = Change::begin_once(state, call, key, ISSUE_AT_OFFICE).await?;
        let now = change.now();
        let new = NewCredential {
            holder: person.holder(),
            level: Level::Dispositive,
            issued_via: IssuedVia::Office,
            secret: InitialSecret::Pin(hash),
        };
        let replacement = if issue.substitution {
            Replacement::Always
        } else {
            Replacement::IfNotLive
        };
        let via = PinEnd::OfficeSubstitution;
        let Issued {
            stored,
            replaced_live: replaced_previous,
        } = issue_credential(state, &mut change, cf, new, replacement, via)
            .await?
            .map_err(|_already_holds| ServiceError::FailedPrecondition {
                reason: "PIN_ALREADY_ISSUED",
                message: "this person already holds a PIN: issue with substitution to replace it"
                    .to_owned(),
            })?;
        store_contacts(&change, cf, &issue.contacts).await?;
        let operator = change.operator_id().map(str::to_owned);
        let proof = counter_proof(&issue.check, stored.id, operator.as_deref());
        let released = prove_and_release(&mut change, proof).await?;
        change
            .audit(Audit {
                action: AuditAction::IssuePinAtOffice,
                cf: Some(cf),
                citizen_acts: false,
                outcome: if replaced_previous {
                    AuditOutcome::Substituted
                } else {
                    AuditOutcome::Issued
                },
                details: counter_details(&issue.check, stored.id, released),
            })
            .await?;
        let answer = OfficeAnswer {
            pin: Some(pin),
            first_access_deadline: now + state.policy.initial_pin_lifetime(),
            replaced_previous,
        };
        change.commit_answer(&answer).await?;
        Ok(answer)
    })
    .await
}

/// The answer to an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeAnswer {
    /// How many held applications were released.
    pub released_applications: u32,
}

recorded_as_is!(UpgradeAnswer);

/// Makes the person's PIN dispositive at the counter.
pub async fn upgrade_at_office(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    check: &CounterCheck,
) -> Result<UpgradeAnswer, ServiceError> {
    once(state, call, key, async {
        let cf = &check.cf;
        let mut change = Change::begin_once(state, call, key, UPGRADE_AT_OFFICE).await?;
        let now = change.now();
        credentials::lock_person(change.txn(), cf).await?;
        let no_live_pin = || ServiceError::FailedPrecondition {
            reason: "NO_LIVE_PIN",
            message: "this person holds no PIN that can be upgraded: issue one at the counter"
                .to_owned(),
        };
        let current = credentials::find_current(change.txn(), cf)
            .await?
            .ok_or_else(no_live_pin)?;
        let upgraded = current
            .credential
            .apply(Event::Upgrade, now, &state.policy)
            .map_err(|refusal| match refusal {
                Refusal::AlreadyDispositive => refusal.into(),
                _ => no_live_pin(),
            })?;
        let stored = credentials::update(change.txn(), &current, &upgraded.next, now)
            .await
            .map_err(|error| match error {
                StoreError::Conflict { .. } => ServiceError::Conflict,
                other => other.into(),
            })?;
        let operator = change.operator_id().map(str::to_owned);
        let proof = counter_proof(check, stored.id, operator.as_deref());
        let released = prove_and_release(&mut change, proof).await?;
        change
            .event(
                cf,
                &EventDetail::LevelUpgraded {
                    via: UpgradeVia::Office,
                },
            )
            .await?;
        change
            .audit(Audit {
                action: AuditAction::UpgradeAtOffice,
                cf: Some(cf),
                citizen_acts: false,
                outcome: AuditOutcome::Upgraded,
                details: counter_details(check, stored.id, released),
            })
            .await?;
        let answer = UpgradeAnswer {
            released_applications: released,
        };
        change.commit_answer(&answer).await?;
        Ok(answer)
    })
    .await
}

/// Keeps the identity check as a proofing record and releases every application held for
/// the person, with an event each; returns how many were released. Every way a PIN
/// becomes dispositive ends here.
pub(super) async fn prove_and_release(
    change: &mut Change<'_>,
    proof: NewProofing<'_>,
) -> Result<u32, ServiceError> {
    let cf = proof.cf;
    proofing::record(change.txn(), proof, change.now()).await?;
    let released = held::release_all(change.txn(), cf, change.now()).await?;
    let count = u32::try_from(released.len()).unwrap_or(u32::MAX);
    for application in released {
        change
            .event(
                cf,
                &EventDetail::ApplicationReleased {
                    service: application.service,
                    reference: application.reference,
                    filed_at: application.filed_at,
                },
            )
            .await?;
    }
    Ok(count)
}

/// The proofing record of a counter check.
fn counter_proof<'a>(
    check: &'a CounterCheck,
    credential_id: i64,
    operator_id: Option<&'a str>,
) -> NewProofing<'a> {
    NewProofing {
        cf: &check.cf,
        credential_id,
        channel: ProofingChannel::Office,
        document: &check.document,
        operator_id,
        office: Some(&check.office),
        mv35: Some(&check.mv35),
    }
}

fn counter_details(
    check: &CounterCheck,
    credential_id: i64,
    released: u32,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("credential_id".to_owned(), credential_id.to_string()),
        ("office_code".to_owned(), check.office.as_str().to_owned()),
        ("mv35_reference".to_owned(), check.mv35.as_str().to_owned()),
        (
            "document_kind".to_owned(),
            check.document.kind().as_str().to_owned(),
        ),
        ("released_applications".to_owned(), released.to_string()),
    ])
}
