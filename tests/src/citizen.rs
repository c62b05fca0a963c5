//! A citizen's first steps, shared by the black-box tests: the registry, an online
//! request for Mario Rossi, both halves read from the outbox, his logins.
#![allow(clippy::unwrap_used)]

use pin_proto::v1::{
    self as pb, AckDeliveryRequest, Applicant, AuthenticateRequest, Channel,
    CompleteFirstAccessRequest, ContactDetails, DeliveryResult, FirstHalfChannel, IssuanceOutcome,
    LeaseDeliveriesRequest, PostalAddress, RequestPinOnlineRequest, UpsertPersonsRequest,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    delivery_service_client::DeliveryServiceClient, issuance_service_client::IssuanceServiceClient,
    registry_service_client::RegistryServiceClient,
};
use tonic::transport::Channel as GrpcChannel;

use crate::{TestApp, as_role, sample_persons};

/// Mario Rossi's codice fiscale: the walk-through person of the sample registry.
pub const MARIO: &str = "RSSMRA85T10A562S";

pub async fn import_registry(app: &TestApp) {
    let mut registry = RegistryServiceClient::new(app.channel.clone());
    let records = sample_persons()
        .into_iter()
        .map(|p| UpsertPersonsRequest { person: Some(p) });
    let answer = registry
        .upsert_persons(as_role("admin", tokio_stream::iter(records)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.rejected_count, 0);
}

pub fn mario_request(request_id: &str) -> RequestPinOnlineRequest {
    RequestPinOnlineRequest {
        request_id: request_id.into(),
        applicant: Some(Applicant {
            codice_fiscale: MARIO.to_lowercase(),
            family_name: "ROSSI".into(),
            given_name: "Mario".into(),
            sex: pb::Sex::Male.into(),
            birth_date: "1985-12-10".into(),
            // Written differently from the registry ("Via Giuseppe Verdi", "10"): the
            // comparison is on the normalised form.
            residence: Some(PostalAddress {
                street: "VIA GIUSEPPE VERDI".into(),
                number: "010".into(),
                cap: "00184".into(),
                municipality: "roma".into(),
                province: "rm".into(),
            }),
            callback_phone: "06 1234 5678".into(),
            contacts: Some(ContactDetails {
                mobile: "347 123 4567".into(),
                email: "mario.rossi@example.org".into(),
                pec: String::new(),
            }),
            first_half_channel: FirstHalfChannel::Sms.into(),
        }),
    }
}

pub async fn lease_one(channel: &GrpcChannel, kind: Channel) -> pb::Delivery {
    let mut delivery = DeliveryServiceClient::new(channel.clone());
    let mut leased = delivery
        .lease_deliveries(as_role(
            "delivery",
            LeaseDeliveriesRequest {
                channel: kind.into(),
                max_deliveries: 10,
                lease_duration: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert_eq!(
        leased.len(),
        1,
        "one {kind:?} delivery expected: {leased:?}"
    );
    let item = leased.remove(0);
    delivery
        .ack_delivery(as_role(
            "delivery",
            AckDeliveryRequest {
                delivery_id: item.id.clone(),
                result: DeliveryResult::Sent.into(),
                failure_reason: String::new(),
            },
        ))
        .await
        .unwrap();
    item
}

/// Leases every pending delivery of `kind` (up to 100) and acknowledges each as sent.
pub async fn lease_all(channel: &GrpcChannel, kind: Channel) -> Vec<pb::Delivery> {
    let mut delivery = DeliveryServiceClient::new(channel.clone());
    let leased = delivery
        .lease_deliveries(as_role(
            "delivery",
            LeaseDeliveriesRequest {
                channel: kind.into(),
                max_deliveries: 100,
                lease_duration: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    for item in &leased {
        delivery
            .ack_delivery(as_role(
                "delivery",
                AckDeliveryRequest {
                    delivery_id: item.id.clone(),
                    result: DeliveryResult::Sent.into(),
                    failure_reason: String::new(),
                },
            ))
            .await
            .unwrap();
    }
    leased
}

/// Requests Mario's PIN online and reads both halves from the outbox: the 16 characters.
pub async fn obtain_initial_pin(app: &TestApp) -> String {
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    let answer = issuance
        .request_pin_online(as_role("portal", mario_request("req-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), IssuanceOutcome::LetterComing);
    assert!(answer.warnings.is_empty(), "two contacts were given");
    // A retry with the same request id returns the same answer and queues nothing new.
    let retry = issuance
        .request_pin_online(as_role("portal", mario_request("req-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, answer);

    let first = lease_one(&app.channel, Channel::Sms).await;
    assert_eq!(first.recipient, "+393471234567");
    assert_eq!(first.purpose(), pb::DeliveryPurpose::PinFirstHalf);
    let second = lease_one(&app.channel, Channel::Post).await;
    assert!(
        second.recipient.contains("Via Giuseppe Verdi 10"),
        "{}",
        second.recipient
    );
    assert!(second.body.contains(&second.secret));
    assert_eq!((first.secret.len(), second.secret.len()), (8, 8));
    format!("{}{}", first.secret, second.secret)
}

/// Mario logs in with `pin` through the portal.
pub async fn authenticate(app: &TestApp, pin: &str) -> Result<Outcome, tonic::Status> {
    let mut auth = AuthenticationServiceClient::new(app.channel.clone());
    auth.authenticate(as_role(
        "portal",
        AuthenticateRequest {
            codice_fiscale: MARIO.into(),
            pin: pin.into(),
        },
    ))
    .await
    .map(|answer| answer.into_inner().result.unwrap())
}

/// A session for Mario, who logs in with `pin`.
pub async fn session(app: &TestApp, pin: &str) -> String {
    match authenticate(app, pin).await.unwrap() {
        Outcome::Session(grant) => grant.session_token,
        other => panic!("a session expected, got {other:?}"),
    }
}

/// The registry, Mario's online request and his first access: his 8-character PIN.
pub async fn activated(app: &TestApp) -> String {
    import_registry(app).await;
    let initial = obtain_initial_pin(app).await;
    let Outcome::FirstAccessRequired(ticket) = authenticate(app, &initial).await.unwrap() else {
        panic!("first access expected")
    };
    let mut auth = AuthenticationServiceClient::new(app.channel.clone());
    auth.complete_first_access(as_role(
        "portal",
        CompleteFirstAccessRequest {
            ticket: ticket.ticket,
        },
    ))
    .await
    .unwrap()
    .into_inner()
    .new_pin
}
