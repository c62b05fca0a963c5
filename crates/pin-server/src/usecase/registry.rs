//! Loading and reading the institute's person records.

use pin_domain::{AuditAction, AuditOutcome, CodiceFiscale, Person, PersonProblem, RawPerson};
use pin_store::{
    DatabaseConnection,
    repo::{
        audit::{ActorKind, NewAuditRecord},
        persons::{self, Upserted},
    },
};
use time::OffsetDateTime;

use super::Call;
use crate::{error::ServiceError, state::AppState};

/// The outcome of one record.
#[derive(Debug)]
pub enum RecordOutcome {
    /// Stored (inserted, updated or already identical).
    Stored(Upserted),
    /// Refused for these problems.
    Rejected(Vec<PersonProblem>),
}

/// Who loads the registry, for the audit trail.
#[derive(Debug, Clone)]
pub struct Loader {
    caller_id: String,
    actor_kind: ActorKind,
}

impl Loader {
    /// The calling service of an `UpsertPersons` call.
    pub fn for_call(call: &Call) -> Self {
        Loader {
            caller_id: call.caller.caller_id.to_string(),
            actor_kind: ActorKind::Caller,
        }
    }

    /// The `registry import` command, run by an operator of the service itself.
    pub fn command_line() -> Self {
        Loader {
            caller_id: "cli".to_owned(),
            actor_kind: ActorKind::System,
        }
    }
}

/// Validates and stores one record: the path shared by the RPC and the file import. A
/// change is audited in the same transaction.
pub async fn upsert_record(
    db: &DatabaseConnection,
    raw: &RawPerson<'_>,
    now: OffsetDateTime,
    loader: &Loader,
) -> Result<RecordOutcome, ServiceError> {
    match Person::parse(raw) {
        Ok(person) => {
            let audit = NewAuditRecord {
                at: now,
                caller_id: loader.caller_id.clone(),
                actor_kind: loader.actor_kind,
                actor_id: loader.caller_id.clone(),
                action: AuditAction::UpsertPerson,
                cf: None,
                // Set by the store to what the upsert did.
                outcome: AuditOutcome::Ok,
                request_id: None,
                details: Default::default(),
            };
            Ok(RecordOutcome::Stored(
                persons::upsert(db, &person, now, &audit).await?,
            ))
        }
        Err(problems) => Ok(RecordOutcome::Rejected(problems)),
    }
}

/// A person of the registry.
pub async fn get_person(state: &AppState, cf: &CodiceFiscale) -> Result<Person, ServiceError> {
    Ok(persons::get(&state.db, cf).await?)
}
