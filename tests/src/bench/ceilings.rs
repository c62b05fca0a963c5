//! The ceilings each scenario is compared with, measured in the same run on the same
//! machine: what no RPC can beat, so a ratio near 1 means the server adds little.
//!
//! - argon2id verifications and hashes per second with the server's parameters, on as many
//!   threads as the server's hashing pool has, each keeping its working memory as the
//!   pool's threads do (`PinHasher::verify_in` / `hash_in` with one `HashMemory` each) —
//!   measured in the bench process while the server idles;
//! - `grpc.health.v1.Health/Check` calls per second on the same server, connections and
//!   concurrency as the scenarios: the gRPC stack with no auth, no store and no hashing.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use pin_domain::{HashMemory, HashParams, PinHasher};
use rand::{SeedableRng, rngs::SmallRng};
use rand_chacha::ChaCha20Rng;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::{
    load::{self, Flow, Recorder, Stats, Workload},
    target::Target,
};

/// The ceilings of a run.
#[derive(Debug, Clone)]
pub struct Ceilings {
    /// argon2id verifications per second on the pool's thread count: the best of
    /// [`Ceilings::argon2_verify_samples`].
    pub argon2_verify_rps: f64,
    /// argon2id hashes per second on the pool's thread count: the best of
    /// [`Ceilings::argon2_hash_samples`].
    pub argon2_hash_rps: f64,
    /// Each measurement of the verify rate: before the scenarios, and after them when
    /// one was compared with it. Anything else running on the machine (a build, the
    /// database) lowers one; the best is the machine's capacity.
    pub argon2_verify_samples: Vec<f64>,
    /// Each measurement of the hash rate, likewise.
    pub argon2_hash_samples: Vec<f64>,
    /// Health checks per second.
    pub health_rps: f64,
    /// The health checks as measured.
    pub health: Stats,
}

/// Which argon2id operation to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argon2Op {
    /// Verify a PIN against a stored hash.
    Verify,
    /// Hash a PIN with a fresh salt.
    Hash,
}

/// Operations per second of `op` with `params` on `threads` threads for `duration`.
pub async fn argon2(
    params: HashParams,
    threads: usize,
    duration: Duration,
    op: Argon2Op,
) -> anyhow::Result<f64> {
    tokio::task::spawn_blocking(move || argon2_blocking(params, threads, duration, op))
        .await
        .context("the argon2 measurement panicked")?
}

fn argon2_blocking(
    params: HashParams,
    threads: usize,
    duration: Duration,
    op: Argon2Op,
) -> anyhow::Result<f64> {
    let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .context("the operating system gave no randomness")?;
    let hasher = PinHasher::new(params, &mut rng)?;
    let stored = hasher.hash("BENCHPIN", &mut rng)?;
    let started = Instant::now();
    let deadline = started + duration;
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|thread| {
                let (hasher, stored) = (hasher.clone(), stored.clone());
                scope.spawn(move || {
                    let mut memory = HashMemory::default();
                    let mut rng = ChaCha20Rng::seed_from_u64(thread as u64);
                    let mut done = 0u64;
                    // At least one, so a short duration still measures something.
                    while done == 0 || Instant::now() < deadline {
                        match op {
                            Argon2Op::Verify => {
                                let _ = hasher.verify_in("BENCHPIN", &stored, &mut memory);
                            }
                            Argon2Op::Hash => {
                                let _ = hasher.hash_in("BENCHPIN", &mut rng, &mut memory);
                            }
                        }
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or(0))
            .sum::<u64>()
    });
    Ok(load::per_second(counts, started.elapsed()))
}

/// `Health/Check` for the whole server, expected `SERVING`.
#[derive(Debug)]
pub struct HealthCheck {
    target: Arc<Target>,
}

impl HealthCheck {
    /// Checks on `target`'s connections.
    pub fn new(target: Arc<Target>) -> HealthCheck {
        HealthCheck { target }
    }
}

impl Workload for HealthCheck {
    async fn step(&self, worker: usize, _: &mut SmallRng, recorder: &mut Recorder) -> Flow {
        let mut health = HealthClient::new(self.target.channel(worker));
        let answer = recorder
            .call(health.check(HealthCheckRequest {
                service: String::new(),
            }))
            .await;
        if answer.is_some_and(|answer| answer.status() != ServingStatus::Serving) {
            recorder.unexpected();
        }
        Flow::Continue
    }
}

/// Measures every ceiling: argon2id first, while the server idles, then health checks.
pub async fn measure(
    target: &Arc<Target>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Ceilings> {
    let threads = target.hashing_workers;
    let argon2_verify_rps = argon2(target.params, threads, duration, Argon2Op::Verify).await?;
    let argon2_hash_rps = argon2(target.params, threads, duration, Argon2Op::Hash).await?;
    let health = load::closed(
        Arc::new(HealthCheck::new(target.clone())),
        concurrency,
        duration,
    )
    .await;
    Ok(Ceilings {
        argon2_verify_rps,
        argon2_hash_rps,
        argon2_verify_samples: vec![argon2_verify_rps],
        argon2_hash_samples: vec![argon2_hash_rps],
        health_rps: health.rps(),
        health,
    })
}

impl Ceilings {
    /// Measures the argon2id rates again (the server idle between scenarios) and keeps
    /// the best of every measurement.
    pub async fn measure_argon2_again(
        &mut self,
        target: &Target,
        duration: Duration,
    ) -> anyhow::Result<()> {
        let threads = target.hashing_workers;
        let verify = argon2(target.params, threads, duration, Argon2Op::Verify).await?;
        let hash = argon2(target.params, threads, duration, Argon2Op::Hash).await?;
        self.argon2_verify_samples.push(verify);
        self.argon2_hash_samples.push(hash);
        self.argon2_verify_rps = self.argon2_verify_rps.max(verify);
        self.argon2_hash_rps = self.argon2_hash_rps.max(hash);
        Ok(())
    }

    /// The ceiling called `name` (a key of the report's `ceilings` object).
    pub fn by_name(&self, name: &str) -> Option<f64> {
        match name {
            "argon2_verify_rps" => Some(self.argon2_verify_rps),
            "argon2_hash_rps" => Some(self.argon2_hash_rps),
            "health_rps" => Some(self.health_rps),
            _ => None,
        }
    }
}
