//! `UpgradeService`: making a PIN dispositive, through the back office's review of an
//! identity document or at an office counter.

use pin_proto::v1::{
    ListPendingReviewsRequest, ListPendingReviewsResponse, ReviewIdentityDocumentRequest,
    ReviewIdentityDocumentResponse, SubmitIdentityDocumentRequest, SubmitIdentityDocumentResponse,
    UpgradeAtOfficeRequest, UpgradeAtOfficeResponse, upgrade_service_server::UpgradeService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{
    convert,
    state::AppState,
    usecase::{office, review},
};

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

    async fn submit_identity_document(
        &self,
        request: Request<SubmitIdentityDocumentRequest>,
    ) -> Result<Response<SubmitIdentityDocumentResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let (session_token, submission) = convert::submission(message, call.now)?;
                let submitted =
                    review::submit(state, &call, &key, &session_token, &submission).await?;
                Ok(convert::submitted_to_pb(submitted))
            }
            .await,
        )
    }

    async fn list_pending_reviews(
        &self,
        request: Request<ListPendingReviewsRequest>,
    ) -> Result<Response<ListPendingReviewsResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let (after, limit) = convert::review_page(request.into_inner())?;
                let (page, more) = review::pending(state, after, limit).await?;
                Ok(convert::pending_to_pb(page, more))
            }
            .await,
        )
    }

    async fn review_identity_document(
        &self,
        request: Request<ReviewIdentityDocumentRequest>,
    ) -> Result<Response<ReviewIdentityDocumentResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let (review_id, verdict) = convert::decision(&message)?;
                let decided = review::decide(state, &call, &key, review_id, &verdict).await?;
                Ok(convert::decided_to_pb(decided))
            }
            .await,
        )
    }
}
