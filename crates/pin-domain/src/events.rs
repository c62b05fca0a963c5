//! What the durable event log tells other backends: facts about a holder that they act on
//! (a held application to process, a session to drop, a PIN that no longer stands).
//!
//! An event is decided together with the change it describes and stored in the same
//! transaction, so a subscriber sees it if and only if the change happened.

use time::OffsetDateTime;

use crate::{EventKind, PinEnd, ServiceId, SessionEnd, UpgradeVia};

/// One fact of the log, with what its kind needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDetail {
    /// A held application was released to its benefit service.
    ApplicationReleased {
        /// The service it was filed with.
        service: ServiceId,
        /// The benefit service's application reference.
        reference: String,
        /// When it was originally filed: deadlines stopped running then.
        filed_at: OffsetDateTime,
    },
    /// The holder's PIN became dispositive.
    LevelUpgraded {
        /// How.
        via: UpgradeVia,
    },
    /// The holder's PIN was revoked or replaced.
    PinRevoked {
        /// How.
        via: PinEnd,
    },
    /// Sessions of the holder were ended.
    SessionsEnded {
        /// How many.
        count: u32,
        /// Why.
        reason: SessionEnd,
    },
}

impl EventDetail {
    /// The kind of the event.
    pub fn kind(&self) -> EventKind {
        match self {
            EventDetail::ApplicationReleased { .. } => EventKind::ApplicationReleased,
            EventDetail::LevelUpgraded { .. } => EventKind::LevelUpgraded,
            EventDetail::PinRevoked { .. } => EventKind::PinRevoked,
            EventDetail::SessionsEnded { .. } => EventKind::SessionsEnded,
        }
    }
}
