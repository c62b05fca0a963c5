//! `RegistryService`: loading and reading the institute's person records.

use pin_domain::PersonProblem;
use pin_proto::v1::{
    GetPersonRequest, GetPersonResponse, UpsertPersonsRequest, UpsertPersonsResponse,
    registry_service_server::RegistryService,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::reply;
use crate::{
    convert::{self, Tally},
    error::{ServiceError, from_stream_error, with_progress},
    state::AppState,
    usecase::registry::{self, Loaded, Loader, Record},
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
        let call = state.call(&request)?;
        let stream = request.into_inner();
        let loader = Loader::for_call(&call);
        // The stream is read and validated at the client's speed while batches are
        // stored: a reader that kept small frames waiting in HTTP/2 would have the
        // connection cut (`GOAWAY`, too many data frames) mid-load.
        let (records, mut queue) = mpsc::channel(2 * registry::BATCH);
        let reader = AbortOnDrop(tokio::spawn(
            read_records(stream, records).in_current_span(),
        ));
        let mut tally = Tally::default();
        let mut batch = Vec::with_capacity(registry::BATCH);
        while queue.recv_many(&mut batch, registry::BATCH).await > 0 {
            let mut broken = None;
            let records: Vec<Record> = batch
                .drain(..)
                .filter_map(|item| item.map_err(|error| broken = Some(error)).ok())
                .collect();
            match registry::load(&state.db, records, call.now, &loader).await {
                Ok(loaded) => {
                    for Loaded { index, cf, outcome } in loaded {
                        if outcome.replaced_a_record() {
                            // The person's categories may have changed.
                            state.sessions.changed(&cf.trim().to_ascii_uppercase());
                        }
                        tally.count(index, &cf, outcome);
                    }
                }
                Err(error) => return Err(with_tally(error, &tally)),
            }
            if let Some(error) = broken {
                return Err(with_tally(error, &tally));
            }
        }
        drop(reader);
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
        Ok(Response::new(tally.response))
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

/// Reads the records of an upsert stream into `records`, validated, until the stream ends,
/// breaks (its error is the last item sent) or the handler stops listening.
async fn read_records(
    mut stream: Streaming<UpsertPersonsRequest>,
    records: mpsc::Sender<Result<Record, ServiceError>>,
) {
    let mut index = 0u32;
    loop {
        let item = match stream.message().await {
            Ok(Some(UpsertPersonsRequest {
                person: Some(person),
            })) => Ok(Record::parse(index, &convert::raw_person(&person))),
            Ok(Some(UpsertPersonsRequest { person: None })) => Ok(Record::refused(
                index,
                "",
                PersonProblem {
                    field: "person".to_owned(),
                    reason: "MISSING",
                    description: "the message carries no person".to_owned(),
                },
            )),
            Ok(None) => return,
            Err(status) => Err(from_stream_error(&status)),
        };
        let last = item.is_err();
        if records.send(item).await.is_err() || last {
            return;
        }
        index = index.saturating_add(1);
    }
}

/// The answer to a load cut short: `error`'s status, saying what was committed before it
/// in the message and in the `ErrorInfo` metadata (`received`, `inserted`, `updated`,
/// `unchanged`, `rejected`).
fn with_tally(error: ServiceError, tally: &Tally) -> Status {
    let r = &tally.response;
    if r.received == 0 {
        return Status::from(error);
    }
    with_progress(
        error,
        &format!(
            "the {} records before it were processed and committed: {} inserted, {} \
             updated, {} unchanged, {} rejected",
            r.received, r.inserted, r.updated, r.unchanged, r.rejected_count
        ),
        &[
            ("received", r.received),
            ("inserted", r.inserted),
            ("updated", r.updated),
            ("unchanged", r.unchanged),
            ("rejected", r.rejected_count),
        ],
    )
}

/// Aborts a spawned task when dropped: a handler that returns early stops its reader.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
