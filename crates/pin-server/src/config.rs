//! Configuration: an optional TOML file overlaid by `PIN_`-prefixed environment variables.
//!
//! `PIN_LISTEN=0.0.0.0:50051` sets `listen`; a double underscore descends into a table, so
//! `PIN_POLICY__MAX_FAILED_ATTEMPTS=3` sets `policy.max_failed_attempts`. Environment values
//! are read as TOML when they parse as such (numbers, booleans, arrays) and as strings
//! otherwise. Unknown keys and bad values stop start-up with a message naming the key.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use pin_domain::{HashParams, Policy, PolicySettings};
use serde::{Deserialize, Deserializer};
use time::Duration;

use crate::auth::Role;

/// The whole configuration of a server process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Folder for the embedded database, the development caller's token and the mailbox.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`); defaults to `<data_dir>/pin.db`.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Database pool and migrations.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// argon2id parameters and the hashing pool.
    #[serde(default)]
    pub hashing: HashingConfig,
    /// The PIN policy.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// The local-folder delivery worker (development only).
    #[serde(default)]
    pub mailbox: MailboxConfig,
    /// The job that queues expiry reminders and erases dead PINs' undelivered secrets.
    #[serde(default)]
    pub reminders: RemindersConfig,
    /// Limits on how often callers may ask for things that reach citizens.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The cache of sessions that authorization and introspection read.
    #[serde(default)]
    pub session_cache: SessionCacheConfig,
    /// Health, connections and shutdown.
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    /// Server reflection (how grpcurl and generic clients discover the contract).
    #[serde(default)]
    pub reflection: ReflectionConfig,
    /// Transport security: the server's certificate, client certificates, plaintext.
    #[serde(default)]
    pub tls: TlsConfig,
    /// A service catalog file (TOML); the catalog shipped in the binary when unset.
    #[serde(default)]
    pub catalog_file: Option<PathBuf>,
    /// The calling services and their roles. Empty means "create a development caller".
    #[serde(default)]
    pub callers: Vec<CallerConfig>,
}

/// Database settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a pooled connection.
    #[serde(deserialize_with = "duration")]
    pub acquire_timeout: Duration,
    /// Apply pending migrations when `serve` starts (turn off when a Job runs `migrate`).
    pub auto_migrate: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::seconds(5),
            auto_migrate: true,
        }
    }
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `pin_server=debug,info`; `RUST_LOG` wins if set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

/// argon2id settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashingConfig {
    /// Memory per hash in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashing threads; the number of cores when unset.
    pub workers: Option<usize>,
    /// Accept parameters below OWASP's minimum for argon2id: for tests and benchmarks
    /// only, never in production.
    pub allow_weak: bool,
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            workers: None,
            allow_weak: false,
        }
    }
}

/// OWASP's minimum argon2id configurations (memory in KiB, iterations), with one lane:
/// any at least as strong in both is accepted.
const OWASP_MINIMUMS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

impl HashingConfig {
    /// Whether the parameters meet one of OWASP's minimum configurations.
    pub fn meets_owasp_minimum(&self) -> bool {
        OWASP_MINIMUMS
            .iter()
            .any(|&(memory, iterations)| self.memory_kib >= memory && self.iterations >= iterations)
    }

    /// The parameters for the domain's hasher.
    pub fn params(&self) -> HashParams {
        HashParams {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
        }
    }
}

/// The PIN policy as configured; checked by [`Policy::new`] at start-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Failed logins per codice fiscale before a lock.
    pub max_failed_attempts: u32,
    /// Durations of consecutive locks; the last repeats.
    #[serde(deserialize_with = "durations")]
    pub lock_durations: Vec<Duration>,
    /// Lifetime of a citizen's PIN.
    #[serde(deserialize_with = "duration")]
    pub citizen_pin_lifetime: Duration,
    /// Lifetime of an intermediary's PIN.
    #[serde(deserialize_with = "duration")]
    pub intermediary_pin_lifetime: Duration,
    /// How long an initial PIN waits for first access.
    #[serde(deserialize_with = "duration")]
    pub initial_pin_lifetime: Duration,
    /// Lifetime of first-access and renewal tickets.
    #[serde(deserialize_with = "duration")]
    pub ticket_lifetime: Duration,
    /// Lifetime of recovery and revocation links.
    #[serde(deserialize_with = "duration")]
    pub link_lifetime: Duration,
    /// Lifetime of contact verification codes.
    #[serde(deserialize_with = "duration")]
    pub code_lifetime: Duration,
    /// Idle timeout of sessions.
    #[serde(deserialize_with = "duration")]
    pub session_idle_timeout: Duration,
    /// Absolute timeout of sessions.
    #[serde(deserialize_with = "duration")]
    pub session_absolute_timeout: Duration,
    /// Changing contacts needs a session opened no longer ago than this.
    #[serde(deserialize_with = "duration")]
    pub recent_login_window: Duration,
    /// How many previous PINs a new one must differ from.
    pub pin_history_depth: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            max_failed_attempts: 5,
            lock_durations: vec![
                Duration::minutes(1),
                Duration::minutes(15),
                Duration::hours(1),
                Duration::hours(24),
            ],
            citizen_pin_lifetime: Duration::days(183),
            intermediary_pin_lifetime: Duration::days(92),
            initial_pin_lifetime: Duration::days(90),
            ticket_lifetime: Duration::minutes(10),
            link_lifetime: Duration::minutes(30),
            code_lifetime: Duration::minutes(10),
            session_idle_timeout: Duration::minutes(30),
            session_absolute_timeout: Duration::hours(8),
            recent_login_window: Duration::minutes(10),
            pin_history_depth: 5,
        }
    }
}

impl PolicyConfig {
    /// Builds the checked domain policy; an error names the `policy.` key at fault.
    pub fn build(&self) -> anyhow::Result<Policy> {
        Policy::new(PolicySettings {
            max_failed_attempts: self.max_failed_attempts,
            lock_durations: self.lock_durations.clone(),
            citizen_pin_lifetime: self.citizen_pin_lifetime,
            intermediary_pin_lifetime: self.intermediary_pin_lifetime,
            initial_pin_lifetime: self.initial_pin_lifetime,
            ticket_lifetime: self.ticket_lifetime,
            link_lifetime: self.link_lifetime,
            code_lifetime: self.code_lifetime,
            session_idle_timeout: self.session_idle_timeout,
            session_absolute_timeout: self.session_absolute_timeout,
            recent_login_window: self.recent_login_window,
            pin_history_depth: self.pin_history_depth,
        })
        .map_err(|error| anyhow::anyhow!("policy.{}: {error}", error.setting()))
    }
}

/// The local-folder delivery worker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxConfig {
    /// Write each delivery as a file under `<data_dir>/mailbox/<channel>/`. Development
    /// only; when unset, on exactly when no callers are configured.
    pub enabled: Option<bool>,
}

/// The reminder job. Every replica may run it: each reminder is queued once whatever the
/// number of replicas (a unique row per PIN and threshold decides).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemindersConfig {
    /// Run the job in this process.
    pub enabled: bool,
    /// How often it runs (it also runs at start-up).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
}

impl Default for RemindersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::hours(1),
        }
    }
}

/// Who may use server reflection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReflectionAccess {
    /// Anyone, without a token (development, and internal networks that want it).
    #[default]
    Public,
    /// Callers holding the `admin` role.
    Admin,
    /// Nobody: reflection is not served.
    Off,
}

/// Sessions resolved for `Authorize`, `ListEntitledServices` and `IntrospectSession` are
/// kept this long in each replica, so a burst of calls with one token reads the database
/// once. It bounds how stale such an answer may be: a session ended, or a PIN revoked, on
/// another replica is refused here within `ttl`. State changes always read afresh.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionCacheConfig {
    /// How long a resolved session is trusted; `0ms` turns the cache off. At most 1 s.
    #[serde(deserialize_with = "duration")]
    pub ttl: Duration,
    /// How many sessions each replica keeps at most.
    pub capacity: u64,
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::milliseconds(500),
            capacity: 100_000,
        }
    }
}

/// Server reflection.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReflectionConfig {
    /// `public`, `admin` or `off`.
    pub access: ReflectionAccess,
}

/// How the server reports its health, keeps connections and stops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// How often readiness checks the database; a failed check turns every service
    /// `NOT_SERVING` until one succeeds.
    #[serde(deserialize_with = "duration")]
    pub database_check_interval: Duration,
    /// On SIGTERM, how long health says `NOT_SERVING` while calls are still accepted, so
    /// that probes and load balancers take the replica out first.
    #[serde(deserialize_with = "duration")]
    pub drain: Duration,
    /// From SIGTERM to exit at the latest, whatever is still open (keep it under
    /// Kubernetes' `terminationGracePeriodSeconds`).
    #[serde(deserialize_with = "duration")]
    pub shutdown_bound: Duration,
    /// A connection older than this is asked to close (GOAWAY), so clients re-balance
    /// across replicas.
    #[serde(deserialize_with = "duration")]
    pub max_connection_age: Duration,
    /// How long calls on a connection asked to close may still take.
    #[serde(deserialize_with = "duration")]
    pub max_connection_age_grace: Duration,
    /// A second address serving only `grpc.health.v1.Health`, in plaintext, for the
    /// kubelet's gRPC probes (which cannot speak TLS); none when unset.
    pub health_listen: Option<SocketAddr>,
    /// Calls a replica runs at once (health checks aside); one more is refused at once
    /// with `RESOURCE_EXHAUSTED`. Calls go on after their client has given up, so this
    /// bounds the work and memory a flood of calls can pin, cancelled or not.
    pub max_calls_in_flight: usize,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            database_check_interval: Duration::seconds(2),
            drain: Duration::seconds(5),
            shutdown_bound: Duration::seconds(25),
            max_connection_age: Duration::minutes(30),
            max_connection_age_grace: Duration::seconds(30),
            health_listen: None,
            max_calls_in_flight: 256,
        }
    }
}

/// Transport security. Without a certificate the server speaks plaintext, which it does
/// only on loopback unless `allow_plaintext` says a sidecar terminates TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain the server presents, its own certificate first; set together
    /// with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1); set together with
    /// `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM bundle of the CAs that sign client certificates. When set, a client may present
    /// a certificate, which must chain to one of them; clients without one still connect
    /// (and authenticate with a bearer token).
    pub client_ca_file: Option<PathBuf>,
    /// How often the three files are read again; when their contents changed and parse,
    /// new connections use them, without a restart.
    #[serde(deserialize_with = "duration")]
    pub reload_interval: Duration,
    /// Serve plaintext on a non-loopback `listen` when no certificate is configured: for a
    /// TLS-terminating sidecar in front of the server.
    pub allow_plaintext: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            reload_interval: Duration::seconds(30),
            allow_plaintext: false,
        }
    }
}

impl TlsConfig {
    /// The files to serve TLS with, when a certificate is configured.
    pub fn files(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.cert_file.clone()?,
            key: self.key_file.clone()?,
            client_ca: self.client_ca_file.clone(),
        })
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            bail!(
                "tls.cert_file (PIN_TLS__CERT_FILE) and tls.key_file (PIN_TLS__KEY_FILE) must be \
                 set together"
            );
        }
        if self.client_ca_file.is_some() && self.cert_file.is_none() {
            bail!(
                "tls.client_ca_file needs tls.cert_file and tls.key_file: client certificates \
                 are asked for only over TLS"
            );
        }
        if !self.reload_interval.is_positive() {
            bail!("tls.reload_interval must be longer than zero");
        }
        Ok(())
    }
}

/// Limits per calling service (the limits per codice fiscale are fixed in the contract).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Recovery or revocation starts one calling service may make per minute, each kind
    /// counted apart, across every replica.
    pub link_requests_per_caller_per_minute: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            link_requests_per_caller_per_minute: 6000,
        }
    }
}

/// One token hash, or several while a token is rotated.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TokenHashes {
    /// The usual case.
    One(String),
    /// During a rotation.
    Several(Vec<String>),
}

impl TokenHashes {
    /// Every hash.
    pub fn all(&self) -> Vec<&str> {
        match self {
            TokenHashes::One(hash) => vec![hash.as_str()],
            TokenHashes::Several(hashes) => hashes.iter().map(String::as_str).collect(),
        }
    }
}

/// A calling service. It authenticates with a bearer token, with a client certificate, or
/// either: it needs at least one of `token_sha256` and `client_cert_name`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    /// The caller's id, recorded in logs and audit records.
    pub id: String,
    /// Hex SHA-256 of the caller's bearer token — or a list of two while a token is
    /// rotated (the old and the new one both work until the old is removed). The token
    /// itself is never configured here.
    #[serde(default)]
    pub token_sha256: Option<TokenHashes>,
    /// A DNS name or a URI (e.g. a SPIFFE id) among the subjectAltNames of the caller's
    /// client certificate, verified against `tls.client_ca_file`: a call with no bearer
    /// token over such a connection is this caller's.
    #[serde(default)]
    pub client_cert_name: Option<String>,
    /// The roles the caller holds.
    pub roles: Vec<Role>,
}

impl CallerConfig {
    /// The hashes of the caller's tokens; none for a caller known by certificate only.
    pub fn token_hashes(&self) -> Vec<&str> {
        self.token_sha256
            .as_ref()
            .map(TokenHashes::all)
            .unwrap_or_default()
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// Parses durations written as a number and a unit: `500ms`, `30s`, `15m`, `8h`, `183d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (use ms, s, m, h or d)"))?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    match unit {
        "ms" => Ok(Duration::milliseconds(number)),
        "s" => Ok(Duration::seconds(number)),
        "m" => Ok(Duration::minutes(number)),
        "h" => Ok(Duration::hours(number)),
        "d" => Ok(Duration::days(number)),
        _ => Err(format!(
            "{text:?} has an unknown unit (use ms, s, m, h or d)"
        )),
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn durations<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|text| parse_duration(text).map_err(serde::de::Error::custom))
        .collect()
}

impl Config {
    /// Loads the file (if any) and overlays the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read configuration file {}", path.display())
                })?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("{} is not valid TOML", path.display()))?
            }
            None => toml::Table::new(),
        };
        let parse = |table: &toml::Table| -> Result<Config, toml::de::Error> {
            toml::Value::Table(table.clone()).try_into()
        };
        let source = file.map_or_else(
            || "configuration".to_owned(),
            |path| path.display().to_string(),
        );
        let mut config =
            parse(&table).map_err(|error| anyhow::anyhow!("configuration {source}: {error}"))?;
        // Each variable is applied and checked in turn, so that an error names the
        // variable that caused it (`PIN_LISTN`, not "unknown field `listn`").
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("PIN_") else {
                continue;
            };
            // PIN_CONFIG names the file; PIN_TEST_* belong to the test suite.
            if key == "CONFIG" || key.starts_with("TEST_") {
                continue;
            }
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut table, &path, env_value(&value))
                .with_context(|| format!("environment variable {name}"))?;
            config = parse(&table)
                .map_err(|error| anyhow::anyhow!("environment variable {name}: {error}"))?;
        }
        config.check()?;
        Ok(config)
    }

    /// Checks what serde cannot: values that depend on each other.
    fn check(&self) -> anyhow::Result<()> {
        self.policy.build()?;
        if self.hashing.workers == Some(0) {
            bail!("hashing.workers must be at least 1");
        }
        if !self.hashing.allow_weak && !self.hashing.meets_owasp_minimum() {
            bail!(
                "hashing: memory_kib = {} with iterations = {} is below OWASP's minimum for \
                 argon2id (e.g. 19456 KiB with 2 iterations, or 47104 KiB with 1); \
                 hashing.allow_weak = true accepts it, for tests only",
                self.hashing.memory_kib,
                self.hashing.iterations
            );
        }
        if self.lifecycle.max_calls_in_flight == 0 {
            bail!("lifecycle.max_calls_in_flight must be at least 1");
        }
        if self.limits.link_requests_per_caller_per_minute == 0 {
            bail!("limits.link_requests_per_caller_per_minute must be at least 1");
        }
        let lifecycle = &self.lifecycle;
        for (key, value) in [
            (
                "lifecycle.database_check_interval",
                lifecycle.database_check_interval,
            ),
            ("lifecycle.shutdown_bound", lifecycle.shutdown_bound),
            ("lifecycle.max_connection_age", lifecycle.max_connection_age),
        ] {
            if !value.is_positive() {
                bail!("{key} must be longer than zero");
            }
        }
        // Durations are never negative (`parse_duration` reads no sign).
        if lifecycle.drain >= lifecycle.shutdown_bound {
            bail!("lifecycle.drain must be shorter than lifecycle.shutdown_bound");
        }
        if !self.reminders.interval.is_positive() {
            bail!("reminders.interval must be longer than zero");
        }
        if self.session_cache.ttl > Duration::seconds(1) {
            bail!(
                "session_cache.ttl must be at most 1s: it bounds how long an ended session \
                 stays usable on other replicas"
            );
        }
        crate::catalog::load(self.catalog_file.as_deref())?;
        if !(1..=1024).contains(&self.database.max_connections) {
            bail!("database.max_connections must be between 1 and 1024");
        }
        self.hashing
            .params()
            .check()
            .map_err(|error| anyhow::anyhow!("hashing: {error}"))?;
        self.tls.check()?;
        for (index, caller) in self.callers.iter().enumerate() {
            if caller.id.trim().is_empty() {
                bail!("callers[{index}].id must not be empty");
            }
            if caller.token_sha256.is_none() && caller.client_cert_name.is_none() {
                bail!(
                    "callers[{index}] ({:?}) needs token_sha256, client_cert_name or both: \
                     otherwise it cannot authenticate",
                    caller.id
                );
            }
            if let Some(hashes) = &caller.token_sha256 {
                let hashes = hashes.all();
                if hashes.is_empty() || hashes.len() > 2 {
                    bail!("callers[{index}].token_sha256 must be one hash, or two while rotating");
                }
                for hash in hashes {
                    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                        bail!("callers[{index}].token_sha256 must be 64 hexadecimal characters");
                    }
                }
            }
            if let Some(name) = &caller.client_cert_name {
                if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    bail!(
                        "callers[{index}].client_cert_name must be a DNS name or a URI, \
                         without spaces"
                    );
                }
                if self.tls.client_ca_file.is_none() {
                    bail!(
                        "callers[{index}].client_cert_name needs tls.client_ca_file \
                         (PIN_TLS__CLIENT_CA_FILE): without it no client certificate is asked \
                         for"
                    );
                }
            }
            if caller.roles.is_empty() {
                bail!("callers[{index}].roles must name at least one role");
            }
        }
        let mut ids: Vec<&str> = self.callers.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            bail!("callers: id {:?} appears twice", pair[0]);
        }
        let mut hashes: Vec<(String, &str)> = self
            .callers
            .iter()
            .flat_map(|c| {
                c.token_hashes()
                    .into_iter()
                    .map(|h| (h.to_ascii_lowercase(), c.id.as_str()))
            })
            .collect();
        hashes.sort_unstable();
        if let Some(pair) = hashes.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            bail!(
                "callers: {:?} and {:?} have the same token_sha256: one token would be both",
                pair[0].1,
                pair[1].1
            );
        }
        let mut names: Vec<(String, &str)> = self
            .callers
            .iter()
            .filter_map(|c| {
                let name = c.client_cert_name.as_deref()?;
                Some((crate::tls::certificate_name(name), c.id.as_str()))
            })
            .collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            bail!(
                "callers: {:?} and {:?} have the same client_cert_name: one certificate would \
                 be both",
                pair[0].1,
                pair[1].1
            );
        }
        Ok(())
    }

    /// Whether the development mailbox worker runs: when enabled explicitly, or by default
    /// exactly when no callers are configured (the development setup). Never merely
    /// because the address is loopback: behind a sidecar it would write every PIN half
    /// into the pod.
    pub fn mailbox_enabled(&self) -> bool {
        self.mailbox.enabled.unwrap_or(self.callers.is_empty())
    }

    /// The database URL, defaulting to a SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("pin.db").display()
            )
        })
    }
}

fn env_value(text: &str) -> toml::Value {
    // A value that parses as a TOML scalar or array is taken as such; anything else is text.
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    match path {
        [] => bail!("empty key"),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => bail!("{first} is not a table"),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn no_configuration_at_all_is_the_embedded_default() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.listen, default_listen());
        assert_eq!(config.database_url(), "sqlite://data/pin.db?mode=rwc");
        assert!(config.callers.is_empty());
        assert_eq!(config.policy.citizen_pin_lifetime, Duration::days(183));
    }

    #[test]
    fn environment_variables_override_nested_keys() {
        let config = Config::load(
            None,
            env(&[
                ("PIN_LISTEN", "0.0.0.0:6000"),
                ("PIN_POLICY__MAX_FAILED_ATTEMPTS", "3"),
                ("PIN_POLICY__TICKET_LIFETIME", "30s"),
                ("PIN_POLICY__LOCK_DURATIONS", "[\"5s\", \"1m\"]"),
                ("PIN_DATABASE_URL", "postgres://db/pin"),
                ("PIN_CONFIG", "/ignored"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.policy.max_failed_attempts, 3);
        assert_eq!(config.policy.ticket_lifetime, Duration::seconds(30));
        assert_eq!(
            config.policy.lock_durations,
            vec![Duration::seconds(5), Duration::minutes(1)]
        );
        assert_eq!(config.database_url(), "postgres://db/pin");
    }

    #[track_caller]
    fn refused(pairs: &[(&str, &str)], key: &str) {
        let error = format!("{:#}", Config::load(None, env(pairs)).unwrap_err());
        assert!(error.contains(key), "{error:?} should name {key}");
    }

    #[test]
    fn a_bad_value_stops_start_up_naming_the_key() {
        refused(&[("PIN_LISTEN", "nowhere")], "listen");
        refused(
            &[("PIN_POLICY__MAX_FAILED_ATTEMPTS", "0")],
            "policy.max_failed_attempts",
        );
        refused(
            &[("PIN_POLICY__TICKET_LIFETIME", "10 minutes")],
            "ticket_lifetime",
        );
        refused(
            &[("PIN_POLICY__SESSION_IDLE_TIMEOUT", "9h")],
            "policy.session_idle_timeout",
        );
        refused(&[("PIN_HASHING__MEMORY_KIB", "1")], "hashing");
        refused(&[("PIN_NO_SUCH_KEY", "1")], "no_such_key");
        refused(
            &[("PIN_DATABASE__MAX_CONNECTIONS", "0")],
            "database.max_connections",
        );
    }

    #[test]
    fn an_error_from_the_environment_names_the_variable() {
        refused(&[("PIN_LISTN", "0.0.0.0:50051")], "PIN_LISTN");
        refused(
            &[("PIN_POLICY__TICKET_LIFETIME", "ten")],
            "PIN_POLICY__TICKET_LIFETIME",
        );
    }

    #[test]
    fn argon2_below_the_owasp_minimum_is_refused_unless_allowed_for_tests() {
        refused(
            &[
                ("PIN_HASHING__MEMORY_KIB", "8192"),
                ("PIN_HASHING__ITERATIONS", "2"),
            ],
            "OWASP",
        );
        let weak = [
            ("PIN_HASHING__MEMORY_KIB", "64"),
            ("PIN_HASHING__ITERATIONS", "1"),
            ("PIN_HASHING__ALLOW_WEAK", "true"),
        ];
        assert!(Config::load(None, env(&weak)).is_ok());
        let strong = [
            ("PIN_HASHING__MEMORY_KIB", "9216"),
            ("PIN_HASHING__ITERATIONS", "4"),
        ];
        assert!(Config::load(None, env(&strong)).is_ok());
    }

    fn callers_file(callers: &str) -> anyhow::Result<Config> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), callers).unwrap();
        Config::load(Some(file.path()), env(&[]))
    }

    #[test]
    fn two_callers_with_one_token_are_refused_and_a_token_can_be_rotated() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let twice = format!(
            "[[callers]]\nid = \"portal\"\ntoken_sha256 = \"{a}\"\nroles = [\"portal\"]\n\
             [[callers]]\nid = \"desk\"\ntoken_sha256 = \"{}\"\nroles = [\"office\"]\n",
            a.to_uppercase()
        );
        let error = format!("{:#}", callers_file(&twice).unwrap_err());
        assert!(error.contains("same token_sha256"), "{error}");
        let rotating = format!(
            "[[callers]]\nid = \"portal\"\ntoken_sha256 = [\"{a}\", \"{b}\"]\nroles = [\"portal\"]\n"
        );
        let config = callers_file(&rotating).unwrap();
        assert_eq!(config.callers[0].token_hashes(), [a.as_str(), b.as_str()]);
    }

    #[test]
    fn the_mailbox_runs_by_default_only_without_callers() {
        assert!(Config::load(None, env(&[])).unwrap().mailbox_enabled());
        let hash = "a".repeat(64);
        let with_callers = callers_file(&format!(
            "listen = \"127.0.0.1:50051\"\n[[callers]]\nid = \"portal\"\n\
             token_sha256 = \"{hash}\"\nroles = [\"portal\"]\n"
        ))
        .unwrap();
        assert!(
            !with_callers.mailbox_enabled(),
            "loopback alone does not enable it"
        );
    }

    #[test]
    fn callers_are_checked() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "[[callers]]\nid = \"portal\"\ntoken_sha256 = \"abc\"\nroles = [\"portal\"]\n",
        )
        .unwrap();
        let error = format!(
            "{:#}",
            Config::load(Some(file.path()), env(&[])).unwrap_err()
        );
        assert!(error.contains("callers[0].token_sha256"), "{error}");
        std::fs::write(
            file.path(),
            "[[callers]]\nid = \"portal\"\ntoken_sha256 = \"abc\"\nroles = [\"janitor\"]\n",
        )
        .unwrap();
        let error = format!(
            "{:#}",
            Config::load(Some(file.path()), env(&[])).unwrap_err()
        );
        assert!(error.contains("janitor"), "{error}");
    }

    #[test]
    fn tls_keys_have_defaults_and_come_from_the_environment() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.tls.reload_interval, Duration::seconds(30));
        assert!(!config.tls.allow_plaintext);
        assert_eq!(config.tls.files(), None);
        assert_eq!(config.lifecycle.health_listen, None);
        let config = Config::load(
            None,
            env(&[
                ("PIN_TLS__CERT_FILE", "/etc/tls/tls.crt"),
                ("PIN_TLS__KEY_FILE", "/etc/tls/tls.key"),
                ("PIN_TLS__CLIENT_CA_FILE", "/etc/tls/ca.crt"),
                ("PIN_TLS__RELOAD_INTERVAL", "5m"),
                ("PIN_TLS__ALLOW_PLAINTEXT", "true"),
                ("PIN_LIFECYCLE__HEALTH_LISTEN", "0.0.0.0:50052"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.tls.files(),
            Some(crate::tls::TlsFiles {
                cert: "/etc/tls/tls.crt".into(),
                key: "/etc/tls/tls.key".into(),
                client_ca: Some("/etc/tls/ca.crt".into()),
            })
        );
        assert_eq!(config.tls.reload_interval, Duration::minutes(5));
        assert!(config.tls.allow_plaintext);
        assert_eq!(
            config.lifecycle.health_listen,
            Some(SocketAddr::from(([0, 0, 0, 0], 50052)))
        );
    }

    #[test]
    fn a_certificate_needs_its_key_and_client_certificates_need_a_certificate() {
        for half in ["PIN_TLS__CERT_FILE", "PIN_TLS__KEY_FILE"] {
            let error = format!(
                "{:#}",
                Config::load(None, env(&[(half, "/etc/tls/half.pem")])).unwrap_err()
            );
            for key in [
                "tls.cert_file",
                "PIN_TLS__CERT_FILE",
                "tls.key_file",
                "PIN_TLS__KEY_FILE",
            ] {
                assert!(error.contains(key), "{error:?} should name {key}");
            }
        }
        refused(
            &[("PIN_TLS__CLIENT_CA_FILE", "/etc/tls/ca.crt")],
            "tls.client_ca_file needs tls.cert_file",
        );
        refused(&[("PIN_TLS__RELOAD_INTERVAL", "0s")], "tls.reload_interval");
        refused(&[("PIN_TLS__NO_SUCH_KEY", "1")], "no_such_key");
    }

    const WITH_CLIENT_CA: &str = "[tls]\ncert_file = \"/tls/tls.crt\"\n\
        key_file = \"/tls/tls.key\"\nclient_ca_file = \"/tls/ca.crt\"\n";

    #[test]
    fn a_caller_may_be_known_by_its_certificate_alone() {
        let config = callers_file(&format!(
            "{WITH_CLIENT_CA}[[callers]]\nid = \"worker\"\n\
             client_cert_name = \"spiffe://inps.example/ns/pin/sa/delivery\"\n\
             roles = [\"delivery\"]\n"
        ))
        .unwrap();
        assert!(config.callers[0].token_hashes().is_empty());
        assert_eq!(
            config.callers[0].client_cert_name.as_deref(),
            Some("spiffe://inps.example/ns/pin/sa/delivery")
        );
    }

    #[test]
    fn a_caller_with_neither_token_nor_certificate_is_refused_by_name() {
        let error = format!(
            "{:#}",
            callers_file(&format!(
                "{WITH_CLIENT_CA}[[callers]]\nid = \"mute\"\nroles = [\"portal\"]\n"
            ))
            .unwrap_err()
        );
        assert!(error.contains("callers[0]"), "{error}");
        assert!(error.contains("\"mute\""), "{error}");
        assert!(error.contains("token_sha256, client_cert_name"), "{error}");
    }

    #[test]
    fn two_callers_with_one_certificate_name_are_refused() {
        let twice = format!(
            "{WITH_CLIENT_CA}[[callers]]\nid = \"portal\"\n\
             client_cert_name = \"portal.inps.example\"\nroles = [\"portal\"]\n\
             [[callers]]\nid = \"desk\"\nclient_cert_name = \"Portal.INPS.example\"\n\
             roles = [\"contact_center\"]\n"
        );
        let error = format!("{:#}", callers_file(&twice).unwrap_err());
        assert!(error.contains("same client_cert_name"), "{error}");
        assert!(
            error.contains("\"portal\"") && error.contains("\"desk\""),
            "{error}"
        );
        // Distinct URIs differing in case are distinct names.
        let distinct = format!(
            "{WITH_CLIENT_CA}[[callers]]\nid = \"portal\"\n\
             client_cert_name = \"spiffe://inps.example/Portal\"\nroles = [\"portal\"]\n\
             [[callers]]\nid = \"desk\"\nclient_cert_name = \"spiffe://inps.example/portal\"\n\
             roles = [\"contact_center\"]\n"
        );
        assert!(callers_file(&distinct).is_ok());
    }

    #[test]
    fn a_certificate_name_needs_a_client_ca_and_no_spaces() {
        let error = format!(
            "{:#}",
            callers_file(
                "[[callers]]\nid = \"worker\"\nclient_cert_name = \"worker.inps.example\"\n\
                 roles = [\"delivery\"]\n"
            )
            .unwrap_err()
        );
        assert!(
            error.contains("callers[0].client_cert_name needs tls.client_ca_file"),
            "{error}"
        );
        let error = format!(
            "{:#}",
            callers_file(&format!(
                "{WITH_CLIENT_CA}[[callers]]\nid = \"worker\"\nclient_cert_name = \"a b\"\n\
                 roles = [\"delivery\"]\n"
            ))
            .unwrap_err()
        );
        assert!(error.contains("callers[0].client_cert_name"), "{error}");
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("90d"), Ok(Duration::days(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::hours(2)));
        assert!(parse_duration("90").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("5w").is_err());
    }
}
