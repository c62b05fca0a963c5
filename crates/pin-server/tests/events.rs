//! The durable event log across three `pin-server` processes on one PostgreSQL: while the
//! replicas commit events concurrently, a subscriber that drops its stream, sees its
//! server restarted, and resumes from its last cursor on the new process receives every
//! event exactly once, in cursor order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use pin_proto::v1::{
    AuthenticateRequest, EventKind, LogoutRequest, SubscribeRequest, SubscribeResponse,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    event_service_client::EventServiceClient, subscribe_response::Detail,
};
use pin_store::testing::TestDatabase;
use support::{MARIO, Replica, authed, first_access, start};
use tonic::{Streaming, transport::Channel};

const SESSIONS: usize = 30;

/// Opens a session for Mario with `pin` through `channel`.
async fn login(channel: &Channel, pin: &str) -> String {
    let mut auth = AuthenticationServiceClient::new(channel.clone());
    let answer = auth
        .authenticate(authed(AuthenticateRequest {
            codice_fiscale: MARIO.into(),
            pin: pin.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    match answer.result.unwrap() {
        Outcome::Session(session) => session.session_token,
        other => panic!("a session expected, got {other:?}"),
    }
}

async fn subscribe(channel: &Channel, after: u64) -> Streaming<SubscribeResponse> {
    EventServiceClient::new(channel.clone())
        .subscribe(authed(SubscribeRequest {
            after_cursor: after,
            kinds: vec![EventKind::SessionsEnded.into()],
        }))
        .await
        .unwrap()
        .into_inner()
}

/// Reads events until `received` holds `until` of them, with a deadline.
async fn read(stream: &mut Streaming<SubscribeResponse>, received: &mut Vec<u64>, until: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < until {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, stream.message())
            .await
            .expect("events arrive in time")
            .unwrap()
            .expect("the stream stays open");
        assert_eq!(event.kind(), EventKind::SessionsEnded);
        assert_eq!(event.codice_fiscale, MARIO);
        let Some(Detail::SessionsEnded(ended)) = event.detail else {
            panic!("{event:?}")
        };
        assert_eq!((ended.count, ended.reason.as_str()), (1, "LOGOUT"));
        received.push(event.cursor);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_resuming_across_a_restart_gets_every_event_once_in_order() {
    let database = TestDatabase::postgres().await;
    drop(database.connect_migrated().await);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut replicas: Vec<Replica> = Vec::new();
    for dir in &dirs {
        replicas.push(start(&database.url, dir.path()).await);
    }
    let pin = first_access(&replicas[0].channel()).await;
    let mut sessions = Vec::new();
    for n in 0..SESSIONS {
        sessions.push(login(&replicas[n % 3].channel(), &pin).await);
    }

    // Subscribe on replica 0, then log every session out, spread over the three replicas
    // and all at once.
    let mut stream = subscribe(&replicas[0].channel(), 0).await;
    let (mut on_first, mut on_others) = (Vec::new(), Vec::new());
    for (n, session_token) in sessions.into_iter().enumerate() {
        let mut auth = AuthenticationServiceClient::new(replicas[n % 3].channel());
        let logout = tokio::spawn(async move {
            auth.logout(authed(LogoutRequest { session_token }))
                .await
                .unwrap();
        });
        if n % 3 == 0 {
            on_first.push(logout);
        } else {
            on_others.push(logout);
        }
    }

    let mut received = Vec::new();
    read(&mut stream, &mut received, SESSIONS / 3).await;
    // The subscriber goes away and its server is restarted (killed) while the other
    // replicas may still be committing; what it was answering finishes first.
    drop(stream);
    for logout in on_first {
        logout.await.unwrap();
    }
    let restarted = std::mem::replace(&mut replicas[0], start(&database.url, dirs[0].path()).await);
    drop(restarted);
    let last = *received.last().unwrap();
    let mut stream = subscribe(&replicas[0].channel(), last).await;
    for logout in on_others {
        logout.await.unwrap();
    }
    read(&mut stream, &mut received, SESSIONS).await;

    // Exactly once, in cursor order, and nothing more is pending.
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "{received:?}"
    );
    assert_eq!(
        received.iter().collect::<BTreeSet<_>>().len(),
        SESSIONS,
        "{received:?}"
    );
    let extra = tokio::time::timeout(Duration::from_millis(600), stream.message()).await;
    assert!(extra.is_err(), "an event arrived twice: {extra:?}");
}
