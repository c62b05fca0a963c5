//! The contact center's callback queue.

use pin_domain::CallbackReason;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use time::OffsetDateTime;

use super::to_millis;
use crate::{StoreError, entity::callback_case, error::ClassifyDbErr};

/// A case to open.
#[derive(Debug, Clone)]
pub struct NewCallbackCase {
    /// The applicant's codice fiscale.
    pub cf: String,
    /// Why it was opened.
    pub reason: CallbackReason,
    /// What was submitted, as JSON (no secrets).
    pub request: String,
    /// The number to call.
    pub callback_phone: String,
}

/// Opens a case; returns its id.
pub async fn open(
    db: &impl ConnectionTrait,
    case: NewCallbackCase,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let row = callback_case::ActiveModel {
        cf: Set(case.cf),
        status: Set("OPEN".to_owned()),
        reason: Set(case.reason.as_str().to_owned()),
        request: Set(case.request),
        callback_phone: Set(case.callback_phone),
        created_at: Set(to_millis(now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify("callback case")?;
    Ok(row.id)
}
