//! A PIN holder's contacts: at most one per kind.

use pin_domain::{CodiceFiscale, ContactKind};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use time::OffsetDateTime;

use super::{from_millis, to_millis};
use crate::{
    StoreError,
    entity::contact::{self, Column},
    error::ClassifyDbErr,
};

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Mobile, e-mail or PEC.
    pub kind: ContactKind,
    /// Canonical value.
    pub value: String,
    /// When the holder proved it, if they did.
    pub verified_at: Option<OffsetDateTime>,
}

/// Sets the contact of `kind`: a new or changed value is unverified.
#[tracing::instrument(name = "contacts.set", skip_all, fields(otel.kind = "client"))]
pub async fn set(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    kind: ContactKind,
    value: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let existing = contact::Entity::find()
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
        .one(db)
        .await?;
    match existing {
        Some(row) if row.value == value => Ok(()),
        Some(row) => {
            let mut active: contact::ActiveModel = row.into();
            active.value = Set(value.to_owned());
            active.verified = Set(false);
            active.verified_at = Set(None);
            active.proof = Set(None);
            active.updated_at = Set(to_millis(now));
            active.update(db).await.classify("contact")?;
            Ok(())
        }
        None => {
            contact::ActiveModel {
                cf: Set(cf.as_str().to_owned()),
                kind: Set(kind.as_str().to_owned()),
                value: Set(value.to_owned()),
                verified: Set(false),
                created_at: Set(to_millis(now)),
                updated_at: Set(to_millis(now)),
                ..Default::default()
            }
            .insert(db)
            .await
            .classify("contact")?;
            Ok(())
        }
    }
}

/// Marks the contact of `kind` verified, if it still has `value`; says whether it did.
#[tracing::instrument(name = "contacts.verify", skip_all, fields(otel.kind = "client"))]
pub async fn verify(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    kind: ContactKind,
    value: &str,
    proof: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let Some(row) = contact::Entity::find()
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
        .filter(Column::Value.eq(value))
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let mut active: contact::ActiveModel = row.into();
    active.verified = Set(true);
    active.verified_at = Set(Some(to_millis(now)));
    active.proof = Set(Some(proof.to_owned()));
    active.updated_at = Set(to_millis(now));
    active.update(db).await.classify("contact")?;
    Ok(true)
}

/// The holder's contacts, in the order they were first registered.
#[tracing::instrument(name = "contacts.list", skip_all, fields(otel.kind = "client"))]
pub async fn list(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
) -> Result<Vec<Contact>, StoreError> {
    let rows = contact::Entity::find()
        .filter(Column::Cf.eq(cf.as_str()))
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Contact {
                kind: ContactKind::parse(&row.kind)
                    .map_err(|_| super::corrupt("contact kind", &row.kind))?,
                value: row.value,
                verified_at: if row.verified {
                    row.verified_at.map(from_millis).transpose()?
                } else {
                    None
                },
            })
        })
        .collect()
}

/// Removes the contact of `kind`; says whether there was one.
#[tracing::instrument(name = "contacts.remove", skip_all, fields(otel.kind = "client"))]
pub async fn remove(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    kind: ContactKind,
) -> Result<bool, StoreError> {
    let deleted = contact::Entity::delete_many()
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}
