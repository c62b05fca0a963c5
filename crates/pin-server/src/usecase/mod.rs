//! The use cases: one module per capability, between the gRPC handlers and the store.
//!
//! A use case takes parsed domain values and the [`Call`] (who, when, until when), loads
//! what it needs, asks the domain to decide, and writes the change together with
//! everything it causes — its audit record, its deliveries, its events, and the answer to
//! its request id — in one transaction ([`Change`]). Handlers never touch the store; use
//! cases never see protobuf or tonic (`tests/layers.rs` reads the sources to keep both
//! lines).

pub mod audit;
pub mod authentication;
pub mod authorization;
pub mod callback;
pub mod campaign;
mod change;
pub mod contacts;
pub mod delivery;
pub mod events;
pub mod issuance;
pub mod issue;
pub mod links;
pub mod metrics;
pub mod office;
mod once;
pub mod recovery;
pub mod registry;
pub mod reminders;
pub mod review;
pub mod revocation;
mod sessions;

use std::time::Instant;

use time::OffsetDateTime;

use crate::auth::CallContext;

pub use change::{Audit, Change};
pub(crate) use once::recorded_as_is;
pub use once::{Answer, RequestKey, once};
pub use sessions::{LiveSession, ResolvedSession, SessionCache, live_session, resolved_session};

/// What a use case knows about the call it serves.
#[derive(Debug, Clone)]
pub struct Call {
    /// The calling service, and the operator for operator RPCs.
    pub caller: CallContext,
    /// The one instant the whole call is decided at: the clock is read once per call.
    pub now: OffsetDateTime,
    /// The caller's deadline, if it sent one: slow work that cannot finish by then is
    /// refused up front.
    pub deadline: Option<Instant>,
}
