//! What every Lambda function does around the pipeline: read the execution environment's
//! settings once, end each invocation the same way (send under one deadline, write the EMF lines
//! and self metrics in one piece, log one summary line) and turn a failed event into a named
//! error for Lambda. A function's `main.rs` is left with its event source and its response.

use std::time::Instant;

use lambda_runtime::Diagnostic;
use logsieve::driver::{DriveError, Driven, UnitStatus};
use logsieve::metrics::encode_emf;
use logsieve::pipeline::{Budget, Limits, SystemClock};
use logsieve::sink::EmitReport;
use logsieve::telemetry::{
    self_metric_datums, InvocationNumbers, SelfMetricsConfig, DEFAULT_SELF_NAMESPACE,
    ENV_SELF_METRICS, ENV_SELF_NAMESPACE,
};

use crate::{now_ms, write_stdout, Deadline, Emitter};

/// Set by Lambda to the function's own log group (never processed: see `logsieve::driver`).
pub const ENV_OWN_LOG_GROUP: &str = "AWS_LAMBDA_LOG_GROUP_NAME";
/// Set by Lambda to the function's name (the self metrics' dimension).
pub const ENV_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// `1` makes the subscription function print each invocation's output as JSON instead of calling
/// any sink (local runs with cargo-lambda).
pub const ENV_DRY_RUN: &str = "LOGSIEVE_DRY_RUN";

/// How many finished batches an execution environment remembers to recognise a redelivery
/// (`logsieve::dedup`); `0` turns the check off. Default [`logsieve::dedup::DEFAULT_CAPACITY`].
pub const ENV_DEDUP_BATCHES: &str = "LOGSIEVE_DEDUP_BATCHES";

/// Settings of one execution environment, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub own_log_group: Option<String>,
    /// `None` when `LOGSIEVE_SELF_METRICS` is `0` or `false`.
    pub self_metrics: Option<SelfMetricsConfig>,
    /// Finished batches remembered ([`ENV_DEDUP_BATCHES`]).
    pub dedup_batches: usize,
}

impl Environment {
    pub fn from_env() -> Environment {
        Environment::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any variable lookup (tests pass a map).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Environment {
        let off = var(ENV_SELF_METRICS)
            .is_some_and(|v| v.trim() == "0" || v.trim().eq_ignore_ascii_case("false"));
        let self_metrics = (!off).then(|| SelfMetricsConfig {
            namespace: var(ENV_SELF_NAMESPACE)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_SELF_NAMESPACE.into()),
            function_name: var(ENV_FUNCTION_NAME).unwrap_or_else(|| "unknown".into()),
        });
        // An unreadable value keeps the default: the check is a safety net, not a setting a
        // typo should turn off.
        let dedup_batches = var(ENV_DEDUP_BATCHES)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(logsieve::dedup::DEFAULT_CAPACITY);
        Environment {
            own_log_group: var(ENV_OWN_LOG_GROUP).filter(|g| !g.is_empty()),
            self_metrics,
            dedup_batches,
        }
    }
}

static CLOCK: SystemClock = SystemClock;

/// What the pipeline gets from the edge for one invocation: a CPU budget ending at the
/// deadline's processing cutoff, and "now" for PutMetricData's timestamp window.
pub fn limits(deadline: &Deadline) -> Limits<'static> {
    Limits {
        now_ms: Some(now_ms() as i64),
        budget: Some(Budget {
            deadline: deadline.processing_cutoff(),
            clock: &CLOCK,
        }),
    }
}

/// True when `name` is set to `1` or `true`.
pub fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Where an invocation's metrics and segments go.
pub enum Sinks<'a> {
    Emit(&'a Emitter),
    /// Print the whole output as one JSON line instead.
    DryRun,
    /// Nowhere (metrics and traces turned off for this function).
    Off,
}

/// Ends an invocation: sends the output under `deadline`, then [`close`].
pub async fn finish(
    env: &Environment,
    sinks: Sinks<'_>,
    driven: &Driven,
    deadline: Deadline,
    started: Instant,
) -> EmitReport {
    let mut stdout = Vec::new();
    let report = match sinks {
        Sinks::Emit(emitter) => emitter.emit(&driven.output, deadline, &mut stdout).await,
        Sinks::DryRun => {
            // Output holds only JSON-representable values; an empty line would be the only loss.
            let json = serde_json::to_string(&driven.output).unwrap_or_default();
            stdout.extend_from_slice(json.as_bytes());
            stdout.push(b'\n');
            EmitReport::default()
        }
        Sinks::Off => EmitReport::default(),
    };
    close(env, driven, report, stdout, started)
}

/// The end of every invocation, sent or not: the self metrics appended to `stdout`, written in
/// one piece (so Lambda's log capture takes them whole), and the summary line. Firehose calls
/// it directly: it sends nothing, and not referencing the sinks keeps the SDK out of its binary.
pub fn close(
    env: &Environment,
    driven: &Driven,
    report: EmitReport,
    mut stdout: Vec<u8>,
    started: Instant,
) -> EmitReport {
    let failed_units = driven.failed().count() as u64;
    let duration_ms = started.elapsed().as_millis() as u64;
    if let Some(config) = &env.self_metrics {
        let numbers = InvocationNumbers::new(&driven.output, failed_units, &report, duration_ms);
        for line in encode_emf(&self_metric_datums(config, &numbers, now_ms() as i64)) {
            stdout.extend_from_slice(line.as_bytes());
            stdout.push(b'\n');
        }
    }
    write_stdout(&stdout);
    keep_rejected(driven);
    summary(driven, failed_units, &report, duration_ms);
    report
}

/// One line per rejected Kinesis record, holding its data (redacted and bounded by the driver):
/// the record is not retried, so this line is where its bytes stay.
fn keep_rejected(driven: &Driven) {
    for unit in driven.failed() {
        let (Some(kept), UnitStatus::Failed(cause)) = (&unit.kept, &unit.status) else {
            continue;
        };
        tracing::warn!(
            record = unit.record_id.as_deref().unwrap_or_default(),
            error = %cause,
            bytes = kept.bytes,
            whole = kept.whole,
            data = %kept.data,
            "Kinesis record can never be decoded: kept here, not retried"
        );
    }
}

/// The one structured line per invocation, the same for every function.
fn summary(driven: &Driven, failed_units: u64, report: &EmitReport, duration_ms: u64) {
    let output = &driven.output;
    let stats = &output.stats;
    let mut all = stats.counters.clone();
    all.merge(&report.counters);
    let counters = serde_json::to_string(&all).unwrap_or_default();
    tracing::info!(
        events_in = stats.events,
        parsed = stats.parsed,
        selected = stats.selected,
        dropped = stats.dropped,
        units = driven.units.len(),
        failed_units,
        metrics = output.metrics.len(),
        metrics_sent = report.metrics_sent,
        metrics_emf = report.metrics_emf,
        metrics_fallback = report.metrics_fallback,
        segments = output.segments.len(),
        segments_sent = report.segments_sent,
        segments_failed = report.segments_failed,
        segments_expired = report.segments_expired,
        records_sent = report.records_sent,
        records_spilled = report.records_spilled,
        records_lost = report.records_lost,
        duration_ms,
        counters = %counters,
        "logsieve invocation summary"
    );
}

/// Lambda's error when records were neither delivered nor spilled: Lambda retries the event (and
/// its on-failure destination keeps it), so the records are not lost; the retry counts the
/// batch's metrics again, which the README's spill section weighs.
pub fn records_lost(report: &EmitReport) -> Result<(), Diagnostic> {
    if report.records_lost == 0 {
        return Ok(());
    }
    let message = format!(
        "{} records were neither delivered nor spilled",
        report.records_lost
    );
    tracing::error!(
        records = report.records_lost,
        "{message}; Lambda will retry the event"
    );
    Err(Diagnostic {
        error_type: RECORDS_LOST_ERROR.into(),
        error_message: message,
    })
}

/// The `errorType` of [`records_lost`].
pub const RECORDS_LOST_ERROR: &str = "Logsieve.RecordsNotDelivered";

/// A failed event as Lambda's error: logged, with a named `errorType` (not the Rust type name)
/// in Lambda's log line and in the on-failure destination's record. Lambda then retries it.
pub fn fail(e: &DriveError) -> Diagnostic {
    tracing::error!(error = %e, error_type = e.error_type(), "event failed; Lambda will retry it");
    Diagnostic {
        error_type: e.error_type().into(),
        error_message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_from_variables() {
        let env = |pairs: &[(&str, &str)]| {
            let map: std::collections::HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Environment::from_lookup(move |k| map.get(k).cloned())
        };
        let on = env(&[
            (ENV_FUNCTION_NAME, "f"),
            (ENV_SELF_NAMESPACE, "Team/Logsieve"),
            (ENV_OWN_LOG_GROUP, "/aws/lambda/f"),
        ]);
        assert_eq!(on.own_log_group.as_deref(), Some("/aws/lambda/f"));
        let sm = on.self_metrics.unwrap();
        assert_eq!(
            (sm.namespace.as_str(), sm.function_name.as_str()),
            ("Team/Logsieve", "f")
        );

        let default = env(&[]);
        assert_eq!(
            default.self_metrics.unwrap().namespace,
            DEFAULT_SELF_NAMESPACE
        );
        assert_eq!(default.own_log_group, None);
        assert_eq!(default.dedup_batches, logsieve::dedup::DEFAULT_CAPACITY);
        assert_eq!(env(&[(ENV_DEDUP_BATCHES, "0")]).dedup_batches, 0);
        assert_eq!(env(&[(ENV_DEDUP_BATCHES, " 16 ")]).dedup_batches, 16);
        assert_eq!(
            env(&[(ENV_DEDUP_BATCHES, "lots")]).dedup_batches,
            logsieve::dedup::DEFAULT_CAPACITY
        );
        for off in ["0", "false", "FALSE"] {
            assert_eq!(env(&[(ENV_SELF_METRICS, off)]).self_metrics, None, "{off}");
        }
        assert!(env(&[(ENV_SELF_METRICS, "1")]).self_metrics.is_some());
    }
}
