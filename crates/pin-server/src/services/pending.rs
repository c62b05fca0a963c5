//! Services whose behaviour later work brings. Their traits' default methods answer
//! `UNIMPLEMENTED`; they are mounted so that reflection, authentication and role checks
//! already cover them.

use pin_proto::v1::{
    audit_service_server::AuditService, authentication_service_server::AuthenticationService,
    authorization_service_server::AuthorizationService, callback_service_server::CallbackService,
    contacts_service_server::ContactsService, delivery_service_server::DeliveryService,
    event_service_server::EventService, issuance_service_server::IssuanceService,
    recovery_service_server::RecoveryService, revocation_service_server::RevocationService,
    upgrade_service_server::UpgradeService,
};

/// A service not built yet: every RPC answers `UNIMPLEMENTED`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotYetBuilt;

impl IssuanceService for NotYetBuilt {}
impl CallbackService for NotYetBuilt {}
impl AuthenticationService for NotYetBuilt {}
impl AuthorizationService for NotYetBuilt {}
impl UpgradeService for NotYetBuilt {}
impl RecoveryService for NotYetBuilt {}
impl ContactsService for NotYetBuilt {}
impl RevocationService for NotYetBuilt {}
impl DeliveryService for NotYetBuilt {}
impl EventService for NotYetBuilt {}
impl AuditService for NotYetBuilt {}
