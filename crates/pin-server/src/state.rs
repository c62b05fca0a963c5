//! What every handler shares: the database, the policy, the clock.

use std::sync::Arc;

use pin_domain::Policy;
use pin_store::DatabaseConnection;
use time::OffsetDateTime;
use tonic::{Request, Status};

use crate::auth::CallContext;

/// Shared state of the handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// The PIN policy.
    pub policy: Arc<Policy>,
}

impl AppState {
    /// The current instant, to the millisecond (what the store keeps, so an instant read
    /// back compares equal to the one written). Handlers read the clock here, once per
    /// call, and hand it to the domain, which never reads it itself.
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_millisecond(now.millisecond()).unwrap_or(now)
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
