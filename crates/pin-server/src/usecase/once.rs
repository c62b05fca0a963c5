//! Requests that take effect once: a retry with the same request id, concurrent or later,
//! gets the first call's answer; the same id with a different request is refused.
//!
//! The answer is recorded in the transaction of the change it answers
//! ([`super::Change::begin_once`] claims the id as the transaction's first statement, and
//! [`super::Change::commit_answer`] fills the answer in), so a request either took effect
//! and has its answer recorded, or neither.

use std::future::Future;

use pin_store::repo::idempotency;
use serde::{Serialize, de::DeserializeOwned};

use super::Call;
use crate::{error::ServiceError, state::AppState};

/// A caller's request id and the fingerprint of the request it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// 1-64 characters from `[A-Za-z0-9._:-]`, chosen by the caller.
    pub request_id: String,
    /// Hex SHA-256 of the request as received: the same id with another request is refused.
    pub fingerprint: String,
}

/// An answer that can be given again. What is recorded never holds a secret: an answer
/// that carries a PIN records it without, and its replay says the secret is not shown again.
pub trait Answer: Sized {
    /// What is stored for replays.
    type Recorded: Serialize + DeserializeOwned;
    /// The recorded form of this answer.
    fn recorded(&self) -> Self::Recorded;
    /// The answer a retry gets.
    fn replayed(recorded: Self::Recorded) -> Self;
}

/// Implements [`Answer`] for answers that hold no secret: they are recorded as they are.
macro_rules! recorded_as_is {
    ($($answer:ty),+ $(,)?) => {
        $(
            impl $crate::usecase::Answer for $answer {
                type Recorded = Self;

                fn recorded(&self) -> Self {
                    self.clone()
                }

                fn replayed(recorded: Self) -> Self {
                    recorded
                }
            }
        )+
    };
}
pub(crate) use recorded_as_is;

/// Runs `work` (a change begun with [`super::Change::begin_once`]) unless a request with
/// the same id already took effect, in which case its answer is returned instead — also
/// when the two ran at the same moment and the other one committed first.
pub async fn once<A: Answer>(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    work: impl Future<Output = Result<A, ServiceError>>,
) -> Result<A, ServiceError> {
    if let Some(answer) = replay(state, call, key).await? {
        return Ok(answer);
    }
    match work.await {
        Err(ServiceError::Conflict) => replay(state, call, key)
            .await?
            .ok_or(ServiceError::Conflict),
        other => other,
    }
}

async fn replay<A: Answer>(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
) -> Result<Option<A>, ServiceError> {
    match idempotency::find(&state.db, &call.caller.caller_id, &key.request_id).await? {
        None => Ok(None),
        Some(recorded) if recorded.fingerprint == key.fingerprint => {
            let recorded = serde_json::from_slice(&recorded.response)
                .map_err(|error| ServiceError::Internal(error.into()))?;
            Ok(Some(A::replayed(recorded)))
        }
        Some(_) => Err(ServiceError::RequestIdReused),
    }
}
