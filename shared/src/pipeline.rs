//! Wires the pure stages together: parse → redact → derive metrics and trace notes → select,
//! then aggregate. One entry point, `Pipeline::process(batch) -> Output`; no I/O, no clock.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::CheckedConfig;
use crate::metrics::{Aggregator, MetricDatum, MetricState};
use crate::parse::{parse_event, parse_event_lazy};
use crate::pattern::MatchInput;
use crate::record::{is_failure, Batch, Format, Level, ParseIssue, PlatformEvent, Record};
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
    /// Index JSON messages and parse members on first read, when records are not collected.
    lazy_json: bool,
    /// Cardinality caps and de-duplication memory, kept across batches of a warm environment.
    metric_state: MetricState,
}

impl Pipeline {
    pub fn new(config: CheckedConfig) -> Pipeline {
        Pipeline {
            config,
            collect_records: true,
            lazy_json: true,
            metric_state: MetricState::new(),
        }
    }

    /// Whether `Output::records` is filled. The subscription function turns it off: nobody
    /// reads them there, and building them is the costliest part of selection.
    ///
    /// Without records, whole-record redaction (the costliest stage) is skipped: only values
    /// that leave the pipeline — dimension values, annotations, segment metadata — are redacted,
    /// as the metric and trace stages build them. With records, every record is redacted in
    /// full before any stage reads it. In both modes a value read from a path naming a sensitive
    /// key is sent as the marker, and log group and stream names are redacted (`crate::exits`),
    /// so both modes send the same values.
    pub fn with_records(mut self, on: bool) -> Pipeline {
        self.collect_records = on;
        let at_exits = (!on).then(|| self.config.fields.redactor.clone());
        self.config.metrics.redactor = at_exits.clone();
        self.config.traces.redactor = at_exits;
        self
    }

    /// Whether, without records, JSON messages are indexed and their members parsed only when a
    /// stage reads them (the default). Off, every member is parsed up front as in the records
    /// mode: the output is the same, which the equivalence tests check by turning it off.
    pub fn with_lazy_json(mut self, on: bool) -> Pipeline {
        self.lazy_json = on;
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
        // Names are the same for the whole batch: redacted once, and only replaced in records
        // when they held a secret.
        let names = if self.collect_records {
            redacted_names(&self.config.fields.redactor, &source)
        } else {
            None
        };
        for event in batch.events {
            // Without records to output, JSON members are parsed only when a stage reads them.
            let mut record = if self.collect_records || !self.lazy_json {
                parse_event(&source, event)
            } else {
                parse_event_lazy(&source, event)
            };
            count_parse(&record, &mut counters, &mut stats);
            if self.collect_records {
                let redacted = self.config.fields.redact_record(&mut record);
                counters.add("select.redacted", redacted as u64);
            }
            self.config
                .metrics
                .derive(&record, &mut agg, &mut self.metric_state, &mut counters);
            traces.observe(&record, &mut counters);
            if self.collect_records {
                match self.record_wanted(&record) {
                    Wanted::Keep(rate) => {
                        let mut selected = self
                            .config
                            .fields
                            .select_with_counters(&record, &mut counters);
                        if let Some(rate) = rate {
                            selected.insert(SAMPLE_RATE_KEY.into(), Value::from(rate));
                        }
                        if let Some((group, stream)) = &names {
                            for (key, name) in [("@logGroup", group), ("@logStream", stream)] {
                                if let Some(v) = selected.get_mut(key) {
                                    *v = Value::from(name.as_str());
                                }
                            }
                        }
                        records.push(selected);
                    }
                    Wanted::FilteredOut => {
                        counters.incr("records.filtered_out");
                        stats.dropped += 1;
                    }
                    Wanted::SampledOut => {
                        counters.incr("records.sampled_out");
                        stats.dropped += 1;
                    }
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

    fn record_wanted(&self, record: &Record) -> Wanted {
        if let Some(p) = &self.config.records_filter {
            if !p.is_match(&match_input(record)) {
                return Wanted::FilteredOut;
            }
        }
        let rate = self.config.records_sample_rate;
        if rate <= 1 {
            return Wanted::Keep(None);
        }
        if is_error(record) {
            return Wanted::Keep(Some(1));
        }
        if sample_hash(record).is_multiple_of(rate) {
            Wanted::Keep(Some(rate))
        } else {
            Wanted::SampledOut
        }
    }
}

/// The log group and stream with their secrets replaced, when either held one.
fn redacted_names(
    redactor: &crate::redact::Redactor,
    source: &crate::record::Source,
) -> Option<(String, String)> {
    let group = crate::exits::redact_name(&source.log_group, Some(redactor));
    let stream = crate::exits::redact_name(&source.log_stream, Some(redactor));
    if matches!((&group, &stream), (Cow::Borrowed(_), Cow::Borrowed(_))) {
        return None;
    }
    Some((group.into_owned(), stream.into_owned()))
}

/// The member carrying a kept record's sample rate (Honeycomb's convention: this record stands
/// for N records).
pub const SAMPLE_RATE_KEY: &str = "@sampleRate";

/// What happens to a record at the `records` output.
enum Wanted {
    /// Output, with the sample rate to record when sampling is on.
    Keep(Option<u64>),
    FilteredOut,
    SampledOut,
}

/// Errors are never sampled away: error-level records and failed platform events.
fn is_error(record: &Record) -> bool {
    if record.level().is_some_and(Level::is_error) {
        return true;
    }
    match &record.platform {
        Some(PlatformEvent::RuntimeDone { status, .. })
        | Some(PlatformEvent::InitReport { status, .. }) => {
            status.as_deref().is_some_and(is_failure)
        }
        _ => false,
    }
}

/// A stable hash of the event id (FNV-1a, then a SplitMix64 finaliser so that ids differing
/// only in their last digits spread over every residue). CloudWatch event ids are unique and
/// survive redelivery, so a retried batch samples the same records. Events without an id
/// (hand-made input) hash their timestamp and message instead.
fn sample_hash(record: &Record) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    if record.event_id.is_empty() {
        eat(&record.timestamp.to_le_bytes());
        eat(record.message.as_bytes());
    } else {
        eat(record.event_id.as_bytes());
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The pattern input for a record: its message, and its fields when it was structured.
pub fn match_input(record: &Record) -> MatchInput<'_> {
    MatchInput {
        message: &record.message,
        json: (record.format != Format::Text).then_some(record.fields_view()),
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
    fn sampling_keeps_errors_and_one_in_n_deterministically() {
        let text = "[records]\nsample_rate = 4\n";
        let cfg = CheckedConfig::from_toml(text).unwrap();
        let mut msgs: Vec<String> = (0..2000)
            .map(|i| format!(r#"{{"level":"INFO","n":{i}}}"#))
            .collect();
        msgs.extend((0..50).map(|i| format!(r#"{{"level":"ERROR","n":{i}}}"#)));
        msgs.push("START RequestId: x Version: $LATEST".into());
        let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
        let mut p = Pipeline::new(cfg.clone());
        let out = p.process(batch(&refs));
        let errors: Vec<_> = out
            .records
            .iter()
            .filter(|r| r["level"] == "ERROR")
            .collect();
        assert_eq!(errors.len(), 50, "every error is kept");
        assert!(errors.iter().all(|r| r[SAMPLE_RATE_KEY] == 1));
        let infos = out.records.len() - errors.len();
        // 2001 non-error events at 1 in 4: about 500; a fair hash stays well within ±100.
        assert!((400..=600).contains(&infos), "{infos} kept");
        assert!(out
            .records
            .iter()
            .filter(|r| r["level"] != "ERROR")
            .all(|r| r[SAMPLE_RATE_KEY] == 4));
        let sampled_out = out.stats.counters.get("records.sampled_out");
        assert_eq!(sampled_out as usize, 2001 - infos);
        assert_eq!(out.stats.dropped, sampled_out);
        // A retry of the same batch keeps exactly the same records.
        let again = Pipeline::new(cfg).process(batch(&refs));
        assert_eq!(again.records, out.records);
    }

    #[test]
    fn sampling_applies_after_the_filter_and_failed_reports_are_errors() {
        let text = "[records]\nfilter_pattern = \"-DEBUG\"\nsample_rate = 1000000\n";
        let cfg = CheckedConfig::from_toml(text).unwrap();
        let report = "REPORT RequestId: r1\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: timeout";
        let out = Pipeline::new(cfg).process(batch(&["DEBUG noise", report, "ok 1", "ok 2"]));
        assert_eq!(out.stats.counters.get("records.filtered_out"), 1);
        let kept: Vec<_> = out.records.iter().map(|r| r["@id"].clone()).collect();
        assert!(kept.contains(&Value::from("1")), "{kept:?}");
        for bad in ["0", "1000001"] {
            let e =
                CheckedConfig::from_toml(&format!("[records]\nsample_rate = {bad}\n")).unwrap_err();
            assert_eq!(e.key, "records.sample_rate");
        }
        // Without sampling, records carry no sample rate.
        let out = Pipeline::new(CheckedConfig::default_config().unwrap()).process(batch(&["x"]));
        assert!(out.records[0].get(SAMPLE_RATE_KEY).is_none());
    }

    #[test]
    fn without_records_every_value_that_leaves_is_still_redacted() {
        let cfg = CheckedConfig::from_toml(
            r#"
[[metrics.rule]]
metric_name = "Hits"
filter_pattern = '{ $.user = * }'
dimensions = { User = "$.user" }

[[metrics.rule]]
metric_name = "Tokens"
filter_pattern = '[verb, token, rest]'
dimensions = { Token = "$token" }

[traces]
annotations = { who = "$.user" }
metadata = ["$.session"]
"#,
        )
        .unwrap();
        let trace = "1-6553f100-beeb8da1658eec67f893a2ee";
        let json_line = format!(
            r#"{{"user":"alice@example.com","session":{{"auth":"Bearer abcdefghijklmnopqrstuvwxyz0123456789","note":"AKIAIOSFODNN7EXAMPLE"}},"trace_id":"{trace}"}}"#
        );
        let report = "REPORT RequestId: 8f5c2a1e-3b7d-4e9a-9c1f-2d6b8a4e7f01\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: error\tError Type: leak bob@example.org\n";
        let lines = [
            json_line.as_str(),
            "AUTH ghp_16C7e42F292c6912E7710c838347Ae178B4a now",
            report,
        ];
        for with_records in [true, false] {
            let mut p = Pipeline::new(cfg.clone()).with_records(with_records);
            let out = p.process(batch(&lines));
            let text = serde_json::to_string(&out).unwrap();
            for secret in [
                "alice@example.com",
                "abcdefghijklmnopqrstuvwxyz0123456789",
                "AKIAIOSFODNN7EXAMPLE",
                "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                "bob@example.org",
            ] {
                assert!(
                    !text.contains(secret),
                    "records={with_records}: {secret} leaked"
                );
            }
            // The values were there to leak: the rules and the trace did use them.
            let names: Vec<&str> = out.metrics.iter().map(|m| m.metric_name.as_str()).collect();
            assert!(
                names.contains(&"Hits") && names.contains(&"Tokens"),
                "{names:?}"
            );
            assert!(names.contains(&"Errors"), "{names:?}");
            assert_eq!(out.segments.len(), 1);
            assert!(out.segments[0].document.contains("REDACTED"));
            assert!(out.stats.counters.get("select.redacted") >= 5);
        }
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
