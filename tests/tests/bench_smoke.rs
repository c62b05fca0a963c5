//! `pin-bench` never rots: a one-second run of every scenario against a real `pin-server`
//! process (the debug binary, with cheap argon2id), on SQLite and on PostgreSQL. Each
//! scenario must have run, answered mostly OK and never about the wrong citizen, and the
//! JSON must have its documented shape. No timing is asserted: this is a smoke test, not a
//! benchmark.
//!
//! Only the `pin-server` package's own tests are handed the binary's path by Cargo; this
//! one finds it next to its own executable (`target/debug/pin-server`, which
//! `cargo test --workspace` builds), or takes it from `PIN_TEST_SERVER_BIN`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use clap::Parser;
use pin_tests::{
    Backend, TestDatabase,
    bench::{self, Options, Scenario},
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PIN_TEST_SERVER_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/bench_smoke-<hash> → target/<profile>/pin-server
    let exe = std::env::current_exe().expect("the test knows its executable");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from a target folder")
        .join("pin-server");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p pin-server` (`cargo test --workspace` \
         does), or name a pin-server binary in PIN_TEST_SERVER_BIN",
        path.display()
    );
    path
}

/// A `pin-server` process on its own data folder, killed when dropped.
struct Server {
    child: Child,
    dir: tempfile::TempDir,
}

impl Server {
    fn config(&self) -> PathBuf {
        self.dir.path().join("pin-server.toml")
    }

    fn token_file(&self) -> PathBuf {
        self.dir.path().join("data").join("dev-caller.token")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server on `database_url` with no callers (so it creates the development
/// caller and its token file, as `tests/bench/run.sh` relies on) and waits until it serves.
async fn start(database_url: &str) -> Server {
    let dir = tempfile::tempdir().expect("temporary folder");
    let port = free_port();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = {data:?}\ndatabase_url = {database_url:?}\n\
         [hashing]\nmemory_kib = 64\niterations = 1\nparallelism = 1\nworkers = 2\n\
         allow_weak = true\n[mailbox]\nenabled = false\n[lifecycle]\ndrain = \"0s\"\n\
         [log]\nfilter = \"warn\"\n",
        data = dir.path().join("data"),
    );
    std::fs::write(dir.path().join("pin-server.toml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let binary = server_binary();
    eprintln!("starting {}", binary.display());
    let child = Command::new(&binary)
        .arg("--config")
        .arg(dir.path().join("pin-server.toml"))
        .arg("serve")
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("pin-server starts");
    let mut server = Server { child, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("pin-server exited ({status}):\n{}", server.log());
        }
        if server.token_file().exists()
            && let Ok(channel) =
                tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
                    .unwrap()
                    .connect()
                    .await
            && HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
                .is_ok()
        {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "pin-server never served:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn every_scenario_runs_and_answers_about_the_right_citizen(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let server = start(&database.url).await;
    let json = server.dir.path().join("bench.json");
    let pid = server.child.id().to_string();
    let options = Options::try_parse_from([
        "pin-bench",
        "--config",
        server.config().to_str().unwrap(),
        "--token-file",
        server.token_file().to_str().unwrap(),
        "--server-pid",
        &pid,
        "--duration",
        "1s",
        "--concurrency",
        "4",
        "--citizens",
        "200",
        "--import-count",
        "2000",
        "--json",
        json.to_str().unwrap(),
    ])
    .expect("the options parse");
    let report = match bench::run(&options).await {
        Ok(report) => report,
        Err(error) => panic!("the bench failed: {error:#}\n{}", server.log()),
    };
    println!("{}", report.table());

    for scenario in Scenario::ALL {
        let name = scenario.name();
        let result = report
            .scenario(name)
            .unwrap_or_else(|| panic!("{name} did not run"));
        let stats = &result.stats;
        assert!(stats.calls() > 0, "{name} made no call");
        assert_eq!(
            stats.mismatches, 0,
            "{name} answered about the wrong citizen"
        );
        if scenario == Scenario::Overload {
            // Offered four times what the server sustains: refusals and calls cut at
            // their deadline are the point. A correct PIN may also be refused while too
            // many attempts for the same codice fiscale are in flight (UNAUTHENTICATED,
            // like any failed login). Nothing else may go wrong.
            for code in stats.errors().keys() {
                assert!(
                    [
                        "RESOURCE_EXHAUSTED",
                        "CANCELLED",
                        "DEADLINE_EXCEEDED",
                        "UNAUTHENTICATED"
                    ]
                    .contains(code),
                    "overload answered {code}: {:?}",
                    stats.errors()
                );
            }
        } else {
            assert!(
                stats.ok() * 10 >= stats.calls() * 9,
                "{name} answered mostly errors: {:?}",
                stats.errors()
            );
            assert_eq!(stats.unexpected, 0, "{name} had unexpected answers");
        }
    }
    let import = &report.scenario("import").unwrap().extra["tally"];
    assert_eq!(import["received"], 2000);
    assert_eq!(import["inserted"], 2000);
    assert_eq!(import["rejected"], 0);

    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for scenario in Scenario::ALL {
        let object = &written["scenarios"][scenario.name()];
        for key in ["rps", "p50_ms", "p99_ms", "ratio", "errors", "mismatches"] {
            assert!(
                object.get(key).is_some(),
                "{}.{key} is missing from the JSON",
                scenario.name()
            );
        }
        assert!(object["rps"].as_f64().unwrap() > 0.0);
    }
    for key in ["argon2_verify_rps", "argon2_hash_rps", "health_rps"] {
        assert!(written["ceilings"][key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(written["server_peak_rss_mib"].as_f64().unwrap() > 0.0);

    // A second run on the same database takes codici fiscali of its own.
    let again = Options::try_parse_from([
        "pin-bench",
        "--config",
        server.config().to_str().unwrap(),
        "--token-file",
        server.token_file().to_str().unwrap(),
        "--duration",
        "1s",
        "--concurrency",
        "2",
        "--citizens",
        "20",
        "--scenario",
        "clickday,import",
        "--import-count",
        "100",
    ])
    .unwrap();
    let report = bench::run(&again).await.expect("a second run");
    assert_eq!(report.run["slot"], 1);
    assert_eq!(report.scenario("clickday").unwrap().stats.mismatches, 0);
    assert_eq!(
        report.scenario("import").unwrap().extra["tally"]["inserted"],
        100
    );
}

pin_tests::both_backends!(every_scenario_runs_and_answers_about_the_right_citizen);
