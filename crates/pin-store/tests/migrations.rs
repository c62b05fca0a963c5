//! The schema: it migrates, every table stores and returns a full row, the unique keys
//! hold, and version-checked updates let exactly one of two racing writers through.
// In tests an unwrap is the assertion that the call succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Debug;

use common::{Backend, TestDatabase, both_backends};
use pin_store::entity::{
    audit_record, callback_case, contact, credential, delivery, event, expiry_reminder,
    held_application, idempotency_key, login_throttle, one_time_link, person, pin_history, session,
    ticket, upgrade_request, verification_code,
};
use pin_store::{Migrator, StoreError, is_unique_violation};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, ExprTrait, IntoActiveModel, Iterable, ModelTrait, PaginatorTrait,
    PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, Statement,
};
use sea_orm_migration::MigratorTrait;

/// 2026-11-23T10:00:00Z in Unix milliseconds: beyond `i32`, so a column that is not
/// `BIGINT` on PostgreSQL fails to store it.
const T0: i64 = 1_795_428_000_000;
const CF: &str = "RSSMRA80A01H501U";

async fn table_names(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

async fn the_migration_applies_once_and_then_has_nothing_to_do(database: &TestDatabase) {
    let db = database.connect().await;
    assert!(table_names(&db).await.is_empty());

    pin_store::migrate(&db).await.unwrap();
    pin_store::migrate(&db).await.unwrap();

    let mut expected = vec![
        "audit_records",
        "callback_cases",
        "contacts",
        "credentials",
        "deliveries",
        "events",
        "expiry_reminders",
        "held_applications",
        "idempotency_keys",
        "login_throttle",
        "one_time_links",
        "persons",
        "pin_history",
        "proofing_records",
        "seaql_migrations",
        "sessions",
        "tickets",
        "upgrade_requests",
        "verification_codes",
    ];
    expected.sort_unstable();
    assert_eq!(table_names(&db).await, expected);
    let applied = Migrator::get_applied_migrations(&db).await.unwrap();
    let names: Vec<&str> = applied.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        [
            "m20261123_000001_initial",
            "m20261202_000001_proofing",
            "m20261203_000001_callback_phone",
            "m20261203_000002_expiry_reminders",
            "m20261203_000003_audit_caller_index",
            "m20261203_000004_throttle_in_flight"
        ]
    );
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
}
both_backends!(the_migration_applies_once_and_then_has_nothing_to_do);

async fn two_processes_can_migrate_at_the_same_time(database: &TestDatabase) {
    let first = database.connect().await;
    let second = database.connect().await;

    let (a, b) = tokio::join!(pin_store::migrate(&first), pin_store::migrate(&second));
    a.unwrap();
    b.unwrap();

    assert_eq!(
        Migrator::get_applied_migrations(&first)
            .await
            .unwrap()
            .len(),
        Migrator::migrations().len()
    );
}
both_backends!(two_processes_can_migrate_at_the_same_time);

async fn connections_are_configured_for_the_backend(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    assert_eq!(
        pin_store::backend_name(&db),
        match database.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    if database.backend == Backend::Sqlite {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "PRAGMA journal_mode",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "wal");
    }

    // A PIN history row must point at a credential; SQLite checks only with foreign_keys=ON.
    let orphan = pin_history::ActiveModel {
        credential_id: sea_orm::Set(999),
        cf: sea_orm::Set(CF.to_owned()),
        pin_hash: sea_orm::Set("$argon2id$orphan".to_owned()),
        set_at: sea_orm::Set(T0),
        ..Default::default()
    };
    let err = orphan.insert(&db).await.unwrap_err();
    assert!(
        matches!(
            err.sql_err(),
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
        ),
        "{err:?}"
    );
}
both_backends!(connections_are_configured_for_the_backend);

/// Inserts `expected` through its ActiveModel (letting the database assign an
/// auto-increment key) and checks that both the insert and a fresh select by primary key
/// return exactly it.
async fn round_trip<E>(db: &DatabaseConnection, mut expected: E::Model) -> E::Model
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + PartialEq + Debug,
    E::ActiveModel: ActiveModelBehavior + Send,
{
    let auto_increment = <E::PrimaryKey as PrimaryKeyTrait>::auto_increment();
    let mut active = expected.clone().into_active_model();
    if auto_increment {
        for key in E::PrimaryKey::iter() {
            active.not_set(key.into_column());
        }
    }
    let inserted = active.insert(db).await.unwrap();
    if auto_increment {
        for key in E::PrimaryKey::iter() {
            let column = key.into_column();
            expected.set(column, inserted.get(column));
        }
    }
    assert_eq!(inserted, expected);

    let mut select = E::find();
    for key in E::PrimaryKey::iter() {
        let column = key.into_column();
        select = select.filter(column.eq(inserted.get(column)));
    }
    assert_eq!(select.one(db).await.unwrap(), Some(expected.clone()));
    expected
}

fn credential_row() -> credential::Model {
    credential::Model {
        id: 0,
        cf: CF.to_owned(),
        state: "ACTIVE".to_owned(),
        kind: "INITIAL".to_owned(),
        level: "DISPOSITIVE".to_owned(),
        holder: "INTERMEDIARY".to_owned(),
        pin_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        activation_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".to_owned()),
        issued_via: "OFFICE".to_owned(),
        issued_at: T0,
        pin_set_at: T0 + 1,
        first_access_by: Some("SMS:+393331234567".to_owned()),
        superseded_by: Some(7),
        revoked_at: Some(T0 + 2),
        revocation_reason: Some("SUBSTITUTED".to_owned()),
        version: 1 << 40,
        updated_at: T0 + 3,
        callback_phone: Some("+39 06 1234567".to_owned()),
    }
}

async fn every_table_stores_and_returns_a_full_row(database: &TestDatabase) {
    let db = database.connect_migrated().await;

    round_trip::<person::Entity>(
        &db,
        person::Model {
            cf: CF.to_owned(),
            family_name: "D'Annunzio".to_owned(),
            given_name: "Niccolò".to_owned(),
            sex: "M".to_owned(),
            birth_date: "1980-01-01".to_owned(),
            birth_place: "H501".to_owned(),
            street: "Via dei Fori Imperiali".to_owned(),
            street_number: "12/B".to_owned(),
            cap: "00186".to_owned(),
            municipality: "Roma".to_owned(),
            province: "RM".to_owned(),
            address_key: "VIA DEI FORI IMPERIALI 12B 00186 ROMA RM".to_owned(),
            health_card_number: "80380000000000000001".to_owned(),
            health_card_expiry: "2029-12-31".to_owned(),
            categories: "PENSIONER,INTERMEDIARY".to_owned(),
            created_at: T0,
            updated_at: T0 + 1,
        },
    )
    .await;
    let credential = round_trip::<credential::Entity>(&db, credential_row()).await;
    round_trip::<pin_history::Entity>(
        &db,
        pin_history::Model {
            id: 0,
            credential_id: credential.id,
            cf: CF.to_owned(),
            pin_hash: "$argon2id$old".to_owned(),
            set_at: T0 + 4,
        },
    )
    .await;
    round_trip::<login_throttle::Entity>(
        &db,
        login_throttle::Model {
            cf: CF.to_owned(),
            failures: 4,
            in_flight: 1,
            in_flight_until: Some(T0 + 30_000),
            consecutive_locks: 2,
            locked_until: Some(T0 + 900_000),
            last_failure_at: Some(T0 + 5),
            updated_at: T0 + 6,
        },
    )
    .await;
    round_trip::<contact::Entity>(
        &db,
        contact::Model {
            id: 0,
            cf: CF.to_owned(),
            kind: "PEC".to_owned(),
            value: "mario.rossi@pec.example.it".to_owned(),
            verified: true,
            verified_at: Some(T0 + 7),
            proof: Some("CODE".to_owned()),
            created_at: T0,
            updated_at: T0 + 8,
        },
    )
    .await;
    round_trip::<session::Entity>(
        &db,
        session::Model {
            id: 0,
            token_hash: "a".repeat(64),
            cf: CF.to_owned(),
            credential_id: credential.id,
            level: "ORDINARY".to_owned(),
            created_at: T0,
            last_seen_at: T0 + 9,
            idle_expires_at: T0 + 1_800_000,
            absolute_expires_at: T0 + 43_200_000,
            ended_at: Some(T0 + 10),
            end_reason: Some("LOGOUT".to_owned()),
        },
    )
    .await;
    round_trip::<ticket::Entity>(
        &db,
        ticket::Model {
            id: 0,
            token_hash: "b".repeat(64),
            purpose: "FIRST_ACCESS".to_owned(),
            cf: CF.to_owned(),
            credential_id: credential.id,
            bound_to: T0 - 5,
            created_at: T0,
            expires_at: T0 + 600_000,
            used_at: Some(T0 + 11),
        },
    )
    .await;
    round_trip::<one_time_link::Entity>(
        &db,
        one_time_link::Model {
            id: 0,
            token_hash: "c".repeat(64),
            purpose: "RECOVERY".to_owned(),
            cf: CF.to_owned(),
            payload: r#"{"mobile":"+393331234567","email":"m@example.it"}"#.to_owned(),
            created_at: T0,
            expires_at: T0 + 86_400_000,
            used_at: Some(T0 + 12),
        },
    )
    .await;
    round_trip::<verification_code::Entity>(
        &db,
        verification_code::Model {
            id: 0,
            cf: CF.to_owned(),
            contact_kind: "EMAIL".to_owned(),
            contact_value: "m@example.it".to_owned(),
            code_hash: "d".repeat(64),
            attempts: 3,
            created_at: T0,
            expires_at: T0 + 900_000,
            used_at: Some(T0 + 13),
        },
    )
    .await;
    round_trip::<delivery::Entity>(
        &db,
        delivery::Model {
            id: 0,
            cf: CF.to_owned(),
            credential_id: Some(credential.id),
            channel: "POST".to_owned(),
            recipient: "Mario Rossi\nVia dei Fori Imperiali 12/B\n00186 Roma RM".to_owned(),
            purpose: "SECOND_HALF".to_owned(),
            body: "La seconda parte del PIN è allegata.".to_owned(),
            secret: Some("K7M3P9QX".to_owned()),
            status: "LEASED".to_owned(),
            lease_owner: Some("worker-1".to_owned()),
            leased_until: Some(T0 + 60_000),
            attempts: 2,
            created_at: T0,
            acked_at: Some(T0 + 14),
            failure_reason: Some("RETRY".to_owned()),
        },
    )
    .await;
    round_trip::<callback_case::Entity>(
        &db,
        callback_case::Model {
            id: 0,
            cf: CF.to_owned(),
            status: "REJECTED".to_owned(),
            reason: "ADDRESS_MISMATCH".to_owned(),
            request: r#"{"street":"Via Roma"}"#.to_owned(),
            callback_phone: "+39061234567".to_owned(),
            created_at: T0,
            resolved_at: Some(T0 + 15),
            resolved_by: Some("operator-42".to_owned()),
            resolution_note: Some("not reachable".to_owned()),
        },
    )
    .await;
    round_trip::<upgrade_request::Entity>(
        &db,
        upgrade_request::Model {
            id: 0,
            cf: CF.to_owned(),
            credential_id: credential.id,
            channel: "FAX".to_owned(),
            document_kind: "IDENTITY_CARD".to_owned(),
            document_number: "CA12345AB".to_owned(),
            document_issued_by: "Comune di Roma".to_owned(),
            document_expiry: "2031-05-31".to_owned(),
            document_ref: "fax://2026/11/23/0001".to_owned(),
            status: "APPROVED".to_owned(),
            submitted_at: T0,
            reviewed_at: Some(T0 + 16),
            reviewed_by: Some("back-office-3".to_owned()),
            review_note: Some("ok".to_owned()),
        },
    )
    .await;
    round_trip::<expiry_reminder::Entity>(
        &db,
        expiry_reminder::Model {
            id: 0,
            credential_id: credential.id,
            threshold: "FOURTEEN_DAYS".to_owned(),
            queued_at: T0 + 18,
        },
    )
    .await;
    round_trip::<held_application::Entity>(
        &db,
        held_application::Model {
            id: 0,
            cf: CF.to_owned(),
            service_id: "pension-application".to_owned(),
            application_ref: "APP-0001".to_owned(),
            filed_at: T0,
            released_at: Some(T0 + 17),
        },
    )
    .await;
    round_trip::<event::Entity>(
        &db,
        event::Model {
            id: 0,
            kind: "CREDENTIAL_REVOKED".to_owned(),
            cf: Some(CF.to_owned()),
            payload: r#"{"credential_id":1}"#.to_owned(),
            created_at: T0,
        },
    )
    .await;
    round_trip::<audit_record::Entity>(
        &db,
        audit_record::Model {
            id: 0,
            at: T0,
            caller_id: "portal".to_owned(),
            actor_kind: "OPERATOR".to_owned(),
            actor_id: "operator-42".to_owned(),
            action: "RevokePin".to_owned(),
            cf: Some(CF.to_owned()),
            outcome: "OK".to_owned(),
            request_id: Some("req-1".to_owned()),
            details: r#"{"reason":"lost"}"#.to_owned(),
            prev_hash: "0".repeat(64),
            hash: "f".repeat(64),
        },
    )
    .await;
    round_trip::<idempotency_key::Entity>(
        &db,
        idempotency_key::Model {
            caller_id: "portal".to_owned(),
            request_id: "req-1".to_owned(),
            rpc: "inps.pin.v1.Enrollment/RequestPin".to_owned(),
            fingerprint: "e".repeat(64),
            // Not valid UTF-8: the column must be binary, not text.
            response: vec![0x00, 0xff, 0xfe, 0x80, 0x0a],
            created_at: T0,
        },
    )
    .await;
}
both_backends!(every_table_stores_and_returns_a_full_row);

/// Asserts that `result` failed on a unique key, and that the store reports it as a
/// conflict on `entity`.
#[track_caller]
fn assert_conflict<T: Debug>(result: Result<T, DbErr>, entity: &'static str) {
    let err = result.unwrap_err();
    assert!(is_unique_violation(&err), "{err:?}");
    assert!(matches!(
        StoreError::classify(entity, err),
        StoreError::Conflict { entity: e } if e == entity
    ));
}

async fn unique_keys_refuse_duplicates_as_conflicts(database: &TestDatabase) {
    let db = database.connect_migrated().await;

    // contacts: one of each kind per CF.
    let mobile = contact::ActiveModel {
        cf: sea_orm::Set(CF.to_owned()),
        kind: sea_orm::Set("MOBILE".to_owned()),
        value: sea_orm::Set("+393331234567".to_owned()),
        verified: sea_orm::Set(false),
        created_at: sea_orm::Set(T0),
        updated_at: sea_orm::Set(T0),
        ..Default::default()
    };
    mobile.clone().insert(&db).await.unwrap();
    let mut email = mobile.clone();
    email.kind = sea_orm::Set("EMAIL".to_owned());
    email.insert(&db).await.unwrap();
    let mut other_person = mobile.clone();
    other_person.cf = sea_orm::Set("VRDGPP80A01F205X".to_owned());
    other_person.insert(&db).await.unwrap();
    let mut second_mobile = mobile;
    second_mobile.value = sea_orm::Set("+393339999999".to_owned());
    assert_conflict(second_mobile.insert(&db).await, "contact");

    // held_applications: an application is held once.
    let held = held_application::ActiveModel {
        cf: sea_orm::Set(CF.to_owned()),
        service_id: sea_orm::Set("naspi".to_owned()),
        application_ref: sea_orm::Set("APP-1".to_owned()),
        filed_at: sea_orm::Set(T0),
        ..Default::default()
    };
    held.clone().insert(&db).await.unwrap();
    let mut other_service = held.clone();
    other_service.service_id = sea_orm::Set("pension".to_owned());
    other_service.insert(&db).await.unwrap();
    assert_conflict(held.insert(&db).await, "held application");

    // sessions: a token hash names one session.
    let session = session::ActiveModel {
        token_hash: sea_orm::Set("1".repeat(64)),
        cf: sea_orm::Set(CF.to_owned()),
        credential_id: sea_orm::Set(1),
        level: sea_orm::Set("ORDINARY".to_owned()),
        created_at: sea_orm::Set(T0),
        last_seen_at: sea_orm::Set(T0),
        idle_expires_at: sea_orm::Set(T0),
        absolute_expires_at: sea_orm::Set(T0),
        ..Default::default()
    };
    session.clone().insert(&db).await.unwrap();
    let mut same_token = session;
    same_token.cf = sea_orm::Set("VRDGPP80A01F205X".to_owned());
    assert_conflict(same_token.insert(&db).await, "session");

    // idempotency_keys: (caller, request id) is the primary key.
    let key = idempotency_key::ActiveModel {
        caller_id: sea_orm::Set("portal".to_owned()),
        request_id: sea_orm::Set("req-1".to_owned()),
        rpc: sea_orm::Set("Rpc".to_owned()),
        fingerprint: sea_orm::Set("0".repeat(64)),
        response: sea_orm::Set(vec![1, 2, 3]),
        created_at: sea_orm::Set(T0),
    };
    idempotency_key::Entity::insert(key.clone())
        .exec(&db)
        .await
        .unwrap();
    let mut other_caller = key.clone();
    other_caller.caller_id = sea_orm::Set("desk".to_owned());
    idempotency_key::Entity::insert(other_caller)
        .exec(&db)
        .await
        .unwrap();
    assert_conflict(
        idempotency_key::Entity::insert(key).exec(&db).await,
        "idempotency key",
    );

    // The failed inserts left nothing behind.
    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), 3);
    assert_eq!(
        held_application::Entity::find().count(&db).await.unwrap(),
        2
    );
    assert_eq!(session::Entity::find().count(&db).await.unwrap(), 1);
    assert_eq!(idempotency_key::Entity::find().count(&db).await.unwrap(), 2);
}
both_backends!(unique_keys_refuse_duplicates_as_conflicts);

/// `UPDATE credentials SET version = version + 1, state = ? WHERE id = ? AND version = ?`.
async fn bump(db: &DatabaseConnection, id: i64, read_version: i64, state: &str) -> u64 {
    credential::Entity::update_many()
        .col_expr(
            credential::Column::Version,
            Expr::col(credential::Column::Version).add(1),
        )
        .col_expr(credential::Column::State, Expr::value(state))
        .filter(credential::Column::Id.eq(id))
        .filter(credential::Column::Version.eq(read_version))
        .exec(db)
        .await
        .unwrap()
        .rows_affected
}

async fn of_two_writers_that_read_the_same_version_exactly_one_wins(database: &TestDatabase) {
    let db = database.connect_migrated().await;
    let mut row = credential_row();
    row.version = 1;
    let id = round_trip::<credential::Entity>(&db, row).await.id;

    // One after the other.
    assert_eq!(bump(&db, id, 1, "FIRST").await, 1);
    assert_eq!(bump(&db, id, 1, "SECOND").await, 0);
    let stored = credential::Entity::find_by_id(id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.version, stored.state.as_str()), (2, "FIRST"));

    // At the same time, on separate connections.
    let other = database.connect().await;
    let (a, b) = tokio::join!(bump(&db, id, 2, "A"), bump(&other, id, 2, "B"));
    assert_eq!(a + b, 1, "exactly one writer wins");
    let stored = credential::Entity::find_by_id(id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(stored.state, if a == 1 { "A" } else { "B" });
}
both_backends!(of_two_writers_that_read_the_same_version_exactly_one_wins);
