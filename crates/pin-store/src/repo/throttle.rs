//! Login failures per codice fiscale, counted atomically *before* a PIN is verified.
//!
//! The read-decide-write of [`admit`] runs in one write transaction holding the row: on
//! PostgreSQL with `SELECT … FOR UPDATE`, on SQLite under `BEGIN IMMEDIATE`. So requests
//! racing on several replicas are counted one after the other and none gets an extra guess.

use pin_domain::{CodiceFiscale, Locked, Policy, Throttle};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, QuerySelect,
    TransactionSession, TransactionTrait,
};
use time::OffsetDateTime;

use super::{from_millis, to_millis};
use crate::{
    StoreError,
    db::begin_write,
    entity::login_throttle::{self, Column, Model},
    error::ClassifyDbErr,
};

fn to_domain(row: &Model) -> Result<Throttle, StoreError> {
    Ok(Throttle {
        failures: u32::try_from(row.failures).unwrap_or(0),
        consecutive_locks: u32::try_from(row.consecutive_locks).unwrap_or(0),
        locked_until: row.locked_until.map(from_millis).transpose()?,
    })
}

/// Counts one login attempt for `cf` (known or not) before its PIN is verified, and
/// returns the record as it now stands. `Ok(Err(Locked))` means no verification may run.
#[tracing::instrument(name = "throttle.admit", skip_all, fields(otel.kind = "client"))]
pub async fn admit<C>(
    db: &C,
    cf: &CodiceFiscale,
    now: OffsetDateTime,
    policy: &Policy,
) -> Result<Result<Throttle, Locked>, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    // Make sure the row exists, then hold it for the rest of the transaction.
    login_throttle::Entity::insert(login_throttle::ActiveModel {
        cf: Set(cf.as_str().to_owned()),
        failures: Set(0),
        consecutive_locks: Set(0),
        locked_until: Set(None),
        last_failure_at: Set(None),
        updated_at: Set(now_ms),
    })
    .on_conflict_do_nothing_on([Column::Cf])
    .exec(&txn)
    .await
    .classify("login throttle")?;
    let mut select = login_throttle::Entity::find_by_id(cf.as_str());
    if txn.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    let row = select.one(&txn).await?.ok_or(StoreError::NotFound {
        entity: "login throttle",
    })?;
    let decision = to_domain(&row)?.admit(now, policy);
    if let Ok(next) = &decision {
        let mut active: login_throttle::ActiveModel = row.into();
        active.failures = Set(i32::try_from(next.failures).unwrap_or(i32::MAX));
        active.consecutive_locks = Set(i32::try_from(next.consecutive_locks).unwrap_or(i32::MAX));
        active.locked_until = Set(next.locked_until.map(to_millis));
        active.last_failure_at = Set(Some(now_ms));
        active.updated_at = Set(now_ms);
        active.update(&txn).await.classify("login throttle")?;
    }
    txn.commit().await?;
    Ok(decision)
}

/// Clears the record after a successful login.
#[tracing::instrument(name = "throttle.succeeded", skip_all, fields(otel.kind = "client"))]
pub async fn succeeded(db: &impl ConnectionTrait, cf: &CodiceFiscale) -> Result<(), StoreError> {
    login_throttle::Entity::delete_by_id(cf.as_str())
        .exec(db)
        .await?;
    Ok(())
}

/// The current record, for tests and operators.
#[tracing::instrument(name = "throttle.get", skip_all, fields(otel.kind = "client"))]
pub async fn get(db: &impl ConnectionTrait, cf: &CodiceFiscale) -> Result<Throttle, StoreError> {
    match login_throttle::Entity::find_by_id(cf.as_str())
        .one(db)
        .await?
    {
        Some(row) => to_domain(&row),
        None => Ok(Throttle::default()),
    }
}
