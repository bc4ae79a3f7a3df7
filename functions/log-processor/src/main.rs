//! The CloudWatch Logs subscription function: decodes the raw event, runs the logsieve pipeline
//! on every batch, and sends the results through the configured sinks. All logic lives in the
//! library; this file only adapts Lambda's runtime to it.

// The SDK's nested futures (emit → PutMetricData → retries) exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DecodeError, DecodeLimits};
use logsieve::metrics::{encode_emf, MetricDatum};
use logsieve::pipeline::{Output, Pipeline};

/// mimalloc: fewer instructions per event than glibc malloc on the pipeline's many small
/// allocations (see the README's performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use logsieve::sink::{is_own_log_group, EmitReport};
use logsieve::stats::Counters;
use logsieve_aws::{Deadline, Emitter};

/// `1` makes the function print each invocation's Output as JSON instead of calling any sink.
const ENV_DRY_RUN: &str = "LOGSIEVE_DRY_RUN";
/// `1` also writes the summary's numbers as EMF metrics in `SELF_NAMESPACE` (opt-in: each one is
/// a billed custom metric).
const ENV_SELF_METRICS: &str = "LOGSIEVE_SELF_METRICS";
const SELF_NAMESPACE: &str = "Logsieve/Processor";

/// Everything kept warm across invocations of one execution environment.
struct State {
    /// The sequential runtime never contends for it; the lock is only for `Send + Sync`.
    pipeline: Mutex<Pipeline>,
    limits: DecodeLimits,
    own_log_group: Option<String>,
    /// `FunctionName` of the self metrics, when they are on.
    self_metrics: Option<String>,
    /// `None` in dry-run mode.
    emitter: Option<Emitter>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = CheckedConfig::from_env().map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let dry_run = flag(ENV_DRY_RUN);
    let emitter = if dry_run {
        None
    } else {
        Some(Emitter::load(config.metrics.sink, config.traces.sink).await)
    };
    let state = Arc::new(State {
        limits: config.decode,
        pipeline: Mutex::new(Pipeline::new(config).with_records(dry_run)),
        own_log_group: std::env::var("AWS_LAMBDA_LOG_GROUP_NAME").ok(),
        self_metrics: flag(ENV_SELF_METRICS).then(|| {
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "unknown".into())
        }),
        emitter,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let state = Arc::clone(&state);
        async move { handle(&state, event).await }
    }))
    .await
}

async fn handle(state: &State, event: LambdaEvent<Box<RawValue>>) -> Result<(), Diagnostic> {
    let started = Instant::now();
    let (payload, context) = event.into_parts();
    let (output, mut counters) = run_pipeline(state, payload.get().as_bytes()).map_err(|e| {
        tracing::error!(error = %e, "undecodable event; Lambda will retry it");
        // A named errorType (not the Rust type name) in Lambda's log line and in the on-failure
        // destination's record.
        Diagnostic {
            error_type: "Logsieve.UndecodableEvent".into(),
            error_message: e.to_string(),
        }
    })?;

    let mut emf = Vec::new();
    let report = match &state.emitter {
        Some(emitter) => {
            emitter
                .emit(
                    &output,
                    Deadline::for_invocation(Some(context.deadline)),
                    &mut emf,
                )
                .await
        }
        None => {
            // Dry run. Output holds only JSON-representable values; an empty line would be the
            // only loss.
            let json = serde_json::to_string(&output).unwrap_or_default();
            emf.extend_from_slice(json.as_bytes());
            emf.push(b'\n');
            EmitReport::default()
        }
    };
    counters.merge(&report.counters);
    let duration_ms = started.elapsed().as_millis() as u64;
    if let Some(function) = &state.self_metrics {
        let datums = self_metrics(function, &output, &report, duration_ms, now_ms());
        for line in encode_emf(&datums) {
            emf.extend_from_slice(line.as_bytes());
            emf.push(b'\n');
        }
    }
    logsieve_aws::write_stdout(&emf);
    summary(&output, &counters, &report, duration_ms);
    Ok(())
}

/// Decodes the event and runs every batch through the pipeline. An undecodable payload is an
/// error, so Lambda retries the event and its on-failure destination keeps it.
fn run_pipeline(state: &State, payload: &[u8]) -> Result<(Output, Counters), DecodeError> {
    let decoded = decode_input(payload, &state.limits)?;
    let mut counters = decoded.counters;
    let mut output = Output::default();
    // Poisoning needs a panic mid-batch, and panics abort in release; the pipeline's state (caps
    // admitted so far) stays valid either way.
    let mut pipeline = state.pipeline.lock().unwrap_or_else(|p| p.into_inner());
    for unit in decoded.units {
        for batch in unit.result? {
            if is_own_log_group(&batch.source.log_group, state.own_log_group.as_deref()) {
                counters.add("loop_guard.own_log_group_events", batch.events.len() as u64);
                continue;
            }
            output.merge(pipeline.process(batch));
        }
    }
    Ok((output, counters))
}

/// The one structured line per invocation.
fn summary(output: &Output, counters: &Counters, report: &EmitReport, duration_ms: u64) {
    let stats = &output.stats;
    let mut all = stats.counters.clone();
    all.merge(counters);
    let reasons = serde_json::to_string(&all).unwrap_or_default();
    tracing::info!(
        events_in = stats.events,
        parsed = stats.parsed,
        selected = stats.selected,
        dropped = stats.dropped,
        metrics = output.metrics.len(),
        metrics_sent = report.metrics_sent,
        metrics_emf = report.metrics_emf,
        metrics_fallback = report.metrics_fallback,
        segments = output.segments.len(),
        segments_sent = report.segments_sent,
        segments_failed = report.segments_failed,
        segments_expired = report.segments_expired,
        duration_ms,
        counters = %reasons,
        "logsieve invocation summary"
    );
}

/// The processor's own numbers as datums for the EMF encoder.
fn self_metrics(
    function: &str,
    output: &Output,
    report: &EmitReport,
    duration_ms: u64,
    now_ms: i64,
) -> Vec<MetricDatum> {
    let stats = &output.stats;
    let mut dimensions = Map::new();
    dimensions.insert("FunctionName".into(), Value::from(function));
    let datum = |name: &str, unit: &str, value: u64| MetricDatum {
        namespace: SELF_NAMESPACE.into(),
        metric_name: name.into(),
        dimensions: dimensions.clone(),
        unit: unit.into(),
        timestamp: now_ms,
        storage_resolution: 60,
        values: vec![value as f64],
        counts: vec![1.0],
    };
    vec![
        datum("EventsIn", "Count", stats.events),
        datum("EventsDropped", "Count", stats.dropped),
        datum("MetricsSent", "Count", report.metrics_sent),
        datum("MetricsFallback", "Count", report.metrics_fallback),
        datum("SegmentsSent", "Count", report.segments_sent),
        datum("SegmentsFailed", "Count", report.segments_failed),
        datum("ProcessingTime", "Milliseconds", duration_ms),
    ]
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn now_ms() -> i64 {
    logsieve_aws::now_ms() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsieve::decode::encode::subscription_event;

    fn state(own: Option<&str>) -> State {
        let config = CheckedConfig::default_config().unwrap();
        State {
            limits: config.decode,
            pipeline: Mutex::new(Pipeline::new(config)),
            own_log_group: own.map(str::to_string),
            self_metrics: None,
            emitter: None,
        }
    }

    fn event(group: &str) -> String {
        let doc = serde_json::json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
            "logStream": "s", "subscriptionFilters": ["f"],
            "logEvents": [
                {"id": "1", "timestamp": 1_764_000_000_000_i64, "message": "{\"level\":\"ERROR\"}"},
                {"id": "2", "timestamp": 1_764_000_000_001_i64, "message": "plain"}
            ]
        });
        subscription_event(&doc.to_string())
    }

    #[test]
    fn own_log_group_is_skipped_and_counted() {
        let cases = [
            ("/aws/lambda/logsieve", Some("/aws/lambda/logsieve"), 0, 2),
            ("/aws/lambda/app", Some("/aws/lambda/logsieve"), 2, 0),
            ("/aws/lambda/app", None, 2, 0),
        ];
        for (group, own, processed, skipped) in cases {
            let (out, counters) = run_pipeline(&state(own), event(group).as_bytes()).unwrap();
            assert_eq!(out.stats.events, processed, "{group}");
            assert_eq!(
                counters.get("loop_guard.own_log_group_events"),
                skipped,
                "{group}"
            );
        }
    }

    #[test]
    fn self_metrics_carry_the_summary_numbers() {
        let (output, _) = run_pipeline(&state(None), event("/aws/lambda/app").as_bytes()).unwrap();
        let report = EmitReport {
            metrics_sent: 3,
            metrics_fallback: 2,
            segments_sent: 1,
            ..EmitReport::default()
        };
        let datums = self_metrics("fn", &output, &report, 17, 1_764_000_000_000);
        let get = |name: &str| {
            let d = datums.iter().find(|d| d.metric_name == name).unwrap();
            assert_eq!(d.namespace, SELF_NAMESPACE);
            assert_eq!(d.dimensions["FunctionName"], "fn");
            d.values[0]
        };
        assert_eq!(get("EventsIn"), 2.0);
        assert_eq!(get("MetricsSent"), 3.0);
        assert_eq!(get("MetricsFallback"), 2.0);
        assert_eq!(get("SegmentsSent"), 1.0);
        assert_eq!(get("ProcessingTime"), 17.0);
    }

    #[test]
    fn undecodable_payloads_fail_the_invocation() {
        let cases = [
            "{}",
            "{\"awslogs\":{\"data\":\"!!!\"}}",
            "{\"awslogs\":{\"data\":\"aGVsbG8=\"}}",
        ];
        for payload in cases {
            assert!(
                run_pipeline(&state(None), payload.as_bytes()).is_err(),
                "{payload}"
            );
        }
    }
}
