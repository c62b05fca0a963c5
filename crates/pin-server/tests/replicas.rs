//! Three `pin-server` processes sharing one PostgreSQL, as in production.
//!
//! - 50 concurrent wrong PINs against one codice fiscale on each: every attempt is counted
//!   once, exactly the policy's allowance reaches a verification, and the right PIN is then
//!   refused on every replica.
//! - A logout on one replica is refused by the others within a second, although each keeps
//!   the sessions it resolved in its cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use pin_proto::v1::{
    Action, AuthenticateRequest, AuthorizeRequest, DenyReason, IntrospectSessionRequest,
    ListAuditEventsRequest, LogoutRequest, audit_service_client::AuditServiceClient,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    authorization_service_client::AuthorizationServiceClient,
};
use pin_store::testing::TestDatabase;
use support::{MARIO, authed, eventually, first_access, start, the_right_pin};
use tonic::{Code, transport::Channel};

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

/// Whether `replica` still takes `token`, asked both ways a backend reads a session.
async fn session_accepted(replica: Channel, token: &str) -> (bool, bool) {
    let introspected = AuthenticationServiceClient::new(replica.clone())
        .introspect_session(authed(IntrospectSessionRequest {
            session_token: token.to_owned(),
        }))
        .await
        .unwrap()
        .into_inner();
    let authorized = AuthorizationServiceClient::new(replica)
        .authorize(authed(AuthorizeRequest {
            session_token: token.to_owned(),
            service_id: "estratto-conto-contributivo".into(),
            action: Action::Consult.into(),
            application_reference: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    if introspected.active {
        assert_eq!(introspected.codice_fiscale, MARIO);
    }
    (
        introspected.active,
        authorized.deny_reason() != DenyReason::SessionInvalid,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_replica_is_refused_on_the_others_within_a_second() {
    let database = TestDatabase::postgres().await;
    drop(database.connect_migrated().await);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut replicas = Vec::new();
    for dir in &dirs {
        replicas.push(start(&database.url, dir.path()).await);
    }
    let pin = first_access(&replicas[0].channel()).await;
    let Some(Outcome::Session(session)) = AuthenticationServiceClient::new(replicas[0].channel())
        .authenticate(authed(AuthenticateRequest {
            codice_fiscale: MARIO.into(),
            pin,
        }))
        .await
        .unwrap()
        .into_inner()
        .result
    else {
        panic!("a session expected")
    };
    let token = session.session_token;
    // Every replica resolves the session, and keeps it in its cache.
    for replica in &replicas {
        for _ in 0..3 {
            assert_eq!(
                session_accepted(replica.channel(), &token).await,
                (true, true)
            );
        }
    }

    AuthenticationServiceClient::new(replicas[0].channel())
        .logout(authed(LogoutRequest {
            session_token: token.clone(),
        }))
        .await
        .unwrap();
    let logged_out = Instant::now();
    assert_eq!(
        session_accepted(replicas[0].channel(), &token).await,
        (false, false),
        "the replica that ended the session refuses it at once"
    );
    for replica in &replicas[1..] {
        let within = Duration::from_secs(1).saturating_sub(logged_out.elapsed());
        eventually(
            within,
            "another replica refuses the ended session",
            async || {
                let accepted = session_accepted(replica.channel(), &token).await;
                (accepted == (false, false)).then_some(())
            },
        )
        .await;
    }
}
