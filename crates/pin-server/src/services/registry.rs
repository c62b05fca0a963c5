//! `RegistryService`: loading and reading the institute's person records.

use pin_domain::PersonProblem;
use pin_proto::v1::{
    GetPersonRequest, GetPersonResponse, UpsertPersonsRequest, UpsertPersonsResponse,
    registry_service_server::RegistryService,
};
use tonic::{Request, Response, Status, Streaming};

use super::reply;
use crate::{
    convert::{self, Tally},
    error::from_stream_error,
    state::AppState,
    usecase::registry::{self, Loader, RecordOutcome},
};

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
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let mut stream = request.into_inner();
                let loader = Loader::for_call(&call);
                let mut tally = Tally::default();
                let mut index = 0u32;
                while let Some(UpsertPersonsRequest { person }) =
                    stream.message().await.map_err(|e| from_stream_error(&e))?
                {
                    let outcome = match &person {
                        Some(person) => {
                            let raw = convert::raw_person(person);
                            registry::upsert_record(&state.db, &raw, call.now, &loader).await?
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
                    caller = %call.caller.caller_id,
                    received = r.received,
                    inserted = r.inserted,
                    updated = r.updated,
                    unchanged = r.unchanged,
                    rejected = r.rejected_count,
                    "registry upsert"
                );
                Ok(tally.response)
            }
            .await,
        )
    }

    async fn get_person(
        &self,
        request: Request<GetPersonRequest>,
    ) -> Result<Response<GetPersonResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let GetPersonRequest { codice_fiscale } = request.into_inner();
                let cf = convert::codice_fiscale("codice_fiscale", &codice_fiscale)?;
                let person = registry::get_person(state, &cf).await?;
                Ok(GetPersonResponse {
                    person: Some(convert::person_to_pb(&person)),
                })
            }
            .await,
        )
    }
}
