//! `RegistryService`: loading and reading the institute's person records.

use pin_domain::{Person, PersonProblem, RawPerson};
use pin_proto::v1::{
    self as pb, GetPersonRequest, GetPersonResponse, UpsertPersonsRequest, UpsertPersonsResponse,
    registry_service_server::RegistryService,
};
use pin_store::DatabaseConnection;
use pin_store::repo::{
    audit::{ActorKind, NewAuditRecord},
    persons::{self, Upserted},
};
use time::OffsetDateTime;
use tonic::{Request, Response, Status, Streaming};

use crate::{convert, error::ServiceError, state::AppState};

/// How many rejected records an answer lists in detail.
pub const MAX_LISTED_REJECTIONS: usize = 1000;

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
    /// The calling service (or `cli` for the file import).
    pub caller_id: String,
    /// The actor: the caller, or the system for the command line.
    pub actor_kind: ActorKind,
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
                action: "registry.upsert".to_owned(),
                cf: None,
                outcome: String::new(),
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

/// Adds up the outcomes of a batch.
#[derive(Debug, Default)]
pub struct Tally {
    /// The answer being built.
    pub response: UpsertPersonsResponse,
}

impl Tally {
    /// Counts one record at position `index`.
    pub fn count(&mut self, index: u32, codice_fiscale: &str, outcome: RecordOutcome) {
        let r = &mut self.response;
        r.received += 1;
        match outcome {
            RecordOutcome::Stored(Upserted::Inserted) => r.inserted += 1,
            RecordOutcome::Stored(Upserted::Updated) => r.updated += 1,
            RecordOutcome::Stored(Upserted::Unchanged) => r.unchanged += 1,
            RecordOutcome::Rejected(problems) => {
                r.rejected_count += 1;
                if r.rejected.len() < MAX_LISTED_REJECTIONS {
                    r.rejected.push(pb::RejectedRecord {
                        index,
                        codice_fiscale: codice_fiscale.to_owned(),
                        problems: problems.iter().map(convert::problem_to_pb).collect(),
                    });
                }
            }
        }
    }
}

/// The gRPC face of the registry.
#[derive(Debug, Clone)]
pub struct RegistryApi {
    state: AppState,
}

impl RegistryApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn upsert_persons(
        &self,
        request: Request<Streaming<UpsertPersonsRequest>>,
    ) -> Result<Response<UpsertPersonsResponse>, Status> {
        let context = crate::state::context(&request)?;
        let mut stream = request.into_inner();
        let loader = Loader {
            caller_id: context.caller_id.to_string(),
            actor_kind: ActorKind::Caller,
        };
        let mut tally = Tally::default();
        let mut index = 0u32;
        while let Some(UpsertPersonsRequest { person }) = stream.message().await? {
            let outcome = match &person {
                Some(person) => {
                    upsert_record(
                        &self.state.db,
                        &convert::raw_person(person),
                        self.state.now(),
                        &loader,
                    )
                    .await?
                }
                None => RecordOutcome::Rejected(vec![PersonProblem {
                    field: "person".to_owned(),
                    reason: "MISSING",
                    description: "the message carries no person".to_owned(),
                }]),
            };
            let cf = person.as_ref().map_or("", |p| p.codice_fiscale.as_str());
            tally.count(index, cf, outcome);
            index = index.saturating_add(1);
        }
        let r = &tally.response;
        tracing::info!(
            caller = %context.caller_id,
            received = r.received,
            inserted = r.inserted,
            updated = r.updated,
            unchanged = r.unchanged,
            rejected = r.rejected_count,
            "registry upsert"
        );
        Ok(Response::new(tally.response))
    }

    async fn get_person(
        &self,
        request: Request<GetPersonRequest>,
    ) -> Result<Response<GetPersonResponse>, Status> {
        let GetPersonRequest { codice_fiscale } = request.into_inner();
        let cf = convert::codice_fiscale("codice_fiscale", &codice_fiscale)?;
        let person = persons::get(&self.state.db, &cf)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(GetPersonResponse {
            person: Some(convert::person_to_pb(&person)),
        }))
    }
}
