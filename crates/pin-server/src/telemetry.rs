//! Logs, traces and metrics.
//!
//! Logs go to standard output through `tracing`: text for people, JSON for log collectors.
//! Traces and metrics leave over OTLP/gRPC when the standard OpenTelemetry variables ask
//! for it — `OTEL_EXPORTER_OTLP_ENDPOINT` (or the `_TRACES_`/`_METRICS_` variants) — and
//! are off otherwise. The SDK reads the rest of the standard variables itself
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, …); `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`
//! and `OTEL_METRICS_EXPORTER=none` switch exports off.
//!
//! Trace context arrives in the W3C `traceparent` metadata of each call and becomes the
//! parent of the call's server span ([`crate::auth`]); the spans of database work and
//! argon2id hashing are its children.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context as _, bail};
use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator,
    trace::SdkTracerProvider,
};
use tracing::field::{Field, Visit};
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    field::{RecordFields, VisitOutput},
    filter::{self, LevelFilter},
    fmt::{
        self, FormatFields, FormattedFields,
        format::{DefaultVisitor, Writer},
    },
    prelude::*,
};

use crate::config::{LogConfig, LogFormat};

/// The name the service reports when `OTEL_SERVICE_NAME` does not give one.
const SERVICE_NAME: &str = "pin-server";

/// How long the exit waits for the last spans and metric points to leave.
pub const FLUSH_BOUND: Duration = Duration::from_secs(3);

/// The exporters installed by [`init`]; flush them with [`Telemetry::shutdown`] before the
/// process exits, or the last spans and metric points are lost.
#[derive(Debug, Default)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Whether traces are exported.
    pub fn exports_traces(&self) -> bool {
        self.traces.is_some()
    }

    /// Whether metrics are exported.
    pub fn exports_metrics(&self) -> bool {
        self.metrics.is_some()
    }

    /// Exports what is still buffered and stops the exporters, waiting at most `bound`.
    /// Must run inside the Tokio runtime (the OTLP client lives there).
    pub async fn shutdown(self, bound: Duration) {
        if self.traces.is_none() && self.metrics.is_none() {
            return;
        }
        let flushed = tokio::task::spawn_blocking(move || {
            if let Some(traces) = self.traces
                && let Err(error) = traces.shutdown()
            {
                tracing::warn!(%error, "the last spans could not be exported");
            }
            if let Some(metrics) = self.metrics
                && let Err(error) = metrics.shutdown()
            {
                tracing::warn!(%error, "the last metric points could not be exported");
            }
        });
        if tokio::time::timeout(bound, flushed).await.is_err() {
            tracing::warn!(
                ?bound,
                "the telemetry exporters did not stop in time; the last data is lost"
            );
        }
    }
}

/// Which OTLP exports the environment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exports {
    /// Traces over OTLP.
    pub traces: bool,
    /// Metrics over OTLP.
    pub metrics: bool,
}

impl Exports {
    /// Reads the standard OpenTelemetry variables from `env`. An export is on when an
    /// OTLP endpoint is set for it and no variable switches it off; a protocol other than
    /// gRPC is refused rather than silently ignored.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Exports> {
        let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) {
            return Ok(Exports::default());
        }
        let wanted = |signal: &str| -> anyhow::Result<bool> {
            let exporter_var = format!("OTEL_{signal}_EXPORTER");
            match set(&exporter_var).as_deref().map(str::trim) {
                None | Some("otlp") => {}
                Some("none") => return Ok(false),
                Some(other) => bail!(
                    "environment variable {exporter_var}: {other:?} is not supported (use otlp or none)"
                ),
            }
            let endpoint = set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))
                .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
            if endpoint.is_none() {
                return Ok(false);
            }
            for protocol_var in [
                format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"),
                "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            ] {
                if let Some(protocol) = set(&protocol_var) {
                    if protocol.trim() != "grpc" {
                        bail!(
                            "environment variable {protocol_var}: {protocol:?} is not supported: \
                             pin-server exports OTLP over gRPC only (use grpc)"
                        );
                    }
                    break;
                }
            }
            Ok(true)
        };
        Ok(Exports {
            traces: wanted("TRACES")?,
            metrics: wanted("METRICS")?,
        })
    }
}

/// Installs the global log subscriber, and the OTLP exporters that `exports` asks for.
/// Call it inside the Tokio runtime when exporting. A second call (as in tests) keeps the
/// first subscriber.
pub fn init(config: &LogConfig, exports: Exports) -> anyhow::Result<Telemetry> {
    // The W3C trace context is read from incoming calls even when nothing is exported, so
    // that the log line of a call names the caller's trace.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = || {
        let builder = Resource::builder();
        // `OTEL_SERVICE_NAME` wins; without it the SDK would say `unknown_service`.
        if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
            builder.build()
        } else {
            builder.with_service_name(SERVICE_NAME).build()
        }
    };
    let mut telemetry = Telemetry::default();
    if exports.traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .context("cannot set up the OTLP trace exporter")?;
        telemetry.traces = Some(
            SdkTracerProvider::builder()
                .with_resource(resource())
                .with_batch_exporter(exporter)
                .build(),
        );
    }
    if exports.metrics {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .context("cannot set up the OTLP metric exporter")?;
        let provider = SdkMeterProvider::builder()
            .with_resource(resource())
            .with_periodic_exporter(exporter)
            .build();
        opentelemetry::global::set_meter_provider(provider.clone());
        crate::metrics::exported();
        telemetry.metrics = Some(provider);
    }

    // The log filter (`RUST_LOG`, else `log.filter`) applies to the log lines only: an
    // operator quietening the logs keeps the traces.
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&config.filter))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match config.format {
        // Colours only for a terminal: a log collector would store the escape codes. The
        // `otel.*` fields steer the exported span and would only clutter a log line.
        LogFormat::Text => fmt::layer()
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .fmt_fields(WithoutOtelFields)
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_filter(filter())
            .boxed(),
    };
    // Exported: the calls' spans and what happens inside them. Store operations of the
    // background jobs (the outbox's development worker, the gauges' sampler, …) would
    // each start a trace of one span, so spans with no parent other than a call's are left
    // out.
    let traces = telemetry.traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SERVICE_NAME))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(LevelFilter::INFO)
            .with_filter(filter::dynamic_filter_fn(|metadata, context| {
                !metadata.is_span()
                    || metadata.name() == crate::observe::CALL_SPAN
                    || context.lookup_current().is_some()
            }))
    });
    let _ = Registry::default().with(logs).with(traces).try_init();
    if exports.traces || exports.metrics {
        tracing::info!(
            traces = exports.traces,
            metrics = exports.metrics,
            "exporting telemetry over OTLP"
        );
    }
    Ok(telemetry)
}

/// The text log's field formatter: tracing's default, without the `otel.*` fields (they
/// name and classify the exported span, and would only clutter a log line).
struct WithoutOtelFields;

impl<'writer> FormatFields<'writer> for WithoutOtelFields {
    fn format_fields<R: RecordFields>(
        &self,
        writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = SkipOtel(DefaultVisitor::new(writer, true));
        fields.record(&mut visitor);
        visitor.0.finish()
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        if !added.is_empty() {
            if !current.fields.is_empty() {
                current.fields.push(' ');
            }
            current.fields.push_str(&added);
        }
        Ok(())
    }
}

/// Hands every field but the `otel.*` ones to tracing's default formatting.
struct SkipOtel<'a>(DefaultVisitor<'a>);

impl SkipOtel<'_> {
    fn shown(field: &Field) -> bool {
        !field.name().starts_with("otel.")
    }
}

impl Visit for SkipOtel<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if Self::shown(field) {
            self.0.record_debug(field, value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if Self::shown(field) {
            self.0.record_str(field, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if Self::shown(field) {
            self.0.record_error(field, value);
        }
    }
}

/// The attributes every metric point of an RPC carries (OpenTelemetry's RPC conventions).
pub fn rpc_attributes(service: &str, method: &str, code: tonic::Code) -> [KeyValue; 4] {
    [
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", service.to_owned()),
        KeyValue::new("rpc.method", method.to_owned()),
        KeyValue::new("rpc.grpc.status_code", i64::from(code as i32)),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn exports(vars: &[(&str, &str)]) -> anyhow::Result<Exports> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Exports::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(exports(&[]).unwrap(), Exports::default());
        assert_eq!(
            exports(&[("OTEL_SERVICE_NAME", "pin")]).unwrap(),
            Exports::default()
        );
    }

    #[test]
    fn an_endpoint_turns_both_exports_on_and_variables_switch_them_off() {
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")];
        assert_eq!(
            exports(&on).unwrap(),
            Exports {
                traces: true,
                metrics: true
            }
        );
        let traces_only = [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4317",
            ),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ];
        assert_eq!(
            exports(&traces_only).unwrap(),
            Exports {
                traces: true,
                metrics: false
            }
        );
        let no_metrics = [on[0], ("OTEL_METRICS_EXPORTER", "none")];
        assert!(!exports(&no_metrics).unwrap().metrics);
        let disabled = [on[0], ("OTEL_SDK_DISABLED", "true")];
        assert_eq!(exports(&disabled).unwrap(), Exports::default());
    }

    #[test]
    fn an_unsupported_protocol_or_exporter_is_refused_naming_the_variable() {
        let http = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ];
        let error = exports(&http).unwrap_err().to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{error}");
        let grpc_for_traces = [
            http[0],
            http[1],
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ];
        assert!(exports(&grpc_for_traces).is_err(), "metrics still use http");
        let zipkin = [("OTEL_TRACES_EXPORTER", "zipkin")];
        let error = exports(&zipkin).unwrap_err().to_string();
        assert!(error.contains("OTEL_TRACES_EXPORTER"), "{error}");
    }

    #[test]
    fn text_logs_leave_out_the_otel_fields_and_keep_the_rest() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = Registry::default().with(
            fmt::layer()
                .with_ansi(false)
                .with_target(false)
                .fmt_fields(WithoutOtelFields)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "rpc",
                rpc = "inps.pin.v1.X/Y",
                caller = tracing::field::Empty,
                otel.name = "inps.pin.v1.X/Y",
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
            );
            span.record("caller", "portal");
            span.record("otel.status_code", "ERROR");
            tracing::info!(parent: &span, code = 16, "call");
        });
        let line = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            line.contains("rpc{rpc=\"inps.pin.v1.X/Y\" caller=\"portal\"}: call code=16"),
            "{line}"
        );
        assert!(!line.contains("otel"), "{line}");
    }
}
