//! Following the durable event log from a cursor.
//!
//! A subscription reads the log in pages after its cursor and hands each event to a
//! bounded channel. When it has caught up it waits for a local commit that wrote events
//! (a signal, so a subscriber on the writing replica sees its event at once) or for the
//! next poll (events committed by other replicas). Writers never wait for subscribers: a
//! slow subscriber only slows its own reading. At shutdown the subscription ends and the
//! stream closes cleanly; the subscriber resumes from its last cursor, on any replica.

use std::time::Duration;

use pin_domain::EventKind;
use pin_store::repo::events::{self, StoredEvent};
use tokio::sync::mpsc;

use crate::{error::ServiceError, state::AppState};

/// How many events are read from the database at a time.
const PAGE: u64 = 256;

/// How many events may wait for a slow subscriber before reading pauses.
const BUFFER: usize = 64;

/// How often a caught-up subscription looks for events other replicas committed.
pub const POLL: Duration = Duration::from_millis(200);

/// Subscribes to events after `cursor`, of `kinds` (every kind when empty). The receiver
/// yields events in cursor order, each once; it ends at shutdown or after an error.
pub fn subscribe(
    state: AppState,
    cursor: i64,
    kinds: Vec<EventKind>,
) -> mpsc::Receiver<Result<StoredEvent, ServiceError>> {
    let (sender, receiver) = mpsc::channel(BUFFER);
    tokio::spawn(follow(state, cursor, kinds, sender));
    receiver
}

async fn follow(
    state: AppState,
    mut cursor: i64,
    kinds: Vec<EventKind>,
    sender: mpsc::Sender<Result<StoredEvent, ServiceError>>,
) {
    let mut written = state.events_written.subscribe();
    let mut shutdown = state.shutdown.clone();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Catch up.
        loop {
            let page = match events::after(&state.db, cursor, &kinds, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    let _ = sender.send(Err(error.into())).await;
                    return;
                }
            };
            let full = page.len() as u64 == PAGE;
            for event in page {
                cursor = event.cursor;
                let at = event.at;
                if sender.send(Ok(event)).await.is_err() {
                    return; // The subscriber went away.
                }
                let lag = (state.clock.now() - at).as_seconds_f64().max(0.0);
                crate::metrics::get().event_delivery_lag.record(lag, &[]);
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            _ = written.changed() => {}
            _ = poll.tick() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
            () = sender.closed() => return,
        }
    }
}
