//! Campaign letters and their activation.

use pin_domain::{HealthCard, HealthCardNumber, PinHalf, parse_date};
use pin_proto::v1 as pb;

use super::{codice_fiscale, timestamp};
use crate::{
    error::{ServiceError, Violation},
    usecase::campaign::{Activated, CampaignOutcome, MAX_BATCH, Skip},
};

/// The campaign name and the people of a batch (1 to [`MAX_BATCH`]).
pub fn campaign(
    request: &pb::IssueCampaignPinsRequest,
) -> Result<(String, Vec<String>), ServiceError> {
    let pb::IssueCampaignPinsRequest {
        request_id: _,
        campaign_id,
        codici_fiscali,
    } = request;
    let mut problems = Vec::new();
    let name = campaign_id.trim();
    if !(1..=64).contains(&name.len()) {
        problems.push(Violation::new(
            "campaign_id",
            "MISSING",
            "campaign_id names the campaign (1-64 characters)",
        ));
    }
    if !(1..=MAX_BATCH).contains(&codici_fiscali.len()) {
        problems.push(Violation::new(
            "codici_fiscali",
            "OUT_OF_RANGE",
            format!("a campaign call writes to 1-{MAX_BATCH} people"),
        ));
    }
    if problems.is_empty() {
        Ok((name.to_owned(), codici_fiscali.clone()))
    } else {
        Err(ServiceError::InvalidArgument(problems))
    }
}

/// The outcome of a batch.
pub fn campaign_outcome_to_pb(outcome: CampaignOutcome) -> pb::IssueCampaignPinsResponse {
    pb::IssueCampaignPinsResponse {
        issued: outcome.issued,
        skipped: outcome
            .skipped
            .into_iter()
            .map(|(codice_fiscale, skip)| pb::CampaignSkip {
                codice_fiscale,
                reason: match skip {
                    Skip::InvalidCodiceFiscale => "INVALID_CODICE_FISCALE",
                    Skip::NotInRegistry => "NOT_IN_REGISTRY",
                    Skip::PinAlreadyIssued => "PIN_ALREADY_ISSUED",
                }
                .to_owned(),
            })
            .collect(),
    }
}

/// The codice fiscale, first half and health card of an activation.
pub fn activation(
    request: &pb::ActivateCampaignPinRequest,
) -> Result<(pin_domain::CodiceFiscale, PinHalf, HealthCard), ServiceError> {
    let pb::ActivateCampaignPinRequest {
        request_id: _,
        codice_fiscale: cf,
        first_half,
        health_card,
    } = request;
    let cf = codice_fiscale("codice_fiscale", cf)?;
    let half = PinHalf::parse(first_half)
        .map_err(|error| ServiceError::invalid("first_half", error.reason(), error.to_string()))?;
    Ok((cf, half, self::health_card(health_card.as_ref())?))
}

/// The health card of a request, in the field `health_card`.
pub fn health_card(card: Option<&pb::HealthCard>) -> Result<HealthCard, ServiceError> {
    let Some(pb::HealthCard { number, expiry }) = card else {
        return Err(ServiceError::invalid(
            "health_card",
            "MISSING",
            "the health card's number and expiry are required",
        ));
    };
    let number = HealthCardNumber::parse(number).map_err(|error| {
        ServiceError::invalid("health_card.number", error.reason(), error.to_string())
    })?;
    let expiry = parse_date(expiry).ok_or_else(|| {
        ServiceError::invalid(
            "health_card.expiry",
            "CALENDAR_DATE",
            "the expiry is a calendar date in the form YYYY-MM-DD",
        )
    })?;
    Ok(HealthCard { number, expiry })
}

/// The second half, or on a replay the note that it is not shown again.
pub fn activated_to_pb(activated: Activated) -> pb::ActivateCampaignPinResponse {
    let Activated {
        second_half,
        first_access_deadline,
    } = activated;
    pb::ActivateCampaignPinResponse {
        secret_withheld: second_half.is_none(),
        second_half: second_half
            .map(|half| half.expose_secret().to_owned())
            .unwrap_or_default(),
        first_access_deadline: Some(timestamp(first_access_deadline)),
    }
}
