//! `grpc.health.v1.Health` as tonic-health serves it, except that `Watch` streams end when
//! the server stops: an open watch must not hold a replica's shutdown up to its bound.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::{
    pb::{HealthCheckRequest, HealthCheckResponse, health_server::Health},
    server::{HealthReporter, HealthService},
};

/// The health service over `reporter`'s statuses; its watches end when `end` turns true.
#[derive(Debug)]
pub struct EndingHealth {
    inner: HealthService,
    end: watch::Receiver<bool>,
}

impl EndingHealth {
    /// The service.
    pub fn new(reporter: HealthReporter, end: watch::Receiver<bool>) -> Self {
        Self {
            inner: HealthService::from_health_reporter(reporter),
            end,
        }
    }
}

#[tonic::async_trait]
impl Health for EndingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let statuses = self.inner.watch(request).await?.into_inner();
        let mut end = self.end.clone();
        let ended = async move {
            let _ = end.wait_for(|ended| *ended).await;
        };
        Ok(Response::new(Box::pin(statuses.take_until(ended))))
    }
}
