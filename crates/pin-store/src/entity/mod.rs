//! sea-orm entities, one module per table.
//!
//! Portable column conventions (the migration is the source of truth for the schema):
//! instants are `i64` Unix milliseconds in columns ending in `_at`; calendar dates are
//! ISO `YYYY-MM-DD` strings; enums are short upper-case strings; JSON is text.

pub mod audit_record;
pub mod callback_case;
pub mod contact;
pub mod credential;
pub mod delivery;
pub mod event;
pub mod expiry_reminder;
pub mod held_application;
pub mod idempotency_key;
pub mod login_throttle;
pub mod one_time_link;
pub mod person;
pub mod pin_history;
pub mod proofing_record;
pub mod session;
pub mod ticket;
pub mod upgrade_request;
pub mod verification_code;

/// The entities under short names, as `sea-orm-cli` would generate them.
pub mod prelude {
    pub use super::audit_record::Entity as AuditRecord;
    pub use super::callback_case::Entity as CallbackCase;
    pub use super::contact::Entity as Contact;
    pub use super::credential::Entity as Credential;
    pub use super::delivery::Entity as Delivery;
    pub use super::event::Entity as Event;
    pub use super::expiry_reminder::Entity as ExpiryReminder;
    pub use super::held_application::Entity as HeldApplication;
    pub use super::idempotency_key::Entity as IdempotencyKey;
    pub use super::login_throttle::Entity as LoginThrottle;
    pub use super::one_time_link::Entity as OneTimeLink;
    pub use super::person::Entity as Person;
    pub use super::pin_history::Entity as PinHistory;
    pub use super::proofing_record::Entity as ProofingRecord;
    pub use super::session::Entity as Session;
    pub use super::ticket::Entity as Ticket;
    pub use super::upgrade_request::Entity as UpgradeRequest;
    pub use super::verification_code::Entity as VerificationCode;
}
