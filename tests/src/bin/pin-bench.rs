//! `pin-bench`: throughput of the service's hot RPCs, reported as ratios against baselines
//! measured in the same run on the same machine (the absolute numbers of a noisy 2-core
//! machine mean little; the ratios travel).
//!
//! Baselines: a `grpc.health.v1.Health/Check` round trip (the cost of the gRPC stack and
//! the auth layer's absence), and the argon2id capacity of the hashing pool (one verify
//! per core, measured directly). Run with
//! `cargo run --release -p pin-tests --bin pin-bench [-- --postgres]`.

// A benchmark run that cannot set itself up has failed; `expect` says where.
#![allow(clippy::expect_used)]

use std::time::Instant;

use pin_domain::{HashMemory, HashParams, PinHasher};
use pin_proto::v1::{
    Action, AuthenticateRequest, AuthorizeRequest, CompleteFirstAccessRequest,
    IntrospectSessionRequest, authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    authorization_service_client::AuthorizationServiceClient,
};
use pin_tests::{
    Backend, as_role,
    citizen::{MARIO, import_registry, obtain_initial_pin},
    spawn_app_with,
};
use rand::SeedableRng;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const CONCURRENCY: usize = 8;

/// Runs `calls` calls of `call`, `CONCURRENCY` at a time; returns calls per second.
async fn throughput<F, Fut>(calls: usize, call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let per_task = calls / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    call().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("benchmark task");
    }
    (per_task * CONCURRENCY) as f64 / started.elapsed().as_secs_f64()
}

/// argon2id verifications per second on every core, measured on one: with the working
/// memory kept from one verification to the next (as the server's hashing threads do), or
/// allocated afresh for each.
fn argon2_capacity(params: HashParams, keep_memory: bool) -> f64 {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let hasher = PinHasher::new(params, &mut rng).expect("hasher");
    let hash = hasher.hash("ABCDEFGH", &mut rng).expect("hash");
    let mut memory = HashMemory::default();
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        if keep_memory {
            let _ = hasher.verify_in("ABCDEFGJ", &hash, &mut memory);
        } else {
            let _ = hasher.verify("ABCDEFGJ", &hash);
        }
    }
    let per_verify = started.elapsed() / rounds;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores as f64 / per_verify.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let backend = if std::env::args().any(|a| a == "--postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let params = HashParams {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
    let app = spawn_app_with(
        backend,
        &[
            ("PIN_HASHING__MEMORY_KIB", "19456"),
            ("PIN_HASHING__ITERATIONS", "2"),
            ("PIN_POLICY__MAX_FAILED_ATTEMPTS", "100"),
            ("PIN_POLICY__LOCK_DURATIONS", "[\"1s\"]"),
        ],
    )
    .await;
    import_registry(&app).await;
    let initial = obtain_initial_pin(&app).await;
    let mut auth = AuthenticationServiceClient::new(app.channel.clone());
    let login = |pin: String| AuthenticateRequest {
        codice_fiscale: MARIO.into(),
        pin,
    };
    let Some(Outcome::FirstAccessRequired(ticket)) = auth
        .authenticate(as_role("portal", login(initial)))
        .await
        .expect("login")
        .into_inner()
        .result
    else {
        panic!("first access expected")
    };
    let pin = auth
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            },
        ))
        .await
        .expect("first access")
        .into_inner()
        .new_pin;
    let Some(Outcome::Session(session)) = auth
        .authenticate(as_role("portal", login(pin.clone())))
        .await
        .expect("login")
        .into_inner()
        .result
    else {
        panic!("session expected")
    };
    let token = session.session_token;

    let health = HealthClient::new(app.channel.clone());
    let health_rate = throughput(4000, move || {
        let mut client = health.clone();
        async move {
            client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("health");
        }
    })
    .await;
    let argon2_rate = argon2_capacity(params, true);
    let argon2_fresh_rate = argon2_capacity(params, false);

    let authz = AuthorizationServiceClient::new(app.channel.clone());
    let consult_token = token.clone();
    let authorize_rate = throughput(2000, move || {
        let mut client = authz.clone();
        let token = consult_token.clone();
        async move {
            client
                .authorize(as_role(
                    "benefits",
                    AuthorizeRequest {
                        session_token: token,
                        service_id: "estratto-conto-contributivo".into(),
                        action: Action::Consult.into(),
                        application_reference: String::new(),
                    },
                ))
                .await
                .expect("authorize");
        }
    })
    .await;
    let introspect_client = auth.clone();
    let introspect_rate = throughput(2000, move || {
        let mut client = introspect_client.clone();
        let token = token.clone();
        async move {
            client
                .introspect_session(as_role(
                    "benefits",
                    IntrospectSessionRequest {
                        session_token: token,
                    },
                ))
                .await
                .expect("introspect");
        }
    })
    .await;
    let login_client = auth.clone();
    let login_rate = throughput(160, move || {
        let mut client = login_client.clone();
        let pin = pin.clone();
        async move {
            // A correct login: throttle reset, argon2id verify, session, audit record.
            client
                .authenticate(as_role(
                    "portal",
                    AuthenticateRequest {
                        codice_fiscale: MARIO.into(),
                        pin,
                    },
                ))
                .await
                .expect("login");
        }
    })
    .await;

    let backend = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    println!("pin-bench ({backend}, {CONCURRENCY} concurrent callers, argon2id m=19456 t=2 p=1)");
    println!(
        "{:<28} {:>10} {:>16} {:>16}",
        "operation", "calls/s", "/ health check", "/ argon2 bound"
    );
    let row = |name: &str, rate: f64| {
        println!(
            "{name:<28} {rate:>10.0} {:>16.3} {:>16.3}",
            rate / health_rate,
            rate / argon2_rate
        );
    };
    row("health check (baseline)", health_rate);
    row("argon2id verify, all cores", argon2_rate);
    row("  ... fresh memory each", argon2_fresh_rate);
    row("Authenticate (success)", login_rate);
    row("Authorize (consult)", authorize_rate);
    row("IntrospectSession", introspect_rate);
    app.stop().await;
}
