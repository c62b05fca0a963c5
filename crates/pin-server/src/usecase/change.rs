//! [`Change`]: one write transaction, and everything a state change writes besides the
//! change itself — its audit record, its deliveries, its events and the answer to its
//! request id — so that all of it commits together or none of it does.

use std::collections::BTreeMap;

use pin_domain::{AuditAction, AuditOutcome, CodiceFiscale, EventDetail};
use pin_store::{
    DatabaseTransaction, begin_write,
    repo::{
        audit::{self, ActorKind, NewAuditRecord},
        events, idempotency,
        outbox::{self, NewDelivery},
    },
};

use tracing::Instrument;

use super::{
    Call,
    once::{Answer, RequestKey},
};
use crate::{error::ServiceError, state::AppState};

/// A write transaction in progress for one call.
#[derive(Debug)]
pub struct Change<'a> {
    txn: DatabaseTransaction,
    state: &'a AppState,
    call: &'a Call,
    claim: Option<(idempotency::Claim, &'a RequestKey)>,
    wrote_events: bool,
    /// The codici fiscali the change concerns (audited or evented): their cached
    /// sessions are read again once it commits.
    concerns: std::sync::Mutex<Vec<String>>,
    /// Open from `begin` until the change is committed or dropped: the transaction's
    /// span, a child of the call's.
    span: tracing::Span,
}

/// An audit record of the change.
#[derive(Debug)]
pub struct Audit<'a> {
    /// What was done.
    pub action: AuditAction,
    /// Whom it concerns.
    pub cf: Option<&'a CodiceFiscale>,
    /// Whether the citizen `cf` is the one acting (through the portal), rather than the
    /// calling service on its own account (a delivery worker, a registry load).
    pub citizen_acts: bool,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Non-secret details.
    pub details: BTreeMap<String, String>,
}

impl<'a> Change<'a> {
    /// Begins a write transaction.
    pub async fn begin(state: &'a AppState, call: &'a Call) -> Result<Self, ServiceError> {
        let span = tracing::info_span!(
            "transaction",
            otel.name = "db transaction",
            otel.kind = "client",
            db.system.name = database_system(&state.db),
        );
        Ok(Change {
            txn: begin_write(&state.db).instrument(span.clone()).await?,
            state,
            call,
            claim: None,
            wrote_events: false,
            concerns: std::sync::Mutex::default(),
            span,
        })
    }

    /// Begins a write transaction that first claims the request id `key` for `rpc`. A
    /// request with the same id that committed first makes this fail with
    /// [`ServiceError::Conflict`]; [`super::once`] then answers with its answer.
    pub async fn begin_once(
        state: &'a AppState,
        call: &'a Call,
        key: &'a RequestKey,
        rpc: &'static str,
    ) -> Result<Self, ServiceError> {
        let mut change = Self::begin(state, call).await?;
        let claim = idempotency::claim(
            &change.txn,
            &call.caller.caller_id,
            &key.request_id,
            rpc,
            &key.fingerprint,
            call.now,
        )
        .await?;
        change.claim = Some((claim, key));
        Ok(change)
    }

    /// The transaction, for the repositories.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The calling service.
    pub fn caller_id(&self) -> &str {
        &self.call.caller.caller_id
    }

    /// The operator named by an operator RPC.
    pub fn operator_id(&self) -> Option<&str> {
        self.call.caller.operator_id.as_deref()
    }

    /// The instant the call is decided at.
    pub fn now(&self) -> time::OffsetDateTime {
        self.call.now
    }

    /// Appends the audit record. The actor is the operator when there is one, the citizen
    /// when the citizen acts, the calling service otherwise.
    pub async fn audit(&self, record: Audit<'_>) -> Result<(), ServiceError> {
        let caller = &self.call.caller;
        let (actor_kind, actor_id) = match (&caller.operator_id, record.cf) {
            (Some(operator), _) => (ActorKind::Operator, operator.clone()),
            (None, Some(cf)) if record.citizen_acts => (ActorKind::Citizen, cf.to_string()),
            _ => (ActorKind::Caller, caller.caller_id.to_string()),
        };
        if let Some(cf) = record.cf {
            self.concern(cf);
        }
        audit::append(
            &self.txn,
            &NewAuditRecord {
                at: self.call.now,
                caller_id: caller.caller_id.to_string(),
                actor_kind,
                actor_id,
                action: record.action,
                cf: record.cf.map(|cf| cf.as_str().to_owned()),
                outcome: record.outcome,
                request_id: self.claim.as_ref().map(|(_, key)| key.request_id.clone()),
                details: record.details,
            },
        )
        .await?;
        Ok(())
    }

    /// Queues a delivery; returns its id.
    pub async fn deliver(&self, delivery: NewDelivery) -> Result<i64, ServiceError> {
        Ok(outbox::enqueue(&self.txn, delivery, self.call.now).await?)
    }

    /// Appends an event to the durable log; returns its cursor.
    pub async fn event(
        &mut self,
        cf: &CodiceFiscale,
        detail: &EventDetail,
    ) -> Result<i64, ServiceError> {
        self.concern(cf);
        let cursor = events::append(&self.txn, cf, detail, self.call.now).await?;
        self.wrote_events = true;
        Ok(cursor)
    }

    /// Commits a change that answers no request id.
    pub async fn commit(self) -> Result<(), ServiceError> {
        if self.claim.is_some() {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "a claimed request id was committed without its answer"
            )));
        }
        self.finish().await
    }

    /// Records `answer` (as [`Answer::recorded`]: never a secret) for the claimed request
    /// id and commits.
    pub async fn commit_answer<A: Answer>(mut self, answer: &A) -> Result<(), ServiceError> {
        let Some((claim, _)) = self.claim.take() else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "an answer was recorded for a change that claimed no request id"
            )));
        };
        let bytes = serde_json::to_vec(&answer.recorded())
            .map_err(|error| ServiceError::Internal(error.into()))?;
        idempotency::complete(&self.txn, claim, bytes).await?;
        self.finish().await
    }

    fn concern(&self, cf: &CodiceFiscale) {
        self.concerns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(cf.as_str().to_owned());
    }

    async fn finish(self) -> Result<(), ServiceError> {
        pin_store::commit(self.txn)
            .instrument(self.span.clone())
            .await?;
        let concerns = self
            .concerns
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for cf in &concerns {
            self.state.sessions.changed(cf);
        }
        if self.wrote_events {
            self.state
                .events_written
                .send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }
}

/// The database's name in OpenTelemetry's conventions (`db.system.name`).
fn database_system(db: &pin_store::DatabaseConnection) -> &'static str {
    match pin_store::backend_name(db) {
        "postgres" => "postgresql",
        other => other,
    }
}
