//! The credential state machine, one line per (state, event) case, plus property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use pin_domain::{
    Credential, CredentialState as S, Effect, Event, HashParams, Holder, InitialSecret, IssuedVia,
    Level, NewCredential, PinHash, PinHasher, Policy, PolicySettings, Refusal, Replacement,
    RevocationReason, Status, TicketClaim, TicketPurpose,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn policy() -> Policy {
    Policy::new(PolicySettings {
        max_failed_attempts: 5,
        lock_durations: vec![Duration::minutes(1), Duration::minutes(15)],
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

/// Two distinct real hashes, made once with cheap parameters.
fn hashes() -> &'static (PinHash, PinHash) {
    static HASHES: OnceLock<(PinHash, PinHash)> = OnceLock::new();
    HASHES.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let params = HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let hasher = PinHasher::new(params, &mut rng).unwrap();
        (
            hasher.hash("OLDOLDOLD", &mut rng).unwrap(),
            hasher.hash("NEWNEWNE", &mut rng).unwrap(),
        )
    })
}

fn old() -> PinHash {
    hashes().0.clone()
}

fn new() -> PinHash {
    hashes().1.clone()
}

fn credential(state: S) -> Credential {
    Credential {
        holder: Holder::Citizen,
        level: Level::Ordinary,
        issued_via: IssuedVia::Online,
        state,
    }
}

fn activation() -> S {
    S::AwaitingActivation {
        first_half: old(),
        issued_at: T0,
    }
}
fn initial() -> S {
    S::AwaitingFirstAccess {
        pin: old(),
        issued_at: T0,
    }
}
fn active() -> S {
    S::Active {
        pin: old(),
        pin_set_at: T0,
    }
}
fn revoked() -> S {
    S::Revoked {
        at: T0,
        reason: RevocationReason::Online,
    }
}
fn superseded() -> S {
    S::Superseded { at: T0 }
}

fn ticket(purpose: TicketPurpose, bound_to: OffsetDateTime) -> TicketClaim {
    TicketClaim {
        purpose,
        bound_to,
        expires_at: bound_to + Duration::days(400),
    }
}

const DAY: Duration = Duration::days(1);

/// Applies `event` to a citizen's ordinary credential in `state`, `after` T0, and compares.
#[track_caller]
fn check(state: S, event: Event, after: Duration, expected: Result<(S, Effect), Refusal>) {
    let now = T0 + after;
    let got = credential(state)
        .apply(event, now, &policy())
        .map(|t| (t.next.state, t.effect));
    assert_eq!(got, expected);
}

fn login(verified: bool) -> Event {
    Event::Login { verified }
}

#[test]
fn login_decides_by_state_and_time() {
    let p = |purpose, bound_to| Effect::IssueTicket { purpose, bound_to };
    check(
        initial(),
        login(true),
        DAY,
        Ok((initial(), p(TicketPurpose::FirstAccess, T0))),
    );
    check(
        initial(),
        login(true),
        Duration::days(90),
        Err(Refusal::Lapsed),
    );
    check(
        active(),
        login(true),
        DAY,
        Ok((active(), Effect::StartSession)),
    );
    check(
        active(),
        login(true),
        Duration::days(183),
        Ok((active(), p(TicketPurpose::Renewal, T0))),
    );
    check(activation(), login(true), DAY, Err(Refusal::WrongState));
    check(revoked(), login(true), DAY, Err(Refusal::NotLive));
    check(superseded(), login(true), DAY, Err(Refusal::NotLive));
}

#[test]
fn a_wrong_pin_is_the_same_refusal_in_every_state() {
    for state in [activation(), initial(), active(), revoked(), superseded()] {
        for after in [DAY, Duration::days(400)] {
            check(state.clone(), login(false), after, Err(Refusal::WrongPin));
        }
    }
}

#[test]
fn campaign_activation_needs_the_half_and_the_health_card() {
    let activate = |half, card| Event::ActivateCampaign {
        first_half_verified: half,
        health_card_matches: card,
        pin: new(),
    };
    let now = T0 + DAY;
    check(
        activation(),
        activate(true, true),
        DAY,
        Ok((
            S::AwaitingFirstAccess {
                pin: new(),
                issued_at: now,
            },
            Effect::None,
        )),
    );
    check(
        activation(),
        activate(false, true),
        DAY,
        Err(Refusal::WrongPin),
    );
    check(
        activation(),
        activate(true, false),
        DAY,
        Err(Refusal::WrongHealthCard),
    );
    check(
        activation(),
        activate(true, true),
        Duration::days(90),
        Err(Refusal::Lapsed),
    );
    check(
        initial(),
        activate(true, true),
        DAY,
        Err(Refusal::WrongState),
    );
    check(
        active(),
        activate(true, true),
        DAY,
        Err(Refusal::WrongState),
    );
    check(revoked(), activate(true, true), DAY, Err(Refusal::NotLive));
}

#[test]
fn first_access_needs_a_live_ticket_for_this_initial_pin() {
    let complete = |t| Event::CompleteFirstAccess {
        ticket: t,
        new_pin: new(),
    };
    let good = ticket(TicketPurpose::FirstAccess, T0);
    let after = S::Active {
        pin: new(),
        pin_set_at: T0 + DAY,
    };
    check(
        initial(),
        complete(good),
        DAY,
        Ok((after, Effect::StartSession)),
    );
    check(
        initial(),
        complete(ticket(TicketPurpose::Renewal, T0)),
        DAY,
        Err(Refusal::InvalidTicket),
    );
    check(
        initial(),
        complete(ticket(TicketPurpose::FirstAccess, T0 + DAY)),
        DAY,
        Err(Refusal::InvalidTicket),
    );
    let expired = TicketClaim {
        expires_at: T0 + DAY,
        ..good
    };
    check(
        initial(),
        complete(expired),
        DAY,
        Err(Refusal::InvalidTicket),
    );
    check(
        initial(),
        complete(good),
        Duration::days(90),
        Err(Refusal::Lapsed),
    );
    check(active(), complete(good), DAY, Err(Refusal::InvalidTicket));
    check(
        activation(),
        complete(good),
        DAY,
        Err(Refusal::InvalidTicket),
    );
    check(revoked(), complete(good), DAY, Err(Refusal::NotLive));
    check(superseded(), complete(good), DAY, Err(Refusal::NotLive));
}

#[test]
fn renewal_needs_an_expired_pin_and_its_ticket() {
    let renew = |t| Event::Renew {
        ticket: t,
        new_pin: new(),
    };
    let good = ticket(TicketPurpose::Renewal, T0);
    let late = Duration::days(200);
    let after = S::Active {
        pin: new(),
        pin_set_at: T0 + late,
    };
    check(
        active(),
        renew(good),
        late,
        Ok((after, Effect::StartSession)),
    );
    check(active(), renew(good), DAY, Err(Refusal::NotExpired));
    check(
        active(),
        renew(ticket(TicketPurpose::FirstAccess, T0)),
        late,
        Err(Refusal::InvalidTicket),
    );
    check(
        active(),
        renew(ticket(TicketPurpose::Renewal, T0 + DAY)),
        late,
        Err(Refusal::InvalidTicket),
    );
    check(initial(), renew(good), DAY, Err(Refusal::InvalidTicket));
    check(revoked(), renew(good), late, Err(Refusal::NotLive));
}

#[test]
fn a_pin_change_needs_the_current_pin_and_a_fresh_one() {
    let change = |current, recent| Event::ChangePin {
        current_verified: current,
        recently_used: recent,
        new_pin: new(),
    };
    let after = S::Active {
        pin: new(),
        pin_set_at: T0 + DAY,
    };
    check(
        active(),
        change(true, false),
        DAY,
        Ok((after, Effect::None)),
    );
    check(active(), change(false, false), DAY, Err(Refusal::WrongPin));
    check(
        active(),
        change(true, true),
        DAY,
        Err(Refusal::RecentlyUsed),
    );
    check(
        active(),
        change(true, false),
        Duration::days(183),
        Err(Refusal::Expired),
    );
    check(
        initial(),
        change(true, false),
        DAY,
        Err(Refusal::WrongState),
    );
    check(
        activation(),
        change(true, false),
        DAY,
        Err(Refusal::WrongState),
    );
    check(
        superseded(),
        change(true, false),
        DAY,
        Err(Refusal::NotLive),
    );
}

#[test]
fn a_rehash_replaces_only_the_hash() {
    let rehash = || Event::Rehash { pin: new() };
    check(
        active(),
        rehash(),
        DAY,
        Ok((
            S::Active {
                pin: new(),
                pin_set_at: T0,
            },
            Effect::None,
        )),
    );
    check(
        initial(),
        rehash(),
        DAY,
        Ok((
            S::AwaitingFirstAccess {
                pin: new(),
                issued_at: T0,
            },
            Effect::None,
        )),
    );
    check(activation(), rehash(), DAY, Err(Refusal::WrongState));
    check(revoked(), rehash(), DAY, Err(Refusal::NotLive));
    check(superseded(), rehash(), DAY, Err(Refusal::NotLive));
    check(
        initial(),
        rehash(),
        Duration::days(90),
        Err(Refusal::Lapsed),
    );
}

#[test]
fn upgrade_makes_any_live_credential_dispositive_once() {
    for state in [activation(), initial(), active()] {
        let next = credential(state.clone())
            .apply(Event::Upgrade, T0 + DAY, &policy())
            .unwrap();
        assert_eq!(next.next.level, Level::Dispositive);
        assert_eq!(next.next.state, state);
        assert_eq!(
            next.next.apply(Event::Upgrade, T0 + DAY, &policy()),
            Err(Refusal::AlreadyDispositive)
        );
    }
    // An expired PIN is still the holder's: it can be upgraded and then renewed.
    let expired = credential(active()).apply(Event::Upgrade, T0 + Duration::days(300), &policy());
    assert_eq!(expired.map(|t| t.next.level), Ok(Level::Dispositive));
    check(revoked(), Event::Upgrade, DAY, Err(Refusal::NotLive));
    check(superseded(), Event::Upgrade, DAY, Err(Refusal::NotLive));
    check(
        initial(),
        Event::Upgrade,
        Duration::days(90),
        Err(Refusal::Lapsed),
    );
}

#[test]
fn revocation_and_substitution_end_every_live_credential() {
    let now = T0 + DAY;
    let reason = RevocationReason::ContactCenter;
    for state in [activation(), initial(), active()] {
        check(
            state.clone(),
            Event::Revoke { reason },
            DAY,
            Ok((S::Revoked { at: now, reason }, Effect::None)),
        );
        check(
            state,
            Event::Supersede,
            DAY,
            Ok((S::Superseded { at: now }, Effect::None)),
        );
    }
    // A lapsed initial PIN or campaign letter can still be replaced or revoked.
    let lapsed = Duration::days(90);
    for state in [activation(), initial()] {
        let at = T0 + lapsed;
        check(
            state.clone(),
            Event::Supersede,
            lapsed,
            Ok((S::Superseded { at }, Effect::None)),
        );
        check(
            state,
            Event::Revoke { reason },
            lapsed,
            Ok((S::Revoked { at, reason }, Effect::None)),
        );
    }
    for state in [revoked(), superseded()] {
        check(
            state.clone(),
            Event::Revoke { reason },
            DAY,
            Err(Refusal::NotLive),
        );
        check(state, Event::Supersede, DAY, Err(Refusal::NotLive));
    }
}

fn office_pin() -> NewCredential {
    NewCredential {
        holder: Holder::Citizen,
        level: Level::Dispositive,
        issued_via: IssuedVia::Office,
        secret: InitialSecret::Pin(new()),
    }
}

/// Issues [`office_pin`] `after` T0 to a holder whose current credential is in `current`;
/// compares the superseded state (if any) and the new credential's state.
#[track_caller]
fn check_issue(
    current: Option<S>,
    replacement: Replacement,
    after: Duration,
    expected: Result<Option<S>, Refusal>,
) {
    let now = T0 + after;
    let current = current.map(credential);
    let got = Credential::issue(current.as_ref(), office_pin(), replacement, now, &policy());
    match (got, expected) {
        (Ok(issuance), Ok(superseded)) => {
            assert_eq!(issuance.superseded.map(|c| c.state), superseded);
            assert_eq!(
                issuance.issued,
                Credential {
                    holder: Holder::Citizen,
                    level: Level::Dispositive,
                    issued_via: IssuedVia::Office,
                    state: S::AwaitingFirstAccess {
                        pin: new(),
                        issued_at: now
                    },
                }
            );
        }
        (got, expected) => assert_eq!(got.map(|i| i.superseded.map(|c| c.state)), expected),
    }
}

#[test]
fn a_live_pin_blocks_a_new_one_unless_it_is_substituted() {
    use Replacement::{Always, IfNotLive};
    let gone = |after: Duration| Some(S::Superseded { at: T0 + after });
    // Nobody held one, or the old one is dead: nothing to end.
    check_issue(None, IfNotLive, DAY, Ok(None));
    check_issue(Some(revoked()), IfNotLive, DAY, Ok(None));
    check_issue(Some(superseded()), Always, DAY, Ok(None));
    // A live PIN (awaiting, active, even expired) blocks a request...
    check_issue(Some(initial()), IfNotLive, DAY, Err(Refusal::AlreadyHolds));
    check_issue(
        Some(activation()),
        IfNotLive,
        DAY,
        Err(Refusal::AlreadyHolds),
    );
    check_issue(Some(active()), IfNotLive, DAY, Err(Refusal::AlreadyHolds));
    check_issue(
        Some(active()),
        IfNotLive,
        Duration::days(400),
        Err(Refusal::AlreadyHolds),
    );
    // ...and is superseded by a substitution.
    check_issue(Some(active()), Always, DAY, Ok(gone(DAY)));
    check_issue(Some(initial()), Always, DAY, Ok(gone(DAY)));
    // A lapsed initial PIN or campaign letter is superseded either way.
    let lapsed = Duration::days(90);
    check_issue(Some(initial()), IfNotLive, lapsed, Ok(gone(lapsed)));
    check_issue(Some(activation()), IfNotLive, lapsed, Ok(gone(lapsed)));
    check_issue(Some(activation()), Always, lapsed, Ok(gone(lapsed)));
}

#[test]
fn a_campaign_letter_starts_awaiting_activation() {
    let new_letter = NewCredential {
        issued_via: IssuedVia::Campaign,
        level: Level::Ordinary,
        secret: InitialSecret::CampaignFirstHalf(new()),
        ..office_pin()
    };
    let issuance =
        Credential::issue(None, new_letter, Replacement::IfNotLive, T0, &policy()).unwrap();
    assert_eq!(
        issuance.issued.state,
        S::AwaitingActivation {
            first_half: new(),
            issued_at: T0
        }
    );
    assert_eq!(issuance.issued.level, Level::Ordinary);
}

#[test]
fn refusal_codes_are_stable_upper_case_names() {
    assert_eq!(Refusal::WrongPin.code(), "WRONG_PIN");
    assert_eq!(Refusal::AlreadyHolds.code(), "ALREADY_HOLDS");
}

#[test]
fn expiry_boundaries_are_exact_to_the_second() {
    let p = policy();
    let citizen = credential(active());
    let limit = T0 + Duration::days(183);
    assert_eq!(citizen.status(limit - Duration::SECOND, &p), Status::Active);
    assert_eq!(citizen.status(limit, &p), Status::Expired);
    let intermediary = Credential {
        holder: Holder::Intermediary,
        ..credential(active())
    };
    let limit = T0 + Duration::days(92);
    assert_eq!(
        intermediary.status(limit - Duration::SECOND, &p),
        Status::Active
    );
    assert_eq!(intermediary.status(limit, &p), Status::Expired);
    let lapse = T0 + Duration::days(90);
    assert_eq!(
        credential(initial()).status(lapse - Duration::SECOND, &p),
        Status::AwaitingFirstAccess
    );
    assert_eq!(credential(initial()).status(lapse, &p), Status::Lapsed);
    assert_eq!(credential(activation()).status(lapse, &p), Status::Lapsed);
    assert_eq!(citizen.pin_expires_at(&p), Some(T0 + Duration::days(183)));
}

#[test]
fn renewal_keeps_level_holder_and_origin() {
    let start = Credential {
        holder: Holder::Intermediary,
        level: Level::Dispositive,
        issued_via: IssuedVia::Office,
        state: active(),
    };
    let late = T0 + Duration::days(100);
    let t = start
        .apply(
            Event::Renew {
                ticket: ticket(TicketPurpose::Renewal, T0),
                new_pin: new(),
            },
            late,
            &policy(),
        )
        .unwrap();
    assert_eq!(
        (t.next.holder, t.next.level, t.next.issued_via),
        (start.holder, start.level, start.issued_via)
    );
}

// ----- property tests -------------------------------------------------------------------

/// An event the property tests may throw at a credential. Tickets are only ever ones the
/// machine itself handed out earlier in the same run, as the server does.
#[derive(Debug, Clone)]
enum Step {
    Login(bool),
    Activate(bool, bool),
    CompleteFirstAccess(usize),
    Renew(usize),
    Change(bool, bool),
    Upgrade,
    Revoke,
    Supersede,
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        any::<bool>().prop_map(Step::Login),
        (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Step::Activate(a, b)),
        (0usize..4).prop_map(Step::CompleteFirstAccess),
        (0usize..4).prop_map(Step::Renew),
        (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Step::Change(a, b)),
        Just(Step::Upgrade),
        Just(Step::Revoke),
        Just(Step::Supersede),
        (0i64..250).prop_map(Step::Wait),
    ]
}

fn start() -> impl Strategy<Value = S> {
    prop_oneof![Just(activation()), Just(initial()), Just(active())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No sequence of events brings a credential from an initial or campaign state to
    /// `Active` unless a login with the correct PIN handed out the ticket used.
    #[test]
    fn nothing_activates_without_a_successful_verification(state in start(), steps in prop::collection::vec(step(), 0..24)) {
        let p = policy();
        let mut now = T0;
        let mut current = credential(state);
        let mut tickets: Vec<TicketClaim> = Vec::new();
        let mut verified_since_initial = false;
        for step in steps {
            let was_active = matches!(current.state, S::Active { .. });
            let event = match step {
                Step::Wait(days) => { now += Duration::days(days); continue; }
                Step::Login(v) => Event::Login { verified: v },
                Step::Activate(a, b) => Event::ActivateCampaign { first_half_verified: a, health_card_matches: b, pin: new() },
                Step::CompleteFirstAccess(i) => match tickets.get(i) { Some(t) => Event::CompleteFirstAccess { ticket: *t, new_pin: new() }, None => continue },
                Step::Renew(i) => match tickets.get(i) { Some(t) => Event::Renew { ticket: *t, new_pin: new() }, None => continue },
                Step::Change(a, b) => Event::ChangePin { current_verified: a, recently_used: b, new_pin: new() },
                Step::Upgrade => Event::Upgrade,
                Step::Revoke => Event::Revoke { reason: RevocationReason::Online },
                Step::Supersede => Event::Supersede,
            };
            let verified_login = event == Event::Login { verified: true };
            if let Ok(t) = current.apply(event, now, &p) {
                if let Effect::IssueTicket { purpose, bound_to } = t.effect {
                    prop_assert!(verified_login);
                    if purpose == TicketPurpose::FirstAccess { verified_since_initial = true; }
                    tickets.insert(0, TicketClaim { purpose, bound_to, expires_at: now + p.ticket_lifetime() });
                }
                if !was_active && matches!(t.next.state, S::Active { .. }) {
                    prop_assert!(verified_since_initial, "activated without a verified login");
                }
                current = t.next;
            }
        }
    }

    /// A revoked or superseded credential never verifies or changes again, whatever happens.
    #[test]
    fn a_dead_credential_stays_dead(dead in prop_oneof![Just(revoked()), Just(superseded())], steps in prop::collection::vec(step(), 0..16), days in 0i64..500) {
        let p = policy();
        let now = T0 + Duration::days(days);
        let current = credential(dead);
        for step in steps {
            let event = match step {
                Step::Login(v) => Event::Login { verified: v },
                Step::Activate(a, b) => Event::ActivateCampaign { first_half_verified: a, health_card_matches: b, pin: new() },
                Step::CompleteFirstAccess(_) => Event::CompleteFirstAccess { ticket: ticket(TicketPurpose::FirstAccess, T0), new_pin: new() },
                Step::Renew(_) => Event::Renew { ticket: ticket(TicketPurpose::Renewal, T0), new_pin: new() },
                Step::Change(a, b) => Event::ChangePin { current_verified: a, recently_used: b, new_pin: new() },
                Step::Upgrade => Event::Upgrade,
                Step::Revoke => Event::Revoke { reason: RevocationReason::Online },
                Step::Supersede => Event::Supersede,
                Step::Wait(_) => Event::Rehash { pin: new() },
            };
            prop_assert!(current.apply(event, now, &p).is_err());
            prop_assert!(current.login_hash().is_none());
        }
    }

    /// Expiry is exact to the second for any lifetime start and offset.
    #[test]
    fn expiry_is_exact_to_the_second(offset in -100_000i64..100_000, intermediary in any::<bool>()) {
        let p = policy();
        let holder = if intermediary { Holder::Intermediary } else { Holder::Citizen };
        let c = Credential { holder, ..credential(active()) };
        let boundary = T0 + p.pin_lifetime(holder);
        let now = boundary + Duration::seconds(offset);
        let expected = if offset >= 0 { Status::Expired } else { Status::Active };
        prop_assert_eq!(c.status(now, &p), expected);
    }
}
