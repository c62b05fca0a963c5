//! Every refusal of every implemented RPC carries a `google.rpc.ErrorInfo` with a reason
//! (domain `pin.inps.it`), so a client can act on it without parsing messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    self as pb, audit_service_client::AuditServiceClient,
    authentication_service_client::AuthenticationServiceClient,
    authorization_service_client::AuthorizationServiceClient,
    delivery_service_client::DeliveryServiceClient, event_service_client::EventServiceClient,
    issuance_service_client::IssuanceServiceClient, registry_service_client::RegistryServiceClient,
    upgrade_service_client::UpgradeServiceClient,
};
use pin_tests::{
    Backend, as_role, both_backends,
    citizen::{import_registry, mario_request},
    spawn_app, with_token,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// A well-formed token nobody was given.
const TICKET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The refusal's code and ErrorInfo reason; fails if it has no ErrorInfo of ours.
#[track_caller]
fn refusal<T: std::fmt::Debug>(result: Result<T, Status>) -> (Code, String) {
    let status = result.expect_err("a refusal");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.domain, "pin.inps.it", "{status:?}");
    assert!(!info.reason.is_empty(), "{status:?}");
    (status.code(), info.reason)
}

#[track_caller]
fn check<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, reason: &str) {
    assert_eq!(refusal(result), (code, reason.to_owned()));
}

async fn every_refusal_carries_error_info(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let channel = app.channel.clone();
    let mut registry = RegistryServiceClient::new(channel.clone());
    let mut issuance = IssuanceServiceClient::new(channel.clone());
    let mut auth = AuthenticationServiceClient::new(channel.clone());
    let mut authz = AuthorizationServiceClient::new(channel.clone());
    let mut delivery = DeliveryServiceClient::new(channel.clone());
    let mut audit = AuditServiceClient::new(channel.clone());
    let mut events = EventServiceClient::new(channel.clone());
    use Code::*;

    // The caller itself.
    let get = |cf: &str| pb::GetPersonRequest {
        codice_fiscale: cf.into(),
    };
    check(
        registry
            .get_person(tonic::Request::new(get("RSSMRA85T10A562S")))
            .await,
        Unauthenticated,
        "MISSING_CREDENTIALS",
    );
    check(
        registry
            .get_person(with_token("nobody", get("RSSMRA85T10A562S")))
            .await,
        Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    check(
        registry
            .get_person(as_role("delivery", get("RSSMRA85T10A562S")))
            .await,
        PermissionDenied,
        "ROLE_NOT_ALLOWED",
    );
    check(
        issuance
            .request_pin_by_contact_center(as_role(
                "contact_center",
                pb::RequestPinByContactCenterRequest::default(),
            ))
            .await,
        Unauthenticated,
        "MISSING_OPERATOR_ID",
    );

    // RegistryService.
    check(
        registry
            .get_person(as_role("admin", get("RSSMRA85T10A562X")))
            .await,
        InvalidArgument,
        "INVALID_ARGUMENT",
    );
    check(
        registry
            .get_person(as_role("admin", get("VRDGPP13R10B293P")))
            .await,
        NotFound,
        "NOT_FOUND",
    );

    // IssuanceService.
    check(
        issuance
            .request_pin_online(as_role(
                "portal",
                pb::RequestPinOnlineRequest {
                    request_id: "x".into(),
                    applicant: None,
                },
            ))
            .await,
        InvalidArgument,
        "INVALID_ARGUMENT",
    );
    issuance
        .request_pin_online(as_role("portal", mario_request("once")))
        .await
        .unwrap();
    let mut other = mario_request("once");
    other.applicant.as_mut().unwrap().callback_phone = "06 000 0000".into();
    check(
        issuance.request_pin_online(as_role("portal", other)).await,
        AlreadyExists,
        "REQUEST_ID_REUSED",
    );

    // AuthenticationService.
    let login = |pin: &str| pb::AuthenticateRequest {
        codice_fiscale: "RSSMRA85T10A562S".into(),
        pin: pin.into(),
    };
    check(
        auth.authenticate(as_role("portal", login("AAAAAAAA")))
            .await,
        Unauthenticated,
        "AUTHENTICATION_FAILED",
    );
    check(
        auth.authenticate(as_role("portal", login("0"))).await,
        InvalidArgument,
        "INVALID_ARGUMENT",
    );
    check(
        auth.complete_first_access(as_role(
            "portal",
            pb::CompleteFirstAccessRequest {
                ticket: TICKET.into(),
            },
        ))
        .await,
        FailedPrecondition,
        "TICKET_INVALID",
    );
    check(
        auth.renew_expired_pin(as_role(
            "portal",
            pb::RenewExpiredPinRequest {
                ticket: "not a ticket".into(),
            },
        ))
        .await,
        InvalidArgument,
        "INVALID_ARGUMENT",
    );
    check(
        auth.change_pin(as_role(
            "portal",
            pb::ChangePinRequest {
                session_token: TICKET.into(),
                current_pin: "AAAAAAAA".into(),
                new_pin: "BBBBBBBB".into(),
            },
        ))
        .await,
        Unauthenticated,
        "SESSION_INVALID",
    );

    // AuthorizationService.
    check(
        authz
            .list_entitled_services(as_role(
                "portal",
                pb::ListEntitledServicesRequest {
                    session_token: TICKET.into(),
                },
            ))
            .await,
        Unauthenticated,
        "SESSION_INVALID",
    );
    check(
        authz
            .authorize(as_role(
                "benefits",
                pb::AuthorizeRequest {
                    session_token: TICKET.into(),
                    service_id: "no-such-service".into(),
                    action: pb::Action::Consult.into(),
                    application_reference: String::new(),
                },
            ))
            .await,
        NotFound,
        "NOT_FOUND",
    );

    // DeliveryService.
    check(
        delivery
            .lease_deliveries(as_role("delivery", pb::LeaseDeliveriesRequest::default()))
            .await,
        InvalidArgument,
        "INVALID_ARGUMENT",
    );
    check(
        delivery
            .ack_delivery(as_role(
                "delivery",
                pb::AckDeliveryRequest {
                    delivery_id: "999999".into(),
                    result: pb::DeliveryResult::Sent.into(),
                    failure_reason: String::new(),
                },
            ))
            .await,
        NotFound,
        "NOT_FOUND",
    );

    // UpgradeService: someone holding no PIN cannot be upgraded.
    check(
        UpgradeServiceClient::new(channel.clone())
            .upgrade_at_office(pin_tests::by_operator(
                as_role(
                    "office",
                    pb::UpgradeAtOfficeRequest {
                        request_id: "upgrade".into(),
                        codice_fiscale: "VRDGPP13R10B293P".into(),
                        document: Some(pb::IdentityDocument {
                            kind: pb::IdentityDocumentKind::IdentityCard.into(),
                            number: "CA12345AB".into(),
                            issued_by: "Comune di Roma".into(),
                            expiry: "2035-01-01".into(),
                        }),
                        mv35_reference: "MV35-1".into(),
                        office_code: "RM-EUR".into(),
                    },
                ),
                "op.rossi",
            ))
            .await,
        FailedPrecondition,
        "NO_LIVE_PIN",
    );

    // AuditService and EventService.
    check(
        audit
            .list_audit_events(as_role(
                "admin",
                pb::ListAuditEventsRequest {
                    page_size: 5000,
                    ..Default::default()
                },
            ))
            .await,
        InvalidArgument,
        "INVALID_ARGUMENT",
    );
    check(
        events
            .subscribe(as_role(
                "benefits",
                pb::SubscribeRequest {
                    after_cursor: 0,
                    kinds: vec![99],
                },
            ))
            .await,
        InvalidArgument,
        "INVALID_ARGUMENT",
    );
    app.stop().await;
}
both_backends!(every_refusal_carries_error_info);

async fn a_database_out_of_reach_is_unavailable_with_retry_info_and_comes_back() {
    let app = pin_tests::spawn_app_with(
        Backend::Postgres,
        &[("PIN_DATABASE__ACQUIRE_TIMEOUT", "1s")],
    )
    .await;
    import_registry(&app).await;
    let database = app.database.as_ref().unwrap();
    let mut registry = RegistryServiceClient::new(app.channel.clone());
    let get = || {
        as_role(
            "admin",
            pb::GetPersonRequest {
                codice_fiscale: "RSSMRA85T10A562S".into(),
            },
        )
    };
    assert!(database.set_reachable(false).await);
    // Pooled connections are dead and no new one can be made: never INTERNAL.
    for _ in 0..3 {
        let status = registry.get_person(get()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.get_details_retry_info().is_some(), "{status:?}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "DATABASE_UNAVAILABLE"
        );
    }
    assert!(database.set_reachable(true).await);
    // Back without a restart (a pooled connection may still be found dead once).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        poll.tick().await;
        match registry.get_person(get()).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(std::time::Instant::now() < deadline, "never came back");
            }
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_out_of_reach_is_unavailable() {
    a_database_out_of_reach_is_unavailable_with_retry_info_and_comes_back().await;
}
