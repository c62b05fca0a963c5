//! The event log on both backends: events read back as they were written, filtered by
//! kind, and — under concurrent writers — a reader following the log by cursor never
//! sees a later cursor before an earlier one has become visible.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{TestDatabase, both_backends};
use pin_domain::{
    CodiceFiscale, EventDetail, EventKind, PinEnd, ServiceId, SessionEnd, UpgradeVia,
};
use pin_store::{
    begin_write,
    repo::events::{self, StoredEvent},
};
use time::{OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00.123 UTC);

fn mario() -> CodiceFiscale {
    CodiceFiscale::parse("RSSMRA85T10A562S").unwrap()
}

async fn every_kind_reads_back_as_written_and_filters_by_kind(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let details = [
        EventDetail::ApplicationReleased {
            service: ServiceId::parse("naspi").unwrap(),
            reference: "NASPI-1".to_owned(),
            filed_at: T0,
        },
        EventDetail::LevelUpgraded {
            via: UpgradeVia::Office,
        },
        EventDetail::PinRevoked {
            via: PinEnd::Recovery,
        },
        EventDetail::SessionsEnded {
            count: 3,
            reason: SessionEnd::PinChanged,
        },
    ];
    let mut cursors = Vec::new();
    for detail in &details {
        let txn = begin_write(&db).await.unwrap();
        cursors.push(events::append(&txn, &mario(), detail, T0).await.unwrap());
        txn.commit().await.unwrap();
    }
    let all = events::after(&db, 0, &[], 100).await.unwrap();
    let expected: Vec<StoredEvent> = details
        .iter()
        .zip(&cursors)
        .map(|(detail, cursor)| StoredEvent {
            cursor: *cursor,
            cf: mario(),
            at: T0,
            detail: detail.clone(),
        })
        .collect();
    assert_eq!(all, expected);
    let revoked = events::after(&db, 0, &[EventKind::PinRevoked], 100)
        .await
        .unwrap();
    assert_eq!(revoked, vec![expected[2].clone()]);
    let later = events::after(&db, cursors[1], &[], 100).await.unwrap();
    assert_eq!(later, expected[2..].to_vec());
    assert_eq!(events::last_cursor(&db).await.unwrap(), cursors[3]);

    // An event rolled back with its change is never seen.
    let txn = begin_write(&db).await.unwrap();
    events::append(&txn, &mario(), &details[0], T0)
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(events::after(&db, cursors[3], &[], 100).await.unwrap(), []);
}
both_backends!(every_kind_reads_back_as_written_and_filters_by_kind);

async fn a_reader_following_cursors_misses_nothing_under_concurrent_writers(
    database: &TestDatabase,
) {
    // Writers on separate pools (as separate replicas), each event in a transaction that
    // lingers a little after appending, while a reader follows the log.
    let pools = [
        database.connect_migrated().await,
        database.connect().await,
        database.connect().await,
    ];
    const EVENTS: usize = 60;
    let writers = (0..EVENTS).map(|n| {
        let db = pools[n % pools.len()].clone();
        async move {
            let txn = begin_write(&db).await.unwrap();
            let detail = EventDetail::SessionsEnded {
                count: u32::try_from(n).unwrap(),
                reason: SessionEnd::Logout,
            };
            events::append(&txn, &mario(), &detail, T0).await.unwrap();
            tokio::task::yield_now().await;
            txn.commit().await.unwrap();
        }
    });
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (reader_db, reader_done) = (pools[0].clone(), done.clone());
    let reader = async move {
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut poll = tokio::time::interval(std::time::Duration::from_millis(1));
        loop {
            poll.tick().await;
            // Writers all committed before this read: it is the last one needed.
            let last = reader_done.load(std::sync::atomic::Ordering::Acquire);
            let page = events::after(&reader_db, cursor, &[], 7).await.unwrap();
            let empty = page.is_empty();
            for event in page {
                cursor = event.cursor;
                seen.push(event);
            }
            if last && empty {
                return seen;
            }
        }
    };
    let writing = async {
        futures::future::join_all(writers).await;
        done.store(true, std::sync::atomic::Ordering::Release);
    };
    let (seen, ()) = tokio::join!(reader, writing);
    let counts: BTreeSet<u32> = seen
        .iter()
        .map(|event| match event.detail {
            EventDetail::SessionsEnded { count, .. } => count,
            _ => u32::MAX,
        })
        .collect();
    // Every event was seen, once: had a later cursor become visible before an earlier
    // one, the reader would have moved past the earlier one and never seen it.
    assert_eq!(counts.len(), EVENTS);
    assert!(seen.windows(2).all(|pair| pair[0].cursor < pair[1].cursor));
}
both_backends!(a_reader_following_cursors_misses_nothing_under_concurrent_writers);
