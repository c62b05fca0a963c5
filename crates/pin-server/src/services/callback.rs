//! `CallbackService`: the contact center's queue of cases to call back about.

use pin_proto::v1::{
    ListCallbackCasesRequest, ListCallbackCasesResponse, ResolveCallbackCaseRequest,
    ResolveCallbackCaseResponse, callback_service_server::CallbackService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::callback};

/// The gRPC face of the callback queue.
#[derive(Debug, Clone)]
pub struct CallbackApi {
    state: AppState,
}

impl CallbackApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl CallbackService for CallbackApi {
    async fn list_callback_cases(
        &self,
        request: Request<ListCallbackCasesRequest>,
    ) -> Result<Response<ListCallbackCasesResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let (status, after, limit) = convert::callback_page(request.get_ref())?;
                let (page, more) = callback::list(state, status, after, limit).await?;
                Ok(convert::cases_to_pb(page, more))
            }
            .await,
        )
    }

    async fn resolve_callback_case(
        &self,
        request: Request<ResolveCallbackCaseRequest>,
    ) -> Result<Response<ResolveCallbackCaseResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let (case_id, resolution) = convert::resolution(&message)?;
                let closed = callback::resolve(state, &call, &key, case_id, &resolution).await?;
                Ok(convert::resolved_to_pb(closed))
            }
            .await,
        )
    }
}
