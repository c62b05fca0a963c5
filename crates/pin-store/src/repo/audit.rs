//! The tamper-evident audit trail: an append-only chain of records, each carrying the
//! SHA-256 of its predecessor's hash and its own fields.
//!
//! Editing a stored record makes its recomputed hash differ from the stored one
//! ([`ChainProblem::HashMismatch`]); deleting or reordering records makes a `prev_hash`
//! differ from the hash of the record before it ([`ChainProblem::BrokenLink`]); [`verify`]
//! finds both. Removing records from the *end* of the chain leaves a shorter chain that is
//! still consistent: anchor the latest hash elsewhere to detect truncation.
//!
//! # Canonical hash format (version 1)
//!
//! `hash` is the lower-case hex SHA-256 of the UTF-8 bytes of this JSON array, written
//! compactly (no whitespace) exactly as `serde_json::to_vec` writes it:
//!
//! ```text
//! [prev_hash, at, caller_id, actor_kind, actor_id, action, cf, outcome, request_id, details]
//! ```
//!
//! - `prev_hash`: the previous record's `hash` (64 lower-case hex digits), or
//!   [`GENESIS_HASH`] (64 `0`s) for the first record;
//! - `at`: a JSON integer, the instant in Unix milliseconds (as stored);
//! - `action` and `outcome`: the stored upper-case names of `pin_domain::AuditAction` and
//!   `pin_domain::AuditOutcome` (records written before they existed keep their text);
//! - `actor_kind`: the stored upper-case name (`"CITIZEN"`, `"OPERATOR"`, `"CALLER"`,
//!   `"SYSTEM"`);
//! - `cf`, `request_id`: the string, or `""` when absent;
//! - `details`: an array of `[key, value]` string pairs sorted by key in byte-wise
//!   (UTF-8) order, e.g. `[["channel","web"],["reason","expired"]]`, `[]` when empty;
//! - every other field: a JSON string.
//!
//! Strings are escaped as serde_json does: `"` and `\` as `\"` and `\\`; U+0008, U+0009,
//! U+000A, U+000C and U+000D as `\b`, `\t`, `\n`, `\f`, `\r`; the other characters below
//! U+0020 as `\u00xx` (lower-case hex); everything else, non-ASCII included, as literal
//! UTF-8. Example of a first record:
//!
//! ```text
//! ["0000000000000000000000000000000000000000000000000000000000000000",1795428000123,"backend-1","CITIZEN","RSSMRA85T10A562S","AUTHENTICATE","RSSMRA85T10A562S","OK","req-1",[["channel","web"]]]
//! ```
//!
//! Note that an absent `cf` (or `request_id`) and an empty one hash alike.
//!
//! # Concurrency
//!
//! [`append`] runs inside the caller's write transaction, so a state change and its audit
//! record commit together or not at all. Appends are serialised so the chain never forks,
//! even across processes: on PostgreSQL by the transaction-scoped advisory lock
//! [`AUDIT_LOCK_KEY`], held until the caller's transaction ends; on SQLite by the write
//! lock that [`crate::db::begin_write`] (`BEGIN IMMEDIATE`) takes up front.

use std::collections::BTreeMap;

use pin_domain::{AuditAction, AuditOutcome};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{corrupt, from_millis, to_millis};
use crate::{
    StoreError,
    entity::audit_record::{self, Column, Model},
    error::ClassifyDbErr,
};

/// The `prev_hash` of the first record of the chain: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Key of the PostgreSQL transaction-scoped advisory lock that serialises appends
/// ("PIN_AUDT"). Anything else that writes `audit_records` must take it too.
pub const AUDIT_LOCK_KEY: i64 = 0x5049_4E5F_4155_4454;

/// How many records [`verify`] reads at a time.
const VERIFY_PAGE_SIZE: u64 = 1000;

const ENTITY: &str = "audit record";

/// Who performed an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A citizen acting for themselves (stored `CITIZEN`).
    Citizen,
    /// A contact-centre or office operator (stored `OPERATOR`).
    Operator,
    /// A calling backend acting on its own behalf (stored `CALLER`).
    Caller,
    /// The service itself: scheduled jobs, workers (stored `SYSTEM`).
    System,
}

impl ActorKind {
    /// The stored upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Citizen => "CITIZEN",
            ActorKind::Operator => "OPERATOR",
            ActorKind::Caller => "CALLER",
            ActorKind::System => "SYSTEM",
        }
    }

    /// The kind a stored name stands for, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "CITIZEN" => Some(ActorKind::Citizen),
            "OPERATOR" => Some(ActorKind::Operator),
            "CALLER" => Some(ActorKind::Caller),
            "SYSTEM" => Some(ActorKind::System),
            _ => None,
        }
    }
}

/// A record to append to the audit trail.
///
/// **It must never hold secrets**: no PINs or PIN halves, no tokens, links or verification
/// codes, not even their hashes, and no passwords. The trail is kept for years, read by
/// auditors and exported by tools; it says *who did what to whom, and how it went*, never
/// *with which secret*. Put only identifiers and non-secret facts in `details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// When it happened; stored (and hashed) truncated to the millisecond.
    pub at: OffsetDateTime,
    /// The authenticated backend that made the call.
    pub caller_id: String,
    /// What kind of actor acted.
    pub actor_kind: ActorKind,
    /// Who acted: a codice fiscale, an operator id, a caller id, a job name.
    pub actor_id: String,
    /// What was done.
    pub action: AuditAction,
    /// Whose identity the action concerned, if anyone's.
    pub cf: Option<String>,
    /// How it went.
    pub outcome: AuditOutcome,
    /// The caller's request id, if it sent one.
    pub request_id: Option<String>,
    /// Further non-secret facts, by name.
    pub details: BTreeMap<String, String>,
}

/// A stored audit record, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Row id; the chain runs in id order.
    pub id: i64,
    /// When it happened, to the millisecond.
    pub at: OffsetDateTime,
    /// The authenticated backend that made the call.
    pub caller_id: String,
    /// What kind of actor acted.
    pub actor_kind: ActorKind,
    /// Who acted.
    pub actor_id: String,
    /// What was done.
    pub action: String,
    /// Whose identity the action concerned, if anyone's.
    pub cf: Option<String>,
    /// How it went.
    pub outcome: String,
    /// The caller's request id, if it sent one.
    pub request_id: Option<String>,
    /// Further non-secret facts, by name.
    pub details: BTreeMap<String, String>,
    /// The previous record's `hash`, or [`GENESIS_HASH`] for the first.
    pub prev_hash: String,
    /// Hex SHA-256 of the canonical encoding (see the module documentation).
    pub hash: String,
}

/// The fields that enter the hash, borrowed from a new record or a stored row.
struct Canonical<'a> {
    prev_hash: &'a str,
    at: i64,
    caller_id: &'a str,
    actor_kind: &'a str,
    actor_id: &'a str,
    action: &'a str,
    cf: Option<&'a str>,
    outcome: &'a str,
    request_id: Option<&'a str>,
    details: &'a BTreeMap<String, String>,
}

impl Canonical<'_> {
    /// The canonical bytes described in the module documentation.
    fn bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let details: Vec<(&str, &str)> = self
            .details
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        // A tuple serialises as a JSON array, in this order.
        serde_json::to_vec(&(
            self.prev_hash,
            self.at,
            self.caller_id,
            self.actor_kind,
            self.actor_id,
            self.action,
            self.cf.unwrap_or(""),
            self.outcome,
            self.request_id.unwrap_or(""),
            details,
        ))
    }

    fn hash(&self) -> Result<String, serde_json::Error> {
        Ok(hex::encode(Sha256::digest(self.bytes()?)))
    }
}

fn canonical<'a>(prev_hash: &'a str, record: &'a NewAuditRecord) -> Canonical<'a> {
    Canonical {
        prev_hash,
        at: to_millis(record.at),
        caller_id: &record.caller_id,
        actor_kind: record.actor_kind.as_str(),
        actor_id: &record.actor_id,
        action: record.action.as_str(),
        cf: record.cf.as_deref(),
        outcome: record.outcome.as_str(),
        request_id: record.request_id.as_deref(),
        details: &record.details,
    }
}

fn encoding_error(err: &serde_json::Error) -> DbErr {
    DbErr::Custom(format!("cannot encode an audit record: {err}"))
}

impl TryFrom<Model> for AuditRecord {
    type Error = DbErr;

    fn try_from(row: Model) -> Result<Self, DbErr> {
        Ok(AuditRecord {
            id: row.id,
            at: from_millis(row.at)?,
            caller_id: row.caller_id,
            actor_kind: ActorKind::from_name(&row.actor_kind)
                .ok_or_else(|| corrupt("actor_kind", &row.actor_kind))?,
            actor_id: row.actor_id,
            action: row.action,
            cf: row.cf,
            outcome: row.outcome,
            request_id: row.request_id,
            details: serde_json::from_str(&row.details)
                .map_err(|_| corrupt("audit details", &row.details))?,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
}

/// Appends `record` to the chain and returns it as stored.
///
/// Must be called inside the caller's write transaction — begun with
/// [`crate::db::begin_write`], so `READ COMMITTED` on PostgreSQL — so that the state change
/// it records and the record itself commit together or not at all. On PostgreSQL it takes
/// the advisory lock [`AUDIT_LOCK_KEY`], which other appenders then wait for until this
/// transaction ends: append late in the transaction and commit promptly.
#[tracing::instrument(name = "audit.append", skip_all, fields(otel.kind = "client"))]
pub async fn append(
    txn: &DatabaseTransaction,
    record: &NewAuditRecord,
) -> Result<AuditRecord, StoreError> {
    let prev_hash = chain_head(txn).await?;
    let row = chained_row(&prev_hash, record)?;
    let mut active: audit_record::ActiveModel = row.into();
    active.id = NotSet;
    let inserted = active.insert(txn).await.classify(ENTITY)?;
    Ok(AuditRecord {
        id: inserted.id,
        at: from_millis(inserted.at)?,
        caller_id: record.caller_id.clone(),
        actor_kind: record.actor_kind,
        actor_id: record.actor_id.clone(),
        action: record.action.as_str().to_owned(),
        cf: record.cf.clone(),
        outcome: record.outcome.as_str().to_owned(),
        request_id: record.request_id.clone(),
        details: record.details.clone(),
        prev_hash: inserted.prev_hash,
        hash: inserted.hash,
    })
}

/// How many records one `INSERT` of [`append_many`] carries (12 columns each, well under
/// both backends' limits on bound parameters).
const APPEND_CHUNK: usize = 500;

/// Appends `records`, in order, to the chain: what [`append`] does for each, with one lock,
/// one read of the chain's head and one `INSERT` per [`APPEND_CHUNK`] records. The same
/// rules apply: inside the caller's write transaction, late, and committed promptly.
#[tracing::instrument(
    name = "audit.append_many",
    skip_all,
    fields(otel.kind = "client", records = records.len())
)]
pub async fn append_many(
    txn: &DatabaseTransaction,
    records: &[NewAuditRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut prev_hash = chain_head(txn).await?;
    for chunk in records.chunks(APPEND_CHUNK) {
        let mut rows = Vec::with_capacity(chunk.len());
        for record in chunk {
            let row = chained_row(&prev_hash, record)?;
            prev_hash.clone_from(&row.hash);
            let mut active: audit_record::ActiveModel = row.into();
            active.id = NotSet;
            rows.push(active);
        }
        // A multi-row `VALUES` list takes its ids in the order of its rows, on both
        // backends, so the chain's order (by id) is the order of `records`.
        audit_record::Entity::insert_many(rows)
            .exec(txn)
            .await
            .classify(ENTITY)?;
    }
    Ok(())
}

/// Takes the append lock (PostgreSQL) and reads the hash of the chain's last record.
async fn chain_head(txn: &DatabaseTransaction) -> Result<String, StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK_KEY})"))
            .await
            .classify(ENTITY)?;
    }
    let last: Option<String> = audit_record::Entity::find()
        .select_only()
        .column(Column::Hash)
        .order_by_desc(Column::Id)
        .into_tuple()
        .one(txn)
        .await
        .classify(ENTITY)?;
    Ok(last.unwrap_or_else(|| GENESIS_HASH.to_owned()))
}

/// The row that stores `record` after the record whose hash is `prev_hash`.
fn chained_row(prev_hash: &str, record: &NewAuditRecord) -> Result<Model, StoreError> {
    let hash = canonical(prev_hash, record)
        .hash()
        .map_err(|err| encoding_error(&err))?;
    let details = serde_json::to_string(&record.details).map_err(|err| encoding_error(&err))?;
    Ok(Model {
        id: 0,
        at: to_millis(record.at),
        caller_id: record.caller_id.clone(),
        actor_kind: record.actor_kind.as_str().to_owned(),
        actor_id: record.actor_id.clone(),
        action: record.action.as_str().to_owned(),
        cf: record.cf.clone(),
        outcome: record.outcome.as_str().to_owned(),
        request_id: record.request_id.clone(),
        details,
        prev_hash: prev_hash.to_owned(),
        hash,
    })
}

/// Which records [`list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records about this codice fiscale.
    pub cf: Option<String>,
    /// Only records at or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Only records strictly before this instant.
    pub to: Option<OffsetDateTime>,
    /// Only records after this id: the last id of the previous page.
    pub after_id: Option<i64>,
    /// At most this many records (`0` returns none).
    pub limit: u64,
}

/// How many records of `action` about `cf` were written at or after `since`.
#[tracing::instrument(name = "audit.count_since", skip_all, fields(otel.kind = "client"))]
pub async fn count_since(
    db: &impl ConnectionTrait,
    cf: &str,
    action: AuditAction,
    since: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(audit_record::Entity::find()
        .filter(Column::Cf.eq(cf))
        .filter(Column::At.gte(to_millis(since)))
        .filter(Column::Action.eq(action.as_str()))
        .count(db)
        .await?)
}

/// How many records of `action` by the calling service `caller_id` were written at or
/// after `since`.
#[tracing::instrument(name = "audit.count_by_caller_since", skip_all, fields(otel.kind = "client"))]
pub async fn count_by_caller_since(
    db: &impl ConnectionTrait,
    caller_id: &str,
    action: AuditAction,
    since: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(audit_record::Entity::find()
        .filter(Column::CallerId.eq(caller_id))
        .filter(Column::At.gte(to_millis(since)))
        .filter(Column::Action.eq(action.as_str()))
        .count(db)
        .await?)
}

/// The records matching `query`, oldest first (by id), at most `query.limit` of them.
/// For the next page, ask again with `after_id` set to the last id returned.
#[tracing::instrument(name = "audit.list", skip_all, fields(otel.kind = "client"))]
pub async fn list(
    db: &impl ConnectionTrait,
    query: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut select = audit_record::Entity::find();
    if let Some(cf) = &query.cf {
        select = select.filter(Column::Cf.eq(cf.as_str()));
    }
    if let Some(from) = query.from {
        select = select.filter(Column::At.gte(to_millis(from)));
    }
    if let Some(to) = query.to {
        select = select.filter(Column::At.lt(to_millis(to)));
    }
    if let Some(after_id) = query.after_id {
        select = select.filter(Column::Id.gt(after_id));
    }
    let rows = select
        .order_by_asc(Column::Id)
        .limit(query.limit)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| AuditRecord::try_from(row).map_err(StoreError::from))
        .collect()
}

/// Something [`verify`] found wrong with the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainProblem {
    /// The record's `prev_hash` is not the hash of the record before it (or, for the first
    /// record, not [`GENESIS_HASH`]): a record before it was removed or replaced.
    BrokenLink { id: i64 },
    /// The record's stored hash is not the hash of its stored fields: it was edited.
    HashMismatch { id: i64 },
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// How many records the chain holds.
    pub records: u64,
    /// Every problem, in id order.
    pub problems: Vec<ChainProblem>,
}

impl ChainReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The hash a stored row should have, or `None` if its fields cannot even be decoded
/// (which only an edit outside this module can cause).
fn recompute(row: &Model) -> Option<String> {
    let details: BTreeMap<String, String> = serde_json::from_str(&row.details).ok()?;
    Canonical {
        prev_hash: &row.prev_hash,
        at: row.at,
        caller_id: &row.caller_id,
        actor_kind: &row.actor_kind,
        actor_id: &row.actor_id,
        action: &row.action,
        cf: row.cf.as_deref(),
        outcome: &row.outcome,
        request_id: row.request_id.as_deref(),
        details: &details,
    }
    .hash()
    .ok()
}

/// Walks the whole chain in id order, a page at a time, recomputing every hash and
/// checking that every `prev_hash` is the previous record's stored hash.
///
/// An edited record shows as [`ChainProblem::HashMismatch`] at its id; a removed one as
/// [`ChainProblem::BrokenLink`] at the id of the record that followed it. Records appended
/// while it runs are checked too if they land after the page being read. Pass a
/// `REPEATABLE READ` transaction for a single snapshot.
#[tracing::instrument(name = "audit.verify", skip_all, fields(otel.kind = "client"))]
pub async fn verify(db: &impl ConnectionTrait) -> Result<ChainReport, StoreError> {
    let mut report = ChainReport::default();
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut after_id: Option<i64> = None;
    loop {
        let mut select = audit_record::Entity::find();
        if let Some(after_id) = after_id {
            select = select.filter(Column::Id.gt(after_id));
        }
        let rows = select
            .order_by_asc(Column::Id)
            .limit(VERIFY_PAGE_SIZE)
            .all(db)
            .await?;
        let full_page = u64::try_from(rows.len()).is_ok_and(|n| n >= VERIFY_PAGE_SIZE);
        for row in rows {
            report.records += 1;
            if row.prev_hash != expected_prev {
                report
                    .problems
                    .push(ChainProblem::BrokenLink { id: row.id });
            }
            if recompute(&row).as_deref() != Some(row.hash.as_str()) {
                report
                    .problems
                    .push(ChainProblem::HashMismatch { id: row.id });
            }
            after_id = Some(row.id);
            expected_prev = row.hash;
        }
        if !full_page {
            return Ok(report);
        }
    }
}
