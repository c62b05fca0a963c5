//! `DeliveryService`: the outbox the sending worker drains.

use std::collections::BTreeMap;

use pin_proto::v1::{
    self as pb, AckDeliveryRequest, AckDeliveryResponse, DeliveryResult, LeaseDeliveriesRequest,
    LeaseDeliveriesResponse, delivery_service_server::DeliveryService,
};
use pin_store::{
    StoreError, begin_write,
    repo::{
        callbacks::{self, NewCallbackCase},
        outbox::{self, AckResult, LeasedDelivery},
    },
};
use time::Duration;
use tonic::{Request, Response, Status};

use crate::{
    convert::timestamp,
    error::ServiceError,
    services::common::Audit,
    state::{AppState, context},
};

/// The gRPC face of the outbox.
#[derive(Debug, Clone)]
pub struct DeliveryApi {
    state: AppState,
}

impl DeliveryApi {
    /// The service over shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The stored name of a channel.
pub fn channel_name(channel: pb::Channel) -> Option<&'static str> {
    match channel {
        pb::Channel::Sms => Some("SMS"),
        pb::Channel::Email => Some("EMAIL"),
        pb::Channel::Pec => Some("PEC"),
        pb::Channel::Post => Some("POST"),
        pb::Channel::Unspecified => None,
    }
}

fn channel_to_pb(name: &str) -> pb::Channel {
    match name {
        "SMS" => pb::Channel::Sms,
        "EMAIL" => pb::Channel::Email,
        "PEC" => pb::Channel::Pec,
        "POST" => pb::Channel::Post,
        _ => pb::Channel::Unspecified,
    }
}

fn purpose_to_pb(name: &str) -> pb::DeliveryPurpose {
    pb::DeliveryPurpose::from_str_name(&format!("DELIVERY_PURPOSE_{name}"))
        .unwrap_or(pb::DeliveryPurpose::Unspecified)
}

/// A leased delivery as the worker receives it.
pub fn delivery_to_pb(delivery: LeasedDelivery) -> pb::Delivery {
    pb::Delivery {
        id: delivery.id.to_string(),
        channel: channel_to_pb(&delivery.channel).into(),
        recipient: delivery.recipient,
        purpose: purpose_to_pb(&delivery.purpose).into(),
        subject: delivery.subject,
        body: delivery.body,
        secret: delivery.secret,
        lease_expires_at: Some(timestamp(delivery.leased_until)),
        attempt: delivery.attempts,
    }
}

/// Records a delivery's outcome; a PIN half that cannot be delivered is audited and opens a
/// callback case, in the same transaction.
pub async fn acknowledge(
    state: &AppState,
    context: &crate::auth::CallContext,
    id: i64,
    result: AckResult,
    failure_reason: Option<&str>,
) -> Result<(), ServiceError> {
    let now = state.now();
    let txn = begin_write(&state.db).await?;
    let row = match outbox::acknowledge(&txn, id, result, failure_reason, now).await {
        Ok(row) => row,
        Err(StoreError::Conflict { .. }) => {
            return Err(ServiceError::FailedPrecondition {
                reason: "LEASE_EXPIRED",
                message: "the delivery is not leased or its lease has expired; lease it again"
                    .to_owned(),
            });
        }
        Err(other) => return Err(other.into()),
    };
    let pin_half = matches!(row.purpose.as_str(), "PIN_FIRST_HALF" | "PIN_SECOND_HALF");
    let outcome = match result {
        AckResult::Sent => "SENT",
        AckResult::Failed => "FAILED",
    };
    let mut details = BTreeMap::from([
        ("delivery_id".to_owned(), id.to_string()),
        ("channel".to_owned(), row.channel.clone()),
        ("purpose".to_owned(), row.purpose.clone()),
    ]);
    if result == AckResult::Failed && pin_half {
        let case_id = callbacks::open(
            &txn,
            NewCallbackCase {
                cf: row.cf.clone(),
                reason: "DELIVERY_FAILED",
                request: serde_json::json!({
                    "delivery_id": id,
                    "channel": row.channel,
                    "purpose": row.purpose,
                    "failure_reason": failure_reason,
                })
                .to_string(),
                callback_phone: String::new(),
            },
            now,
        )
        .await?;
        details.insert("callback_case_id".to_owned(), case_id.to_string());
    }
    if let Some(reason) = failure_reason {
        details.insert("failure_reason".to_owned(), reason.to_owned());
    }
    Audit {
        context,
        action: "delivery.ack",
        cf: Some(&row.cf),
        citizen_acts: false,
        outcome,
        request_id: None,
        details,
    }
    .append(&txn, now)
    .await?;
    pin_store::commit(txn).await?;
    Ok(())
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn lease_deliveries(
        &self,
        request: Request<LeaseDeliveriesRequest>,
    ) -> Result<Response<LeaseDeliveriesResponse>, Status> {
        let context = context(&request)?;
        let LeaseDeliveriesRequest {
            channel,
            max_deliveries,
            lease_duration,
        } = request.into_inner();
        let channel = pb::Channel::try_from(channel)
            .ok()
            .and_then(channel_name)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "channel",
                    "MISSING",
                    "channel must be SMS, EMAIL, PEC or POST",
                )
            })?;
        if !(1..=100).contains(&max_deliveries) {
            return Err(ServiceError::invalid(
                "max_deliveries",
                "OUT_OF_RANGE",
                "max_deliveries must be between 1 and 100",
            )
            .into());
        }
        let lease = match lease_duration {
            None => Duration::minutes(5),
            Some(d) if d.seconds == 0 && d.nanos == 0 => Duration::minutes(5),
            Some(d) => Duration::new(d.seconds, d.nanos),
        };
        if lease < Duration::SECOND || lease > Duration::HOUR {
            return Err(ServiceError::invalid(
                "lease_duration",
                "OUT_OF_RANGE",
                "lease_duration must be between 1 second and 1 hour",
            )
            .into());
        }
        let state = &self.state;
        let leased = outbox::lease(
            &state.db,
            channel,
            u64::from(max_deliveries),
            lease,
            &context.caller_id,
            state.now(),
        )
        .await
        .map_err(ServiceError::from)?;
        Ok(Response::new(LeaseDeliveriesResponse {
            deliveries: leased.into_iter().map(delivery_to_pb).collect(),
        }))
    }

    async fn ack_delivery(
        &self,
        request: Request<AckDeliveryRequest>,
    ) -> Result<Response<AckDeliveryResponse>, Status> {
        let context = context(&request)?;
        let AckDeliveryRequest {
            delivery_id,
            result,
            failure_reason,
        } = request.into_inner();
        let id: i64 = delivery_id.parse().map_err(|_| {
            ServiceError::invalid(
                "delivery_id",
                "FORMAT",
                "delivery_id is not a delivery identifier",
            )
        })?;
        let (result, reason) = match DeliveryResult::try_from(result) {
            Ok(DeliveryResult::Sent) => (AckResult::Sent, None),
            Ok(DeliveryResult::FailedPermanently) => {
                let reason = failure_reason.trim();
                if reason.is_empty() || reason.len() > 500 {
                    return Err(ServiceError::invalid(
                        "failure_reason",
                        "MISSING",
                        "failure_reason (1-500 characters) is required when a delivery failed",
                    )
                    .into());
                }
                (AckResult::Failed, Some(reason))
            }
            _ => {
                return Err(ServiceError::invalid(
                    "result",
                    "MISSING",
                    "result must be SENT or FAILED_PERMANENTLY",
                )
                .into());
            }
        };
        acknowledge(&self.state, &context, id, result, reason).await?;
        Ok(Response::new(AckDeliveryResponse {}))
    }
}
