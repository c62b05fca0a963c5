//! The policy: every limit and lifetime of the PIN lifecycle, checked once when built.

use time::Duration;

/// Limits and lifetimes of the PIN lifecycle.
///
/// Built only through [`Policy::new`], which refuses inconsistent values, so code holding
/// a `Policy` never re-checks it. There is deliberately no `Default`: the production values
/// live in the server's configuration, where an operator can read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    max_failed_attempts: u32,
    lock_durations: Vec<Duration>,
    citizen_pin_lifetime: Duration,
    intermediary_pin_lifetime: Duration,
    initial_pin_lifetime: Duration,
    ticket_lifetime: Duration,
    link_lifetime: Duration,
    code_lifetime: Duration,
    session_idle_timeout: Duration,
    session_absolute_timeout: Duration,
    recent_login_window: Duration,
    pin_history_depth: usize,
}

/// The raw values a [`Policy`] is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    /// Failed logins allowed per codice fiscale before it locks.
    pub max_failed_attempts: u32,
    /// Lock durations for the first, second, … consecutive lock; the last one repeats.
    pub lock_durations: Vec<Duration>,
    /// How long a citizen's PIN lasts after it was last set (about 6 months).
    pub citizen_pin_lifetime: Duration,
    /// How long an intermediary's PIN lasts after it was last set (about 3 months).
    pub intermediary_pin_lifetime: Duration,
    /// How long an initial 16-character PIN waits for first access before it lapses.
    pub initial_pin_lifetime: Duration,
    /// How long a first-access or renewal ticket may be used.
    pub ticket_lifetime: Duration,
    /// How long a recovery or revocation link may be followed.
    pub link_lifetime: Duration,
    /// How long a contact verification code may be used.
    pub code_lifetime: Duration,
    /// A session unused for this long ends.
    pub session_idle_timeout: Duration,
    /// A session ends this long after it started, whatever its use.
    pub session_absolute_timeout: Duration,
    /// Changing contacts needs a session opened no longer ago than this.
    pub recent_login_window: Duration,
    /// How many previous PINs a new PIN must differ from.
    pub pin_history_depth: usize,
}

/// Why a set of [`PolicySettings`] was refused; names the offending setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A duration that must be positive is zero or negative.
    #[error("{setting} must be longer than zero")]
    NotPositive {
        /// The setting's name.
        setting: &'static str,
    },
    /// Two settings contradict each other.
    #[error("{setting} must not be longer than {limit}")]
    LongerThan {
        /// The setting's name.
        setting: &'static str,
        /// The setting it must not exceed.
        limit: &'static str,
    },
    /// A count outside its range.
    #[error("{setting} must be between {min} and {max}")]
    OutOfRange {
        /// The setting's name.
        setting: &'static str,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// The lock durations are empty or shrink.
    #[error("lock_durations must be a non-empty list that never decreases")]
    LockDurations,
}

impl PolicyError {
    /// The name of the setting at fault.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::NotPositive { setting }
            | Self::LongerThan { setting, .. }
            | Self::OutOfRange { setting, .. } => setting,
            Self::LockDurations => "lock_durations",
        }
    }
}

impl Policy {
    /// Checks the settings and builds the policy.
    pub fn new(settings: PolicySettings) -> Result<Self, PolicyError> {
        let PolicySettings {
            max_failed_attempts,
            lock_durations,
            citizen_pin_lifetime,
            intermediary_pin_lifetime,
            initial_pin_lifetime,
            ticket_lifetime,
            link_lifetime,
            code_lifetime,
            session_idle_timeout,
            session_absolute_timeout,
            recent_login_window,
            pin_history_depth,
        } = settings;
        if !(1..=100).contains(&max_failed_attempts) {
            return Err(PolicyError::OutOfRange {
                setting: "max_failed_attempts",
                min: 1,
                max: 100,
            });
        }
        if !(1..=24).contains(&pin_history_depth) {
            return Err(PolicyError::OutOfRange {
                setting: "pin_history_depth",
                min: 1,
                max: 24,
            });
        }
        let positive = [
            ("citizen_pin_lifetime", citizen_pin_lifetime),
            ("intermediary_pin_lifetime", intermediary_pin_lifetime),
            ("initial_pin_lifetime", initial_pin_lifetime),
            ("ticket_lifetime", ticket_lifetime),
            ("link_lifetime", link_lifetime),
            ("code_lifetime", code_lifetime),
            ("session_idle_timeout", session_idle_timeout),
            ("session_absolute_timeout", session_absolute_timeout),
            ("recent_login_window", recent_login_window),
        ];
        if let Some((setting, _)) = positive.iter().find(|(_, d)| !d.is_positive()) {
            return Err(PolicyError::NotPositive { setting });
        }
        if lock_durations.is_empty()
            || lock_durations.iter().any(|d| !d.is_positive())
            || lock_durations.windows(2).any(|pair| pair[1] < pair[0])
        {
            return Err(PolicyError::LockDurations);
        }
        if session_idle_timeout > session_absolute_timeout {
            return Err(PolicyError::LongerThan {
                setting: "session_idle_timeout",
                limit: "session_absolute_timeout",
            });
        }
        if intermediary_pin_lifetime > citizen_pin_lifetime {
            return Err(PolicyError::LongerThan {
                setting: "intermediary_pin_lifetime",
                limit: "citizen_pin_lifetime",
            });
        }
        if recent_login_window > session_absolute_timeout {
            return Err(PolicyError::LongerThan {
                setting: "recent_login_window",
                limit: "session_absolute_timeout",
            });
        }
        Ok(Self {
            max_failed_attempts,
            lock_durations,
            citizen_pin_lifetime,
            intermediary_pin_lifetime,
            initial_pin_lifetime,
            ticket_lifetime,
            link_lifetime,
            code_lifetime,
            session_idle_timeout,
            session_absolute_timeout,
            recent_login_window,
            pin_history_depth,
        })
    }

    /// How recently a session must have been opened to change contacts.
    pub fn recent_login_window(&self) -> Duration {
        self.recent_login_window
    }

    /// Failed logins allowed per codice fiscale before it locks.
    pub fn max_failed_attempts(&self) -> u32 {
        self.max_failed_attempts
    }

    /// The duration of the `n`-th consecutive lock (0-based); the last duration repeats.
    pub fn lock_duration(&self, consecutive_locks: u32) -> Duration {
        let last = self.lock_durations.len() - 1;
        let index = usize::try_from(consecutive_locks).map_or(last, |n| n.min(last));
        self.lock_durations[index]
    }

    /// How long a PIN of this holder lasts after it was set.
    pub fn pin_lifetime(&self, holder: crate::Holder) -> Duration {
        match holder {
            crate::Holder::Citizen => self.citizen_pin_lifetime,
            crate::Holder::Intermediary => self.intermediary_pin_lifetime,
        }
    }

    /// How long an initial PIN waits for first access (or a campaign letter for activation).
    pub fn initial_pin_lifetime(&self) -> Duration {
        self.initial_pin_lifetime
    }

    /// How long a ticket may be used.
    pub fn ticket_lifetime(&self) -> Duration {
        self.ticket_lifetime
    }

    /// How long a one-time link may be followed.
    pub fn link_lifetime(&self) -> Duration {
        self.link_lifetime
    }

    /// How long a verification code may be used.
    pub fn code_lifetime(&self) -> Duration {
        self.code_lifetime
    }

    /// Idle timeout of a session.
    pub fn session_idle_timeout(&self) -> Duration {
        self.session_idle_timeout
    }

    /// Absolute timeout of a session.
    pub fn session_absolute_timeout(&self) -> Duration {
        self.session_absolute_timeout
    }

    /// How many previous PINs a new PIN must differ from.
    pub fn pin_history_depth(&self) -> usize {
        self.pin_history_depth
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Production-like values, for tests.
    pub(crate) fn settings() -> PolicySettings {
        PolicySettings {
            max_failed_attempts: 5,
            lock_durations: vec![
                Duration::minutes(1),
                Duration::minutes(15),
                Duration::hours(24),
            ],
            citizen_pin_lifetime: Duration::days(183),
            intermediary_pin_lifetime: Duration::days(92),
            initial_pin_lifetime: Duration::days(90),
            ticket_lifetime: Duration::minutes(10),
            link_lifetime: Duration::hours(24),
            code_lifetime: Duration::minutes(15),
            session_idle_timeout: Duration::minutes(30),
            session_absolute_timeout: Duration::hours(8),
            recent_login_window: Duration::minutes(10),
            pin_history_depth: 5,
        }
    }

    pub(crate) fn policy() -> Policy {
        match Policy::new(settings()) {
            Ok(policy) => policy,
            Err(error) => panic!("test policy is valid: {error}"),
        }
    }

    #[track_caller]
    fn refused(change: impl FnOnce(&mut PolicySettings), setting: &str) {
        let mut s = settings();
        change(&mut s);
        match Policy::new(s) {
            Ok(_) => panic!("expected {setting} to be refused"),
            Err(error) => assert_eq!(error.setting(), setting, "{error}"),
        }
    }

    #[test]
    fn the_test_policy_is_accepted() {
        assert_eq!(policy().max_failed_attempts(), 5);
    }

    #[test]
    fn inconsistent_settings_are_refused_naming_the_setting() {
        refused(|s| s.max_failed_attempts = 0, "max_failed_attempts");
        refused(|s| s.pin_history_depth = 0, "pin_history_depth");
        refused(|s| s.ticket_lifetime = Duration::ZERO, "ticket_lifetime");
        refused(
            |s| s.citizen_pin_lifetime = Duration::seconds(-1),
            "citizen_pin_lifetime",
        );
        refused(|s| s.lock_durations.clear(), "lock_durations");
        refused(
            |s| s.lock_durations = vec![Duration::hours(1), Duration::minutes(1)],
            "lock_durations",
        );
        refused(
            |s| s.session_idle_timeout = Duration::hours(9),
            "session_idle_timeout",
        );
        refused(
            |s| s.intermediary_pin_lifetime = Duration::days(200),
            "intermediary_pin_lifetime",
        );
    }

    #[test]
    fn the_last_lock_duration_repeats() {
        let p = policy();
        assert_eq!(p.lock_duration(0), Duration::minutes(1));
        assert_eq!(p.lock_duration(1), Duration::minutes(15));
        assert_eq!(p.lock_duration(2), Duration::hours(24));
        assert_eq!(p.lock_duration(u32::MAX), Duration::hours(24));
    }
}
