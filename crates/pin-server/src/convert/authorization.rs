//! Authorization requests and verdicts.

use pin_domain::{Action, DenyReason, Entitlement, ServiceId};
use pin_proto::v1 as pb;

use super::timestamp;
use crate::{error::ServiceError, usecase::authorization::Verdict};

/// A service id from request field `field`.
pub fn service_id(field: &str, value: &str) -> Result<ServiceId, ServiceError> {
    ServiceId::parse(value)
        .map_err(|error| ServiceError::invalid(field, error.reason(), error.to_string()))
}

/// The action and, for a submission, the application reference (1-128 characters).
pub fn action_and_reference(
    action: i32,
    reference: &str,
) -> Result<(Action, String), ServiceError> {
    let action = match pb::Action::try_from(action) {
        Ok(pb::Action::Consult) => Action::Consult,
        Ok(pb::Action::Submit) => Action::Submit,
        Ok(pb::Action::Unspecified) | Err(_) => {
            return Err(ServiceError::invalid(
                "action",
                "MISSING",
                "action must be CONSULT or SUBMIT",
            ));
        }
    };
    let reference = reference.trim();
    if action == Action::Submit && (reference.is_empty() || reference.len() > 128) {
        return Err(ServiceError::invalid(
            "application_reference",
            "MISSING",
            "a submission needs the application reference (1-128 characters)",
        ));
    }
    Ok((action, reference.to_owned()))
}

/// The answer to an authorization request.
pub fn verdict_to_pb(verdict: Verdict) -> pb::AuthorizeResponse {
    let (decision, reason, cf, filed_at) = match verdict {
        Verdict::SessionInvalid => (
            pb::Decision::Deny,
            pb::DenyReason::SessionInvalid,
            String::new(),
            None,
        ),
        Verdict::Allow(cf) => (
            pb::Decision::Allow,
            pb::DenyReason::Unspecified,
            cf.as_str().to_owned(),
            None,
        ),
        Verdict::Deny(cf, reason) => (
            pb::Decision::Deny,
            match reason {
                DenyReason::CategoryNotEntitled => pb::DenyReason::CategoryNotEntitled,
                DenyReason::LevelInsufficient => pb::DenyReason::LevelInsufficient,
            },
            cf.as_str().to_owned(),
            None,
        ),
        Verdict::Held(cf, filed_at) => (
            pb::Decision::Held,
            pb::DenyReason::Unspecified,
            cf.as_str().to_owned(),
            Some(timestamp(filed_at)),
        ),
    };
    pb::AuthorizeResponse {
        decision: decision.into(),
        deny_reason: reason.into(),
        codice_fiscale: cf,
        filed_at,
    }
}

/// What a holder may use.
pub fn entitlements_to_pb(entitlements: Vec<Entitlement<'_>>) -> pb::ListEntitledServicesResponse {
    pb::ListEntitledServicesResponse {
        services: entitlements
            .into_iter()
            .map(|e| pb::EntitledService {
                service_id: e.service.id.as_str().to_owned(),
                name: e.service.name.clone(),
                can_consult: e.can_consult,
                can_submit: e.can_submit,
                submission_held: e.submission_held,
            })
            .collect(),
    }
}
