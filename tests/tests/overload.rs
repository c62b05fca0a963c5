//! Overload: argon2 work beyond what the caller's deadline allows is refused at once with
//! RESOURCE_EXHAUSTED and retry info, and health checks keep answering meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pin_proto::v1::{
    AuthenticateRequest, authentication_service_client::AuthenticationServiceClient,
};
use pin_tests::{Backend, as_role, citizen::MARIO, spawn_app_with};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

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
    app.stop().await;
}
