//! The security rules under concurrency and observation: single-use tickets, and login
//! failures that look the same in answer and in time. (Lockout across replicas is tested
//! with three real server processes in `crates/pin-server/tests/replicas.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pin_domain::{CodiceFiscale, Event, RevocationReason};
use pin_proto::v1::{
    AuthenticateRequest, CompleteFirstAccessRequest, authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends,
    citizen::{MARIO, activated, import_registry, obtain_initial_pin},
    spawn_app, spawn_app_with,
};
use tonic::{Code, Status};

const WRONG_PIN: &str = "ABCDEFGH";

async fn login(app: &TestApp, cf: &str, pin: &str) -> Result<Outcome, Status> {
    let mut client = AuthenticationServiceClient::new(app.channel.clone());
    client
        .authenticate(as_role(
            "portal",
            AuthenticateRequest {
                codice_fiscale: cf.into(),
                pin: pin.into(),
            },
        ))
        .await
        .map(|answer| answer.into_inner().result.expect("a result"))
}

async fn a_first_access_ticket_works_once_under_concurrent_use(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let initial = obtain_initial_pin(&app).await;
    let Outcome::FirstAccessRequired(ticket) = login(&app, MARIO, &initial).await.unwrap() else {
        panic!("first access expected")
    };
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let mut client = AuthenticationServiceClient::new(app.channel.clone());
            let ticket = ticket.ticket.clone();
            tokio::spawn(async move {
                client
                    .complete_first_access(as_role("portal", CompleteFirstAccessRequest { ticket }))
                    .await
            })
        })
        .collect();
    let mut successes = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(answer) => successes.push(answer.into_inner()),
            Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
        }
    }
    assert_eq!(
        successes.len(),
        1,
        "exactly one CompleteFirstAccess succeeds"
    );
    let outcome = login(&app, MARIO, &successes[0].new_pin).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Session(_)),
        "the one PIN assigned works"
    );
    app.stop().await;
}
both_backends!(a_first_access_ticket_works_once_under_concurrent_use);

async fn simultaneous_correct_logins_of_one_person_all_succeed(backend: Backend) {
    // A verification that takes a few milliseconds, so the logins overlap.
    let app = spawn_app_with(backend, &[("PIN_HASHING__MEMORY_KIB", "4096")]).await;
    let pin = activated(&app).await;
    // Ten calls in flight at once on one connection.
    let logins = futures::future::join_all((0..10).map(|_| login(&app, MARIO, &pin))).await;
    for answer in logins {
        let outcome = answer.expect("every correct login succeeds");
        assert!(matches!(outcome, Outcome::Session(_)));
    }
    // And the whole allowance is there afterwards: four wrong guesses, then the PIN.
    for _ in 0..4 {
        let refused = login(&app, MARIO, WRONG_PIN).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    assert!(matches!(
        login(&app, MARIO, &pin).await.unwrap(),
        Outcome::Session(_)
    ));
    app.stop().await;
}
both_backends!(simultaneous_correct_logins_of_one_person_all_succeed);

fn fingerprint(status: Status) -> (Code, String, Vec<u8>) {
    (
        status.code(),
        status.message().to_owned(),
        status.details().to_vec(),
    )
}

async fn revoke_directly(app: &TestApp, cf: &str) {
    let database = app.database.as_ref().expect("the app owns its database");
    let db = database.connect().await;
    let cf = CodiceFiscale::parse(cf).unwrap();
    let current = pin_store::repo::credentials::find_current(&db, &cf)
        .await
        .unwrap()
        .unwrap();
    let policy = pin_server::config::Config::load(None, std::iter::empty())
        .unwrap()
        .policy
        .build()
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let revoked = current
        .credential
        .apply(
            Event::Revoke {
                reason: RevocationReason::ContactCenter,
            },
            now,
            &policy,
        )
        .unwrap();
    pin_store::repo::credentials::update(&db, &current, &revoked.next, now)
        .await
        .unwrap();
}

async fn the_four_failure_kinds_are_byte_identical(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let initial = obtain_initial_pin(&app).await;

    let unknown = fingerprint(
        login(&app, "VRDGPP13R10B293P", WRONG_PIN)
            .await
            .unwrap_err(),
    );
    let wrong = fingerprint(login(&app, MARIO, WRONG_PIN).await.unwrap_err());
    // Anna has no PIN; five failures lock her codice fiscale.
    for _ in 0..5 {
        let _ = login(&app, "BNCNNA50C55F205G", WRONG_PIN).await;
    }
    let locked = fingerprint(
        login(&app, "BNCNNA50C55F205G", WRONG_PIN)
            .await
            .unwrap_err(),
    );
    revoke_directly(&app, MARIO).await;
    let revoked = fingerprint(login(&app, MARIO, &initial).await.unwrap_err());

    assert_eq!(unknown, wrong);
    assert_eq!(wrong, locked);
    assert_eq!(locked, revoked);
    app.stop().await;
}
both_backends!(the_four_failure_kinds_are_byte_identical);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// With production hashing costs, a login for an unknown codice fiscale must take as long
/// as a wrong PIN for a known one: it is verified against a dummy hash. Removing the dummy
/// verification makes unknown codici fiscali several times faster and fails this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_codici_fiscali_do_not_answer_measurably_faster() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("PIN_HASHING__MEMORY_KIB", "19456"),
            ("PIN_HASHING__ITERATIONS", "2"),
            ("PIN_POLICY__MAX_FAILED_ATTEMPTS", "100"),
        ],
    )
    .await;
    import_registry(&app).await;
    let _ = obtain_initial_pin(&app).await;
    // Warm up connections and caches.
    for _ in 0..3 {
        let _ = login(&app, MARIO, WRONG_PIN).await;
        let _ = login(&app, "VRDGPP13R10B293P", WRONG_PIN).await;
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Alternate which goes first, so neither kind always follows the other.
    for round in 0..40 {
        for first in [round % 2 == 0, round % 2 != 0] {
            let (cf, samples) = if first {
                (MARIO, &mut known)
            } else {
                ("VRDGPP13R10B293P", &mut unknown)
            };
            let started = Instant::now();
            let _ = login(&app, cf, WRONG_PIN).await.unwrap_err();
            samples.push(started.elapsed());
        }
    }
    let (known, unknown) = (median(known), median(unknown));
    assert!(
        unknown.as_secs_f64() >= known.as_secs_f64() * 0.7,
        "unknown codici fiscali answer faster: median {unknown:?} against {known:?}"
    );
    app.stop().await;
}
