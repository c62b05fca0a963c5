//! Online PIN requests and the outbox, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    AckDeliveryRequest, Channel, DeliveryResult, IssuanceOutcome, LeaseDeliveriesRequest,
    delivery_service_client::DeliveryServiceClient, issuance_service_client::IssuanceServiceClient,
};
use pin_tests::{
    Backend, as_role, both_backends,
    citizen::{import_registry, mario_request},
    spawn_app, spawn_app_with,
};
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

async fn a_second_request_is_refused_and_request_ids_are_not_reusable(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    let mut one_contact = mario_request("first");
    one_contact
        .applicant
        .as_mut()
        .unwrap()
        .contacts
        .as_mut()
        .unwrap()
        .email = String::new();
    let first = issuance
        .request_pin_online(as_role("portal", one_contact))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.warnings, vec!["FEWER_THAN_TWO_CONTACTS".to_owned()]);

    let again = issuance
        .request_pin_online(as_role("portal", mario_request("second")))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(
        again.get_details_error_info().unwrap().reason,
        "PIN_ALREADY_ISSUED"
    );

    // The first request id with a different request: refused, nothing created.
    let reused = issuance
        .request_pin_online(as_role("portal", mario_request("first")))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);
    app.stop().await;
}
both_backends!(a_second_request_is_refused_and_request_ids_are_not_reusable);

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
    // Once the lease has run out, it comes back (poll with a deadline).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(200));
    let again = loop {
        poll.tick().await;
        let leased = delivery
            .lease_deliveries(as_role("delivery", lease(60)))
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        if !leased.is_empty() {
            break leased;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
    };
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
    delivery
        .ack_delivery(as_role("delivery", failed.clone()))
        .await
        .unwrap();
    // Acknowledged once; a second acknowledgement is refused.
    assert_eq!(
        delivery
            .ack_delivery(as_role("delivery", failed))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );

    // The secret is erased and a callback case was opened, in the store.
    let db = app.database.as_ref().unwrap().connect().await;
    use sea_orm::EntityTrait;
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
    assert!(
        cases.iter().any(|c| c.reason == "DELIVERY_FAILED"),
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
    use sea_orm::EntityTrait;
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
    let app = spawn_app_with(backend, &[("PIN_POLICY__INITIAL_PIN_LIFETIME", "2s")]).await;
    import_registry(&app).await;
    let mut issuance = IssuanceServiceClient::new(app.channel.clone());
    issuance
        .request_pin_online(as_role("portal", mario_request("first")))
        .await
        .unwrap();
    // Until the initial PIN lapses, a new request is refused; then it is replaced.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(250));
    for attempt in 0.. {
        poll.tick().await;
        let request = mario_request(&format!("again-{attempt}"));
        match issuance
            .request_pin_online(as_role("portal", request))
            .await
        {
            Ok(answer) => {
                assert_eq!(answer.into_inner().outcome(), IssuanceOutcome::LetterComing);
                break;
            }
            Err(status) => {
                assert_eq!(
                    status.get_details_error_info().unwrap().reason,
                    "PIN_ALREADY_ISSUED"
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "the initial PIN never lapsed"
                );
            }
        }
    }
    app.stop().await;
}
both_backends!(a_lapsed_initial_pin_is_replaced_by_a_new_request);
