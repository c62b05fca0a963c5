//! `AuthenticationService`: logins, first access, renewal, PIN changes, sessions.

use pin_domain::TicketPurpose;
use pin_proto::v1::{
    AuthenticateRequest, AuthenticateResponse, ChangePinRequest, ChangePinResponse,
    CompleteFirstAccessRequest, CompleteFirstAccessResponse, IntrospectSessionRequest,
    IntrospectSessionResponse, LogoutRequest, LogoutResponse, RenewExpiredPinRequest,
    RenewExpiredPinResponse, authentication_service_server::AuthenticationService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::authentication};

/// The gRPC face of authentication.
#[derive(Debug, Clone)]
pub struct AuthenticationApi {
    state: AppState,
}

impl AuthenticationApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AuthenticationService for AuthenticationApi {
    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let AuthenticateRequest {
                    codice_fiscale,
                    pin,
                } = request.into_inner();
                let cf = convert::codice_fiscale("codice_fiscale", &codice_fiscale)?;
                let pin = convert::pin("pin", &pin)?;
                let login = authentication::authenticate(state, &call, &cf, &pin).await?;
                Ok(convert::login_to_pb(login))
            }
            .await,
        )
    }

    async fn complete_first_access(
        &self,
        request: Request<CompleteFirstAccessRequest>,
    ) -> Result<Response<CompleteFirstAccessResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let CompleteFirstAccessRequest { ticket } = request.into_inner();
                let ticket = convert::token("ticket", &ticket)?;
                let done = authentication::complete_with_ticket(
                    state,
                    &call,
                    &ticket,
                    TicketPurpose::FirstAccess,
                )
                .await?;
                Ok(convert::first_access_to_pb(done))
            }
            .await,
        )
    }

    async fn renew_expired_pin(
        &self,
        request: Request<RenewExpiredPinRequest>,
    ) -> Result<Response<RenewExpiredPinResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let RenewExpiredPinRequest { ticket } = request.into_inner();
                let ticket = convert::token("ticket", &ticket)?;
                let done = authentication::complete_with_ticket(
                    state,
                    &call,
                    &ticket,
                    TicketPurpose::Renewal,
                )
                .await?;
                Ok(convert::renewal_to_pb(done))
            }
            .await,
        )
    }

    async fn change_pin(
        &self,
        request: Request<ChangePinRequest>,
    ) -> Result<Response<ChangePinResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let ChangePinRequest {
                    session_token,
                    current_pin,
                    new_pin,
                } = request.into_inner();
                let current = convert::pin("current_pin", &current_pin)?;
                let new = convert::pin8("new_pin", &new_pin)?;
                let changed =
                    authentication::change_pin(state, &call, &session_token, &current, &new)
                        .await?;
                Ok(convert::changed_pin_to_pb(changed))
            }
            .await,
        )
    }

    async fn introspect_session(
        &self,
        request: Request<IntrospectSessionRequest>,
    ) -> Result<Response<IntrospectSessionResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let IntrospectSessionRequest { session_token } = request.into_inner();
                let view = authentication::introspect(state, &call, &session_token).await?;
                Ok(convert::session_view_to_pb(view))
            }
            .await,
        )
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let LogoutRequest { session_token } = request.into_inner();
                authentication::logout(state, &call, &session_token).await?;
                Ok(LogoutResponse {})
            }
            .await,
        )
    }
}
