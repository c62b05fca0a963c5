//! `IssuanceService`: obtaining a PIN online, through the contact center, at an office
//! counter and by campaign letter.

use pin_proto::v1::{
    ActivateCampaignPinRequest, ActivateCampaignPinResponse, IssueCampaignPinsRequest,
    IssueCampaignPinsResponse, IssuePinAtOfficeRequest, IssuePinAtOfficeResponse,
    RequestPinByContactCenterRequest, RequestPinByContactCenterResponse, RequestPinOnlineRequest,
    RequestPinOnlineResponse, issuance_service_server::IssuanceService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{
    convert,
    state::AppState,
    usecase::{
        campaign,
        issuance::{self, Requester},
        office,
    },
};

/// The gRPC face of issuance.
#[derive(Debug, Clone)]
pub struct IssuanceApi {
    state: AppState,
}

impl IssuanceApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl IssuanceService for IssuanceApi {
    async fn request_pin_online(
        &self,
        request: Request<RequestPinOnlineRequest>,
    ) -> Result<Response<RequestPinOnlineResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let RequestPinOnlineRequest {
                    request_id: _,
                    applicant,
                } = message;
                let applicant = convert::applicant("applicant", applicant.as_ref())?;
                let answer =
                    issuance::request_pin(state, &call, &key, &applicant, Requester::Portal)
                        .await?;
                Ok(convert::online_answer_to_pb(answer))
            }
            .await,
        )
    }

    async fn request_pin_by_contact_center(
        &self,
        request: Request<RequestPinByContactCenterRequest>,
    ) -> Result<Response<RequestPinByContactCenterResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let RequestPinByContactCenterRequest {
                    request_id: _,
                    applicant,
                } = message;
                let applicant = convert::applicant("applicant", applicant.as_ref())?;
                let requester = Requester::ContactCenter;
                let answer =
                    issuance::request_pin(state, &call, &key, &applicant, requester).await?;
                Ok(convert::contact_center_answer_to_pb(answer))
            }
            .await,
        )
    }

    async fn issue_pin_at_office(
        &self,
        request: Request<IssuePinAtOfficeRequest>,
    ) -> Result<Response<IssuePinAtOfficeResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let issue = convert::office_issue(&message, call.now)?;
                let answer = office::issue_at_office(state, &call, &key, &issue).await?;
                Ok(convert::office_answer_to_pb(answer))
            }
            .await,
        )
    }

    async fn issue_campaign_pins(
        &self,
        request: Request<IssueCampaignPinsRequest>,
    ) -> Result<Response<IssueCampaignPinsResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let (name, people) = convert::campaign(&message)?;
                let outcome = campaign::issue(state, &call, &key, &name, &people).await?;
                Ok(convert::campaign_outcome_to_pb(outcome))
            }
            .await,
        )
    }

    async fn activate_campaign_pin(
        &self,
        request: Request<ActivateCampaignPinRequest>,
    ) -> Result<Response<ActivateCampaignPinResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let (cf, first_half, card) = convert::activation(&message)?;
                let activated =
                    campaign::activate(state, &call, &key, &cf, &first_half, &card).await?;
                Ok(convert::activated_to_pb(activated))
            }
            .await,
        )
    }
}
