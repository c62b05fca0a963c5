//! `AuthorizationService`: what a logged-in holder may do with a service of the catalog.

use std::collections::{BTreeMap, BTreeSet};

use pin_domain::{Action, Category, Decision, DenyReason, ServiceId};
use pin_proto::v1::{
    self as pb, AuthorizeRequest, AuthorizeResponse, ListEntitledServicesRequest,
    ListEntitledServicesResponse, authorization_service_server::AuthorizationService,
};
use pin_store::{StoreError, begin_write, repo::held};
use tonic::{Request, Response, Status};

use crate::{
    convert::timestamp,
    error::ServiceError,
    services::common::{self, Audit},
    state::{AppState, context},
};

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

/// Whose session it is, with what the catalog needs to decide.
struct Holder {
    cf: pin_domain::CodiceFiscale,
    level: pin_domain::Level,
    categories: BTreeSet<Category>,
}

/// The holder behind a session token, or `None` when the session is not usable.
async fn holder(state: &AppState, session_token: &str) -> Result<Option<Holder>, ServiceError> {
    let Some(live) = common::live_session(state, session_token).await? else {
        return Ok(None);
    };
    Ok(Some(Holder {
        categories: common::categories(state, &live.session.cf).await?,
        level: live.credential.credential.level,
        cf: live.session.cf,
    }))
}

fn deny(reason: pb::DenyReason, cf: &str) -> AuthorizeResponse {
    AuthorizeResponse {
        decision: pb::Decision::Deny.into(),
        deny_reason: reason.into(),
        codice_fiscale: cf.to_owned(),
        filed_at: None,
    }
}

#[tonic::async_trait]
impl AuthorizationService for AuthorizationApi {
    async fn authorize(
        &self,
        request: Request<AuthorizeRequest>,
    ) -> Result<Response<AuthorizeResponse>, Status> {
        let context = context(&request)?;
        let AuthorizeRequest {
            session_token,
            service_id,
            action,
            application_reference,
        } = request.into_inner();
        let state = &self.state;
        let service = ServiceId::parse(&service_id).map_err(|error| {
            ServiceError::invalid("service_id", error.reason(), error.to_string())
        })?;
        let action = match pb::Action::try_from(action) {
            Ok(pb::Action::Consult) => Action::Consult,
            Ok(pb::Action::Submit) => Action::Submit,
            _ => {
                return Err(ServiceError::invalid(
                    "action",
                    "MISSING",
                    "action must be CONSULT or SUBMIT",
                )
                .into());
            }
        };
        let reference = application_reference.trim();
        if action == Action::Submit && (reference.is_empty() || reference.len() > 128) {
            return Err(ServiceError::invalid(
                "application_reference",
                "MISSING",
                "a submission needs the application reference (1-128 characters)",
            )
            .into());
        }
        if state.catalog.get(&service).is_none() {
            return Err(ServiceError::NotFound("service").into());
        }
        let Some(holder) = holder(state, &session_token).await? else {
            return Ok(Response::new(deny(pb::DenyReason::SessionInvalid, "")));
        };
        let decision = state
            .catalog
            .decide(&service, &holder.categories, holder.level, action)
            .ok_or(ServiceError::NotFound("service"))?;
        let cf = holder.cf.as_str();
        let response = match decision {
            Decision::Allow => AuthorizeResponse {
                decision: pb::Decision::Allow.into(),
                deny_reason: pb::DenyReason::Unspecified.into(),
                codice_fiscale: cf.to_owned(),
                filed_at: None,
            },
            Decision::Deny(DenyReason::CategoryNotEntitled) => {
                deny(pb::DenyReason::CategoryNotEntitled, cf)
            }
            Decision::Deny(DenyReason::LevelInsufficient) => {
                deny(pb::DenyReason::LevelInsufficient, cf)
            }
            Decision::Hold => {
                let now = state.now();
                let txn = begin_write(&state.db).await.map_err(ServiceError::from)?;
                let held = match held::hold(&txn, &holder.cf, &service, reference, now).await {
                    Ok(held) => held,
                    Err(StoreError::Conflict { .. }) => {
                        return Err(ServiceError::FailedPrecondition {
                            reason: "REFERENCE_TAKEN",
                            message: "this application reference is held for another person"
                                .to_owned(),
                        }
                        .into());
                    }
                    Err(other) => return Err(ServiceError::from(other).into()),
                };
                Audit {
                    context: &context,
                    action: "authz.hold",
                    cf: Some(cf),
                    citizen_acts: true,
                    outcome: "HELD",
                    request_id: None,
                    details: BTreeMap::from([
                        ("service_id".to_owned(), service.as_str().to_owned()),
                        ("application_reference".to_owned(), reference.to_owned()),
                    ]),
                }
                .append(&txn, now)
                .await
                .map_err(ServiceError::from)?;
                pin_store::commit(txn).await.map_err(ServiceError::from)?;
                AuthorizeResponse {
                    decision: pb::Decision::Held.into(),
                    deny_reason: pb::DenyReason::Unspecified.into(),
                    codice_fiscale: cf.to_owned(),
                    filed_at: Some(timestamp(held.filed_at)),
                }
            }
        };
        Ok(Response::new(response))
    }

    async fn list_entitled_services(
        &self,
        request: Request<ListEntitledServicesRequest>,
    ) -> Result<Response<ListEntitledServicesResponse>, Status> {
        let ListEntitledServicesRequest { session_token } = request.into_inner();
        let state = &self.state;
        let Some(holder) = holder(state, &session_token).await? else {
            return Err(Status::unauthenticated("the session is not valid"));
        };
        let services = state
            .catalog
            .entitlements(&holder.categories, holder.level)
            .into_iter()
            .map(|e| pb::EntitledService {
                service_id: e.service.id.as_str().to_owned(),
                name: e.service.name.clone(),
                can_consult: e.can_consult,
                can_submit: e.can_submit,
                submission_held: e.submission_held,
            })
            .collect();
        Ok(Response::new(ListEntitledServicesResponse { services }))
    }
}
