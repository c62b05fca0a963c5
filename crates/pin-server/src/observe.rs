//! What every call leaves behind: a server span in the caller's trace, one log line and
//! one metric point.
//!
//! [`ObserveLayer`] wraps the whole router, outside authentication. For each call it
//! - reads the W3C `traceparent` metadata and makes it the parent of the call's span
//!   (named `package.Service/Method`, kind server, with OpenTelemetry's RPC attributes
//!   `rpc.system`, `rpc.service`, `rpc.method` and, at the end, `rpc.grpc.status_code`);
//! - watches the response body to its end, so the status is the call's final one even for
//!   streams (whose status travels in the trailers) and the duration covers the whole
//!   answer; a call whose answer is dropped unfinished (the client went away) ends as
//!   `CANCELLED`;
//! - then writes the call's log line (RPC, caller, code, duration, trace id) and records
//!   `rpc.server.call.duration`.
//!
//! Nothing of a request's or an answer's content is read here: no secret can reach a span,
//! a metric or this log line. Health checks are not observed (probes would drown the log).
//! Paths outside the contract are reported as `_OTHER`, so a client cannot create metric
//! series at will.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use http_body::{Body as HttpBody, Frame, SizeHint};
use opentelemetry::{
    propagation::Extractor,
    trace::{TraceContextExt, TraceId},
};
use tonic::Code;
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{auth, metrics, telemetry::rpc_attributes};

/// The name of a call's span (exported under `package.Service/Method`).
pub const CALL_SPAN: &str = "rpc";

/// The tower layer that observes every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService { inner }
    }
}

/// The service produced by [`ObserveLayer`].
#[derive(Debug, Clone)]
pub struct ObserveService<S> {
    inner: S,
}

/// The service and method of a path of the contract (or of reflection); `_OTHER` for
/// anything else.
fn rpc_name(path: &str) -> (&str, &str) {
    let known = auth::rule(path).is_some() || path.starts_with("/grpc.reflection.");
    match path.strip_prefix('/').and_then(|name| name.split_once('/')) {
        Some(parts) if known => parts,
        _ => ("_OTHER", "_OTHER"),
    }
}

/// Reads trace context from the call's metadata.
struct Metadata<'a>(&'a http::HeaderMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

impl<S, B> tower::Service<http::Request<B>> for ObserveService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if path.starts_with("/grpc.health.v1.Health/") {
            return self.inner.call(request).boxed();
        }
        let (service, method) = rpc_name(path);
        let (service, method) = (service.to_owned(), method.to_owned());
        let name = format!("{service}/{method}");
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&Metadata(request.headers()))
        });
        // `caller` is filled in by authentication; the `otel.*` fields name the exported
        // span and are left out of log lines.
        let span = tracing::info_span!(
            "rpc",
            rpc = %name,
            caller = Empty,
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = Empty,
        );
        // Without a trace exporter there is no span to parent; the log line still names
        // the caller's trace.
        let _ = span.set_parent(parent.clone());
        span.set_attribute("rpc.system", "grpc");
        span.set_attribute("rpc.service", service.clone());
        span.set_attribute("rpc.method", method.clone());
        let trace_id = Some(span.context().span().span_context().trace_id())
            .filter(|id| *id != TraceId::INVALID)
            .or_else(|| {
                Some(parent.span().span_context().trace_id()).filter(|id| *id != TraceId::INVALID)
            });
        let record = Record {
            span: span.clone(),
            started: Instant::now(),
            service,
            method,
            trace_id,
            code: None,
        };
        let answer = span.in_scope(|| self.inner.call(request));
        answer
            .instrument(span)
            .map(move |answer| {
                answer.map(|response| {
                    let (parts, body) = response.into_parts();
                    let mut record = record;
                    // A status in the headers is the whole answer's (trailers-only).
                    record.code = status_in(&parts.headers);
                    let body = ObservedBody {
                        inner: body,
                        record: Some(record),
                    };
                    http::Response::from_parts(parts, tonic::body::Body::new(body))
                })
            })
            .boxed()
    }
}

fn status_in(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(Code::from)
}

/// What is known of a call until its answer ends.
#[derive(Debug)]
struct Record {
    span: Span,
    started: Instant,
    service: String,
    method: String,
    trace_id: Option<TraceId>,
    /// The status sent in the headers, if any.
    code: Option<Code>,
}

impl Record {
    fn finish(self, code: Code) {
        let elapsed = self.started.elapsed();
        let Record {
            span,
            service,
            method,
            trace_id,
            ..
        } = self;
        span.set_attribute("rpc.grpc.status_code", i64::from(code as i32));
        // OpenTelemetry's RPC conventions: these codes are the server's failures.
        if matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ) {
            span.record("otel.status_code", "ERROR");
        }
        metrics::get().calls.record(
            elapsed.as_secs_f64(),
            &rpc_attributes(&service, &method, code),
        );
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        match trace_id {
            Some(trace_id) => tracing::info!(
                parent: &span,
                code = ?code,
                duration_ms,
                trace_id = %trace_id,
                "call"
            ),
            None => tracing::info!(parent: &span, code = ?code, duration_ms, "call"),
        }
    }
}

/// A response body that reports its call when it ends.
struct ObservedBody {
    inner: tonic::body::Body,
    record: Option<Record>,
}

impl HttpBody for ObservedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_in)
                    && let Some(record) = self.record.take()
                {
                    record.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(record) = self.record.take() {
                    record.finish(Code::Internal);
                }
            }
            Poll::Ready(None) => {
                if let Some(record) = self.record.take() {
                    let code = record.code.unwrap_or(Code::Ok);
                    record.finish(code);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        // A trailers-only answer may be sent without polling its empty body; any other
        // answer dropped before its end was abandoned by the client.
        if let Some(record) = self.record.take() {
            let code = record.code.unwrap_or(Code::Cancelled);
            record.finish(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_the_contract_name_their_rpc() {
        assert_eq!(
            rpc_name("/inps.pin.v1.AuthenticationService/Authenticate"),
            ("inps.pin.v1.AuthenticationService", "Authenticate")
        );
        assert_eq!(
            rpc_name("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            (
                "grpc.reflection.v1.ServerReflection",
                "ServerReflectionInfo"
            )
        );
        assert_eq!(
            rpc_name("/inps.pin.v1.AuthenticationService/Whatever"),
            ("_OTHER", "_OTHER")
        );
        assert_eq!(rpc_name("/x"), ("_OTHER", "_OTHER"));
    }
}
