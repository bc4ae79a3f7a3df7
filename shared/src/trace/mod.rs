//! Trace correlation: finds X-Ray and W3C/OpenTelemetry trace ids in records and builds one X-Ray
//! segment document per trace per batch, with annotations that make the trace searchable.
//!
//! `id` finds and normalises the ids, `segment` builds the documents; this file holds the config,
//! the per-batch collector and the pure helpers the X-Ray sink uses (batching, the time window).
//!
//! Traces that the logs mark as not sampled (`Sampled=0`, `Sampled: false`, W3C flag 0) get no
//! segment unless `include_unsampled` is set: Lambda passes a trace header to every invocation
//! even with tracing off, and a segment per unsampled invocation would create (and bill) a trace
//! per request that nothing else recorded.
//!
//! Counters: `trace.records_with_id`, `trace.malformed_id` (records holding a rejected id),
//! `trace.segments`, `trace.segments_over_cap`, `trace.unsampled_skipped`,
//! `trace.annotations_dropped` (over 50 or over the size budget), `trace.annotation_not_scalar`,
//! `trace.metadata_dropped` (over the size budget), `trace.document_trimmed` (safety net).

pub mod id;
pub mod segment;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use crate::config_error::ConfigError;
use crate::counter_keys as ck;
use crate::record::{FieldPath, FieldRef, Record, Source};
use crate::stats::Counters;

use id::{TraceId, TraceRef};
use segment::{BatchContext, TraceAcc, MAX_ANNOTATIONS, MAX_ANNOTATION_KEY_LEN};

/// Documents per PutTraceSegments call; the model sets no maximum, the X-Ray daemon sends ≤50.
pub const PUT_TRACE_SEGMENTS_BATCH: usize = 50;
/// X-Ray accepts new segments for a trace for 7 days ("trace data modification period"); the
/// 30-day figure is how long it keeps them, which is not the bound for writing.
pub const TRACE_MODIFICATION_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Margin inside that window: the trace began before our earliest log line (a Lambda invocation
/// runs up to 15 minutes) and the sink's clock may differ from X-Ray's.
pub const RETENTION_SAFETY_MARGIN_MS: i64 = 60 * 60 * 1000;
/// Latest accepted event time ahead of now: CloudWatch Logs accepts events up to 2 h in the future,
/// so anything later came from a broken clock.
pub const MAX_FUTURE_SKEW_MS: i64 = 2 * 60 * 60 * 1000;
/// Default cap on segments per batch: X-Ray takes 2,600 segments/s per Region, so one batch of
/// distinct ids must not use up the Region's budget.
pub const DEFAULT_MAX_SEGMENTS_PER_BATCH: usize = 500;
/// Most metadata paths; each may copy up to a whole document's worth of a record per trace.
pub const MAX_METADATA_PATHS: usize = 50;
/// Upper bound accepted for `max_segments_per_batch`.
pub const MAX_SEGMENTS_PER_BATCH_LIMIT: usize = 2_600;

/// Where segment documents go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceSinkKind {
    /// PutTraceSegments.
    #[default]
    Xray,
    /// Trace correlation off: records are not even scanned for ids.
    None,
}

/// `[traces]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// `xray` sends segment documents with PutTraceSegments; `none` turns tracing off.
    pub sink: TraceSinkKind,
    /// Segment `name`; by default derived from the log group (`/aws/lambda/foo` → `foo`, other
    /// groups → their last path part). Must use X-Ray's name characters, ≤200.
    pub service_name: Option<String>,
    /// Annotation name → field path (`level = "$.level"`) or resource tag (`team =
    /// "$tags.team"`). Names are rewritten to
    /// `[A-Za-z0-9_]` (`http.status` → `http_status`); a configured name replaces the built-in of
    /// the same name when the field is present. At most 50.
    pub annotations: BTreeMap<String, String>,
    /// Field paths whose values are copied (not indexed) into the segment's `metadata.logsieve`,
    /// keyed by the path as written; dropped first when the document would pass 64 KB.
    pub metadata: Vec<String>,
    /// Extra field paths holding a trace id, tried before the built-in names (`trace_id`,
    /// `traceId`, `xray_trace_id`, `traceparent`, `X-Amzn-Trace-Id`, …).
    pub trace_id_fields: Vec<String>,
    /// Most segments one batch may produce; traces beyond it are counted
    /// (`trace.segments_over_cap`) and skipped.
    pub max_segments_per_batch: usize,
    /// Also send segments for traces the logs mark as not sampled (see the module comment).
    pub include_unsampled: bool,
}

impl Default for TracesConfig {
    fn default() -> Self {
        TracesConfig {
            sink: TraceSinkKind::Xray,
            service_name: None,
            annotations: BTreeMap::new(),
            metadata: Vec::new(),
            trace_id_fields: Vec::new(),
            max_segments_per_batch: DEFAULT_MAX_SEGMENTS_PER_BATCH,
            include_unsampled: false,
        }
    }
}

/// A config key segment, quoted TOML-style when it is not a bare key.
fn key_part(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

impl TracesConfig {
    pub fn validate(&self) -> Result<TraceRules, ConfigError> {
        if let Some(name) = &self.service_name {
            if !segment::is_valid_segment_name(name) {
                return Err(ConfigError::new(
                    "traces.service_name",
                    "must be 1-200 characters of ASCII letters, digits, spaces and _ . : / % & # = + \\ - @",
                ));
            }
        }
        if self.annotations.len() > MAX_ANNOTATIONS {
            return Err(ConfigError::new(
                "traces.annotations",
                format!(
                    "{} annotations configured; X-Ray indexes at most {MAX_ANNOTATIONS} per trace",
                    self.annotations.len()
                ),
            ));
        }
        let mut annotations: Vec<(String, FieldRef)> = Vec::with_capacity(self.annotations.len());
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (name, path) in &self.annotations {
            let key = format!("traces.annotations.{}", key_part(name));
            if name.chars().count() > MAX_ANNOTATION_KEY_LEN {
                return Err(ConfigError::new(
                    key,
                    format!("annotation name longer than {MAX_ANNOTATION_KEY_LEN} characters"),
                ));
            }
            let Some(sanitized) = segment::sanitize_annotation_key(name) else {
                return Err(ConfigError::new(
                    key,
                    "annotation name needs at least one letter or digit (only [A-Za-z0-9_] is kept)",
                ));
            };
            if let Some(other) = seen.insert(sanitized.clone(), name) {
                return Err(ConfigError::new(
                    key,
                    format!("becomes annotation {sanitized:?}, the same as {other:?}"),
                ));
            }
            let path = FieldRef::parse(path).map_err(|e| ConfigError::new(&key, e.to_string()))?;
            annotations.push((sanitized, path));
        }
        if self.metadata.len() > MAX_METADATA_PATHS {
            return Err(ConfigError::new(
                "traces.metadata",
                format!("at most {MAX_METADATA_PATHS} paths"),
            ));
        }
        let mut metadata = Vec::with_capacity(self.metadata.len());
        for (i, text) in self.metadata.iter().enumerate() {
            let key = format!("traces.metadata[{i}]");
            let path = FieldPath::parse(text).map_err(|e| ConfigError::new(&key, e.to_string()))?;
            let name = text.strip_prefix("$.").unwrap_or(text).to_string();
            if metadata.iter().any(|(n, _)| *n == name) {
                return Err(ConfigError::new(key, format!("{text:?} is listed twice")));
            }
            metadata.push((name, path));
        }
        let mut id_fields = Vec::with_capacity(self.trace_id_fields.len());
        for (i, text) in self.trace_id_fields.iter().enumerate() {
            let path = FieldPath::parse(text).map_err(|e| {
                ConfigError::new(format!("traces.trace_id_fields[{i}]"), e.to_string())
            })?;
            id_fields.push(path);
        }
        if !(1..=MAX_SEGMENTS_PER_BATCH_LIMIT).contains(&self.max_segments_per_batch) {
            return Err(ConfigError::new(
                "traces.max_segments_per_batch",
                format!("must be between 1 and {MAX_SEGMENTS_PER_BATCH_LIMIT}"),
            ));
        }
        Ok(TraceRules {
            sink: self.sink,
            service_name: self.service_name.clone(),
            annotations,
            metadata,
            id_fields,
            max_segments_per_batch: self.max_segments_per_batch,
            include_unsampled: self.include_unsampled,
            redactor: None,
            guard: ExitGuard::default(),
        })
    }
}

/// The checked `[traces]` config.
#[derive(Debug, Clone)]
pub struct TraceRules {
    pub sink: TraceSinkKind,
    service_name: Option<String>,
    /// (sanitized annotation key, path or `$tags.<key>`), in config order.
    annotations: Vec<(String, FieldRef)>,
    /// (metadata key, path), in config order.
    metadata: Vec<(String, FieldPath)>,
    id_fields: Vec<FieldPath>,
    max_segments_per_batch: usize,
    include_unsampled: bool,
    /// Set by the pipeline when records arrive unredacted: applied to annotation and metadata
    /// values as the document is built.
    pub redactor: Option<crate::redact::Redactor>,
    /// Redaction that applies in both pipeline modes (set by `guard_exits`).
    guard: ExitGuard,
}

/// What `TraceRules::guard_exits` decided from the `[fields]` redactor.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExitGuard {
    /// Index-aligned with `TraceRules::annotations` / `metadata`: the path names a sensitive
    /// key, so the value is sent as the marker (empty means none).
    pub(crate) annotations: Vec<bool>,
    pub(crate) metadata: Vec<bool>,
    /// Redacts the log group before it becomes the segment name, the `log_group` annotation and
    /// `aws.cloudwatch_logs`.
    pub(crate) names: Option<crate::redact::Redactor>,
}

impl TraceRules {
    /// Applies `redactor`'s sensitive keys to the annotation and metadata paths and its detectors
    /// to log group names, in both pipeline modes (the config loader calls it with the
    /// `[fields]` redactor). Decided once here, not per event.
    pub fn guard_exits(&mut self, redactor: &crate::redact::Redactor) {
        use crate::exits::path_is_sensitive;
        self.guard = ExitGuard {
            annotations: self
                .annotations
                .iter()
                .map(|(_, r)| match r {
                    FieldRef::Path(p) => path_is_sensitive(p, redactor),
                    FieldRef::Tag(k) => crate::exits::name_is_sensitive(k, redactor),
                })
                .collect(),
            metadata: self
                .metadata
                .iter()
                .map(|(_, p)| path_is_sensitive(p, redactor))
                .collect(),
            names: (!redactor.is_empty()).then(|| redactor.clone()),
        };
    }
}

impl TraceRules {
    /// Whether an annotation reads a `$tags.<key>`.
    pub fn uses_tags(&self) -> bool {
        self.annotations
            .iter()
            .any(|(_, r)| matches!(r, FieldRef::Tag(_)))
    }
}

impl Default for TraceRules {
    fn default() -> Self {
        TraceRules {
            sink: TraceSinkKind::Xray,
            service_name: None,
            annotations: Vec::new(),
            metadata: Vec::new(),
            id_fields: Vec::new(),
            max_segments_per_batch: DEFAULT_MAX_SEGMENTS_PER_BATCH,
            include_unsampled: false,
            redactor: None,
            guard: ExitGuard::default(),
        }
    }
}

/// One X-Ray segment document ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub trace_id: String,
    pub id: String,
    /// The document exactly as sent (JSON text).
    pub document: String,
    /// Earliest event time in the segment, epoch ms (the retention check judges by it).
    pub start_time_ms: i64,
    /// Latest event time in the segment, epoch ms (for the retention check at the sink).
    pub end_time_ms: i64,
}

/// Collects trace notes over one batch.
#[derive(Debug)]
pub struct TraceCollector<'a> {
    rules: &'a TraceRules,
    ctx: BatchContext,
    traces: Vec<TraceAcc>,
    index: HashMap<TraceId, usize, foldhash::fast::RandomState>,
    /// Annotation values (service, route, level…) repeat across the batch's segments.
    redact_memo: crate::redact::RedactMemo,
    /// Find each record's trace id even when no segments are built (output records link to
    /// their traces).
    links: bool,
    /// Records whose trace id went to a segment, added to the counters by `finish` (a bump per
    /// record was a scan of the counter list).
    with_id: u64,
}

impl<'a> TraceCollector<'a> {
    pub fn new(rules: &'a TraceRules, source: &Source) -> TraceCollector<'a> {
        TraceCollector {
            rules,
            ctx: BatchContext::new(rules, source),
            traces: Vec::new(),
            index: HashMap::default(),
            redact_memo: crate::redact::RedactMemo::new(),
            links: false,
            with_id: 0,
        }
    }

    pub fn with_links(mut self, on: bool) -> TraceCollector<'a> {
        self.links = on;
        self
    }

    /// Notes the record's trace (when it names one) for its segment, and returns it.
    pub fn observe(&mut self, record: &Record, counters: &mut Counters) -> Option<TraceRef> {
        let building = self.rules.sink != TraceSinkKind::None;
        if !building && !self.links {
            return None;
        }
        let mut malformed = 0;
        let found = id::find(record, &self.rules.id_fields, &mut malformed);
        // Counted per record: one bad id is often seen twice (in a field and in the JSON text).
        if malformed > 0 {
            counters.incr(ck::trace::MALFORMED_ID);
        }
        let found = found?;
        if !building {
            return Some(found);
        }
        self.with_id += 1;
        let slot = match self.index.get(&found.trace_id) {
            Some(&i) => i,
            None => {
                if self.traces.len() >= self.rules.max_segments_per_batch {
                    counters.incr(ck::trace::SEGMENTS_OVER_CAP);
                    return Some(found);
                }
                self.traces.push(TraceAcc::new(self.rules, record, &found));
                self.index.insert(found.trace_id, self.traces.len() - 1);
                self.traces.len() - 1
            }
        };
        if let Some(acc) = self.traces.get_mut(slot) {
            acc.observe(self.rules, record, &found, counters);
        }
        Some(found)
    }

    /// The segments, in the order their traces first appeared in the batch.
    pub fn finish(mut self, counters: &mut Counters) -> Vec<Segment> {
        counters.add(ck::trace::RECORDS_WITH_ID, self.with_id);
        let mut out = Vec::with_capacity(self.traces.len());
        for acc in self.traces {
            if acc.sampled == Some(false) && !self.rules.include_unsampled {
                counters.incr(ck::trace::UNSAMPLED_SKIPPED);
                continue;
            }
            out.push(acc.into_segment(self.rules, &self.ctx, &mut self.redact_memo, counters));
        }
        counters.add(ck::trace::SEGMENTS, out.len() as u64);
        out
    }
}

/// The segments in PutTraceSegments-sized groups.
pub fn batches(segments: &[Segment]) -> impl Iterator<Item = &[Segment]> {
    segments.chunks(PUT_TRACE_SEGMENTS_BATCH)
}

/// Whether X-Ray will still accept `seg` at `now_ms`: its earliest event is inside the 7-day
/// modification window (less a margin), and it is not from the future.
pub fn within_retention(seg: &Segment, now_ms: i64) -> bool {
    let oldest = now_ms.saturating_sub(TRACE_MODIFICATION_WINDOW_MS - RETENTION_SAFETY_MARGIN_MS);
    let newest = now_ms.saturating_add(MAX_FUTURE_SKEW_MS);
    seg.start_time_ms >= oldest && seg.end_time_ms <= newest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogEvent, PlatformEvent, Report, XrayRef};
    use serde_json::{json, Value};
    use std::sync::Arc;

    const T1: &str = "1-5759e988-bd862e3fe1be46a994272793";
    const T2: &str = "1-67891233-abcdef012345678912345678";

    fn source(group: &str, stream: &str) -> Arc<Source> {
        Arc::new(Source {
            owner: "123456789012".into(),
            log_group: group.into(),
            log_stream: stream.into(),
            ..Source::default()
        })
    }

    fn rec(src: &Arc<Source>, id: &str, ts: i64, message: &str, fields: Value) -> Record {
        let mut r = Record::text(
            src.clone(),
            LogEvent {
                id: id.into(),
                timestamp: ts,
                message: message.into(),
                extracted_fields: None,
            },
        );
        if let Value::Object(m) = fields {
            r.set_fields(m);
        }
        r
    }

    fn run(rules: &TraceRules, src: &Source, records: &[Record]) -> (Vec<Segment>, Counters) {
        let mut counters = Counters::new();
        let mut c = TraceCollector::new(rules, src);
        for r in records {
            c.observe(r, &mut counters);
        }
        (c.finish(&mut counters), counters)
    }

    fn doc(seg: &Segment) -> Value {
        serde_json::from_str(&seg.document).unwrap()
    }

    fn config(toml_text: &str) -> TracesConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn config_errors_name_the_key() {
        let many: String = (0..51).map(|i| format!("a{i} = \"$.x\"\n")).collect();
        let cases: Vec<(String, &str)> = vec![
            ("service_name = \"bad*name\"".into(), "traces.service_name"),
            ("service_name = \"\"".into(), "traces.service_name"),
            (format!("[annotations]\n{many}"), "traces.annotations"),
            (
                "[annotations]\n\"...\" = \"$.x\"".into(),
                "traces.annotations.\"...\"",
            ),
            (
                "[annotations]\n\"\" = \"$.x\"".into(),
                "traces.annotations.\"\"",
            ),
            (
                "[annotations]\n\"a.b\" = \"$.x\"\na_b = \"$.y\"".into(),
                "traces.annotations.a_b",
            ),
            (
                "[annotations]\nlevel = \"$.a..b\"".into(),
                "traces.annotations.level",
            ),
            (
                "metadata = [\"$.ok\", \"$.a[\"]".into(),
                "traces.metadata[1]",
            ),
            ("metadata = [\"$.ok\", \"ok\"]".into(), "traces.metadata[1]"),
            (
                "trace_id_fields = [\"$.\"]".into(),
                "traces.trace_id_fields[0]",
            ),
            (
                format!("metadata = [{}]", vec!["\"$.x\""; 51].join(",")),
                "traces.metadata",
            ),
            (
                "max_segments_per_batch = 0".into(),
                "traces.max_segments_per_batch",
            ),
        ];
        for (text, want_key) in cases {
            let err = config(&text).validate().unwrap_err();
            assert_eq!(err.key, want_key, "{text}: {err}");
        }
        assert!(toml::from_str::<TracesConfig>("bogus = 1").is_err());
        let ok = config(
            "sink = \"xray\"\nservice_name = \"orders api\"\nmetadata = [\"$.user\"]\n\
             trace_id_fields = [\"$.ctx.tid\"]\n[annotations]\n\"http.status\" = \"$.status\"",
        )
        .validate()
        .unwrap();
        assert_eq!(ok.annotations[0].0, "http_status");
        assert_eq!(ok.metadata[0].0, "user");
        assert_eq!(
            config("").validate().unwrap().max_segments_per_batch,
            DEFAULT_MAX_SEGMENTS_PER_BATCH
        );
    }

    /// A Lambda invocation in the text format, traced, that failed with a 502 and an ERROR line.
    fn lambda_batch(src: &Arc<Source>) -> Vec<Record> {
        let mut start = rec(
            src,
            "e1",
            1_700_000_000_000,
            "START RequestId: req-1 Version: $LATEST",
            json!({}),
        );
        start.platform = Some(PlatformEvent::Start {
            request_id: "req-1".into(),
            version: None,
        });
        let app = rec(
            src,
            "e2",
            1_700_000_000_250,
            "{...}",
            json!({"level": "INFO", "xray_trace_id": T1, "status": 200, "requestId": "req-1"}),
        );
        let err = rec(
            src,
            "e3",
            1_700_000_000_400,
            "{...}",
            json!({"level": "ERROR", "xray_trace_id": T1, "statusCode": "502", "errorType": "Boom"}),
        );
        let other = rec(
            src,
            "e4",
            1_700_000_000_300,
            &format!("unrelated {T2}"),
            json!({}),
        );
        let mut report = rec(
            src,
            "e5",
            1_700_000_001_000,
            "REPORT RequestId: req-1",
            json!({}),
        );
        report.platform = Some(PlatformEvent::Report(Report {
            request_id: "req-1".into(),
            xray: Some(XrayRef {
                trace_id: T1.into(),
                segment_id: Some("3d752a1b1bbe37e0".into()),
                sampled: Some(true),
            }),
            ..Report::default()
        }));
        vec![start, app, err, other, report]
    }

    #[test]
    fn lambda_batch_gives_one_segment_per_trace() {
        let src = source("/aws/lambda/orders-api", "2024/01/01/[$LATEST]abc");
        let rules = TraceRules::default();
        let (segs, counters) = run(&rules, &src, &lambda_batch(&src));
        assert_eq!(segs.len(), 2);
        assert_eq!(counters.get("trace.segments"), 2);
        assert_eq!(counters.get("trace.records_with_id"), 4);
        let d = doc(&segs[0]);
        assert_eq!(segs[0].trace_id, T1);
        assert_eq!(d["trace_id"], T1);
        assert_eq!(d["name"], "orders-api");
        assert_eq!(d["origin"], "AWS::Lambda::Function");
        assert_eq!(d["id"].as_str().unwrap().len(), 16);
        // The START line carries no id, so the trace spans the app lines to the REPORT.
        assert_eq!(d["start_time"], json!(1_700_000_000.25));
        assert_eq!(d["end_time"], json!(1_700_000_001.0));
        assert_eq!(
            (segs[0].start_time_ms, segs[0].end_time_ms),
            (1_700_000_000_250, 1_700_000_001_000)
        );
        assert_eq!(d["parent_id"], "3d752a1b1bbe37e0");
        assert_eq!(
            d["aws"],
            json!({"account_id": "123456789012", "cloudwatch_logs": [{"log_group": "/aws/lambda/orders-api"}]})
        );
        assert_eq!(d["fault"], true);
        assert_eq!(d["http"], json!({"response": {"status": 502}}));
        let a = &d["annotations"];
        assert_eq!(a["log_count"], 3);
        assert_eq!(a["log_errors"], 1);
        assert_eq!(a["level"], "ERROR");
        assert_eq!(a["http_status"], 502);
        assert_eq!(a["log_group"], "/aws/lambda/orders-api");
        assert_eq!(a["request_id"], "req-1");
        assert_eq!(a["error_type"], "Boom");
        let d2 = doc(&segs[1]);
        assert_eq!(d2["trace_id"], T2);
        assert_eq!(d2["annotations"]["log_count"], 1);
        assert!(d2.get("fault").is_none() && d2.get("parent_id").is_none());
        assert!(d2["annotations"].get("level").is_none());
    }

    #[test]
    fn lambda_json_format_records_join_one_trace() {
        let src = source("/aws/lambda/orders-api", "s");
        let start = rec(
            &src,
            "1",
            1_000,
            "{...}",
            json!({"time": "t", "type": "platform.start", "record": {"requestId": "r1",
                "tracing": {"spanId": "1111111111111111", "type": "X-Amzn-Trace-Id",
                            "value": format!("Root={T1};Parent=2222222222222222;Sampled=1")}}}),
        );
        let app = rec(
            &src,
            "2",
            1_500,
            "{...}",
            json!({"timestamp": "t", "level": "WARN", "requestId": "r1", "xRayTraceId": T1}),
        );
        let mut spaced = rec(&src, "3", 2_000, "GET /x 200", json!({}));
        spaced.extracted_fields = Some(BTreeMap::from([("hdr".to_string(), format!("Root={T1}"))]));
        let (segs, _) = run(&TraceRules::default(), &src, &[start, app, spaced]);
        assert_eq!(segs.len(), 1);
        let d = doc(&segs[0]);
        assert_eq!(d["annotations"]["log_count"], 3);
        assert_eq!(d["annotations"]["level"], "WARN");
        assert_eq!(d["annotations"]["request_id"], "r1");
        assert_eq!(d["parent_id"], "2222222222222222");
        assert!(d.get("fault").is_none());
    }

    #[test]
    fn a_retried_batch_rewrites_the_same_documents() {
        let src = source("/aws/lambda/orders-api", "s1");
        let rules = config("metadata = [\"$.status\"]\n[annotations]\nsvc = \"$.level\"")
            .validate()
            .unwrap();
        let batch = lambda_batch(&src);
        let (first, _) = run(&rules, &src, &batch);
        let (second, _) = run(&rules, &src, &batch);
        assert!(!first.is_empty());
        assert_eq!(first, second);
    }

    #[test]
    fn batches_from_two_streams_add_two_segments_to_one_trace() {
        let rules = TraceRules::default();
        let a = source("/aws/lambda/orders-api", "stream-a");
        let b = source("/aws/lambda/orders-api", "stream-b");
        let (sa, _) = run(
            &rules,
            &a,
            &[rec(&a, "111", 1, &format!("x {T1}"), json!({}))],
        );
        let (sb, _) = run(
            &rules,
            &b,
            &[rec(&b, "222", 2, &format!("y {T1}"), json!({}))],
        );
        assert_eq!((sa.len(), sb.len()), (1, 1));
        assert_eq!(sa[0].trace_id, sb[0].trace_id);
        assert_ne!(sa[0].id, sb[0].id);
        // The same first event in another log group is another segment too.
        let c = source("/aws/lambda/other", "stream-a");
        let (sc, _) = run(
            &rules,
            &c,
            &[rec(&c, "111", 1, &format!("x {T1}"), json!({}))],
        );
        assert_ne!(sa[0].id, sc[0].id);
    }

    #[test]
    fn configured_annotations_take_the_most_severe_value_and_shadow_builtins() {
        let src = source("/app/web", "s");
        let rules = config(
            "service_name = \"web\"\nmetadata = [\"$.user\"]\n[annotations]\n\
             code = \"$.code\"\nlevel = \"$.lvl_text\"\nobj = \"$.nested\"",
        )
        .validate()
        .unwrap();
        let records = vec![
            rec(
                &src,
                "1",
                10,
                "",
                json!({"trace_id": T1, "level": "info", "code": "A", "user": {"id": 1}, "nested": {"x": 1}}),
            ),
            rec(
                &src,
                "2",
                20,
                "",
                json!({"trace_id": T1, "level": "error", "code": "B", "user": {"id": 2}}),
            ),
            rec(
                &src,
                "3",
                30,
                "",
                json!({"trace_id": T1, "level": "error", "code": "C", "user": {"id": 3}}),
            ),
            rec(
                &src,
                "4",
                40,
                "",
                json!({"trace_id": T1, "level": "warn", "code": "D"}),
            ),
        ];
        let (segs, counters) = run(&rules, &src, &records);
        let d = doc(&segs[0]);
        assert_eq!(d["name"], "web");
        assert!(d.get("origin").is_none());
        // First ERROR record wins over the INFO before it and the equal ERROR after it.
        assert_eq!(d["annotations"]["code"], "B");
        assert_eq!(d["metadata"]["logsieve"]["user"], json!({"id": 2}));
        // `level` is configured but no record has `lvl_text`: the built-in fills in.
        assert_eq!(d["annotations"]["level"], "ERROR");
        assert!(d["annotations"].get("obj").is_none());
        assert_eq!(counters.get("trace.annotation_not_scalar"), 1);
        let keys: Vec<&String> = d["annotations"].as_object().unwrap().keys().collect();
        // No request id, status or error type in these records, so those built-ins are absent.
        assert_eq!(
            keys,
            ["code", "level", "log_count", "log_errors", "log_group"]
        );
    }

    #[test]
    fn client_errors_and_throttles() {
        let src = source("/app/web", "s");
        let cases: &[(Value, bool, bool, bool)] = &[
            (json!({"trace_id": T1, "status": 404}), false, true, false),
            (json!({"trace_id": T1, "status": "429"}), false, true, true),
            (
                json!({"trace_id": T1, "http": {"status": 503}}),
                true,
                false,
                false,
            ),
            (json!({"trace_id": T1, "status": 200}), false, false, false),
            (json!({"trace_id": T1, "status": 999}), false, false, false),
        ];
        for (fields, fault, error, throttle) in cases {
            let (segs, _) = run(
                &TraceRules::default(),
                &src,
                &[rec(&src, "1", 1, "", fields.clone())],
            );
            let d = doc(&segs[0]);
            let flag = |k: &str| d.get(k) == Some(&json!(true));
            assert_eq!(
                (flag("fault"), flag("error"), flag("throttle")),
                (*fault, *error, *throttle),
                "{fields}"
            );
        }
    }

    #[test]
    fn unsampled_traces_are_skipped_unless_asked_for() {
        let src = source("/app/web", "s");
        let header = format!("Root={T1};Sampled=0");
        let records = [
            rec(&src, "1", 1, "", json!({"X-Amzn-Trace-Id": header})),
            rec(&src, "2", 2, &format!("bare {T1}"), json!({})),
        ];
        let (segs, counters) = run(&TraceRules::default(), &src, &records);
        assert!(segs.is_empty());
        assert_eq!(counters.get("trace.unsampled_skipped"), 1);
        let rules = config("include_unsampled = true").validate().unwrap();
        assert_eq!(run(&rules, &src, &records).0.len(), 1);
        // One record saying sampled outweighs another saying not.
        let sampled = rec(&src, "3", 3, &format!("Root={T1};Sampled=1"), json!({}));
        let mut mixed = records.to_vec();
        mixed.push(sampled);
        assert_eq!(run(&TraceRules::default(), &src, &mixed).0.len(), 1);
    }

    #[test]
    fn sink_none_does_nothing() {
        let src = source("/app/web", "s");
        let rules = config("sink = \"none\"").validate().unwrap();
        let (segs, counters) = run(
            &rules,
            &src,
            &[rec(
                &src,
                "1",
                1,
                &format!("{T1} 1-00000000-000000000000000000000000"),
                json!({}),
            )],
        );
        assert!(segs.is_empty());
        assert!(counters.is_empty());
    }

    #[test]
    fn segments_per_batch_are_capped() {
        let src = source("/app/web", "s");
        let rules = config("max_segments_per_batch = 2").validate().unwrap();
        let records: Vec<Record> = (1..=4)
            .map(|i| {
                rec(
                    &src,
                    &i.to_string(),
                    i,
                    &format!("1-0000000{i}-000000000000000000000001"),
                    json!({}),
                )
            })
            .collect();
        let (segs, counters) = run(&rules, &src, &records);
        assert_eq!(segs.len(), 2);
        assert_eq!(counters.get("trace.segments_over_cap"), 2);
    }

    #[test]
    fn malformed_ids_are_counted() {
        let src = source("/app/web", "s");
        let records = [
            rec(&src, "1", 1, "", json!({"trace_id": "nope"})),
            rec(
                &src,
                "2",
                2,
                "Root=1-00000000-000000000000000000000000",
                json!({}),
            ),
        ];
        let (segs, counters) = run(&TraceRules::default(), &src, &records);
        assert!(segs.is_empty());
        assert_eq!(counters.get("trace.malformed_id"), 2);
    }

    #[test]
    fn batches_of_at_most_fifty() {
        let seg = Segment {
            trace_id: T1.into(),
            id: "0123456789abcdef".into(),
            document: "{}".into(),
            start_time_ms: 0,
            end_time_ms: 0,
        };
        for (n, want) in [
            (0, vec![]),
            (1, vec![1]),
            (50, vec![50]),
            (51, vec![50, 1]),
            (120, vec![50, 50, 20]),
        ] {
            let segs = vec![seg.clone(); n];
            let sizes: Vec<usize> = batches(&segs).map(<[Segment]>::len).collect();
            assert_eq!(sizes, want, "{n}");
        }
    }

    #[test]
    fn retention_window() {
        let now: i64 = 1_800_000_000_000;
        let day = 24 * 60 * 60 * 1000;
        let hour = 60 * 60 * 1000;
        let cases: &[(i64, i64, bool)] = &[
            (now - 60_000, now, true),
            (now - 6 * day, now - 6 * day, true),
            // Inside 7 days but within the safety margin of its end.
            (now - 7 * day + hour / 2, now, false),
            (now - 8 * day, now - 6 * day, false),
            (now - 31 * day, now - 31 * day, false),
            (now, now + hour, true),
            (now, now + 3 * hour, false),
            (i64::MIN, i64::MAX, false),
        ];
        for &(start, end, want) in cases {
            let seg = Segment {
                trace_id: T1.into(),
                id: "0123456789abcdef".into(),
                document: String::new(),
                start_time_ms: start,
                end_time_ms: end,
            };
            assert_eq!(within_retention(&seg, now), want, "{start}..{end}");
        }
        let edge = |start| Segment {
            trace_id: T1.into(),
            id: String::new(),
            document: String::new(),
            start_time_ms: start,
            end_time_ms: start,
        };
        assert!(within_retention(&edge(i64::MIN), i64::MIN));
        assert!(!within_retention(&edge(0), i64::MAX));
    }
}
