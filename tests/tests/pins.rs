//! Changing a PIN, re-hashing outdated hashes, and verifying the audit chain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_domain::CodiceFiscale;
use pin_proto::v1::{
    ChangePinRequest, IntrospectSessionRequest, ListAuditEventsRequest,
    audit_service_client::AuditServiceClient,
    authentication_service_client::AuthenticationServiceClient,
};
use pin_tests::{
    Backend, TestDatabase, as_role, both_backends,
    citizen::{MARIO, activated, authenticate, session},
    spawn_app, spawn_app_with, spawn_sharing, test_config,
};
use tonic::Code;
use tonic_types::StatusExt;

async fn a_pin_change_needs_the_current_pin_refuses_old_ones_and_ends_other_sessions(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let pin = activated(&app).await;
    let mine = session(&app, &pin).await;
    let other = session(&app, &pin).await;
    let mut client = AuthenticationServiceClient::new(app.channel.clone());
    let change = |current: &str, new: &str| ChangePinRequest {
        session_token: mine.clone(),
        current_pin: current.into(),
        new_pin: new.into(),
    };

    let wrong = client
        .change_pin(as_role("portal", change("WRNGWRNG", "NEWPN234")))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let same = client
        .change_pin(as_role("portal", change(&pin, &pin)))
        .await
        .unwrap_err();
    assert_eq!(
        same.get_details_error_info().unwrap().reason,
        "PIN_RECENTLY_USED"
    );
    let bad = client
        .change_pin(as_role("portal", change(&pin, "0OIL1234")))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    let changed = client
        .change_pin(as_role("portal", change(&pin, "NEWPN234")))
        .await
        .unwrap()
        .into_inner();
    // The session first access opened, and `other`.
    assert_eq!(changed.other_sessions_ended, 2);
    let alive = |token: String| {
        let mut client = client.clone();
        async move {
            client
                .introspect_session(as_role(
                    "portal",
                    IntrospectSessionRequest {
                        session_token: token,
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .active
        }
    };
    assert!(
        alive(mine.clone()).await,
        "the session that changed the PIN stays"
    );
    assert!(!alive(other).await, "the other sessions end");
    assert_eq!(
        authenticate(&app, &pin).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let _ = session(&app, "newpn234").await;

    // Back to the first PIN: it is one of the last five.
    let back = ChangePinRequest {
        session_token: mine,
        current_pin: "NEWPN234".into(),
        new_pin: pin,
    };
    let refused = client
        .change_pin(as_role("portal", back))
        .await
        .unwrap_err();
    assert_eq!(
        refused.get_details_error_info().unwrap().reason,
        "PIN_RECENTLY_USED"
    );
    app.stop().await;
}
both_backends!(a_pin_change_needs_the_current_pin_refuses_old_ones_and_ends_other_sessions);

async fn a_wrong_current_pin_at_a_pin_change_is_a_failed_login_like_any_other(backend: Backend) {
    let app = spawn_app_with(backend, &[("PIN_POLICY__MAX_FAILED_ATTEMPTS", "3")]).await;
    let pin = activated(&app).await;
    let mine = session(&app, &pin).await;
    let mut client = AuthenticationServiceClient::new(app.channel.clone());
    let change = |current: &str| ChangePinRequest {
        session_token: mine.clone(),
        current_pin: current.into(),
        new_pin: "NEWPN234".into(),
    };
    let failed_login = authenticate(&app, "WRNGWRNG").await.unwrap_err();
    // Wrong current PINs use up the same allowance as wrong logins...
    for _ in 0..2 {
        let refused = client
            .change_pin(as_role("portal", change("WRNGWRNG")))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), failed_login.code());
        assert_eq!(refused.message(), failed_login.message());
        assert_eq!(refused.details(), failed_login.details());
    }
    // ...so now even the right current PIN is refused, exactly like a wrong one.
    let locked = client
        .change_pin(as_role("portal", change(&pin)))
        .await
        .unwrap_err();
    assert_eq!(
        (locked.code(), locked.message(), locked.details()),
        (
            failed_login.code(),
            failed_login.message(),
            failed_login.details()
        )
    );
    // Each failure is audited under the RPC that failed, with why.
    let mut audit = AuditServiceClient::new(app.channel.clone());
    let events = audit
        .list_audit_events(as_role(
            "admin",
            ListAuditEventsRequest {
                codice_fiscale: MARIO.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let failures: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.outcome == "FAILED")
        .map(|e| (e.action.as_str(), e.details["refusal"].as_str()))
        .collect();
    assert_eq!(
        failures,
        [
            ("AUTHENTICATE", "WRONG_PIN"),
            ("CHANGE_PIN", "WRONG_PIN"),
            ("CHANGE_PIN", "WRONG_PIN"),
            ("CHANGE_PIN", "LOCKED"),
        ]
    );
    app.stop().await;
}
both_backends!(a_wrong_current_pin_at_a_pin_change_is_a_failed_login_like_any_other);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_with_outdated_parameters_is_replaced_at_the_next_login() {
    let database = TestDatabase::sqlite().await;
    let old = spawn_sharing(&database.url, &[]).await;
    let pin = activated(&old).await;
    old.stop().await;

    let stored_hash = || async {
        let db = database.connect().await;
        let cf = CodiceFiscale::parse(MARIO).unwrap();
        let current = pin_store::repo::credentials::find_current(&db, &cf)
            .await
            .unwrap()
            .unwrap();
        current.credential.login_hash().unwrap().as_str().to_owned()
    };
    assert!(stored_hash().await.contains("m=64,t=1,p=1"));
    let new = spawn_sharing(
        &database.url,
        &[
            ("PIN_HASHING__MEMORY_KIB", "128"),
            ("PIN_HASHING__ITERATIONS", "2"),
        ],
    )
    .await;
    let _ = session(&new, &pin).await;
    assert!(
        stored_hash().await.contains("m=128,t=2,p=1"),
        "{}",
        stored_hash().await
    );
    let _ = session(&new, &pin).await;
    new.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_the_chain_intact_and_then_tampered() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = activated(&app).await;
    let database = app.database.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&database.url, dir.path()).unwrap();
    assert!(pin_server::cli::verify_audit(&config).await.unwrap());

    let db = database.connect().await;
    use sea_orm::{ConnectionTrait, Statement};
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE audit_records SET outcome = 'OK' WHERE id = (SELECT MIN(id) FROM audit_records)",
    ))
    .await
    .unwrap();
    assert!(!pin_server::cli::verify_audit(&config).await.unwrap());
    app.stop().await;
}
