//! Transport security: the server's certificate, its reloading, the TLS accept loop, and
//! the identity a verified client certificate gives its caller.
//!
//! The current `rustls::ServerConfig` lives in a watch channel: every accepted connection
//! builds its `TlsAcceptor` from the config current at that moment, and the reload task
//! replaces it when the files' contents change (contents, not modification times:
//! Kubernetes updates a mounted Secret by swapping a symlink). A file that does not parse
//! keeps the configuration in use. Handshakes run in tasks of their own, each bounded by
//! [`HANDSHAKE_TIMEOUT`], so a slow client never holds up accepting; finished handshakes
//! reach tonic through a channel, as a stream of `TlsStream`s. tonic's `Connected` impl for
//! `TlsStream` puts a `TlsConnectInfo` holding the peer's verified certificates into every
//! request's extensions before the tower layers run, which is where [`PeerIdentity`] reads
//! them.
//!
//! Client certificates are asked for only when a client CA is configured, and the handshake
//! fails when one is presented that does not chain to it: a certificate seen by the auth
//! layer has always been verified.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use sha2::{Digest, Sha256};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    task::{JoinHandle, JoinSet},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName, prelude::FromDer};

/// How long a client has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait after the listening socket fails to accept (e.g. out of file
/// descriptors) before trying again, rather than spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Handshaken connections waiting for tonic to take them.
const ACCEPTED_QUEUE: usize = 64;

/// Connections that completed their TLS handshake, in the order they did.
pub type TlsIncoming = ReceiverStream<io::Result<TlsStream<TcpStream>>>;

/// The files of the server's TLS configuration (`tls.cert_file`, `tls.key_file`,
/// `tls.client_ca_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
    /// PEM CA bundle for client certificates, when clients may present one.
    pub client_ca: Option<PathBuf>,
}

/// The bytes of the three files, as read together.
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Contents {
    fn read(files: &TlsFiles) -> anyhow::Result<Contents> {
        let read = |key: &str, path: &Path| {
            std::fs::read(path).with_context(|| format!("{key} {}: cannot read it", path.display()))
        };
        Ok(Contents {
            cert: read("tls.cert_file", &files.cert)?,
            key: read("tls.key_file", &files.key)?,
            client_ca: files
                .client_ca
                .as_deref()
                .map(|path| read("tls.client_ca_file", path))
                .transpose()?,
        })
    }

    /// What a reload compares: a digest, so that the reload task keeps no copy of the
    /// private key.
    fn fingerprint(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        for part in [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()] {
            match part {
                Some(bytes) => {
                    digest.update([1]);
                    digest.update((bytes.len() as u64).to_be_bytes());
                    digest.update(bytes);
                }
                None => digest.update([0]),
            }
        }
        digest.finalize().into()
    }

    /// The server configuration these files describe. Errors name the file at fault and
    /// never quote the private key.
    fn server_config(&self, files: &TlsFiles) -> anyhow::Result<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert_file = files.cert.display();
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| anyhow!("tls.cert_file {cert_file}: not a PEM file ({error})"))?;
        if chain.is_empty() {
            bail!("tls.cert_file {cert_file}: holds no PEM certificate");
        }
        // The PEM error is not quoted: it may carry bytes of the key.
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|_| {
            anyhow!(
                "tls.key_file {}: holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                files.key.display()
            )
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS library offers no protocol version")?;
        let builder = match (&files.client_ca, &self.client_ca) {
            (Some(path), Some(bundle)) => {
                let ca_file = path.display();
                let mut roots = RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(bundle) {
                    let certificate = certificate.map_err(|error| {
                        anyhow!("tls.client_ca_file {ca_file}: not a PEM file ({error})")
                    })?;
                    roots.add(certificate).map_err(|error| {
                        anyhow!("tls.client_ca_file {ca_file}: a certificate is refused ({error})")
                    })?;
                }
                if roots.is_empty() {
                    bail!("tls.client_ca_file {ca_file}: holds no PEM certificate");
                }
                // Clients without a certificate still connect: they authenticate with a
                // bearer token. A certificate that is presented must chain to these CAs.
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|error| anyhow!("tls.client_ca_file {ca_file}: {error}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|error| match error {
            rustls::Error::InconsistentKeys(_) => anyhow!(
                "tls.key_file {} is not the key of the certificate in tls.cert_file {cert_file}",
                files.key.display()
            ),
            other => anyhow!(
                "tls.cert_file {cert_file} with tls.key_file {}: {other}",
                files.key.display()
            ),
        })?;
        // gRPC is HTTP/2 only.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// The server's TLS configuration, as loaded from its files and replaced when they change.
pub struct ServerTls {
    files: TlsFiles,
    current: watch::Sender<Arc<ServerConfig>>,
    /// The fingerprint of the contents `current` was built from.
    applied: [u8; 32],
}

impl std::fmt::Debug for ServerTls {
    // By hand: the current configuration holds the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads and checks the files; an error names the file at fault.
    pub fn load(files: TlsFiles) -> anyhow::Result<ServerTls> {
        let contents = Contents::read(&files)?;
        let config = contents.server_config(&files)?;
        Ok(ServerTls {
            applied: contents.fingerprint(),
            current: watch::Sender::new(Arc::new(config)),
            files,
        })
    }

    /// Accepts connections on `listener` and hands over those whose handshake, with the
    /// configuration current when they connected, completes within [`HANDSHAKE_TIMEOUT`].
    /// The listening socket is closed as soon as the stream is dropped (tonic drops it when
    /// it stops accepting).
    pub fn incoming(&self, listener: TcpListener) -> TlsIncoming {
        let (accepted, stream) = mpsc::channel(ACCEPTED_QUEUE);
        tokio::spawn(accept(listener, self.current.subscribe(), accepted));
        ReceiverStream::new(stream)
    }

    /// Reads the files every `interval` until `stop` turns true, and replaces the
    /// configuration when their contents changed and parse.
    pub fn spawn_reload(
        mut self,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate, and the files were just read.
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|stopped| *stopped) => break,
                }
                self.reload().await;
            }
        })
    }

    async fn reload(&mut self) {
        let files = self.files.clone();
        // Blocking reads of three small files, off the async threads.
        let read = tokio::task::spawn_blocking(move || Contents::read(&files)).await;
        let contents = match read {
            Ok(Ok(contents)) => contents,
            Ok(Err(error)) => {
                tracing::warn!(
                    error = %format!("{error:#}"),
                    "TLS files unreadable: new connections keep the current certificate"
                );
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "TLS reload failed: new connections keep the current certificate");
                return;
            }
        };
        let fingerprint = contents.fingerprint();
        if fingerprint == self.applied {
            return;
        }
        match contents.server_config(&self.files) {
            Ok(config) => {
                self.current.send_replace(Arc::new(config));
                self.applied = fingerprint;
                tracing::info!(
                    cert_file = %self.files.cert.display(),
                    "TLS files changed: new connections use the new certificate"
                );
            }
            // Warned again at every interval while it lasts: someone has to fix it.
            Err(error) => tracing::warn!(
                error = %format!("{error:#}"),
                "TLS files changed but cannot be used: new connections keep the current \
                 certificate"
            ),
        }
    }
}

/// The accept loop behind [`ServerTls::incoming`].
async fn accept(
    listener: TcpListener,
    configs: watch::Receiver<Arc<ServerConfig>>,
    accepted: mpsc::Sender<io::Result<TlsStream<TcpStream>>>,
) {
    // Dropped with the loop, which aborts the handshakes still in progress.
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            // tonic stopped accepting: close the listening socket now, so that new clients
            // are refused rather than left waiting.
            () = accepted.closed() => break,
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
            connection = listener.accept() => match connection {
                Ok((tcp, peer)) => {
                    // tonic's `tcp_nodelay` applies only to the listeners it binds itself.
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                    }
                    let acceptor = TlsAcceptor::from(configs.borrow().clone());
                    handshakes.spawn(handshake(acceptor, tcp, peer, accepted.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    accepted: mpsc::Sender<io::Result<TlsStream<TcpStream>>>,
) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            // An error means the server stopped accepting: the connection is dropped.
            let _ = accepted.send(Ok(stream)).await;
        }
        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// A configured or presented certificate name, in the form names are compared in: DNS
/// names are case-insensitive and are lower-cased; URIs (which hold a `:`, which no DNS
/// name does) are compared exactly as written.
pub fn certificate_name(name: &str) -> String {
    if name.contains(':') {
        name.to_owned()
    } else {
        name.to_ascii_lowercase()
    }
}

/// Who the peer is by its client certificate: the DNS names and URIs among the
/// subjectAltNames of the certificate the TLS handshake verified, in the form of
/// [`certificate_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    names: Vec<String>,
}

impl PeerIdentity {
    /// The identity of the connection a request came on: none over plaintext, or when the
    /// client presented no certificate.
    pub fn from_extensions(extensions: &http::Extensions) -> Option<PeerIdentity> {
        let info = extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?;
        let chain = info.peer_certs()?;
        // The end-entity certificate comes first.
        PeerIdentity::from_certificate(chain.first()?.as_ref())
    }

    /// The names of a DER certificate; none when it does not parse.
    pub fn from_certificate(der: &[u8]) -> Option<PeerIdentity> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let names = match certificate.subject_alternative_name().ok()? {
            Some(extension) => extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(name) | GeneralName::URI(name) => {
                        Some(certificate_name(name))
                    }
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        Some(PeerIdentity { names })
    }

    /// The certificate's names.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}
