//! Wires the pure stages together: parse → redact → derive metrics and trace notes → select,
//! then aggregate. One entry point, `Pipeline::process(batch) -> Output`; no I/O, and no clock
//! but the one a caller passes in [`Limits`].

use std::time::Instant;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::config::CheckedConfig;
use crate::counter_keys as ck;
use crate::metrics::{Aggregator, MetricDatum, MetricState};
use crate::parse::{parse_event, parse_event_lazy};
use crate::pattern::MatchInput;
use crate::record::{Batch, Format, Level, LogEvent, ParseIssue, PlatformEvent, Record};
use crate::records::{BatchSpan, OutputRecord};
use crate::select::RecordExtras;
use crate::stats::Counters;
use crate::trace::{Segment, TraceCollector};

/// What one or more batches produced (serialized: the object `logsieve process` prints, README).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Output {
    pub metrics: Vec<MetricDatum>,
    #[serde(serialize_with = "serialize_segments")]
    pub segments: Vec<Segment>,
    pub records: Vec<OutputRecord>,
    /// Which batch each run of `records` came from (for the records sinks: routing, resource
    /// attributes, object keys).
    #[serde(skip)]
    pub batches: Vec<BatchSpan>,
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
        let offset = self.records.len();
        self.batches.extend(other.batches.into_iter().map(|mut b| {
            b.start += offset;
            b.end += offset;
            b
        }));
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

/// Reads the time for a [`Budget`]; the core never reads a clock of its own, so tests drive it.
pub trait Clock {
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A CPU budget for one [`Pipeline::process_with`] call: no event is started once `deadline`
/// has passed. The events left are counted under `budget.events_skipped` (and in
/// `Stats::dropped`); everything derived from the events before them is returned as usual.
#[derive(Clone, Copy)]
pub struct Budget<'c> {
    pub deadline: Instant,
    pub clock: &'c dyn Clock,
}

impl std::fmt::Debug for Budget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The clock is read once every this many events: a read costs ~25 ns, an event several µs,
/// and the overshoot past the deadline is at most this many events (each bounded: every regex
/// accepted at load has bounded work per byte).
pub const BUDGET_CHECK_EVERY: usize = 16;

/// What the edge passes to one `process_with` call. The default is `process`: no budget, and the
/// metric timestamp window anchored to the newest event of the batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits<'c> {
    /// "Now", epoch ms: metric datums outside PutMetricData's window around it are dropped and
    /// counted (`metrics.timestamp_out_of_window`) instead of being anchored to the newest event.
    pub now_ms: Option<i64>,
    pub budget: Option<Budget<'c>>,
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
    /// Redaction answers and the records writer's plan for each key name, kept across records
    /// and batches (pure functions of the config and the value, bounded in size).
    select_memo: crate::select::SelectMemo,
    /// One per `[[profile]]`, in order (empty: every batch gets the top-level settings).
    lanes: Vec<Lane>,
    /// The profile each log group seen got (bounded: cleared when full).
    lane_of: std::collections::HashMap<String, Option<usize>>,
}

/// A profile's configuration and the state kept for it across batches (its rules, its memo).
#[derive(Debug)]
struct Lane {
    name: String,
    config: CheckedConfig,
    metric_state: MetricState,
    select_memo: crate::select::SelectMemo,
}

/// Log groups whose profile choice is remembered; a function sees a handful.
const LANE_CACHE_ENTRIES: usize = 4096;

/// Points the metric and trace stages' exit redaction at the record redactor.
fn redact_at_exits(config: &mut CheckedConfig) {
    let at_exits = Some(config.fields.redactor.clone());
    config.metrics.redactor = at_exits.clone();
    config.traces.redactor = at_exits;
}

impl Pipeline {
    pub fn new(mut config: CheckedConfig) -> Pipeline {
        // What leaves through the metric and trace stages is redacted there, at their exits;
        // output records are redacted as they are selected. No stage redacts whole records.
        redact_at_exits(&mut config);
        let lanes = config
            .profiles
            .iter()
            .map(|p| {
                let mut lane_config = (*p.config).clone();
                redact_at_exits(&mut lane_config);
                Lane {
                    name: p.name.clone(),
                    config: lane_config,
                    metric_state: MetricState::new(),
                    select_memo: crate::select::SelectMemo::new(),
                }
            })
            .collect();
        Pipeline {
            config,
            collect_records: true,
            lazy_json: true,
            metric_state: MetricState::new(),
            select_memo: crate::select::SelectMemo::new(),
            lanes,
            lane_of: std::collections::HashMap::new(),
        }
    }

    /// Whether `Output::records` is filled (on by default). Functions without a records sink
    /// turn it off: writing records is most of the records path's cost.
    ///
    /// Redaction is the same in both modes: values that leave through the metric and trace
    /// stages (dimension values, annotations, segment metadata) are redacted as those stages
    /// build them, a value read from a path naming a sensitive key is sent as the marker, log
    /// group and stream names are redacted (`crate::exits`), and each output record is redacted
    /// as it is written (`Selector::select_output`), fields left out costing nothing.
    pub fn with_records(mut self, on: bool) -> Pipeline {
        self.collect_records = on;
        self
    }

    /// Whether JSON messages are indexed and their members parsed only when a stage reads them
    /// (the default; the records writer copies plain members from the message unparsed). Off,
    /// every member is parsed up front: the output is the same, which the equivalence tests
    /// check by turning it off.
    pub fn with_lazy_json(mut self, on: bool) -> Pipeline {
        self.lazy_json = on;
        self
    }

    pub fn config(&self) -> &CheckedConfig {
        &self.config
    }

    /// Runs every stage over one batch.
    pub fn process(&mut self, batch: Batch) -> Output {
        self.process_with(batch, Limits::default())
    }

    /// [`Pipeline::process`] within `limits`: stops starting events once the budget's deadline
    /// has passed, and checks metric timestamps against `limits.now_ms` when given.
    pub fn process_with(&mut self, batch: Batch, limits: Limits<'_>) -> Output {
        let mut counters = Counters::new();
        let total = batch.events.len();
        // The batch's settings: its log group's profile, or the top level.
        let lane = if self.lanes.is_empty() {
            None
        } else {
            self.lane_for(&batch.source.log_group)
        };
        let (config, metric_state, select_memo) = match lane {
            Some(i) => {
                let l = &mut self.lanes[i];
                counters.incr(&ck::profile::batches(&l.name));
                counters.add(&ck::profile::events(&l.name), total as u64);
                (&l.config, &mut l.metric_state, &mut l.select_memo)
            }
            None => (&self.config, &mut self.metric_state, &mut self.select_memo),
        };
        let mut stats = Stats {
            batches: 1,
            events: total as u64,
            ..Stats::default()
        };
        let mut agg = limits
            .now_ms
            .map_or_else(Aggregator::new, Aggregator::with_clock);
        let mut traces =
            TraceCollector::new(&config.traces, &batch.source).with_links(self.collect_records);
        let mut records = Vec::new();
        let source = batch.source;
        // Names are the same for the whole batch: redacted once, and only replaced in records
        // when they held a secret.
        let names = if self.collect_records {
            redacted_names(&config.fields.redactor, &source)
        } else {
            None
        };
        // A stream's split multi-line messages are joined before parsing; unconfigured, the
        // events go through as they came.
        let events: Box<dyn Iterator<Item = (LogEvent, u32)>> = match config
            .multiline
            .as_ref()
            .filter(|m| m.applies_to(&source.log_group))
        {
            Some(rules) => Box::new(
                crate::multiline::join(rules, batch.events, &mut counters)
                    .into_iter()
                    .map(|j| (j.event, j.count)),
            ),
            None => Box::new(batch.events.into_iter().map(|e| (e, 1))),
        };
        // Log events started so far (a joined event is several).
        let mut started = 0usize;
        let mut parse_counts = ParseCounts::default();
        for (i, (event, joined)) in events.enumerate() {
            if let Some(b) = limits.budget {
                if i % BUDGET_CHECK_EVERY == 0 && b.clock.now() >= b.deadline {
                    let skipped = (total - started) as u64;
                    counters.add(ck::driver::BUDGET_EVENTS_SKIPPED, skipped);
                    stats.dropped += skipped;
                    break;
                }
            }
            started += joined as usize;
            // JSON members are parsed only when a stage reads them; the records writer copies
            // the plain ones from the message as they are.
            let record = if self.lazy_json {
                parse_event_lazy(&source, event)
            } else {
                parse_event(&source, event)
            };
            parse_counts.count(&record, &mut stats);
            config
                .metrics
                .derive(&record, &mut agg, metric_state, &mut counters);
            let trace = traces.observe(&record, &mut counters);
            if self.collect_records {
                match record_wanted(config, &record) {
                    Wanted::Keep(sample_rate) => {
                        let extras = RecordExtras {
                            trace: trace.as_ref(),
                            sample_rate,
                            names: names.as_ref().map(|(g, s)| (g.as_str(), s.as_str())),
                            joined: (joined > 1).then_some(joined),
                        };
                        records.push(config.fields.select_output(
                            &record,
                            extras,
                            select_memo,
                            &mut counters,
                        ));
                    }
                    Wanted::FilteredOut => {
                        counters.incr(ck::records::FILTERED_OUT);
                        stats.dropped += 1;
                    }
                    Wanted::SampledOut => {
                        counters.incr(ck::records::SAMPLED_OUT);
                        stats.dropped += 1;
                    }
                }
            }
        }
        parse_counts.commit(&mut counters);
        stats.selected = records.len() as u64;
        let metrics = agg.finish(&mut counters);
        let segments = traces.finish(&mut counters);
        stats.counters = counters;
        let batches = if records.is_empty() {
            Vec::new()
        } else {
            let (log_group, log_stream) = match names {
                Some((g, s)) => (g, s),
                None => (source.log_group.clone(), source.log_stream.clone()),
            };
            vec![BatchSpan {
                log_group,
                log_stream,
                owner: source.owner.clone(),
                tags: std::sync::Arc::clone(&source.tags),
                start: 0,
                end: records.len(),
            }]
        };
        Output {
            metrics,
            segments,
            records,
            batches,
            stats,
        }
    }

    /// The profile `log_group` gets, remembered per log group.
    fn lane_for(&mut self, log_group: &str) -> Option<usize> {
        if let Some(&lane) = self.lane_of.get(log_group) {
            return lane;
        }
        let lane = crate::profile::choose(&self.config.profiles, log_group);
        if self.lane_of.len() >= LANE_CACHE_ENTRIES {
            self.lane_of.clear();
        }
        self.lane_of.insert(log_group.to_string(), lane);
        lane
    }
}

fn record_wanted(config: &CheckedConfig, record: &Record) -> Wanted {
    if let Some(p) = &config.records_filter {
        if !p.is_match(&match_input(record)) {
            return Wanted::FilteredOut;
        }
    } else if !config.records_pack.wants(record) {
        return Wanted::FilteredOut;
    }
    let rate = config.records_sample_rate;
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

pub use crate::records::SAMPLE_RATE_KEY;

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
    record.platform.as_ref().is_some_and(PlatformEvent::failed)
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

/// The parse counters of a batch, kept as plain integers while it runs and added to its
/// counters once at the end: a bump per event was a scan of the counter list, ~1% of the
/// records path under perf.
#[derive(Default)]
struct ParseCounts {
    /// Events by the format they were read as, in the order first met (a batch has few).
    formats: Vec<(Format, u64)>,
    invalid_json: u64,
    malformed_platform_line: u64,
}

impl ParseCounts {
    fn count(&mut self, record: &Record, stats: &mut Stats) {
        if record.format != Format::Text {
            stats.parsed += 1;
        }
        match self.formats.iter_mut().find(|(f, _)| *f == record.format) {
            Some((_, n)) => *n += 1,
            None => self.formats.push((record.format, 1)),
        }
        match record.issue {
            Some(ParseIssue::InvalidJson(_)) => self.invalid_json += 1,
            Some(ParseIssue::MalformedPlatformLine) => self.malformed_platform_line += 1,
            None => {}
        }
    }

    fn commit(&self, counters: &mut Counters) {
        for &(format, n) in &self.formats {
            counters.add(parse_key(format), n);
        }
        counters.add(ck::parse::INVALID_JSON, self.invalid_json);
        counters.add(
            ck::parse::MALFORMED_PLATFORM_LINE,
            self.malformed_platform_line,
        );
    }
}

/// The counter of events read as `format`.
fn parse_key(format: Format) -> &'static str {
    match format {
        Format::Json => ck::parse::JSON,
        Format::LambdaJsonPlatform => ck::parse::LAMBDA_JSON_PLATFORM,
        Format::LambdaJsonApp => ck::parse::LAMBDA_JSON_APP,
        Format::LambdaText => ck::parse::LAMBDA_TEXT,
        Format::LambdaTextApp => ck::parse::LAMBDA_TEXT_APP,
        Format::KeyValue => ck::parse::KEY_VALUE,
        Format::AccessLog => ck::parse::ACCESS_LOG,
        Format::CloudTrail => ck::parse::CLOUDTRAIL,
        Format::Text => ck::parse::TEXT,
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
        assert_eq!(out.records[0].to_map()["@logGroup"], "/aws/lambda/orders");
        assert_eq!(out.records[1].to_map()["@id"], "1");
        assert_eq!(out.records[1].to_map()["@timestamp"], 1_700_000_000_001_i64);
        assert_eq!(out.stats.counters.get("parse.json"), 1);
        assert_eq!(out.stats.counters.get("parse.text"), 1);
    }

    /// One parse counter per event, by the format it was read as, and one per issue; only
    /// the formats met are named.
    #[test]
    fn parse_counters_count_each_event_once() {
        let mut p = Pipeline::new(CheckedConfig::default_config().unwrap());
        let out = p.process(batch(&[
            r#"{"level":"INFO"}"#,
            r#"{"level":"WARN"}"#,
            "user=bob action=login",
            r#"127.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 2"#,
            r#"{"truncated":"#,
            "plain text",
            "START RequestId: 8f5 Version: $LATEST",
        ]));
        let parse: Vec<(&str, u64)> = out
            .stats
            .counters
            .iter()
            .filter(|(k, _)| k.starts_with("parse."))
            .collect();
        assert_eq!(
            parse,
            [
                ("parse.access_log", 1),
                ("parse.invalid_json", 1),
                ("parse.json", 2),
                ("parse.key_value", 1),
                ("parse.lambda_text", 1),
                ("parse.text", 2),
            ]
        );
        assert_eq!(out.stats.parsed, 5);
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
            .filter(|r| r.to_map()["level"] == "ERROR")
            .collect();
        assert_eq!(errors.len(), 50, "every error is kept");
        assert!(errors.iter().all(|r| r.to_map()[SAMPLE_RATE_KEY] == 1));
        let infos = out.records.len() - errors.len();
        // 2001 non-error events at 1 in 4: about 500; a fair hash stays well within ±100.
        assert!((400..=600).contains(&infos), "{infos} kept");
        assert!(out
            .records
            .iter()
            .filter(|r| r.to_map()["level"] != "ERROR")
            .all(|r| r.to_map()[SAMPLE_RATE_KEY] == 4));
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
        let kept: Vec<_> = out
            .records
            .iter()
            .map(|r| r.to_map()["@id"].clone())
            .collect();
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

    /// A clock that moves 1 ms each time it is read.
    struct SteppingClock {
        start: Instant,
        reads: std::cell::Cell<u32>,
    }

    impl Clock for SteppingClock {
        fn now(&self) -> Instant {
            let n = self.reads.get();
            self.reads.set(n + 1);
            self.start + std::time::Duration::from_millis(u64::from(n))
        }
    }

    fn counting_config() -> CheckedConfig {
        CheckedConfig::from_toml(
            "[metrics]\nlambda_platform = false\n\n[[metrics.rule]]\nmetric_name = \"Events\"\nfilter_pattern = \"\"\n",
        )
        .unwrap()
    }

    fn events_counted(out: &Output) -> f64 {
        out.metrics
            .iter()
            .filter(|m| m.metric_name == "Events")
            .flat_map(|m| m.counts.iter())
            .sum()
    }

    /// (deadline in clock reads, events processed): the clock is read before events 0, 16, 32…
    /// and each read moves it 1 ms, so a deadline of k ms stops before event 16·k.
    #[test]
    fn budget_stops_at_the_deadline_and_returns_what_is_done() {
        let msgs: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
        for (deadline_ms, done) in [
            (0u64, 0usize),
            (1, 16),
            (3, 48),
            (6, 96),
            (7, 100),
            (50, 100),
        ] {
            let start = Instant::now();
            let clock = SteppingClock {
                start,
                reads: std::cell::Cell::new(0),
            };
            let limits = Limits {
                now_ms: None,
                budget: Some(Budget {
                    deadline: start + std::time::Duration::from_millis(deadline_ms),
                    clock: &clock,
                }),
            };
            let out = Pipeline::new(counting_config()).process_with(batch(&refs), limits);
            let skipped = (100 - done) as u64;
            assert_eq!(out.records.len(), done, "deadline {deadline_ms}");
            assert_eq!(events_counted(&out), done as f64, "deadline {deadline_ms}");
            assert_eq!(
                out.stats.counters.get("budget.events_skipped"),
                skipped,
                "deadline {deadline_ms}"
            );
            assert_eq!(out.stats.events, 100);
            assert_eq!(out.stats.dropped, skipped, "deadline {deadline_ms}");
        }
    }

    #[test]
    fn without_limits_process_with_is_process() {
        let msgs = ["a", r#"{"level":"ERROR"}"#, "c"];
        let a = Pipeline::new(counting_config()).process(batch(&msgs));
        let b = Pipeline::new(counting_config()).process_with(batch(&msgs), Limits::default());
        assert_eq!(a.records, b.records);
        assert_eq!(a.metrics, b.metrics);
        assert_eq!(a.stats, b.stats);
    }

    /// The issue's stall: a worst-case accepted regex over 10,000 events of 1 KiB would run for
    /// minutes in a debug build; with a 1 s budget on the real clock it stops, counts the rest,
    /// and returns well within a generous bound.
    #[test]
    fn a_stalling_batch_stops_within_its_budget() {
        let cfg = CheckedConfig::from_toml(&format!(
            "[metrics]\nlambda_platform = false\n\n[[metrics.rule]]\nmetric_name = \"Hits\"\nfilter_pattern = '%a[ab]{{{}}}c%'\n",
            crate::pattern::MAX_REGEX_POSITIONS - 2
        ))
        .unwrap();
        let lines = crate::pattern::stall_tests::worst_case_events();
        let refs: Vec<&str> = lines
            .iter()
            .cycle()
            .take(10_000)
            .map(String::as_str)
            .collect();
        let started = Instant::now();
        let limits = Limits {
            now_ms: None,
            budget: Some(Budget {
                deadline: started + std::time::Duration::from_secs(1),
                clock: &SystemClock,
            }),
        };
        let out = Pipeline::new(cfg)
            .with_records(false)
            .process_with(batch(&refs), limits);
        let took = started.elapsed();
        let skipped = out.stats.counters.get("budget.events_skipped");
        assert!(skipped > 0 && skipped < 10_000, "{skipped} skipped");
        assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    }

    /// Metric timestamps against the edge's "now" (table: age of the batch, datums kept).
    #[test]
    fn now_from_the_edge_drops_old_batches_that_newest_event_anchoring_kept() {
        const DAY: i64 = 24 * 60 * 60 * 1000;
        let now = 1_700_000_000_000 + 30 * DAY;
        for (now_ms, kept) in [
            (None, true),
            (Some(now), false),
            (Some(1_700_000_000_000 + DAY), true),
        ] {
            let out = Pipeline::new(counting_config()).process_with(
                batch(&["a", "b"]),
                Limits {
                    now_ms,
                    budget: None,
                },
            );
            assert_eq!(events_counted(&out) == 2.0, kept, "{now_ms:?}");
            assert_eq!(
                out.stats.counters.get("metrics.timestamp_out_of_window"),
                if kept { 0 } else { 2 },
                "{now_ms:?}"
            );
        }
    }
}
