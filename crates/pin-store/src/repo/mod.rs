//! Repositories: the only code that reads and writes rows. They take and return domain
//! values (`impl From<row> for domain` style), so no caller ever sees a `Model`.

pub mod audit;
pub mod callbacks;
pub mod codes;
pub mod contacts;
pub mod credentials;
pub mod events;
pub mod held;
pub mod idempotency;
pub mod links;
pub mod outbox;
pub mod persons;
pub mod proofing;
pub mod reminders;
pub mod reviews;
pub mod sessions;
pub mod throttle;
pub mod tickets;

use sea_orm::DbErr;
use time::OffsetDateTime;

/// An instant as stored: Unix milliseconds.
pub fn to_millis(instant: OffsetDateTime) -> i64 {
    i64::try_from(instant.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A stored instant back as a date-time.
pub fn from_millis(millis: i64) -> Result<OffsetDateTime, DbErr> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|_| corrupt("instant", &millis.to_string()))
}

/// A row whose content the domain refuses: written by something other than this code.
pub(crate) fn corrupt(what: &str, value: &str) -> DbErr {
    DbErr::Custom(format!("stored {what} is not valid: {value:?}"))
}
