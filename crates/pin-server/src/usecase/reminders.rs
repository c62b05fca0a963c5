//! The reminder job: reminders to the proven contacts 14 and 3 days before a PIN expires,
//! each queued once per PIN and threshold however many replicas run the job; and the
//! sweep that cancels the undelivered messages of PINs that can no longer be used,
//! erasing their secrets.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, ContactKind, DeliveryChannel, DeliveryPurpose, Holder, Status,
    due_reminders, earliest_reminder,
};
use pin_store::repo::{
    contacts,
    credentials::{self, StoredCredential},
    outbox::{self, NewDelivery},
    reminders,
};

use super::{Audit, Call, Change};
use crate::{error::ServiceError, state::AppState};

/// The caller id the job acts as, in audit records.
pub const CALLER: &str = "reminder-job";

/// Active credentials read per page.
const PAGE: u64 = 200;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// PINs whose holders were reminded.
    pub reminded: u64,
    /// Undelivered messages of dead PINs cancelled, their secrets erased.
    pub cancelled: u64,
}

/// One run of the job.
pub async fn run(state: &AppState) -> Result<Sweep, ServiceError> {
    let call = state.internal_call(CALLER);
    let policy = &state.policy;
    // Every PIN that may be within reach of its first reminder: set no later than the
    // shortest lifetime before the earliest reminder.
    let shortest = policy
        .pin_lifetime(Holder::Citizen)
        .min(policy.pin_lifetime(Holder::Intermediary));
    let set_before = call.now + earliest_reminder() - shortest;
    let mut sweep = Sweep::default();
    let mut after = 0;
    loop {
        let page = credentials::active_set_before(&state.db, set_before, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for stored in &page {
            if remind(state, &call, stored).await? {
                sweep.reminded += 1;
            }
        }
    }
    let lapsed_before = call.now - policy.initial_pin_lifetime();
    sweep.cancelled = outbox::cancel_dead_secrets(&state.db, lapsed_before).await?;
    Ok(sweep)
}

/// Queues the most urgent reminder due for `stored` that nobody queued yet; says whether
/// it did.
async fn remind(
    state: &AppState,
    call: &Call,
    stored: &StoredCredential,
) -> Result<bool, ServiceError> {
    let credential = &stored.credential;
    if credential.status(call.now, &state.policy) != Status::Active {
        return Ok(false);
    }
    let Some(expires_at) = credential.pin_expires_at(&state.policy) else {
        return Ok(false);
    };
    let due = due_reminders(expires_at, call.now);
    if due.is_empty() {
        return Ok(false);
    }
    let change = Change::begin(state, call).await?;
    let mut claimed = Vec::new();
    for threshold in due {
        if reminders::claim(change.txn(), stored.id, threshold, call.now).await? {
            claimed.push(threshold);
        }
    }
    // The most urgent first: a job that did not run for a while sends only that one.
    let Some(threshold) = claimed.first() else {
        return Ok(false);
    };
    let date = expires_at.date();
    let proven = contacts::list(change.txn(), &stored.cf).await?;
    let mut sent = 0;
    for contact in proven.iter().filter(|c| c.verified_at.is_some()) {
        let channel = match contact.kind {
            ContactKind::Mobile => DeliveryChannel::Sms,
            ContactKind::Email => DeliveryChannel::Email,
            ContactKind::Pec => DeliveryChannel::Pec,
        };
        change
            .deliver(NewDelivery {
                cf: stored.cf.as_str().to_owned(),
                credential_id: Some(stored.id),
                channel,
                recipient: contact.value.clone(),
                purpose: DeliveryPurpose::Notice,
                subject: "INPS - il suo PIN sta per scadere".to_owned(),
                body: format!(
                    "Il suo PIN INPS scade il {:02}/{:02}/{}. Al primo accesso dopo la \
                     scadenza le sarà chiesto di sceglierne uno nuovo; può cambiarlo anche \
                     prima, dal portale.",
                    date.day(),
                    u8::from(date.month()),
                    date.year()
                ),
                secret: None,
            })
            .await?;
        sent += 1;
    }
    change
        .audit(Audit {
            action: AuditAction::RemindExpiry,
            cf: Some(&stored.cf),
            citizen_acts: false,
            outcome: AuditOutcome::Sent,
            details: BTreeMap::from([
                ("credential_id".to_owned(), stored.id.to_string()),
                ("threshold".to_owned(), threshold.as_str().to_owned()),
                ("contacts".to_owned(), sent.to_string()),
            ]),
        })
        .await?;
    change.commit().await?;
    Ok(true)
}
