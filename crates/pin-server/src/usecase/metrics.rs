//! What the store-wide gauges of [`crate::metrics`] read.

use pin_store::repo::{held, outbox};
use time::Duration;

use crate::{error::ServiceError, state::AppState};

/// One reading of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Deliveries waiting to be sent.
    pub outbox_depth: u64,
    /// How long the oldest of them has waited (zero when none waits).
    pub outbox_oldest_age: Duration,
    /// Applications held until their PIN becomes dispositive.
    pub held_applications: u64,
}

/// Reads the outbox and the held applications.
pub async fn sample(state: &AppState) -> Result<Sample, ServiceError> {
    let (outbox_depth, oldest) = outbox::waiting(&state.db).await?;
    let held_applications = held::count_held(&state.db).await?;
    let now = state.clock.now();
    Ok(Sample {
        outbox_depth,
        outbox_oldest_age: oldest
            .map_or(Duration::ZERO, |oldest| (now - oldest).max(Duration::ZERO)),
        held_applications,
    })
}
