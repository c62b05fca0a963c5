//! Audit trail queries and records.

use pin_proto::v1 as pb;
use pin_store::repo::audit::{ActorKind, AuditQuery, AuditRecord};

use super::{codice_fiscale, instant, page, timestamp};
use crate::{error::ServiceError, usecase::audit::AuditPage};

/// The query of a `ListAuditEvents` request.
pub fn audit_query(request: pb::ListAuditEventsRequest) -> Result<AuditQuery, ServiceError> {
    let pb::ListAuditEventsRequest {
        codice_fiscale: cf,
        from,
        to,
        page_size,
        page_token,
    } = request;
    let cf = if cf.trim().is_empty() {
        None
    } else {
        Some(codice_fiscale("codice_fiscale", &cf)?.as_str().to_owned())
    };
    let (after_id, limit) = page(page_size, &page_token, 100, 1000)?;
    Ok(AuditQuery {
        cf,
        from: instant("from", from)?,
        to: instant("to", to)?,
        after_id,
        limit,
    })
}

fn actor_to_pb(kind: ActorKind) -> pb::ActorKind {
    match kind {
        ActorKind::Citizen => pb::ActorKind::Citizen,
        ActorKind::Operator => pb::ActorKind::Operator,
        ActorKind::Caller => pb::ActorKind::Caller,
        ActorKind::System => pb::ActorKind::System,
    }
}

fn record_to_pb(record: AuditRecord) -> pb::AuditEvent {
    pb::AuditEvent {
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

/// A page of the trail.
pub fn audit_page_to_pb(page: AuditPage) -> pb::ListAuditEventsResponse {
    pb::ListAuditEventsResponse {
        events: page.records.into_iter().map(record_to_pb).collect(),
        next_page_token: page.next_after.map(|id| id.to_string()).unwrap_or_default(),
    }
}
