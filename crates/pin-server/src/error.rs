//! The one error type of the handlers and its one mapping to `tonic::Status`.
//!
//! The cause of an internal error goes to the log; the caller gets the right code, a safe
//! message and rich details (`google.rpc.BadRequest` field violations, `ErrorInfo` reason
//! codes, `RetryInfo`). No secret ever enters a `ServiceError`.

use std::collections::HashMap;

use pin_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "pin.inps.it";

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input, naming each offending field.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<Violation>),
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
    /// The service is at capacity; retry after the given time.
    #[error("the service is busy")]
    Busy {
        /// Suggested wait before retrying.
        retry_after: std::time::Duration,
    },
    /// A failure of ours; the detail goes to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
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
            other => ServiceError::Internal(other.into()),
        }
    }
}

fn info(reason: &str) -> ErrorDetails {
    ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::<String, String>::new())
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
            ServiceError::NotFound(what) => Status::with_error_details(
                Code::NotFound,
                format!("{what} not found"),
                info("NOT_FOUND"),
            ),
            ServiceError::FailedPrecondition { reason, message } => {
                Status::with_error_details(Code::FailedPrecondition, message, info(reason))
            }
            ServiceError::RequestIdReused => Status::with_error_details(
                Code::AlreadyExists,
                "request_id was already used for a different request",
                info("REQUEST_ID_REUSED"),
            ),
            ServiceError::Conflict => Status::with_error_details(
                Code::Aborted,
                "the record was changed concurrently; retry",
                info("CONCURRENT_CHANGE"),
            ),
            ServiceError::Busy { retry_after } => {
                let mut details = info("BUSY");
                details.set_retry_info(Some(retry_after));
                Status::with_error_details(
                    Code::ResourceExhausted,
                    "the service is busy; retry later",
                    details,
                )
            }
            ServiceError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Status::with_error_details(Code::Internal, "internal error", info("INTERNAL"))
            }
        }
    }
}
