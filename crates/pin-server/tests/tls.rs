//! Transport security, against the real server started in this process: TLS with the
//! configured certificate (and ALPN `h2`, which tonic's client insists on), certificates
//! replaced without a restart, callers identified by their client certificate, plaintext
//! only on loopback unless allowed, and the plaintext health port for probes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use pin_proto::v1::{
    AuthenticateRequest, Channel as DeliveryChannel, GetPersonRequest, LeaseDeliveriesRequest,
    ListAuditEventsRequest, audit_service_client::AuditServiceClient,
    authentication_service_client::AuthenticationServiceClient,
    delivery_service_client::DeliveryServiceClient, registry_service_client::RegistryServiceClient,
};
use pin_server::{app::RunningServer, auth::token_sha256_hex, config::Config};
use pin_store::testing::TestDatabase;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, ServerName};
use support::{eventually, never_within};
use tokio::net::TcpStream;
use tonic::{
    Code, Request,
    transport::{Certificate, Channel, ClientTlsConfig, Identity},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const ADMIN_TOKEN: &str = "tls-test-admin";
const PORTAL_TOKEN: &str = "tls-test-portal";
/// The portal is known by its token and by its certificate.
const PORTAL_NAME: &str = "portal.inps.example";
/// The delivery worker is known by its certificate only (a SPIFFE id).
const WORKER_NAME: &str = "spiffe://inps.example/ns/pin/sa/delivery-worker";

/// A certificate authority of the test's own.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, in PEM.
struct Issued {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, names: Vec<SanType>, usage: ExtendedKeyUsagePurpose) -> Issued {
        let mut params = CertificateParams::default();
        params.subject_alt_names = names;
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    fn server(&self) -> Issued {
        self.issue(
            vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress([127, 0, 0, 1].into()),
            ],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate carrying `name` (a URI when it holds a `:`, else a DNS name).
    fn client(&self, name: &str) -> Issued {
        let san = if name.contains(':') {
            SanType::URI(name.try_into().unwrap())
        } else {
            SanType::DnsName(name.try_into().unwrap())
        };
        self.issue(vec![san], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

impl Issued {
    fn der(&self) -> CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(self.cert.as_bytes()).unwrap()
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }
}

/// The server's certificate files, laid out as Kubernetes lays out a mounted Secret:
/// `tls.crt` is a symlink to `..data/tls.crt`, and `..data` a symlink to a folder of the
/// current version, swapped in one rename when the Secret changes.
struct SecretVolume {
    dir: tempfile::TempDir,
    versions: usize,
}

impl SecretVolume {
    fn new(server: &Issued, client_ca: Option<&Ca>) -> SecretVolume {
        let mut volume = SecretVolume {
            dir: tempfile::tempdir().unwrap(),
            versions: 0,
        };
        volume.write(server.cert.as_bytes(), server.key.as_bytes(), client_ca);
        for file in ["tls.crt", "tls.key", "ca.crt"] {
            std::os::unix::fs::symlink(format!("..data/{file}"), volume.dir.path().join(file))
                .unwrap();
        }
        volume
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// A new version of the Secret, swapped in at once. Each file keeps the modification
    /// time of the previous version, so that only the contents tell the change.
    fn write(&mut self, cert: &[u8], key: &[u8], client_ca: Option<&Ca>) {
        let previous = self.dir.path().join("..data");
        self.versions += 1;
        let version = format!("..version-{}", self.versions);
        let folder = self.dir.path().join(&version);
        std::fs::create_dir(&folder).unwrap();
        let ca = client_ca.map(Ca::pem).unwrap_or_default();
        for (file, bytes) in [
            ("tls.crt", cert),
            ("tls.key", key),
            ("ca.crt", ca.as_bytes()),
        ] {
            let path = folder.join(file);
            std::fs::write(&path, bytes).unwrap();
            if let Ok(old) = std::fs::metadata(previous.join(file)) {
                let written = std::fs::File::options().write(true).open(&path).unwrap();
                written.set_modified(old.modified().unwrap()).unwrap();
            }
        }
        let link = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &link).unwrap();
        std::fs::rename(&link, &previous).unwrap();
    }

    /// The variables that point the server at these files.
    fn env(&self, client_ca: bool) -> Vec<(String, String)> {
        let mut env = vec![
            ("PIN_TLS__CERT_FILE".to_owned(), self.path("tls.crt")),
            ("PIN_TLS__KEY_FILE".to_owned(), self.path("tls.key")),
        ];
        if client_ca {
            env.push(("PIN_TLS__CLIENT_CA_FILE".to_owned(), self.path("ca.crt")));
        }
        env.into_iter()
            .map(|(name, path)| (name, path.display().to_string()))
            .collect()
    }
}

/// A server for one test, with its database and data folder.
struct TestServer {
    server: Option<RunningServer>,
    _database: TestDatabase,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().local_addr
    }

    fn health_addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().health_addr.unwrap()
    }
}

/// The configuration of a test server: cheap hashing, no mailbox, an admin and a portal
/// known by token (the portal also by certificate) and a worker known by certificate only.
async fn configure(
    env: Vec<(String, String)>,
) -> (anyhow::Result<Config>, TestDatabase, tempfile::TempDir) {
    let database = TestDatabase::sqlite().await;
    let data_dir = tempfile::tempdir().unwrap();
    let file = data_dir.path().join("pin-server.toml");
    let has_client_ca = env
        .iter()
        .any(|(name, _)| name == "PIN_TLS__CLIENT_CA_FILE");
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\ndatabase_url = {:?}\n\
         [hashing]\nmemory_kib = 64\niterations = 1\nparallelism = 1\nallow_weak = true\n\
         [mailbox]\nenabled = false\n[lifecycle]\ndrain = \"0s\"\n\
         [[callers]]\nid = \"admin\"\ntoken_sha256 = \"{}\"\nroles = [\"admin\"]\n\
         [[callers]]\nid = \"portal\"\ntoken_sha256 = \"{}\"\nroles = [\"portal\"]\n",
        data_dir.path(),
        database.url,
        token_sha256_hex(ADMIN_TOKEN),
        token_sha256_hex(PORTAL_TOKEN),
    );
    if has_client_ca {
        toml.push_str(&format!("client_cert_name = \"{PORTAL_NAME}\"\n"));
        toml.push_str(&format!(
            "[[callers]]\nid = \"worker\"\nclient_cert_name = \"{WORKER_NAME}\"\n\
             roles = [\"delivery\"]\n"
        ));
    }
    std::fs::write(&file, toml).unwrap();
    (Config::load(Some(&file), env), database, data_dir)
}

async fn try_start(env: Vec<(String, String)>) -> anyhow::Result<TestServer> {
    let (config, database, data_dir) = configure(env).await;
    let server = pin_server::app::start(config?).await?;
    Ok(TestServer {
        server: Some(server),
        _database: database,
        _data_dir: data_dir,
    })
}

async fn start(env: Vec<(String, String)>) -> TestServer {
    try_start(env).await.expect("the server starts")
}

fn with_token<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A TLS channel to `addr` trusting `ca`, presenting `identity` if any.
async fn tls_channel(
    addr: SocketAddr,
    ca: &Ca,
    identity: Option<&Issued>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("localhost");
    if let Some(identity) = identity {
        tls = tls.identity(identity.identity());
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

async fn plaintext_channel(addr: SocketAddr) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
}

/// The health of service `""`, or the failure to ask.
async fn health(channel: Channel) -> Result<ServingStatus, tonic::Status> {
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(answer.into_inner().status())
}

/// Whether a TLS client trusting `ca` (and presenting `identity`) gets an answer to a
/// health check: connecting or calling fails otherwise.
async fn answers(addr: SocketAddr, ca: &Ca, identity: Option<&Issued>) -> bool {
    match tls_channel(addr, ca, identity).await {
        Ok(channel) => tokio::time::timeout(Duration::from_secs(5), health(channel))
            .await
            .expect("the server answers or closes in time")
            .is_ok(),
        Err(_) => false,
    }
}

/// The certificate the server presents to a new connection, as a plain rustls client
/// trusting `ca` sees it, after checking that ALPN chose `h2`.
async fn presented_certificate(addr: SocketAddr, ca: &Ca) -> Option<CertificateDer<'static>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .ok()?;
    let (_, session) = stream.get_ref();
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]), "ALPN offers h2");
    session.peer_certificates()?.first().cloned()
}

fn code<T>(answer: Result<T, tonic::Status>) -> Code {
    answer.map_or_else(|status| status.code(), |_| Code::Ok)
}

#[tokio::test]
async fn a_client_trusting_the_ca_calls_over_tls_and_a_plaintext_client_cannot() {
    let ca = Ca::new("server CA");
    let volume = SecretVolume::new(&ca.server(), None);
    let server = start(volume.env(false)).await;

    let channel = tls_channel(server.addr(), &ca, None).await.unwrap();
    assert_eq!(
        health(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    AuditServiceClient::new(channel.clone())
        .list_audit_events(with_token(ADMIN_TOKEN, ListAuditEventsRequest::default()))
        .await
        .expect("an authenticated call over TLS");
    assert_eq!(
        code(
            AuditServiceClient::new(channel)
                .list_audit_events(Request::new(ListAuditEventsRequest::default()))
                .await
        ),
        Code::Unauthenticated,
        "TLS alone authenticates nobody"
    );

    let plaintext = tokio::time::timeout(Duration::from_secs(5), async {
        match plaintext_channel(server.addr()).await {
            Ok(channel) => health(channel).await.is_ok(),
            Err(_) => false,
        }
    })
    .await
    .expect("the server answers or closes in time");
    assert!(
        !plaintext,
        "a plaintext client got an answer from the TLS port"
    );
}

#[tokio::test]
async fn new_connections_see_a_replaced_certificate_and_a_broken_one_keeps_the_last() {
    let (first_ca, second_ca, third_ca) = (Ca::new("first"), Ca::new("second"), Ca::new("third"));
    let first = first_ca.server();
    let mut volume = SecretVolume::new(&first, None);
    let mut env = volume.env(false);
    env.push(("PIN_TLS__RELOAD_INTERVAL".into(), "50ms".into()));
    let server = start(env).await;
    assert_eq!(
        presented_certificate(server.addr(), &first_ca).await,
        Some(first.der())
    );
    let open = tls_channel(server.addr(), &first_ca, None).await.unwrap();

    // Rotated as cert-manager and the kubelet do it, modification times unchanged.
    let second = second_ca.server();
    volume.write(second.cert.as_bytes(), second.key.as_bytes(), None);
    eventually(Duration::from_secs(10), "the new certificate", async || {
        (presented_certificate(server.addr(), &second_ca).await == Some(second.der())).then_some(())
    })
    .await;
    assert!(answers(server.addr(), &second_ca, None).await);
    assert!(
        !answers(server.addr(), &first_ca, None).await,
        "a new connection still trusted the old certificate"
    );
    assert_eq!(
        health(open).await.unwrap(),
        ServingStatus::Serving,
        "a connection opened before the rotation goes on"
    );

    // A broken certificate: every new connection still gets the second certificate. There
    // is nothing to wait for here, so new connections are watched for 40 reload intervals.
    volume.write(
        b"-----BEGIN CERTIFICATE-----\nbroken\n",
        second.key.as_bytes(),
        None,
    );
    never_within(
        Duration::from_secs(2),
        "a broken file replaced the certificate",
        async || {
            let presented = presented_certificate(server.addr(), &second_ca).await;
            (presented != Some(second.der())).then(|| format!("{presented:?}"))
        },
    )
    .await;
    // A key that is not the certificate's is refused alike.
    let third = third_ca.server();
    volume.write(third.cert.as_bytes(), second.key.as_bytes(), None);
    never_within(
        Duration::from_millis(500),
        "a mismatched key replaced the certificate",
        async || {
            let presented = presented_certificate(server.addr(), &second_ca).await;
            (presented != Some(second.der())).then(|| format!("{presented:?}"))
        },
    )
    .await;
    // ... and reloading goes on once the files are right again.
    volume.write(third.cert.as_bytes(), third.key.as_bytes(), None);
    eventually(
        Duration::from_secs(10),
        "the third certificate",
        async || {
            (presented_certificate(server.addr(), &third_ca).await == Some(third.der()))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_client_certificate_naming_a_caller_is_that_caller_without_a_token() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("client CA"));
    let volume = SecretVolume::new(&server_ca.server(), Some(&client_ca));
    let server = start(volume.env(true)).await;
    let portal_cert = client_ca.client(PORTAL_NAME);
    let portal = tls_channel(server.addr(), &server_ca, Some(&portal_cert))
        .await
        .unwrap();

    // A portal RPC goes past the auth layer (and is refused for its empty request) ...
    assert_eq!(
        code(
            AuthenticationServiceClient::new(portal.clone())
                .authenticate(Request::new(AuthenticateRequest::default()))
                .await
        ),
        Code::InvalidArgument
    );
    // ... an admin RPC does not: the certificate is the portal's, with the portal's roles.
    assert_eq!(
        code(
            AuditServiceClient::new(portal.clone())
                .list_audit_events(Request::new(ListAuditEventsRequest::default()))
                .await
        ),
        Code::PermissionDenied
    );
    // A token decides when there is one, whatever the certificate says.
    AuditServiceClient::new(portal.clone())
        .list_audit_events(with_token(ADMIN_TOKEN, ListAuditEventsRequest::default()))
        .await
        .expect("the admin's token over the portal's connection");
    assert_eq!(
        code(
            AuthenticationServiceClient::new(portal)
                .authenticate(with_token("not-a-token", AuthenticateRequest::default()))
                .await
        ),
        Code::Unauthenticated,
        "a wrong token is refused even with a good certificate"
    );

    // A caller known by its SPIFFE id only.
    let worker = tls_channel(
        server.addr(),
        &server_ca,
        Some(&client_ca.client(WORKER_NAME)),
    )
    .await
    .unwrap();
    DeliveryServiceClient::new(worker)
        .lease_deliveries(Request::new(LeaseDeliveriesRequest {
            channel: DeliveryChannel::Sms.into(),
            max_deliveries: 1,
            lease_duration: None,
        }))
        .await
        .expect("the worker, by its certificate");

    // Clients without a certificate still connect, and use their token.
    let anonymous = tls_channel(server.addr(), &server_ca, None).await.unwrap();
    assert_eq!(
        code(
            AuthenticationServiceClient::new(anonymous)
                .authenticate(with_token(PORTAL_TOKEN, AuthenticateRequest::default()))
                .await
        ),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn a_verified_certificate_naming_no_caller_is_no_credential() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("client CA"));
    let volume = SecretVolume::new(&server_ca.server(), Some(&client_ca));
    let server = start(volume.env(true)).await;
    let stranger = tls_channel(
        server.addr(),
        &server_ca,
        Some(&client_ca.client("stranger.inps.example")),
    )
    .await
    .unwrap();
    assert_eq!(
        health(stranger.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        code(
            AuthenticationServiceClient::new(stranger)
                .authenticate(Request::new(AuthenticateRequest::default()))
                .await
        ),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_fails_the_handshake() {
    let (server_ca, client_ca, other_ca) = (
        Ca::new("server CA"),
        Ca::new("client CA"),
        Ca::new("other CA"),
    );
    let volume = SecretVolume::new(&server_ca.server(), Some(&client_ca));
    let server = start(volume.env(true)).await;
    assert!(
        answers(
            server.addr(),
            &server_ca,
            Some(&client_ca.client(PORTAL_NAME))
        )
        .await
    );
    assert!(
        !answers(
            server.addr(),
            &server_ca,
            Some(&other_ca.client(PORTAL_NAME))
        )
        .await,
        "a certificate from another CA was accepted"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_does_not_hold_up_others() {
    let ca = Ca::new("server CA");
    let volume = SecretVolume::new(&ca.server(), None);
    let server = start(volume.env(false)).await;
    // Connected, silent, and kept open well past the test.
    let _silent = TcpStream::connect(server.addr()).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(3), answers(server.addr(), &ca, None))
        .await
        .expect("a second client is served while the first one is silent");
    assert!(answered);
}

#[tokio::test]
async fn plaintext_beyond_loopback_needs_allow_plaintext() {
    let beyond = || vec![("PIN_LISTEN".to_owned(), "0.0.0.0:0".to_owned())];
    let error = format!("{:#}", try_start(beyond()).await.err().expect("refused"));
    for name in [
        "tls.cert_file",
        "PIN_TLS__CERT_FILE",
        "tls.allow_plaintext",
        "PIN_TLS__ALLOW_PLAINTEXT",
    ] {
        assert!(error.contains(name), "{error:?} should name {name}");
    }

    let mut allowed = beyond();
    allowed.push(("PIN_TLS__ALLOW_PLAINTEXT".into(), "true".into()));
    let server = start(allowed).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], server.addr().port()));
    let channel = plaintext_channel(addr).await.unwrap();
    assert_eq!(health(channel).await.unwrap(), ServingStatus::Serving);

    // On loopback, plaintext needs nothing.
    let local = start(Vec::new()).await;
    let channel = plaintext_channel(local.addr()).await.unwrap();
    assert_eq!(health(channel).await.unwrap(), ServingStatus::Serving);
}

#[tokio::test]
async fn the_health_port_answers_in_plaintext_and_follows_the_shutdown() {
    let ca = Ca::new("server CA");
    let volume = SecretVolume::new(&ca.server(), None);
    let mut env = volume.env(false);
    env.push(("PIN_LIFECYCLE__HEALTH_LISTEN".into(), "127.0.0.1:0".into()));
    env.push(("PIN_LIFECYCLE__DRAIN".into(), "3s".into()));
    let mut server = start(env).await;
    let probe = plaintext_channel(server.health_addr()).await.unwrap();
    assert_eq!(health(probe.clone()).await.unwrap(), ServingStatus::Serving);
    let liveness = HealthClient::new(probe.clone())
        .check(HealthCheckRequest {
            service: "liveness".into(),
        })
        .await
        .unwrap();
    assert_eq!(liveness.into_inner().status(), ServingStatus::Serving);
    // Health only: nothing else is served there.
    assert_eq!(
        code(
            RegistryServiceClient::new(probe.clone())
                .get_person(with_token(ADMIN_TOKEN, GetPersonRequest::default()))
                .await
        ),
        Code::Unimplemented
    );

    // Shutdown: the health port says NOT_SERVING through the drain, then closes.
    let health_addr = server.health_addr();
    let stopping = tokio::spawn(server.server.take().unwrap().shutdown());
    eventually(
        Duration::from_secs(3),
        "NOT_SERVING on the health port",
        async || (health(probe.clone()).await.ok()? == ServingStatus::NotServing).then_some(()),
    )
    .await;
    // Well before the shutdown bound (25 s), which would close whatever is still open:
    // the health port and the certificate reload task stop with the server.
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops with its drain, not at its bound")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(health_addr).await.is_err(),
        "the health port is closed with the server"
    );
}

#[tokio::test]
async fn a_missing_or_broken_certificate_file_stops_start_up_naming_it() {
    let ca = Ca::new("server CA");
    let volume = SecretVolume::new(&ca.server(), None);
    let mut env = volume.env(false);
    env[0].1 = volume.path("missing.crt").display().to_string();
    let error = format!("{:#}", try_start(env).await.err().expect("refused"));
    assert!(error.contains("tls.cert_file"), "{error}");
    assert!(error.contains("missing.crt"), "{error}");

    // A PEM parser's error quotes the line it stumbled on (as bytes: 45 is `-`); the
    // server's message must not.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tls.key");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY c2VjcmV0LWtleS1tYXRlcmlhbA==\n",
    )
    .unwrap();
    let mut env = volume.env(false);
    env[1].1 = key.display().to_string();
    let error = format!("{:#}", try_start(env).await.err().expect("refused"));
    assert!(error.contains("tls.key_file"), "{error}");
    assert!(
        !error.contains("c2VjcmV0") && !error.contains("45, 45, 45"),
        "the key's content leaked: {error}"
    );
}
