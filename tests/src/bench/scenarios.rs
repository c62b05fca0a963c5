//! The scenarios' workloads: what one simulated client does per step, and how every
//! answer is checked.
//!
//! Each answer that names a codice fiscale (an introspected session, an authorization) is
//! compared with the citizen the call was about; a different one is a *mismatch*, the
//! worst thing an identity service can answer. OK answers that are not what the call
//! should get (a login that asks for first access, a consultation denied, a submission not
//! held) are counted as *unexpected*.

use std::{
    ops::Range,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use pin_proto::v1::{
    Action, AuthenticateRequest, AuthorizeRequest, Decision, DenyReason, IntrospectSessionRequest,
    IssuanceOutcome, authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    authorization_service_client::AuthorizationServiceClient,
    issuance_service_client::IssuanceServiceClient,
};
use rand::{RngExt, rngs::SmallRng};

use super::{
    load::{Flow, Recorder, Workload},
    people::{self, Slot},
    seed::{Citizen, Session},
    target::Target,
};

/// The service every bench citizen may consult with an ordinary PIN.
pub const CONSULTED: &str = "estratto-conto-contributivo";

/// The service whose applications, filed with an ordinary PIN, are held.
pub const SUBMITTED: &str = "naspi";

/// How much longer than its gRPC deadline the client waits before giving up on a call.
const CLIENT_GRACE: Duration = Duration::from_secs(1);

/// Logs a random citizen of the pool in with the right PIN; a session is expected.
#[derive(Debug)]
pub struct Login {
    target: Arc<Target>,
    citizens: Arc<Vec<Citizen>>,
    deadline: Option<Duration>,
}

impl Login {
    /// Logins of `citizens`, each with `deadline` as its gRPC deadline if given.
    pub fn new(
        target: Arc<Target>,
        citizens: Arc<Vec<Citizen>>,
        deadline: Option<Duration>,
    ) -> Login {
        Login {
            target,
            citizens,
            deadline,
        }
    }
}

impl Workload for Login {
    async fn step(&self, worker: usize, rng: &mut SmallRng, recorder: &mut Recorder) -> Flow {
        let citizen = &self.citizens[rng.random_range(0..self.citizens.len())];
        let mut auth = AuthenticationServiceClient::new(self.target.channel(worker));
        let mut request = self.target.request(AuthenticateRequest {
            codice_fiscale: citizen.cf.clone(),
            pin: citizen.pin().to_owned(),
        });
        let answer = match self.deadline {
            Some(deadline) => {
                request.set_timeout(deadline);
                recorder
                    .call_within(deadline + CLIENT_GRACE, auth.authenticate(request))
                    .await
            }
            None => recorder.call(auth.authenticate(request)).await,
        };
        if answer.is_some_and(|answer| !matches!(answer.result, Some(Outcome::Session(_)))) {
            recorder.unexpected();
        }
        Flow::Continue
    }
}

/// Asks whether the holder of a random session may consult [`CONSULTED`]: `ALLOW`, about
/// the session's citizen.
#[derive(Debug)]
pub struct Consult {
    target: Arc<Target>,
    sessions: Arc<Vec<Session>>,
}

impl Consult {
    /// Consultations with `sessions`.
    pub fn new(target: Arc<Target>, sessions: Arc<Vec<Session>>) -> Consult {
        Consult { target, sessions }
    }
}

impl Workload for Consult {
    async fn step(&self, worker: usize, rng: &mut SmallRng, recorder: &mut Recorder) -> Flow {
        let session = &self.sessions[rng.random_range(0..self.sessions.len())];
        let mut authz = AuthorizationServiceClient::new(self.target.channel(worker));
        if let Some(answer) = recorder
            .call(authz.authorize(self.target.request(consultation(&session.token))))
            .await
        {
            if answer.codice_fiscale != session.cf {
                recorder.mismatch();
            } else if answer.decision() != Decision::Allow {
                recorder.unexpected();
            }
        }
        Flow::Continue
    }
}

fn consultation(token: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        session_token: token.to_owned(),
        service_id: CONSULTED.to_owned(),
        action: Action::Consult.into(),
        application_reference: String::new(),
    }
}

/// Introspects a random session: active, and the session's citizen's.
#[derive(Debug)]
pub struct Introspect {
    target: Arc<Target>,
    sessions: Arc<Vec<Session>>,
}

impl Introspect {
    /// Introspections of `sessions`.
    pub fn new(target: Arc<Target>, sessions: Arc<Vec<Session>>) -> Introspect {
        Introspect { target, sessions }
    }
}

impl Workload for Introspect {
    async fn step(&self, worker: usize, rng: &mut SmallRng, recorder: &mut Recorder) -> Flow {
        let session = &self.sessions[rng.random_range(0..self.sessions.len())];
        let mut auth = AuthenticationServiceClient::new(self.target.channel(worker));
        if let Some(answer) = recorder
            .call(
                auth.introspect_session(self.target.request(IntrospectSessionRequest {
                    session_token: session.token.clone(),
                })),
            )
            .await
        {
            if !answer.active {
                recorder.unexpected();
            } else if answer.codice_fiscale != session.cf {
                recorder.mismatch();
            }
        }
        Flow::Continue
    }
}

/// Online PIN requests, each for the next person of a range who has no PIN yet: one
/// argon2id hash, one transaction, two deliveries. Exhausted when the range is.
#[derive(Debug)]
pub struct Request {
    target: Arc<Target>,
    slot: Slot,
    persons: Range<u32>,
    next: AtomicU32,
}

impl Request {
    /// Requests for the persons of `persons` in `slot`.
    pub fn new(target: Arc<Target>, slot: Slot, persons: Range<u32>) -> Request {
        Request {
            target,
            slot,
            next: AtomicU32::new(persons.start),
            persons,
        }
    }

    /// The persons who asked (or were about to ask when the run ended).
    pub fn asked(&self) -> Range<u32> {
        self.persons.start..self.next.load(Ordering::Relaxed).min(self.persons.end)
    }
}

impl Workload for Request {
    async fn step(&self, worker: usize, _: &mut SmallRng, recorder: &mut Recorder) -> Flow {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        if index >= self.persons.end {
            return Flow::Exhausted;
        }
        let Ok(person) = people::person(self.slot, index) else {
            recorder.unexpected();
            return Flow::Continue;
        };
        let request_id = format!("pin-bench-{}-request-{index}", self.slot.number());
        let request = people::pin_request(self.slot, index, &person, request_id);
        let mut issuance = IssuanceServiceClient::new(self.target.channel(worker));
        if recorder
            .call(issuance.request_pin_online(self.target.request(request)))
            .await
            .is_some_and(|answer| answer.outcome() != IssuanceOutcome::LetterComing)
        {
            recorder.unexpected();
        }
        Flow::Continue
    }
}

/// The click day: a crowd of citizens, each picked at random, logs in (or uses the
/// session it already has), consults its contribution statement and files a NASpI
/// application with a reference of its own — held, since the PIN is ordinary. Every
/// answer is checked to be about the citizen who asked.
pub struct Clickday {
    target: Arc<Target>,
    slot: Slot,
    citizens: Arc<Vec<Citizen>>,
    sessions: Vec<Mutex<Option<String>>>,
    references: AtomicU64,
    iterations: AtomicU64,
}

impl std::fmt::Debug for Clickday {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session tokens stay out.
        f.debug_struct("Clickday")
            .field("citizens", &self.citizens.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Clickday {
    /// A click day over `citizens`, some of whom already hold one of `sessions`.
    pub fn new(
        target: Arc<Target>,
        slot: Slot,
        citizens: Arc<Vec<Citizen>>,
        sessions: &[Session],
    ) -> Clickday {
        let by_cf: std::collections::HashMap<&str, &str> = sessions
            .iter()
            .map(|s| (s.cf.as_str(), s.token.as_str()))
            .collect();
        let sessions = citizens
            .iter()
            .map(|c| Mutex::new(by_cf.get(c.cf.as_str()).map(|t| (*t).to_owned())))
            .collect();
        Clickday {
            target,
            slot,
            citizens,
            sessions,
            references: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
        }
    }

    /// Citizens who got through all three steps.
    pub fn iterations(&self) -> u64 {
        self.iterations.load(Ordering::Relaxed)
    }

    fn held(&self, index: usize) -> Option<String> {
        self.sessions[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn keep(&self, index: usize, token: Option<String>) {
        *self.sessions[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = token;
    }

    /// Logs citizen `index` in and checks, by introspection, that the new session is
    /// theirs.
    async fn log_in(&self, worker: usize, index: usize, recorder: &mut Recorder) -> Option<String> {
        let citizen = &self.citizens[index];
        let mut auth = AuthenticationServiceClient::new(self.target.channel(worker));
        let login = recorder
            .call(auth.authenticate(self.target.request(AuthenticateRequest {
                codice_fiscale: citizen.cf.clone(),
                pin: citizen.pin().to_owned(),
            })))
            .await?;
        let Some(Outcome::Session(grant)) = login.result else {
            recorder.unexpected();
            return None;
        };
        let view = recorder
            .call(
                auth.introspect_session(self.target.request(IntrospectSessionRequest {
                    session_token: grant.session_token.clone(),
                })),
            )
            .await?;
        if view.codice_fiscale != citizen.cf {
            recorder.mismatch();
            return None;
        }
        if !view.active {
            recorder.unexpected();
            return None;
        }
        self.keep(index, Some(grant.session_token.clone()));
        Some(grant.session_token)
    }
}

impl Workload for Clickday {
    async fn step(&self, worker: usize, rng: &mut SmallRng, recorder: &mut Recorder) -> Flow {
        let index = rng.random_range(0..self.citizens.len());
        let cf = self.citizens[index].cf.as_str();
        let token = match self.held(index) {
            Some(token) => token,
            None => match self.log_in(worker, index, recorder).await {
                Some(token) => token,
                None => return Flow::Continue,
            },
        };
        let mut authz = AuthorizationServiceClient::new(self.target.channel(worker));
        let Some(consulted) = recorder
            .call(authz.authorize(self.target.request(consultation(&token))))
            .await
        else {
            return Flow::Continue;
        };
        if consulted.deny_reason() == DenyReason::SessionInvalid {
            // Ended under us (it should not: sessions last 30 idle minutes): log in anew
            // next time.
            self.keep(index, None);
            recorder.unexpected();
            return Flow::Continue;
        }
        if consulted.codice_fiscale != cf {
            recorder.mismatch();
            return Flow::Continue;
        }
        if consulted.decision() != Decision::Allow {
            recorder.unexpected();
        }
        let reference = format!(
            "BENCH-{}-{}",
            self.slot.number(),
            self.references.fetch_add(1, Ordering::Relaxed)
        );
        let Some(filed) = recorder
            .call(authz.authorize(self.target.request(AuthorizeRequest {
                session_token: token,
                service_id: SUBMITTED.to_owned(),
                action: Action::Submit.into(),
                application_reference: reference,
            })))
            .await
        else {
            return Flow::Continue;
        };
        if filed.codice_fiscale != cf {
            recorder.mismatch();
        } else if filed.decision() != Decision::Held {
            recorder.unexpected();
        } else {
            self.iterations.fetch_add(1, Ordering::Relaxed);
        }
        Flow::Continue
    }
}
