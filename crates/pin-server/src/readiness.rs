//! Readiness follows the database: every few seconds a short query; when it fails, every
//! service turns `NOT_SERVING` (Kubernetes stops routing to the replica), and `SERVING`
//! again when it succeeds, without a restart. The `liveness` service never depends on the
//! database: a replica that cannot reach PostgreSQL is not restarted for it.

use std::time::Duration;

use pin_store::DatabaseConnection;
use tokio::{sync::watch, task::JoinHandle};
use tonic_health::{ServingStatus, server::HealthReporter};

/// The health service name liveness probes ask for.
pub const LIVENESS: &str = "liveness";

/// Starts the check; it stops when `stop` turns true (shutdown then owns the statuses).
pub fn spawn(
    db: DatabaseConnection,
    reporter: HealthReporter,
    names: Vec<&'static str>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut serving = true;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let reachable = matches!(tokio::time::timeout(interval, db.ping()).await, Ok(Ok(())));
            if reachable == serving {
                continue;
            }
            // Shutdown may have begun while the query ran: it decides the statuses then.
            if *stop.borrow() {
                break;
            }
            serving = reachable;
            let status = if serving {
                tracing::info!("database reachable again: ready");
                ServingStatus::Serving
            } else {
                tracing::warn!("database unreachable: not ready");
                ServingStatus::NotServing
            };
            for name in [""].into_iter().chain(names.iter().copied()) {
                reporter.set_service_status(name, status).await;
            }
        }
    })
}
