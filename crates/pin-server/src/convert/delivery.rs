//! The outbox as the sending worker sees it.

use pin_domain::{DeliveryChannel, DeliveryPurpose};
use pin_proto::v1 as pb;
use pin_store::repo::outbox::{AckResult, LeasedDelivery};

use super::timestamp;
use crate::error::ServiceError;

/// A channel from request field `channel`.
pub fn channel(value: i32) -> Result<DeliveryChannel, ServiceError> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::Sms) => Ok(DeliveryChannel::Sms),
        Ok(pb::Channel::Email) => Ok(DeliveryChannel::Email),
        Ok(pb::Channel::Pec) => Ok(DeliveryChannel::Pec),
        Ok(pb::Channel::Post) => Ok(DeliveryChannel::Post),
        Ok(pb::Channel::Unspecified) | Err(_) => Err(ServiceError::invalid(
            "channel",
            "MISSING",
            "channel must be SMS, EMAIL, PEC or POST",
        )),
    }
}

fn channel_to_pb(channel: DeliveryChannel) -> pb::Channel {
    match channel {
        DeliveryChannel::Sms => pb::Channel::Sms,
        DeliveryChannel::Email => pb::Channel::Email,
        DeliveryChannel::Pec => pb::Channel::Pec,
        DeliveryChannel::Post => pb::Channel::Post,
    }
}

fn purpose_to_pb(purpose: DeliveryPurpose) -> pb::DeliveryPurpose {
    match purpose {
        DeliveryPurpose::PinFirstHalf => pb::DeliveryPurpose::PinFirstHalf,
        DeliveryPurpose::PinSecondHalf => pb::DeliveryPurpose::PinSecondHalf,
        DeliveryPurpose::RecoveryLink => pb::DeliveryPurpose::RecoveryLink,
        DeliveryPurpose::RevocationLink => pb::DeliveryPurpose::RevocationLink,
        DeliveryPurpose::VerificationCode => pb::DeliveryPurpose::VerificationCode,
        DeliveryPurpose::Notice => pb::DeliveryPurpose::Notice,
    }
}

/// `max_deliveries`, 1-100.
pub fn max_deliveries(value: u32) -> Result<u64, ServiceError> {
    if (1..=100).contains(&value) {
        Ok(u64::from(value))
    } else {
        Err(ServiceError::invalid(
            "max_deliveries",
            "OUT_OF_RANGE",
            "max_deliveries must be between 1 and 100",
        ))
    }
}

/// `lease_duration`: 1 s to 1 h; unset or zero means 5 minutes.
pub fn lease_duration(
    value: Option<prost_types::Duration>,
) -> Result<time::Duration, ServiceError> {
    let lease = match value {
        None => time::Duration::minutes(5),
        Some(d) if d.seconds == 0 && d.nanos == 0 => time::Duration::minutes(5),
        Some(d) => time::Duration::new(d.seconds, d.nanos),
    };
    if lease < time::Duration::SECOND || lease > time::Duration::HOUR {
        return Err(ServiceError::invalid(
            "lease_duration",
            "OUT_OF_RANGE",
            "lease_duration must be between 1 second and 1 hour",
        ));
    }
    Ok(lease)
}

/// A leased delivery as the worker receives it.
pub fn delivery_to_pb(delivery: LeasedDelivery) -> pb::Delivery {
    pb::Delivery {
        id: delivery.id.to_string(),
        channel: channel_to_pb(delivery.channel).into(),
        recipient: delivery.recipient,
        purpose: purpose_to_pb(delivery.purpose).into(),
        subject: delivery.subject,
        body: delivery.body,
        secret: delivery.secret,
        lease_expires_at: Some(timestamp(delivery.leased_until)),
        attempt: delivery.attempts,
    }
}

/// The delivery id, result and failure reason of an acknowledgement.
pub fn acknowledgement(
    delivery_id: &str,
    result: i32,
    failure_reason: &str,
) -> Result<(i64, AckResult, Option<String>), ServiceError> {
    let id: i64 = delivery_id.parse().map_err(|_| {
        ServiceError::invalid(
            "delivery_id",
            "FORMAT",
            "delivery_id is not a delivery identifier",
        )
    })?;
    match pb::DeliveryResult::try_from(result) {
        Ok(pb::DeliveryResult::Sent) => Ok((id, AckResult::Sent, None)),
        Ok(pb::DeliveryResult::FailedPermanently) => {
            let reason = failure_reason.trim();
            if reason.is_empty() || reason.len() > 500 {
                return Err(ServiceError::invalid(
                    "failure_reason",
                    "MISSING",
                    "failure_reason (1-500 characters) is required when a delivery failed",
                ));
            }
            Ok((id, AckResult::Failed, Some(reason.to_owned())))
        }
        Ok(pb::DeliveryResult::Unspecified) | Err(_) => Err(ServiceError::invalid(
            "result",
            "MISSING",
            "result must be SENT or FAILED_PERMANENTLY",
        )),
    }
}
