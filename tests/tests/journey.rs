//! The whole citizen journey over gRPC, on SQLite and PostgreSQL: registry → online request
//! → both halves from the outbox → first access → login → authorization → logout; and
//! expiry with renewal keeping the level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    self as pb, Action, AuthorizeRequest, CompleteFirstAccessRequest, Decision, DenyReason,
    IntrospectSessionRequest, ListAuditEventsRequest, LogoutRequest, RenewExpiredPinRequest,
    audit_service_client::AuditServiceClient, authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    authorization_service_client::AuthorizationServiceClient,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends,
    citizen::{MARIO, authenticate, import_registry, obtain_initial_pin},
    spawn_app,
};
use tonic::Code;

async fn authorize(
    app: &TestApp,
    session: &str,
    service: &str,
    action: Action,
    reference: &str,
) -> pb::AuthorizeResponse {
    let mut authz = AuthorizationServiceClient::new(app.channel.clone());
    authz
        .authorize(as_role(
            "benefits",
            AuthorizeRequest {
                session_token: session.into(),
                service_id: service.into(),
                action: action.into(),
                application_reference: reference.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn the_whole_journey_works_over_grpc(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let initial = obtain_initial_pin(&app).await;

    // First login with the 16 characters (any case) asks for first access.
    let Outcome::FirstAccessRequired(ticket) =
        authenticate(&app, &initial.to_lowercase()).await.unwrap()
    else {
        panic!("first access expected")
    };
    let mut auth = AuthenticationServiceClient::new(app.channel.clone());
    let done = auth
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.new_pin.len(), 8);
    assert!(done.session.is_some());
    // The mobile that carried the first half is now proven; the e-mail is not.
    let db = app.database.as_ref().unwrap().connect().await;
    let cf = pin_domain::CodiceFiscale::parse(MARIO).unwrap();
    let contacts = pin_store::repo::contacts::list(&db, &cf).await.unwrap();
    let verified = |kind| {
        contacts
            .iter()
            .find(|c| c.kind == kind)
            .unwrap()
            .verified_at
            .is_some()
    };
    assert!(verified(pin_domain::ContactKind::Mobile));
    assert!(!verified(pin_domain::ContactKind::Email));
    // The ticket worked once.
    let again = auth
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    // The initial PIN is spent.
    assert_eq!(
        authenticate(&app, &initial).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let Outcome::Session(session) = authenticate(&app, &done.new_pin).await.unwrap() else {
        panic!("a session expected")
    };
    assert_eq!(session.level(), pb::Level::Ordinary);
    let token = session.session_token;

    let consult = authorize(
        &app,
        &token,
        "estratto-conto-contributivo",
        Action::Consult,
        "",
    )
    .await;
    assert_eq!(consult.decision(), Decision::Allow);
    assert_eq!(consult.codice_fiscale, MARIO);
    let held = authorize(&app, &token, "naspi", Action::Submit, "NASPI-2026-0001").await;
    assert_eq!(held.decision(), Decision::Held);
    let held_again = authorize(&app, &token, "naspi", Action::Submit, "NASPI-2026-0001").await;
    assert_eq!(
        held_again.filed_at, held.filed_at,
        "held once per reference"
    );
    let other = authorize(
        &app,
        &token,
        "prestiti-dipendenti-pubblici",
        Action::Consult,
        "",
    )
    .await;
    assert_eq!(
        (other.decision(), other.deny_reason()),
        (Decision::Deny, DenyReason::CategoryNotEntitled)
    );

    let introspected = auth
        .introspect_session(as_role(
            "benefits",
            IntrospectSessionRequest {
                session_token: token.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(introspected.active);
    assert_eq!(introspected.codice_fiscale, MARIO);

    auth.logout(as_role(
        "portal",
        LogoutRequest {
            session_token: token.clone(),
        },
    ))
    .await
    .unwrap();
    let after = authorize(
        &app,
        &token,
        "estratto-conto-contributivo",
        Action::Consult,
        "",
    )
    .await;
    assert_eq!(
        (after.decision(), after.deny_reason()),
        (Decision::Deny, DenyReason::SessionInvalid)
    );
    let introspected = auth
        .introspect_session(as_role(
            "benefits",
            IntrospectSessionRequest {
                session_token: token,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!introspected.active);

    // Everything was audited, in a chain that holds.
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
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "REQUEST_PIN_ONLINE",
        "ACK_DELIVERY",
        "AUTHENTICATE",
        "COMPLETE_FIRST_ACCESS",
        "HOLD_APPLICATION",
        "LOGOUT",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    // The admin loads the registry and the delivery worker acknowledges on their own
    // account; the citizen does the rest.
    for event in &events {
        let expected = match event.action.as_str() {
            "ACK_DELIVERY" | "UPSERT_PERSON" => pb::ActorKind::Caller,
            _ => pb::ActorKind::Citizen,
        };
        assert_eq!(event.actor_kind(), expected, "{}", event.action);
    }
    for pair in events.windows(2) {
        assert!(pair[0].id < pair[1].id);
    }
    app.stop().await;
}
both_backends!(the_whole_journey_works_over_grpc);

async fn an_expired_pin_is_renewed_with_the_same_level(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let initial = obtain_initial_pin(&app).await;
    let Outcome::FirstAccessRequired(ticket) = authenticate(&app, &initial).await.unwrap() else {
        panic!("first access expected")
    };
    let mut auth = AuthenticationServiceClient::new(app.channel.clone());
    let done = auth
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            },
        ))
        .await
        .unwrap()
        .into_inner();

    // Still valid the day before it expires (183 days by default); renewal the day after.
    app.clock.advance(time::Duration::days(182));
    let Outcome::Session(_) = authenticate(&app, &done.new_pin).await.unwrap() else {
        panic!("the PIN is still valid")
    };
    app.clock.advance(time::Duration::days(2));
    let Outcome::RenewalRequired(renewal) = authenticate(&app, &done.new_pin).await.unwrap() else {
        panic!("renewal expected once the PIN has expired")
    };
    let renewed = auth
        .renew_expired_pin(as_role(
            "portal",
            RenewExpiredPinRequest {
                ticket: renewal.ticket,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(renewed.new_pin, done.new_pin);
    assert_eq!(
        renewed.session.unwrap().level(),
        pb::Level::Ordinary,
        "renewal keeps the level"
    );
    let Outcome::Session(session) = authenticate(&app, &renewed.new_pin).await.unwrap() else {
        panic!("the renewed PIN opens a session")
    };
    assert_eq!(session.level(), pb::Level::Ordinary);
    app.stop().await;
}
both_backends!(an_expired_pin_is_renewed_with_the_same_level);
