//! Lockout: attempts counted before verification, progressive locks, reset on success.
#![allow(clippy::unwrap_used)]

use pin_domain::{Locked, Policy, PolicySettings, Throttle};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn policy(max: u32) -> Policy {
    Policy::new(PolicySettings {
        max_failed_attempts: max,
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
    })
    .unwrap()
}

#[test]
fn the_attempt_that_uses_up_the_allowance_sets_the_lock() {
    let p = policy(3);
    let t1 = Throttle::default().admit(T0, &p).unwrap();
    let t2 = t1.admit(T0, &p).unwrap();
    assert!(!t2.is_locked(T0));
    let t3 = t2.admit(T0, &p).unwrap();
    assert!(t3.is_locked(T0));
    assert_eq!(
        t3.admit(T0, &p),
        Err(Locked {
            until: T0 + Duration::minutes(1)
        })
    );
}

#[test]
fn locks_grow_with_each_lock_in_a_row_and_a_success_clears_everything() {
    let p = policy(1);
    let first = Throttle::default().admit(T0, &p).unwrap();
    assert_eq!(first.locked_until, Some(T0 + Duration::minutes(1)));
    let later = T0 + Duration::minutes(1);
    let second = first.admit(later, &p).unwrap();
    assert_eq!(second.locked_until, Some(later + Duration::minutes(15)));
    let even_later = later + Duration::minutes(15);
    let third = second.admit(even_later, &p).unwrap();
    assert_eq!(third.locked_until, Some(even_later + Duration::hours(24)));
    assert_eq!(Throttle::succeeded(), Throttle::default());
}

#[test]
fn a_lock_is_refused_until_the_second_it_ends() {
    let p = policy(1);
    let locked = Throttle::default().admit(T0, &p).unwrap();
    let until = T0 + Duration::minutes(1);
    assert!(locked.admit(until - Duration::SECOND, &p).is_err());
    assert!(locked.admit(until, &p).is_ok());
}

proptest! {
    /// However attempts are spread in time, no lock window admits more than the allowance.
    #[test]
    fn no_window_admits_more_than_the_allowance(max in 1u32..8, gaps in prop::collection::vec(0i64..120, 1..200)) {
        let p = policy(max);
        let mut t = Throttle::default();
        let mut now = T0;
        let mut admitted_in_window = 0u32;
        for gap in gaps {
            now += Duration::seconds(gap);
            if let Ok(next) = t.admit(now, &p) {
                if t.locked_until.is_some() { admitted_in_window = 0; }
                admitted_in_window += 1;
                prop_assert!(admitted_in_window <= max);
                t = next;
            }
        }
    }
}
