//! Brute-force protection: failed logins counted per codice fiscale, with progressive locks.
//!
//! An attempt takes a place *before* its PIN is verified ([`Throttle::admit`]) and gives it
//! back once the login is decided ([`Throttle::settle`]). Places held by attempts still in
//! flight count against the allowance together with the failures, so parallel requests —
//! on one replica or several, the store applies both steps under a row lock — never verify
//! more guesses than the policy allows; but a place is not a failure, so a burst of correct
//! logins waits for places instead of being refused.
//!
//! A request cut short after taking its place still costs an attempt: the server settles
//! it as a failure, and a place never settled (the process died) becomes a failure once
//! [`HOLD`] has passed.

use time::{Duration, OffsetDateTime};

use crate::Policy;

/// How long a place may be held before it counts as a failure. Longer than any login takes
/// (an argon2id verification and a few transactions), short enough that a replica that
/// died mid-login does not hold a citizen's allowance for long.
pub const HOLD: Duration = Duration::seconds(30);

/// The login-failure record of one codice fiscale (known or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// Failed attempts in the current window, not cleared by a success.
    pub failures: u32,
    /// Attempts admitted and not yet settled.
    pub in_flight: u32,
    /// When the places of attempts still in flight count as failures.
    pub in_flight_until: Option<OffsetDateTime>,
    /// Locks in a row without a success in between; makes the next lock longer.
    pub consecutive_locks: u32,
    /// Locked until this instant, if a lock was set.
    pub locked_until: Option<OffsetDateTime>,
}

/// Why an attempt may not be verified now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Too many failed attempts; no verification may run until `until`.
    #[error("too many failed attempts")]
    Locked {
        /// When attempts are allowed again.
        until: OffsetDateTime,
    },
    /// The failures and the attempts in flight use up the allowance: this attempt may go
    /// ahead only if some of those in flight succeed. Ask again shortly.
    #[error("attempts in flight use up the allowance")]
    Busy,
}

/// How an admitted attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The login succeeded: the record is cleared.
    Succeeded,
    /// The PIN was verified and the login failed (wrong PIN, or a PIN that may not be
    /// used), or the request was cut short after its verification began.
    Failed,
    /// No verification ran (the hashing pool refused the job): the place is given back.
    NotVerified,
}

impl Throttle {
    /// Whether attempts are refused at `now`.
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Takes a place for one attempt, before its PIN is verified.
    pub fn admit(&self, now: OffsetDateTime, policy: &Policy) -> Result<Throttle, Refused> {
        let mut next = self.expired(now, policy);
        if let Some(until) = next.locked_until {
            if now < until {
                return Err(Refused::Locked { until });
            }
            // A lock that has run out starts a fresh window.
            next.locked_until = None;
            next.failures = 0;
        }
        if next.failures.saturating_add(next.in_flight) >= policy.max_failed_attempts() {
            return Err(Refused::Busy);
        }
        next.in_flight += 1;
        next.in_flight_until = Some(now + HOLD);
        Ok(next)
    }

    /// Gives back the place of an attempt that ended as `outcome`. The failure that uses
    /// up the allowance sets the lock; a success clears everything but the places of the
    /// other attempts still in flight.
    pub fn settle(&self, outcome: Settled, now: OffsetDateTime, policy: &Policy) -> Throttle {
        let mut next = self.expired(now, policy);
        // Its place may already have expired into a failure: then it is settled.
        let held = next.in_flight > 0;
        next.in_flight = next.in_flight.saturating_sub(1);
        if next.in_flight == 0 {
            next.in_flight_until = None;
        }
        match outcome {
            Settled::Succeeded => Throttle {
                in_flight: next.in_flight,
                in_flight_until: next.in_flight_until,
                ..Throttle::default()
            },
            Settled::NotVerified => next,
            Settled::Failed if !held => next,
            Settled::Failed => next.failed(1, now, policy),
        }
    }

    /// Counts `count` more failures at `now`, locking when they use up the allowance.
    fn failed(mut self, count: u32, now: OffsetDateTime, policy: &Policy) -> Throttle {
        self.failures = self.failures.saturating_add(count);
        if self.failures >= policy.max_failed_attempts() && !self.is_locked(now) {
            self.locked_until = Some(now + policy.lock_duration(self.consecutive_locks));
            self.consecutive_locks = self.consecutive_locks.saturating_add(1);
        }
        self
    }

    /// The record with the places held past [`HOLD`] turned into failures.
    fn expired(&self, now: OffsetDateTime, policy: &Policy) -> Throttle {
        match self.in_flight_until {
            Some(until) if self.in_flight > 0 && now >= until => {
                let stale = self.in_flight;
                Throttle {
                    in_flight: 0,
                    in_flight_until: None,
                    ..*self
                }
                .failed(stale, now, policy)
            }
            _ => *self,
        }
    }
}
