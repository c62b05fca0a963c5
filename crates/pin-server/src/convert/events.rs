//! The event log as subscribers receive it.

use pin_domain::{EventDetail, EventKind, Level};
use pin_proto::v1::{self as pb, subscribe_response::Detail};
use pin_store::repo::events::StoredEvent;

use super::{level_to_pb, timestamp};
use crate::error::ServiceError;

fn kind_to_pb(kind: EventKind) -> pb::EventKind {
    match kind {
        EventKind::ApplicationReleased => pb::EventKind::ApplicationReleased,
        EventKind::LevelUpgraded => pb::EventKind::LevelUpgraded,
        EventKind::PinRevoked => pb::EventKind::PinRevoked,
        EventKind::SessionsEnded => pb::EventKind::SessionsEnded,
    }
}

/// The cursor and the kinds of a subscription (every kind when none is named).
pub fn subscription(request: pb::SubscribeRequest) -> Result<(i64, Vec<EventKind>), ServiceError> {
    let pb::SubscribeRequest {
        after_cursor,
        kinds,
    } = request;
    let cursor = i64::try_from(after_cursor).map_err(|_| {
        ServiceError::invalid("after_cursor", "OUT_OF_RANGE", "after_cursor is too large")
    })?;
    let kinds = kinds
        .into_iter()
        .map(|kind| match pb::EventKind::try_from(kind) {
            Ok(pb::EventKind::ApplicationReleased) => Ok(EventKind::ApplicationReleased),
            Ok(pb::EventKind::LevelUpgraded) => Ok(EventKind::LevelUpgraded),
            Ok(pb::EventKind::PinRevoked) => Ok(EventKind::PinRevoked),
            Ok(pb::EventKind::SessionsEnded) => Ok(EventKind::SessionsEnded),
            Ok(pb::EventKind::Unspecified) | Err(_) => Err(ServiceError::invalid(
                "kinds",
                "EVENT_KIND",
                "kinds may name only APPLICATION_RELEASED, LEVEL_UPGRADED, PIN_REVOKED and \
                 SESSIONS_ENDED",
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok((cursor, kinds))
}

/// One event as a subscriber receives it.
pub fn event_to_pb(event: StoredEvent) -> pb::SubscribeResponse {
    let StoredEvent {
        cursor,
        cf,
        at,
        detail,
    } = event;
    let kind = kind_to_pb(detail.kind());
    let detail = match detail {
        EventDetail::ApplicationReleased {
            service,
            reference,
            filed_at,
        } => Detail::ApplicationReleased(pb::ApplicationReleased {
            service_id: service.as_str().to_owned(),
            application_reference: reference,
            filed_at: Some(timestamp(filed_at)),
        }),
        EventDetail::LevelUpgraded { via } => Detail::LevelUpgraded(pb::LevelUpgraded {
            level: level_to_pb(Level::Dispositive).into(),
            via: via.as_str().to_owned(),
        }),
        EventDetail::PinRevoked { via } => Detail::PinRevoked(pb::PinRevoked {
            via: via.as_str().to_owned(),
        }),
        EventDetail::SessionsEnded { count, reason } => Detail::SessionsEnded(pb::SessionsEnded {
            count,
            reason: reason.as_str().to_owned(),
        }),
    };
    pb::SubscribeResponse {
        cursor: u64::try_from(cursor).unwrap_or_default(),
        kind: kind.into(),
        codice_fiscale: cf.as_str().to_owned(),
        occurred_at: Some(timestamp(at)),
        detail: Some(detail),
    }
}
