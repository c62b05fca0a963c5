//! The event log as a subscriber sees it: events of the changes it follows, in cursor
//! order; a subscriber that does not read never holds up the writers; the stream ends
//! cleanly when the server shuts down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pin_proto::v1::{
    EventKind, LogoutRequest, SubscribeRequest,
    authentication_service_client::AuthenticationServiceClient,
    event_service_client::EventServiceClient, subscribe_response::Detail,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends,
    citizen::{activated, session},
    spawn_app,
};

async fn log_in_and_out(app: &TestApp, pin: &str, times: usize) {
    let mut auth = AuthenticationServiceClient::new(app.channel.clone());
    for _ in 0..times {
        let session_token = session(app, pin).await;
        auth.logout(as_role("portal", LogoutRequest { session_token }))
            .await
            .unwrap();
    }
}

async fn a_subscriber_that_never_reads_does_not_hold_up_writers_and_streams_end_at_shutdown(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let pin = activated(&app).await;
    let mut events = EventServiceClient::new(app.channel.clone());
    let subscribe = |after_cursor| {
        as_role(
            "benefits",
            SubscribeRequest {
                after_cursor,
                kinds: Vec::new(),
            },
        )
    };
    // This subscriber reads nothing while far more events are written than any buffer
    // between it and the log holds.
    let mut idle = events.subscribe(subscribe(0)).await.unwrap().into_inner();
    tokio::time::timeout(Duration::from_secs(120), log_in_and_out(&app, &pin, 150))
        .await
        .expect("writers are not held up by a subscriber that does not read");

    // Then it reads: every logout, in cursor order.
    let mut cursors = Vec::new();
    while cursors.len() < 150 {
        let event = idle.message().await.unwrap().unwrap();
        assert_eq!(event.kind(), EventKind::SessionsEnded);
        let Some(Detail::SessionsEnded(ended)) = &event.detail else {
            panic!("{event:?}")
        };
        assert_eq!(ended.reason, "LOGOUT");
        cursors.push(event.cursor);
    }
    assert!(cursors.windows(2).all(|pair| pair[0] < pair[1]));

    // A subscriber that is up to date waits for new events; at shutdown its stream ends
    // cleanly (OK), so it reconnects and resumes from its cursor.
    let mut live = events
        .subscribe(subscribe(*cursors.last().unwrap()))
        .await
        .unwrap()
        .into_inner();
    let stop = tokio::spawn(app.stop());
    let end = tokio::time::timeout(Duration::from_secs(20), live.message())
        .await
        .expect("the stream ends at shutdown");
    assert!(matches!(end, Ok(None)), "{end:?}");
    drop((idle, live));
    tokio::time::timeout(Duration::from_secs(20), stop)
        .await
        .expect("the server stops with subscribers connected")
        .unwrap();
}
both_backends!(a_subscriber_that_never_reads_does_not_hold_up_writers_and_streams_end_at_shutdown);
