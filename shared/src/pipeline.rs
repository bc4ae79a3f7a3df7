//! Wires the pure stages together: parse → redact → derive metrics and trace notes → select,
//! then aggregate. One entry point, `Pipeline::process(batch) -> Output`; no I/O, no clock.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::CheckedConfig;
use crate::metrics::{Aggregator, MetricDatum, MetricState};
use crate::parse::parse_event;
use crate::pattern::MatchInput;
use crate::record::{Batch, Format, ParseIssue, Record};
use crate::stats::Counters;
use crate::trace::{Segment, TraceCollector};

/// What one or more batches produced (design.md §4 shape when serialized).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Output {
    pub metrics: Vec<MetricDatum>,
    #[serde(serialize_with = "serialize_segments")]
    pub segments: Vec<Segment>,
    pub records: Vec<Map<String, Value>>,
    pub stats: Stats,
}

/// Counts of one or more batches. `counters` holds every skip, drop and error by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub batches: u64,
    pub events: u64,
    /// Events recognised as something other than plain text.
    pub parsed: u64,
    /// Records written to `records`.
    pub selected: u64,
    /// Events skipped or not output, for any reason (see `counters`).
    pub dropped: u64,
    /// One-line descriptions of payloads that failed to decode.
    pub errors: Vec<String>,
    pub counters: Counters,
}

impl Output {
    /// Appends another output (several batches, files or Kinesis records).
    pub fn merge(&mut self, other: Output) {
        self.metrics.extend(other.metrics);
        self.segments.extend(other.segments);
        self.records.extend(other.records);
        self.stats.merge(other.stats);
    }
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        self.batches += other.batches;
        self.events += other.events;
        self.parsed += other.parsed;
        self.selected += other.selected;
        self.dropped += other.dropped;
        self.errors.extend(other.errors);
        self.counters.merge(&other.counters);
    }
}

fn serialize_segments<S: serde::Serializer>(segs: &[Segment], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(segs.len()))?;
    for seg in segs {
        // The document is our own JSON; if it ever were not, show it as a string, not fail.
        match serde_json::from_str::<Value>(&seg.document) {
            Ok(v) => seq.serialize_element(&v)?,
            Err(_) => seq.serialize_element(&seg.document)?,
        }
    }
    seq.end()
}

/// The pipeline with its checked configuration; reused across batches (a warm Lambda keeps it).
#[derive(Debug)]
pub struct Pipeline {
    config: CheckedConfig,
    collect_records: bool,
    /// Cardinality caps and de-duplication memory, kept across batches of a warm environment.
    metric_state: MetricState,
}

impl Pipeline {
    pub fn new(config: CheckedConfig) -> Pipeline {
        Pipeline {
            config,
            collect_records: true,
            metric_state: MetricState::new(),
        }
    }

    /// Whether `Output::records` is filled. The subscription function turns it off: nobody
    /// reads them there, and building them is the costliest part of selection.
    pub fn with_records(mut self, on: bool) -> Pipeline {
        self.collect_records = on;
        self
    }

    pub fn config(&self) -> &CheckedConfig {
        &self.config
    }

    /// Runs every stage over one batch.
    pub fn process(&mut self, batch: Batch) -> Output {
        let mut counters = Counters::new();
        let mut stats = Stats {
            batches: 1,
            events: batch.events.len() as u64,
            ..Stats::default()
        };
        let mut agg = Aggregator::new();
        let mut traces = TraceCollector::new(&self.config.traces, &batch.source);
        let mut records = Vec::new();
        let source = batch.source;
        for event in batch.events {
            let mut record = parse_event(&source, event);
            count_parse(&record, &mut counters, &mut stats);
            let redacted = self.config.fields.redact_record(&mut record);
            counters.add("select.redacted", redacted as u64);
            self.config
                .metrics
                .derive(&record, &mut agg, &mut self.metric_state, &mut counters);
            traces.observe(&record, &mut counters);
            if self.collect_records {
                if self.record_wanted(&record) {
                    records.push(
                        self.config
                            .fields
                            .select_with_counters(&record, &mut counters),
                    );
                } else {
                    counters.incr("records.filtered_out");
                    stats.dropped += 1;
                }
            }
        }
        stats.selected = records.len() as u64;
        let metrics = agg.finish(&mut counters);
        let segments = traces.finish(&mut counters);
        stats.counters = counters;
        Output {
            metrics,
            segments,
            records,
            stats,
        }
    }

    fn record_wanted(&self, record: &Record) -> bool {
        match &self.config.records_filter {
            None => true,
            Some(p) => p.is_match(&match_input(record)),
        }
    }
}

/// The pattern input for a record: its message, and its fields when it was structured.
pub fn match_input(record: &Record) -> MatchInput<'_> {
    MatchInput {
        message: &record.message,
        json: (record.format != Format::Text).then_some(&record.fields),
    }
}

fn count_parse(record: &Record, counters: &mut Counters, stats: &mut Stats) {
    if record.format != Format::Text {
        stats.parsed += 1;
    }
    let key = match record.format {
        Format::Json => "parse.json",
        Format::LambdaJsonPlatform => "parse.lambda_json_platform",
        Format::LambdaJsonApp => "parse.lambda_json_app",
        Format::LambdaText => "parse.lambda_text",
        Format::LambdaTextApp => "parse.lambda_text_app",
        Format::KeyValue => "parse.key_value",
        Format::AccessLog => "parse.access_log",
        Format::Text => "parse.text",
    };
    counters.incr(key);
    match record.issue {
        Some(ParseIssue::InvalidJson(_)) => counters.incr("parse.invalid_json"),
        Some(ParseIssue::MalformedPlatformLine) => counters.incr("parse.malformed_platform_line"),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::record::{LogEvent, Source};

    fn batch(messages: &[&str]) -> Batch {
        Batch {
            source: Arc::new(Source {
                log_group: "/aws/lambda/orders".into(),
                log_stream: "s".into(),
                ..Source::default()
            }),
            events: messages
                .iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    id: i.to_string(),
                    timestamp: 1_700_000_000_000 + i as i64,
                    message: m.to_string(),
                    extracted_fields: None,
                })
                .collect(),
        }
    }

    #[test]
    fn records_carry_metadata_and_stats_add_up() {
        let mut p = Pipeline::new(CheckedConfig::default_config().unwrap());
        let out = p.process(batch(&[r#"{"level":"INFO","msg":"a"}"#, "plain text"]));
        assert_eq!(out.stats.events, 2);
        assert_eq!(out.stats.parsed, 1);
        assert_eq!(out.records.len(), 2);
        assert_eq!(out.records[0]["@logGroup"], "/aws/lambda/orders");
        assert_eq!(out.records[1]["@id"], "1");
        assert_eq!(out.records[1]["@timestamp"], 1_700_000_000_001_i64);
        assert_eq!(out.stats.counters.get("parse.json"), 1);
        assert_eq!(out.stats.counters.get("parse.text"), 1);
    }

    #[test]
    fn records_filter_and_switch() {
        let text = "[records]\nfilter_pattern = \"ERROR\"\n";
        let cfg = CheckedConfig::from_toml(text).unwrap();
        let mut p = Pipeline::new(cfg.clone());
        let out = p.process(batch(&["ERROR boom", "fine"]));
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.stats.dropped, 1);
        let mut p = Pipeline::new(cfg).with_records(false);
        assert!(p.process(batch(&["ERROR boom"])).records.is_empty());
    }

    #[test]
    fn merge_adds() {
        let mut p = Pipeline::new(CheckedConfig::default_config().unwrap());
        let mut a = p.process(batch(&["x"]));
        a.merge(p.process(batch(&["y", "z"])));
        assert_eq!(a.stats.batches, 2);
        assert_eq!(a.stats.events, 3);
        assert_eq!(a.records.len(), 3);
    }
}
