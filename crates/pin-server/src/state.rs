//! What every handler and use case shares: the database, the policy, the hashing pool, the
//! CSPRNG, the service catalog, the clock, and the signals of the event log.

use std::sync::{Arc, Mutex};

use pin_domain::{Policy, ServiceCatalog};
use pin_store::DatabaseConnection;
use rand_chacha::ChaCha20Rng;
use tokio::sync::watch;
use tonic::Request;

use crate::{
    auth::CallContext,
    clock::Clock,
    deadline::deadline_of,
    error::ServiceError,
    hashing_pool::HashingPool,
    usecase::{Call, SessionCache},
};

/// Shared state of the handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// The PIN policy.
    pub policy: Arc<Policy>,
    /// argon2id work, off the async workers.
    pub hashing: HashingPool,
    /// The service catalog.
    pub catalog: Arc<ServiceCatalog>,
    /// The CSPRNG for PINs and tokens, seeded from the operating system at start-up.
    pub rng: Arc<Mutex<ChaCha20Rng>>,
    /// The clock every call reads once.
    pub clock: Arc<dyn Clock>,
    /// Bumped after every commit that wrote events, so local subscribers look at once
    /// (other replicas' events are found by polling).
    pub events_written: Arc<watch::Sender<u64>>,
    /// Turns `true` when the server shuts down: streams end.
    pub shutdown: watch::Receiver<bool>,
    /// How many recovery or revocation links one calling service may ask for per minute.
    pub link_requests_per_caller_per_minute: u64,
    /// Sessions resolved recently by this replica, for reads.
    pub sessions: SessionCache,
}

impl AppState {
    /// What a use case needs to know about the call behind `request`: who called, the one
    /// instant the call is decided at, and the caller's deadline.
    pub fn call<T>(&self, request: &Request<T>) -> Result<Call, ServiceError> {
        let caller = request
            .extensions()
            .get::<CallContext>()
            .cloned()
            .ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!(
                    "request reached a handler without authentication"
                ))
            })?;
        Ok(Call {
            caller,
            now: self.clock.now(),
            deadline: deadline_of(request),
        })
    }

    /// A call made by the service itself (the development mailbox), at the clock's now.
    pub fn internal_call(&self, caller_id: &str) -> Call {
        Call {
            caller: CallContext {
                caller_id: Arc::from(caller_id),
                operator_id: None,
            },
            now: self.clock.now(),
            deadline: None,
        }
    }

    /// Runs `draw` with the CSPRNG. Drawing a PIN or a token takes microseconds, so a
    /// mutex is enough; a poisoned lock is recovered because the generator holds no
    /// invariant a panic could break.
    pub fn random<T>(&self, draw: impl FnOnce(&mut ChaCha20Rng) -> T) -> T {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        draw(&mut rng)
    }
}
