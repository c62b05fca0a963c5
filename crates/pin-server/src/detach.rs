//! Handlers run to completion whatever the client does.
//!
//! tonic's server drops a call's future when the client's `grpc-timeout` expires (its
//! `GrpcTimeout` layer sits outside every layer of ours and cannot be turned off), and
//! hyper drops it when the client resets the stream or goes away. A handler dropped
//! between two statements of a transaction leaves the transaction to be rolled back
//! behind its back and the connection's state to chance; a handler dropped after its
//! commit but before its answer has done the work without saying so. Neither is a
//! state this service should reason about.
//!
//! [`DetachLayer`] runs every call as a task of its own. When the caller stops waiting,
//! the task goes on: the change commits or rolls back as the handler decides, the answer
//! is dropped, and a retry with the same request id finds the first answer. Deadlines are
//! still honoured where they matter — the hashing pool refuses work that cannot finish in
//! time ([`crate::hashing_pool`]) — so a detached call costs at most what it was admitted
//! to cost.
//!
//! Since a call outlives its client, the number of calls running is bounded
//! (`lifecycle.max_calls_in_flight`): one more is answered `RESOURCE_EXHAUSTED` at once,
//! with retry info, before any work. Health checks are never refused here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{FutureExt as _, future::BoxFuture};
use tracing::Instrument as _;

use crate::error::ServiceError;

/// How long a caller refused for too many calls in flight is asked to wait.
const RETRY_AFTER: Duration = Duration::from_millis(50);

/// Runs each call on a task of its own, at most `limit` at once (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct DetachLayer {
    running: Arc<AtomicUsize>,
    limit: usize,
}

impl DetachLayer {
    /// A layer running at most `limit` calls at once.
    pub fn new(limit: usize) -> Self {
        DetachLayer {
            running: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }
}

impl<S> tower::Layer<S> for DetachLayer {
    type Service = Detach<S>;

    fn layer(&self, inner: S) -> Detach<S> {
        Detach {
            inner,
            running: Arc::clone(&self.running),
            limit: self.limit,
        }
    }
}

/// The service produced by [`DetachLayer`].
#[derive(Debug, Clone)]
pub struct Detach<S> {
    inner: S,
    running: Arc<AtomicUsize>,
    limit: usize,
}

/// A running call's place; given back when the task ends, however it ends.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B> tower::Service<http::Request<B>> for Detach<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let health = request.uri().path().starts_with("/grpc.health.v1.Health/");
        let place = Running(Arc::clone(&self.running));
        if self.running.fetch_add(1, Ordering::AcqRel) >= self.limit && !health {
            drop(place);
            let status = tonic::Status::from(ServiceError::Busy {
                retry_after: RETRY_AFTER,
            });
            return async move { Ok(status.into_http()) }.boxed();
        }
        // The service that was polled ready takes the call; a clone stays for the next.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        // The call's span (entered by `crate::observe` around this) follows the task.
        let task = tokio::spawn(
            async move {
                let answer = ready.call(request).await;
                drop(place);
                answer
            }
            .in_current_span(),
        );
        async move {
            match task.await {
                Ok(answer) => answer,
                Err(failure) => {
                    // A panic in a handler: logged once, answered as an internal error.
                    let cause = if failure.is_panic() {
                        "a handler panicked"
                    } else {
                        "a handler's task was cancelled"
                    };
                    let status =
                        tonic::Status::from(ServiceError::Internal(anyhow::anyhow!(cause)));
                    Ok(status.into_http())
                }
            }
        }
        .boxed()
    }
}
