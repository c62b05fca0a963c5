//! Runs the reminder job ([`crate::usecase::reminders`]) at start-up and then at every
//! interval, until the server stops.

use tokio::{sync::watch, task::JoinHandle};

use crate::{state::AppState, usecase::reminders};

/// Starts the job; it stops when `stop` turns true.
pub fn spawn(
    state: AppState,
    interval: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            match reminders::run(&state).await {
                Ok(sweep) if sweep == reminders::Sweep::default() => {}
                Ok(sweep) => tracing::info!(
                    reminded = sweep.reminded,
                    cancelled = sweep.cancelled,
                    "reminder job"
                ),
                Err(error) => {
                    tracing::warn!(error = %error, "reminder job failed; next run will retry")
                }
            }
        }
    })
}
