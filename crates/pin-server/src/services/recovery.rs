//! `RecoveryService`: recovering a lost PIN through a link sent to proven contacts.

use pin_proto::v1::{
    ConfirmRecoveryRequest, ConfirmRecoveryResponse, StartRecoveryRequest, StartRecoveryResponse,
    recovery_service_server::RecoveryService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::recovery};

/// The gRPC face of recovery.
#[derive(Debug, Clone)]
pub struct RecoveryApi {
    state: AppState,
}

impl RecoveryApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl RecoveryService for RecoveryApi {
    async fn start_recovery(
        &self,
        request: Request<StartRecoveryRequest>,
    ) -> Result<Response<StartRecoveryResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let start = convert::recovery_start(&message)?;
                recovery::start(state, &call, &key, &start).await?;
                Ok(StartRecoveryResponse {})
            }
            .await,
        )
    }

    async fn confirm_recovery(
        &self,
        request: Request<ConfirmRecoveryRequest>,
    ) -> Result<Response<ConfirmRecoveryResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let token = convert::token("link_token", &request.get_ref().link_token)?;
                recovery::confirm(state, &call, &token).await?;
                Ok(ConfirmRecoveryResponse {})
            }
            .await,
        )
    }
}
