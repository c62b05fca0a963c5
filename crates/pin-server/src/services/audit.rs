//! `AuditService`: reading the tamper-evident trail.

use pin_proto::v1::{
    ListAuditEventsRequest, ListAuditEventsResponse, audit_service_server::AuditService,
};
use tonic::{Request, Response, Status};

use super::reply;
use crate::{convert, state::AppState, usecase::audit};

/// The gRPC face of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditApi {
    state: AppState,
}

impl AuditApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        let state = &self.state;
        reply(
            async {
                let query = convert::audit_query(request.into_inner())?;
                let page = audit::list(state, query).await?;
                Ok(convert::audit_page_to_pb(page))
            }
            .await,
        )
    }
}
