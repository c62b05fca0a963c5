//! The gRPC handlers, one module per service of the contract. A handler destructures its
//! request, converts it (`crate::convert`), calls one use case (`crate::usecase`) and
//! encodes the answer; it never touches the store.

pub mod audit;
pub mod authentication;
pub mod authorization;
pub mod callback;
pub mod contacts;
pub mod delivery;
pub mod events;
pub mod issuance;
pub mod recovery;
pub mod registry;
pub mod revocation;
pub mod upgrade;

use tonic::{Response, Status};

use crate::error::ServiceError;

/// The handler's result: the encoded answer, or the error through the one error map.
pub(crate) fn reply<T>(answer: Result<T, ServiceError>) -> Result<Response<T>, Status> {
    answer.map(Response::new).map_err(Status::from)
}
