//! The command line: `serve`, `migrate`, `registry import FILE.jsonl`, `check-config`.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use pin_domain::{PersonProblem, RawPerson};
use pin_store::DatabaseConnection;
use serde::Deserialize;

use crate::{
    app,
    clock::{Clock, SystemClock},
    config::Config,
    convert::Tally,
    usecase::registry::{BATCH, Loaded, Loader, Record, RecordOutcome, load},
};

/// The INPS PIN identity service: the gRPC server that authenticates citizens with their
/// PIN and authorizes their benefit applications, and its maintenance commands.
///
/// Configuration comes from a TOML file (`--config` or `PIN_CONFIG`) and from `PIN_*`
/// environment variables, which override its keys: `PIN_LISTEN=0.0.0.0:50051`,
/// `PIN_DATABASE_URL=postgres://…`, `PIN_POLICY__MAX_FAILED_ATTEMPTS=5` (a double
/// underscore goes one table down). Without a file or variables the server listens on
/// 127.0.0.1:50051 with a SQLite database and a development caller in `./data`.
#[derive(Debug, Parser)]
#[command(name = "pin-server", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file; `PIN_*` environment variables override its keys.
    #[arg(long, env = "PIN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server until SIGINT or SIGTERM.
    ///
    /// Common settings, as environment variables: `PIN_LISTEN` (address, default
    /// 127.0.0.1:50051), `PIN_DATA_DIR` (default ./data), `PIN_DATABASE_URL` (default a
    /// SQLite file in the data folder), `PIN_CALLERS` (the calling services; without any,
    /// a development caller is created, on loopback only), `PIN_TLS__CERT_FILE` and
    /// `PIN_TLS__KEY_FILE` (TLS; without them plaintext is served on loopback only, unless
    /// `PIN_TLS__ALLOW_PLAINTEXT=true`), `PIN_LOG__FORMAT` (text or json). Every key of the configuration file has one: see the Configuration section of
    /// the README.
    Serve {
        /// Listen on this address instead of the configured one, e.g. 0.0.0.0:50051.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Registry maintenance.
    Registry {
        /// What to do with the registry.
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Load and check the configuration, print a summary and exit.
    CheckConfig,
    /// Audit trail maintenance.
    Audit {
        /// What to do with the trail.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain of the whole trail; exit status 1 if it was tampered with.
    Verify,
}

/// Registry commands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Upsert the persons of a JSON-lines file (one record per line, the shape of the
    /// `Person` message with enum values by name). Valid records land; invalid ones are
    /// reported with their line number, and the exit status is 1 if any was refused.
    Import {
        /// The file to import.
        file: PathBuf,
    },
}

impl Cli {
    /// Loads the configuration from the file and the process environment.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref(), std::env::vars())
    }
}

/// Runs `serve` until a signal arrives.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let server = app::start(config).await?;
    server
        .run_until(async {
            shutdown_signal().await;
            tracing::info!("shutdown requested: draining, then finishing calls in flight");
        })
        .await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    app::database(config, true).await?;
    println!("migrations applied");
    Ok(())
}

/// Prints what the configuration amounts to, without secrets.
pub fn check_config(config: &Config) {
    let database = config.database_url();
    println!("configuration is valid");
    println!("  listen:        {}", config.listen);
    println!("  data_dir:      {}", config.data_dir.display());
    println!(
        "  database:      {}",
        database.split(':').next().unwrap_or("?")
    );
    println!("  callers:       {}", config.callers.len());
    println!(
        "  tls:           {}",
        match (&config.tls.cert_file, &config.tls.client_ca_file) {
            (None, _) => "off".to_owned(),
            (Some(cert), None) => cert.display().to_string(),
            (Some(cert), Some(ca)) => format!(
                "{}, client certificates from {}",
                cert.display(),
                ca.display()
            ),
        }
    );
    println!(
        "  catalog:       {}",
        config
            .catalog_file
            .as_ref()
            .map_or("built in".to_owned(), |p| p.display().to_string())
    );
    println!(
        "  mailbox:       {}",
        if config.mailbox_enabled() {
            "enabled"
        } else {
            "disabled"
        }
    );
    println!(
        "  argon2id:      m={} KiB, t={}, p={}",
        config.hashing.memory_kib, config.hashing.iterations, config.hashing.parallelism
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonLine {
    codice_fiscale: String,
    family_name: String,
    given_name: String,
    sex: String,
    birth_date: String,
    birth_place: String,
    residence: AddressLine,
    health_card: CardLine,
    categories: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressLine {
    street: String,
    number: String,
    cap: String,
    municipality: String,
    province: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardLine {
    number: String,
    expiry: String,
}

impl PersonLine {
    fn raw(&self) -> RawPerson<'_> {
        // "SEX_FEMALE" and "CATEGORY_PENSIONER" (protobuf JSON names) are accepted too.
        let sex = match self.sex.as_str() {
            "SEX_FEMALE" => "F",
            "SEX_MALE" => "M",
            other => other,
        };
        RawPerson {
            codice_fiscale: &self.codice_fiscale,
            family_name: &self.family_name,
            given_name: &self.given_name,
            sex,
            birth_date: &self.birth_date,
            birth_place: &self.birth_place,
            street: &self.residence.street,
            street_number: &self.residence.number,
            cap: &self.residence.cap,
            municipality: &self.residence.municipality,
            province: &self.residence.province,
            health_card_number: &self.health_card.number,
            health_card_expiry: &self.health_card.expiry,
            categories: self
                .categories
                .iter()
                .map(|c| c.strip_prefix("CATEGORY_").unwrap_or(c))
                .collect(),
        }
    }
}

/// Runs `registry import`: returns whether every record was accepted.
pub async fn import(config: &Config, file: &Path) -> anyhow::Result<bool> {
    let db = app::database(config, config.database.auto_migrate).await?;
    let reader = BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let loader = Loader::command_line();
    let mut tally = Tally::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut index = 0u32;
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        // Refusals are reported by line number, which `index` maps back to.
        let record = match serde_json::from_str::<PersonLine>(&line) {
            Ok(record) => Record::parse(index, &record.raw()),
            Err(error) => Record::refused(
                index,
                "",
                PersonProblem {
                    field: "line".to_owned(),
                    reason: "MALFORMED_JSON",
                    description: error.to_string(),
                },
            ),
        };
        batch.push((number + 1, record));
        index = index.saturating_add(1);
        if batch.len() == BATCH {
            store(&db, file, &mut batch, &loader, &mut tally).await?;
        }
    }
    store(&db, file, &mut batch, &loader, &mut tally).await?;
    let r = tally.response;
    println!(
        "{} records: {} inserted, {} updated, {} unchanged, {} rejected",
        r.received, r.inserted, r.updated, r.unchanged, r.rejected_count
    );
    Ok(r.rejected_count == 0)
}

/// Stores the records of `batch` (each with its line number), reports the refused ones
/// on stderr and counts them all.
async fn store(
    db: &DatabaseConnection,
    file: &Path,
    batch: &mut Vec<(usize, Record)>,
    loader: &Loader,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let (lines, records): (Vec<usize>, Vec<Record>) = batch.drain(..).unzip();
    let loaded = load(db, records, SystemClock.now(), loader).await?;
    for (line, Loaded { index, cf, outcome }) in lines.into_iter().zip(loaded) {
        if let RecordOutcome::Rejected(problems) = &outcome {
            for problem in problems {
                eprintln!(
                    "{}:{line}: {} {}: {}",
                    file.display(),
                    problem.field,
                    problem.reason,
                    problem.description
                );
            }
        }
        tally.count(index, &cf, outcome);
    }
    Ok(())
}

/// Runs `audit verify`: returns whether the chain is intact.
pub async fn verify_audit(config: &Config) -> anyhow::Result<bool> {
    let db = app::database(config, false).await?;
    let report = pin_store::repo::audit::verify(&db).await?;
    for problem in &report.problems {
        eprintln!("audit chain: {problem:?}");
    }
    println!(
        "{} audit records checked: {}",
        report.records,
        if report.is_intact() {
            "the chain is intact"
        } else {
            "THE CHAIN IS BROKEN"
        }
    );
    Ok(report.is_intact())
}
