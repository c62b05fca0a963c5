//! Three `pin-server` processes sharing one PostgreSQL, as in production: 50 concurrent
//! wrong PINs against one codice fiscale on each. Every attempt is counted once, exactly
//! the policy's allowance reaches a verification, and the right PIN is then refused on
//! every replica.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pin_proto::v1::{
    AuthenticateRequest, ListAuditEventsRequest, audit_service_client::AuditServiceClient,
    authentication_service_client::AuthenticationServiceClient,
};
use pin_store::testing::TestDatabase;
use support::{MARIO, authed, start, the_right_pin};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_server_processes_share_one_lockout() {
    let database = TestDatabase::postgres().await;
    // Migrate once, before the replicas race to start.
    let db = database.connect_migrated().await;
    drop(db);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut replicas = Vec::new();
    for dir in &dirs {
        replicas.push(start(&database.url, dir.path()).await);
    }
    let right_pin = the_right_pin(&replicas[0].channel()).await;

    let mut calls = Vec::new();
    for replica in &replicas {
        for _ in 0..50 {
            let mut client = AuthenticationServiceClient::new(replica.channel());
            calls.push(tokio::spawn(async move {
                client
                    .authenticate(authed(AuthenticateRequest {
                        codice_fiscale: MARIO.into(),
                        pin: "ABCDEFGH".into(),
                    }))
                    .await
            }));
        }
    }
    for call in calls {
        assert_eq!(
            call.await.unwrap().unwrap_err().code(),
            Code::Unauthenticated
        );
    }

    let mut audit = AuditServiceClient::new(replicas[2].channel());
    let mut logins = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = audit
            .list_audit_events(authed(ListAuditEventsRequest {
                codice_fiscale: MARIO.into(),
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        logins.extend(
            page.events
                .into_iter()
                .filter(|e| e.action == "AUTHENTICATE"),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(logins.len(), 150, "every attempt is counted once");
    // Refused without a verification: locked, or every place held by attempts in flight
    // until the attempt gave up waiting.
    let verified = logins
        .iter()
        .filter(|e| {
            !matches!(
                e.details.get("refusal").map(String::as_str),
                Some("LOCKED" | "ATTEMPTS_IN_FLIGHT")
            )
        })
        .count();
    assert_eq!(verified, 5, "exactly the allowance reached a verification");
    for replica in &replicas {
        let mut client = AuthenticationServiceClient::new(replica.channel());
        let refused = client
            .authenticate(authed(AuthenticateRequest {
                codice_fiscale: MARIO.into(),
                pin: right_pin.clone(),
            }))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::Unauthenticated,
            "locked, even with the right PIN"
        );
    }
}
