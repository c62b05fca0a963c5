//! `AuthorizationService`: what a logged-in holder may do with a service of the catalog.

use pin_proto::v1::{
    AuthorizeRequest, AuthorizeResponse, ListEntitledServicesRequest, ListEntitledServicesResponse,
    authorization_service_server::AuthorizationService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::authorization};

/// The gRPC face of authorization.
#[derive(Debug, Clone)]
pub struct AuthorizationApi {
    state: AppState,
}

impl AuthorizationApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AuthorizationService for AuthorizationApi {
    async fn authorize(
        &self,
        request: Request<AuthorizeRequest>,
    ) -> Result<Response<AuthorizeResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let AuthorizeRequest {
                    session_token,
                    service_id,
                    action,
                    application_reference,
                } = request.into_inner();
                let service = convert::service_id("service_id", &service_id)?;
                let (action, reference) =
                    convert::action_and_reference(action, &application_reference)?;
                let verdict = authorization::authorize(
                    state,
                    &call,
                    &session_token,
                    &service,
                    action,
                    &reference,
                )
                .await?;
                Ok(convert::verdict_to_pb(verdict))
            }
            .await,
        )
    }

    async fn list_entitled_services(
        &self,
        request: Request<ListEntitledServicesRequest>,
    ) -> Result<Response<ListEntitledServicesResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let ListEntitledServicesRequest { session_token } = request.into_inner();
                let entitlements =
                    authorization::entitlements(state, &call, &session_token).await?;
                Ok(convert::entitlements_to_pb(entitlements))
            }
            .await,
        )
    }
}
