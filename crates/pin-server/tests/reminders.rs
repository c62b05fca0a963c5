//! Two `pin-server` processes running the reminder job on one PostgreSQL database: each
//! reminder is queued once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use pin_proto::v1::{
    AckDeliveryRequest, Channel, DeliveryPurpose, DeliveryResult, LeaseDeliveriesRequest,
    delivery_service_client::DeliveryServiceClient,
};
use pin_store::testing::{Backend, TestDatabase};
use support::{authed, eventually, first_access, start_with};
use tonic::transport::Channel as GrpcChannel;

/// The job every 50 ms; PINs last 14 days, so a PIN set now is due its 14-day reminder.
const ENV: &[(&str, &str)] = &[
    ("PIN_REMINDERS__INTERVAL", "50ms"),
    ("PIN_POLICY__CITIZEN_PIN_LIFETIME", "14d"),
    ("PIN_POLICY__INTERMEDIARY_PIN_LIFETIME", "14d"),
];

/// The notices queued by SMS since the last lease, acknowledged.
async fn reminders(channel: &GrpcChannel) -> usize {
    let mut delivery = DeliveryServiceClient::new(channel.clone());
    let leased = delivery
        .lease_deliveries(authed(LeaseDeliveriesRequest {
            channel: Channel::Sms.into(),
            max_deliveries: 100,
            lease_duration: None,
        }))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    for item in &leased {
        assert_eq!(item.purpose(), DeliveryPurpose::Notice, "{item:?}");
        delivery
            .ack_delivery(authed(AckDeliveryRequest {
                delivery_id: item.id.clone(),
                result: DeliveryResult::Sent.into(),
                failure_reason: String::new(),
            }))
            .await
            .unwrap();
    }
    leased.len()
}

#[tokio::test]
async fn two_processes_running_the_job_queue_each_reminder_once() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let one = start_with(&database.url, dirs[0].path(), ENV).await;
    let two = start_with(&database.url, dirs[1].path(), ENV).await;
    first_access(&one.channel()).await;
    let queued = eventually(Duration::from_secs(10), "the reminder", async || {
        Some(reminders(&two.channel()).await).filter(|&n| n > 0)
    })
    .await;
    assert_eq!(queued, 1);
    // Both processes go on running the job, about twenty times a second: for a second,
    // nothing more is queued.
    let quiet_until = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < quiet_until {
        assert_eq!(reminders(&one.channel()).await, 0, "the reminder went once");
    }
}
