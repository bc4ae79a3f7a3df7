//! The processor's own metrics: one definition (name, unit, meaning) that every function emits
//! the same way, that the templates' alarms and dashboards may name (a test holds them to it),
//! and that the README documents. Built as ordinary datums for the EMF encoder, so they cost no
//! API call: CloudWatch extracts them from the function's own log group.

use serde_json::{Map, Value};

use crate::metrics::{MetricDatum, Resolution, Unit};
use crate::pipeline::Output;
use crate::sink::EmitReport;

/// Namespace when `LOGSIEVE_SELF_NAMESPACE` is unset; the templates' `ProcessorNamespace`
/// parameter defaults to the same.
pub const DEFAULT_SELF_NAMESPACE: &str = "Logsieve/Processor";
/// Environment variable naming the namespace (the templates set it from `ProcessorNamespace`).
pub const ENV_SELF_NAMESPACE: &str = "LOGSIEVE_SELF_NAMESPACE";
/// Environment variable that turns the self metrics off (`0` or `false`); they are on by default.
pub const ENV_SELF_METRICS: &str = "LOGSIEVE_SELF_METRICS";
/// The one dimension of every self metric: the function's name.
pub const SELF_DIMENSION: &str = "FunctionName";

/// One of the processor's own metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfMetric {
    pub name: &'static str,
    pub unit: Unit,
    pub meaning: &'static str,
}

pub const EVENTS_IN: SelfMetric = SelfMetric {
    name: "EventsIn",
    unit: Unit::Count,
    meaning: "Log events decoded from the invocation's payload.",
};
pub const EVENTS_DROPPED: SelfMetric = SelfMetric {
    name: "EventsDropped",
    unit: Unit::Count,
    meaning:
        "Events skipped or not output, for any reason (the summary line's counters say which).",
};
pub const DECODE_FAILURES: SelfMetric = SelfMetric {
    name: "DecodeFailures",
    unit: Unit::Count,
    meaning: "Kinesis or Firehose records that can never be decoded (Firehose: `ProcessingFailed`; Kinesis: kept in the log, not retried).",
};
pub const METRICS_SENT: SelfMetric = SelfMetric {
    name: "MetricsSent",
    unit: Unit::Count,
    meaning: "Datums PutMetricData accepted.",
};
pub const SEGMENTS_SENT: SelfMetric = SelfMetric {
    name: "SegmentsSent",
    unit: Unit::Count,
    meaning: "Segment documents X-Ray accepted.",
};
pub const SINK_FALLBACKS: SelfMetric = SelfMetric {
    name: "SinkFallbacks",
    unit: Unit::Count,
    meaning: "Data that did not go the normal way: datums written as EMF because PutMetricData \
              failed or the deadline came, plus segments X-Ray did not take. Non-zero means a \
              sink is failing (throttling, permissions, limits, an unreachable endpoint).",
};
pub const RECORDS_SENT: SelfMetric = SelfMetric {
    name: "RecordsSent",
    unit: Unit::Count,
    meaning: "Records a records sink (OTLP, Firehose, S3) accepted, summed over the sinks.",
};
pub const RECORDS_SPILLED: SelfMetric = SelfMetric {
    name: "RecordsSpilled",
    unit: Unit::Count,
    meaning:
        "Records written to the spill bucket because a records sink did not take them in \
              time (`logsieve redrive` sends them again). Non-zero means a records sink is failing.",
};
pub const RECORDS_LOST: SelfMetric = SelfMetric {
    name: "RecordsLost",
    unit: Unit::Count,
    meaning: "Records neither delivered nor spilled (no spill bucket, or the spill failed); the \
              invocation then fails so that Lambda retries the event.",
};
pub const PROCESSING_TIME: SelfMetric = SelfMetric {
    name: "ProcessingTime",
    unit: Unit::Milliseconds,
    meaning: "Time from receiving the event to the end of the last sink call.",
};

/// Every self metric, in the order they are written.
pub const SELF_METRICS: &[SelfMetric] = &[
    EVENTS_IN,
    EVENTS_DROPPED,
    DECODE_FAILURES,
    METRICS_SENT,
    SEGMENTS_SENT,
    SINK_FALLBACKS,
    RECORDS_SENT,
    RECORDS_SPILLED,
    RECORDS_LOST,
    PROCESSING_TIME,
];

/// Where and under which name the self metrics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfMetricsConfig {
    pub namespace: String,
    pub function_name: String,
}

/// What one invocation did, in the self metrics' terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvocationNumbers {
    pub events_in: u64,
    pub events_dropped: u64,
    pub decode_failures: u64,
    pub metrics_sent: u64,
    pub segments_sent: u64,
    pub sink_fallbacks: u64,
    pub records_sent: u64,
    pub records_spilled: u64,
    pub records_lost: u64,
    pub processing_ms: u64,
}

impl InvocationNumbers {
    pub fn new(
        output: &Output,
        decode_failures: u64,
        report: &EmitReport,
        processing_ms: u64,
    ) -> Self {
        InvocationNumbers {
            events_in: output.stats.events,
            events_dropped: output.stats.dropped,
            decode_failures,
            metrics_sent: report.metrics_sent,
            segments_sent: report.segments_sent,
            sink_fallbacks: report.metrics_fallback + report.segments_failed,
            records_sent: report.records_sent,
            records_spilled: report.records_spilled,
            records_lost: report.records_lost,
            processing_ms,
        }
    }

    fn value(&self, metric: &SelfMetric) -> u64 {
        match metric.name {
            "EventsIn" => self.events_in,
            "EventsDropped" => self.events_dropped,
            "DecodeFailures" => self.decode_failures,
            "MetricsSent" => self.metrics_sent,
            "SegmentsSent" => self.segments_sent,
            "SinkFallbacks" => self.sink_fallbacks,
            "RecordsSent" => self.records_sent,
            "RecordsSpilled" => self.records_spilled,
            "RecordsLost" => self.records_lost,
            _ => self.processing_ms,
        }
    }
}

/// Every self metric of one invocation as datums (zeros included, so an alarm sees "fine"
/// rather than "no data" while the function runs).
pub fn self_metric_datums(
    config: &SelfMetricsConfig,
    numbers: &InvocationNumbers,
    now_ms: i64,
) -> Vec<MetricDatum> {
    let mut dimensions = Map::new();
    dimensions.insert(
        SELF_DIMENSION.into(),
        Value::from(config.function_name.as_str()),
    );
    SELF_METRICS
        .iter()
        .map(|m| MetricDatum {
            namespace: config.namespace.clone(),
            metric_name: m.name.into(),
            dimensions: dimensions.clone(),
            unit: m.unit,
            timestamp: now_ms,
            storage_resolution: Resolution::Standard,
            values: vec![numbers.value(m) as f64],
            counts: vec![1.0],
        })
        .collect()
}

/// The README's table of self metrics, generated from `SELF_METRICS` (a test keeps the README's
/// copy equal to it).
pub fn self_metrics_markdown() -> String {
    let mut out = String::from("| metric | unit | meaning |\n|---|---|---|\n");
    for m in SELF_METRICS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            m.name,
            m.unit.as_str(),
            m.meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_number_lands_in_its_own_metric() {
        let config = SelfMetricsConfig {
            namespace: "Ns/Proc".into(),
            function_name: "fn-1".into(),
        };
        // Distinct primes, so a value read from the wrong field cannot pass.
        let numbers = InvocationNumbers {
            events_in: 2,
            events_dropped: 3,
            decode_failures: 5,
            metrics_sent: 7,
            segments_sent: 11,
            sink_fallbacks: 13,
            records_sent: 19,
            records_spilled: 23,
            records_lost: 29,
            processing_ms: 31,
        };
        let datums = self_metric_datums(&config, &numbers, 1_764_000_000_000);
        let got: Vec<(&str, &str, f64)> = datums
            .iter()
            .map(|d| (d.metric_name.as_str(), d.unit.as_str(), d.values[0]))
            .collect();
        assert_eq!(
            got,
            [
                ("EventsIn", "Count", 2.0),
                ("EventsDropped", "Count", 3.0),
                ("DecodeFailures", "Count", 5.0),
                ("MetricsSent", "Count", 7.0),
                ("SegmentsSent", "Count", 11.0),
                ("SinkFallbacks", "Count", 13.0),
                ("RecordsSent", "Count", 19.0),
                ("RecordsSpilled", "Count", 23.0),
                ("RecordsLost", "Count", 29.0),
                ("ProcessingTime", "Milliseconds", 31.0),
            ]
        );
        for d in &datums {
            assert_eq!(d.namespace, "Ns/Proc");
            assert_eq!(d.dimensions[SELF_DIMENSION], "fn-1");
            assert_eq!(d.timestamp, 1_764_000_000_000);
        }
    }

    #[test]
    fn fallbacks_add_failed_metrics_and_failed_segments() {
        let report = EmitReport {
            metrics_sent: 4,
            metrics_fallback: 6,
            segments_sent: 1,
            segments_failed: 2,
            ..EmitReport::default()
        };
        let n = InvocationNumbers::new(&Output::default(), 1, &report, 9);
        assert_eq!(n.sink_fallbacks, 8);
        assert_eq!(n.metrics_sent, 4);
        assert_eq!(n.decode_failures, 1);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = SELF_METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SELF_METRICS.len());
    }
}
