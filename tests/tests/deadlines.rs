//! Clients that stop waiting — a deadline of 1 to 100 ms, or a client that drops the call
//! after a few milliseconds — leave nothing half-written: a retry with the same request id
//! answers what was committed, every request has exactly its two deliveries, no login
//! keeps a place in the allowance, and the audit chain verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pin_domain::CodiceFiscale;
use pin_proto::v1::{
    self as pb, Applicant, AuthenticateRequest, Channel, ContactDetails, FirstHalfChannel,
    IssuanceOutcome, RequestPinOnlineRequest,
    authentication_service_client::AuthenticationServiceClient,
    issuance_service_client::IssuanceServiceClient,
};
use pin_store::{
    entity::delivery,
    repo::{audit, throttle},
};
use pin_tests::{
    Backend, as_role, both_backends,
    citizen::{import_registry, lease_all},
    eventually, sample_persons, spawn_app,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use tonic::Code;

/// An online request for `person` of the sample registry, as its holder would file it.
fn request_for(person: &pb::Person, request_id: &str) -> RequestPinOnlineRequest {
    RequestPinOnlineRequest {
        request_id: request_id.to_owned(),
        applicant: Some(Applicant {
            codice_fiscale: person.codice_fiscale.clone(),
            family_name: person.family_name.clone(),
            given_name: person.given_name.clone(),
            sex: person.sex,
            birth_date: person.birth_date.clone(),
            residence: person.residence.clone(),
            callback_phone: "06 1234 5678".into(),
            contacts: Some(ContactDetails {
                mobile: "347 123 4567".into(),
                ..Default::default()
            }),
            first_half_channel: FirstHalfChannel::Sms.into(),
        }),
    }
}

async fn calls_cut_short_leave_nothing_half_written(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let persons = sample_persons();

    // Every request cut by its client after 0 to 11 ms: some before the server saw them,
    // some while they ran, some after they committed.
    let calls: Vec<_> = persons
        .iter()
        .enumerate()
        .map(|(n, person)| {
            let mut client = IssuanceServiceClient::new(app.channel.clone());
            let request = as_role("portal", request_for(person, &format!("cut-{n}")));
            let patience = Duration::from_millis(n as u64);
            tokio::spawn(async move {
                tokio::time::timeout(patience, client.request_pin_online(request)).await
            })
        })
        .collect();
    for call in calls {
        if let Ok(answer) = call.await.unwrap() {
            answer.unwrap();
        }
    }
    let db = app.database.as_ref().unwrap().connect().await;
    let expected = 2 * persons.len() as u64;

    // A retry with the same request id answers what was committed, and files nothing new.
    let mut client = IssuanceServiceClient::new(app.channel.clone());
    for (n, person) in persons.iter().enumerate() {
        let answer = client
            .request_pin_online(as_role("portal", request_for(person, &format!("cut-{n}"))))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.outcome(), IssuanceOutcome::LetterComing);
    }
    assert_eq!(
        delivery::Entity::find().count(&db).await.unwrap(),
        expected,
        "two deliveries per request, no more, no fewer"
    );
    assert_eq!(
        lease_all(&app.channel, Channel::Sms).await.len(),
        persons.len()
    );

    // Logins cut short by deadlines from 1 ms (refused before any work) to 100 ms (cut
    // while verifying or writing): every place taken is given back, and the chain of what
    // was recorded is intact.
    let cf = persons[0].codice_fiscale.clone();
    let logins: Vec<_> = (0..40u64)
        .map(|n| {
            let mut client = AuthenticationServiceClient::new(app.channel.clone());
            let mut request = as_role(
                "portal",
                AuthenticateRequest {
                    codice_fiscale: cf.clone(),
                    pin: "ABCDEFGH".into(),
                },
            );
            request.set_timeout(Duration::from_millis(1 + n * 100 / 40));
            tokio::spawn(async move { client.authenticate(request).await })
        })
        .collect();
    for login in logins {
        let status = login.await.unwrap().unwrap_err();
        assert!(
            matches!(
                status.code(),
                Code::DeadlineExceeded
                    | Code::Cancelled
                    | Code::ResourceExhausted
                    | Code::Unauthenticated
            ),
            "{status:?}"
        );
    }
    let parsed = CodiceFiscale::parse(&cf).unwrap();
    eventually(
        Duration::from_secs(10),
        "every place given back",
        async || {
            let throttle = throttle::get(&db, &parsed).await.unwrap();
            (throttle.in_flight == 0).then_some(())
        },
    )
    .await;
    let report = audit::verify(&db).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    app.stop().await;
}
both_backends!(calls_cut_short_leave_nothing_half_written);
