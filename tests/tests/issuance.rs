//! Online PIN requests and the outbox, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    AckDeliveryRequest, Channel, DeliveryResult, EventKind, IssuanceOutcome,
    LeaseDeliveriesRequest, SubscribeRequest, delivery_service_client::DeliveryServiceClient,
    event_service_client::EventServiceClient, issuance_service_client::IssuanceServiceClient,
    subscribe_response::Detail,
};
use pin_tests::{
    Backend, as_role, both_backends,
    citizen::{import_registry, mario_request},
    spawn_app, spawn_app_with,
};
use prost::Message;
use sea_orm::EntityTrait;
use tonic::Code;
use tonic_types::StatusExt;

async fn mismatched_and_unknown_applicants_get_the_same_callback_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());

    let mut moved = mario_request("moved");
    moved
        .applicant
        .as_mut()
        .unwrap()
        .residence
        .as_mut()
        .unwrap()
        .street = "Via Nazionale".into();
    let mismatch = issuance
        .request_pin_online(as_role("portal", moved))
        .await
        .unwrap()
        .into_inner();

    // A valid codice fiscale that agrees with its data but is not in the registry.
    let mut stranger = mario_request("stranger");
    let applicant = stranger.applicant.as_mut().unwrap();
    applicant.codice_fiscale = "VRDGPP13R10B293P".into();
    applicant.family_name = "Verdi".into();
    applicant.given_name = "Giuseppe".into();
    applicant.birth_date = "1913-10-10".into();
    let unknown = issuance
        .request_pin_online(as_role("portal", stranger))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(mismatch.outcome(), IssuanceOutcome::CallbackScheduled);
    assert_eq!(
        mismatch, unknown,
        "the answer does not say which check failed"
    );

    // Nothing was queued for delivery.
    let mut delivery = DeliveryServiceClient::new(app.channel.clone());
    for channel in [Channel::Sms, Channel::Post] {
        let leased = delivery
            .lease_deliveries(as_role(
                "delivery",
                LeaseDeliveriesRequest {
                    channel: channel.into(),
                    max_deliveries: 10,
                    lease_duration: None,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(leased.deliveries.is_empty());
    }
    app.stop().await;
}
both_backends!(mismatched_and_unknown_applicants_get_the_same_callback_answer);

async fn requests_are_checked_field_by_field_and_against_the_codice_fiscale(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    let mut request = mario_request("bad");
    let applicant = request.applicant.as_mut().unwrap();
    applicant.given_name = "Luigi".into();
    applicant.birth_date = "1985-02-30".into();
    applicant.contacts.as_mut().unwrap().mobile = String::new();
    let status = issuance
        .request_pin_online(as_role("portal", request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    for field in ["applicant.birth_date", "applicant.contacts.mobile"] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    // With a valid date, the given name is caught disagreeing with the codice fiscale.
    let mut request = mario_request("bad-2");
    request.applicant.as_mut().unwrap().given_name = "Luigi".into();
    let status = issuance
        .request_pin_online(as_role("portal", request))
        .await
        .unwrap_err();
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert!(
        violations.iter().any(|v| v.field == "applicant.given_name"),
        "{violations:?}"
    );
    app.stop().await;
}
both_backends!(requests_are_checked_field_by_field_and_against_the_codice_fiscale);

async fn a_request_in_a_holders_name_reveals_nothing_and_sends_the_holder_a_letter(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    let first = issuance
        .request_pin_online(as_role("portal", mario_request("first")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome(), IssuanceOutcome::LetterComing);

    // Someone else asks in Mario's name, with their own contacts: the same answer, byte
    // for byte, as Mario got as a new applicant.
    let mut impostor = mario_request("second");
    let contacts = impostor
        .applicant
        .as_mut()
        .unwrap()
        .contacts
        .as_mut()
        .unwrap();
    contacts.mobile = "+39 333 000 0000".into();
    contacts.email = "impostor@example.com".into();
    let again = issuance
        .request_pin_online(as_role("portal", impostor))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.encode_to_vec(), first.encode_to_vec());

    // Nothing was issued and the impostor's contacts were not stored; a letter with no
    // secret goes to Mario's registered residence.
    let db = app.database.as_ref().unwrap().connect().await;
    let credentials = pin_store::entity::credential::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(credentials.len(), 1);
    let contacts = pin_store::entity::contact::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert!(
        contacts
            .iter()
            .all(|c| !c.value.contains("impostor") && !c.value.contains("3330000000")),
        "{contacts:?}"
    );
    let notices: Vec<_> = pin_store::entity::delivery::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.purpose == "NOTICE")
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].channel, "POST");
    assert!(notices[0].recipient.contains("Via Giuseppe Verdi 10"));
    assert!(notices[0].body.contains("è già titolare di un PIN"));
    assert_eq!(notices[0].secret, None);

    // The first request id with a different request: refused, nothing created.
    let mut different = mario_request("first");
    different.applicant.as_mut().unwrap().callback_phone = "06 999 9999".into();
    let reused = issuance
        .request_pin_online(as_role("portal", different))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);
    assert_eq!(
        reused.get_details_error_info().unwrap().reason,
        "REQUEST_ID_REUSED"
    );
    app.stop().await;
}
both_backends!(a_request_in_a_holders_name_reveals_nothing_and_sends_the_holder_a_letter);

async fn leases_expire_and_a_failed_half_is_erased_and_called_back(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    issuance
        .request_pin_online(as_role("portal", mario_request("r")))
        .await
        .unwrap();
    let mut delivery = DeliveryServiceClient::new(app.channel.clone());
    let lease = |seconds: i64| LeaseDeliveriesRequest {
        channel: Channel::Post.into(),
        max_deliveries: 10,
        lease_duration: Some(prost_types::Duration { seconds, nanos: 0 }),
    };
    let first = delivery
        .lease_deliveries(as_role("delivery", lease(1)))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert_eq!(first.len(), 1);
    // While leased, no other worker gets it.
    let none = delivery
        .lease_deliveries(as_role("delivery", lease(1)))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert!(none.is_empty());
    // Once the lease has run out, it comes back.
    app.clock.advance(time::Duration::seconds(2));
    let again = delivery
        .lease_deliveries(as_role("delivery", lease(60)))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert_eq!(
        (again[0].id.clone(), again[0].attempt),
        (first[0].id.clone(), 2)
    );
    // A permanent failure needs its reason.
    let bad = AckDeliveryRequest {
        delivery_id: again[0].id.clone(),
        result: DeliveryResult::FailedPermanently.into(),
        failure_reason: String::new(),
    };
    assert_eq!(
        delivery
            .ack_delivery(as_role("delivery", bad))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let failed = AckDeliveryRequest {
        delivery_id: again[0].id.clone(),
        result: DeliveryResult::FailedPermanently.into(),
        failure_reason: "address unknown to the post office".into(),
    };
    let first_ack = delivery
        .ack_delivery(as_role("delivery", failed.clone()))
        .await
        .unwrap()
        .into_inner();
    // A worker that lost the answer acknowledges again: the same answer, nothing changes
    // (one callback case, one audit record).
    let second_ack = delivery
        .ack_delivery(as_role("delivery", failed.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first_ack, second_ack);
    // The other result is refused with a reason.
    let sent = AckDeliveryRequest {
        result: DeliveryResult::Sent.into(),
        failure_reason: String::new(),
        ..failed
    };
    let status = delivery
        .ack_delivery(as_role("delivery", sent))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "ALREADY_ACKNOWLEDGED"
    );

    // The secret is erased and a callback case was opened, in the store.
    let db = app.database.as_ref().unwrap().connect().await;
    let id: i64 = again[0].id.parse().unwrap();
    let row = pin_store::entity::delivery::Entity::find_by_id(id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.secret.as_deref()),
        ("FAILED", None)
    );
    let cases = pin_store::entity::callback_case::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(
        cases
            .iter()
            .filter(|c| c.reason == "DELIVERY_FAILED")
            .count(),
        1,
        "{cases:?}"
    );
    app.stop().await;
}
both_backends!(leases_expire_and_a_failed_half_is_erased_and_called_back);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_mailbox_writes_both_halves_and_erases_the_secrets() {
    let app = spawn_app_with(Backend::Sqlite, &[("PIN_MAILBOX__ENABLED", "true")]).await;
    import_registry(&app).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    issuance
        .request_pin_online(as_role("portal", mario_request("m")))
        .await
        .unwrap();
    let mailbox = app.data_dir().join("mailbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(100));
    let (sms, post) = loop {
        poll.tick().await;
        let read = |channel: &str| {
            std::fs::read_dir(mailbox.join(channel))
                .ok()
                .and_then(|mut entries| entries.next())
                .and_then(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        };
        if let (Some(sms), Some(post)) = (read("sms"), read("post")) {
            break (sms, post);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mailbox stayed empty"
        );
    };
    assert!(
        sms.contains("To: +393471234567") && sms.contains("prima parte"),
        "{sms}"
    );
    assert!(
        post.contains("Via Giuseppe Verdi 10") && post.contains("seconda parte"),
        "{post}"
    );
    // Delivered files are acknowledged: nothing is left to lease, no secret is left stored.
    let db = app.database.as_ref().unwrap().connect().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        poll.tick().await;
        let rows = pin_store::entity::delivery::Entity::find()
            .all(&db)
            .await
            .unwrap();
        if rows
            .iter()
            .all(|r| r.status == "SENT" && r.secret.is_none())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries were not acknowledged: {rows:?}"
        );
    }
    app.stop().await;
}

async fn a_lapsed_initial_pin_is_replaced_by_a_new_request(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    let mut events = EventServiceClient::new(app.channel.clone());
    issuance
        .request_pin_online(as_role("portal", mario_request("first")))
        .await
        .unwrap();
    let db = app.database.as_ref().unwrap().connect().await;
    let count = || async {
        pin_store::entity::credential::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .len()
    };
    // Before the initial PIN lapses (90 days by default) a new request issues nothing...
    app.clock.advance(time::Duration::days(89));
    issuance
        .request_pin_online(as_role("portal", mario_request("day-89")))
        .await
        .unwrap();
    assert_eq!(count().await, 1);
    // ...after, it replaces the lapsed one, and subscribers hear of it.
    app.clock.advance(time::Duration::days(2));
    let answer = issuance
        .request_pin_online(as_role("portal", mario_request("day-91")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), IssuanceOutcome::LetterComing);
    assert_eq!(count().await, 2);
    let mut stream = events
        .subscribe(as_role("benefits", SubscribeRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let event = stream.message().await.unwrap().unwrap();
    assert_eq!(event.kind(), EventKind::PinRevoked);
    assert_eq!(event.codice_fiscale, "RSSMRA85T10A562S");
    let Some(Detail::PinRevoked(revoked)) = event.detail else {
        panic!("{event:?}")
    };
    assert_eq!(revoked.via, "REPLACED");
    app.stop().await;
}
both_backends!(a_lapsed_initial_pin_is_replaced_by_a_new_request);
