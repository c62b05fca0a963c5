//! The PIN lifecycle of the INPS identity service, as pure data and functions.
//!
//! Parsed value types ([`CodiceFiscale`], [`Pin8`], [`Pin16`], [`PinHalf`], contacts,
//! addresses, …) are the only way raw input enters the domain; the credential state
//! machine ([`Credential::apply`]) decides every transition; the [`Policy`] holds every
//! limit and lifetime; the [`Throttle`] counts failed logins; [`PinHasher`] hashes secrets
//! with argon2id.
//!
//! Architecture invariant: this crate performs no I/O. It depends on no async runtime, RPC
//! framework or database crate (a test reads its manifest to keep it so), never reads the
//! clock (`now` is an argument) and never draws randomness itself (an `impl CryptoRng` is
//! an argument).

pub mod catalog;
pub mod credential;
pub mod events;
pub mod hashing;
pub mod names;
pub mod person;
pub mod policy;
pub mod reminders;
pub mod throttle;
pub mod types;

pub use catalog::{
    Action, CatalogError, Decision, DenyReason, Entitlement, ServiceCatalog, ServiceEntry,
};
pub use credential::{
    Credential, CredentialState, Effect, Event, Holder, InitialSecret, Issuance, IssuedVia, Level,
    NewCredential, Refusal, Replacement, RevocationReason, Status, TicketClaim, TicketPurpose,
    Transition,
};
pub use events::EventDetail;
pub use hashing::{HashError, HashMemory, HashParams, PinHash, PinHasher, Verification};
pub use names::{
    AuditAction, AuditOutcome, CallbackReason, DeliveryChannel, DeliveryPurpose, EventKind,
    LinkPurpose, PinEnd, ReminderThreshold, SessionEnd, UpgradeVia,
};
pub use person::{Person, PersonProblem, RawPerson, format_date, parse_date};
pub use policy::{Policy, PolicyError, PolicySettings};
pub use reminders::{due_reminders, earliest_reminder};
pub use throttle::{Refused, Settled, Throttle};
pub use types::*;
