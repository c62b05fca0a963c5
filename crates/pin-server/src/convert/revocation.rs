//! Revocation requests and answers.

use pin_proto::v1 as pb;

use super::{codice_fiscale, health_card};
use crate::{
    error::ServiceError,
    usecase::revocation::{RevocationStart, Revoked},
};

/// The data of an online revocation: codice fiscale, health card, e-mail or PEC.
pub fn revocation_start(
    request: &pb::StartOnlineRevocationRequest,
) -> Result<RevocationStart, ServiceError> {
    let pb::StartOnlineRevocationRequest {
        request_id: _,
        codice_fiscale: cf,
        health_card: card,
        email_or_pec,
    } = request;
    let cf = codice_fiscale("codice_fiscale", cf)?;
    let card = health_card(card.as_ref())?;
    let address = pin_domain::Email::parse(email_or_pec).map_err(|error| {
        ServiceError::invalid("email_or_pec", error.reason(), error.to_string())
    })?;
    Ok(RevocationStart {
        cf,
        card,
        address: address.as_str().to_owned(),
    })
}

/// The codice fiscale and reason of a contact-center revocation; the reason is required
/// (1-500 characters).
pub fn contact_center_revocation(
    request: &pb::RevokeByContactCenterRequest,
) -> Result<(pin_domain::CodiceFiscale, String), ServiceError> {
    let pb::RevokeByContactCenterRequest {
        request_id: _,
        codice_fiscale: cf,
        reason,
    } = request;
    let cf = codice_fiscale("codice_fiscale", cf)?;
    let reason = reason.trim();
    if !(1..=500).contains(&reason.chars().count()) {
        return Err(ServiceError::invalid(
            "reason",
            "MISSING",
            "the reason is required (1-500 characters)",
        ));
    }
    Ok((cf, reason.to_owned()))
}

/// The answer to a contact-center revocation.
pub fn revoked_to_pb(revoked: Revoked) -> pb::RevokeByContactCenterResponse {
    pb::RevokeByContactCenterResponse {
        sessions_ended: revoked.sessions_ended,
    }
}
