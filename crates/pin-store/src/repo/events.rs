//! The durable event log: facts for other backends, each with a cursor to resume from.
//!
//! # Cursors follow commit order
//!
//! A subscriber reads "every event with a cursor greater than the last one I saw". That
//! is only safe if no event can become visible *after* one with a greater cursor: with a
//! plain sequence, two transactions could take cursors 10 and 11 and commit 11 first, and
//! a subscriber reading in between would skip 10 forever. So [`append`] takes the
//! change-log lock ([`crate::repo::audit::AUDIT_LOCK_KEY`], the same transaction-scoped
//! advisory lock that serialises the audit chain, so the two can never deadlock) before it
//! draws a cursor, and holds it until the transaction ends: cursors are drawn and made
//! visible in one order. On SQLite the single writer gives the same order. A transaction
//! that rolls back leaves a gap in the numbers, never a late arrival.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use time::OffsetDateTime;

use super::{corrupt, from_millis, to_millis};
use crate::{
    StoreError,
    entity::event::{self, Column, Model},
    error::ClassifyDbErr,
    repo::audit::AUDIT_LOCK_KEY,
};
use pin_domain::{
    CodiceFiscale, EventDetail, EventKind, PinEnd, ServiceId, SessionEnd, UpgradeVia,
};

const ENTITY: &str = "event";

/// An event as stored, with its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its place in the log.
    pub cursor: i64,
    /// Whom it concerns.
    pub cf: CodiceFiscale,
    /// When it was committed (the change's instant).
    pub at: OffsetDateTime,
    /// What happened.
    pub detail: EventDetail,
}

/// Appends an event inside the transaction of the change it describes; returns its cursor.
#[tracing::instrument(name = "events.append", skip_all, fields(otel.kind = "client"))]
pub async fn append(
    txn: &DatabaseTransaction,
    cf: &CodiceFiscale,
    detail: &EventDetail,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK_KEY})"))
            .await
            .classify(ENTITY)?;
    }
    let row = event::ActiveModel {
        kind: Set(detail.kind().as_str().to_owned()),
        cf: Set(Some(cf.as_str().to_owned())),
        payload: Set(payload(detail).to_string()),
        created_at: Set(to_millis(now)),
        ..Default::default()
    }
    .insert(txn)
    .await
    .classify(ENTITY)?;
    Ok(row.id)
}

/// Up to `limit` events after `cursor`, in cursor order, of the given kinds (all when
/// `kinds` is empty).
#[tracing::instrument(name = "events.after", skip_all, fields(otel.kind = "client"))]
pub async fn after(
    db: &impl ConnectionTrait,
    cursor: i64,
    kinds: &[EventKind],
    limit: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut select = event::Entity::find()
        .filter(Column::Id.gt(cursor))
        .order_by_asc(Column::Id)
        .limit(limit);
    if !kinds.is_empty() {
        select = select.filter(Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
    }
    let rows = select.all(db).await?;
    Ok(rows
        .into_iter()
        .map(StoredEvent::try_from)
        .collect::<Result<_, _>>()?)
}

/// The greatest cursor in the log, 0 when it is empty.
#[tracing::instrument(name = "events.last_cursor", skip_all, fields(otel.kind = "client"))]
pub async fn last_cursor(db: &impl ConnectionTrait) -> Result<i64, StoreError> {
    let last: Option<i64> = event::Entity::find()
        .select_only()
        .column(Column::Id)
        .order_by_desc(Column::Id)
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.unwrap_or(0))
}

fn payload(detail: &EventDetail) -> serde_json::Value {
    match detail {
        EventDetail::ApplicationReleased {
            service,
            reference,
            filed_at,
        } => json!({
            "service_id": service.as_str(),
            "application_reference": reference,
            "filed_at": to_millis(*filed_at),
        }),
        EventDetail::LevelUpgraded { via } => json!({ "via": via.as_str() }),
        EventDetail::PinRevoked { via } => json!({ "via": via.as_str() }),
        EventDetail::SessionsEnded { count, reason } => {
            json!({ "count": count, "reason": reason.as_str() })
        }
    }
}

fn detail(kind: EventKind, payload: &serde_json::Value) -> Option<EventDetail> {
    let text = |key: &str| payload.get(key).and_then(serde_json::Value::as_str);
    Some(match kind {
        EventKind::ApplicationReleased => EventDetail::ApplicationReleased {
            service: ServiceId::parse(text("service_id")?).ok()?,
            reference: text("application_reference")?.to_owned(),
            filed_at: from_millis(payload.get("filed_at")?.as_i64()?).ok()?,
        },
        EventKind::LevelUpgraded => EventDetail::LevelUpgraded {
            via: UpgradeVia::parse(text("via")?)?,
        },
        EventKind::PinRevoked => EventDetail::PinRevoked {
            via: PinEnd::parse(text("via")?)?,
        },
        EventKind::SessionsEnded => EventDetail::SessionsEnded {
            count: u32::try_from(payload.get("count")?.as_u64()?).ok()?,
            reason: SessionEnd::parse(text("reason")?)?,
        },
    })
}

impl TryFrom<Model> for StoredEvent {
    type Error = DbErr;

    fn try_from(row: Model) -> Result<Self, DbErr> {
        let kind = EventKind::parse(&row.kind).ok_or_else(|| corrupt("event kind", &row.kind))?;
        let value: serde_json::Value =
            serde_json::from_str(&row.payload).map_err(|_| corrupt("event", &row.payload))?;
        let cf = row.cf.unwrap_or_default();
        Ok(StoredEvent {
            cursor: row.id,
            cf: CodiceFiscale::parse(&cf).map_err(|_| corrupt("event codice fiscale", &cf))?,
            at: from_millis(row.created_at)?,
            detail: detail(kind, &value).ok_or_else(|| corrupt("event", &row.payload))?,
        })
    }
}
