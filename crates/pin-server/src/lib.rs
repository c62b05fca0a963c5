//! The INPS PIN identity service: configuration, telemetry, start-up and the gRPC handlers.
//!
//! Architecture invariant: this is the only crate that knows both protobuf and the domain.
//! Every conversion between the two lives in [`convert`]; handlers ([`services`]) call one
//! use case ([`usecase`]) each and never touch the store; use cases never see protobuf or
//! tonic; every error becomes a `tonic::Status` in one place ([`error`]); every RPC's
//! allowed roles are declared in one table ([`auth::rule`]) and enforced by one layer
//! before any handler runs.

pub mod app;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod convert;
pub mod deadline;
pub mod detach;
pub mod error;
pub mod hashing_pool;
pub mod health;
pub mod mailbox;
pub mod metrics;
pub mod observe;
pub mod readiness;
pub mod reminders;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod usecase;
