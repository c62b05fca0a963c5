//! The command line of `pin-bench`, also how tests configure a run.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};

/// Drives a separately started `pin-server` over real gRPC and reports, per scenario,
/// throughput, latency percentiles, status codes, answers about the wrong citizen, and
/// the ratio to a ceiling measured in the same run (argon2id with the server's
/// parameters, or a health check).
///
/// The bench reads the server's own configuration file (address, database, argon2id
/// parameters, hashing threads), seeds its own persons and credentials in a range of
/// codici fiscali no earlier run used (writing credentials straight into the server's
/// database), and drains the deliveries it caused. Run it against a database of its own:
/// `tests/bench/run.sh` starts a server on a fresh one.
#[derive(Debug, Clone, Parser)]
#[command(name = "pin-bench", about, long_about)]
pub struct Options {
    /// The server's configuration file (TOML; `PIN_*` variables overlay it as for the
    /// server).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// A file holding the bearer token of a caller with every role (the development
    /// caller's is `<data_dir>/dev-caller.token`).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// The server's process id: its peak resident memory (VmHWM) is reported at the end.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// How long each measurement runs: `500ms`, `10s`, `1m`.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub duration: Duration,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// HTTP/2 connections the clients share; one per client by default.
    #[arg(long)]
    pub connections: Option<usize>,
    /// Scenarios to run, comma-separated, or `all`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub scenario: Vec<Choice>,
    /// Citizens with a PIN: the login pool of every login scenario and the click day.
    #[arg(long, default_value_t = 100_000)]
    pub citizens: u32,
    /// Persons sent on the one stream of the `import` scenario.
    #[arg(long, default_value_t = 100_000)]
    pub import_count: u32,
    /// Persons without a PIN for the `request` scenario (default: what the argon2id hash
    /// ceiling could serve in `--duration`, plus a quarter, at most 20 000); the scenario
    /// ends early when they have all asked.
    #[arg(long)]
    pub requesters: Option<u32>,
    /// How long to wait for the server to listen and answer `SERVING`.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub wait: Duration,
    /// Writes the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// A scenario, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Choice {
    /// Every scenario.
    All,
    /// Logins with the right PIN.
    Authenticate,
    /// Consultations of a service the citizen is entitled to.
    Authorize,
    /// Session introspections.
    Introspect,
    /// Log in or reuse a session, consult, submit, over the whole login pool.
    Clickday,
    /// Online PIN requests by persons without a PIN.
    Request,
    /// One registry stream, one DATA frame per person.
    Import,
    /// Logins at 4× the sustainable rate with 1-second deadlines (measures
    /// `authenticate` first).
    Overload,
}

/// A scenario, in the order a run goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// See [`Choice::Authenticate`].
    Authenticate,
    /// See [`Choice::Authorize`].
    Authorize,
    /// See [`Choice::Introspect`].
    Introspect,
    /// See [`Choice::Clickday`].
    Clickday,
    /// See [`Choice::Request`].
    Request,
    /// See [`Choice::Import`].
    Import,
    /// See [`Choice::Overload`]; last, since it floods the hashing pool.
    Overload,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 7] = [
        Scenario::Authenticate,
        Scenario::Authorize,
        Scenario::Introspect,
        Scenario::Clickday,
        Scenario::Request,
        Scenario::Import,
        Scenario::Overload,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Authenticate => "authenticate",
            Scenario::Authorize => "authorize",
            Scenario::Introspect => "introspect",
            Scenario::Clickday => "clickday",
            Scenario::Request => "request",
            Scenario::Import => "import",
            Scenario::Overload => "overload",
        }
    }

    /// Whether it needs citizens with a PIN (and sessions).
    pub fn needs_citizens(self) -> bool {
        !matches!(self, Scenario::Request | Scenario::Import)
    }
}

impl Options {
    /// The scenarios to run, in order; `overload` brings `authenticate` (its rate is the
    /// base of the overload).
    pub fn scenarios(&self) -> BTreeSet<Scenario> {
        let mut set = BTreeSet::new();
        for choice in &self.scenario {
            match choice {
                Choice::All => set.extend(Scenario::ALL),
                Choice::Authenticate => {
                    set.insert(Scenario::Authenticate);
                }
                Choice::Authorize => {
                    set.insert(Scenario::Authorize);
                }
                Choice::Introspect => {
                    set.insert(Scenario::Introspect);
                }
                Choice::Clickday => {
                    set.insert(Scenario::Clickday);
                }
                Choice::Request => {
                    set.insert(Scenario::Request);
                }
                Choice::Import => {
                    set.insert(Scenario::Import);
                }
                Choice::Overload => {
                    set.extend([Scenario::Authenticate, Scenario::Overload]);
                }
            }
        }
        set
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    let parsed = pin_server::config::parse_duration(text)?;
    let duration = Duration::try_from(parsed).map_err(|error| error.to_string())?;
    if duration.is_zero() {
        return Err("a measurement must last longer than zero".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_named_comma_separated_and_overload_brings_authenticate() {
        let options = Options::try_parse_from([
            "pin-bench",
            "--config",
            "c.toml",
            "--token-file",
            "t",
            "--scenario",
            "import,overload",
            "--duration",
            "500ms",
        ])
        .unwrap();
        assert_eq!(options.duration, Duration::from_millis(500));
        assert_eq!(
            options.scenarios().into_iter().collect::<Vec<_>>(),
            [Scenario::Authenticate, Scenario::Import, Scenario::Overload]
        );
    }

    #[test]
    fn all_is_the_default() {
        let options =
            Options::try_parse_from(["pin-bench", "--config", "c", "--token-file", "t"]).unwrap();
        assert_eq!(options.scenarios().len(), Scenario::ALL.len());
        assert_eq!(options.citizens, 100_000);
        assert_eq!(options.import_count, 100_000);
    }
}
