//! The bounded pool of threads that hashes and verifies secrets with argon2id.
//!
//! argon2id is slow on purpose (tens of milliseconds with production parameters), so it
//! never runs on the async workers: [`HashingPool`] owns dedicated OS threads
//! (`argon2-0`, `argon2-1`, …), each with its own CSPRNG seeded from the OS, pulling jobs
//! from one shared bounded queue and answering through a `oneshot` channel.
//!
//! Admission control happens before a job is queued, so a caller is refused at once rather
//! than after waiting in vain:
//! - the pool keeps an estimate of one job's duration (an exponential moving average, seeded
//!   by timing one dummy verification at start-up) and the number of jobs queued or running;
//! - the wait of a new job is estimated as `ceil((queued_or_running + 1) / workers) * average`;
//!   when the caller has a deadline and `now + wait + FINISH_RESERVE` is past it, the job
//!   is refused with
//!   [`PoolError::Busy`] and never queued;
//! - whatever the deadline, at most `workers * 64` jobs are queued or running (memory stays
//!   bounded); beyond that, [`PoolError::Busy`] too.
//!
//! A caller that goes away (its future dropped, e.g. the client's deadline expired) leaves
//! its job in the queue; the worker skips it without computing anything. A job whose deadline
//! has passed by the time a worker takes it is answered with [`PoolError::Busy`] unrun.
//! Secrets are dropped — and zeroized by `secrecy` — as soon as their job is done, refused or
//! skipped; they never enter errors or logs.
//!
//! When the last handle to the pool is dropped, the workers finish the jobs still queued and
//! exit.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use pin_domain::{HashError, HashMemory, PinHash, PinHasher, Verification};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::error::ServiceError;

/// How many jobs, per worker, may be queued or running at once.
pub const JOBS_PER_WORKER: usize = 64;

/// The shortest wait a refused caller is told to observe.
pub const MIN_RETRY_AFTER: Duration = Duration::from_millis(50);

/// Why the pool did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The job could not be done in time, or the queue is full; retry after the given time.
    #[error("the hashing pool is busy")]
    Busy {
        /// Suggested wait before retrying: about the current queueing delay.
        retry_after: Duration,
    },
    /// The pool's workers are gone; the job was not done.
    #[error("the hashing pool has stopped")]
    Stopped,
    /// Hashing failed (invalid parameters).
    #[error("hashing failed")]
    Hash(#[from] HashError),
}

impl From<PoolError> for ServiceError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Busy { retry_after } => ServiceError::Busy { retry_after },
            other @ (PoolError::Stopped | PoolError::Hash(_)) => {
                ServiceError::Internal(anyhow::Error::new(other))
            }
        }
    }
}

/// A snapshot of the pool, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Number of worker threads.
    pub workers: usize,
    /// Jobs queued or running now.
    pub in_flight: usize,
    /// Current estimate of one job's duration.
    pub average: Duration,
    /// Jobs computed since start-up.
    pub completed: u64,
    /// Jobs refused with [`PoolError::Busy`] since start-up (at admission or, their
    /// deadline passed, when a worker took them).
    pub refused: u64,
    /// Jobs skipped because their caller had gone away.
    pub abandoned: u64,
}

/// Runs argon2id hashing and verification on dedicated threads, with admission control.
/// Cheap to clone: every clone shares the same workers and queue.
#[derive(Clone)]
pub struct HashingPool {
    sender: SyncSender<Job>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingPool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl HashingPool {
    /// Starts `workers` threads named `argon2-N`, allowing `workers * 64` jobs queued or
    /// running. Blocks for one dummy verification to seed the duration estimate, so call it
    /// at start-up. `workers == 0` is an error, as is a failure to seed a generator from the
    /// OS or to start a thread.
    pub fn new(hasher: PinHasher, workers: usize) -> anyhow::Result<HashingPool> {
        let limit = workers.saturating_mul(JOBS_PER_WORKER);
        Self::with_limit(hasher, workers, limit)
    }

    /// Like [`HashingPool::new`], with at most `max_in_flight` jobs queued or running
    /// (at least 1).
    pub fn with_limit(
        hasher: PinHasher,
        workers: usize,
        max_in_flight: usize,
    ) -> anyhow::Result<HashingPool> {
        Self::start(
            hasher,
            workers,
            max_in_flight,
            #[cfg(test)]
            None,
        )
    }

    /// The default number of workers: the available parallelism (1 if unknown).
    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }

    fn start(
        hasher: PinHasher,
        workers: usize,
        max_in_flight: usize,
        #[cfg(test)] hook: Option<Hook>,
    ) -> anyhow::Result<HashingPool> {
        if workers == 0 {
            return Err(anyhow!("the hashing pool needs at least one worker"));
        }
        if max_in_flight == 0 {
            return Err(anyhow!("the hashing pool needs room for at least one job"));
        }

        let calibration = Instant::now();
        let _ = hasher.verify_dummy("calibration");
        let average = nanos(calibration.elapsed()).max(1);

        let shared = Arc::new(Shared {
            workers,
            limit: max_in_flight,
            in_flight: AtomicUsize::new(0),
            average_nanos: AtomicU64::new(average),
            completed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            #[cfg(test)]
            hook,
        });
        // The counter check in `submit` keeps the channel from ever being full.
        let (sender, receiver) = mpsc::sync_channel::<Job>(max_in_flight);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).map_err(|error| {
                anyhow!("cannot seed the hashing generator from the os: {error}")
            })?;
            let worker = Worker {
                receiver: Arc::clone(&receiver),
                hasher: hasher.clone(),
                shared: Arc::clone(&shared),
                rng,
                memory: HashMemory::default(),
            };
            // On failure the threads already started exit once `sender` is dropped.
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || worker.run())
                .with_context(|| format!("cannot start hashing thread argon2-{index}"))?;
        }
        tracing::info!(
            workers,
            max_in_flight,
            average_us = average / 1_000,
            "hashing pool started"
        );
        Ok(HashingPool { sender, shared })
    }

    /// Hashes `secret` with a fresh salt. Refused with [`PoolError::Busy`] when it could not
    /// finish before `deadline` or when the queue is full.
    pub async fn hash(
        &self,
        secret: SecretString,
        deadline: Option<Instant>,
    ) -> Result<PinHash, PoolError> {
        let (reply, answer) = oneshot::channel();
        let span = tracing::info_span!("argon2id", otel.name = "argon2id hash");
        span.in_scope(|| self.submit(Task::Hash { secret, reply }, deadline))?;
        answer
            .instrument(span)
            .await
            .map_err(|_| PoolError::Stopped)?
    }

    /// Verifies `secret` against `stored`; with `None` (unknown identity, no usable hash)
    /// spends the time of a verification against a dummy hash and answers
    /// [`Verification::Mismatch`]. Refused like [`HashingPool::hash`].
    pub async fn verify(
        &self,
        secret: SecretString,
        stored: Option<PinHash>,
        deadline: Option<Instant>,
    ) -> Result<Verification, PoolError> {
        let (reply, answer) = oneshot::channel();
        let span = tracing::info_span!("argon2id", otel.name = "argon2id verify");
        span.in_scope(|| {
            self.submit(
                Task::Verify {
                    secret,
                    stored,
                    reply,
                },
                deadline,
            )
        })?;
        answer
            .instrument(span)
            .await
            .map_err(|_| PoolError::Stopped)?
    }

    /// A snapshot of the pool's state.
    pub fn stats(&self) -> PoolStats {
        let shared = &self.shared;
        PoolStats {
            workers: shared.workers,
            in_flight: shared.in_flight.load(Ordering::Acquire),
            average: Duration::from_nanos(shared.average_nanos.load(Ordering::Relaxed)),
            completed: shared.completed.load(Ordering::Relaxed),
            refused: shared.refused.load(Ordering::Relaxed),
            abandoned: shared.abandoned.load(Ordering::Relaxed),
        }
    }

    /// Takes a place in the queue for one job that must finish by `deadline`, or refuses
    /// at once, before the caller does any other work for it. The place is held until
    /// the reservation is used ([`Reservation::verify`]) or dropped.
    pub fn reserve(&self, deadline: Option<Instant>) -> Result<Reservation, PoolError> {
        let shared = &self.shared;
        // Take a place first, so concurrent callers each see the ones admitted before them.
        let ahead = shared.in_flight.fetch_add(1, Ordering::AcqRel);
        let ticket = Ticket(Arc::clone(shared));
        let wait = shared.estimate(ahead);
        if ahead >= shared.limit {
            tracing::debug!(in_flight = ahead, "hashing queue full; job refused");
            return Err(shared.refuse(wait));
        }
        if let Some(deadline) = deadline {
            let in_time = Instant::now()
                .checked_add(wait + FINISH_RESERVE)
                .is_some_and(|finish| finish <= deadline);
            if !in_time {
                tracing::debug!(
                    in_flight = ahead,
                    wait_us = nanos(wait) / 1_000,
                    "hashing job could not meet its deadline; refused"
                );
                return Err(shared.refuse(wait));
            }
        }
        Ok(Reservation {
            pool: self.clone(),
            ticket,
            deadline,
            wait,
        })
    }

    /// Admits and queues a job, or refuses it at once (its secret dropped).
    fn submit(&self, task: Task, deadline: Option<Instant>) -> Result<(), PoolError> {
        self.reserve(deadline)?.send(task)
    }
}

/// What a call still has to do after its argon2id job, reserved from its deadline when
/// the job is admitted: a login's job that finished at the very deadline would have its
/// session written after it. A few writes, with room for a busy database.
pub const FINISH_RESERVE: Duration = Duration::from_millis(50);

/// A place in the hashing queue, taken by [`HashingPool::reserve`].
#[derive(Debug)]
pub struct Reservation {
    pool: HashingPool,
    ticket: Ticket,
    deadline: Option<Instant>,
    wait: Duration,
}

impl Reservation {
    /// Verifies `secret` against `stored` in the reserved place, as
    /// [`HashingPool::verify`] does.
    pub async fn verify(
        self,
        secret: SecretString,
        stored: Option<PinHash>,
    ) -> Result<Verification, PoolError> {
        let (reply, answer) = oneshot::channel();
        let span = tracing::info_span!("argon2id", otel.name = "argon2id verify");
        span.in_scope(|| {
            self.send(Task::Verify {
                secret,
                stored,
                reply,
            })
        })?;
        answer
            .instrument(span)
            .await
            .map_err(|_| PoolError::Stopped)?
    }

    fn send(self, task: Task) -> Result<(), PoolError> {
        let Reservation {
            pool,
            ticket,
            deadline,
            wait,
        } = self;
        match pool.sender.try_send(Job {
            task,
            deadline,
            ticket,
            queued_at: Instant::now(),
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job)) => {
                drop(job);
                Err(pool.shared.refuse(wait))
            }
            Err(TrySendError::Disconnected(job)) => {
                drop(job);
                Err(PoolError::Stopped)
            }
        }
    }
}

/// A test-only action each worker runs before each job it takes.
#[cfg(test)]
type Hook = Arc<dyn Fn() + Send + Sync>;

/// What the handles, the workers and the queued jobs share.
struct Shared {
    workers: usize,
    limit: usize,
    in_flight: AtomicUsize,
    average_nanos: AtomicU64,
    completed: AtomicU64,
    refused: AtomicU64,
    abandoned: AtomicU64,
    #[cfg(test)]
    hook: Option<Hook>,
}

impl Shared {
    /// The estimated wait of a job with `ahead` jobs queued or running before it.
    fn estimate(&self, ahead: usize) -> Duration {
        let rounds = ahead.saturating_add(1).div_ceil(self.workers);
        let rounds = u64::try_from(rounds).unwrap_or(u64::MAX);
        Duration::from_nanos(
            self.average_nanos
                .load(Ordering::Relaxed)
                .saturating_mul(rounds),
        )
    }

    fn refuse(&self, wait: Duration) -> PoolError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get().hashing_refusals.add(1, &[]);
        PoolError::Busy {
            retry_after: wait.max(MIN_RETRY_AFTER),
        }
    }

    /// Folds one job's duration into the moving average (weight 1/8).
    fn record(&self, took: Duration) {
        let sample = u128::from(nanos(took));
        let _ = self
            .average_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |average| {
                let next = (u128::from(average) * 7 + sample) / 8;
                Some(u64::try_from(next).unwrap_or(u64::MAX).max(1))
            });
        self.completed.fetch_add(1, Ordering::Relaxed);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A place among the jobs queued or running; given back when dropped, whatever happens to
/// the job (done, refused, skipped, or a panic unwinding through it).
struct Ticket(Arc<Shared>);

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticket")
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One unit of work with its answer channel.
enum Task {
    Hash {
        secret: SecretString,
        reply: oneshot::Sender<Result<PinHash, PoolError>>,
    },
    Verify {
        secret: SecretString,
        stored: Option<PinHash>,
        reply: oneshot::Sender<Result<Verification, PoolError>>,
    },
}

impl Task {
    /// Whether the caller has stopped waiting for the answer.
    fn abandoned(&self) -> bool {
        match self {
            Task::Hash { reply, .. } => reply.is_closed(),
            Task::Verify { reply, .. } => reply.is_closed(),
        }
    }

    /// Answers with an error without doing the work.
    fn refuse(self, error: PoolError) {
        match self {
            Task::Hash { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Task::Verify { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// A queued task.
struct Job {
    task: Task,
    deadline: Option<Instant>,
    ticket: Ticket,
    queued_at: Instant,
}

impl Job {
    fn run(
        self,
        hasher: &PinHasher,
        rng: &mut ChaCha20Rng,
        memory: &mut HashMemory,
        shared: &Shared,
    ) {
        let Job {
            task,
            deadline,
            ticket,
            queued_at,
        } = self;
        crate::metrics::get()
            .hashing_queue_wait
            .record(queued_at.elapsed().as_secs_f64(), &[]);
        #[cfg(test)]
        if let Some(hook) = &shared.hook {
            hook();
        }
        if task.abandoned() {
            shared.abandoned.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            drop(ticket);
            let wait = shared.estimate(shared.in_flight.load(Ordering::Acquire));
            task.refuse(shared.refuse(wait));
            return;
        }
        let started = Instant::now();
        // Each arm drops the secret before answering, and gives the place back first so a
        // caller that sees its answer also sees the job gone from the counters.
        match task {
            Task::Hash { secret, reply } => {
                let result = hasher.hash_in(secret.expose_secret(), rng, memory);
                drop(secret);
                shared.record(started.elapsed());
                drop(ticket);
                let _ = reply.send(result.map_err(PoolError::Hash));
            }
            Task::Verify {
                secret,
                stored,
                reply,
            } => {
                let verification = match &stored {
                    Some(stored) => hasher.verify_in(secret.expose_secret(), stored, memory),
                    None => hasher.verify_dummy_in(secret.expose_secret(), memory),
                };
                drop(secret);
                shared.record(started.elapsed());
                drop(ticket);
                let _ = reply.send(Ok(verification));
            }
        }
    }
}

/// One worker thread's state.
struct Worker {
    receiver: Arc<Mutex<Receiver<Job>>>,
    hasher: PinHasher,
    shared: Arc<Shared>,
    rng: ChaCha20Rng,
    /// argon2's working memory, re-used from one job to the next.
    memory: HashMemory,
}

impl Worker {
    /// Takes jobs until every handle to the pool is gone and the queue is empty.
    fn run(mut self) {
        loop {
            let next = self
                .receiver
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .recv();
            let Ok(job) = next else {
                return;
            };
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                job.run(&self.hasher, &mut self.rng, &mut self.memory, &self.shared);
            }));
            if outcome.is_err() {
                // The job's answer channel was dropped while unwinding: its caller gets
                // `Stopped`. The worker goes on with a generator reseeded from the OS.
                tracing::error!("a hashing job panicked");
                if let Ok(rng) = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng) {
                    self.rng = rng;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    use pin_domain::HashParams;

    use super::*;

    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher() -> PinHasher {
        let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).unwrap();
        PinHasher::new(CHEAP, &mut rng).unwrap()
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text)
    }

    fn pool_with_hook(workers: usize, max_in_flight: usize, hook: Hook) -> HashingPool {
        HashingPool::start(hasher(), workers, max_in_flight, Some(hook)).unwrap()
    }

    /// A hook that holds each job until a permit arrives; once the returned sender is
    /// dropped, jobs pass freely.
    fn permits() -> (mpsc::Sender<()>, Hook) {
        let (sender, receiver) = mpsc::channel::<()>();
        let receiver = Mutex::new(receiver);
        let hook: Hook = Arc::new(move || {
            let _ = receiver.lock().unwrap().recv();
        });
        (sender, hook)
    }

    /// Wraps a hook to count the jobs the workers take.
    fn counted(hook: Hook) -> (Hook, Arc<AtomicUsize>) {
        let taken = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&taken);
        let counting: Hook = Arc::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            hook();
        });
        (counting, taken)
    }

    /// Wraps a hook to announce each job a worker takes, before running the hook.
    fn announced(hook: Hook) -> (Hook, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let announcing: Hook = Arc::new(move || {
            let _ = sender.send(());
            hook();
        });
        (announcing, receiver)
    }

    type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, PoolError>> + Send + 'a>>;

    /// Polls a call once: its job is admitted (or refused) on the first poll.
    async fn poll_once<T>(call: &mut Pending<'_, T>) -> Poll<Result<T, PoolError>> {
        futures::poll!(call.as_mut())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_verifies_its_secret_and_nothing_else() {
        let pool = HashingPool::new(hasher(), 2).unwrap();
        let hash = pool.hash(secret("ABCDEFGH"), None).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            pool.verify(secret("ABCDEFGH"), Some(hash.clone()), None)
                .await
                .unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            pool.verify(secret("ABCDEFGJ"), Some(hash), None)
                .await
                .unwrap(),
            Verification::Mismatch
        );
        assert_eq!(
            pool.verify(secret("ABCDEFGH"), None, None).await.unwrap(),
            Verification::Mismatch
        );
        let stats = pool.stats();
        assert_eq!(stats.workers, 2);
        assert_eq!(stats.in_flight, 0);
        assert_eq!(stats.completed, 4);
        assert!(stats.average > Duration::ZERO);
    }

    #[test]
    fn a_pool_needs_workers_and_room() {
        assert!(HashingPool::new(hasher(), 0).is_err());
        assert!(HashingPool::with_limit(hasher(), 1, 0).is_err());
        assert!(HashingPool::default_workers() >= 1);
    }

    /// One worker, one async thread: while the worker computes each of the 5 jobs, it waits
    /// for a task on the async thread to tick, which only happens if the callers awaiting
    /// their hashes leave that thread free.
    #[tokio::test(flavor = "current_thread")]
    async fn hashing_leaves_the_async_runtime_free() {
        let ticks = Arc::new(AtomicU64::new(0));
        let saw_progress = Arc::new(AtomicUsize::new(0));
        let on_worker = Arc::new(AtomicUsize::new(0));
        let hook: Hook = {
            let ticks = Arc::clone(&ticks);
            let saw_progress = Arc::clone(&saw_progress);
            let on_worker = Arc::clone(&on_worker);
            Arc::new(move || {
                if std::thread::current()
                    .name()
                    .is_some_and(|name| name.starts_with("argon2-"))
                {
                    on_worker.fetch_add(1, Ordering::Relaxed);
                }
                // Bounded only so that a broken pool fails instead of hanging.
                let give_up = Instant::now() + Duration::from_secs(60);
                let start = ticks.load(Ordering::Relaxed);
                while ticks.load(Ordering::Relaxed) < start + 3 {
                    if Instant::now() > give_up {
                        return;
                    }
                    std::thread::yield_now();
                }
                saw_progress.fetch_add(1, Ordering::Relaxed);
            })
        };
        let pool = pool_with_hook(1, 64, hook);

        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        };
        let hashes = futures::future::join_all(
            (0..5).map(|n| pool.hash(secret(&format!("SECRET{n:02}")), None)),
        )
        .await;
        ticker.abort();

        assert_eq!(on_worker.load(Ordering::Relaxed), 5);
        assert_eq!(saw_progress.load(Ordering::Relaxed), 5);
        assert!(ticks.load(Ordering::Relaxed) >= 15);
        for hash in hashes {
            assert!(hash.unwrap().as_str().starts_with("$argon2id$"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadline_that_cannot_be_met_is_refused_at_once() {
        // The worker is held: a queued job could not answer, so an answer on the first
        // poll is a refusal at admission.
        let (permit, hook) = permits();
        let (hook, taken) = counted(hook);
        let pool = pool_with_hook(1, 64, hook);
        let hasher = hasher();
        let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).unwrap();
        let stored = hasher.hash("ABCDEFGH", &mut rng).unwrap();
        let average = pool.stats().average;

        let passed = Instant::now();
        let too_near = Instant::now() + average / 2;
        let mut calls: Vec<Pending<'_, ()>> = vec![
            Box::pin(async { pool.hash(secret("ABCDEFGH"), Some(passed)).await.map(drop) }),
            Box::pin(async {
                pool.verify(secret("ABCDEFGH"), Some(stored.clone()), Some(passed))
                    .await
                    .map(drop)
            }),
            Box::pin(async {
                pool.verify(secret("ABCDEFGH"), None, Some(too_near))
                    .await
                    .map(drop)
            }),
        ];
        for call in &mut calls {
            match poll_once(call).await {
                Poll::Ready(Err(PoolError::Busy { retry_after })) => {
                    assert!(retry_after >= MIN_RETRY_AFTER);
                }
                other => panic!("expected busy at once, got {other:?}"),
            }
        }
        drop(calls);
        let stats = pool.stats();
        assert_eq!(stats.in_flight, 0);
        assert_eq!(stats.refused, 3);

        // With 4 jobs ahead on one worker the wait is 5 jobs: a deadline 3 jobs away is
        // refused, and told to come back after about that wait.
        let mut ahead: Vec<Pending<'_, Verification>> = (0..4)
            .map(|_| {
                Box::pin(pool.verify(secret("ABCDEFGH"), Some(stored.clone()), None))
                    as Pending<'_, Verification>
            })
            .collect();
        for call in &mut ahead {
            assert!(poll_once(call).await.is_pending());
        }
        let three_jobs_away = Instant::now() + average * 3;
        let mut late: Pending<'_, Verification> =
            Box::pin(pool.verify(secret("ABCDEFGH"), None, Some(three_jobs_away)));
        match poll_once(&mut late).await {
            Poll::Ready(Err(PoolError::Busy { retry_after })) => {
                assert!(retry_after >= (average * 5).max(MIN_RETRY_AFTER));
            }
            other => panic!("expected busy at once, got {other:?}"),
        }
        assert_eq!(pool.stats().in_flight, 4);

        drop(permit);
        for call in ahead {
            assert!(call.await.unwrap().matched());
        }
        // Only the 4 admitted jobs ever reached the worker.
        assert_eq!(taken.load(Ordering::Relaxed), 4);
        let stats = pool.stats();
        assert_eq!(stats.completed, 4);
        assert_eq!(stats.refused, 4);
        assert_eq!(stats.in_flight, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_with_a_generous_deadline_complete() {
        let pool = HashingPool::new(hasher(), 2).unwrap();
        let deadline = Some(Instant::now() + Duration::from_secs(600));
        let stored = pool.hash(secret("ABCDEFGH"), deadline).await.unwrap();
        let (right, wrong) = tokio::join!(
            pool.verify(secret("ABCDEFGH"), Some(stored.clone()), deadline),
            pool.verify(secret("HGFEDCBA"), Some(stored), deadline),
        );
        assert!(right.unwrap().matched());
        assert_eq!(wrong.unwrap(), Verification::Mismatch);
        assert_eq!(pool.stats().refused, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_hundred_concurrent_verifications_all_complete() {
        // Room for all of them: the default (2 × 64) would refuse some.
        let pool = HashingPool::with_limit(hasher(), 2, 256).unwrap();
        let stored = pool.hash(secret("ABCDEFGH"), None).await.unwrap();
        let calls = (0..200).map(|n| {
            let pool = pool.clone();
            let stored = stored.clone();
            tokio::spawn(async move {
                let outcome = match n % 3 {
                    0 => pool.verify(secret("ABCDEFGH"), Some(stored), None).await,
                    1 => pool.verify(secret("ABCDEFGJ"), Some(stored), None).await,
                    _ => pool.verify(secret("ABCDEFGH"), None, None).await,
                };
                (n, outcome)
            })
        });
        let outcomes = futures::future::join_all(calls).await;
        assert_eq!(outcomes.len(), 200);
        for outcome in outcomes {
            let (n, verification) = outcome.unwrap();
            let expected = if n % 3 == 0 {
                Verification::Match {
                    needs_rehash: false,
                }
            } else {
                Verification::Mismatch
            };
            assert_eq!(verification.unwrap(), expected, "call {n}");
        }
        let stats = pool.stats();
        assert_eq!(stats.in_flight, 0);
        assert_eq!(stats.completed, 201);
        assert_eq!(stats.refused, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_is_bounded_whatever_the_deadline() {
        let (permit, hook) = permits();
        let (hook, mut taken) = announced(hook);
        let pool = pool_with_hook(2, 2 * JOBS_PER_WORKER, hook);
        let hasher = hasher();
        let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).unwrap();
        let stored = hasher.hash("ABCDEFGH", &mut rng).unwrap();

        // 128 calls fill the pool; both workers take one and are held by the permit hook,
        // so 126 wait in the queue.
        let mut calls: Vec<Pending<'_, Verification>> = (0..2 * JOBS_PER_WORKER)
            .map(|n| {
                let attempt = if n % 2 == 0 { "ABCDEFGH" } else { "ABCDEFGJ" };
                Box::pin(pool.verify(secret(attempt), Some(stored.clone()), None))
                    as Pending<'_, Verification>
            })
            .collect();
        for call in &mut calls {
            assert!(poll_once(call).await.is_pending());
        }
        taken.recv().await.unwrap();
        taken.recv().await.unwrap();
        assert_eq!(pool.stats().in_flight, 2 * JOBS_PER_WORKER);

        // One more is refused at once, with no deadline at all.
        let mut extra: Pending<'_, Verification> =
            Box::pin(pool.verify(secret("ABCDEFGH"), None, None));
        match poll_once(&mut extra).await {
            Poll::Ready(Err(PoolError::Busy { retry_after })) => {
                assert!(retry_after >= MIN_RETRY_AFTER);
            }
            other => panic!("expected busy at once, got {other:?}"),
        }
        assert_eq!(pool.stats().refused, 1);
        assert_eq!(pool.stats().in_flight, 2 * JOBS_PER_WORKER);

        drop(permit);
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().matched(), n % 2 == 0, "call {n}");
        }
        assert_eq!(pool.stats().in_flight, 0);
        assert_eq!(pool.stats().completed, 2 * 64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_does_not_break_later_jobs() {
        let (permit, hook) = permits();
        let pool = pool_with_hook(1, 64, hook);

        let mut first: Pending<'_, PinHash> = Box::pin(pool.hash(secret("FIRST123"), None));
        assert!(poll_once(&mut first).await.is_pending());
        let mut dropped: Pending<'_, PinHash> = Box::pin(pool.hash(secret("GONE1234"), None));
        assert!(poll_once(&mut dropped).await.is_pending());
        assert_eq!(pool.stats().in_flight, 2);
        drop(dropped);

        drop(permit);
        let first = first.await.unwrap();
        let later = pool
            .verify(secret("FIRST123"), Some(first), None)
            .await
            .unwrap();
        assert!(later.matched());

        // One worker, in order: the abandoned job was taken before the later one.
        let stats = pool.stats();
        assert_eq!(stats.in_flight, 0);
        assert_eq!(stats.abandoned, 1);
        assert_eq!(stats.completed, 2);
    }

    #[test]
    fn a_job_whose_deadline_passed_in_the_queue_is_answered_busy_unrun() {
        let hasher = hasher();
        let pool = HashingPool::with_limit(hasher.clone(), 1, 8).unwrap();
        let shared = Arc::clone(&pool.shared);
        let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).unwrap();

        // What `submit` would have queued, taken by a worker at or after its deadline.
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        let (reply, mut answer) = oneshot::channel();
        let job = Job {
            task: Task::Verify {
                secret: secret("ABCDEFGH"),
                stored: None,
                reply,
            },
            deadline: Some(Instant::now()),
            ticket: Ticket(Arc::clone(&shared)),
            queued_at: Instant::now(),
        };
        job.run(&hasher, &mut rng, &mut HashMemory::default(), &shared);

        match answer.try_recv().unwrap() {
            Err(PoolError::Busy { retry_after }) => assert!(retry_after >= MIN_RETRY_AFTER),
            other => panic!("expected busy, got {other:?}"),
        }
        let stats = pool.stats();
        assert_eq!(stats.completed, 0);
        assert_eq!(stats.refused, 1);
        assert_eq!(stats.in_flight, 0);
    }

    #[test]
    fn pool_errors_become_service_errors_without_secrets() {
        let retry_after = Duration::from_millis(120);
        assert!(matches!(
            ServiceError::from(PoolError::Busy { retry_after }),
            ServiceError::Busy { retry_after: r } if r == retry_after
        ));
        assert!(matches!(
            ServiceError::from(PoolError::Stopped),
            ServiceError::Internal(_)
        ));
        let ServiceError::Internal(cause) =
            ServiceError::from(PoolError::Hash(HashError::Params("m too small".into())))
        else {
            panic!("expected internal");
        };
        assert_eq!(
            format!("{cause:#}"),
            "hashing failed: argon2 parameters are invalid: m too small"
        );
        assert_eq!(
            PoolError::Busy { retry_after }.to_string(),
            "the hashing pool is busy"
        );
        assert_eq!(
            PoolError::Stopped.to_string(),
            "the hashing pool has stopped"
        );
    }
}
