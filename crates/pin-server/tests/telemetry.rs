//! Traces and metrics over OTLP, seen by a collector: an OTLP/gRPC receiver runs in the
//! test, and a real `pin-server` process exports to it through the standard `OTEL_*`
//! variables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    metrics::v1::metric::Data,
    trace::v1::{Span, span::SpanKind},
};
use pin_proto::v1::{
    AuthenticateRequest, authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
};
use pin_store::testing::{Backend, TestDatabase};
use support::{MARIO, authed, eventually, first_access, start_logged};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// Everything the receiver was sent.
#[derive(Default, Clone)]
struct Received {
    spans: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.spans.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Received {
    fn spans(&self) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .flat_map(|request| &request.resource_spans)
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| scope.spans.clone())
            .collect()
    }

    /// Everything received, as text, to search for secrets.
    fn everything(&self) -> String {
        format!(
            "{:?}{:?}",
            self.spans.lock().unwrap(),
            self.metrics.lock().unwrap()
        )
    }
}

async fn receiver() -> (SocketAddr, Received) {
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(received.clone()))
        .add_service(MetricsServiceServer::new(received.clone()));
    tokio::spawn(server.serve_with_incoming(TcpListenerStream::new(listener)));
    (address, received)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn string(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::StringValue(text)) => Some(text),
        _ => None,
    }
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::IntValue(n)) => Some(*n),
        _ => None,
    }
}

#[tokio::test]
async fn a_call_with_a_traceparent_is_a_server_span_in_that_trace_and_no_pin_leaves() {
    let (collector, received) = receiver().await;
    let database = TestDatabase::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let endpoint = format!("http://{collector}");
    let replica = start_logged(
        &database.url,
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "pin-telemetry-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("RUST_LOG", "info"),
        ],
        Some(&log),
    )
    .await;
    let channel = replica.channel();
    let pin = first_access(&channel).await;
    // A guess in the PIN alphabet that is not the PIN.
    let wrong: String = pin.chars().rev().collect();
    assert_ne!(wrong, pin);

    let mut auth = AuthenticationServiceClient::new(channel.clone());
    let mut traced = authed(AuthenticateRequest {
        codice_fiscale: MARIO.into(),
        pin: pin.clone(),
    });
    traced.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    let answer = auth.authenticate(traced).await.unwrap().into_inner();
    assert!(matches!(answer.result, Some(Outcome::Session(_))));
    let refused = auth
        .authenticate(authed(AuthenticateRequest {
            codice_fiscale: MARIO.into(),
            pin: wrong.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let trace_id = hex(TRACE_ID);
    let server = eventually(Duration::from_secs(20), "the server span", async || {
        received.spans().into_iter().find(|span| {
            span.trace_id == trace_id
                && span.name == "inps.pin.v1.AuthenticationService/Authenticate"
        })
    })
    .await;
    assert_eq!(
        server.parent_span_id,
        hex(PARENT_SPAN_ID),
        "parented by the caller"
    );
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        string(attribute(&server.attributes, "rpc.system")),
        Some("grpc")
    );
    assert_eq!(
        string(attribute(&server.attributes, "rpc.service")),
        Some("inps.pin.v1.AuthenticationService")
    );
    assert_eq!(
        string(attribute(&server.attributes, "rpc.method")),
        Some("Authenticate")
    );
    assert_eq!(
        int(attribute(&server.attributes, "rpc.grpc.status_code")),
        Some(0)
    );
    // Hashing and database work are its children.
    let children = eventually(Duration::from_secs(10), "the child spans", async || {
        let children: Vec<String> = received
            .spans()
            .into_iter()
            .filter(|span| span.trace_id == trace_id && span.parent_span_id == server.span_id)
            .map(|span| span.name)
            .collect();
        (children.iter().any(|name| name == "argon2id verify")
            && children.iter().any(|name| name == "db transaction"))
        .then_some(children)
    })
    .await;
    assert!(
        children
            .iter()
            .any(|name| name == "credentials.find_current"),
        "{children:?}"
    );

    // Background work (here the gauges' sampler, which read the store at start-up) makes
    // no trace of its own: every exported trace starts at a call.
    let roots: Vec<String> = received
        .spans()
        .into_iter()
        .filter(|span| span.parent_span_id.is_empty())
        .map(|span| span.name)
        .collect();
    assert!(
        roots.iter().all(|name| name.contains('/')),
        "spans outside any call were exported: {roots:?}"
    );

    // A metric point of the call arrives.
    eventually(Duration::from_secs(20), "the call metric", async || {
        let metrics = received.metrics.lock().unwrap();
        metrics
            .iter()
            .flat_map(|request| &request.resource_metrics)
            .flat_map(|resource| &resource.scope_metrics)
            .flat_map(|scope| &scope.metrics)
            .filter(|metric| metric.name == "rpc.server.call.duration")
            .find_map(|metric| match &metric.data {
                Some(Data::Histogram(histogram)) => histogram
                    .data_points
                    .iter()
                    .find(|point| {
                        string(attribute(&point.attributes, "rpc.method")) == Some("Authenticate")
                            && int(attribute(&point.attributes, "rpc.grpc.status_code"))
                                == Some(tonic::Code::Unauthenticated as i64)
                    })
                    .map(|point| point.count),
                _ => None,
            })
    })
    .await;

    // The call's log line names the trace; nothing exported or logged holds a PIN.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged
            .lines()
            .any(|line| line.contains("call") && line.contains(TRACE_ID)),
        "no log line names the trace:\n{logged}"
    );
    let exported = received.everything();
    for secret in [&pin, &wrong] {
        assert!(!exported.contains(secret.as_str()), "a PIN was exported");
        assert!(!logged.contains(secret.as_str()), "a PIN was logged");
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
