//! Readiness follows the database: a throwaway PostgreSQL cluster (Debian's `initdb` and
//! `pg_ctl`, on a free port) is stopped under a running server, whose health turns
//! `NOT_SERVING` within seconds while `liveness` stays `SERVING`; started again, the
//! server is ready again without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use pin_tests::{TestApp, spawn_sharing};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of its own, in a temporary folder, stopped when dropped.
struct Cluster {
    _folder: tempfile::TempDir,
    data: PathBuf,
    port: u16,
}

/// Runs a PostgreSQL tool as the `postgres` user when the tests run as root (`initdb`
/// refuses root).
fn pg(tool: &str, args: &[&str]) {
    let program = format!("{BIN}/{tool}");
    let mut command = if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", &program]);
        command
    } else {
        Command::new(&program)
    };
    let output = command
        .args(args)
        .output()
        .expect("the PostgreSQL tools run");
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn new() -> Cluster {
        let folder = tempfile::tempdir().unwrap();
        if running_as_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(folder.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = folder.path().join("data");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        pg(
            "initdb",
            &[
                "-D",
                path(&data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        let cluster = Cluster {
            _folder: folder,
            data,
            port,
        };
        cluster.start();
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            path(self.data.parent().unwrap())
        );
        // The server's output goes to a file: through our pipe it would keep `pg_ctl`'s
        // output open for as long as the server runs.
        let log = self.data.parent().unwrap().join("server.log");
        pg(
            "pg_ctl",
            &[
                "-D",
                path(&self.data),
                "-o",
                &options,
                "-l",
                path(&log),
                "-w",
                "-s",
                "start",
            ],
        );
    }

    fn stop(&self) {
        pg(
            "pg_ctl",
            &[
                "-D",
                path(&self.data),
                "-m",
                "immediate",
                "-w",
                "-s",
                "stop",
            ],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl")])
            .args(["-D", path(&self.data), "-m", "immediate", "-s", "stop"])
            .output();
        let _ = Command::new(format!("{BIN}/pg_ctl"))
            .args(["-D", path(&self.data), "-m", "immediate", "-s", "stop"])
            .output();
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

async fn status(app: &TestApp, service: &str) -> ServingStatus {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// Waits up to `within` for `service` to report `expected`; how long it took.
async fn becomes(
    app: &TestApp,
    service: &str,
    expected: ServingStatus,
    within: Duration,
) -> Duration {
    let began = Instant::now();
    loop {
        if status(app, service).await == expected {
            return began.elapsed();
        }
        assert!(
            began.elapsed() < within,
            "{service:?} did not become {expected:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readiness_falls_when_postgres_stops_and_returns_when_it_starts() {
    let cluster = Cluster::new();
    let app = spawn_sharing(
        &cluster.url(),
        &[
            ("PIN_LIFECYCLE__DATABASE_CHECK_INTERVAL", "500ms"),
            ("PIN_DATABASE__ACQUIRE_TIMEOUT", "1s"),
        ],
    )
    .await;
    assert_eq!(status(&app, "").await, ServingStatus::Serving);

    cluster.stop();
    becomes(&app, "", ServingStatus::NotServing, Duration::from_secs(5)).await;
    assert_eq!(
        status(&app, "inps.pin.v1.AuthenticationService").await,
        ServingStatus::NotServing
    );
    assert_eq!(status(&app, "liveness").await, ServingStatus::Serving);

    cluster.start();
    becomes(&app, "", ServingStatus::Serving, Duration::from_secs(10)).await;
    assert_eq!(
        status(&app, "inps.pin.v1.AuthenticationService").await,
        ServingStatus::Serving
    );
    app.stop().await;
}
