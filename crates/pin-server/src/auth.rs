//! Caller authentication and role checks, in one place for every RPC.
//!
//! Every RPC except health (and reflection, unless `reflection.access` restricts it to admin
//! callers) needs `authorization: Bearer <token>`, or a verified client certificate naming a
//! caller (see [`Callers::authorize`]). The
//! configuration lists callers by the SHA-256 of their token, so no token is ever stored.
//! [`rule`] says which roles may call each RPC and whether it is an operator RPC, which also
//! needs `x-operator-id`. [`AuthLayer`] enforces both before any handler runs and hands the
//! handler a [`CallContext`].

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{BoxFuture, FutureExt};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::{
    error::{CallerRefusal, ServiceError, replace_decode_failure},
    tls::{PeerIdentity, certificate_name},
};

/// What a calling service is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The citizens' portal.
    Portal,
    /// The contact center's desk software.
    ContactCenter,
    /// The offices' counter software.
    Office,
    /// The back office reviewing identity documents.
    BackOffice,
    /// The benefit-application services.
    Benefits,
    /// The worker sending SMS, e-mail, PEC and letters.
    Delivery,
    /// Administration: registry loads, campaigns, audit.
    Admin,
}

impl Role {
    /// Every role, for the development caller.
    pub const ALL: [Role; 7] = [
        Role::Portal,
        Role::ContactCenter,
        Role::Office,
        Role::BackOffice,
        Role::Benefits,
        Role::Delivery,
        Role::Admin,
    ];
}

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcRule {
    /// Roles allowed to call it.
    pub roles: &'static [Role],
    /// An operator RPC: the caller must also name the operator in `x-operator-id`.
    pub operator: bool,
}

const fn open(roles: &'static [Role]) -> Option<RpcRule> {
    Some(RpcRule {
        roles,
        operator: false,
    })
}

const fn operator(roles: &'static [Role]) -> Option<RpcRule> {
    Some(RpcRule {
        roles,
        operator: true,
    })
}

/// The rule for an RPC path such as `/inps.pin.v1.RegistryService/GetPerson`; `None` for
/// paths that are not RPCs of the contract. A test checks that every RPC has a rule.
pub fn rule(path: &str) -> Option<RpcRule> {
    use Role::*;
    let (service, method) = path.strip_prefix("/inps.pin.v1.")?.split_once('/')?;
    match (service, method) {
        ("RegistryService", "UpsertPersons") => open(&[Admin]),
        ("RegistryService", "GetPerson") => open(&[Admin, ContactCenter, Office, BackOffice]),

        ("IssuanceService", "RequestPinOnline" | "ActivateCampaignPin") => open(&[Portal]),
        ("IssuanceService", "RequestPinByContactCenter") => operator(&[ContactCenter]),
        ("IssuanceService", "IssuePinAtOffice") => operator(&[Office]),
        ("IssuanceService", "IssueCampaignPins") => open(&[Admin]),

        ("CallbackService", "ListCallbackCases" | "ResolveCallbackCase") => {
            operator(&[ContactCenter])
        }

        ("AuthenticationService", "IntrospectSession") => open(&[Portal, Benefits]),
        (
            "AuthenticationService",
            "Authenticate" | "CompleteFirstAccess" | "RenewExpiredPin" | "ChangePin" | "Logout",
        ) => open(&[Portal]),

        ("AuthorizationService", "Authorize" | "ListEntitledServices") => open(&[Portal, Benefits]),

        ("UpgradeService", "SubmitIdentityDocument") => open(&[Portal]),
        ("UpgradeService", "ListPendingReviews" | "ReviewIdentityDocument") => {
            operator(&[BackOffice])
        }
        ("UpgradeService", "UpgradeAtOffice") => operator(&[Office]),

        ("RecoveryService", "StartRecovery" | "ConfirmRecovery") => open(&[Portal]),

        ("ContactsService", "GetContacts" | "UpdateContacts" | "VerifyContact") => open(&[Portal]),
        ("ContactsService", "AddContactByContactCenter") => operator(&[ContactCenter]),

        ("RevocationService", "StartOnlineRevocation" | "ConfirmOnlineRevocation") => {
            open(&[Portal])
        }
        ("RevocationService", "RevokeByContactCenter") => operator(&[ContactCenter]),

        ("DeliveryService", "LeaseDeliveries" | "AckDelivery") => open(&[Delivery]),
        ("EventService", "Subscribe") => open(&[Benefits, Admin]),
        ("AuditService", "ListAuditEvents") => open(&[Admin]),
        _ => None,
    }
}

fn is_reflection(path: &str) -> bool {
    path.starts_with("/grpc.reflection.")
}

/// An authenticated caller.
#[derive(Debug, Clone)]
struct Caller {
    id: Arc<str>,
    roles: HashSet<Role>,
}

/// The configured callers, keyed by the SHA-256 of their token and by the name their
/// client certificate carries.
#[derive(Debug, Clone, Default)]
pub struct Callers {
    by_token_hash: HashMap<[u8; 32], Caller>,
    /// Keyed by [`certificate_name`].
    by_certificate_name: HashMap<String, Caller>,
    /// Who may use server reflection: anyone, or callers holding this role.
    reflection: Option<Role>,
}

impl Callers {
    /// Restricts server reflection to callers holding `role` (by default anyone may use
    /// it, without a token).
    pub fn restrict_reflection(&mut self, role: Role) {
        self.reflection = Some(role);
    }

    /// Adds a caller by the SHA-256 of its token (hex, as configured).
    pub fn add(&mut self, id: &str, token_sha256_hex: &str, roles: &[Role]) -> anyhow::Result<()> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(token_sha256_hex, &mut digest)
            .map_err(|_| anyhow::anyhow!("caller {id}: token_sha256 is not 64 hex characters"))?;
        self.by_token_hash.insert(
            digest,
            Caller {
                id: Arc::from(id),
                roles: roles.iter().copied().collect(),
            },
        );
        Ok(())
    }

    /// Adds a caller by a DNS name or URI its client certificate carries among its
    /// subjectAltNames.
    pub fn add_certificate_name(
        &mut self,
        id: &str,
        name: &str,
        roles: &[Role],
    ) -> anyhow::Result<()> {
        let name = certificate_name(name);
        if let Some(other) = self.by_certificate_name.get(&name) {
            anyhow::bail!(
                "callers {:?} and {id:?} have the same client_cert_name",
                &*other.id
            );
        }
        self.by_certificate_name.insert(
            name,
            Caller {
                id: Arc::from(id),
                roles: roles.iter().copied().collect(),
            },
        );
        Ok(())
    }

    /// Whether no caller is configured.
    pub fn is_empty(&self) -> bool {
        self.by_token_hash.is_empty() && self.by_certificate_name.is_empty()
    }

    fn find(&self, token: &str) -> Option<&Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_token_hash.get(&digest)
    }

    /// The caller a certificate's names designate. A certificate naming two callers
    /// designates neither: which one it is would depend on the order of its names.
    fn find_by_certificate(&self, peer: &PeerIdentity) -> Option<&Caller> {
        let mut found = peer
            .names()
            .iter()
            .filter_map(|name| self.by_certificate_name.get(name));
        let first = found.next()?;
        found.all(|other| other.id == first.id).then_some(first)
    }
}

/// Hex SHA-256 of a token, as the configuration wants it.
pub fn token_sha256_hex(token: &str) -> String {
    crate::tokens::sha256_hex(token.as_bytes())
}

/// Who is calling, handed to every handler through the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The calling service's id from the configuration.
    pub caller_id: Arc<str>,
    /// The operator named in `x-operator-id`, for operator RPCs.
    pub operator_id: Option<String>,
}

fn valid_operator_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl Callers {
    /// Decides whether a request to `path` with these headers, on a connection whose
    /// client certificate (verified by the TLS handshake) gave `peer`, may go ahead.
    ///
    /// A bearer token, when there is one, decides who calls: a token no caller has is
    /// refused even if the certificate names a caller, so that a certificate never covers
    /// for a wrong token. Without a token, the certificate's names designate the caller
    /// whose `client_cert_name` they contain.
    pub fn authorize(
        &self,
        path: &str,
        headers: &http::HeaderMap,
        peer: Option<&PeerIdentity>,
    ) -> Result<CallContext, CallerRefusal> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty());
        let caller = match token {
            Some(token) => self.find(token).ok_or(CallerRefusal::InvalidCredentials)?,
            None => peer
                .and_then(|peer| self.find_by_certificate(peer))
                .ok_or(CallerRefusal::MissingCredentials)?,
        };
        if is_reflection(path) {
            if self
                .reflection
                .is_some_and(|role| !caller.roles.contains(&role))
            {
                return Err(CallerRefusal::RoleNotAllowed);
            }
            return Ok(CallContext {
                caller_id: caller.id.clone(),
                operator_id: None,
            });
        }
        let Some(rule) = rule(path) else {
            // Not an RPC of the contract: authenticated callers get tonic's UNIMPLEMENTED.
            return Ok(CallContext {
                caller_id: caller.id.clone(),
                operator_id: None,
            });
        };
        if !rule.roles.iter().any(|role| caller.roles.contains(role)) {
            return Err(CallerRefusal::RoleNotAllowed);
        }
        let operator_id = if rule.operator {
            let id = headers
                .get("x-operator-id")
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
                .filter(|id| valid_operator_id(id))
                .ok_or(CallerRefusal::MissingOperatorId)?;
            Some(id.to_owned())
        } else {
            None
        };
        Ok(CallContext {
            caller_id: caller.id.clone(),
            operator_id,
        })
    }
}

/// The tower layer that authenticates every request before routing.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    callers: Arc<Callers>,
}

impl AuthLayer {
    /// A layer checking against these callers.
    pub fn new(callers: Arc<Callers>) -> Self {
        Self { callers }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            callers: self.callers.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    callers: Arc<Callers>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        // Health checks (Kubernetes probes) need no credential, nor does reflection unless
        // it is restricted to a role.
        if path.starts_with("/grpc.health.v1.Health/")
            || (is_reflection(&path) && self.callers.reflection.is_none())
        {
            return self.inner.call(request).map(replace_decode_failure).boxed();
        }
        // The call's span ([`crate::observe`]) is current here: it learns the caller.
        match self.callers.authorize(
            &path,
            request.headers(),
            PeerIdentity::from_extensions(request.extensions()).as_ref(),
        ) {
            Ok(context) => {
                tracing::Span::current().record("caller", &*context.caller_id);
                request.extensions_mut().insert(context);
                self.inner.call(request).map(replace_decode_failure).boxed()
            }
            Err(refusal) => {
                tracing::info!(?refusal, "call refused");
                let response = Status::from(ServiceError::CallerRefused(refusal)).into_http();
                async move { Ok(response) }.boxed()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost::Message;
    use tonic::Code;

    use super::*;

    fn contract_rpcs() -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(pin_proto::FILE_DESCRIPTOR_SET).unwrap();
        set.file
            .iter()
            .filter(|file| file.package() == "inps.pin.v1")
            .flat_map(|file| {
                file.service.iter().flat_map(|service| {
                    service
                        .method
                        .iter()
                        .map(|method| format!("/inps.pin.v1.{}/{}", service.name(), method.name()))
                })
            })
            .collect()
    }

    #[test]
    fn every_rpc_of_the_contract_declares_its_roles() {
        let rpcs = contract_rpcs();
        assert!(rpcs.contains(&"/inps.pin.v1.RegistryService/GetPerson".to_owned()));
        for rpc in rpcs {
            assert!(
                rule(&rpc).is_some_and(|r| !r.roles.is_empty()),
                "{rpc} has no rule"
            );
        }
        assert_eq!(rule("/inps.pin.v1.RegistryService/DropEverything"), None);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn callers() -> Callers {
        let mut callers = Callers::default();
        callers
            .add("portal", &token_sha256_hex("portal-token"), &[Role::Portal])
            .unwrap();
        callers
            .add(
                "desk",
                &token_sha256_hex("desk-token"),
                &[Role::ContactCenter],
            )
            .unwrap();
        callers
    }

    #[track_caller]
    fn code(path: &str, pairs: &[(&'static str, &str)]) -> Code {
        match callers().authorize(path, &headers(pairs), None) {
            Ok(_) => Code::Ok,
            Err(refusal) => Status::from(ServiceError::CallerRefused(refusal)).code(),
        }
    }

    const GET_PERSON: &str = "/inps.pin.v1.RegistryService/GetPerson";
    const AUTHENTICATE: &str = "/inps.pin.v1.AuthenticationService/Authenticate";
    const REVOKE_BY_DESK: &str = "/inps.pin.v1.RevocationService/RevokeByContactCenter";

    #[test]
    fn tokens_roles_and_operators_are_checked() {
        assert_eq!(code(AUTHENTICATE, &[]), Code::Unauthenticated);
        assert_eq!(
            code(AUTHENTICATE, &[("authorization", "Bearer nope")]),
            Code::Unauthenticated
        );
        assert_eq!(
            code(AUTHENTICATE, &[("authorization", "Basic portal-token")]),
            Code::Unauthenticated
        );
        assert_eq!(
            code(AUTHENTICATE, &[("authorization", "Bearer portal-token")]),
            Code::Ok
        );
        assert_eq!(
            code(AUTHENTICATE, &[("authorization", "bearer  portal-token ")]),
            Code::Ok
        );
        assert_eq!(
            code(GET_PERSON, &[("authorization", "Bearer portal-token")]),
            Code::PermissionDenied
        );
        assert_eq!(
            code(GET_PERSON, &[("authorization", "Bearer desk-token")]),
            Code::Ok
        );
        assert_eq!(
            code(REVOKE_BY_DESK, &[("authorization", "Bearer desk-token")]),
            Code::Unauthenticated
        );
        assert_eq!(
            code(
                REVOKE_BY_DESK,
                &[
                    ("authorization", "Bearer desk-token"),
                    ("x-operator-id", "op 1")
                ]
            ),
            Code::Unauthenticated
        );
        assert_eq!(
            code(
                REVOKE_BY_DESK,
                &[
                    ("authorization", "Bearer desk-token"),
                    ("x-operator-id", "op-17")
                ]
            ),
            Code::Ok
        );
    }

    /// The identity a self-signed certificate with these DNS names and URIs gives.
    fn peer(dns_names: &[&str], uris: &[&str]) -> PeerIdentity {
        let mut params = rcgen::CertificateParams::new(
            dns_names
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        for uri in uris {
            params
                .subject_alt_names
                .push(rcgen::SanType::URI((*uri).try_into().unwrap()));
        }
        let key = rcgen::KeyPair::generate().unwrap();
        PeerIdentity::from_certificate(params.self_signed(&key).unwrap().der()).unwrap()
    }

    fn callers_with_certificates() -> Callers {
        let mut callers = callers();
        callers
            .add_certificate_name("portal", "Portal.INPS.example", &[Role::Portal])
            .unwrap();
        callers
            .add_certificate_name(
                "worker",
                "spiffe://inps.example/ns/pin/sa/delivery",
                &[Role::Delivery],
            )
            .unwrap();
        callers
    }

    #[track_caller]
    fn caller(
        path: &str,
        pairs: &[(&'static str, &str)],
        peer: Option<&PeerIdentity>,
    ) -> Result<String, CallerRefusal> {
        callers_with_certificates()
            .authorize(path, &headers(pairs), peer)
            .map(|context| context.caller_id.to_string())
    }

    const LEASE: &str = "/inps.pin.v1.DeliveryService/LeaseDeliveries";

    #[test]
    fn a_certificate_naming_a_caller_stands_for_its_token() {
        let portal = peer(&["portal.inps.example"], &[]);
        assert_eq!(
            caller(AUTHENTICATE, &[], Some(&portal)),
            Ok("portal".into())
        );
        let worker = peer(
            &["pod.local"],
            &["spiffe://inps.example/ns/pin/sa/delivery"],
        );
        assert_eq!(caller(LEASE, &[], Some(&worker)), Ok("worker".into()));
        // The roles are the caller's: the worker may not log citizens in.
        assert_eq!(
            caller(AUTHENTICATE, &[], Some(&worker)),
            Err(CallerRefusal::RoleNotAllowed)
        );
        // URIs are compared exactly, DNS names whatever their case.
        let shouting = peer(&[], &["SPIFFE://inps.example/ns/pin/sa/delivery"]);
        assert_eq!(
            caller(LEASE, &[], Some(&shouting)),
            Err(CallerRefusal::MissingCredentials)
        );
    }

    #[test]
    fn a_token_decides_even_when_a_certificate_names_a_caller() {
        let worker = peer(&[], &["spiffe://inps.example/ns/pin/sa/delivery"]);
        assert_eq!(
            caller(
                AUTHENTICATE,
                &[("authorization", "Bearer portal-token")],
                Some(&worker)
            ),
            Ok("portal".into())
        );
        assert_eq!(
            caller(LEASE, &[("authorization", "Bearer nope")], Some(&worker)),
            Err(CallerRefusal::InvalidCredentials)
        );
    }

    #[test]
    fn a_certificate_naming_no_caller_or_two_is_no_credential() {
        let stranger = peer(&["stranger.example"], &[]);
        assert_eq!(
            caller(AUTHENTICATE, &[], Some(&stranger)),
            Err(CallerRefusal::MissingCredentials)
        );
        let both = peer(
            &["portal.inps.example"],
            &["spiffe://inps.example/ns/pin/sa/delivery"],
        );
        assert_eq!(
            caller(AUTHENTICATE, &[], Some(&both)),
            Err(CallerRefusal::MissingCredentials)
        );
        assert_eq!(
            caller(AUTHENTICATE, &[], None),
            Err(CallerRefusal::MissingCredentials)
        );
    }

    #[test]
    fn two_callers_may_not_share_a_certificate_name() {
        let mut callers = callers_with_certificates();
        assert!(
            callers
                .add_certificate_name("desk", "portal.inps.example", &[Role::ContactCenter])
                .is_err()
        );
    }

    #[test]
    fn the_operator_is_handed_to_the_handler() {
        let context = callers()
            .authorize(
                REVOKE_BY_DESK,
                &headers(&[
                    ("authorization", "Bearer desk-token"),
                    ("x-operator-id", "m.rossi"),
                ]),
                None,
            )
            .unwrap();
        assert_eq!(&*context.caller_id, "desk");
        assert_eq!(context.operator_id.as_deref(), Some("m.rossi"));
    }
}
