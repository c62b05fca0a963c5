//! The service's metrics, exported over OTLP when [`crate::telemetry`] turns metrics on
//! (and free no-ops otherwise).
//!
//! | name | kind | attributes | what |
//! |---|---|---|---|
//! | `rpc.server.call.duration` | histogram, s | `rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code` | every call and how long the server took; its count is the call rate |
//! | `pin.authentication.outcomes` | counter | `pin.action`, `pin.outcome` | PIN checks (login, PIN change, campaign activation) by result |
//! | `pin.lockouts` | counter | | codici fiscali locked by a failed attempt |
//! | `pin.hashing.queue_wait` | histogram, s | | how long an argon2id job waited for a worker |
//! | `pin.hashing.refusals` | counter | | argon2id jobs refused because they could not finish in time |
//! | `pin.hashing.in_flight` | gauge | | argon2id jobs queued or running |
//! | `pin.outbox.depth` | gauge | | deliveries waiting to be sent (whole store) |
//! | `pin.outbox.oldest_age` | gauge, s | | age of the oldest delivery waiting (whole store) |
//! | `pin.held_applications` | gauge | | applications held until their PIN becomes dispositive (whole store) |
//! | `pin.events.delivery_lag` | histogram, s | | from an event's commit to its delivery to a subscriber |
//!
//! The store-wide gauges are sampled by [`spawn_sampler`] on every replica; read them with
//! `max`, not `sum`, across replicas.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use std::time::Duration;

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, ObservableGauge},
};
use tokio::{sync::watch, task::JoinHandle};

use crate::{hashing_pool::HashingPool, state::AppState};

/// Bucket boundaries, in seconds, for latencies from a health check to a slow argon2id.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The instruments, created once from the global meter provider.
#[derive(Debug)]
pub struct Metrics {
    /// `rpc.server.call.duration`.
    pub calls: Histogram<f64>,
    /// `pin.authentication.outcomes`.
    pub authentication_outcomes: Counter<u64>,
    /// `pin.lockouts`.
    pub lockouts: Counter<u64>,
    /// `pin.hashing.queue_wait`.
    pub hashing_queue_wait: Histogram<f64>,
    /// `pin.hashing.refusals`.
    pub hashing_refusals: Counter<u64>,
    /// `pin.events.delivery_lag`.
    pub event_delivery_lag: Histogram<f64>,
    store: Arc<StoreGauges>,
    _gauges: Vec<ObservableGauge<u64>>,
    _age: ObservableGauge<f64>,
}

/// The last values sampled from the store.
#[derive(Debug, Default)]
struct StoreGauges {
    outbox_depth: AtomicU64,
    outbox_oldest_age_ms: AtomicU64,
    held_applications: AtomicU64,
    hashing_in_flight: AtomicU64,
}

static EXPORTED: AtomicBool = AtomicBool::new(false);

/// Marks metrics as exported: the server then samples the store-wide gauges.
pub(crate) fn exported() {
    EXPORTED.store(true, Ordering::Relaxed);
}

/// Whether metrics are exported.
pub fn are_exported() -> bool {
    EXPORTED.load(Ordering::Relaxed)
}

/// The instruments. The first call binds them to the meter provider installed then, so
/// [`crate::telemetry::init`] must run before the first call is served.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let meter = opentelemetry::global::meter("pin-server");
        let store = Arc::new(StoreGauges::default());
        let gauge =
            |name: &'static str, description: &'static str, read: fn(&StoreGauges) -> u64| {
                let store = Arc::clone(&store);
                meter
                    .u64_observable_gauge(name)
                    .with_description(description)
                    .with_callback(move |observer| observer.observe(read(&store), &[]))
                    .build()
            };
        let gauges = vec![
            gauge(
                "pin.outbox.depth",
                "Deliveries waiting to be sent, in the whole store.",
                |s| s.outbox_depth.load(Ordering::Relaxed),
            ),
            gauge(
                "pin.held_applications",
                "Applications held until their PIN becomes dispositive, in the whole store.",
                |s| s.held_applications.load(Ordering::Relaxed),
            ),
            gauge(
                "pin.hashing.in_flight",
                "argon2id jobs queued or running in this replica.",
                |s| s.hashing_in_flight.load(Ordering::Relaxed),
            ),
        ];
        let age_store = Arc::clone(&store);
        let age = meter
            .f64_observable_gauge("pin.outbox.oldest_age")
            .with_unit("s")
            .with_description("Age of the oldest delivery waiting to be sent.")
            .with_callback(move |observer| {
                let millis = age_store.outbox_oldest_age_ms.load(Ordering::Relaxed);
                observer.observe(millis as f64 / 1000.0, &[]);
            })
            .build();
        Metrics {
            calls: meter
                .f64_histogram("rpc.server.call.duration")
                .with_unit("s")
                .with_description("Duration of the calls the server answered.")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            authentication_outcomes: meter
                .u64_counter("pin.authentication.outcomes")
                .with_description("PIN checks by action and outcome.")
                .build(),
            lockouts: meter
                .u64_counter("pin.lockouts")
                .with_description("Codici fiscali locked by a failed attempt.")
                .build(),
            hashing_queue_wait: meter
                .f64_histogram("pin.hashing.queue_wait")
                .with_unit("s")
                .with_description("How long an argon2id job waited for a worker.")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            hashing_refusals: meter
                .u64_counter("pin.hashing.refusals")
                .with_description("argon2id jobs refused because they could not finish in time.")
                .build(),
            event_delivery_lag: meter
                .f64_histogram("pin.events.delivery_lag")
                .with_unit("s")
                .with_description("From an event's commit to its delivery to a subscriber.")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            store,
            _gauges: gauges,
            _age: age,
        }
    }

    /// Counts one PIN check: `action` is the audit action, `outcome` the audit outcome
    /// or refusal code (fixed vocabularies, never a citizen's data).
    pub fn authentication(&self, action: &'static str, outcome: &'static str) {
        self.authentication_outcomes.add(
            1,
            &[
                KeyValue::new("pin.action", action),
                KeyValue::new("pin.outcome", outcome),
            ],
        );
    }
}

/// How often the store-wide gauges are read.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(15);

/// Samples the store-wide gauges every `interval` until `stop` turns true. Only started
/// when metrics are exported: each sample is two small queries.
pub fn spawn_sampler(
    state: AppState,
    hashing: HashingPool,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let store = Arc::clone(&get().store);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            store.hashing_in_flight.store(
                u64::try_from(hashing.stats().in_flight).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            match crate::usecase::metrics::sample(&state).await {
                Ok(sample) => {
                    store
                        .outbox_depth
                        .store(sample.outbox_depth, Ordering::Relaxed);
                    store.outbox_oldest_age_ms.store(
                        u64::try_from(sample.outbox_oldest_age.whole_milliseconds().max(0))
                            .unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    store
                        .held_applications
                        .store(sample.held_applications, Ordering::Relaxed);
                }
                // Readiness reports an unreachable store; the gauges keep their last value.
                Err(error) => tracing::debug!(%error, "cannot sample the store for metrics"),
            }
        }
    })
}
