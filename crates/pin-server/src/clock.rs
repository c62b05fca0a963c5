//! The one clock of the service. Production reads the system clock; tests use a
//! [`SettableClock`] and move time forward instead of waiting for it. Every call reads the
//! clock once ([`crate::state::AppState::call`]) and hands that instant to the domain.

use std::{
    fmt::Debug,
    sync::atomic::{AtomicI64, Ordering},
};

use time::{Duration, OffsetDateTime};

/// A source of the current instant.
pub trait Clock: Send + Sync + Debug {
    /// The current instant, to the millisecond (what the store keeps, so an instant read
    /// back compares equal to the one written).
    fn now(&self) -> OffsetDateTime;
}

fn to_millisecond(instant: OffsetDateTime) -> OffsetDateTime {
    instant
        .replace_millisecond(instant.millisecond())
        .unwrap_or(instant)
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        to_millisecond(OffsetDateTime::now_utc())
    }
}

/// The system clock moved forward by an offset that tests set: time still passes, and a
/// test that needs a PIN to expire jumps months ahead instead of waiting.
#[derive(Debug, Default)]
pub struct SettableClock {
    offset_ms: AtomicI64,
}

impl SettableClock {
    /// A clock that reads like the system clock until moved.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.whole_milliseconds()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(millis, Ordering::AcqRel);
    }
}

impl Clock for SettableClock {
    fn now(&self) -> OffsetDateTime {
        let offset = Duration::milliseconds(self.offset_ms.load(Ordering::Acquire));
        to_millisecond(OffsetDateTime::now_utc() + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settable_clock_moves_forward_by_what_it_is_told() {
        let clock = SettableClock::new();
        let before = clock.now();
        clock.advance(Duration::days(200));
        let after = clock.now();
        assert!(after - before >= Duration::days(200));
        assert!(after - before < Duration::days(200) + Duration::minutes(1));
        assert_eq!(after.nanosecond() % 1_000_000, 0, "kept to the millisecond");
    }
}
