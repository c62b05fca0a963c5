//! Login attempts per codice fiscale: a place taken atomically *before* a PIN is verified
//! ([`admit`]) and given back once the login is decided ([`settle`]).
//!
//! Each read-decide-write runs in one write transaction holding the row: on PostgreSQL with
//! `SELECT … FOR UPDATE`, on SQLite under `BEGIN IMMEDIATE`. So requests racing on several
//! replicas are counted one after the other and none gets an extra guess. Rows are never
//! deleted (a success clears the counters), so a row found once is there for good.

use pin_domain::{CodiceFiscale, Policy, Refused, Settled, Throttle};
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
        in_flight: u32::try_from(row.in_flight).unwrap_or(0),
        in_flight_until: row.in_flight_until.map(from_millis).transpose()?,
        consecutive_locks: u32::try_from(row.consecutive_locks).unwrap_or(0),
        locked_until: row.locked_until.map(from_millis).transpose()?,
    })
}

fn stored(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// Runs `decide` on the record of `cf` (created if missing) in one write transaction
/// holding its row, stores what it returns, and returns it.
async fn change<C, T>(
    db: &C,
    cf: &CodiceFiscale,
    now: OffsetDateTime,
    decide: impl FnOnce(Throttle) -> Result<Throttle, T>,
) -> Result<(Throttle, Result<Throttle, T>), StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    // Make sure the row exists, then hold it for the rest of the transaction.
    login_throttle::Entity::insert(login_throttle::ActiveModel {
        cf: Set(cf.as_str().to_owned()),
        failures: Set(0),
        in_flight: Set(0),
        in_flight_until: Set(None),
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
    let before = to_domain(&row)?;
    let decision = decide(before);
    if let Ok(next) = &decision {
        let mut active: login_throttle::ActiveModel = row.into();
        active.failures = Set(stored(next.failures));
        active.in_flight = Set(stored(next.in_flight));
        active.in_flight_until = Set(next.in_flight_until.map(to_millis));
        active.consecutive_locks = Set(stored(next.consecutive_locks));
        active.locked_until = Set(next.locked_until.map(to_millis));
        if next.failures > before.failures {
            active.last_failure_at = Set(Some(now_ms));
        }
        active.updated_at = Set(now_ms);
        active.update(&txn).await.classify("login throttle")?;
    }
    txn.commit().await?;
    Ok((before, decision))
}

/// Takes a place for one login attempt for `cf` (known or not) before its PIN is verified,
/// and returns the record as it now stands; `Ok(Err(_))` means no verification may run
/// now (locked, or every place is taken).
#[tracing::instrument(name = "throttle.admit", skip_all, fields(otel.kind = "client"))]
pub async fn admit<C>(
    db: &C,
    cf: &CodiceFiscale,
    now: OffsetDateTime,
    policy: &Policy,
) -> Result<Result<Throttle, Refused>, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    Ok(change(db, cf, now, |throttle| throttle.admit(now, policy))
        .await?
        .1)
}

/// Gives back the place of an attempt on `cf` that ended as `outcome`; returns the record
/// before and after.
#[tracing::instrument(name = "throttle.settle", skip_all, fields(otel.kind = "client"))]
pub async fn settle<C>(
    db: &C,
    cf: &CodiceFiscale,
    outcome: Settled,
    now: OffsetDateTime,
    policy: &Policy,
) -> Result<(Throttle, Throttle), StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    match change(db, cf, now, |throttle| {
        Ok::<_, std::convert::Infallible>(throttle.settle(outcome, now, policy))
    })
    .await?
    {
        (before, Ok(after)) => Ok((before, after)),
        (_, Err(never)) => match never {},
    }
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
