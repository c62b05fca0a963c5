//! The server under load, as the bench learns it from the server's own configuration file.
//!
//! The file is read with the server's loader ([`Config::load`], with the `PIN_*`
//! environment overlaid exactly as `pin-server --config FILE` does), so the bench agrees
//! with the server on the address, the database, the argon2id parameters and the number of
//! hashing threads without being told twice.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use pin_domain::HashParams;
use pin_server::{config::Config, hashing_pool::HashingPool};
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A running server and the connections to it.
pub struct Target {
    /// Where it listens (an unspecified address is reached on loopback).
    pub addr: SocketAddr,
    /// Its configuration.
    pub config: Config,
    /// Its argon2id parameters.
    pub params: HashParams,
    /// Its hashing threads.
    pub hashing_workers: usize,
    /// Where its development mailbox writes deliveries, when that worker runs.
    pub mailbox: Option<PathBuf>,
    token: String,
    authorization: MetadataValue<Ascii>,
    channels: Vec<Channel>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("params", &self.params)
            .field("hashing_workers", &self.hashing_workers)
            .field("connections", &self.channels.len())
            .finish_non_exhaustive()
    }
}

/// A connection to the server once it answers `SERVING`, polling for up to `wait`.
async fn serving(endpoint: &Endpoint, addr: SocketAddr, wait: Duration) -> anyhow::Result<Channel> {
    let give_up = Instant::now() + wait;
    loop {
        let answer = match endpoint.connect().await {
            Ok(channel) => match HealthClient::new(channel.clone())
                .check(HealthCheckRequest::default())
                .await
            {
                Ok(answer) if answer.get_ref().status() == ServingStatus::Serving => {
                    return Ok(channel);
                }
                Ok(answer) => format!("health {:?}", answer.get_ref().status()),
                Err(status) => format!("health check {:?}: {}", status.code(), status.message()),
            },
            Err(error) => format!("cannot connect: {error}"),
        };
        if Instant::now() >= give_up {
            bail!("the server at {addr} is not serving: {answer}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Target {
    /// Reads the server's configuration and the caller's token, waits up to `wait` for
    /// the server to listen and answer its health check with `SERVING`, and opens
    /// `connections` HTTP/2 connections to it.
    pub async fn connect(
        config_file: &Path,
        token_file: &Path,
        connections: usize,
        wait: Duration,
    ) -> anyhow::Result<Target> {
        let config = Config::load(Some(config_file), std::env::vars())
            .with_context(|| format!("the server's configuration {}", config_file.display()))?;
        if config.tls.files().is_some() {
            bail!(
                "the server serves TLS; pin-bench speaks plaintext HTTP/2 only: bench a \
                 plaintext listener (loopback, or behind tls.allow_plaintext)"
            );
        }
        let token = std::fs::read_to_string(token_file)
            .with_context(|| format!("cannot read the token file {}", token_file.display()))?
            .trim()
            .to_owned();
        if token.is_empty() {
            bail!("the token file {} is empty", token_file.display());
        }
        let authorization = format!("Bearer {token}")
            .parse()
            .context("the token is not printable ASCII")?;
        let listen = config.listen;
        if listen.port() == 0 {
            bail!("the configuration listens on port 0: the bench cannot know the port");
        }
        let ip = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let addr = SocketAddr::new(ip, listen.port());
        let endpoint = Channel::from_shared(format!("http://{addr}"))
            .context("the server's address")?
            .tcp_nodelay(true);
        let first = serving(&endpoint, addr, wait).await?;
        let mut channels = vec![first];
        for _ in 1..connections.max(1) {
            let channel = endpoint
                .connect()
                .await
                .with_context(|| format!("cannot connect to the server at {addr}"))?;
            channels.push(channel);
        }
        let mailbox = config
            .mailbox_enabled()
            .then(|| config.data_dir.join("mailbox"));
        Ok(Target {
            addr,
            params: config.hashing.params(),
            hashing_workers: config
                .hashing
                .workers
                .unwrap_or_else(HashingPool::default_workers),
            mailbox,
            config,
            token,
            authorization,
            channels,
        })
    }

    /// The connection worker `worker` uses.
    pub fn channel(&self, worker: usize) -> Channel {
        self.channels[worker % self.channels.len()].clone()
    }

    /// `message` with the caller's bearer token.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        request
    }

    /// The caller's bearer token (for the raw HTTP/2 stream).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `"sqlite"` or `"postgres"`, from the database URL.
    pub fn backend(&self) -> &'static str {
        if self.config.database_url().starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }

    /// A pool on the server's database, without migrating it (the server did).
    pub async fn database(&self) -> anyhow::Result<pin_store::DatabaseConnection> {
        pin_server::app::database(&self.config, false).await
    }
}
