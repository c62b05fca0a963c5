//! `EventService`: the durable event log, streamed from a cursor.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use pin_proto::v1::{SubscribeRequest, SubscribeResponse, event_service_server::EventService};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::events};

/// The gRPC face of the event log.
#[derive(Debug, Clone)]
pub struct EventApi {
    state: AppState,
}

impl EventApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The stream a subscriber reads.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<SubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for EventApi {
    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let state = &self.state;
        reply(
            async {
                let (cursor, kinds) = convert::subscription(request.into_inner())?;
                let events = events::subscribe(state.clone(), cursor, kinds);
                let stream: EventStream = Box::pin(
                    ReceiverStream::new(events)
                        .map(|event| event.map(convert::event_to_pb).map_err(Status::from)),
                );
                Ok(stream)
            }
            .await,
        )
    }
}
