//! The office counter: a dispositive PIN handed over in person (with and without
//! substitution), and an ordinary PIN made dispositive in person, which releases the
//! applications held for its holder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    self as pb, Action, AuthorizeRequest, CompleteFirstAccessRequest, Decision, EventKind,
    IdentityDocument, IdentityDocumentKind, IntrospectSessionRequest, IssuePinAtOfficeRequest,
    SubscribeRequest, UpgradeAtOfficeRequest, authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    authorization_service_client::AuthorizationServiceClient,
    event_service_client::EventServiceClient, issuance_service_client::IssuanceServiceClient,
    subscribe_response::Detail, upgrade_service_client::UpgradeServiceClient,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends, by_operator,
    citizen::{MARIO, activated, authenticate, import_registry, session},
    spawn_app,
};
use sea_orm::EntityTrait;
use tonic::{Code, Status};
use tonic_types::StatusExt;

fn passport(expiry: &str) -> IdentityDocument {
    IdentityDocument {
        kind: IdentityDocumentKind::Passport.into(),
        number: "YA1234567".into(),
        issued_by: "Questura di Roma".into(),
        expiry: expiry.into(),
    }
}

fn office_request(request_id: &str, substitution: bool) -> IssuePinAtOfficeRequest {
    IssuePinAtOfficeRequest {
        request_id: request_id.into(),
        codice_fiscale: MARIO.into(),
        document: Some(passport("2035-06-30")),
        mv35_reference: "MV35/2026/0042".into(),
        substitution,
        contacts: None,
        office_code: "RM-EUR".into(),
    }
}

async fn issue(
    app: &TestApp,
    request: IssuePinAtOfficeRequest,
) -> Result<pb::IssuePinAtOfficeResponse, Status> {
    IssuanceServiceClient::new(app.channel.clone())
        .issue_pin_at_office(by_operator(as_role("office", request), "op.bianchi"))
        .await
        .map(tonic::Response::into_inner)
}

/// First access with a 16-character PIN: the 8-character PIN and its session.
async fn first_access(app: &TestApp, initial: &str) -> (String, pb::SessionGrant) {
    let Outcome::FirstAccessRequired(ticket) = authenticate(app, initial).await.unwrap() else {
        panic!("first access expected")
    };
    let done = AuthenticationServiceClient::new(app.channel.clone())
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    (done.new_pin, done.session.unwrap())
}

async fn is_active(app: &TestApp, session_token: &str) -> bool {
    AuthenticationServiceClient::new(app.channel.clone())
        .introspect_session(as_role(
            "portal",
            IntrospectSessionRequest {
                session_token: session_token.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .active
}

async fn a_pin_handed_over_at_the_counter_is_dispositive_and_shown_once(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let answer = issue(&app, office_request("counter-1", false))
        .await
        .unwrap();
    assert_eq!(answer.pin.len(), 16);
    assert!(!answer.secret_withheld);
    assert_eq!(answer.level(), pb::Level::Dispositive);
    assert!(!answer.replaced_previous);

    // The clerk's retry: nothing new is issued, and the PIN is not shown a second time.
    let again = issue(&app, office_request("counter-1", false))
        .await
        .unwrap();
    assert!(again.secret_withheld);
    assert!(again.pin.is_empty());
    assert_eq!(again.first_access_deadline, answer.first_access_deadline);
    let db = app.database.as_ref().unwrap().connect().await;
    let credentials = pin_store::entity::credential::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(credentials.len(), 1);
    let proofs = pin_store::entity::proofing_record::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(proofs.len(), 1);
    assert_eq!(
        (
            proofs[0].operator_id.as_deref(),
            proofs[0].office_code.as_deref(),
            proofs[0].mv35_reference.as_deref(),
            proofs[0].document_kind.as_str(),
        ),
        (
            Some("op.bianchi"),
            Some("RM-EUR"),
            Some("MV35/2026/0042"),
            "PASSPORT"
        )
    );

    // First access, then a dispositive session.
    let (_, session) = first_access(&app, &answer.pin).await;
    assert_eq!(session.level(), pb::Level::Dispositive);

    // Without substitution, a second PIN is refused with a reason the clerk can act on.
    let refused = issue(&app, office_request("counter-2", false))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(
        refused.get_details_error_info().unwrap().reason,
        "PIN_ALREADY_ISSUED"
    );
    app.stop().await;
}
both_backends!(a_pin_handed_over_at_the_counter_is_dispositive_and_shown_once);

async fn a_substitution_ends_the_old_pin_and_its_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let old_pin = activated(&app).await;
    let old_session = session(&app, &old_pin).await;
    let mut events = EventServiceClient::new(app.channel.clone())
        .subscribe(as_role("benefits", SubscribeRequest::default()))
        .await
        .unwrap()
        .into_inner();

    let answer = issue(&app, office_request("substitution", true))
        .await
        .unwrap();
    assert!(answer.replaced_previous);
    // The old PIN fails like any wrong PIN; its sessions are gone on every replica.
    let refused = authenticate(&app, &old_pin).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(!is_active(&app, &old_session).await);
    let revoked = events.message().await.unwrap().unwrap();
    let Some(Detail::PinRevoked(how)) = revoked.detail else {
        panic!("{revoked:?}")
    };
    assert_eq!(how.via, "OFFICE_SUBSTITUTION");
    let ended = events.message().await.unwrap().unwrap();
    let Some(Detail::SessionsEnded(ended)) = ended.detail else {
        panic!("{ended:?}")
    };
    assert_eq!((ended.count, ended.reason.as_str()), (2, "PIN_SUPERSEDED"));
    // The new PIN works.
    let (_, session) = first_access(&app, &answer.pin).await;
    assert_eq!(session.level(), pb::Level::Dispositive);
    app.stop().await;
}
both_backends!(a_substitution_ends_the_old_pin_and_its_sessions);

async fn counter_checks_are_refused_field_by_field(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let mut request = office_request("bad", false);
    request.document = Some(passport("2020-01-01"));
    request.mv35_reference = String::new();
    let status = issue(&app, request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["document.expiry", "mv35_reference"]);
    // Someone the registry does not know.
    let mut stranger = office_request("stranger", false);
    stranger.codice_fiscale = "VRDGPP13R10B293P".into();
    assert_eq!(
        issue(&app, stranger).await.unwrap_err().code(),
        Code::NotFound
    );
    // Without the operator's id.
    let anonymous = IssuanceServiceClient::new(app.channel.clone())
        .issue_pin_at_office(as_role("office", office_request("anon", false)))
        .await
        .unwrap_err();
    assert_eq!(
        anonymous.get_details_error_info().unwrap().reason,
        "MISSING_OPERATOR_ID"
    );
    app.stop().await;
}
both_backends!(counter_checks_are_refused_field_by_field);

async fn an_upgrade_at_the_counter_releases_every_held_application(backend: Backend) {
    let app = spawn_app(backend).await;
    let pin = activated(&app).await;
    let token = session(&app, &pin).await;
    let mut authz = AuthorizationServiceClient::new(app.channel.clone());
    let submit = |reference: &str| {
        as_role(
            "benefits",
            AuthorizeRequest {
                session_token: token.clone(),
                service_id: "naspi".into(),
                action: Action::Submit.into(),
                application_reference: reference.into(),
            },
        )
    };
    let mut filed = Vec::new();
    for reference in ["NASPI-1", "NASPI-2"] {
        let held = authz
            .authorize(submit(reference))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(held.decision(), Decision::Held);
        filed.push((reference.to_owned(), held.filed_at.unwrap()));
        app.clock.advance(time::Duration::minutes(5));
    }

    let mut upgrade = UpgradeServiceClient::new(app.channel.clone());
    let request = |request_id: &str| {
        by_operator(
            as_role(
                "office",
                UpgradeAtOfficeRequest {
                    request_id: request_id.into(),
                    codice_fiscale: MARIO.into(),
                    document: Some(passport("2035-06-30")),
                    mv35_reference: "MV35/2026/0043".into(),
                    office_code: "RM-EUR".into(),
                },
            ),
            "op.bianchi",
        )
    };
    let answer = upgrade
        .upgrade_at_office(request("upgrade-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.level(), pb::Level::Dispositive);
    assert_eq!(answer.released_applications, 2);
    // A retry answers the same; a new request finds nothing left to do.
    let again = upgrade
        .upgrade_at_office(request("upgrade-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, answer);
    let twice = upgrade
        .upgrade_at_office(request("upgrade-2"))
        .await
        .unwrap_err();
    assert_eq!(
        twice.get_details_error_info().unwrap().reason,
        "ALREADY_DISPOSITIVE"
    );

    // The session already open is dispositive now: the same application is allowed.
    let allowed = authz
        .authorize(submit("NASPI-3"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed.decision(), Decision::Allow);

    // Subscribers learn of both releases, with their original filing times, and the upgrade.
    let mut events = EventServiceClient::new(app.channel.clone())
        .subscribe(as_role(
            "benefits",
            SubscribeRequest {
                after_cursor: 0,
                kinds: vec![
                    EventKind::ApplicationReleased.into(),
                    EventKind::LevelUpgraded.into(),
                ],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut released = Vec::new();
    for _ in 0..2 {
        let event = events.message().await.unwrap().unwrap();
        let Some(Detail::ApplicationReleased(application)) = event.detail else {
            panic!("{event:?}")
        };
        assert_eq!(application.service_id, "naspi");
        released.push((
            application.application_reference,
            application.filed_at.unwrap(),
        ));
    }
    assert_eq!(released, filed);
    let upgraded = events.message().await.unwrap().unwrap();
    let Some(Detail::LevelUpgraded(how)) = upgraded.detail else {
        panic!("{upgraded:?}")
    };
    assert_eq!(how.via, "OFFICE");
    app.stop().await;
}
both_backends!(an_upgrade_at_the_counter_releases_every_held_application);

async fn a_clerk_clicking_twice_at_once_gets_one_pin_shown_once(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let calls = (0..6).map(|_| issue(&app, office_request("double-click", false)));
    let answers: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let shown: Vec<_> = answers.iter().filter(|a| !a.secret_withheld).collect();
    assert_eq!(shown.len(), 1, "{answers:?}");
    assert_eq!(shown[0].pin.len(), 16);
    for answer in &answers {
        assert_eq!(answer.first_access_deadline, shown[0].first_access_deadline);
        assert_eq!(answer.secret_withheld, answer.pin.is_empty());
    }
    let db = app.database.as_ref().unwrap().connect().await;
    let credentials = pin_store::entity::credential::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(credentials.len(), 1);
    app.stop().await;
}
both_backends!(a_clerk_clicking_twice_at_once_gets_one_pin_shown_once);
