//! `ContactsService`: a holder's contacts, their proof, and additions by the contact
//! center.

use pin_proto::v1::{
    AddContactByContactCenterRequest, AddContactByContactCenterResponse, GetContactsRequest,
    GetContactsResponse, UpdateContactsRequest, UpdateContactsResponse, VerifyContactRequest,
    VerifyContactResponse, contacts_service_server::ContactsService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::contacts};

/// The gRPC face of contacts.
#[derive(Debug, Clone)]
pub struct ContactsApi {
    state: AppState,
}

impl ContactsApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl ContactsService for ContactsApi {
    async fn get_contacts(
        &self,
        request: Request<GetContactsRequest>,
    ) -> Result<Response<GetContactsResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let list = contacts::get(state, &call, &request.get_ref().session_token).await?;
                Ok(GetContactsResponse {
                    contacts: convert::contact_list_to_pb(&list),
                })
            }
            .await,
        )
    }

    async fn update_contacts(
        &self,
        request: Request<UpdateContactsRequest>,
    ) -> Result<Response<UpdateContactsResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let changes = convert::contact_changes(&message.changes)?;
                let list =
                    contacts::update(state, &call, &key, &message.session_token, &changes).await?;
                Ok(UpdateContactsResponse {
                    contacts: convert::contact_list_to_pb(&list),
                })
            }
            .await,
        )
    }

    async fn verify_contact(
        &self,
        request: Request<VerifyContactRequest>,
    ) -> Result<Response<VerifyContactResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let (kind, code) = convert::contact_code(request.get_ref())?;
                let token = &request.get_ref().session_token;
                let contact = contacts::verify(state, &call, token, kind, &code).await?;
                Ok(VerifyContactResponse {
                    contact: Some(convert::contact_to_pb(&contact)),
                })
            }
            .await,
        )
    }

    async fn add_contact_by_contact_center(
        &self,
        request: Request<AddContactByContactCenterRequest>,
    ) -> Result<Response<AddContactByContactCenterResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let call = state.call(&request)?;
                let message = request.into_inner();
                let key = convert::request_key(&message.request_id, &message)?;
                let (cf, kind, value) = convert::contact_addition(&message)?;
                let list =
                    contacts::add_by_contact_center(state, &call, &key, &cf, kind, &value).await?;
                let contact = convert::contact_list_to_pb(&list)
                    .into_iter()
                    .find(|contact| convert::contact_kind_is(contact, kind));
                Ok(AddContactByContactCenterResponse { contact })
            }
            .await,
        )
    }
}
