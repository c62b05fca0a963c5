//! `pin-bench`: an independent load driver for a separately started `pin-server`.
//!
//! A run goes through these steps ([`run`]):
//! 1. [`target`]: read the server's configuration file with the server's own loader
//!    (address, database, argon2id parameters, hashing threads), open N HTTP/2
//!    connections with tonic.
//! 2. [`ceilings`]: argon2id verify and hash rates with those parameters on that many
//!    threads (in this process, the server idle), and health checks at the run's
//!    concurrency — what each scenario's rate is compared with.
//! 3. [`seed`]: claim a range of codici fiscali no earlier run used ([`people::Slot`]),
//!    upsert its persons ([`people`] makes them valid by construction), give a few
//!    citizens their PIN through the real flow and the rest (the click day's crowd) a
//!    credential written straight into the database, and open some sessions.
//! 4. [`scenarios`] through the [`load`] drivers — closed loop for the highest rate, open
//!    loop (fixed arrival rate) for latency at half of it and for the overload — and the
//!    registry import on one raw HTTP/2 stream ([`raw_stream`], one DATA frame per
//!    person).
//! 5. [`report`]: a table, JSON, and the server's peak RSS from `/proc`.
//!
//! Every run works on a fresh database as on one an earlier run seeded: it takes the next
//! free slot, so nothing it seeds collides with what is there.

pub mod ceilings;
pub mod load;
pub mod options;
pub mod people;
pub mod raw_stream;
pub mod report;
pub mod scenarios;
pub mod seed;
pub mod target;

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use pin_proto::v1 as pb;
use serde_json::{Map, Value, json};

pub use options::{Options, Scenario};

use self::{
    ceilings::Ceilings,
    load::Stats,
    people::{Layout, Slot},
    report::{Report, ScenarioResult},
    scenarios::{Clickday, Consult, Introspect, Login, Request},
    seed::{Citizen, Session},
    target::Target,
};

/// Citizens who get their PIN through the real flow in every run that logs in.
const REAL_FLOW: u32 = 4;

/// The gRPC deadline of the overload's logins.
const OVERLOAD_DEADLINE: Duration = Duration::from_secs(1);

/// The overload's arrival rate, as a multiple of the sustainable login rate.
const OVERLOAD_FACTOR: f64 = 4.0;

/// The import rate the registry load is meant to reach, persons per second.
const IMPORT_TARGET_RPS: f64 = 5000.0;

/// The most persons without a PIN a run seeds for the `request` scenario, unless told.
const MAX_REQUESTERS: u32 = 20_000;

/// Open-loop steps allowed in flight at once before new ones are counted as not started.
const MAX_IN_FLIGHT: usize = 20_000;

/// A pause between measurements, for the server's background work (given-back login
/// places, the readiness check) to settle.
const SETTLE: Duration = Duration::from_millis(500);

/// Progress, on standard error (standard output carries the report).
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("pin-bench: {}", format_args!($($arg)*)) };
}

/// Runs the bench as `options` say; the report is also printed and, with `--json`,
/// written.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let scenarios = options.scenarios();
    let concurrency = options.concurrency.max(1);
    let connections = options.connections.unwrap_or(concurrency).max(1);
    let duration = options.duration;
    let target = Arc::new(
        Target::connect(
            &options.config,
            &options.token_file,
            connections,
            options.wait,
        )
        .await?,
    );
    let header = format!(
        "{} at {}, argon2id m={} KiB t={} p={} on {} hashing threads; {} clients on {} \
         connections, {} per measurement",
        target.backend(),
        target.addr,
        target.params.memory_kib,
        target.params.iterations,
        target.params.parallelism,
        target.hashing_workers,
        concurrency,
        connections,
        report::seconds(duration),
    );
    say!("{header}");

    say!("measuring the ceilings (argon2id verify, hash; health checks)");
    let mut ceilings = ceilings::measure(&target, concurrency, duration).await?;
    if ceilings.health.ok() == 0 {
        bail!(
            "the server answered no health check: {:?}",
            ceilings.health.errors()
        );
    }

    let slot = seed::claim_slot(&target).await?;
    let needs_citizens = scenarios.iter().any(|s| s.needs_citizens());
    // The range is reserved now; how many of its persons are upserted is decided just
    // before the scenario, from the rates measured by then.
    let requesters = if scenarios.contains(&Scenario::Request) {
        options.requesters.unwrap_or(MAX_REQUESTERS)
    } else {
        0
    };
    let layout = Layout {
        real_flow: if needs_citizens { REAL_FLOW } else { 0 },
        citizens: if needs_citizens { options.citizens } else { 0 },
        requesters,
        imported: if scenarios.contains(&Scenario::Import) {
            options.import_count
        } else {
            0
        },
    };
    if !layout.fits() {
        bail!(
            "too many persons for one run: at most {} in all",
            people::INDICES_PER_SLOT
        );
    }
    let (citizens, sessions) = seed_all(&target, slot, &layout, concurrency).await?;
    let citizens = Arc::new(citizens);
    let sessions = Arc::new(sessions);

    let mut results = Vec::new();
    let mut login_rps = None;
    for scenario in &scenarios {
        tokio::time::sleep(SETTLE).await;
        say!("scenario {}", scenario.name());
        let result = match scenario {
            Scenario::Authenticate => {
                let workload = Login::new(target.clone(), citizens.clone(), None);
                let stats = load::closed(Arc::new(workload), concurrency, duration).await;
                login_rps = Some(stats.rps());
                ScenarioResult::new(
                    "authenticate",
                    stats,
                    "argon2_verify_rps",
                    ceilings.argon2_verify_rps,
                )
            }
            Scenario::Authorize => {
                let workload = Arc::new(Consult::new(target.clone(), sessions.clone()));
                at_half_rate("authorize", workload, concurrency, duration, &ceilings).await
            }
            Scenario::Introspect => {
                let workload = Arc::new(Introspect::new(target.clone(), sessions.clone()));
                at_half_rate("introspect", workload, concurrency, duration, &ceilings).await
            }
            Scenario::Clickday => {
                let workload = Arc::new(Clickday::new(
                    target.clone(),
                    slot,
                    citizens.clone(),
                    &sessions,
                ));
                let stats = load::closed(workload.clone(), concurrency, duration).await;
                let mut result =
                    ScenarioResult::new("clickday", stats, "health_rps", ceilings.health_rps);
                let done = workload.iterations();
                result
                    .extra
                    .insert("citizens".into(), json!(citizens.len()));
                result.extra.insert("iterations".into(), json!(done));
                result.extra.insert(
                    "iterations_per_s".into(),
                    json!(load::per_second(done, result.stats.elapsed)),
                );
                result.notes.push(format!(
                    "{done} citizens logged in or reused a session, consulted and filed \
                     ({:.1}/s) over a crowd of {}",
                    load::per_second(done, result.stats.elapsed),
                    citizens.len()
                ));
                result
            }
            Scenario::Request => {
                let count = options.requesters.unwrap_or_else(|| {
                    // A request costs about what a login does (one argon2id, one
                    // transaction): expect the login rate, with a margin.
                    let rate = login_rps
                        .unwrap_or_else(|| ceilings.argon2_hash_rps.min(ceilings.health_rps / 4.0));
                    let estimate = (rate * duration.as_secs_f64() * 1.5).ceil() as u32;
                    estimate.clamp(concurrency as u32 * 4, MAX_REQUESTERS)
                });
                let persons = layout.requesters().start..layout.requesters().start + count;
                let started = Instant::now();
                seed::upsert(&target, slot, persons.clone(), concurrency.min(4)).await?;
                say!(
                    "  {count} persons without a PIN upserted in {}",
                    report::seconds(started.elapsed())
                );
                let workload = Arc::new(Request::new(target.clone(), slot, persons));
                let stats = load::closed(workload.clone(), concurrency, duration).await;
                let mut result = ScenarioResult::new(
                    "request",
                    stats,
                    "argon2_hash_rps",
                    ceilings.argon2_hash_rps,
                );
                let asked = workload.asked();
                result.extra.insert("persons".into(), json!(count));
                if result.stats.exhausted {
                    result.notes.push(format!(
                        "every one of the {count} persons without a PIN asked before the \
                         duration ended (--requesters sets more)"
                    ));
                }
                let drained = drain_requests(&target, slot, asked).await?;
                result
                    .extra
                    .insert("deliveries_drained".into(), json!(drained));
                result
            }
            Scenario::Import => import(&target, slot, &layout).await,
            Scenario::Overload => {
                let Some(base) = login_rps.filter(|rps| *rps > 0.0) else {
                    say!("overload skipped: no sustainable login rate was measured");
                    continue;
                };
                overload(&target, &citizens, base, duration, &ceilings).await
            }
        };
        results.push(result);
    }

    // The argon2id ceilings once more, the best measurement being the machine's.
    if results.iter().any(|r| r.ratio_to.starts_with("argon2")) {
        tokio::time::sleep(SETTLE).await;
        say!("measuring the argon2id ceilings again");
        ceilings.measure_argon2_again(&target, duration).await?;
        for result in &mut results {
            if let Some(ceiling) = ceilings.by_name(result.ratio_to) {
                result.ratio = report::ratio(result.rps, ceiling);
            }
        }
    }
    let server_peak_rss_mib = match options.server_pid {
        Some(pid) => match report::peak_rss_mib(pid) {
            Ok(mib) => Some(mib),
            Err(error) => {
                say!("no peak RSS: {error:#}");
                None
            }
        },
        None => None,
    };
    let mut run = Map::new();
    run.insert("backend".into(), json!(target.backend()));
    run.insert("concurrency".into(), json!(concurrency));
    run.insert("connections".into(), json!(connections));
    run.insert("duration_s".into(), json!(duration.as_secs_f64()));
    run.insert("slot".into(), json!(slot.number()));
    run.insert("citizens".into(), json!(citizens.len()));
    run.insert("sessions".into(), json!(sessions.len()));
    run.insert(
        "argon2".into(),
        json!({
            "memory_kib": target.params.memory_kib,
            "iterations": target.params.iterations,
            "parallelism": target.params.parallelism,
            "workers": target.hashing_workers,
        }),
    );
    let report = Report {
        header,
        scenarios: results,
        ceilings,
        server_peak_rss_mib,
        run,
    };
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&report.json())?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report)
}

/// Seeds the registry, the credentials and the sessions the scenarios need.
async fn seed_all(
    target: &Target,
    slot: Slot,
    layout: &Layout,
    concurrency: usize,
) -> anyhow::Result<(Vec<Citizen>, Vec<Session>)> {
    let streams = concurrency.min(4);
    let persons = layout.real_flow().start..layout.citizens().end;
    let started = Instant::now();
    say!(
        "slot {}: upserting {} persons ({} for the real flow, {} for the login pool)",
        slot.number(),
        persons.len(),
        layout.real_flow,
        layout.citizens,
    );
    seed::upsert(target, slot, persons, streams).await?;
    say!("  done in {}", report::seconds(started.elapsed()));
    let mut citizens = Vec::new();
    let mut sessions = Vec::new();
    if layout.real_flow > 0 {
        let started = Instant::now();
        for (citizen, session) in seed::real_flow(target, slot, layout.real_flow()).await? {
            citizens.push(citizen);
            sessions.push(session);
        }
        say!(
            "{} citizens through the real flow (request, halves, first access) in {}",
            citizens.len(),
            report::seconds(started.elapsed())
        );
    }
    if layout.citizens > 0 {
        let started = Instant::now();
        citizens.extend(seed::write_credentials(target, slot, layout.citizens()).await?);
        say!(
            "{} credentials written into the database in {}",
            layout.citizens,
            report::seconds(started.elapsed())
        );
        let wanted = (concurrency * 4).max(64).min(citizens.len());
        let first = sessions.len();
        if wanted > first {
            let started = Instant::now();
            let more = seed::log_in(target, &citizens[first..wanted], concurrency).await?;
            sessions.extend(more);
            say!(
                "{} sessions opened in {}",
                sessions.len(),
                report::seconds(started.elapsed())
            );
        }
    }
    Ok((citizens, sessions))
}

/// The closed-loop maximum of `workload`, then a run at half that rate (open loop) for
/// its latency.
async fn at_half_rate<W: load::Workload>(
    name: &'static str,
    workload: Arc<W>,
    concurrency: usize,
    duration: Duration,
    ceilings: &Ceilings,
) -> ScenarioResult {
    let stats = load::closed(workload.clone(), concurrency, duration).await;
    let mut result = ScenarioResult::new(name, stats, "health_rps", ceilings.health_rps);
    let half = result.rps / 2.0;
    if half > 0.0 {
        tokio::time::sleep(SETTLE).await;
        let paced = load::open(workload, half, duration, MAX_IN_FLIGHT).await;
        result.stats.mismatches += paced.mismatches;
        result
            .extra
            .insert("half_rate".into(), report::summary(&paced, half));
        result.paced = Some(paced);
    }
    result
}

/// Acknowledges the deliveries of the persons who asked for a PIN, so the outbox is left
/// as it was found (with the development mailbox, its worker does).
async fn drain_requests(
    target: &Target,
    slot: Slot,
    asked: std::ops::Range<u32>,
) -> anyhow::Result<usize> {
    if target.mailbox.is_some() || asked.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    let mut mobiles = HashSet::new();
    let mut names = HashSet::new();
    for index in asked.clone() {
        mobiles.insert(people::mobile(slot, index));
        names.insert(people::postal_name(&people::person(slot, index)?));
    }
    let first = seed::drain(target, pb::Channel::Sms, asked.len(), |delivery| {
        mobiles.contains(delivery.recipient.as_str())
    })
    .await?;
    let second = seed::drain(target, pb::Channel::Post, asked.len(), |delivery| {
        names.contains(delivery.recipient.lines().next().unwrap_or_default())
    })
    .await?;
    say!(
        "  acknowledged the {} deliveries of the requests in {}",
        first + second,
        report::seconds(started.elapsed())
    );
    Ok(first + second)
}

/// The registry import: one stream, one DATA frame per person, at the client's full speed.
async fn import(target: &Target, slot: Slot, layout: &Layout) -> ScenarioResult {
    let mut stats = Stats::default();
    let mut extra = Map::new();
    let mut notes = Vec::new();
    // Encode every person first: the stream then runs at the speed of the wire.
    let persons: anyhow::Result<Vec<_>> = layout
        .imported()
        .map(|index| people::person(slot, index))
        .collect();
    let rps = match persons {
        Err(error) => {
            notes.push(format!("no persons to import: {error:#}"));
            0.0
        }
        Ok(persons) => {
            let frames: Vec<_> = raw_stream::person_requests(persons).collect();
            let started = Instant::now();
            let answer = raw_stream::upsert_persons(target.addr, target.token(), frames).await;
            stats.elapsed = started.elapsed();
            match answer {
                Ok(tally) => {
                    stats.count(tonic::Code::Ok);
                    extra.insert(
                        "tally".into(),
                        json!({
                            "received": tally.received,
                            "inserted": tally.inserted,
                            "updated": tally.updated,
                            "unchanged": tally.unchanged,
                            "rejected": tally.rejected_count,
                        }),
                    );
                    notes.push(format!(
                        "{} persons in {}: {} inserted, {} updated, {} unchanged, {} rejected",
                        tally.received,
                        report::seconds(stats.elapsed),
                        tally.inserted,
                        tally.updated,
                        tally.unchanged,
                        tally.rejected_count
                    ));
                    load::per_second(u64::from(tally.received), stats.elapsed)
                }
                Err(failure) => {
                    let code = match &failure.cause {
                        raw_stream::Cause::Status(status) => status.code(),
                        _ => tonic::Code::Unavailable,
                    };
                    stats.count(code);
                    notes.push(format!("the stream failed: {failure}"));
                    extra.insert("sent".into(), json!(failure.sent));
                    extra.insert("failure".into(), json!(failure.to_string()));
                    0.0
                }
            }
        }
    };
    extra.insert("persons".into(), json!(layout.imported));
    ScenarioResult {
        name: "import",
        ratio: report::ratio(rps, IMPORT_TARGET_RPS),
        rps,
        stats,
        ratio_to: "import_target_rps",
        extra,
        notes,
        paced: None,
    }
}

/// Logins at [`OVERLOAD_FACTOR`] times the sustainable rate, each with a one-second
/// deadline: the hashing pool must refuse what it cannot serve in time
/// (`RESOURCE_EXHAUSTED`) and serve what it accepts within the deadline.
async fn overload(
    target: &Arc<Target>,
    citizens: &Arc<Vec<Citizen>>,
    base: f64,
    duration: Duration,
    ceilings: &Ceilings,
) -> ScenarioResult {
    let offered = base * OVERLOAD_FACTOR;
    let workload = Login::new(target.clone(), citizens.clone(), Some(OVERLOAD_DEADLINE));
    let stats = load::open(Arc::new(workload), offered, duration, MAX_IN_FLIGHT).await;
    let mut result = ScenarioResult::new(
        "overload",
        stats,
        "argon2_verify_rps",
        ceilings.argon2_verify_rps,
    );
    let stats = &result.stats;
    let refused = stats.codes.get("RESOURCE_EXHAUSTED").copied().unwrap_or(0);
    let late = stats.slower_than(OVERLOAD_DEADLINE);
    let max_ms = stats.max_ms();
    result.notes.push(format!(
        "{offered:.1}/s offered for {} ({} calls): {} succeeded, {refused} refused with \
         RESOURCE_EXHAUSTED, {} other errors; accepted logins p99 {} ms, max {} ms, {late} \
         past their {} ms deadline",
        report::seconds(stats.elapsed),
        stats.calls(),
        stats.ok(),
        stats.calls() - stats.ok() - refused,
        stats
            .quantile_ms(0.99)
            .map_or("-".to_owned(), |v| format!("{v:.1}")),
        max_ms.map_or("-".to_owned(), |v| format!("{v:.1}")),
        OVERLOAD_DEADLINE.as_millis()
    ));
    let extra: [(&str, Value); 6] = [
        ("offered_rps", json!(offered)),
        ("succeeded", json!(stats.ok())),
        ("refused", json!(refused)),
        ("late", json!(late)),
        ("deadline_ms", json!(OVERLOAD_DEADLINE.as_millis())),
        ("not_started", json!(stats.not_started)),
    ];
    for (key, value) in extra {
        result.extra.insert(key.into(), value);
    }
    result
}
