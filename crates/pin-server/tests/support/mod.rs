//! Real `pin-server` processes for tests that need several replicas or a restart: only
//! an integration test of this crate is handed the path of the binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use pin_proto::v1::{
    self as pb, AckDeliveryRequest, AuthenticateRequest, Channel, CompleteFirstAccessRequest,
    DeliveryResult, LeaseDeliveriesRequest, RequestPinOnlineRequest, UpsertPersonsRequest,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    delivery_service_client::DeliveryServiceClient, issuance_service_client::IssuanceServiceClient,
    registry_service_client::RegistryServiceClient,
};
use pin_server::auth::token_sha256_hex;
use tonic::{Request, transport::Channel as GrpcChannel};

pub const TOKEN: &str = "replica-test-token";
pub const MARIO: &str = "RSSMRA85T10A562S";

/// A server process, killed when dropped.
pub struct Replica {
    child: Child,
    channel: Option<GrpcChannel>,
}

impl Replica {
    pub fn channel(&self) -> GrpcChannel {
        self.channel.clone().expect("the replica is connected")
    }

    /// Sends the process SIGTERM, as Kubernetes does.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits up to `within` for the process to exit; how long it took, if it did.
    pub async fn exited_within(&mut self, within: Duration) -> Option<Duration> {
        let began = Instant::now();
        while began.elapsed() < within {
            if self
                .child
                .try_wait()
                .expect("the process can be waited for")
                .is_some()
            {
                return Some(began.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start(database_url: &str, data_dir: &std::path::Path) -> Replica {
    start_with(database_url, data_dir, &[]).await
}

/// [`start`] with more environment (configuration overrides).
pub async fn start_with(
    database_url: &str,
    data_dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Replica {
    start_logged(database_url, data_dir, extra, None).await
}

/// [`start_with`], writing the process's standard output and error to `log` if given.
pub async fn start_logged(
    database_url: &str,
    data_dir: &std::path::Path,
    extra: &[(&str, &str)],
    log: Option<&std::path::Path>,
) -> Replica {
    let output = || match log {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("the log file opens"),
        ),
        None => Stdio::null(),
    };
    let port = free_port();
    let callers = format!(
        "[{{id = \"test\", token_sha256 = \"{}\", roles = [\"admin\", \"portal\", \"delivery\", \"benefits\"]}}]",
        token_sha256_hex(TOKEN)
    );
    let mut replica = Replica {
        channel: None,
        child: Command::new(env!("CARGO_BIN_EXE_pin-server"))
            .arg("serve")
            .env_clear()
            .env("PIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("PIN_DATA_DIR", data_dir)
            .env("PIN_DATABASE_URL", database_url)
            .env("PIN_CALLERS", callers)
            .env("PIN_MAILBOX__ENABLED", "false")
            .env("PIN_LIFECYCLE__DRAIN", "0s")
            .env("PIN_HASHING__MEMORY_KIB", "64")
            .env("PIN_HASHING__ITERATIONS", "1")
            .env("PIN_HASHING__ALLOW_WEAK", "true")
            .env("PIN_POLICY__MAX_FAILED_ATTEMPTS", "5")
            .env("PIN_POLICY__LOCK_DURATIONS", "[\"1h\"]")
            .env("RUST_LOG", "warn")
            .envs(extra.iter().copied())
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("pin-server starts"),
    };
    // Poll, with a deadline, until the replica accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        poll.tick().await;
        if let Ok(channel) = GrpcChannel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
        {
            replica.channel = Some(channel);
            return replica;
        }
        assert!(
            Instant::now() < deadline,
            "replica on port {port} never started"
        );
    }
}

pub fn authed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

pub fn mario() -> pb::Person {
    pb::Person {
        codice_fiscale: MARIO.into(),
        family_name: "Rossi".into(),
        given_name: "Mario".into(),
        sex: pb::Sex::Male.into(),
        birth_date: "1985-12-10".into(),
        birth_place: "A562".into(),
        residence: Some(pb::PostalAddress {
            street: "Via Giuseppe Verdi".into(),
            number: "10".into(),
            cap: "00184".into(),
            municipality: "Roma".into(),
            province: "RM".into(),
        }),
        health_card: Some(pb::HealthCard {
            number: "80380000000000000001".into(),
            expiry: "2029-06-30".into(),
        }),
        categories: vec![pb::Category::PrivateSectorWorker.into()],
    }
}

pub async fn the_right_pin(channel: &GrpcChannel) -> String {
    let mut registry = RegistryServiceClient::new(channel.clone());
    let stream = tokio_stream::iter([UpsertPersonsRequest {
        person: Some(mario()),
    }]);
    registry.upsert_persons(authed(stream)).await.unwrap();
    let person = mario();
    let mut issuance = IssuanceServiceClient::new(channel.clone());
    issuance
        .request_pin_online(authed(RequestPinOnlineRequest {
            request_id: "replicas".into(),
            applicant: Some(pb::Applicant {
                codice_fiscale: person.codice_fiscale,
                family_name: person.family_name,
                given_name: person.given_name,
                sex: person.sex,
                birth_date: person.birth_date,
                residence: person.residence,
                callback_phone: "061234567".into(),
                contacts: Some(pb::ContactDetails {
                    mobile: "3471234567".into(),
                    ..Default::default()
                }),
                first_half_channel: pb::FirstHalfChannel::Sms.into(),
            }),
        }))
        .await
        .unwrap();
    let mut delivery = DeliveryServiceClient::new(channel.clone());
    let mut pin = String::new();
    for kind in [Channel::Sms, Channel::Post] {
        let leased = delivery
            .lease_deliveries(authed(LeaseDeliveriesRequest {
                channel: kind.into(),
                max_deliveries: 1,
                lease_duration: None,
            }))
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        pin.push_str(&leased[0].secret);
        delivery
            .ack_delivery(authed(AckDeliveryRequest {
                delivery_id: leased[0].id.clone(),
                result: DeliveryResult::Sent.into(),
                failure_reason: String::new(),
            }))
            .await
            .unwrap();
    }
    pin
}

/// Mario's 8-character PIN, after first access on `channel`.
pub async fn first_access(channel: &GrpcChannel) -> String {
    let initial = the_right_pin(channel).await;
    let mut auth = AuthenticationServiceClient::new(channel.clone());
    let answer = auth
        .authenticate(authed(AuthenticateRequest {
            codice_fiscale: MARIO.into(),
            pin: initial,
        }))
        .await
        .unwrap()
        .into_inner();
    let Some(Outcome::FirstAccessRequired(ticket)) = answer.result else {
        panic!("first access expected")
    };
    auth.complete_first_access(authed(CompleteFirstAccessRequest {
        ticket: ticket.ticket,
    }))
    .await
    .unwrap()
    .into_inner()
    .new_pin
}

/// Polls `probe` every 50 ms until it answers, failing the test after `within`.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `probe` every 50 ms for the whole of `window`, failing the test as soon as it
/// answers: for what must not happen while a background task runs again and again.
pub async fn never_within(
    window: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<String>,
) {
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        if let Some(seen) = probe().await {
            panic!("{what}: {seen}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
