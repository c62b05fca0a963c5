//! The one error type of the service and its one mapping to `tonic::Status`.
//!
//! Only this module builds a `tonic::Status` (a test reads the sources to keep it so). The
//! cause of an internal error goes to the log; the caller gets the right code, a safe
//! message and rich details: an `ErrorInfo` with a reason on every error, `BadRequest`
//! field violations for bad input, `RetryInfo` when waiting helps. No secret ever enters a
//! `ServiceError`.

use std::{collections::HashMap, time::Duration};

use pin_domain::Refusal;
use pin_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "pin.inps.it";

/// How long a caller is told to wait when the database is out of reach.
pub const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input, naming each offending field.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<Violation>),
    /// The bytes received are not the request message (truncated, garbage, a string that
    /// is not UTF-8).
    #[error("the request is not a valid message: {detail}")]
    MalformedRequest {
        /// What the decoder reported (no request content).
        detail: String,
    },
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is valid but the state does not allow it.
    #[error("{message}")]
    FailedPrecondition {
        /// Machine-readable reason.
        reason: &'static str,
        /// Safe message for the caller.
        message: String,
    },
    /// The same request id was used for a different request.
    #[error("request_id was already used for a different request")]
    RequestIdReused,
    /// A concurrent change won; the caller may retry.
    #[error("the record was changed concurrently")]
    Conflict,
    /// The hashing pool is at capacity; retry after the given time.
    #[error("the service is busy")]
    Busy {
        /// Suggested wait before retrying.
        retry_after: Duration,
    },
    /// Too many requests of one kind for one codice fiscale, or from one calling service;
    /// retry after the given time.
    #[error("too many requests {scope}")]
    RateLimited {
        /// Whose requests: "for this codice fiscale", "from this caller".
        scope: &'static str,
        /// Suggested wait before retrying.
        retry_after: Duration,
    },
    /// The database is out of reach (down, or no connection came free in time).
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    /// Every failed login, whatever the cause: unknown codice fiscale, wrong PIN, revoked,
    /// replaced or lapsed PIN, locked codice fiscale. One answer, so nothing is learnt.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A ticket that is unknown, used, expired or for another PIN.
    #[error("the ticket is not valid")]
    TicketInvalid,
    /// A session token that is malformed, unknown, ended or timed out, or whose PIN no
    /// longer stands.
    #[error("the session is not valid")]
    SessionInvalid,
    /// The calling service was not let in.
    #[error("caller refused: {0:?}")]
    CallerRefused(CallerRefusal),
    /// The client's request stream broke off.
    #[error("the request stream ended abnormally")]
    StreamBroken,
    /// A failure of ours; the detail goes to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Why the auth layer refused a calling service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerRefusal {
    /// No bearer token, and no client certificate naming a caller.
    MissingCredentials,
    /// A bearer token no caller has.
    InvalidCredentials,
    /// The caller's roles do not include the RPC.
    RoleNotAllowed,
    /// An operator RPC without a valid `x-operator-id`.
    MissingOperatorId,
}

/// One bad field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path in the request, e.g. `person.codice_fiscale`.
    pub field: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable description.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(
        field: impl Into<String>,
        reason: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            description: description.into(),
        }
    }
}

fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServiceError {
    /// A single bad field.
    pub fn invalid(
        field: impl Into<String>,
        reason: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::InvalidArgument(vec![Violation::new(field, reason, description)])
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity } => ServiceError::NotFound(entity),
            StoreError::Conflict { .. } => ServiceError::Conflict,
            unavailable @ StoreError::Unavailable(_) => ServiceError::Unavailable(unavailable),
            other @ StoreError::Database(_) => ServiceError::Internal(other.into()),
        }
    }
}

/// How each refusal of the state machine reaches a caller, decided once. Every refusal a
/// login can meet collapses into [`ServiceError::AuthenticationFailed`]; use cases that
/// must say something else (a ticket, a PIN change) map the refusal themselves first.
impl From<Refusal> for ServiceError {
    fn from(refusal: Refusal) -> Self {
        let precondition = |reason, message: &str| ServiceError::FailedPrecondition {
            reason,
            message: message.to_owned(),
        };
        match refusal {
            Refusal::WrongPin | Refusal::WrongHealthCard | Refusal::NotLive | Refusal::Lapsed => {
                ServiceError::AuthenticationFailed
            }
            Refusal::InvalidTicket => ServiceError::TicketInvalid,
            Refusal::WrongState => {
                precondition("WRONG_STATE", "the PIN is not in a state that allows this")
            }
            Refusal::NotExpired => precondition("PIN_NOT_EXPIRED", "the PIN has not expired"),
            Refusal::Expired => {
                precondition("PIN_EXPIRED", "the PIN has expired; log in to renew it")
            }
            Refusal::RecentlyUsed => precondition(
                "PIN_RECENTLY_USED",
                "the new PIN must differ from the PINs used recently",
            ),
            Refusal::AlreadyDispositive => {
                precondition("ALREADY_DISPOSITIVE", "the PIN is already dispositive")
            }
            Refusal::AlreadyHolds => {
                precondition("PIN_ALREADY_ISSUED", "this person already holds a PIN")
            }
        }
    }
}

/// What a broken client stream becomes: bytes that are not the message are the caller's
/// bad input; anything else (a reset, a cancelled call) is a broken stream.
pub fn from_stream_error(status: &Status) -> ServiceError {
    match decode_failure(status) {
        Some(detail) => ServiceError::MalformedRequest { detail },
        None => ServiceError::StreamBroken,
    }
}

/// The decoder's complaint, when `status` is tonic's answer to bytes that did not decode
/// as the request message (tonic answers `INTERNAL` there; we answer `INVALID_ARGUMENT`).
pub fn decode_failure(status: &Status) -> Option<String> {
    const PREFIX: &str = "failed to decode Protobuf message";
    (status.code() == Code::Internal && status.message().starts_with(PREFIX))
        .then(|| status.message().to_owned())
}

/// tonic answers bytes that do not decode as the request message with `INTERNAL`, before
/// any handler runs; the auth layer passes every response through here to put our answer,
/// `INVALID_ARGUMENT` with `MALFORMED_REQUEST`, in its place.
pub fn replace_decode_failure<B, E>(
    response: Result<http::Response<B>, E>,
) -> Result<http::Response<B>, E> {
    let mut response = response?;
    let Some(detail) = Status::from_header_map(response.headers())
        .as_ref()
        .and_then(decode_failure)
    else {
        return Ok(response);
    };
    let headers = response.headers_mut();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    // Writing our own status into headers fails only for a message that is not valid
    // header text, which ours always is.
    let _ = Status::from(ServiceError::MalformedRequest { detail }).add_header(headers);
    Ok(response)
}

/// `error`'s status for a call that did part of its work before failing: `done` is
/// appended to the message and `counts` go into the `ErrorInfo` metadata, its reason kept.
pub fn with_progress(error: ServiceError, done: &str, counts: &[(&str, u32)]) -> Status {
    let status = Status::from(error);
    let mut details = status.get_error_details();
    let reason = details
        .error_info()
        .map_or_else(String::new, |info| info.reason.clone());
    details.set_error_info(
        reason,
        ERROR_DOMAIN,
        counts
            .iter()
            .map(|(name, n)| ((*name).to_owned(), n.to_string()))
            .collect::<HashMap<_, _>>(),
    );
    Status::with_error_details(
        status.code(),
        format!("{}; {done}", status.message()),
        details,
    )
}

fn info(reason: &str) -> ErrorDetails {
    ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::<String, String>::new())
}

fn status(code: Code, message: impl Into<String>, reason: &str) -> Status {
    Status::with_error_details(code, message, info(reason))
}

fn retry(code: Code, message: &str, reason: &str, after: Duration) -> Status {
    let mut details = info(reason);
    details.set_retry_info(Some(after));
    Status::with_error_details(code, message, details)
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidArgument(violations) => {
                let message = describe(&violations);
                let mut details = ErrorDetails::with_bad_request(
                    violations
                        .iter()
                        .map(|v| FieldViolation::new(v.field.clone(), v.description.clone()))
                        .collect::<Vec<_>>(),
                );
                let reasons: HashMap<String, String> = violations
                    .into_iter()
                    .map(|v| (v.field, v.reason))
                    .collect();
                details.set_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, reasons);
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ServiceError::MalformedRequest { detail } => status(
                Code::InvalidArgument,
                format!("the request bytes are not a valid request message ({detail})"),
                "MALFORMED_REQUEST",
            ),
            ServiceError::NotFound(what) => {
                status(Code::NotFound, format!("{what} not found"), "NOT_FOUND")
            }
            ServiceError::FailedPrecondition { reason, message } => {
                status(Code::FailedPrecondition, message, reason)
            }
            ServiceError::RequestIdReused => status(
                Code::AlreadyExists,
                "request_id was already used for a different request",
                "REQUEST_ID_REUSED",
            ),
            ServiceError::Conflict => status(
                Code::Aborted,
                "the record was changed concurrently; retry",
                "CONCURRENT_CHANGE",
            ),
            ServiceError::Busy { retry_after } => retry(
                Code::ResourceExhausted,
                "the service is busy; retry later",
                "BUSY",
                retry_after,
            ),
            ServiceError::RateLimited { scope, retry_after } => retry(
                Code::ResourceExhausted,
                &format!("too many requests {scope}; retry later"),
                "TOO_MANY_REQUESTS",
                retry_after,
            ),
            ServiceError::Unavailable(cause) => {
                tracing::warn!(
                    error = format!("{:#}", anyhow::Error::new(cause)),
                    "database unavailable"
                );
                retry(
                    Code::Unavailable,
                    "the service cannot reach its database; retry later",
                    "DATABASE_UNAVAILABLE",
                    DATABASE_RETRY_AFTER,
                )
            }
            ServiceError::AuthenticationFailed => status(
                Code::Unauthenticated,
                "the codice fiscale or the PIN is not valid",
                "AUTHENTICATION_FAILED",
            ),
            ServiceError::TicketInvalid => status(
                Code::FailedPrecondition,
                "the ticket is not valid; log in again",
                "TICKET_INVALID",
            ),
            ServiceError::SessionInvalid => status(
                Code::Unauthenticated,
                "the session is not valid; log in again",
                "SESSION_INVALID",
            ),
            ServiceError::CallerRefused(refusal) => caller_refused(refusal),
            ServiceError::StreamBroken => status(
                Code::Cancelled,
                "the request stream ended abnormally",
                "STREAM_BROKEN",
            ),
            ServiceError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                status(Code::Internal, "internal error", "INTERNAL")
            }
        }
    }
}

fn caller_refused(refusal: CallerRefusal) -> Status {
    match refusal {
        CallerRefusal::MissingCredentials => status(
            Code::Unauthenticated,
            "this RPC needs the metadata `authorization: Bearer <token>`, or a client \
             certificate naming a caller",
            "MISSING_CREDENTIALS",
        ),
        CallerRefusal::InvalidCredentials => status(
            Code::Unauthenticated,
            "the bearer token is not valid",
            "INVALID_CREDENTIALS",
        ),
        CallerRefusal::RoleNotAllowed => status(
            Code::PermissionDenied,
            "the caller's roles do not allow this RPC",
            "ROLE_NOT_ALLOWED",
        ),
        CallerRefusal::MissingOperatorId => status(
            Code::Unauthenticated,
            "this operator RPC needs the metadata `x-operator-id` naming the operator \
             (1-64 characters: letters, digits, . _ - @)",
            "MISSING_OPERATOR_ID",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_login_refusal_is_one_answer() {
        for refusal in [
            Refusal::WrongPin,
            Refusal::WrongHealthCard,
            Refusal::NotLive,
            Refusal::Lapsed,
        ] {
            let status = Status::from(ServiceError::from(refusal));
            let expected = Status::from(ServiceError::AuthenticationFailed);
            assert_eq!(status.code(), expected.code());
            assert_eq!(status.message(), expected.message());
            assert_eq!(status.details(), expected.details());
        }
    }

    #[test]
    fn a_decoder_complaint_is_bad_input_and_anything_else_a_broken_stream() {
        let decode = Status::internal("failed to decode Protobuf message: invalid wire type");
        let mapped = Status::from(from_stream_error(&decode));
        assert_eq!(mapped.code(), Code::InvalidArgument);
        assert_eq!(
            mapped.get_details_error_info().map(|i| i.reason),
            Some("MALFORMED_REQUEST".to_owned())
        );
        let other = Status::internal("h2 protocol error");
        assert_eq!(
            Status::from(from_stream_error(&other)).code(),
            Code::Cancelled
        );
    }
}
