//! The gRPC handlers, one module per service of the contract.

pub mod pending;
pub mod registry;
