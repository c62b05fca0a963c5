//! What every handler shares: the database, the policy, the hashing pool, the CSPRNG, the
//! service catalog, the clock.

use std::sync::{Arc, Mutex};

use pin_domain::{Policy, ServiceCatalog};
use pin_store::DatabaseConnection;
use rand_chacha::ChaCha20Rng;
use time::OffsetDateTime;
use tonic::{Request, Status};

use crate::{auth::CallContext, hashing_pool::HashingPool};

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
}

impl AppState {
    /// The current instant, to the millisecond (what the store keeps, so an instant read
    /// back compares equal to the one written). Handlers read the clock here, once per
    /// call, and hand it to the domain, which never reads it itself.
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_millisecond(now.millisecond()).unwrap_or(now)
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

/// The authenticated caller of a request, put there by the auth layer.
pub fn context<T>(request: &Request<T>) -> Result<CallContext, Status> {
    request
        .extensions()
        .get::<CallContext>()
        .cloned()
        .ok_or_else(|| Status::internal("request reached a handler without authentication"))
}
