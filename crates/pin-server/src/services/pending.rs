//! Services whose behaviour later work brings. Their traits' default methods answer
//! `UNIMPLEMENTED`; they are mounted so that reflection, authentication and role checks
//! already cover them.

use pin_proto::v1::contacts_service_server::ContactsService;

/// A service not built yet: every RPC answers `UNIMPLEMENTED`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotYetBuilt;

impl ContactsService for NotYetBuilt {}
