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

use std::task::{Context, Poll};

use futures::{FutureExt as _, future::BoxFuture};
use tracing::Instrument as _;

use crate::error::ServiceError;

/// Runs each call on a task of its own (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct DetachLayer;

impl<S> tower::Layer<S> for DetachLayer {
    type Service = Detach<S>;

    fn layer(&self, inner: S) -> Detach<S> {
        Detach { inner }
    }
}

/// The service produced by [`DetachLayer`].
#[derive(Debug, Clone)]
pub struct Detach<S> {
    inner: S,
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
        // The service that was polled ready takes the call; a clone stays for the next.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        // The call's span (entered by `crate::observe` around this) follows the task.
        let task = tokio::spawn(async move { ready.call(request).await }.in_current_span());
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
