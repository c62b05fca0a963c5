//! Load drivers and what they measure.
//!
//! A [`Workload`] is one step of a client: one RPC, or a few (the click day's login,
//! consultation and submission), each timed and counted through the [`Recorder`] it is
//! handed. Two drivers run steps:
//! - [`closed`]: N workers each run steps back to back for a duration — the highest rate
//!   the server sustains at that concurrency;
//! - [`open`]: steps start at a fixed arrival rate whatever the answers, each in its own
//!   task, and latency counts from the instant a step was *due*, so a server that falls
//!   behind shows it in the percentiles (no coordinated omission).
//!
//! Latency histograms hold the calls answered OK (microseconds, 3 significant digits);
//! every answer's status code is counted, with mismatches (an answer about another
//! citizen than the one asked about) and unexpected answers (OK, but not what the call
//! should have answered, e.g. `DENY` for an entitled consultation) apart.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use rand::{SeedableRng, rngs::SmallRng};

/// Whether a worker goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Run another step.
    Continue,
    /// Nothing left to do (e.g. every person without a PIN has asked for one).
    Exhausted,
}

/// One step of a simulated client.
pub trait Workload: Send + Sync + 'static {
    /// Runs one step as worker `worker`, recording each call in `recorder`.
    fn step(
        &self,
        worker: usize,
        rng: &mut SmallRng,
        recorder: &mut Recorder,
    ) -> impl Future<Output = Flow> + Send;
}

/// One answered call.
#[derive(Debug, Clone, Copy)]
struct Event {
    latency: Duration,
    code: tonic::Code,
}

/// What a step records: its calls, mismatches and unexpected answers.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Vec<Event>,
    mismatches: u64,
    unexpected: u64,
    /// When set, the next call's latency counts from this instant (an open-loop step's due
    /// time) rather than from when it was sent.
    due: Option<Instant>,
}

impl Recorder {
    /// Times and counts `call`; its message when it answered OK.
    pub async fn call<T>(
        &mut self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Option<T> {
        let started = self.due.take().unwrap_or_else(Instant::now);
        let result = call.await;
        let latency = started.elapsed();
        match result {
            Ok(response) => {
                self.events.push(Event {
                    latency,
                    code: tonic::Code::Ok,
                });
                Some(response.into_inner())
            }
            Err(status) => {
                self.events.push(Event {
                    latency,
                    code: status.code(),
                });
                None
            }
        }
    }

    /// [`Recorder::call`] with a client-side bound: a call still unanswered after
    /// `bound` counts as `DEADLINE_EXCEEDED`.
    pub async fn call_within<T>(
        &mut self,
        bound: Duration,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Option<T> {
        self.call(async {
            tokio::time::timeout(bound, call).await.unwrap_or_else(|_| {
                Err(tonic::Status::deadline_exceeded(
                    "no answer within the client's bound",
                ))
            })
        })
        .await
    }

    /// Counts an answer about another citizen than the one asked about.
    pub fn mismatch(&mut self) {
        self.mismatches += 1;
    }

    /// Counts an OK answer that is not what the call should have answered.
    pub fn unexpected(&mut self) {
        self.unexpected += 1;
    }
}

/// Everything measured in one run of a workload.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latencies of the calls answered OK, in microseconds.
    pub latency: Histogram<u64>,
    /// Answers by gRPC status code name (`OK`, `RESOURCE_EXHAUSTED`, …).
    pub codes: BTreeMap<&'static str, u64>,
    /// Answers about another citizen than the one asked about.
    pub mismatches: u64,
    /// OK answers that were not the expected ones.
    pub unexpected: u64,
    /// From the first step's start to the last step's end (closed loop), or the window
    /// in which steps were started (open loop).
    pub elapsed: Duration,
    /// Whether the workload ran out of work before the duration ended.
    pub exhausted: bool,
    /// Steps the open-loop driver could not start because too many were in flight.
    pub not_started: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: new_histogram(),
            codes: BTreeMap::new(),
            mismatches: 0,
            unexpected: 0,
            elapsed: Duration::ZERO,
            exhausted: false,
            not_started: 0,
        }
    }
}

/// A histogram of microseconds from 1 µs to one hour, 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .expect("1 µs to 1 h at 3 significant digits are bounds hdrhistogram accepts")
}

impl Stats {
    fn absorb(&mut self, recorder: &mut Recorder) {
        for event in recorder.events.drain(..) {
            *self.codes.entry(code_name(event.code)).or_default() += 1;
            if event.code == tonic::Code::Ok {
                let micros = u64::try_from(event.latency.as_micros()).unwrap_or(u64::MAX);
                self.latency.saturating_record(micros.max(1));
            }
        }
        self.mismatches += std::mem::take(&mut recorder.mismatches);
        self.unexpected += std::mem::take(&mut recorder.unexpected);
    }

    fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        for (code, count) in &other.codes {
            *self.codes.entry(code).or_default() += count;
        }
        self.mismatches += other.mismatches;
        self.unexpected += other.unexpected;
        self.exhausted |= other.exhausted;
        self.not_started += other.not_started;
    }

    /// Counts an answer without timing it.
    pub fn count(&mut self, code: tonic::Code) {
        *self.codes.entry(code_name(code)).or_default() += 1;
    }

    /// Every answer, whatever its code.
    pub fn calls(&self) -> u64 {
        self.codes.values().sum()
    }

    /// The answers with status OK.
    pub fn ok(&self) -> u64 {
        self.codes.get("OK").copied().unwrap_or(0)
    }

    /// The answers with another status, by code.
    pub fn errors(&self) -> BTreeMap<&'static str, u64> {
        self.codes
            .iter()
            .filter(|(code, _)| **code != "OK")
            .map(|(code, count)| (*code, *count))
            .collect()
    }

    /// OK answers per second.
    pub fn rps(&self) -> f64 {
        per_second(self.ok(), self.elapsed)
    }

    /// The latency at `quantile` (0 to 1) of the OK answers, in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(quantile) as f64 / 1000.0)
    }

    /// The slowest OK answer, in milliseconds.
    pub fn max_ms(&self) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.max() as f64 / 1000.0)
    }

    /// How many OK answers took longer than `bound`.
    pub fn slower_than(&self, bound: Duration) -> u64 {
        let micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
        self.latency
            .iter_recorded()
            .filter(|value| value.value_iterated_to() > micros)
            .map(|value| value.count_at_value())
            .sum()
    }
}

/// `count` per `elapsed` second.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        count as f64 / elapsed.as_secs_f64()
    }
}

/// The canonical name of a gRPC status code.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Runs `workload` on `concurrency` workers, each stepping back to back, until `duration`
/// has passed or the work is exhausted.
pub async fn closed<W: Workload>(
    workload: Arc<W>,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|worker| {
            let workload = workload.clone();
            tokio::spawn(async move {
                let mut rng = SmallRng::seed_from_u64(0x5eed ^ worker as u64);
                let mut recorder = Recorder::default();
                let mut stats = Stats::default();
                while Instant::now() < deadline {
                    let flow = workload.step(worker, &mut rng, &mut recorder).await;
                    stats.absorb(&mut recorder);
                    if flow == Flow::Exhausted {
                        stats.exhausted = true;
                        break;
                    }
                }
                stats
            })
        })
        .collect();
    let mut total = Stats::default();
    for worker in workers {
        // A worker that panicked lost its counts; the others still report.
        if let Ok(stats) = worker.await {
            total.merge(&stats);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Starts a step of `workload` every `1 / rate` seconds for `duration`, each in its own
/// task (at most `max_in_flight` at once; beyond, a step is counted as not started), and
/// waits for the last one to end.
pub async fn open<W: Workload>(
    workload: Arc<W>,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> Stats {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<Recorder>();
    let collector = tokio::spawn(async move {
        let mut stats = Stats::default();
        while let Some(mut recorder) = received.recv().await {
            stats.absorb(&mut recorder);
        }
        stats
    });
    let in_flight = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let end = started + duration;
    let mut due = started;
    let mut sequence = 0u64;
    let mut not_started = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while due < end && exhausted.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep_until(due.into()).await;
        // After a late wake-up, start every step that has come due since.
        let now = Instant::now();
        while due <= now && due < end {
            if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                not_started += 1;
            } else {
                in_flight.fetch_add(1, Ordering::Relaxed);
                let (workload, events, in_flight, exhausted) = (
                    workload.clone(),
                    events.clone(),
                    in_flight.clone(),
                    exhausted.clone(),
                );
                let step_due = due;
                let worker = usize::try_from(sequence).unwrap_or(usize::MAX);
                tasks.spawn(async move {
                    let mut rng = SmallRng::seed_from_u64(0x0be1 ^ sequence);
                    let mut recorder = Recorder {
                        due: Some(step_due),
                        ..Recorder::default()
                    };
                    if workload.step(worker, &mut rng, &mut recorder).await == Flow::Exhausted {
                        exhausted.store(1, Ordering::Relaxed);
                    }
                    let _ = events.send(recorder);
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
            sequence += 1;
            due += interval;
        }
        // Reap finished tasks so the set does not grow with the run.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    drop(events);
    let mut stats = collector.await.unwrap_or_default();
    // The rate is over the window in which steps were started: the calls still running
    // at its end were offered within it.
    stats.elapsed = (end.min(Instant::now()) - started).max(interval);
    stats.not_started = not_started;
    stats.exhausted = exhausted.load(Ordering::Relaxed) != 0;
    stats
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct Sleeper;

    impl Workload for Sleeper {
        async fn step(&self, _: usize, _: &mut SmallRng, recorder: &mut Recorder) -> Flow {
            recorder
                .call(async {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok(tonic::Response::new(()))
                })
                .await;
            recorder
                .call(async {
                    Err::<tonic::Response<()>, _>(tonic::Status::resource_exhausted("busy"))
                })
                .await;
            Flow::Continue
        }
    }

    #[tokio::test]
    async fn the_closed_driver_counts_every_answer_by_code() {
        let stats = closed(Arc::new(Sleeper), 4, Duration::from_millis(100)).await;
        assert!(stats.ok() > 10, "{stats:?}");
        assert_eq!(stats.errors()["RESOURCE_EXHAUSTED"], stats.ok());
        assert!(stats.quantile_ms(0.5).unwrap() >= 2.0);
    }

    #[tokio::test]
    async fn the_open_driver_starts_steps_at_the_rate_asked() {
        let stats = open(Arc::new(Sleeper), 200.0, Duration::from_millis(500), 1000).await;
        // 100 steps are due; allow for a slow machine's timer.
        assert!((80..=101).contains(&stats.ok()), "{stats:?}");
        assert_eq!(stats.not_started, 0);
    }
}
