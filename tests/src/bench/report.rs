//! What a run found: a table for people, JSON for machines.
//!
//! The JSON has this shape (more keys may be added, never these removed):
//! `{"scenarios": {"<name>": {"rps", "p50_ms", "p99_ms", "ratio", "errors": {"<code>": n},
//! "mismatches", …}}, "ceilings": {"argon2_verify_rps", "argon2_hash_rps", "health_rps"},
//! "server_peak_rss_mib"}`. `rps` counts answers with status OK per second (persons per
//! second for `import`); latencies are of OK answers, in milliseconds, `null` when there
//! were none (and for `import`, one stream whose time is `elapsed_s`).

use std::{fmt::Write as _, time::Duration};

use serde_json::{Map, Value, json};

use super::{ceilings::Ceilings, load::Stats};

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// Its name.
    pub name: &'static str,
    /// What was measured.
    pub stats: Stats,
    /// OK answers per second (persons per second for the import).
    pub rps: f64,
    /// `rps` over the ceiling it is compared with.
    pub ratio: Option<f64>,
    /// Which ceiling: a key of the `ceilings` object, or `import_target_rps`.
    pub ratio_to: &'static str,
    /// Scenario-specific results, merged into its JSON object.
    pub extra: Map<String, Value>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
    /// The open-loop run at half the closed-loop maximum, for the latency at a rate the
    /// server sustains (authorize, introspect).
    pub paced: Option<Stats>,
}

impl ScenarioResult {
    /// A result whose rate is its OK answers per second, compared with `ceiling`.
    pub fn new(
        name: &'static str,
        stats: Stats,
        ratio_to: &'static str,
        ceiling: f64,
    ) -> ScenarioResult {
        let rps = stats.rps();
        ScenarioResult {
            name,
            ratio: ratio(rps, ceiling),
            rps,
            stats,
            ratio_to,
            extra: Map::new(),
            notes: Vec::new(),
            paced: None,
        }
    }

    fn json(&self) -> Value {
        let stats = &self.stats;
        let mut object = json!({
            "rps": self.rps,
            "p50_ms": stats.quantile_ms(0.50),
            "p90_ms": stats.quantile_ms(0.90),
            "p99_ms": stats.quantile_ms(0.99),
            "p999_ms": stats.quantile_ms(0.999),
            "max_ms": stats.max_ms(),
            "ratio": self.ratio,
            "ratio_to": self.ratio_to,
            "errors": stats.errors(),
            "mismatches": stats.mismatches,
            "unexpected": stats.unexpected,
            "calls": stats.calls(),
            "ok": stats.ok(),
            "elapsed_s": stats.elapsed.as_secs_f64(),
            "exhausted": stats.exhausted,
        });
        if let Some(object) = object.as_object_mut() {
            object.extend(self.extra.clone());
        }
        object
    }
}

/// `rps / ceiling`, when the ceiling was measured.
pub fn ratio(rps: f64, ceiling: f64) -> Option<f64> {
    (ceiling > 0.0).then(|| rps / ceiling)
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// A line saying what was benched, printed above the table.
    pub header: String,
    /// The scenarios, in the order they ran.
    pub scenarios: Vec<ScenarioResult>,
    /// The ceilings.
    pub ceilings: Ceilings,
    /// The server's peak resident memory, when its process id was given.
    pub server_peak_rss_mib: Option<f64>,
    /// The run's settings and seeding, for the JSON.
    pub run: Map<String, Value>,
}

impl Report {
    /// The result of the scenario called `name`.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The JSON document.
    pub fn json(&self) -> Value {
        let scenarios: Map<String, Value> = self
            .scenarios
            .iter()
            .map(|s| (s.name.to_owned(), s.json()))
            .collect();
        let health = &self.ceilings.health;
        json!({
            "scenarios": scenarios,
            "ceilings": {
                "argon2_verify_rps": self.ceilings.argon2_verify_rps,
                "argon2_hash_rps": self.ceilings.argon2_hash_rps,
                "argon2_verify_samples": self.ceilings.argon2_verify_samples,
                "argon2_hash_samples": self.ceilings.argon2_hash_samples,
                "health_rps": self.ceilings.health_rps,
                "health_p50_ms": health.quantile_ms(0.5),
                "health_p99_ms": health.quantile_ms(0.99),
                "health_errors": health.errors(),
            },
            "server_peak_rss_mib": self.server_peak_rss_mib,
            "run": self.run,
        })
    }

    /// The table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header);
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}  {:<18} {:>6}  errors",
            "scenario", "ok/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "ratio", "vs", "mism."
        );
        for s in &self.scenarios {
            row(&mut out, s.name, s.rps, &s.stats, s.ratio, s.ratio_to);
            if let Some(paced) = &s.paced {
                row(&mut out, "  at 50% (open)", paced.rps(), paced, None, "");
            }
        }
        let c = &self.ceilings;
        let _ = writeln!(out, "ceilings:");
        let samples = |all: &[f64]| {
            all.iter()
                .map(|rate| format!("{rate:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "  argon2id verify {:.1}/s (best of {}), hash {:.1}/s (best of {})",
            c.argon2_verify_rps,
            samples(&c.argon2_verify_samples),
            c.argon2_hash_rps,
            samples(&c.argon2_hash_samples),
        );
        let _ = writeln!(
            out,
            "  health check {:.1}/s (p50 {} ms, p99 {} ms)",
            c.health_rps,
            ms(c.health.quantile_ms(0.5)),
            ms(c.health.quantile_ms(0.99)),
        );
        match self.server_peak_rss_mib {
            Some(mib) => {
                let _ = writeln!(out, "server peak RSS: {mib:.1} MiB");
            }
            None => {
                let _ = writeln!(out, "server peak RSS: not measured (no --server-pid)");
            }
        }
        for s in &self.scenarios {
            for note in &s.notes {
                let _ = writeln!(out, "{}: {note}", s.name);
            }
        }
        out
    }
}

/// One line of the table.
pub fn row(
    out: &mut String,
    name: &str,
    rps: f64,
    stats: &Stats,
    ratio: Option<f64>,
    ratio_to: &str,
) {
    let errors = stats.errors();
    let errors = if errors.is_empty() {
        "-".to_owned()
    } else {
        errors
            .iter()
            .map(|(code, count)| format!("{code}={count}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        out,
        "{:<16} {:>9.1} {:>8} {:>8} {:>8} {:>8} {:>7}  {:<18} {:>6}  {}",
        name,
        rps,
        ms(stats.quantile_ms(0.50)),
        ms(stats.quantile_ms(0.90)),
        ms(stats.quantile_ms(0.99)),
        ms(stats.quantile_ms(0.999)),
        ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.3}")),
        ratio_to,
        stats.mismatches,
        errors
    );
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

/// A measurement's latency summary for a scenario's extra keys.
pub fn summary(stats: &Stats, offered_rps: f64) -> Value {
    json!({
        "offered_rps": offered_rps,
        "rps": stats.rps(),
        "p50_ms": stats.quantile_ms(0.50),
        "p99_ms": stats.quantile_ms(0.99),
        "max_ms": stats.max_ms(),
        "errors": stats.errors(),
        "mismatches": stats.mismatches,
        "not_started": stats.not_started,
    })
}

/// The peak resident memory (`VmHWM`) of process `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .map_err(|error| anyhow::anyhow!("cannot read {path}: {error}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{path} has no VmHWM line"))?;
    Ok(kib / 1024.0)
}

/// Seconds, as the table prints durations.
pub fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
