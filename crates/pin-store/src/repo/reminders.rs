//! Expiry reminders already queued: one row per PIN and threshold under a unique index, so
//! that of replicas running the reminder job at the same moment exactly one queues each.

use pin_domain::ReminderThreshold;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, EntityTrait, TryInsertResult, sea_query::OnConflict,
};
use time::OffsetDateTime;

use super::to_millis;
use crate::{
    StoreError,
    entity::expiry_reminder::{self, Column},
};

/// Records that the reminder `threshold` of `credential_id` is queued; `false` when it
/// already was (also by another replica at the same moment: PostgreSQL makes the second
/// insert wait for the first and then skips it).
#[tracing::instrument(name = "reminders.claim", skip_all, fields(otel.kind = "client"))]
pub async fn claim(
    db: &impl ConnectionTrait,
    credential_id: i64,
    threshold: ReminderThreshold,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let row = expiry_reminder::ActiveModel {
        credential_id: Set(credential_id),
        threshold: Set(threshold.as_str().to_owned()),
        queued_at: Set(to_millis(now)),
        ..Default::default()
    };
    let inserted = expiry_reminder::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::CredentialId, Column::Threshold])
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec_without_returning(db)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(rows) if rows > 0))
}
