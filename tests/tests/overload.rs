//! Overload: argon2 work beyond what the caller's deadline allows is refused at once with
//! RESOURCE_EXHAUSTED and retry info, before anything is counted or written, and health
//! checks keep answering meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pin_domain::{AuditAction, CodiceFiscale};
use pin_proto::v1::{
    AuthenticateRequest, authentication_service_client::AuthenticationServiceClient,
};
use pin_store::entity::login_throttle;
use pin_tests::{Backend, as_role, citizen::MARIO, spawn_app_with};
use sea_orm::EntityTrait;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

/// A codice fiscale nobody else in the test uses.
const BIANCHI: &str = "BNCNNA50C55F205G";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_cannot_meet_their_deadline_are_refused_while_health_answers() {
    // Production hashing cost on a single hashing thread.
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("PIN_HASHING__MEMORY_KIB", "19456"),
            ("PIN_HASHING__ITERATIONS", "2"),
            ("PIN_HASHING__WORKERS", "1"),
            ("PIN_POLICY__MAX_FAILED_ATTEMPTS", "100"),
        ],
    )
    .await;
    // A deadline no verification can meet is refused before the attempt touches the
    // database: not even a throttle row appears for the codice fiscale.
    let mut client = AuthenticationServiceClient::new(app.channel.clone());
    for _ in 0..10 {
        let mut request = as_role(
            "portal",
            AuthenticateRequest {
                codice_fiscale: BIANCHI.into(),
                pin: "ABCDEFGH".into(),
            },
        );
        request.set_timeout(Duration::from_millis(30));
        let status = client.authenticate(request).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    }
    let db = app.database.as_ref().unwrap().connect().await;
    let rows = login_throttle::Entity::find_by_id(BIANCHI)
        .one(&db)
        .await
        .unwrap();
    assert_eq!(rows, None, "a refused attempt wrote nothing");

    let calls: Vec<_> = (0..120)
        .map(|_| {
            let mut client = AuthenticationServiceClient::new(app.channel.clone());
            tokio::spawn(async move {
                let mut request = as_role(
                    "portal",
                    AuthenticateRequest {
                        codice_fiscale: MARIO.into(),
                        pin: "ABCDEFGH".into(),
                    },
                );
                request.set_timeout(Duration::from_millis(200));
                client.authenticate(request).await.unwrap_err()
            })
        })
        .collect();

    // Health answers while the hashing thread is saturated.
    let mut health = HealthClient::new(app.channel.clone());
    for _ in 0..5 {
        let answer = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
        assert_eq!(answer.into_inner().status(), ServingStatus::Serving);
    }

    let mut busy = 0;
    for call in calls {
        let status = call.await.unwrap();
        match status.code() {
            Code::ResourceExhausted => {
                busy += 1;
                let retry = status.get_details_retry_info().expect("retry info");
                assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
            }
            // Served in time (a wrong PIN), or cut by the client's own deadline.
            Code::Unauthenticated | Code::DeadlineExceeded | Code::Cancelled => {}
            other => panic!("unexpected {other:?}: {status:?}"),
        }
    }
    assert!(
        busy > 0,
        "120 argon2id hashes cannot all fit in 200 ms on one thread"
    );
    // A refused attempt gave the guesser nothing: it is neither counted nor audited. Only
    // the attempts that reached a verification (answered, or cut by the client after it
    // began) left a trace.
    let throttle = pin_store::repo::throttle::get(&db, &CodiceFiscale::parse(MARIO).unwrap())
        .await
        .unwrap();
    let audited = pin_store::repo::audit::count_since(
        &db,
        MARIO,
        AuditAction::Authenticate,
        time::OffsetDateTime::UNIX_EPOCH,
    )
    .await
    .unwrap();
    assert!(
        u64::from(throttle.failures) + u64::from(throttle.in_flight) <= 120 - busy,
        "{busy} refused, yet {throttle:?}"
    );
    assert!(
        audited <= 120 - busy,
        "{busy} refused, yet {audited} audited"
    );
    app.stop().await;
}
