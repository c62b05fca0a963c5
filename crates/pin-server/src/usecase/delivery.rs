//! The outbox the sending worker drains.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, CallbackReason, CodiceFiscale, ContactKind, DeliveryChannel,
};
use pin_store::{
    StoreError,
    repo::{
        callbacks::{self, NewCallbackCase},
        contacts, credentials,
        outbox::{self, AckRefusal, AckResult, Acknowledged, LeasedDelivery},
        persons,
    },
};

use super::{Audit, Call, Change, callback::CaseFile};
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
    let cf = CodiceFiscale::parse(&acked.cf).ok();
    if result == AckResult::Failed && acked.purpose.is_pin_half() {
        let case_id = open_case(&change, cf.as_ref(), &acked, failure_reason).await?;
        details.insert("callback_case_id".to_owned(), case_id.to_string());
    }
    if let Some(reason) = failure_reason {
        details.insert("failure_reason".to_owned(), reason.to_owned());
    }
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

/// Opens the callback case for an undelivered PIN half. The number to call is the one the
/// applicant gave with the request that issued the PIN or, for a PIN no request issued (a
/// campaign letter), the holder's registered mobile number, if any.
async fn open_case(
    change: &Change<'_>,
    cf: Option<&CodiceFiscale>,
    acked: &Acknowledged,
    failure_reason: Option<&str>,
) -> Result<i64, ServiceError> {
    let txn = change.txn();
    let mut phone = match acked.credential_id {
        Some(id) => credentials::callback_phone(txn, id).await?,
        None => None,
    };
    let mut person = None;
    if let Some(cf) = cf {
        if phone.is_none() {
            phone = contacts::list(txn, cf)
                .await?
                .into_iter()
                .find(|contact| contact.kind == ContactKind::Mobile)
                .map(|contact| contact.value);
        }
        person = match persons::get(txn, cf).await {
            Ok(person) => Some(person),
            Err(StoreError::NotFound { .. }) => None,
            Err(other) => return Err(other.into()),
        };
    }
    let file = CaseFile::of_failed_delivery(person.as_ref(), acked, failure_reason);
    Ok(callbacks::open(
        txn,
        NewCallbackCase {
            cf: acked.cf.clone(),
            reason: CallbackReason::DeliveryFailed,
            request: file.to_json(),
            callback_phone: phone.unwrap_or_default(),
        },
        change.now(),
    )
    .await?)
}
