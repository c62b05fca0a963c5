//! Lockout: places taken before verification, settled after; progressive locks; a
//! success clears the record; bursts of correct logins wait instead of being refused.
#![allow(clippy::unwrap_used)]

use pin_domain::{Policy, PolicySettings, Refused, Settled, Throttle, throttle::HOLD};
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

/// One attempt admitted and settled at once.
fn attempt(
    t: Throttle,
    now: OffsetDateTime,
    p: &Policy,
    outcome: Settled,
) -> Result<Throttle, Refused> {
    Ok(t.admit(now, p)?.settle(outcome, now, p))
}

#[test]
fn the_failure_that_uses_up_the_allowance_sets_the_lock() {
    let p = policy(3);
    let t1 = attempt(Throttle::default(), T0, &p, Settled::Failed).unwrap();
    let t2 = attempt(t1, T0, &p, Settled::Failed).unwrap();
    assert!(!t2.is_locked(T0));
    let t3 = attempt(t2, T0, &p, Settled::Failed).unwrap();
    assert!(t3.is_locked(T0));
    assert_eq!(
        t3.admit(T0, &p),
        Err(Refused::Locked {
            until: T0 + Duration::minutes(1)
        })
    );
}

#[test]
fn attempts_in_flight_count_against_the_allowance_until_settled() {
    let p = policy(3);
    let mut t = Throttle::default();
    for _ in 0..3 {
        t = t.admit(T0, &p).unwrap();
    }
    assert_eq!(t.in_flight, 3);
    assert_eq!(
        t.admit(T0, &p),
        Err(Refused::Busy),
        "a fourth guess would be verified"
    );
    // One of them was a wrong guess: still no room.
    t = t.settle(Settled::Failed, T0, &p);
    assert_eq!(t.admit(T0, &p), Err(Refused::Busy));
    // Another was the right PIN: room again, and the failure is forgotten.
    t = t.settle(Settled::Succeeded, T0, &p);
    assert_eq!(t.failures, 0);
    assert_eq!(t.in_flight, 1);
    assert!(t.admit(T0, &p).is_ok());
}

#[test]
fn a_burst_of_correct_logins_waits_for_places_and_is_never_refused() {
    let p = policy(5);
    let mut t = Throttle::default();
    let mut waiting = 10;
    let mut in_flight = 0;
    while waiting > 0 || in_flight > 0 {
        match t.admit(T0, &p) {
            Ok(next) if waiting > 0 => {
                t = next;
                waiting -= 1;
                in_flight += 1;
            }
            Ok(_) | Err(Refused::Busy) => {
                t = t.settle(Settled::Succeeded, T0, &p);
                in_flight -= 1;
            }
            Err(locked) => panic!("a correct login was refused: {locked:?}"),
        }
    }
    assert_eq!(t, Throttle::default());
}

#[test]
fn an_attempt_that_was_never_verified_gives_its_place_back() {
    let p = policy(1);
    let t = attempt(Throttle::default(), T0, &p, Settled::NotVerified).unwrap();
    assert_eq!(t, Throttle::default());
}

#[test]
fn a_place_never_settled_becomes_a_failure_after_the_hold() {
    let p = policy(2);
    let t = Throttle::default()
        .admit(T0, &p)
        .unwrap()
        .admit(T0, &p)
        .unwrap();
    assert_eq!(
        t.admit(T0 + HOLD - Duration::SECOND, &p),
        Err(Refused::Busy)
    );
    let later = T0 + HOLD;
    assert_eq!(
        t.admit(later, &p),
        Err(Refused::Locked {
            until: later + Duration::minutes(1)
        })
    );
    // A settlement arriving after its place expired is not counted twice.
    let settled = t.settle(Settled::Failed, later, &p);
    assert_eq!(settled.failures, 2);
    assert_eq!(settled.in_flight, 0);
}

#[test]
fn locks_grow_with_each_lock_in_a_row_and_a_success_clears_everything() {
    let p = policy(1);
    let first = attempt(Throttle::default(), T0, &p, Settled::Failed).unwrap();
    assert_eq!(first.locked_until, Some(T0 + Duration::minutes(1)));
    let later = T0 + Duration::minutes(1);
    let second = attempt(first, later, &p, Settled::Failed).unwrap();
    assert_eq!(second.locked_until, Some(later + Duration::minutes(15)));
    let even_later = later + Duration::minutes(15);
    let third = attempt(second, even_later, &p, Settled::Failed).unwrap();
    assert_eq!(third.locked_until, Some(even_later + Duration::hours(24)));
    let end = even_later + Duration::hours(24);
    assert_eq!(
        attempt(third, end, &p, Settled::Succeeded).unwrap(),
        Throttle::default()
    );
}

#[test]
fn a_lock_is_refused_until_the_second_it_ends() {
    let p = policy(1);
    let locked = attempt(Throttle::default(), T0, &p, Settled::Failed).unwrap();
    let until = T0 + Duration::minutes(1);
    assert!(locked.admit(until - Duration::SECOND, &p).is_err());
    assert!(locked.admit(until, &p).is_ok());
}

#[derive(Debug, Clone)]
enum Step {
    Admit,
    Settle(Settled),
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Admit),
        1 => Just(Step::Settle(Settled::Succeeded)),
        3 => Just(Step::Settle(Settled::Failed)),
        1 => Just(Step::Settle(Settled::NotVerified)),
        1 => (0i64..40).prop_map(Step::Wait),
    ]
}

proptest! {
    /// Whatever the interleaving of attempts, outcomes and time: failures and places in
    /// flight never exceed the allowance, so no window verifies more wrong guesses than
    /// the policy allows; and a lock is only ever set by the allowance being used up.
    #[test]
    fn no_interleaving_verifies_more_guesses_than_the_allowance(
        max in 1u32..6,
        steps in prop::collection::vec(step(), 1..200),
    ) {
        let p = policy(max);
        let mut t = Throttle::default();
        let mut now = T0;
        let mut outstanding = 0u32;
        for step in steps {
            match step {
                Step::Admit => {
                    if let Ok(next) = t.admit(now, &p) {
                        t = next;
                        outstanding += 1;
                    }
                }
                Step::Settle(outcome) if outstanding > 0 => {
                    t = t.settle(outcome, now, &p);
                    outstanding -= 1;
                }
                Step::Settle(_) => {}
                Step::Wait(seconds) => now += Duration::seconds(seconds),
            }
            prop_assert!(t.failures + t.in_flight <= max, "{t:?}");
            prop_assert!(t.in_flight <= outstanding);
            if t.is_locked(now) {
                prop_assert!(t.failures >= max);
            }
        }
    }
}
