//! Reading the tamper-evident trail.

use pin_store::repo::audit::{self, AuditQuery, AuditRecord};

use crate::{error::ServiceError, state::AppState};

/// A page of audit records and the token of the next one, if any.
#[derive(Debug)]
pub struct AuditPage {
    /// The records, oldest first.
    pub records: Vec<AuditRecord>,
    /// The id to continue after, when there are more.
    pub next_after: Option<i64>,
}

/// Up to `query.limit` records matching `query`.
pub async fn list(state: &AppState, query: AuditQuery) -> Result<AuditPage, ServiceError> {
    let limit = query.limit;
    let mut records = audit::list(
        &state.db,
        &AuditQuery {
            limit: limit + 1,
            ..query
        },
    )
    .await?;
    let more = records.len() as u64 > limit;
    records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_after = if more {
        records.last().map(|r| r.id)
    } else {
        None
    };
    Ok(AuditPage {
        records,
        next_after,
    })
}
