//! `RevocationService`: ending a PIN online through a link, or by the contact center.

use pin_proto::v1::{
    ConfirmOnlineRevocationRequest, ConfirmOnlineRevocationResponse, RevokeByContactCenterRequest,
    RevokeByContactCenterResponse, StartOnlineRevocationRequest, StartOnlineRevocationResponse,
    revocation_service_server::RevocationService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::revocation};

/// The gRPC face of revocation.
#[derive(Debug, Clone)]
pub struct RevocationApi {
    state: AppState,
}

impl RevocationApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl RevocationService for RevocationApi {
    async fn start_online_revocation(
        &self,
        request: Request<StartOnlineRevocationRequest>,
    ) -> Result<Response<StartOnlineRevocationResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let start = convert::revocation_start(&message)?;
                revocation::start_online(state, &call, &key, &start).await?;
                Ok(StartOnlineRevocationResponse {})
            }
            .await,
        )
    }

    async fn confirm_online_revocation(
        &self,
        request: Request<ConfirmOnlineRevocationRequest>,
    ) -> Result<Response<ConfirmOnlineRevocationResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let token = convert::token("link_token", &request.get_ref().link_token)?;
                revocation::confirm_online(state, &call, &token).await?;
                Ok(ConfirmOnlineRevocationResponse {})
            }
            .await,
        )
    }

    async fn revoke_by_contact_center(
        &self,
        request: Request<RevokeByContactCenterRequest>,
    ) -> Result<Response<RevokeByContactCenterResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let (cf, reason) = convert::contact_center_revocation(&message)?;
                let revoked =
                    revocation::by_contact_center(state, &call, &key, &cf, &reason).await?;
                Ok(convert::revoked_to_pb(revoked))
            }
            .await,
        )
    }
}
