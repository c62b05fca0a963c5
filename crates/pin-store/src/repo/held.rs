//! Applications filed with an ordinary PIN, held until the PIN becomes dispositive.

use pin_domain::{CodiceFiscale, ServiceId};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use time::OffsetDateTime;

use super::{from_millis, to_millis};
use crate::{
    StoreError,
    entity::held_application::{self, Column},
    error::ClassifyDbErr,
};

/// A held application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Whose.
    pub cf: String,
    /// When it was first filed: deadlines stopped running then.
    pub filed_at: OffsetDateTime,
}

/// Holds the application `reference` of `service`, once: asking again returns the first
/// filing. `Conflict` if the reference is already held for another person.
#[tracing::instrument(name = "held.hold", skip_all, fields(otel.kind = "client"))]
pub async fn hold(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    service: &ServiceId,
    reference: &str,
    now: OffsetDateTime,
) -> Result<Held, StoreError> {
    held_application::Entity::insert(held_application::ActiveModel {
        cf: Set(cf.as_str().to_owned()),
        service_id: Set(service.as_str().to_owned()),
        application_ref: Set(reference.to_owned()),
        filed_at: Set(to_millis(now)),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([Column::ServiceId, Column::ApplicationRef])
    .exec(db)
    .await
    .classify("held application")?;
    let row = held_application::Entity::find()
        .filter(Column::ServiceId.eq(service.as_str()))
        .filter(Column::ApplicationRef.eq(reference))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "held application",
        })?;
    if row.cf != cf.as_str() {
        return Err(StoreError::Conflict {
            entity: "held application",
        });
    }
    Ok(Held {
        cf: row.cf,
        filed_at: from_millis(row.filed_at)?,
    })
}

/// An application released for processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The service it was filed with.
    pub service: ServiceId,
    /// The benefit service's reference.
    pub reference: String,
    /// When it was first filed.
    pub filed_at: OffsetDateTime,
}

/// Releases every application still held for `cf` (inside the change that made the PIN
/// dispositive), oldest first.
#[tracing::instrument(name = "held.release_all", skip_all, fields(otel.kind = "client"))]
pub async fn release_all(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    now: OffsetDateTime,
) -> Result<Vec<Released>, StoreError> {
    let rows = held_application::Entity::find()
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::ReleasedAt.is_null())
        .order_by_asc(Column::FiledAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    held_application::Entity::update_many()
        .col_expr(Column::ReleasedAt, Expr::value(to_millis(now)))
        .filter(Column::Id.is_in(rows.iter().map(|row| row.id)))
        .exec(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Released {
                service: ServiceId::parse(&row.service_id)
                    .map_err(|_| super::corrupt("service id", &row.service_id))?,
                reference: row.application_ref,
                filed_at: from_millis(row.filed_at)?,
            })
        })
        .collect()
}

/// How many applications are held now, for everyone. Read for the service's metrics.
#[tracing::instrument(name = "held.count_held", skip_all, fields(otel.kind = "client"))]
pub async fn count_held(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(held_application::Entity::find()
        .filter(Column::ReleasedAt.is_null())
        .count(db)
        .await?)
}
