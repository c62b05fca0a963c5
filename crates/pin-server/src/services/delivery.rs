//! `DeliveryService`: the outbox the sending worker drains.

use pin_proto::v1::{
    AckDeliveryRequest, AckDeliveryResponse, LeaseDeliveriesRequest, LeaseDeliveriesResponse,
    delivery_service_server::DeliveryService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::delivery};

/// The gRPC face of the outbox.
#[derive(Debug, Clone)]
pub struct DeliveryApi {
    state: AppState,
}

impl DeliveryApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn lease_deliveries(
        &self,
        request: Request<LeaseDeliveriesRequest>,
    ) -> Result<Response<LeaseDeliveriesResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let LeaseDeliveriesRequest {
                    channel,
                    max_deliveries,
                    lease_duration,
                } = request.into_inner();
                let channel = convert::channel(channel)?;
                let max = convert::max_deliveries(max_deliveries)?;
                let lease = convert::lease_duration(lease_duration)?;
                let leased = delivery::lease(state, &call, channel, max, lease).await?;
                Ok(LeaseDeliveriesResponse {
                    deliveries: leased.into_iter().map(convert::delivery_to_pb).collect(),
                })
            }
            .await,
        )
    }

    async fn ack_delivery(
        &self,
        request: Request<AckDeliveryRequest>,
    ) -> Result<Response<AckDeliveryResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let AckDeliveryRequest {
                    delivery_id,
                    result,
                    failure_reason,
                } = request.into_inner();
                let (id, result, reason) =
                    convert::acknowledgement(&delivery_id, result, &failure_reason)?;
                delivery::acknowledge(state, &call, id, result, reason.as_deref()).await?;
                Ok(AckDeliveryResponse {})
            }
            .await,
        )
    }
}
