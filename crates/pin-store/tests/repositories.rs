//! The repositories on both backends: registry upserts are idempotent and read back as
//! domain values; credential transitions are stored only over the version they were
//! decided from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestDatabase, both_backends};
use pin_domain::{
    AuditAction, AuditOutcome, BelfioreCode, CodiceFiscale, Credential, CredentialState, Event,
    HashParams, Holder, IssuedVia, Level, Person, PersonName, PinHasher, Policy, PolicySettings,
    RawPerson, RevocationReason, Sex,
};
use pin_store::entity::session;
use pin_store::{
    StoreError,
    repo::{
        audit::{self, ActorKind, NewAuditRecord},
        credentials,
        persons::{self, Upserted},
        sessions,
    },
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sea_orm::EntityTrait;
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00.123 UTC);

fn mario(street: &str) -> Person {
    Person::parse(&RawPerson {
        codice_fiscale: "RSSMRA85T10A562S",
        family_name: "Rossi",
        given_name: "Mario",
        sex: "M",
        birth_date: "1985-12-10",
        birth_place: "A562",
        street,
        street_number: "10",
        cap: "00184",
        municipality: "Roma",
        province: "RM",
        health_card_number: "80380000000000000001",
        health_card_expiry: "2029-06-30",
        categories: vec!["PRIVATE_SECTOR_WORKER", "SELF_EMPLOYED"],
    })
    .unwrap()
}

fn audit_record() -> NewAuditRecord {
    NewAuditRecord {
        at: T0,
        caller_id: "test".to_owned(),
        actor_kind: ActorKind::Caller,
        actor_id: "test".to_owned(),
        action: AuditAction::UpsertPerson,
        cf: None,
        outcome: AuditOutcome::Ok,
        request_id: None,
        details: Default::default(),
    }
}

async fn registry_upserts_are_idempotent_audited_and_read_back(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let person = mario("Via Giuseppe Verdi");
    let a = audit_record();
    assert_eq!(
        persons::upsert(&db, &person, T0, &a).await.unwrap(),
        Upserted::Inserted
    );
    assert_eq!(
        persons::upsert(&db, &person, T0, &a).await.unwrap(),
        Upserted::Unchanged
    );
    assert_eq!(
        persons::get(&db, &person.codice_fiscale).await.unwrap(),
        person
    );
    let moved = mario("Via Nazionale");
    assert_eq!(
        persons::upsert(&db, &moved, T0, &a).await.unwrap(),
        Upserted::Updated
    );
    assert_eq!(
        persons::get(&db, &person.codice_fiscale).await.unwrap(),
        moved
    );
    let query = audit::AuditQuery {
        limit: 10,
        ..Default::default()
    };
    let outcomes: Vec<String> = audit::list(&db, &query)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        outcomes,
        ["INSERTED", "UPDATED"],
        "an identical record is not a change"
    );
    let unknown = CodiceFiscale::parse("BNCNNA50C55F205G").unwrap();
    assert!(matches!(
        persons::get(&db, &unknown).await,
        Err(StoreError::NotFound { entity: "person" })
    ));
}
both_backends!(registry_upserts_are_idempotent_audited_and_read_back);

/// Mario Rossi born `days` days after 1 January 1950: a distinct, valid person per day.
fn mario_born_later(days: i64, street: &str) -> Person {
    let birth = time::macros::date!(1950 - 01 - 01) + Duration::days(days);
    let cf = CodiceFiscale::from_personal_data(
        &PersonName::parse("Rossi").unwrap(),
        &PersonName::parse("Mario").unwrap(),
        Sex::Male,
        birth,
        &BelfioreCode::parse("A562").unwrap(),
    );
    let birth_date = pin_domain::format_date(birth);
    Person::parse(&RawPerson {
        codice_fiscale: cf.as_str(),
        family_name: "Rossi",
        given_name: "Mario",
        sex: "M",
        birth_date: &birth_date,
        birth_place: "A562",
        street,
        street_number: "10",
        cap: "00184",
        municipality: "Roma",
        province: "RM",
        health_card_number: "80380000000000000001",
        health_card_expiry: "2029-06-30",
        categories: vec!["PRIVATE_SECTOR_WORKER"],
    })
    .unwrap()
}

async fn a_batch_upsert_stores_each_record_in_order_with_a_chained_audit(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let a = audit_record();
    // More than one statement's worth, one person sent twice unchanged, one changed within
    // the batch, one already stored and one already stored but changed.
    let stored = mario_born_later(5000, "Via Roma");
    let moved = mario_born_later(5001, "Via Roma");
    persons::upsert_many(&db, &[stored.clone(), moved.clone()], T0, &a)
        .await
        .unwrap();
    let mut batch: Vec<Person> = (0..1200).map(|d| mario_born_later(d, "Via Roma")).collect();
    batch.push(mario_born_later(7, "Via Roma"));
    batch.push(mario_born_later(8, "Via Nazionale"));
    batch.push(stored.clone());
    batch.push(mario_born_later(5001, "Via Nazionale"));
    let outcomes = persons::upsert_many(&db, &batch, T0, &a).await.unwrap();
    assert_eq!(outcomes.len(), batch.len());
    assert!(outcomes[..1200].iter().all(|o| *o == Upserted::Inserted));
    assert_eq!(
        outcomes[1200..],
        [
            Upserted::Unchanged,
            Upserted::Updated,
            Upserted::Unchanged,
            Upserted::Updated
        ]
    );
    assert_eq!(
        persons::get(&db, &batch[8].codice_fiscale).await.unwrap(),
        mario_born_later(8, "Via Nazionale"),
        "a person changed within the batch is stored as it ended up"
    );
    assert_eq!(
        persons::get(&db, &moved.codice_fiscale).await.unwrap(),
        mario_born_later(5001, "Via Nazionale")
    );
    let report = audit::verify(&db).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 2 + 1200 + 2, "one record per change");
    // The chain's order is the batch's order.
    let query = audit::AuditQuery {
        limit: 3,
        after_id: Some(2),
        ..Default::default()
    };
    let first: Vec<Option<String>> = audit::list(&db, &query)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.cf)
        .collect();
    let expected: Vec<Option<String>> = batch[..3]
        .iter()
        .map(|p| Some(p.codice_fiscale.as_str().to_owned()))
        .collect();
    assert_eq!(first, expected);
}
both_backends!(a_batch_upsert_stores_each_record_in_order_with_a_chained_audit);

fn policy() -> Policy {
    Policy::new(PolicySettings {
        max_failed_attempts: 5,
        lock_durations: vec![Duration::minutes(1)],
        citizen_pin_lifetime: Duration::days(183),
        intermediary_pin_lifetime: Duration::days(92),
        initial_pin_lifetime: Duration::days(90),
        ticket_lifetime: Duration::minutes(10),
        link_lifetime: Duration::hours(24),
        code_lifetime: Duration::minutes(15),
        session_idle_timeout: Duration::minutes(30),
        session_absolute_timeout: Duration::hours(8),
        recent_login_window: Duration::minutes(10),
        pin_history_depth: 5,
    })
    .unwrap()
}

fn initial_credential() -> Credential {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let params = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let hasher = PinHasher::new(params, &mut rng).unwrap();
    Credential {
        holder: Holder::Citizen,
        level: Level::Ordinary,
        issued_via: IssuedVia::Online,
        state: CredentialState::AwaitingFirstAccess {
            pin: hasher.hash("ABCDEFGHJKMNPQRS", &mut rng).unwrap(),
            issued_at: T0,
        },
    }
}

async fn credentials_round_trip_through_every_state(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let cf = CodiceFiscale::parse("RSSMRA85T10A562S").unwrap();
    let stored = credentials::insert(&db, &cf, &initial_credential(), T0)
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(credentials::get(&db, stored.id).await.unwrap(), stored);
    assert_eq!(
        credentials::find_current(&db, &cf).await.unwrap(),
        Some(stored.clone())
    );

    let upgraded = stored
        .credential
        .apply(Event::Upgrade, T0, &policy())
        .unwrap()
        .next;
    let stored = credentials::update(&db, &stored, &upgraded, T0)
        .await
        .unwrap();
    assert_eq!(credentials::get(&db, stored.id).await.unwrap(), stored);
    assert_eq!(stored.credential.level, Level::Dispositive);

    let later = T0 + Duration::seconds(1);
    let revoked = stored
        .credential
        .apply(
            Event::Revoke {
                reason: RevocationReason::ContactCenter,
            },
            later,
            &policy(),
        )
        .unwrap()
        .next;
    let stored = credentials::update(&db, &stored, &revoked, later)
        .await
        .unwrap();
    assert_eq!(credentials::get(&db, stored.id).await.unwrap(), stored);
    assert_eq!(credentials::find_current(&db, &cf).await.unwrap(), None);
}
both_backends!(credentials_round_trip_through_every_state);

async fn two_transitions_from_the_same_read_cannot_both_win(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let cf = CodiceFiscale::parse("RSSMRA85T10A562S").unwrap();
    let read = credentials::insert(&db, &cf, &initial_credential(), T0)
        .await
        .unwrap();
    let p = policy();
    let upgrade = read.credential.apply(Event::Upgrade, T0, &p).unwrap().next;
    let revoke = read
        .credential
        .apply(
            Event::Revoke {
                reason: RevocationReason::Online,
            },
            T0,
            &p,
        )
        .unwrap()
        .next;
    let (a, b) = tokio::join!(
        credentials::update(&db, &read, &upgrade, T0),
        credentials::update(&db, &read, &revoke, T0)
    );
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
    assert_eq!(
        wins, 1,
        "exactly one transition may be stored: {a:?} / {b:?}"
    );
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(
        loser,
        Err(StoreError::Conflict {
            entity: "credential"
        })
    ));
    assert_eq!(credentials::get(&db, read.id).await.unwrap().version, 2);
}
both_backends!(two_transitions_from_the_same_read_cannot_both_win);

async fn a_session_in_use_is_written_at_most_once_per_tenth_of_its_idle_timeout(
    database: &TestDatabase,
) {
    let db = database.connect_migrated().await;
    let cf = CodiceFiscale::parse("RSSMRA85T10A562S").unwrap();
    let credential = credentials::insert(&db, &cf, &initial_credential(), T0)
        .await
        .unwrap();
    let idle = Duration::minutes(30);
    let opened = sessions::create(
        &db,
        "token-hash",
        &cf,
        credential.id,
        Level::Ordinary,
        T0,
        idle,
        Duration::hours(8),
    )
    .await
    .unwrap();
    let last_seen = async || {
        session::Entity::find_by_id(opened.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at
    };
    let written_at_open = last_seen().await;

    // Used again within a tenth of the idle timeout: read, not written.
    let soon = T0 + Duration::minutes(2);
    let used = sessions::use_session(&db, "token-hash", soon, idle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.idle_expires_at, T0 + idle);
    assert_eq!(last_seen().await, written_at_open);

    // After a tenth of it: the idle timeout moves forward from this use.
    let later = T0 + Duration::minutes(3);
    let used = sessions::use_session(&db, "token-hash", later, idle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.idle_expires_at, later + idle);
    assert_ne!(last_seen().await, written_at_open);

    // Never later than the idle timeout after its last use.
    let end = later + idle;
    assert!(
        sessions::use_session(&db, "token-hash", end, idle)
            .await
            .unwrap()
            .is_none()
    );
}
both_backends!(a_session_in_use_is_written_at_most_once_per_tenth_of_its_idle_timeout);
