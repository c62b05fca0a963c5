//! Reminders before a PIN expires: 14 and 3 days before, each at most once per PIN. A job
//! that did not run for a while sends only the most urgent reminder still due.

use time::{Duration, OffsetDateTime};

use crate::names::ReminderThreshold;

impl ReminderThreshold {
    /// How long before the expiry the reminder is due.
    pub fn before(self) -> Duration {
        match self {
            ReminderThreshold::FourteenDays => Duration::days(14),
            ReminderThreshold::ThreeDays => Duration::days(3),
        }
    }
}

/// The thresholds `now` has passed for a PIN expiring at `expires_at`, most urgent first;
/// none once the PIN has expired (the holder then renews it at login).
pub fn due_reminders(expires_at: OffsetDateTime, now: OffsetDateTime) -> Vec<ReminderThreshold> {
    if now >= expires_at {
        return Vec::new();
    }
    let mut due: Vec<ReminderThreshold> = ReminderThreshold::ALL
        .iter()
        .copied()
        .filter(|threshold| now >= expires_at - threshold.before())
        .collect();
    due.sort_by_key(|threshold| threshold.before());
    due
}

/// How far ahead of its expiry the earliest reminder goes out.
pub fn earliest_reminder() -> Duration {
    ReminderThreshold::ALL
        .iter()
        .map(|threshold| threshold.before())
        .max()
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const EXPIRES: OffsetDateTime = datetime!(2027-06-30 12:00 UTC);

    #[test]
    fn nothing_is_due_before_fourteen_days() {
        let now = EXPIRES - Duration::days(14) - Duration::seconds(1);
        assert!(due_reminders(EXPIRES, now).is_empty());
    }

    #[test]
    fn fourteen_days_before_the_first_is_due() {
        let now = EXPIRES - Duration::days(14);
        assert_eq!(
            due_reminders(EXPIRES, now),
            [ReminderThreshold::FourteenDays]
        );
    }

    #[test]
    fn three_days_before_both_are_due_the_most_urgent_first() {
        let now = EXPIRES - Duration::days(3);
        assert_eq!(
            due_reminders(EXPIRES, now),
            [
                ReminderThreshold::ThreeDays,
                ReminderThreshold::FourteenDays
            ]
        );
    }

    #[test]
    fn an_expired_pin_gets_no_reminder() {
        assert!(due_reminders(EXPIRES, EXPIRES).is_empty());
        assert!(due_reminders(EXPIRES, EXPIRES + Duration::days(1)).is_empty());
    }

    #[test]
    fn the_earliest_reminder_is_fourteen_days_ahead() {
        assert_eq!(earliest_reminder(), Duration::days(14));
    }
}
