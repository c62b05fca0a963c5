//! The registry: persons keyed by codice fiscale.

use pin_domain::{AuditOutcome, CodiceFiscale, Person, RawPerson, format_date};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
};
use time::OffsetDateTime;

use super::{audit::NewAuditRecord, to_millis};
use crate::{
    StoreError,
    db::begin_write,
    entity::person::{self, Model},
    error::ClassifyDbErr,
};

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// The person was new.
    Inserted,
    /// The stored record differed and was replaced.
    Updated,
    /// The stored record was already identical.
    Unchanged,
}

fn row(person: &Person, created_at: i64, updated_at: i64) -> Model {
    Model {
        cf: person.codice_fiscale.as_str().to_owned(),
        family_name: person.family_name.as_str().to_owned(),
        given_name: person.given_name.as_str().to_owned(),
        sex: person.sex.as_code().to_string(),
        birth_date: format_date(person.birth_date),
        birth_place: person.birth_place.as_str().to_owned(),
        street: person.residence.street().to_owned(),
        street_number: person.residence.number().to_owned(),
        cap: person.residence.cap().to_owned(),
        municipality: person.residence.municipality().to_owned(),
        province: person.residence.province().to_owned(),
        address_key: person.residence.comparison_key(),
        health_card_number: person.health_card.number.as_str().to_owned(),
        health_card_expiry: format_date(person.health_card.expiry),
        categories: person
            .categories
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(","),
        created_at,
        updated_at,
    }
}

impl TryFrom<Model> for Person {
    type Error = DbErr;

    fn try_from(row: Model) -> Result<Self, DbErr> {
        let raw = RawPerson {
            codice_fiscale: &row.cf,
            family_name: &row.family_name,
            given_name: &row.given_name,
            sex: &row.sex,
            birth_date: &row.birth_date,
            birth_place: &row.birth_place,
            street: &row.street,
            street_number: &row.street_number,
            cap: &row.cap,
            municipality: &row.municipality,
            province: &row.province,
            health_card_number: &row.health_card_number,
            health_card_expiry: &row.health_card_expiry,
            categories: row.categories.split(',').collect(),
        };
        Person::parse(&raw).map_err(|problems| {
            let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
            super::corrupt("person", &format!("{} ({})", row.cf, fields.join(", ")))
        })
    }
}

/// Inserts or replaces a person; says which it was. A change (not an identical record) is
/// audited with `audit`, whose outcome becomes `INSERTED` or `UPDATED`, in the same
/// transaction.
#[tracing::instrument(name = "persons.upsert", skip_all, fields(otel.kind = "client"))]
pub async fn upsert(
    db: &DatabaseConnection,
    person: &Person,
    now: OffsetDateTime,
    audit: &NewAuditRecord,
) -> Result<Upserted, StoreError> {
    // Two importers racing on a new person: the loser's insert hits the primary key and the
    // retry finds the winner's row.
    match upsert_once(db, person, now, audit).await {
        Err(StoreError::Conflict { .. }) => upsert_once(db, person, now, audit).await,
        other => other,
    }
}

async fn upsert_once(
    db: &DatabaseConnection,
    person: &Person,
    now: OffsetDateTime,
    audit: &NewAuditRecord,
) -> Result<Upserted, StoreError> {
    let now = to_millis(now);
    let txn = begin_write(db).await?;
    let existing = person::Entity::find_by_id(person.codice_fiscale.as_str())
        .one(&txn)
        .await?;
    let outcome = match existing {
        None => {
            person::ActiveModel::from(row(person, now, now))
                .insert(&txn)
                .await
                .classify("person")?;
            Upserted::Inserted
        }
        Some(stored) => {
            let wanted = row(person, stored.created_at, stored.updated_at);
            if wanted == stored {
                Upserted::Unchanged
            } else {
                let mut active: person::ActiveModel = wanted.into();
                active.updated_at = Set(now);
                // Every column is marked changed, so the update writes the whole record.
                active = active.reset_all();
                active.update(&txn).await.classify("person")?;
                Upserted::Updated
            }
        }
    };
    let audited = match outcome {
        Upserted::Inserted => Some(AuditOutcome::Inserted),
        Upserted::Updated => Some(AuditOutcome::Updated),
        Upserted::Unchanged => None,
    };
    if let Some(outcome) = audited {
        let record = NewAuditRecord {
            outcome,
            cf: Some(person.codice_fiscale.as_str().to_owned()),
            ..audit.clone()
        };
        super::audit::append(&txn, &record).await?;
    }
    txn.commit().await?;
    Ok(outcome)
}

/// Reads a person; `NotFound` if the registry has none with this codice fiscale.
#[tracing::instrument(name = "persons.get", skip_all, fields(otel.kind = "client"))]
pub async fn get(db: &impl ConnectionTrait, cf: &CodiceFiscale) -> Result<Person, StoreError> {
    let row = person::Entity::find_by_id(cf.as_str())
        .one(db)
        .await?
        .ok_or(StoreError::NotFound { entity: "person" })?;
    Ok(Person::try_from(row)?)
}
