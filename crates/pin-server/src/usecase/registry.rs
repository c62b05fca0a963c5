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

impl RecordOutcome {
    /// Whether a stored record was replaced by a different one.
    pub fn replaced_a_record(&self) -> bool {
        matches!(self, RecordOutcome::Stored(Upserted::Updated))
    }
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

/// How many records a load stores per transaction.
pub const BATCH: usize = 500;

/// One record of a load, validated.
#[derive(Debug)]
pub struct Record {
    /// Its position in the load, from zero.
    pub index: u32,
    /// The codice fiscale as sent, to help find the record; may be invalid or empty.
    pub cf: String,
    /// The person, or why the record is refused.
    pub parsed: Result<Person, Vec<PersonProblem>>,
}

impl Record {
    /// Validates `raw`, the record at `index`.
    pub fn parse(index: u32, raw: &RawPerson<'_>) -> Self {
        Record {
            index,
            cf: raw.codice_fiscale.to_owned(),
            parsed: Person::parse(raw),
        }
    }

    /// A record refused before it could be read as a person.
    pub fn refused(index: u32, cf: &str, problem: PersonProblem) -> Self {
        Record {
            index,
            cf: cf.to_owned(),
            parsed: Err(vec![problem]),
        }
    }
}

/// What became of one record of a load.
#[derive(Debug)]
pub struct Loaded {
    /// Its position in the load.
    pub index: u32,
    /// The codice fiscale as sent.
    pub cf: String,
    /// Stored or refused.
    pub outcome: RecordOutcome,
}

/// Stores the valid ones of `records` together — one transaction, every change audited in
/// it — and returns what became of each record, in order. The path shared by the RPC and
/// the file import; callers pass at most about [`BATCH`] records at a time.
pub async fn load(
    db: &DatabaseConnection,
    records: Vec<Record>,
    now: OffsetDateTime,
    loader: &Loader,
) -> Result<Vec<Loaded>, ServiceError> {
    let mut valid = Vec::with_capacity(records.len());
    let mut loaded = Vec::with_capacity(records.len());
    for Record { index, cf, parsed } in records {
        let outcome = match parsed {
            Ok(person) => {
                valid.push(person);
                // Filled in below, once the batch is stored.
                RecordOutcome::Stored(Upserted::Unchanged)
            }
            Err(problems) => RecordOutcome::Rejected(problems),
        };
        loaded.push(Loaded { index, cf, outcome });
    }
    if valid.is_empty() {
        return Ok(loaded);
    }
    let audit = NewAuditRecord {
        at: now,
        caller_id: loader.caller_id.clone(),
        actor_kind: loader.actor_kind,
        actor_id: loader.caller_id.clone(),
        action: AuditAction::UpsertPerson,
        cf: None,
        // Set by the store to what each upsert did.
        outcome: AuditOutcome::Ok,
        request_id: None,
        details: Default::default(),
    };
    let stored = persons::upsert_many(db, &valid, now, &audit).await?;
    let mut stored = stored.into_iter();
    for record in &mut loaded {
        if let RecordOutcome::Stored(outcome) = &mut record.outcome {
            *outcome = stored.next().ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!("the store answered for fewer persons"))
            })?;
        }
    }
    Ok(loaded)
}

/// A person of the registry.
pub async fn get_person(state: &AppState, cf: &CodiceFiscale) -> Result<Person, ServiceError> {
    Ok(persons::get(&state.db, cf).await?)
}
