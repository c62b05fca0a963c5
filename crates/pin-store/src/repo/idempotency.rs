//! Idempotency keys: a retried request with the same id gets the first answer.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use time::OffsetDateTime;

use super::to_millis;
use crate::{StoreError, entity::idempotency_key, error::ClassifyDbErr};

/// What an earlier request with the same id was and got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Hex SHA-256 of the earlier request.
    pub fingerprint: String,
    /// The encoded answer.
    pub response: Vec<u8>,
}

/// The recorded answer for `(caller_id, request_id)`, if any.
pub async fn find(
    db: &impl ConnectionTrait,
    caller_id: &str,
    request_id: &str,
) -> Result<Option<Recorded>, StoreError> {
    let row = idempotency_key::Entity::find_by_id((caller_id.to_owned(), request_id.to_owned()))
        .one(db)
        .await?;
    Ok(row.map(|row| Recorded {
        fingerprint: row.fingerprint,
        response: row.response,
    }))
}

/// Records the answer, inside the transaction of the change it answers. A concurrent
/// request with the same id makes one of the two transactions fail with `Conflict`.
pub async fn record(
    db: &impl ConnectionTrait,
    caller_id: &str,
    request_id: &str,
    rpc: &str,
    fingerprint: &str,
    response: Vec<u8>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    idempotency_key::ActiveModel {
        caller_id: Set(caller_id.to_owned()),
        request_id: Set(request_id.to_owned()),
        rpc: Set(rpc.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        response: Set(response),
        created_at: Set(to_millis(now)),
    }
    .insert(db)
    .await
    .classify("idempotency key")?;
    Ok(())
}
