//! Black-box test support: [`spawn_app`] starts the real server on port 0 with a fresh
//! database (a SQLite file or a PostgreSQL database of its own) and one caller per role,
//! and hands back a connected channel.

// Test support: a failure to set a test up is the test failing, with the message given.
#![allow(clippy::expect_used)]

pub mod bench;
pub mod citizen;

pub use bench::raw_stream;

use std::{net::SocketAddr, path::Path, sync::Arc};

use pin_proto::v1 as pb;
use pin_server::{
    app::RunningServer, auth::token_sha256_hex, clock::SettableClock, config::Config,
};
pub use pin_store::testing::{Backend, TestDatabase};
use tonic::{Request, metadata::MetadataValue, transport::Channel};

/// The roles of the callers every test app has, each with token `token-<role>`.
pub const ROLES: [&str; 7] = [
    "portal",
    "contact_center",
    "office",
    "back_office",
    "benefits",
    "delivery",
    "admin",
];

/// A server started for one test.
#[derive(Debug)]
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A connected channel.
    pub channel: Channel,
    /// The server's clock: tests move time forward instead of waiting for it.
    pub clock: Arc<SettableClock>,
    server: Option<RunningServer>,
    data_dir: tempfile::TempDir,
    /// The database it owns, dropped with it.
    pub database: Option<TestDatabase>,
}

/// The bearer token of the test caller holding `role`.
pub fn token(role: &str) -> String {
    format!("token-{role}")
}

/// The configuration of a test server: port 0, its own data folder and database, cheap
/// hashing, no mailbox worker (tests lease deliveries themselves), and one caller per role.
pub fn test_config(database_url: &str, data_dir: &Path) -> anyhow::Result<Config> {
    test_config_with(database_url, data_dir, &[])
}

/// Overrides of a test configuration, as `PIN_*` environment variables would give them,
/// e.g. `("PIN_POLICY__MAX_FAILED_ATTEMPTS", "3")`.
pub type Overrides<'a> = &'a [(&'a str, &'a str)];

/// [`test_config`] with overrides.
pub fn test_config_with(
    database_url: &str,
    data_dir: &Path,
    overrides: Overrides<'_>,
) -> anyhow::Result<Config> {
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {data_dir:?}\ndatabase_url = {database_url:?}\n\
         [hashing]\nmemory_kib = 64\niterations = 1\nparallelism = 1\nallow_weak = true\n\
         [mailbox]\nenabled = false\n[lifecycle]\ndrain = \"0s\"\n",
    );
    for role in ROLES {
        toml.push_str(&format!(
            "[[callers]]\nid = \"test-{role}\"\ntoken_sha256 = \"{}\"\nroles = [\"{role}\"]\n",
            token_sha256_hex(&token(role))
        ));
    }
    let file = data_dir.join("pin-server.toml");
    std::fs::write(&file, toml)?;
    Config::load(
        Some(&file),
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
}

/// Starts a server on a fresh database of `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts a server on a fresh database of `backend` with extra configuration.
pub async fn spawn_app_with(backend: Backend, extra: Overrides<'_>) -> TestApp {
    let database = TestDatabase::new(backend).await;
    spawn_on(database, extra).await
}

/// Starts a server that owns a fresh test database.
pub async fn spawn_on(database: TestDatabase, extra: Overrides<'_>) -> TestApp {
    let mut app = spawn_sharing(&database.url, extra).await;
    app.database = Some(database);
    app
}

/// Starts a server on a database that others may share (a replica).
pub async fn spawn_sharing(database_url: &str, extra: Overrides<'_>) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary folder");
    let config =
        test_config_with(database_url, data_dir.path(), extra).expect("test configuration");
    let clock = Arc::new(SettableClock::new());
    let server = pin_server::app::start_with_clock(config, clock.clone())
        .await
        .expect("server starts");
    let addr = server.local_addr;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("client connects");
    TestApp {
        addr,
        channel,
        clock,
        server: Some(server),
        database: None,
        data_dir,
    }
}

impl TestApp {
    /// The server's data folder (mailbox, development token).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Stops the server, letting calls in flight finish.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("server stops cleanly");
        }
    }
}

/// `message` with the bearer token of `role`.
pub fn as_role<T>(role: &str, message: T) -> Request<T> {
    with_token(&token(role), message)
}

/// `message` with an arbitrary bearer token.
pub fn with_token<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii token");
    request.metadata_mut().insert("authorization", value);
    request
}

/// `request` with an `x-operator-id`.
pub fn by_operator<T>(mut request: Request<T>, operator: &str) -> Request<T> {
    let value: MetadataValue<_> = operator.parse().expect("ascii operator id");
    request.metadata_mut().insert("x-operator-id", value);
    request
}

/// The persons of the sample registry shipped in `deploy/`.
pub fn sample_persons() -> Vec<pb::Person> {
    let text = include_str!("../../deploy/sample-registry.jsonl");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| person_from_json(&serde_json::from_str(line).expect("sample line is JSON")))
        .collect()
}

fn text(value: &serde_json::Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// A `Person` message from the protobuf-JSON shape of the sample file.
pub fn person_from_json(value: &serde_json::Value) -> pb::Person {
    let residence = &value["residence"];
    let card = &value["health_card"];
    pb::Person {
        codice_fiscale: text(value, "codice_fiscale"),
        family_name: text(value, "family_name"),
        given_name: text(value, "given_name"),
        sex: pb::Sex::from_str_name(&text(value, "sex")).map_or(0, i32::from),
        birth_date: text(value, "birth_date"),
        birth_place: text(value, "birth_place"),
        residence: Some(pb::PostalAddress {
            street: text(residence, "street"),
            number: text(residence, "number"),
            cap: text(residence, "cap"),
            municipality: text(residence, "municipality"),
            province: text(residence, "province"),
        }),
        health_card: Some(pb::HealthCard {
            number: text(card, "number"),
            expiry: text(card, "expiry"),
        }),
        categories: value["categories"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c.as_str())
                    .filter_map(pb::Category::from_str_name)
                    .map(i32::from)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Runs a test body on both backends: defines `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await;
            }
        }
    };
}

/// How often [`eventually`] and [`never_within`] look.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Polls `probe` until it answers, failing the test after `within`.
pub async fn eventually<T>(
    within: std::time::Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `probe` for the whole of `window`, failing the test as soon as it answers: for
/// what must not happen while a background job runs again and again.
pub async fn never_within(
    window: std::time::Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<String>,
) {
    let deadline = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < deadline {
        if let Some(seen) = probe().await {
            panic!("{what}: {seen}");
        }
        tokio::time::sleep(POLL).await;
    }
}
