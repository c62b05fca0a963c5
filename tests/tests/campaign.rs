//! Campaign letters: a batch writes first halves to the registered people without a PIN;
//! each activates online with the half and the health card, and gets the second half once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    self as pb, ActivateCampaignPinRequest, Channel, CompleteFirstAccessRequest, HealthCard,
    IssueCampaignPinsRequest, LeaseDeliveriesRequest, authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    delivery_service_client::DeliveryServiceClient, issuance_service_client::IssuanceServiceClient,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends,
    citizen::{MARIO, authenticate, import_registry},
    spawn_app, spawn_app_with,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

const ANNA: &str = "BNCNNA50C55F205G";

async fn campaign(
    app: &TestApp,
    request_id: &str,
    people: &[&str],
) -> pb::IssueCampaignPinsResponse {
    IssuanceServiceClient::new(app.channel.clone())
        .issue_campaign_pins(as_role(
            "admin",
            IssueCampaignPinsRequest {
                request_id: request_id.into(),
                campaign_id: "2026-test".into(),
                codici_fiscali: people.iter().map(|cf| (*cf).to_owned()).collect(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn activate(
    app: &TestApp,
    request_id: &str,
    first_half: &str,
    card_number: &str,
) -> Result<pb::ActivateCampaignPinResponse, Status> {
    IssuanceServiceClient::new(app.channel.clone())
        .activate_campaign_pin(as_role(
            "portal",
            ActivateCampaignPinRequest {
                request_id: request_id.into(),
                codice_fiscale: MARIO.into(),
                first_half: first_half.into(),
                health_card: Some(HealthCard {
                    number: card_number.into(),
                    expiry: "2029-06-30".into(),
                }),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// The first half in the campaign letter to Mario, leased from the outbox.
async fn marios_first_half(app: &TestApp) -> String {
    let letters = DeliveryServiceClient::new(app.channel.clone())
        .lease_deliveries(as_role(
            "delivery",
            LeaseDeliveriesRequest {
                channel: Channel::Post.into(),
                max_deliveries: 10,
                lease_duration: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    let letter = letters
        .into_iter()
        .find(|letter| letter.recipient.starts_with("Mario Rossi"))
        .expect("a letter to Mario");
    assert_eq!(letter.purpose(), pb::DeliveryPurpose::PinFirstHalf);
    letter.secret
}

const MARIOS_CARD: &str = "80380000000000000001";
const SOMEONE_ELSES_CARD: &str = "80380000000000000002";

async fn a_campaign_letter_is_activated_with_the_health_card_then_first_access(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let people = [MARIO, ANNA, "XYZ", "VRDGPP13R10B293P", MARIO];
    let outcome = campaign(&app, "campaign-1", &people).await;
    assert_eq!(outcome.issued, 2);
    let skipped: Vec<(&str, &str)> = outcome
        .skipped
        .iter()
        .map(|s| (s.codice_fiscale.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("XYZ", "INVALID_CODICE_FISCALE"),
            ("VRDGPP13R10B293P", "NOT_IN_REGISTRY")
        ]
    );
    assert_eq!(campaign(&app, "campaign-1", &people).await, outcome);
    let again = campaign(&app, "campaign-2", &[MARIO]).await;
    assert_eq!(again.issued, 0);
    assert_eq!(again.skipped[0].reason, "PIN_ALREADY_ISSUED");

    // The letters carry the first halves.
    let first_half = marios_first_half(&app).await;

    // Someone else's card: the answer of a wrong PIN.
    let wrong = activate(&app, "act-0", &first_half, SOMEONE_ELSES_CARD)
        .await
        .unwrap_err();
    let wrong_pin = authenticate(&app, "AAAAAAAA").await.unwrap_err();
    assert_eq!(
        (wrong.code(), wrong.message(), wrong.details()),
        (wrong_pin.code(), wrong_pin.message(), wrong_pin.details())
    );

    // The right card: the second half, once.
    let activated = activate(&app, "act-1", &first_half, MARIOS_CARD)
        .await
        .unwrap();
    assert_eq!(activated.second_half.len(), 8);
    assert!(!activated.secret_withheld);
    let replay = activate(&app, "act-1", &first_half, MARIOS_CARD)
        .await
        .unwrap();
    assert!(replay.secret_withheld && replay.second_half.is_empty());
    // Activated once: the half does not work a second time.
    let twice = activate(&app, "act-2", &first_half, MARIOS_CARD)
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::Unauthenticated);

    // The two halves are the initial PIN: first access follows.
    let initial = format!("{first_half}{}", activated.second_half);
    let Outcome::FirstAccessRequired(ticket) = authenticate(&app, &initial).await.unwrap() else {
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
    assert_eq!(done.session.unwrap().level(), pb::Level::Ordinary);
    app.stop().await;
}
both_backends!(a_campaign_letter_is_activated_with_the_health_card_then_first_access);

async fn wrong_activation_data_counts_under_the_pin_lockout(backend: Backend) {
    let app = spawn_app_with(backend, &[("PIN_POLICY__MAX_FAILED_ATTEMPTS", "3")]).await;
    import_registry(&app).await;
    campaign(&app, "campaign-1", &[MARIO]).await;
    let first_half = marios_first_half(&app).await;
    for n in 0..3 {
        let refused = activate(&app, &format!("wrong-{n}"), &first_half, SOMEONE_ELSES_CARD)
            .await
            .unwrap_err();
        assert_eq!(
            refused.get_details_error_info().unwrap().reason,
            "AUTHENTICATION_FAILED"
        );
    }
    // Locked now: even the right card is refused, exactly as a wrong one.
    let locked = activate(&app, "right", &first_half, MARIOS_CARD)
        .await
        .unwrap_err();
    assert_eq!(
        locked.get_details_error_info().unwrap().reason,
        "AUTHENTICATION_FAILED"
    );
    app.stop().await;
}
both_backends!(wrong_activation_data_counts_under_the_pin_lockout);
