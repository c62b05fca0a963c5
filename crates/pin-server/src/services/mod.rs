//! The gRPC handlers, one module per service of the contract.

pub mod audit;
pub mod authentication;
pub mod authorization;
pub mod common;
pub mod delivery;
pub mod issuance;
pub mod pending;
pub mod registry;
