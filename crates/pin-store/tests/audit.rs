//! The audit trail on both backends: appends build a hash chain that verifies; edits and
//! removals are found; concurrent appends never fork the chain; an append commits or rolls
//! back with the transaction it is part of.
// In tests an unwrap is the assertion that the call succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{TestDatabase, both_backends};
use pin_domain::{AuditAction, AuditOutcome};
use pin_store::{
    begin_write,
    entity::audit_record,
    repo::audit::{
        self, ActorKind, AuditQuery, AuditRecord, ChainProblem, ChainReport, GENESIS_HASH,
        NewAuditRecord,
    },
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00.123 UTC);
const MARIO: &str = "RSSMRA85T10A562S";
const ANNA: &str = "BNCNNA50C55F205G";

/// A record labelled `label`: its action when the label names one, `AUTHENTICATE`
/// otherwise; the label also makes its request id, so records stay distinct.
fn record(at: OffsetDateTime, cf: Option<&str>, label: &str) -> NewAuditRecord {
    NewAuditRecord {
        at,
        caller_id: "backend-1".to_owned(),
        actor_kind: ActorKind::Citizen,
        actor_id: cf.unwrap_or("anonymous").to_owned(),
        action: AuditAction::parse(label).unwrap_or(AuditAction::Authenticate),
        cf: cf.map(str::to_owned),
        outcome: AuditOutcome::Ok,
        request_id: Some(format!("req-{label}")),
        details: BTreeMap::from([("channel".to_owned(), "web".to_owned())]),
    }
}

/// Appends `new` in a transaction of its own.
async fn append(db: &DatabaseConnection, new: &NewAuditRecord) -> AuditRecord {
    let txn = begin_write(db).await.unwrap();
    let stored = audit::append(&txn, new).await.unwrap();
    txn.commit().await.unwrap();
    stored
}

fn intact(records: u64) -> ChainReport {
    ChainReport {
        records,
        problems: Vec::new(),
    }
}

fn all() -> AuditQuery {
    AuditQuery {
        limit: 10_000,
        ..AuditQuery::default()
    }
}

async fn appended_records_form_a_chain_that_verifies(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    assert_eq!(audit::verify(&db).await.unwrap(), intact(0));

    let first = append(&db, &record(T0, Some(MARIO), "AUTHENTICATE")).await;
    let mut second_new = record(T0 + Duration::seconds(1), None, "UPSERT_PERSON");
    second_new.actor_kind = ActorKind::System;
    second_new.request_id = None;
    second_new.details = BTreeMap::new();
    let second = append(&db, &second_new).await;
    let mut third_new = record(T0 + Duration::seconds(2), Some(MARIO), "CHANGE_PIN");
    third_new.actor_kind = ActorKind::Operator;
    third_new.actor_id = "op-42".to_owned();
    third_new
        .details
        .insert("reason".to_owned(), "lost".to_owned());
    let third = append(&db, &third_new).await;

    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(third.prev_hash, second.hash);
    assert!(first.id < second.id && second.id < third.id);
    assert_eq!(
        audit::list(&db, &all()).await.unwrap(),
        vec![first, second, third]
    );
    assert_eq!(audit::verify(&db).await.unwrap(), intact(3));
}
both_backends!(appended_records_form_a_chain_that_verifies);

async fn the_hash_follows_the_documented_canonical_format(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    // Sub-millisecond digits are dropped: the record is stored and hashed to the ms.
    let at = T0 + Duration::microseconds(456);
    let mut new = record(at, Some(MARIO), "AUTHENTICATE");
    new.details
        .insert("note".to_owned(), "a \"quoted\"\nline, è".to_owned());
    let first = append(&db, &new).await;
    let expected = concat!(
        r#"["0000000000000000000000000000000000000000000000000000000000000000","#,
        r#"1795428000123,"backend-1","CITIZEN","RSSMRA85T10A562S","AUTHENTICATE","#,
        r#""RSSMRA85T10A562S","OK","req-AUTHENTICATE","#,
        r#"[["channel","web"],["note","a \"quoted\"\nline, è"]]]"#,
    );
    assert_eq!(first.hash, hex::encode(Sha256::digest(expected.as_bytes())));
    assert_eq!(first.at, T0);

    let mut second_new = record(T0, None, "UPSERT_PERSON");
    second_new.actor_kind = ActorKind::System;
    second_new.request_id = None;
    second_new.details = BTreeMap::new();
    let second = append(&db, &second_new).await;
    let expected = format!(
        r#"["{}",1795428000123,"backend-1","SYSTEM","anonymous","UPSERT_PERSON","","OK","",[]]"#,
        first.hash
    );
    assert_eq!(
        second.hash,
        hex::encode(Sha256::digest(expected.as_bytes()))
    );
}
both_backends!(the_hash_follows_the_documented_canonical_format);

async fn list_filters_by_cf_and_time_and_pages_by_id(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let at = |s: i64| T0 + Duration::seconds(s);
    let r0 = append(&db, &record(at(0), Some(MARIO), "A")).await;
    let r1 = append(&db, &record(at(1), Some(ANNA), "B")).await;
    let r2 = append(&db, &record(at(2), Some(MARIO), "C")).await;
    let r3 = append(&db, &record(at(3), None, "D")).await;
    let r4 = append(&db, &record(at(4), Some(MARIO), "E")).await;

    let mario = |after_id, limit| AuditQuery {
        cf: Some(MARIO.to_owned()),
        after_id,
        limit,
        ..AuditQuery::default()
    };
    assert_eq!(
        audit::list(&db, &mario(None, 100)).await.unwrap(),
        vec![r0.clone(), r2.clone(), r4.clone()]
    );

    // `from` is inclusive, `to` exclusive.
    let window = AuditQuery {
        from: Some(at(1)),
        to: Some(at(3)),
        limit: 100,
        ..AuditQuery::default()
    };
    assert_eq!(
        audit::list(&db, &window).await.unwrap(),
        vec![r1.clone(), r2.clone()]
    );
    let mario_window = AuditQuery {
        cf: Some(MARIO.to_owned()),
        ..window
    };
    assert_eq!(
        audit::list(&db, &mario_window).await.unwrap(),
        vec![r2.clone()]
    );

    // Keyset pagination: each page starts after the last id of the previous one.
    let page1 = audit::list(&db, &mario(None, 2)).await.unwrap();
    assert_eq!(page1, vec![r0.clone(), r2.clone()]);
    let page2 = audit::list(&db, &mario(Some(r2.id), 2)).await.unwrap();
    assert_eq!(page2, vec![r4.clone()]);
    let page3 = audit::list(&db, &mario(Some(r4.id), 2)).await.unwrap();
    assert!(page3.is_empty());

    let everything_after = AuditQuery {
        after_id: Some(r1.id),
        limit: 2,
        ..AuditQuery::default()
    };
    assert_eq!(
        audit::list(&db, &everything_after).await.unwrap(),
        vec![r2, r3]
    );
    assert!(
        audit::list(&db, &AuditQuery::default())
            .await
            .unwrap()
            .is_empty(),
        "limit 0 returns nothing"
    );
}
both_backends!(list_filters_by_cf_and_time_and_pages_by_id);

async fn an_edited_record_fails_verification_at_its_id(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let _first = append(&db, &record(T0, Some(MARIO), "AUTHENTICATE")).await;
    let second = append(&db, &record(T0, Some(MARIO), "CHANGE_PIN")).await;
    let _third = append(&db, &record(T0, Some(MARIO), "LOGOUT")).await;

    let updated = audit_record::Entity::update_many()
        .col_expr(audit_record::Column::Outcome, Expr::value("DENIED"))
        .filter(audit_record::Column::Id.eq(second.id))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 1);

    assert_eq!(
        audit::verify(&db).await.unwrap(),
        ChainReport {
            records: 3,
            problems: vec![ChainProblem::HashMismatch { id: second.id }],
        }
    );
}
both_backends!(an_edited_record_fails_verification_at_its_id);

async fn a_removed_record_breaks_the_link_of_the_next(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let first = append(&db, &record(T0, Some(MARIO), "AUTHENTICATE")).await;
    let second = append(&db, &record(T0, Some(MARIO), "CHANGE_PIN")).await;
    let third = append(&db, &record(T0, Some(MARIO), "LOGOUT")).await;

    audit_record::Entity::delete_by_id(second.id)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&db).await.unwrap(),
        ChainReport {
            records: 2,
            problems: vec![ChainProblem::BrokenLink { id: third.id }],
        }
    );

    // Removing the first record breaks the link to the genesis hash.
    audit_record::Entity::delete_by_id(first.id)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&db).await.unwrap(),
        ChainReport {
            records: 1,
            problems: vec![ChainProblem::BrokenLink { id: third.id }],
        }
    );
}
both_backends!(a_removed_record_breaks_the_link_of_the_next);

async fn a_chain_longer_than_a_page_verifies_across_pages(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let txn = begin_write(&db).await.unwrap();
    let mut stored = Vec::new();
    for n in 0..2005 {
        let new = record(T0 + Duration::milliseconds(n), Some(MARIO), "AUTHENTICATE");
        stored.push(audit::append(&txn, &new).await.unwrap());
    }
    txn.commit().await.unwrap();
    assert_eq!(audit::verify(&db).await.unwrap(), intact(2005));

    let edited = &stored[1500];
    audit_record::Entity::update_many()
        .col_expr(audit_record::Column::Action, Expr::value("LOGOUT"))
        .filter(audit_record::Column::Id.eq(edited.id))
        .exec(&db)
        .await
        .unwrap();
    // The first record of the second page follows the last of the first.
    audit_record::Entity::delete_by_id(stored[999].id)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&db).await.unwrap(),
        ChainReport {
            records: 2004,
            problems: vec![
                ChainProblem::BrokenLink {
                    id: stored[1000].id
                },
                ChainProblem::HashMismatch { id: edited.id },
            ],
        }
    );
}
both_backends!(a_chain_longer_than_a_page_verifies_across_pages);

async fn concurrent_appends_never_fork_the_chain(database: &TestDatabase) {
    // Several pooled connections, each append in a write transaction of its own.
    let db = database.connect_migrated().await;
    let appends = (0..20).map(|n| {
        let db = db.clone();
        async move {
            let txn = begin_write(&db).await.unwrap();
            let new = record(
                T0 + Duration::milliseconds(n),
                Some(MARIO),
                &format!("A{n}"),
            );
            let stored = audit::append(&txn, &new).await.unwrap();
            txn.commit().await.unwrap();
            stored
        }
    });
    let stored = futures::future::join_all(appends).await;
    assert_eq!(stored.len(), 20);

    let listed = audit::list(&db, &all()).await.unwrap();
    assert_eq!(listed.len(), 20);
    let prev_hashes: HashSet<&str> = listed.iter().map(|r| r.prev_hash.as_str()).collect();
    assert_eq!(prev_hashes.len(), 20, "two records share a predecessor");
    assert_eq!(audit::verify(&db).await.unwrap(), intact(20));
}
both_backends!(concurrent_appends_never_fork_the_chain);

async fn concurrent_appends_from_separate_pools_never_fork_the_chain(database: &TestDatabase) {
    // As from several processes: pools that share nothing but the database.
    let pools = [
        database.connect_migrated().await,
        database.connect().await,
        database.connect().await,
    ];
    let appends = (0..30).map(|n| {
        let db = pools[n % pools.len()].clone();
        async move {
            let txn = begin_write(&db).await.unwrap();
            let new = record(T0, Some(ANNA), &format!("P{n}"));
            let stored = audit::append(&txn, &new).await.unwrap();
            txn.commit().await.unwrap();
            stored
        }
    });
    futures::future::join_all(appends).await;

    let listed = audit::list(&pools[0], &all()).await.unwrap();
    let prev_hashes: HashSet<&str> = listed.iter().map(|r| r.prev_hash.as_str()).collect();
    assert_eq!(prev_hashes.len(), 30);
    assert_eq!(audit::verify(&pools[0]).await.unwrap(), intact(30));
}
both_backends!(concurrent_appends_from_separate_pools_never_fork_the_chain);

async fn an_append_rolled_back_with_its_transaction_leaves_no_record(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let txn = begin_write(&db).await.unwrap();
    let doomed = audit::append(&txn, &record(T0, Some(MARIO), "AUTHENTICATE"))
        .await
        .unwrap();
    txn.rollback().await.unwrap();

    assert!(audit::list(&db, &all()).await.unwrap().is_empty());
    assert_eq!(audit::verify(&db).await.unwrap(), intact(0));

    // The chain starts afresh, as if the rolled-back record never existed.
    let first = append(&db, &record(T0, Some(MARIO), "AUTHENTICATE")).await;
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(first.hash, doomed.hash);

    // Dropping an uncommitted transaction rolls it back too.
    {
        let txn = begin_write(&db).await.unwrap();
        audit::append(&txn, &record(T0, Some(MARIO), "LOGOUT"))
            .await
            .unwrap();
    }
    assert_eq!(audit::list(&db, &all()).await.unwrap(), vec![first]);
    assert_eq!(audit::verify(&db).await.unwrap(), intact(1));
}
both_backends!(an_append_rolled_back_with_its_transaction_leaves_no_record);
