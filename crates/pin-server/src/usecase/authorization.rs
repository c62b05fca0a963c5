//! What a logged-in holder may do with a service of the catalog.

use std::collections::BTreeMap;

use pin_domain::{
    Action, AuditAction, AuditOutcome, CodiceFiscale, Decision, DenyReason, Entitlement, ServiceId,
};
use pin_store::{StoreError, repo::held};
use time::OffsetDateTime;

use super::{Audit, Call, Change, resolved_session};
use crate::{error::ServiceError, state::AppState};

/// The answer to an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The session is not usable: nobody to decide for.
    SessionInvalid,
    /// Allowed.
    Allow(CodiceFiscale),
    /// Denied.
    Deny(CodiceFiscale, DenyReason),
    /// Filed and held until the PIN becomes dispositive.
    Held(CodiceFiscale, OffsetDateTime),
}

/// Decides whether the holder of `session_token` may `action` the service; an ordinary
/// PIN's submission that the catalog holds is recorded, once per application reference.
/// `reference` is required (checked by the caller) for submissions.
pub async fn authorize(
    state: &AppState,
    call: &Call,
    session_token: &str,
    service: &ServiceId,
    action: Action,
    reference: &str,
) -> Result<Verdict, ServiceError> {
    if state.catalog.get(service).is_none() {
        return Err(ServiceError::NotFound("service"));
    }
    let live = match resolved_session(state, call, session_token).await {
        Ok(live) => live,
        Err(ServiceError::SessionInvalid) => return Ok(Verdict::SessionInvalid),
        Err(other) => return Err(other),
    };
    let level = live.credential.credential.level;
    let cf = live.session.cf.clone();
    let decision = state
        .catalog
        .decide(service, &live.categories, level, action)
        .ok_or(ServiceError::NotFound("service"))?;
    match decision {
        Decision::Allow => Ok(Verdict::Allow(cf)),
        Decision::Deny(reason) => Ok(Verdict::Deny(cf, reason)),
        Decision::Hold => {
            let change = Change::begin(state, call).await?;
            let held = held::hold(change.txn(), &cf, service, reference, call.now)
                .await
                .map_err(|error| match error {
                    StoreError::Conflict { .. } => ServiceError::FailedPrecondition {
                        reason: "REFERENCE_TAKEN",
                        message: "this application reference is held for another person".to_owned(),
                    },
                    other => other.into(),
                })?;
            change
                .audit(Audit {
                    action: AuditAction::HoldApplication,
                    cf: Some(&cf),
                    citizen_acts: true,
                    outcome: AuditOutcome::Held,
                    details: BTreeMap::from([
                        ("service_id".to_owned(), service.as_str().to_owned()),
                        ("application_reference".to_owned(), reference.to_owned()),
                    ]),
                })
                .await?;
            change.commit().await?;
            Ok(Verdict::Held(cf, held.filed_at))
        }
    }
}

/// What the holder of `session_token` may use.
pub async fn entitlements<'a>(
    state: &'a AppState,
    call: &Call,
    session_token: &str,
) -> Result<Vec<Entitlement<'a>>, ServiceError> {
    let live = resolved_session(state, call, session_token).await?;
    Ok(state
        .catalog
        .entitlements(&live.categories, live.credential.credential.level))
}
