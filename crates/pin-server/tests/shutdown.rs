//! SIGTERM under load: health turns `NOT_SERVING` while calls are still accepted (the drain
//! window), every call the server accepted is answered, open streams (a health watch, an
//! event subscription) do not keep the process alive, and it exits within its bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use pin_proto::v1::{
    GetPersonRequest, SubscribeRequest, UpsertPersonsRequest,
    event_service_client::EventServiceClient, registry_service_client::RegistryServiceClient,
};
use pin_store::testing::{Backend, TestDatabase};
use support::{MARIO, authed, eventually, mario, start_with};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const DRAIN: Duration = Duration::from_secs(2);
const BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn sigterm_drains_answers_what_it_accepted_and_exits_within_its_bound() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let mut replica = start_with(
        &database.url,
        dir.path(),
        &[
            ("PIN_LIFECYCLE__DRAIN", "2s"),
            ("PIN_LIFECYCLE__SHUTDOWN_BOUND", "5s"),
        ],
    )
    .await;
    let channel = replica.channel();
    RegistryServiceClient::new(channel.clone())
        .upsert_persons(authed(tokio_stream::iter([UpsertPersonsRequest {
            person: Some(mario()),
        }])))
        .await
        .unwrap();

    // Two streams that never end by themselves.
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );
    let mut events = EventServiceClient::new(channel.clone())
        .subscribe(authed(SubscribeRequest {
            after_cursor: 0,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();

    // A burst of calls that goes on until the server is gone: each is answered, or
    // refused before the server took it (the connection is closed or refused).
    let running = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (channel, running, answered) = (channel.clone(), running.clone(), answered.clone());
            tokio::spawn(async move {
                let mut registry = RegistryServiceClient::new(channel);
                while running.load(Ordering::Relaxed) {
                    let call = registry
                        .get_person(authed(GetPersonRequest {
                            codice_fiscale: MARIO.into(),
                        }))
                        .await;
                    match call {
                        Ok(_) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        // Not taken by the server: the client's transport could not deliver
                        // it (the connection was closed or refused), never a server's answer.
                        Err(status)
                            if matches!(status.code(), Code::Unavailable | Code::Cancelled)
                                && std::error::Error::source(&status).is_some() => {}
                        Err(status) => panic!("a call got {status:?}"),
                    }
                }
            })
        })
        .collect();
    eventually(
        Duration::from_secs(5),
        "the burst is answered",
        async || (answered.load(Ordering::Relaxed) > 0).then_some(()),
    )
    .await;

    let terminated = Instant::now();
    replica.terminate();
    // Health says so first ...
    let status = tokio::time::timeout(Duration::from_secs(1), watch.message())
        .await
        .expect("the watch hears of the shutdown at once")
        .unwrap()
        .unwrap();
    assert_eq!(status.status(), ServingStatus::NotServing);
    // ... while calls are still taken, through the drain window.
    let before = answered.load(Ordering::Relaxed);
    eventually(
        DRAIN / 2,
        "calls are still answered during the drain",
        async || (answered.load(Ordering::Relaxed) > before).then_some(()),
    )
    .await;
    // The subscription ends cleanly once the drain is over.
    let ended = tokio::time::timeout(BOUND, async {
        while let Ok(Some(_)) = events.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "the event subscription ends");

    // The health watch ends too, so the process need not wait for its bound.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), watch.message())
            .await
            .is_ok_and(|next| !matches!(next, Ok(Some(_)))),
        "the health watch ends"
    );
    let exited = replica
        .exited_within(BOUND + Duration::from_secs(2))
        .await
        .expect("the process exits within its bound");
    assert!(
        terminated.elapsed() >= DRAIN,
        "the process drained before exiting ({exited:?})"
    );
    running.store(false, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    assert!(answered.load(Ordering::Relaxed) > 0);
    drop(watch);
}
