//! The registry: persons keyed by codice fiscale.

use pin_domain::{AuditOutcome, CodiceFiscale, Person, RawPerson, format_date};
use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
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
pub async fn upsert(
    db: &DatabaseConnection,
    person: &Person,
    now: OffsetDateTime,
    audit: &NewAuditRecord,
) -> Result<Upserted, StoreError> {
    let outcomes = upsert_many(db, std::slice::from_ref(person), now, audit).await?;
    Ok(outcomes
        .into_iter()
        .next()
        .ok_or_else(|| super::corrupt("person", "an upsert of one person did nothing"))?)
}

/// How many persons one statement reads or inserts: 21 columns each, well under both
/// backends' limits on bound parameters.
const CHUNK: usize = 500;

/// Inserts or replaces `persons`, in order, in one transaction, and says what happened to
/// each. A person listed twice is compared the second time with what the first left.
/// Every change is audited with `audit` (its outcome becoming `INSERTED` or `UPDATED`, its
/// `cf` the person's), in the same transaction; identical records change nothing.
///
/// One read per [`CHUNK`] persons, one `INSERT` per [`CHUNK`] new ones, one `UPDATE` per
/// changed one, and one audit append for the lot: a registry load costs a few statements
/// per batch rather than four per person.
#[tracing::instrument(
    name = "persons.upsert_many",
    skip_all,
    fields(otel.kind = "client", persons = persons.len())
)]
pub async fn upsert_many(
    db: &DatabaseConnection,
    persons: &[Person],
    now: OffsetDateTime,
    audit: &NewAuditRecord,
) -> Result<Vec<Upserted>, StoreError> {
    // Two importers racing on a new person: the loser's insert hits the primary key, its
    // transaction is rolled back, and the retry finds the winner's row.
    match upsert_many_once(db, persons, now, audit).await {
        Err(StoreError::Conflict { .. }) => upsert_many_once(db, persons, now, audit).await,
        other => other,
    }
}

async fn upsert_many_once(
    db: &DatabaseConnection,
    persons: &[Person],
    now: OffsetDateTime,
    audit: &NewAuditRecord,
) -> Result<Vec<Upserted>, StoreError> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;

    // What is stored now, then what each record of the batch leaves behind.
    let mut current: HashMap<String, Model> = HashMap::with_capacity(persons.len());
    let keys: Vec<&str> = persons.iter().map(|p| p.codice_fiscale.as_str()).collect();
    for chunk in keys.chunks(CHUNK) {
        let stored = person::Entity::find()
            .filter(person::Column::Cf.is_in(chunk.iter().copied()))
            .all(&txn)
            .await?;
        current.extend(stored.into_iter().map(|row| (row.cf.clone(), row)));
    }
    let mut outcomes = Vec::with_capacity(persons.len());
    let mut inserted: Vec<String> = Vec::new();
    let mut updated: Vec<String> = Vec::new();
    let mut audits = Vec::new();
    for person in persons {
        let cf = person.codice_fiscale.as_str();
        let outcome = match current.get(cf) {
            None => {
                current.insert(cf.to_owned(), row(person, now_ms, now_ms));
                inserted.push(cf.to_owned());
                Upserted::Inserted
            }
            Some(stored) => {
                let wanted = row(person, stored.created_at, stored.updated_at);
                if wanted == *stored {
                    Upserted::Unchanged
                } else {
                    current.insert(
                        cf.to_owned(),
                        Model {
                            updated_at: now_ms,
                            ..wanted
                        },
                    );
                    updated.push(cf.to_owned());
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
            audits.push(NewAuditRecord {
                outcome,
                cf: Some(cf.to_owned()),
                ..audit.clone()
            });
        }
        outcomes.push(outcome);
    }

    // A person inserted and then changed in the same batch is inserted as it ended up.
    let inserted = dedup(inserted);
    let new_in_batch: HashSet<&str> = inserted.iter().map(String::as_str).collect();
    let updated: Vec<String> = dedup(updated)
        .into_iter()
        .filter(|cf| !new_in_batch.contains(cf.as_str()))
        .collect();
    let new_rows: Vec<person::ActiveModel> = inserted
        .iter()
        .filter_map(|cf| current.get(cf))
        .map(|row| person::ActiveModel::from(row.clone()))
        .collect();
    let mut new_rows = new_rows.into_iter().peekable();
    while new_rows.peek().is_some() {
        let chunk: Vec<_> = new_rows.by_ref().take(CHUNK).collect();
        person::Entity::insert_many(chunk)
            .exec(&txn)
            .await
            .classify("person")?;
    }
    for cf in &updated {
        if let Some(row) = current.get(cf) {
            // Every column is marked changed, so the update writes the whole record.
            let active = person::ActiveModel::from(row.clone()).reset_all();
            active.update(&txn).await.classify("person")?;
        }
    }
    super::audit::append_many(&txn, &audits).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// `items` without repeats, in the order each first appeared.
fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|item| seen.insert(item.clone()))
        .collect()
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
