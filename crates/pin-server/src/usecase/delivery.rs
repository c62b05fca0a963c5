//! The outbox the sending worker drains.

use std::collections::BTreeMap;

use pin_domain::{AuditAction, AuditOutcome, CallbackReason, CodiceFiscale, DeliveryChannel};
use pin_store::repo::{
    callbacks::{self, NewCallbackCase},
    outbox::{self, AckRefusal, AckResult, LeasedDelivery},
};

use super::{Audit, Call, Change};
use crate::{error::ServiceError, state::AppState};

/// Leases up to `max` deliveries of `channel` for `lease`.
pub async fn lease(
    state: &AppState,
    call: &Call,
    channel: DeliveryChannel,
    max: u64,
    lease: time::Duration,
) -> Result<Vec<LeasedDelivery>, ServiceError> {
    Ok(outbox::lease(
        &state.db,
        channel,
        max,
        lease,
        &call.caller.caller_id,
        call.now,
    )
    .await?)
}

/// Records a delivery's outcome; a PIN half that cannot be delivered is audited and opens a
/// callback case, in the same transaction. Acknowledging again with the same result
/// answers as the first acknowledgement did and changes nothing.
pub async fn acknowledge(
    state: &AppState,
    call: &Call,
    id: i64,
    result: AckResult,
    failure_reason: Option<&str>,
) -> Result<(), ServiceError> {
    let change = Change::begin(state, call).await?;
    let acked = outbox::acknowledge(change.txn(), id, result, failure_reason, call.now)
        .await
        .map_err(|refusal| match refusal {
            AckRefusal::LeaseExpired => ServiceError::FailedPrecondition {
                reason: "LEASE_EXPIRED",
                message: "the delivery is not leased or its lease has expired; lease it again"
                    .to_owned(),
            },
            AckRefusal::OtherResult => ServiceError::FailedPrecondition {
                reason: "ALREADY_ACKNOWLEDGED",
                message: "the delivery was already acknowledged with the other result".to_owned(),
            },
            AckRefusal::Store(error) => error.into(),
        })?;
    if acked.repeated {
        return Ok(());
    }
    let mut details = BTreeMap::from([
        ("delivery_id".to_owned(), id.to_string()),
        ("channel".to_owned(), acked.channel.to_string()),
        ("purpose".to_owned(), acked.purpose.to_string()),
    ]);
    if result == AckResult::Failed && acked.purpose.is_pin_half() {
        let case_id = callbacks::open(
            change.txn(),
            NewCallbackCase {
                cf: acked.cf.clone(),
                reason: CallbackReason::DeliveryFailed,
                request: serde_json::json!({
                    "delivery_id": id,
                    "channel": acked.channel.as_str(),
                    "purpose": acked.purpose.as_str(),
                    "failure_reason": failure_reason,
                })
                .to_string(),
                callback_phone: String::new(),
            },
            call.now,
        )
        .await?;
        details.insert("callback_case_id".to_owned(), case_id.to_string());
    }
    if let Some(reason) = failure_reason {
        details.insert("failure_reason".to_owned(), reason.to_owned());
    }
    let cf = CodiceFiscale::parse(&acked.cf).ok();
    change
        .audit(Audit {
            action: AuditAction::AckDelivery,
            cf: cf.as_ref(),
            citizen_acts: false,
            outcome: match result {
                AckResult::Sent => AuditOutcome::Sent,
                AckResult::Failed => AuditOutcome::Failed,
            },
            details,
        })
        .await?;
    change.commit().await
}
