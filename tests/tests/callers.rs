//! Caller authentication and roles, through the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    GetPersonRequest, ListAuditEventsRequest, RevokeByContactCenterRequest, UpsertPersonsRequest,
    audit_service_client::AuditServiceClient, registry_service_client::RegistryServiceClient,
    revocation_service_client::RevocationServiceClient,
};
use pin_tests::{Backend, as_role, both_backends, by_operator, spawn_app, with_token};
use tonic::{Code, Request};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

fn get(cf: &str) -> GetPersonRequest {
    GetPersonRequest {
        codice_fiscale: cf.into(),
    }
}

async fn calls_without_a_valid_token_are_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut registry = RegistryServiceClient::new(app.channel.clone());
    let cf = "RSSMRA85T10A562S";

    let none = registry
        .get_person(Request::new(get(cf)))
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);
    assert_eq!(
        none.get_details_error_info().unwrap().reason,
        "MISSING_CREDENTIALS"
    );

    let wrong = registry
        .get_person(with_token("not-a-caller", get(cf)))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(
        wrong.get_details_error_info().unwrap().reason,
        "INVALID_CREDENTIALS"
    );

    // A streaming RPC is refused before any record is read.
    let stream = tokio_stream::iter(vec![UpsertPersonsRequest { person: None }]);
    let refused = registry
        .upsert_persons(Request::new(stream))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    app.stop().await;
}
both_backends!(calls_without_a_valid_token_are_unauthenticated);

async fn a_role_not_allowed_is_permission_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut registry = RegistryServiceClient::new(app.channel.clone());
    let cf = "RSSMRA85T10A562S";
    for role in ["portal", "benefits", "delivery"] {
        let status = registry
            .get_person(as_role(role, get(cf)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "ROLE_NOT_ALLOWED"
        );
    }
    // Allowed roles get through to the handler, which answers NOT_FOUND here.
    for role in ["admin", "contact_center", "office", "back_office"] {
        let status = registry
            .get_person(as_role(role, get(cf)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{role}");
    }
    let mut audit = AuditServiceClient::new(app.channel.clone());
    let status = audit
        .list_audit_events(as_role("portal", ListAuditEventsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    app.stop().await;
}
both_backends!(a_role_not_allowed_is_permission_denied);

async fn operator_rpcs_need_the_operator_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut revocation = RevocationServiceClient::new(app.channel.clone());
    let request = || RevokeByContactCenterRequest {
        request_id: "r-1".into(),
        codice_fiscale: "RSSMRA85T10A562S".into(),
        reason: "caller asked".into(),
    };
    let status = revocation
        .revoke_by_contact_center(as_role("contact_center", request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "MISSING_OPERATOR_ID"
    );
    // With the operator named, the call passes the checks and reaches the service, which
    // answers for the person: nobody holds a PIN yet.
    let status = revocation
        .revoke_by_contact_center(by_operator(as_role("contact_center", request()), "op-17"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}
both_backends!(operator_rpcs_need_the_operator_id);

async fn health_answers_without_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut health = HealthClient::new(app.channel.clone());
    // Every service of the contract is built and says so.
    for service in [
        "",
        "inps.pin.v1.RegistryService",
        "inps.pin.v1.IssuanceService",
        "inps.pin.v1.CallbackService",
        "inps.pin.v1.AuthenticationService",
        "inps.pin.v1.AuthorizationService",
        "inps.pin.v1.UpgradeService",
        "inps.pin.v1.RecoveryService",
        "inps.pin.v1.ContactsService",
        "inps.pin.v1.RevocationService",
        "inps.pin.v1.DeliveryService",
        "inps.pin.v1.EventService",
        "inps.pin.v1.AuditService",
    ] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    // A name that is not a service of the contract is unknown.
    let status = health
        .check(HealthCheckRequest {
            service: "inps.pin.v1.NoSuchService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}
both_backends!(health_answers_without_a_token);
