//! The delivery outbox drained by the sending worker.
//!
//! A delivery's body is stored with a `{secret}` placeholder and its secret apart, so the
//! secret can be erased when the delivery is acknowledged while the text stays readable.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};
use time::{Duration, OffsetDateTime};

use pin_domain::{DeliveryChannel, DeliveryPurpose};

use super::{corrupt, from_millis, to_millis};
use crate::{
    StoreError,
    db::begin_write,
    entity::delivery::{self, Column, Model},
    error::ClassifyDbErr,
};

/// The placeholder a body carries where the secret goes.
pub const SECRET_PLACEHOLDER: &str = "{secret}";

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Whom it concerns.
    pub cf: String,
    /// The credential it belongs to, if any.
    pub credential_id: Option<i64>,
    /// How it travels.
    pub channel: DeliveryChannel,
    /// Number, address, or postal address lines.
    pub recipient: String,
    /// What it carries.
    pub purpose: DeliveryPurpose,
    /// Subject line.
    pub subject: String,
    /// Text with [`SECRET_PLACEHOLDER`] where the secret goes.
    pub body: String,
    /// The secret, readable until the delivery is acknowledged.
    pub secret: Option<String>,
}

/// A leased delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedDelivery {
    /// Row id.
    pub id: i64,
    /// Whom it concerns.
    pub cf: String,
    /// The credential it belongs to.
    pub credential_id: Option<i64>,
    /// Channel.
    pub channel: DeliveryChannel,
    /// Recipient.
    pub recipient: String,
    /// Purpose.
    pub purpose: DeliveryPurpose,
    /// Subject line.
    pub subject: String,
    /// The text with the secret in place.
    pub body: String,
    /// The secret alone.
    pub secret: String,
    /// When the lease ends.
    pub leased_until: OffsetDateTime,
    /// Leases so far, this one included.
    pub attempts: u32,
}

/// Queues a delivery (inside the caller's transaction).
#[tracing::instrument(name = "outbox.enqueue", skip_all, fields(otel.kind = "client"))]
pub async fn enqueue(
    db: &impl ConnectionTrait,
    delivery: NewDelivery,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    // The subject travels as the first line of the stored body.
    let body = format!("{}\n{}", delivery.subject, delivery.body);
    let row = delivery::ActiveModel {
        cf: Set(delivery.cf),
        credential_id: Set(delivery.credential_id),
        channel: Set(delivery.channel.as_str().to_owned()),
        recipient: Set(delivery.recipient),
        purpose: Set(delivery.purpose.as_str().to_owned()),
        body: Set(body),
        secret: Set(delivery.secret),
        status: Set("PENDING".to_owned()),
        attempts: Set(0),
        created_at: Set(to_millis(now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify("delivery")?;
    Ok(row.id)
}

fn channel_of(row: &Model) -> Result<DeliveryChannel, StoreError> {
    Ok(DeliveryChannel::parse(&row.channel).ok_or_else(|| corrupt("channel", &row.channel))?)
}

fn purpose_of(row: &Model) -> Result<DeliveryPurpose, StoreError> {
    Ok(DeliveryPurpose::parse(&row.purpose).ok_or_else(|| corrupt("purpose", &row.purpose))?)
}

fn leased(row: Model) -> Result<LeasedDelivery, StoreError> {
    let (channel, purpose) = (channel_of(&row)?, purpose_of(&row)?);
    let secret = row.secret.unwrap_or_default();
    let (subject, body) = row.body.split_once('\n').unwrap_or(("", row.body.as_str()));
    Ok(LeasedDelivery {
        id: row.id,
        cf: row.cf,
        credential_id: row.credential_id,
        channel,
        recipient: row.recipient,
        purpose,
        subject: subject.to_owned(),
        body: body.replace(SECRET_PLACEHOLDER, &secret),
        secret,
        leased_until: from_millis(row.leased_until.unwrap_or_default())?,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
    })
}

/// Leases up to `max` deliveries of `channel`: pending ones, and leased ones whose lease
/// ran out, oldest first. Concurrent workers never lease the same delivery.
#[tracing::instrument(name = "outbox.lease", skip_all, fields(otel.kind = "client"))]
pub async fn lease<C>(
    db: &C,
    channel: DeliveryChannel,
    max: u64,
    lease: Duration,
    owner: &str,
    now: OffsetDateTime,
) -> Result<Vec<LeasedDelivery>, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let now_ms = to_millis(now);
    let until = to_millis(now + lease);
    let txn = begin_write(db).await?;
    let mut select = delivery::Entity::find()
        .filter(Column::Channel.eq(channel.as_str()))
        .filter(
            Condition::any().add(Column::Status.eq("PENDING")).add(
                Condition::all()
                    .add(Column::Status.eq("LEASED"))
                    .add(Column::LeasedUntil.lte(now_ms)),
            ),
        )
        .order_by_asc(Column::Id)
        .limit(max);
    if txn.get_database_backend() == DbBackend::Postgres {
        select = select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = select.all(&txn).await?;
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    if !ids.is_empty() {
        delivery::Entity::update_many()
            .col_expr(Column::Status, Expr::value("LEASED"))
            .col_expr(Column::LeasedUntil, Expr::value(until))
            .col_expr(Column::LeaseOwner, Expr::value(owner))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .filter(Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
    }
    let rows = delivery::Entity::find()
        .filter(Column::Id.is_in(ids))
        .order_by_asc(Column::Id)
        .all(&txn)
        .await?;
    txn.commit().await?;
    rows.into_iter().map(leased).collect()
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckResult {
    /// Handed to the carrier.
    Sent,
    /// Cannot be delivered.
    Failed,
}

impl AckResult {
    fn stored(self) -> &'static str {
        match self {
            AckResult::Sent => "SENT",
            AckResult::Failed => "FAILED",
        }
    }
}

/// A delivery as acknowledged (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// Row id.
    pub id: i64,
    /// Whom it concerns.
    pub cf: String,
    /// The credential it belongs to, if any.
    pub credential_id: Option<i64>,
    /// Channel.
    pub channel: DeliveryChannel,
    /// Purpose.
    pub purpose: DeliveryPurpose,
    /// `false` when this call recorded the outcome; `true` when an earlier acknowledgement
    /// with the same result already had (a worker retrying its ack).
    pub repeated: bool,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub enum AckRefusal {
    /// The delivery is not leased, or its lease ran out: it may be with another worker.
    #[error("the delivery is not leased or its lease has expired")]
    LeaseExpired,
    /// It was already acknowledged with the other result.
    #[error("the delivery was already acknowledged with another result")]
    OtherResult,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Acknowledges a leased delivery whose lease is still running, erasing its secret.
/// Acknowledging it again with the same result answers as the first time did, so a worker
/// that retries an ack after a timeout does not send the message twice. `NotFound` if the
/// delivery is unknown.
#[tracing::instrument(name = "outbox.acknowledge", skip_all, fields(otel.kind = "client"))]
pub async fn acknowledge(
    db: &impl ConnectionTrait,
    id: i64,
    result: AckResult,
    failure_reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<Acknowledged, AckRefusal> {
    let now_ms = to_millis(now);
    let updated = delivery::Entity::update_many()
        .col_expr(Column::Status, Expr::value(result.stored()))
        .col_expr(Column::Secret, Expr::value(Option::<String>::None))
        .col_expr(Column::AckedAt, Expr::value(now_ms))
        .col_expr(
            Column::FailureReason,
            Expr::value(failure_reason.map(str::to_owned)),
        )
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq("LEASED"))
        .filter(Column::LeasedUntil.gt(now_ms))
        .exec(db)
        .await
        .map_err(StoreError::from)?;
    let row = delivery::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(StoreError::from)?
        .ok_or(StoreError::NotFound { entity: "delivery" })?;
    let repeated = match (updated.rows_affected, row.status.as_str()) {
        (1, _) => false,
        (_, status) if status == result.stored() => true,
        (_, "SENT" | "FAILED") => return Err(AckRefusal::OtherResult),
        _ => return Err(AckRefusal::LeaseExpired),
    };
    Ok(Acknowledged {
        id: row.id,
        channel: channel_of(&row)?,
        purpose: purpose_of(&row)?,
        cf: row.cf,
        credential_id: row.credential_id,
        repeated,
    })
}

/// The channel and recipient that carried a credential's first half, as a contact.
#[tracing::instrument(name = "outbox.first_half_contact", skip_all, fields(otel.kind = "client"))]
pub async fn first_half_contact(
    db: &impl ConnectionTrait,
    credential_id: i64,
) -> Result<Option<(pin_domain::ContactKind, String)>, StoreError> {
    let row = delivery::Entity::find()
        .filter(Column::CredentialId.eq(credential_id))
        .filter(Column::Purpose.eq(DeliveryPurpose::PinFirstHalf.as_str()))
        .order_by_desc(Column::Id)
        .one(db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let kind = match channel_of(&row)? {
        DeliveryChannel::Sms => pin_domain::ContactKind::Mobile,
        DeliveryChannel::Email => pin_domain::ContactKind::Email,
        DeliveryChannel::Pec => pin_domain::ContactKind::Pec,
        DeliveryChannel::Post => return Ok(None),
    };
    Ok(Some((kind, row.recipient)))
}

/// Cancels the deliveries not yet sent whose secret belongs to a dead PIN — revoked,
/// replaced, or an initial PIN or campaign letter issued at or before `lapsed_before` —
/// and erases their secrets; returns how many.
#[tracing::instrument(name = "outbox.cancel_dead_secrets", skip_all, fields(otel.kind = "client"))]
pub async fn cancel_dead_secrets(
    db: &impl ConnectionTrait,
    lapsed_before: OffsetDateTime,
) -> Result<u64, StoreError> {
    let updated = delivery::Entity::update_many()
        .col_expr(Column::Status, Expr::value("CANCELLED"))
        .col_expr(Column::Secret, Expr::value(Option::<String>::None))
        .filter(Column::Secret.is_not_null())
        .filter(Column::Status.is_in(["PENDING", "LEASED"]))
        .filter(Column::CredentialId.in_subquery(super::credentials::dead_ids(lapsed_before)))
        .exec(db)
        .await?;
    Ok(updated.rows_affected)
}

/// The deliveries waiting to be sent (pending or leased): how many, and when the oldest
/// was queued. Read for the service's metrics.
#[tracing::instrument(name = "outbox.waiting", skip_all, fields(otel.kind = "client"))]
pub async fn waiting(
    db: &impl ConnectionTrait,
) -> Result<(u64, Option<OffsetDateTime>), StoreError> {
    let row: Option<(i64, Option<i64>)> = delivery::Entity::find()
        .select_only()
        .column_as(Expr::col(Column::Id).count(), "waiting")
        .column_as(Expr::col(Column::CreatedAt).min(), "oldest")
        .filter(Column::Status.is_in(["PENDING", "LEASED"]))
        .into_tuple()
        .one(db)
        .await?;
    let (count, oldest) = row.unwrap_or((0, None));
    Ok((
        u64::try_from(count).unwrap_or(0),
        oldest.map(from_millis).transpose()?,
    ))
}
