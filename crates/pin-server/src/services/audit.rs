//! `AuditService`: reading the tamper-evident trail.

use pin_proto::v1::{
    self as pb, AuditEvent, ListAuditEventsRequest, ListAuditEventsResponse,
    audit_service_server::AuditService,
};
use pin_store::repo::audit::{self, ActorKind, AuditQuery, AuditRecord};
use prost_types::Timestamp;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use crate::{
    convert::{self, timestamp},
    error::ServiceError,
    state::AppState,
};

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

fn instant(field: &str, value: Option<Timestamp>) -> Result<Option<OffsetDateTime>, ServiceError> {
    value
        .map(|t| {
            OffsetDateTime::from_unix_timestamp(t.seconds)
                .ok()
                .and_then(|at| at.replace_nanosecond(u32::try_from(t.nanos).ok()?).ok())
                .ok_or_else(|| ServiceError::invalid(field, "TIMESTAMP", "not a valid timestamp"))
        })
        .transpose()
}

fn actor_to_pb(kind: ActorKind) -> pb::ActorKind {
    match kind {
        ActorKind::Citizen => pb::ActorKind::Citizen,
        ActorKind::Operator => pb::ActorKind::Operator,
        ActorKind::Caller => pb::ActorKind::Caller,
        ActorKind::System => pb::ActorKind::System,
    }
}

fn event_to_pb(record: AuditRecord) -> AuditEvent {
    AuditEvent {
        id: u64::try_from(record.id).unwrap_or_default(),
        at: Some(timestamp(record.at)),
        caller_id: record.caller_id,
        actor_kind: actor_to_pb(record.actor_kind).into(),
        actor_id: record.actor_id,
        action: record.action,
        codice_fiscale: record.cf.unwrap_or_default(),
        outcome: record.outcome,
        request_id: record.request_id.unwrap_or_default(),
        details: record.details.into_iter().collect(),
        prev_hash: record.prev_hash,
        hash: record.hash,
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        let ListAuditEventsRequest {
            codice_fiscale,
            from,
            to,
            page_size,
            page_token,
        } = request.into_inner();
        let cf = if codice_fiscale.trim().is_empty() {
            None
        } else {
            Some(
                convert::codice_fiscale("codice_fiscale", &codice_fiscale)?
                    .as_str()
                    .to_owned(),
            )
        };
        let limit = match page_size {
            0 => 100,
            1..=1000 => u64::from(page_size),
            _ => {
                return Err(ServiceError::invalid(
                    "page_size",
                    "OUT_OF_RANGE",
                    "page_size must be at most 1000",
                )
                .into());
            }
        };
        let after_id = if page_token.is_empty() {
            None
        } else {
            Some(page_token.parse::<i64>().map_err(|_| {
                ServiceError::invalid(
                    "page_token",
                    "FORMAT",
                    "page_token is not one this service returned",
                )
            })?)
        };
        let query = AuditQuery {
            cf,
            from: instant("from", from)?,
            to: instant("to", to)?,
            after_id,
            limit: limit + 1,
        };
        let mut records = audit::list(&self.state.db, &query)
            .await
            .map_err(ServiceError::from)?;
        let more = records.len() as u64 > limit;
        records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = if more {
            records.last().map(|r| r.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListAuditEventsResponse {
            events: records.into_iter().map(event_to_pb).collect(),
            next_page_token,
        }))
    }
}
