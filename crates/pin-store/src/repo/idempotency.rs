//! Idempotency keys: a retried request with the same id gets the first answer.
//!
//! A change claims its request id as the *first* statement of its write transaction
//! ([`claim`]) and fills in the answer as the last ([`complete`]), so the claim and the
//! answer commit together with the change or not at all, and nobody ever reads a claim
//! without its answer. A concurrent request with the same id cannot decide anything in
//! the meantime: on PostgreSQL its own claim waits on the first one's uncommitted row and
//! then fails as a `Conflict`; on SQLite its transaction cannot even begin until the first
//! one has committed. Either way the loser reads the winner's answer.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
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
#[tracing::instrument(name = "idempotency.find", skip_all, fields(otel.kind = "client"))]
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

/// A request id claimed inside a write transaction, waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    caller_id: String,
    request_id: String,
}

/// Claims `(caller_id, request_id)` for the change being made in `txn`; call it before
/// anything else in the transaction. `Conflict` when a request with the same id has
/// committed first (read its answer with [`find`]).
#[tracing::instrument(name = "idempotency.claim", skip_all, fields(otel.kind = "client"))]
pub async fn claim(
    txn: &impl ConnectionTrait,
    caller_id: &str,
    request_id: &str,
    rpc: &str,
    fingerprint: &str,
    now: OffsetDateTime,
) -> Result<Claim, StoreError> {
    idempotency_key::ActiveModel {
        caller_id: Set(caller_id.to_owned()),
        request_id: Set(request_id.to_owned()),
        rpc: Set(rpc.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        response: Set(Vec::new()),
        created_at: Set(to_millis(now)),
    }
    .insert(txn)
    .await
    .classify("idempotency key")?;
    Ok(Claim {
        caller_id: caller_id.to_owned(),
        request_id: request_id.to_owned(),
    })
}

/// Stores the answer of a claimed request, in the transaction that claimed it.
#[tracing::instrument(name = "idempotency.complete", skip_all, fields(otel.kind = "client"))]
pub async fn complete(
    txn: &impl ConnectionTrait,
    claim: Claim,
    response: Vec<u8>,
) -> Result<(), StoreError> {
    use idempotency_key::Column;
    idempotency_key::Entity::update_many()
        .col_expr(Column::Response, Expr::value(response))
        .filter(Column::CallerId.eq(claim.caller_id))
        .filter(Column::RequestId.eq(claim.request_id))
        .exec(txn)
        .await?;
    Ok(())
}
