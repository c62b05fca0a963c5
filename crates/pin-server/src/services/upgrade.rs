//! `UpgradeService`: making a PIN dispositive. At an office counter today; the document
//! review RPCs answer `UNIMPLEMENTED` until they are built.

use pin_proto::v1::{
    UpgradeAtOfficeRequest, UpgradeAtOfficeResponse, upgrade_service_server::UpgradeService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::office};

/// The gRPC face of upgrades.
#[derive(Debug, Clone)]
pub struct UpgradeApi {
    state: AppState,
}

impl UpgradeApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl UpgradeService for UpgradeApi {
    async fn upgrade_at_office(
        &self,
        request: Request<UpgradeAtOfficeRequest>,
    ) -> Result<Response<UpgradeAtOfficeResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let check = convert::office_upgrade(message, call.now)?;
                let answer = office::upgrade_at_office(state, &call, &key, &check).await?;
                Ok(convert::upgrade_answer_to_pb(answer))
            }
            .await,
        )
    }
}
