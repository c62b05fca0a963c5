//! Start-up: configuration to a running gRPC server.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, bail};
use pin_domain::{OpaqueToken, PinHasher};
use pin_proto::v1::{
    audit_service_server::AuditServiceServer,
    authentication_service_server::AuthenticationServiceServer,
    authorization_service_server::AuthorizationServiceServer,
    callback_service_server::CallbackServiceServer, contacts_service_server::ContactsServiceServer,
    delivery_service_server::DeliveryServiceServer, event_service_server::EventServiceServer,
    issuance_service_server::IssuanceServiceServer, recovery_service_server::RecoveryServiceServer,
    registry_service_server::RegistryServiceServer,
    revocation_service_server::RevocationServiceServer,
    upgrade_service_server::UpgradeServiceServer,
};
use pin_store::DatabaseConnection;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::{
    net::TcpListener,
    sync::{oneshot, watch},
    task::JoinHandle,
};
use tonic::{server::NamedService, transport::server::TcpIncoming};
use tonic_health::ServingStatus;

use crate::{
    auth::{AuthLayer, Callers, Role, token_sha256_hex},
    clock::{Clock, SystemClock},
    config::{Config, ReflectionAccess},
    hashing_pool::HashingPool,
    services::{
        audit::AuditApi, authentication::AuthenticationApi, authorization::AuthorizationApi,
        callback::CallbackApi, contacts::ContactsApi, delivery::DeliveryApi, events::EventApi,
        issuance::IssuanceApi, recovery::RecoveryApi, registry::RegistryApi,
        revocation::RevocationApi, upgrade::UpgradeApi,
    },
    state::AppState,
    tls::{ServerTls, TlsIncoming},
    usecase::SessionCache,
};

/// The name of the development caller's token file in the data folder.
pub const DEV_TOKEN_FILE: &str = "dev-caller.token";

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// The plaintext health port's address, when `lifecycle.health_listen` is set.
    pub health_addr: Option<SocketAddr>,
    /// Where the development caller's token was written, if one was created.
    pub dev_token_path: Option<PathBuf>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    /// From the shutdown signal to giving up on what is still open.
    shutdown_bound: std::time::Duration,
}

impl RunningServer {
    /// Stops: health turns `NOT_SERVING` for the drain window while calls are still
    /// accepted, then no new calls are, calls in flight finish and streams end — or, at
    /// the shutdown bound, whatever is still open is dropped.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.run_until(std::future::ready(())).await
    }

    /// Serves until `signal` completes (or the server fails), then shuts down as
    /// [`RunningServer::shutdown`] does.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            ended = &mut self.task => return Ok(ended.context("server task failed")??),
            () = signal => {}
        }
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(self.shutdown_bound, &mut self.task).await {
            Ok(ended) => Ok(ended.context("server task failed")??),
            Err(_) => {
                tracing::warn!(
                    bound = ?self.shutdown_bound,
                    "shutdown bound reached: closing the connections still open"
                );
                self.task.abort();
                Ok(())
            }
        }
    }
}

/// Connects to the database named by the configuration, applying migrations if asked to.
pub async fn database(config: &Config, migrate: bool) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    }
    let options = pin_store::PoolOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: std::time::Duration::try_from(config.database.acquire_timeout)
            .context("database.acquire_timeout")?,
    };
    let db = pin_store::connect_with(&url, &options)
        .await
        .with_context(|| format!("cannot connect to the {} database", scheme(&url)))?;
    if migrate {
        pin_store::migrate(&db)
            .await
            .context("cannot apply migrations")?;
    }
    Ok(db)
}

/// The URL's scheme only: URLs may carry passwords and never go to logs whole.
fn scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or("unknown")
}

/// The configured callers, or a development caller holding every role when none is
/// configured and the server listens on loopback only.
fn callers(config: &Config) -> anyhow::Result<(Callers, Option<PathBuf>)> {
    let mut callers = Callers::default();
    for caller in &config.callers {
        for hash in caller.token_hashes() {
            callers.add(&caller.id, hash, &caller.roles)?;
        }
        if let Some(name) = &caller.client_cert_name {
            callers.add_certificate_name(&caller.id, name, &caller.roles)?;
        }
    }
    if !callers.is_empty() {
        return Ok((callers, None));
    }
    if !config.listen.ip().is_loopback() {
        bail!(
            "no callers are configured and the server would listen on {}: configure [[callers]] \
             (a development caller is created only when listening on loopback)",
            config.listen
        );
    }
    let path = config.data_dir.join(DEV_TOKEN_FILE);
    let token = dev_token(&path)?;
    callers.add("dev", &token_sha256_hex(&token), &Role::ALL)?;
    tracing::warn!(
        token_file = %path.display(),
        "no callers configured: created the development caller `dev` holding every role; \
         its bearer token is in the token file"
    );
    Ok((callers, Some(path)))
}

/// Reads the development token, or creates it (mode 0600) on first start.
fn dev_token(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim();
        if OpaqueToken::parse(existing).is_ok() {
            return Ok(existing.to_owned());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data folder {}", dir.display()))?;
    }
    let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .context("the operating system gave no randomness")?;
    let token = OpaqueToken::generate(&mut rng);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{}", token.expose_secret())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token.expose_secret().to_owned())
}

fn service_name<S: NamedService>(_: &S) -> &'static str {
    S::NAME
}

/// The server's TLS configuration, or none when it serves plaintext — which it does only on
/// loopback, unless `tls.allow_plaintext` says a sidecar terminates TLS in front of it.
fn server_tls(config: &Config) -> anyhow::Result<Option<ServerTls>> {
    if let Some(files) = config.tls.files() {
        return ServerTls::load(files).map(Some);
    }
    if !config.listen.ip().is_loopback() && !config.tls.allow_plaintext {
        bail!(
            "the server would serve plaintext on {}: configure its certificate with \
             tls.cert_file and tls.key_file (PIN_TLS__CERT_FILE, PIN_TLS__KEY_FILE), or set \
             tls.allow_plaintext = true (PIN_TLS__ALLOW_PLAINTEXT=true) when a sidecar \
             terminates TLS in front of it",
            config.listen
        );
    }
    Ok(None)
}

/// Where the main port's connections come from.
enum Incoming {
    Plaintext(TcpIncoming),
    Tls(TlsIncoming),
}

/// Starts the server described by `config` and returns once it is listening.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// HTTP/2 flow-control windows for data the server receives, per connection and per
/// stream.
///
/// The HTTP/2 library cuts a connection (`GOAWAY ENHANCE_YOUR_CALM`, "too many data
/// frames") when the overhead of small DATA frames it holds unread exceeds half the
/// connection window, counting 256 bytes minus each frame's payload. A client streaming one
/// small record per frame can always get that far ahead of a handler that stores what it
/// reads: with the library's defaults (1 MiB for both) a stream of 150-byte records is cut
/// after about 4 500 of them. A stream window of an eighth of the connection window keeps
/// any one stream's unread frames under the limit for records of 51 bytes or more, and
/// still lets a stream run at hundreds of megabytes per second over a 1 ms round trip.
pub const CONNECTION_WINDOW: u32 = 2 * 1024 * 1024;
/// See [`CONNECTION_WINDOW`].
pub const STREAM_WINDOW: u32 = 256 * 1024;

/// Calls one HTTP/2 connection may have open at once; a client that opens more waits for
/// one to end. tonic would otherwise leave it unlimited, and a client flooding one
/// connection would hold as many calls — and their memory — as it liked. 200 is what the
/// HTTP/2 library itself defaults to.
pub const MAX_CONCURRENT_STREAMS: u32 = 200;

/// [`start`] with a clock of the caller's choosing (tests move time with a
/// [`crate::clock::SettableClock`]).
pub async fn start_with_clock(
    config: Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<RunningServer> {
    let policy = config.policy.build()?;
    let (mut callers, dev_token_path) = callers(&config)?;
    let tls = server_tls(&config)?;
    let catalog = crate::catalog::load(config.catalog_file.as_deref())?;
    let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .context("the operating system gave no randomness")?;
    let hasher = PinHasher::new(config.hashing.params(), &mut rng).context("hashing")?;
    let workers = config
        .hashing
        .workers
        .unwrap_or_else(HashingPool::default_workers);
    let hashing = HashingPool::new(hasher, workers)?;
    let db = database(&config, config.database.auto_migrate).await?;
    if !config.listen.ip().is_loopback() && config.database_url().starts_with("sqlite:") {
        tracing::warn!(
            "serving beyond loopback on the embedded SQLite database: replicas will not share \
             state; set database_url (PIN_DATABASE_URL) to PostgreSQL in production"
        );
    }
    // Workers stop as shutdown begins; streams end once the drain window is over.
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let (end_streams, streams_ended) = tokio::sync::watch::channel(false);
    let state = AppState {
        db,
        policy: Arc::new(policy),
        hashing,
        catalog: Arc::new(catalog),
        rng: Arc::new(std::sync::Mutex::new(rng)),
        clock,
        events_written: Arc::new(tokio::sync::watch::Sender::new(0)),
        shutdown: streams_ended.clone(),
        link_requests_per_caller_per_minute: config.limits.link_requests_per_caller_per_minute,
        sessions: SessionCache::new(
            config.session_cache.ttl.unsigned_abs(),
            config.session_cache.capacity,
        ),
    };

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let health_listener =
        match config.lifecycle.health_listen {
            Some(address) => Some(TcpListener::bind(address).await.with_context(|| {
                format!("cannot listen on {address} (lifecycle.health_listen)")
            })?),
            None => None,
        };
    let health_addr = health_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;

    let registry = RegistryServiceServer::new(RegistryApi::new(state.clone()));
    let issuance = IssuanceServiceServer::new(IssuanceApi::new(state.clone()));
    let callback = CallbackServiceServer::new(CallbackApi::new(state.clone()));
    let authentication = AuthenticationServiceServer::new(AuthenticationApi::new(state.clone()));
    let authorization = AuthorizationServiceServer::new(AuthorizationApi::new(state.clone()));
    let upgrade = UpgradeServiceServer::new(UpgradeApi::new(state.clone()));
    let recovery = RecoveryServiceServer::new(RecoveryApi::new(state.clone()));
    let contacts = ContactsServiceServer::new(ContactsApi::new(state.clone()));
    let revocation = RevocationServiceServer::new(RevocationApi::new(state.clone()));
    let delivery = DeliveryServiceServer::new(DeliveryApi::new(state.clone()));
    let events = EventServiceServer::new(EventApi::new(state.clone()));
    let audit = AuditServiceServer::new(AuditApi::new(state.clone()));

    let health_reporter = tonic_health::server::HealthReporter::new();
    let health = tonic_health::pb::health_server::HealthServer::new(
        crate::health::EndingHealth::new(health_reporter.clone(), streams_ended),
    );
    let names = [
        service_name(&registry),
        service_name(&issuance),
        service_name(&callback),
        service_name(&revocation),
        service_name(&recovery),
        service_name(&authentication),
        service_name(&authorization),
        service_name(&upgrade),
        service_name(&delivery),
        service_name(&events),
        service_name(&audit),
        service_name(&contacts),
    ];
    for name in [""].into_iter().chain(names) {
        health_reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    health_reporter
        .set_service_status(crate::readiness::LIVENESS, ServingStatus::Serving)
        .await;
    let lifecycle = &config.lifecycle;
    let std_duration = |key: &str, value: time::Duration| {
        std::time::Duration::try_from(value).with_context(|| format!("lifecycle.{key}"))
    };
    let drain = std_duration("drain", lifecycle.drain)?;
    let shutdown_bound = std_duration("shutdown_bound", lifecycle.shutdown_bound)?;
    let readiness = Some(crate::readiness::spawn(
        state.db.clone(),
        health_reporter.clone(),
        names.to_vec(),
        std_duration("database_check_interval", lifecycle.database_check_interval)?,
        workers_stopped.clone(),
    ));

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pin_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        // google.rpc error details, so generic clients can decode them.
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build reflection v1")?;
    // grpcurl 1.8 speaks only the v1alpha reflection protocol.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pin_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        // google.rpc error details, so generic clients can decode them.
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("cannot build reflection v1alpha")?;

    // The plaintext health port serves the same instance, so it reports what the main
    // port does: readiness, and the drain at shutdown. It closes once the main port is done.
    let (main_done, mut main_done_rx) = watch::channel(false);
    let health_port = health_listener.map(|listener| {
        tonic::transport::Server::builder()
            .add_service(health.clone())
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                async move {
                    let _ = main_done_rx.wait_for(|done| *done).await;
                },
            )
    });
    let reflection = config.reflection.access != ReflectionAccess::Off;
    if config.reflection.access == ReflectionAccess::Admin {
        callers.restrict_reflection(Role::Admin);
    }
    // TCP_NODELAY is set on each accepted connection (`incoming` below): tonic's own
    // setting applies only to listeners it binds itself.
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_stream_window_size(STREAM_WINDOW)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_connection_age(std_duration(
            "max_connection_age",
            lifecycle.max_connection_age,
        )?)
        .max_connection_age_grace(std_duration(
            "max_connection_age_grace",
            lifecycle.max_connection_age_grace,
        )?)
        // Outermost first: every call is observed, then authenticated, then run on a task
        // of its own that the client's going away cannot cut short.
        .layer(
            tower::ServiceBuilder::new()
                .layer(crate::observe::ObserveLayer)
                .layer(AuthLayer::new(Arc::new(callers)))
                .layer(crate::detach::DetachLayer::new(
                    lifecycle.max_calls_in_flight,
                )),
        )
        .add_service(health)
        .add_optional_service(reflection.then_some(reflection_v1))
        .add_optional_service(reflection.then_some(reflection_v1alpha))
        .add_service(registry)
        .add_service(issuance)
        .add_service(callback)
        .add_service(authentication)
        .add_service(authorization)
        .add_service(upgrade)
        .add_service(recovery)
        .add_service(contacts)
        .add_service(revocation)
        .add_service(delivery)
        .add_service(events)
        .add_service(audit);

    let mailbox = config.mailbox_enabled().then(|| {
        let root = config.data_dir.join("mailbox");
        tracing::warn!(folder = %root.display(), "development mailbox on: deliveries are written to files");
        crate::mailbox::spawn(state.clone(), root, workers_stopped.clone())
    });
    // Store-wide gauges cost two queries a sample: sampled only when metrics leave.
    let sampler = crate::metrics::are_exported().then(|| {
        crate::metrics::spawn_sampler(
            state.clone(),
            state.hashing.clone(),
            crate::metrics::SAMPLE_INTERVAL,
            workers_stopped.clone(),
        )
    });
    let reminders = config.reminders.enabled.then(|| {
        let interval = std::time::Duration::try_from(config.reminders.interval)
            .unwrap_or(std::time::Duration::from_secs(3600));
        crate::reminders::spawn(state.clone(), interval, workers_stopped.clone())
    });
    let serves_tls = tls.is_some();
    let (incoming, tls_reload) = match tls {
        Some(tls) => {
            let incoming = Incoming::Tls(tls.incoming(listener));
            let interval = std::time::Duration::try_from(config.tls.reload_interval)
                .context("tls.reload_interval")?;
            (incoming, Some(tls.spawn_reload(interval, workers_stopped)))
        }
        None => (
            Incoming::Plaintext(TcpIncoming::from(listener).with_nodelay(Some(true))),
            None,
        ),
    };
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown_rx.await;
            // Tell probes and load balancers first, and keep accepting calls while they
            // take the replica out; then stop the workers and the streams.
            let _ = stop_workers.send(true);
            for name in [""].into_iter().chain(names.iter().copied()) {
                health_reporter
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
            tokio::time::sleep(drain).await;
            let _ = end_streams.send(true);
            for worker in [mailbox, reminders, readiness, sampler, tls_reload]
                .into_iter()
                .flatten()
            {
                let _ = worker.await;
            }
        };
        let main_port = async move {
            let served = match incoming {
                Incoming::Plaintext(incoming) => {
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
                Incoming::Tls(incoming) => {
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
            };
            let _ = main_done.send(true);
            served
        };
        match health_port {
            Some(health_port) => {
                let (main, health) = tokio::join!(main_port, health_port);
                main.and(health)
            }
            None => main_port.await,
        }
    });
    tracing::info!(
        %local_addr,
        tls = serves_tls,
        health_port = ?health_addr,
        database = scheme(&config.database_url()),
        "pin-server listening"
    );
    Ok(RunningServer {
        local_addr,
        health_addr,
        dev_token_path,
        shutdown: Some(shutdown_tx),
        task,
        shutdown_bound,
    })
}
