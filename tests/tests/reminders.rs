//! The reminder job: reminders 14 and 3 days before a PIN expires, to the holder's proven
//! contacts, once per PIN and threshold while two replicas run the job; and the undelivered
//! messages of a revoked PIN cancelled with their secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pin_proto::v1::{
    self as pb, Channel, DeliveryPurpose, ListAuditEventsRequest, RevokeByContactCenterRequest,
    audit_service_client::AuditServiceClient, issuance_service_client::IssuanceServiceClient,
    revocation_service_client::RevocationServiceClient,
};
use pin_tests::{
    Backend, TestApp, TestDatabase, as_role, both_backends, by_operator,
    citizen::{MARIO, activated, import_registry, lease_all, mario_request},
    eventually, never_within, spawn_app_with, spawn_sharing,
};

/// The job runs every 50 ms; PINs last 20 days, so that moving the clock reaches both
/// thresholds.
const FAST_JOB: &[(&str, &str)] = &[
    ("PIN_REMINDERS__INTERVAL", "50ms"),
    ("PIN_POLICY__CITIZEN_PIN_LIFETIME", "20d"),
    ("PIN_POLICY__INTERMEDIARY_PIN_LIFETIME", "20d"),
];

/// Long enough for several runs of the job on every replica.
const SEVERAL_RUNS: Duration = Duration::from_millis(600);
/// How long a due reminder may take to appear.
const WITHIN: Duration = Duration::from_secs(5);

fn advance(apps: &[&TestApp], by: time::Duration) {
    for app in apps {
        app.clock.advance(by);
    }
}

/// The reminders queued since the last lease: notices by SMS to Mario's proven mobile.
async fn reminders(app: &TestApp) -> Vec<pb::Delivery> {
    let sms = lease_all(&app.channel, Channel::Sms).await;
    for delivery in &sms {
        assert_eq!(delivery.purpose(), DeliveryPurpose::Notice, "{delivery:?}");
        assert!(delivery.secret.is_empty());
        assert!(delivery.subject.contains("scadere"), "{delivery:?}");
    }
    sms
}

/// The next reminder, polled for; never two at once.
async fn next_reminder(app: &TestApp) -> pb::Delivery {
    eventually(WITHIN, "a reminder", async || {
        let mut queued = reminders(app).await;
        assert!(queued.len() <= 1, "{queued:?}");
        queued.pop()
    })
    .await
}

/// No reminder while the job runs again and again.
async fn no_reminder(app: &TestApp, what: &str) {
    never_within(SEVERAL_RUNS, what, async || {
        reminders(app).await.first().map(|d| format!("{d:?}"))
    })
    .await;
}

async fn audited_reminders(app: &TestApp) -> Vec<pb::AuditEvent> {
    AuditServiceClient::new(app.channel.clone())
        .list_audit_events(as_role(
            "admin",
            ListAuditEventsRequest {
                codice_fiscale: MARIO.into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .filter(|event| event.action == "REMIND_EXPIRY")
        .collect()
}

async fn reminders_go_once_per_threshold_while_two_replicas_run_the_job(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let one = spawn_sharing(&database.url, FAST_JOB).await;
    let two = spawn_sharing(&database.url, FAST_JOB).await;
    // Mario's PIN is set now and expires in 20 days; his mobile carried the first half,
    // so it is proven. His e-mail got a code at first access and stays unproven.
    activated(&one).await;
    assert_eq!(lease_all(&one.channel, Channel::Email).await.len(), 1);
    no_reminder(&one, "nothing is due yet").await;

    // 13 days 23 hours before the expiry: the 14-day reminder, once.
    advance(
        &[&one, &two],
        time::Duration::days(6) + time::Duration::hours(1),
    );
    let first = next_reminder(&one).await;
    assert_eq!(first.recipient, "+393471234567");
    assert!(
        lease_all(&one.channel, Channel::Email).await.is_empty(),
        "an unproven contact gets no reminder"
    );
    no_reminder(&one, "the 14-day reminder goes once").await;

    // Two days 23 hours before: the 3-day reminder, once.
    advance(&[&one, &two], time::Duration::days(11));
    next_reminder(&one).await;
    no_reminder(&one, "the 3-day reminder goes once").await;

    let audited = audited_reminders(&one).await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    // Expired: no more reminders; the holder renews at login.
    advance(&[&one, &two], time::Duration::days(4));
    no_reminder(&one, "an expired PIN gets no reminder").await;
    one.stop().await;
    two.stop().await;
    drop(database);
}
both_backends!(reminders_go_once_per_threshold_while_two_replicas_run_the_job);

async fn a_job_that_did_not_run_sends_only_the_most_urgent_reminder(backend: Backend) {
    let app = spawn_app_with(backend, FAST_JOB).await;
    activated(&app).await;
    lease_all(&app.channel, Channel::Email).await;
    // Straight to two days before the expiry: both thresholds have passed.
    app.clock.advance(time::Duration::days(18));
    next_reminder(&app).await;
    let audited = audited_reminders(&app).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    let threshold = audited[0]
        .details
        .get("threshold")
        .cloned()
        .unwrap_or_default();
    assert_eq!(threshold, "THREE_DAYS");
    app.stop().await;
}
both_backends!(a_job_that_did_not_run_sends_only_the_most_urgent_reminder);

async fn the_undelivered_halves_of_a_revoked_pin_are_cancelled(backend: Backend) {
    let app = spawn_app_with(backend, FAST_JOB).await;
    import_registry(&app).await;
    IssuanceServiceClient::new(app.channel.clone())
        .request_pin_online(as_role("portal", mario_request("req-1")))
        .await
        .unwrap();
    // The operator revokes the PIN before any half went out.
    RevocationServiceClient::new(app.channel.clone())
        .revoke_by_contact_center(by_operator(
            as_role(
                "contact_center",
                RevokeByContactCenterRequest {
                    request_id: "revoke-1".into(),
                    codice_fiscale: MARIO.into(),
                    reason: "the caller lost the letter".into(),
                },
            ),
            "cc.verdi",
        ))
        .await
        .unwrap();
    // Nothing outside the server shows that the job ran: give it several runs. Leasing
    // before then would take the halves out of the job's reach.
    tokio::time::sleep(SEVERAL_RUNS).await;
    assert!(lease_all(&app.channel, Channel::Sms).await.is_empty());
    assert!(lease_all(&app.channel, Channel::Post).await.is_empty());
    app.stop().await;
}
both_backends!(the_undelivered_halves_of_a_revoked_pin_are_cancelled);
