//! Single-use tickets between two steps of a guided procedure (first access, renewal).

use pin_domain::{CodiceFiscale, TicketClaim, TicketPurpose};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use time::OffsetDateTime;

use super::{corrupt, from_millis, to_millis};
use crate::{
    StoreError,
    entity::ticket::{self, Column},
    error::ClassifyDbErr,
};

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Row id.
    pub id: i64,
    /// Whose.
    pub cf: CodiceFiscale,
    /// The credential it continues.
    pub credential_id: i64,
    /// What the state machine needs to judge it.
    pub claim: TicketClaim,
    /// Whether it was already used.
    pub used: bool,
}

fn purpose_name(purpose: TicketPurpose) -> &'static str {
    match purpose {
        TicketPurpose::FirstAccess => "FIRST_ACCESS",
        TicketPurpose::Renewal => "RENEWAL",
    }
}

/// Stores a ticket whose token hashes to `token_hash`.
#[tracing::instrument(name = "tickets.create", skip_all, fields(otel.kind = "client"))]
pub async fn create(
    db: &impl ConnectionTrait,
    token_hash: &str,
    cf: &CodiceFiscale,
    credential_id: i64,
    claim: TicketClaim,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    ticket::ActiveModel {
        token_hash: Set(token_hash.to_owned()),
        purpose: Set(purpose_name(claim.purpose).to_owned()),
        cf: Set(cf.as_str().to_owned()),
        credential_id: Set(credential_id),
        bound_to: Set(to_millis(claim.bound_to)),
        created_at: Set(to_millis(now)),
        expires_at: Set(to_millis(claim.expires_at)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify("ticket")?;
    Ok(())
}

/// The ticket with this token hash, used or not.
#[tracing::instrument(name = "tickets.find", skip_all, fields(otel.kind = "client"))]
pub async fn find(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<Ticket>, StoreError> {
    let Some(row) = ticket::Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let purpose = match row.purpose.as_str() {
        "FIRST_ACCESS" => TicketPurpose::FirstAccess,
        "RENEWAL" => TicketPurpose::Renewal,
        other => return Err(corrupt("ticket purpose", other).into()),
    };
    Ok(Some(Ticket {
        id: row.id,
        cf: CodiceFiscale::parse(&row.cf).map_err(|_| corrupt("cf", &row.cf))?,
        credential_id: row.credential_id,
        claim: TicketClaim {
            purpose,
            bound_to: from_millis(row.bound_to)?,
            expires_at: from_millis(row.expires_at)?,
        },
        used: row.used_at.is_some(),
    }))
}

/// Marks the ticket used, only if nobody did first; `Conflict` for the loser of a race.
#[tracing::instrument(name = "tickets.consume", skip_all, fields(otel.kind = "client"))]
pub async fn consume(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let result = ticket::Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(to_millis(now)))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict { entity: "ticket" })
    }
}
