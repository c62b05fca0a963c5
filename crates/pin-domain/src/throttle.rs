//! Brute-force protection: failed logins counted per codice fiscale, with progressive locks.
//!
//! An attempt is counted *before* the PIN is verified (see [`Throttle::admit`]) and only
//! cleared by a success, so a request cut short by a deadline or a crash still costs an
//! attempt, and parallel requests cannot earn extra guesses: the store applies `admit` under
//! a row lock or a conditional update.

use time::OffsetDateTime;

use crate::Policy;

/// The login-failure record of one codice fiscale (known or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// Attempts counted in the current window and not cleared by a success.
    pub failures: u32,
    /// Locks in a row without a success in between; makes the next lock longer.
    pub consecutive_locks: u32,
    /// Locked until this instant, if a lock was set.
    pub locked_until: Option<OffsetDateTime>,
}

/// The codice fiscale is locked; no verification may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed attempts")]
pub struct Locked {
    /// When attempts are allowed again.
    pub until: OffsetDateTime,
}

impl Throttle {
    /// Whether attempts are refused at `now`.
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Counts one attempt, before its PIN is verified.
    ///
    /// Refused while locked. Otherwise the attempt is counted as a failure in advance; the
    /// attempt that uses up the allowance also sets the lock, so attempts running in
    /// parallel with it are refused, and only a success ([`Throttle::succeeded`]) lifts it.
    pub fn admit(&self, now: OffsetDateTime, policy: &Policy) -> Result<Throttle, Locked> {
        if let Some(until) = self.locked_until.filter(|until| now < *until) {
            return Err(Locked { until });
        }
        // A lock that has run out starts a fresh window.
        let failures = if self.locked_until.is_some() {
            0
        } else {
            self.failures
        } + 1;
        if failures >= policy.max_failed_attempts() {
            Ok(Throttle {
                failures,
                consecutive_locks: self.consecutive_locks.saturating_add(1),
                locked_until: Some(now + policy.lock_duration(self.consecutive_locks)),
            })
        } else {
            Ok(Throttle {
                failures,
                consecutive_locks: self.consecutive_locks,
                locked_until: None,
            })
        }
    }

    /// The record after a successful login: everything is cleared.
    pub fn succeeded() -> Throttle {
        Throttle::default()
    }
}
