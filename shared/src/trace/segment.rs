//! Turns what one batch said about one trace into an X-Ray segment document, enforcing X-Ray's
//! limits (name chars, annotation keys/types/count, document size). Pure: times come from the
//! log events, ids from a hash of the batch, so a retried batch rewrites the same segment.
//!
//! Choices made here (to be carried into the README's section on traces):
//! - A configured annotation or metadata value comes from the most severe record of the trace that
//!   has the field (by `Record::level()`; records with no level rank lowest), the earliest among
//!   equals: when a trace failed, the values beside the failure are the ones worth searching by.
//! - `fault: true` when any record was an error (ERROR/FATAL level, a failed Lambda invocation)
//!   or the highest HTTP status was 5xx; otherwise `error: true` for 4xx (and `throttle: true`
//!   for 429). The logs come from the service itself, so its errors are its faults.
//! - `origin` follows the log group: `/aws/lambda/` → `AWS::Lambda::Function`, `/aws/ecs/` and
//!   `/ecs/` → `AWS::ECS::Container`, `/aws/elasticbeanstalk/` →
//!   `AWS::ElasticBeanstalk::Environment`, `API-Gateway-Execution-Logs_` →
//!   `AWS::ApiGateway::Stage`; any other group gets no origin rather than a guessed one.
//! - The log group is linked the way the X-Ray SDKs do it (`aws.cloudwatch_logs[].log_group`), so
//!   the console can jump from the trace to the logs.

use std::io::Write;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Number, Value};
use xxhash_rust::xxh3::Xxh3;

use crate::counter_keys as ck;
use crate::record::{FieldPath, FieldRef, Level, PlatformEvent, Record, Source};
use crate::stats::Counters;

use super::id::{SpanId, TraceId, TraceRef};
use super::{Segment, TraceRules};

/// X-Ray segment document size limit ("64 KB", not adjustable). 64,000 bytes is below both
/// readings of "KB".
pub const MAX_SEGMENT_DOCUMENT_BYTES: usize = 64_000;
/// X-Ray indexes at most 50 annotations per trace (quota `L-C6B6F05D`).
pub const MAX_ANNOTATIONS: usize = 50;
/// Cap on annotation string values (design §5), cut at a UTF-8 boundary.
pub const MAX_ANNOTATION_VALUE_BYTES: usize = 1000;
/// Cap on annotation key length; X-Ray documents none, 250 is its general string-field bound.
pub const MAX_ANNOTATION_KEY_LEN: usize = 250;
/// Segment `name`: at most 200 characters.
pub const MAX_SEGMENT_NAME_CHARS: usize = 200;
/// CloudWatch Logs group names are at most 512 characters; longer input is cut to that.
pub const MAX_LOG_GROUP_CHARS: usize = 512;
/// Name used when neither the config nor the log group yields a usable one.
pub const FALLBACK_SEGMENT_NAME: &str = "logsieve";
/// Room kept for the `"annotations":{}` and `"metadata":{"logsieve":{}}` wrappers when budgeting.
const WRAPPER_BYTES: usize = 64;

const HTTP_STATUS_FIELDS: &[&str] = &["status", "status_code", "statusCode", "http.status"];
const REQUEST_ID_FIELDS: &[&str] = &[
    "requestId",
    "request_id",
    "aws_request_id",
    "function_request_id",
    "record.requestId",
];
const ERROR_TYPE_FIELDS: &[&str] = &["errorType", "error_type", "record.errorType"];

static HTTP_STATUS_PATHS: std::sync::LazyLock<Vec<FieldPath>> =
    std::sync::LazyLock::new(|| paths(HTTP_STATUS_FIELDS));
static REQUEST_ID_PATHS: std::sync::LazyLock<Vec<FieldPath>> =
    std::sync::LazyLock::new(|| paths(REQUEST_ID_FIELDS));
static ERROR_TYPE_PATHS: std::sync::LazyLock<Vec<FieldPath>> =
    std::sync::LazyLock::new(|| paths(ERROR_TYPE_FIELDS));

fn paths(list: &[&str]) -> Vec<FieldPath> {
    list.iter()
        .filter_map(|p| FieldPath::parse(p).ok())
        .collect()
}

/// An annotation value X-Ray accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationValue {
    String(String),
    Number(Number),
    Bool(bool),
}

impl AnnotationValue {
    /// Scalars only; strings are cut to `MAX_ANNOTATION_VALUE_BYTES`.
    pub fn from_json(v: &Value) -> Option<AnnotationValue> {
        match v {
            Value::String(s) => Some(AnnotationValue::String(
                truncate_utf8(s, MAX_ANNOTATION_VALUE_BYTES).to_string(),
            )),
            Value::Number(n) => Some(AnnotationValue::Number(n.clone())),
            Value::Bool(b) => Some(AnnotationValue::Bool(*b)),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }

    fn string(s: &str) -> AnnotationValue {
        AnnotationValue::String(truncate_utf8(s, MAX_ANNOTATION_VALUE_BYTES).to_string())
    }
}

impl Serialize for AnnotationValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnnotationValue::String(v) => s.serialize_str(v),
            AnnotationValue::Number(n) => n.serialize(s),
            AnnotationValue::Bool(b) => s.serialize_bool(*b),
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `[A-Za-z0-9_]` only (others become `_`), as X-Ray filter expressions require. `None` when
/// nothing alphanumeric is left: such a key could not be told apart from others.
pub fn sanitize_annotation_key(name: &str) -> Option<String> {
    let key: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    key.bytes()
        .any(|b| b.is_ascii_alphanumeric())
        .then_some(key)
}

/// ASCII only: X-Ray allows Unicode letters and numbers too, but which code points count depends
/// on the Unicode version of whoever checks (a letter added in Unicode 15 is not one to an older
/// checker), and log group names are ASCII anyway.
fn name_char_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' ' || "_.:/%&#=+\\-@".contains(c)
}

/// X-Ray segment names allow letters, numbers, whitespace and `_ . : / % & # = + \ - @`,
/// ≤200 characters. Other characters become `_` (see `name_char_allowed` for non-ASCII); other
/// whitespace (tabs, newlines) too, since a name is shown on one line. Empty names become
/// `FALLBACK_SEGMENT_NAME`.
pub fn sanitize_segment_name(name: &str) -> String {
    let name: String = name
        .trim()
        .chars()
        .take(MAX_SEGMENT_NAME_CHARS)
        .map(|c| if name_char_allowed(c) { c } else { '_' })
        .collect();
    if name.is_empty() {
        FALLBACK_SEGMENT_NAME.to_string()
    } else {
        name
    }
}

/// True when every character of `name` is allowed in a segment name (for config validation).
pub fn is_valid_segment_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_SEGMENT_NAME_CHARS
        && name.chars().all(name_char_allowed)
}

/// `/aws/lambda/foo` → `foo`; other groups → their last non-empty `/` part.
pub fn name_from_log_group(group: &str) -> String {
    let base = match group.strip_prefix("/aws/lambda/") {
        Some(function) => function,
        None => group
            .rsplit('/')
            .find(|p| !p.is_empty())
            .unwrap_or_default(),
    };
    sanitize_segment_name(base)
}

/// The `origin` for a log group (see the module comment); `None` when it names no known resource.
pub fn origin_for_log_group(group: &str) -> Option<&'static str> {
    if group.starts_with("/aws/lambda/") {
        Some("AWS::Lambda::Function")
    } else if group.starts_with("/aws/ecs/") || group.starts_with("/ecs/") {
        Some("AWS::ECS::Container")
    } else if group.starts_with("/aws/elasticbeanstalk/") {
        Some("AWS::ElasticBeanstalk::Environment")
    } else if group.starts_with("API-Gateway-Execution-Logs_") {
        Some("AWS::ApiGateway::Stage")
    } else {
        None
    }
}

/// Per-batch facts shared by every segment of the batch.
#[derive(Debug)]
pub(crate) struct BatchContext {
    name: String,
    origin: Option<&'static str>,
    account_id: Option<String>,
    log_group: String,
}

impl BatchContext {
    pub(crate) fn new(rules: &TraceRules, source: &Source) -> BatchContext {
        // Once per batch: every segment of the batch shares the group.
        let group = crate::exits::redact_name(&source.log_group, rules.guard.names.as_ref());
        let name = match &rules.service_name {
            Some(n) => sanitize_segment_name(n),
            None => name_from_log_group(&group),
        };
        let owner = source.owner.trim();
        let account_id = (owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()))
            .then(|| owner.to_string());
        let log_group: String = group.chars().take(MAX_LOG_GROUP_CHARS).collect();
        BatchContext {
            name,
            origin: origin_for_log_group(&source.log_group),
            account_id,
            log_group,
        }
    }
}

/// A value picked from the most severe record that had it (earliest among equals).
#[derive(Debug, Clone)]
struct Pick<T> {
    severity: Option<Level>,
    value: T,
}

fn offer<T>(
    slot: &mut Option<Pick<T>>,
    severity: Option<Level>,
    value: impl FnOnce() -> Option<T>,
) {
    if slot.as_ref().is_some_and(|p| p.severity >= severity) {
        return;
    }
    if let Some(value) = value() {
        *slot = Some(Pick { severity, value });
    }
}

/// What one batch said about one trace.
#[derive(Debug)]
pub(crate) struct TraceAcc {
    pub(crate) trace_id: TraceId,
    first_event_id: String,
    parent_id: Option<SpanId>,
    /// `Some(true)` if any record said sampled, `Some(false)` if some said unsampled and none
    /// sampled, `None` if none said.
    pub(crate) sampled: Option<bool>,
    start_ms: i64,
    end_ms: i64,
    log_count: u64,
    error_count: u64,
    max_level: Option<Level>,
    http_status: Option<u16>,
    request_id: Option<String>,
    error_type: Option<String>,
    /// Index-aligned with `TraceRules::annotations`.
    configured: Vec<Option<Pick<AnnotationValue>>>,
    /// Index-aligned with `TraceRules::metadata`.
    metadata: Vec<Option<Pick<Value>>>,
}

fn platform_request_id(p: &PlatformEvent) -> Option<&str> {
    match p {
        PlatformEvent::Start { request_id, .. }
        | PlatformEvent::End { request_id }
        | PlatformEvent::RuntimeDone { request_id, .. } => Some(request_id),
        PlatformEvent::Report(r) => Some(&r.request_id),
        PlatformEvent::Timeout { request_id, .. }
        | PlatformEvent::OutOfMemory { request_id }
        | PlatformEvent::RuntimeExit { request_id, .. } => request_id.as_deref(),
        PlatformEvent::InitStart { .. }
        | PlatformEvent::InitReport { .. }
        | PlatformEvent::Other { .. } => None,
    }
}

fn platform_error_type(p: &PlatformEvent) -> Option<&str> {
    match p {
        PlatformEvent::Report(r) => r.error_type.as_deref(),
        PlatformEvent::RuntimeDone { error_type, .. }
        | PlatformEvent::InitReport { error_type, .. } => error_type.as_deref(),
        // The invoke error types Lambda reports for these lines.
        PlatformEvent::Timeout { .. } => Some("Sandbox.Timedout"),
        PlatformEvent::OutOfMemory { .. } => Some("Runtime.OutOfMemory"),
        _ => None,
    }
}

fn first_string<'a>(record: &'a Record, paths: &[FieldPath]) -> Option<&'a str> {
    paths
        .iter()
        .find_map(|p| record.get_str(p).filter(|s| !s.trim().is_empty()))
}

fn http_status(record: &Record) -> Option<u16> {
    HTTP_STATUS_PATHS.iter().find_map(|p| {
        let n = match record.get(p)? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse::<u64>().ok()?,
            _ => return None,
        };
        (100..=599)
            .contains(&n)
            .then(|| u16::try_from(n).ok())
            .flatten()
    })
}

/// Writes into a buffer but fails once `limit` bytes are exceeded, so measuring a hostile value's
/// JSON size never allocates more than the limit.
struct CappedWriter {
    len: usize,
    limit: usize,
}

impl Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.len += buf.len();
        if self.len > self.limit {
            return Err(std::io::Error::other("over limit"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON size of `v` if it is at most `limit` bytes.
fn json_len_within<T: Serialize + ?Sized>(v: &T, limit: usize) -> Option<usize> {
    let mut w = CappedWriter { len: 0, limit };
    serde_json::to_writer(&mut w, v).ok().map(|_| w.len)
}

fn json_len<T: Serialize + ?Sized>(v: &T) -> usize {
    json_len_within(v, usize::MAX).unwrap_or(usize::MAX)
}

impl TraceAcc {
    pub(crate) fn new(rules: &TraceRules, record: &Record, found: &TraceRef) -> TraceAcc {
        TraceAcc {
            trace_id: found.trace_id,
            first_event_id: record.event_id.clone(),
            parent_id: None,
            sampled: None,
            start_ms: record.timestamp,
            end_ms: record.timestamp,
            log_count: 0,
            error_count: 0,
            max_level: None,
            http_status: None,
            request_id: None,
            error_type: None,
            configured: vec![None; rules.annotations.len()],
            metadata: vec![None; rules.metadata.len()],
        }
    }

    pub(crate) fn observe(
        &mut self,
        rules: &TraceRules,
        record: &Record,
        found: &TraceRef,
        counters: &mut Counters,
    ) {
        self.log_count += 1;
        self.start_ms = self.start_ms.min(record.timestamp);
        self.end_ms = self.end_ms.max(record.timestamp);
        if self.parent_id.is_none() {
            self.parent_id = found.parent_id;
        }
        self.sampled = match (self.sampled, found.sampled) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), _) | (_, Some(false)) => Some(false),
            (None, None) => None,
        };

        let level = record.level();
        let failed = record.platform.as_ref().is_some_and(PlatformEvent::failed);
        let is_error = failed || level.is_some_and(Level::is_error);
        let severity = if failed {
            level.max(Some(Level::Error))
        } else {
            level
        };
        if is_error {
            self.error_count += 1;
        }
        self.max_level = self.max_level.max(severity);
        if let Some(status) = http_status(record) {
            self.http_status = self.http_status.max(Some(status));
        }
        if self.request_id.is_none() {
            let id = record
                .platform
                .as_ref()
                .and_then(platform_request_id)
                .filter(|s| !s.trim().is_empty())
                .or_else(|| first_string(record, &REQUEST_ID_PATHS));
            self.request_id = id.map(|s| truncate_utf8(s, MAX_ANNOTATION_VALUE_BYTES).to_string());
        }
        if self.error_type.is_none() {
            let t = record
                .platform
                .as_ref()
                .and_then(platform_error_type)
                .or_else(|| first_string(record, &ERROR_TYPE_PATHS));
            self.error_type = t.map(|s| truncate_utf8(s, MAX_ANNOTATION_VALUE_BYTES).to_string());
        }

        for (slot, (_, reference)) in self.configured.iter_mut().zip(&rules.annotations) {
            offer(slot, severity, || {
                let path = match reference {
                    FieldRef::Path(p) => p,
                    FieldRef::Tag(k) => return record.tag(k).map(AnnotationValue::string),
                };
                // Strings, the usual annotation, are read without parsing them into a `Value`.
                if let Some(s) = record.get_str(path) {
                    return Some(AnnotationValue::string(s));
                }
                match record.get(path)? {
                    Value::Array(_) | Value::Object(_) => {
                        counters.incr(ck::trace::ANNOTATION_NOT_SCALAR);
                        None
                    }
                    v => AnnotationValue::from_json(v),
                }
            });
        }
        for (slot, (_, path)) in self.metadata.iter_mut().zip(&rules.metadata) {
            offer(slot, severity, || {
                let v = record.get(path)?;
                if json_len_within(v, MAX_SEGMENT_DOCUMENT_BYTES).is_none() {
                    counters.incr(ck::trace::METADATA_DROPPED);
                    return None;
                }
                Some(v.clone())
            });
        }
    }

    /// The annotations in priority order: configured (config order), then built-ins whose name
    /// no configured annotation with a value already took; cut at `MAX_ANNOTATIONS`.
    fn annotations<'r>(
        &mut self,
        rules: &'r TraceRules,
        ctx: &BatchContext,
        counters: &mut Counters,
    ) -> Vec<(&'r str, AnnotationValue)> {
        let mut out: Vec<(&'r str, AnnotationValue)> =
            Vec::with_capacity(rules.annotations.len() + 7);
        for (i, (pick, (key, _))) in self
            .configured
            .iter_mut()
            .zip(&rules.annotations)
            .enumerate()
        {
            if let Some(pick) = pick.take() {
                let mut value = pick.value;
                if rules.guard.annotations.get(i).copied().unwrap_or(false) {
                    mask_annotation(&mut value, counters);
                }
                out.push((key.as_str(), value));
            }
        }
        let builtins = [
            (
                "log_count",
                Some(AnnotationValue::Number(self.log_count.into())),
            ),
            (
                "log_errors",
                Some(AnnotationValue::Number(self.error_count.into())),
            ),
            (
                "level",
                self.max_level.map(|l| AnnotationValue::string(l.as_str())),
            ),
            (
                "http_status",
                self.http_status.map(|s| AnnotationValue::Number(s.into())),
            ),
            (
                "log_group",
                (!ctx.log_group.is_empty()).then(|| AnnotationValue::string(&ctx.log_group)),
            ),
            (
                "request_id",
                self.request_id.as_deref().map(AnnotationValue::string),
            ),
            (
                "error_type",
                self.error_type.as_deref().map(AnnotationValue::string),
            ),
        ];
        for (key, value) in builtins {
            let Some(value) = value else { continue };
            if out.iter().any(|(k, _)| *k == key) {
                continue;
            }
            out.push((key, value));
        }
        if out.len() > MAX_ANNOTATIONS {
            counters.add(
                ck::trace::ANNOTATIONS_DROPPED,
                (out.len() - MAX_ANNOTATIONS) as u64,
            );
            out.truncate(MAX_ANNOTATIONS);
        }
        out
    }

    /// The deterministic segment id: 16 hex of XXH3-64(trace id, log group, first event id), so
    /// a retried batch overwrites its segment and another stream's batch adds its own. XXH3's
    /// output is fixed by its specification (same on every platform and release); it replaced
    /// SHA-256 here because ids need no collision resistance against an adversary (a forged
    /// collision only overwrites a segment of the attacker's own trace) and it is ~20x cheaper.
    fn segment_id(&self, ctx: &BatchContext) -> String {
        let mut h = Xxh3::new();
        h.update(self.trace_id.as_str().as_bytes());
        h.update(&[0]);
        h.update(ctx.log_group.as_bytes());
        h.update(&[0]);
        h.update(self.first_event_id.as_bytes());
        // An all-zero id is invalid; a 2^-64 event, but cheap to rule out.
        let id = h.digest().max(1);
        format!("{id:016x}")
    }

    pub(crate) fn into_segment(
        mut self,
        rules: &TraceRules,
        ctx: &BatchContext,
        memo: &mut crate::redact::RedactMemo,
        counters: &mut Counters,
    ) -> Segment {
        let id = self.segment_id(ctx);
        let mut annotations = self.annotations(rules, ctx, counters);
        let mut masked = 0;
        let mut metadata: Vec<(&str, Value)> = self
            .metadata
            .into_iter()
            .zip(&rules.metadata)
            .enumerate()
            .filter_map(|(i, (pick, (key, _)))| {
                let mut value = pick?.value;
                if rules.guard.metadata.get(i).copied().unwrap_or(false) {
                    masked += crate::exits::mask_value(&mut value);
                }
                Some((key.as_str(), value))
            })
            .collect();
        if masked > 0 {
            counters.add(ck::select::REDACTED, masked as u64);
        }
        // Records reach this stage unredacted when the pipeline does not output them (the
        // subscription function): what leaves in the document is redacted here instead.
        if let Some(redactor) = &rules.redactor {
            let mut n = 0;
            for (_, value) in annotations.iter_mut() {
                if let AnnotationValue::String(s) = value {
                    if let (std::borrow::Cow::Owned(clean), c) = memo.redact_counted(redactor, s) {
                        *s = clean;
                        n += c;
                    }
                }
            }
            // Not `redact_entry(key, …)`: the key is the path's text, whose joined form can look
            // sensitive (`a.pass.word`) when no key on the path is; the path's keys were judged
            // one by one above, as record redaction judges them.
            for (_, value) in metadata.iter_mut() {
                n += redactor.redact_value(value);
            }
            counters.add(ck::select::REDACTED, n as u64);
        }
        let fault = self.error_count > 0 || self.http_status.is_some_and(|s| s >= 500);
        let client_error = !fault && self.http_status.is_some_and(|s| (400..500).contains(&s));
        let mut doc = Document {
            name: &ctx.name,
            id: &id,
            trace_id: self.trace_id.as_str(),
            start_time: self.start_ms as f64 / 1000.0,
            end_time: self.end_ms as f64 / 1000.0,
            parent_id: self.parent_id.as_ref().map(SpanId::as_str),
            origin: ctx.origin,
            fault,
            error: client_error,
            throttle: client_error && self.http_status == Some(429),
            http: self.http_status.map(|status| Http {
                response: HttpResponse { status },
            }),
            aws: Aws {
                account_id: ctx.account_id.as_deref(),
                cloudwatch_logs: [CloudwatchLogs {
                    log_group: &ctx.log_group,
                }],
            },
            annotations: Entries(annotations.iter().map(|(k, v)| (*k, v)).collect()),
            metadata: (!metadata.is_empty()).then(|| Metadata {
                logsieve: Entries(metadata.iter().map(|(k, v)| (*k, v)).collect()),
            }),
        };
        // Nearly every document is far below the limit with everything in it: one serialization
        // and done. Below half the limit the budgeting below would keep every entry anyway (its
        // per-entry slack is a few bytes), so the result is the same document.
        if let Some(document) = doc.to_json() {
            if document.len() <= MAX_SEGMENT_DOCUMENT_BYTES / 2 {
                return Segment {
                    trace_id: self.trace_id.to_string(),
                    id,
                    document,
                    start_time_ms: self.start_ms,
                    end_time_ms: self.end_ms,
                };
            }
        }
        doc.annotations = Entries(Vec::new());
        doc.metadata = None;
        let base = json_len(&doc);
        let mut budget = MAX_SEGMENT_DOCUMENT_BYTES.saturating_sub(base + WRAPPER_BYTES);
        // Annotations are what makes the trace searchable, so they get the room first; metadata
        // fills what is left. Entries that do not fit are dropped, later ones may still fit.
        let mut kept_annotations = Vec::with_capacity(annotations.len());
        for (key, value) in &annotations {
            let cost = json_len(key) + json_len(value) + 2;
            if cost <= budget {
                budget -= cost;
                kept_annotations.push((*key, value));
            } else {
                counters.incr(ck::trace::ANNOTATIONS_DROPPED);
            }
        }
        let mut kept_metadata = Vec::with_capacity(metadata.len());
        for (key, value) in &metadata {
            let cost = json_len(key)
                .saturating_add(json_len_within(value, budget).unwrap_or(usize::MAX))
                .saturating_add(2);
            if cost <= budget {
                budget -= cost;
                kept_metadata.push((*key, value));
            } else {
                counters.incr(ck::trace::METADATA_DROPPED);
            }
        }
        doc.annotations = Entries(kept_annotations);
        if !kept_metadata.is_empty() {
            doc.metadata = Some(Metadata {
                logsieve: Entries(kept_metadata),
            });
        }
        let mut document = serde_json::to_string(&doc).unwrap_or_default();
        if document.len() > MAX_SEGMENT_DOCUMENT_BYTES || document.is_empty() {
            // The budget above is exact up to the wrapper slack, so this is a safety net only.
            counters.incr(ck::trace::DOCUMENT_TRIMMED);
            doc.annotations = Entries(Vec::new());
            doc.metadata = None;
            document = serde_json::to_string(&doc).unwrap_or_default();
        }
        Segment {
            trace_id: self.trace_id.to_string(),
            id,
            document,
            start_time_ms: self.start_ms,
            end_time_ms: self.end_ms,
        }
    }
}

/// An annotation read from a path naming a sensitive key: what record redaction leaves there
/// (strings and numbers become the marker, booleans stay).
fn mask_annotation(value: &mut AnnotationValue, counters: &mut Counters) {
    let masked = match value {
        AnnotationValue::String(s) => !s.starts_with(crate::redact::MARKER_PREFIX),
        AnnotationValue::Number(_) => true,
        AnnotationValue::Bool(_) => false,
    };
    if masked {
        *value = AnnotationValue::String(crate::exits::SENSITIVE_MARKER.to_string());
        counters.incr(ck::select::REDACTED);
    }
}

/// Serializes `(key, value)` pairs as a JSON object in the given order.
struct Entries<K, V>(Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Entries<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<K, V> Entries<K, V> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Serialize)]
struct Document<'a> {
    name: &'a str,
    id: &'a str,
    trace_id: &'a str,
    start_time: f64,
    end_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    fault: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    error: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    throttle: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http>,
    aws: Aws<'a>,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    annotations: Entries<&'a str, &'a AnnotationValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
}

use crate::json::push_str_bytes as push_json_str;

/// A member name we write ourselves (`"name":`, already JSON), after a comma unless first.
fn push_field(out: &mut Vec<u8>, first: &mut bool, field: &[u8]) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.extend_from_slice(field);
}

/// `"key":` after a comma unless it is the first member.
fn push_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    push_json_str(out, key);
    out.push(b':');
}

impl Document<'_> {
    /// The document's JSON, byte for byte what `serde_json::to_string` writes for it (a test
    /// holds the two equal). Written by hand because serde_json's generic serializer cost
    /// ~8k instructions per ~550-byte segment, a third of the per-event cost of tracing;
    /// numbers and metadata values still go through serde_json.
    fn to_json(&self) -> Option<String> {
        let mut out = Vec::with_capacity(1024);
        out.push(b'{');
        let o = &mut out;
        let mut first = true;
        let f = &mut first;
        push_field(o, f, b"\"name\":");
        push_json_str(o, self.name);
        push_field(o, f, b"\"id\":");
        push_json_str(o, self.id);
        push_field(o, f, b"\"trace_id\":");
        push_json_str(o, self.trace_id);
        push_field(o, f, b"\"start_time\":");
        serde_json::to_writer(&mut *o, &self.start_time).ok()?;
        push_field(o, f, b"\"end_time\":");
        serde_json::to_writer(&mut *o, &self.end_time).ok()?;
        if let Some(p) = self.parent_id {
            push_field(o, f, b"\"parent_id\":");
            push_json_str(o, p);
        }
        if let Some(origin) = self.origin {
            push_field(o, f, b"\"origin\":");
            push_json_str(o, origin);
        }
        for (set, key) in [
            (self.fault, b"\"fault\":true".as_slice()),
            (self.error, b"\"error\":true"),
            (self.throttle, b"\"throttle\":true"),
        ] {
            if set {
                push_field(o, f, key);
            }
        }
        if let Some(http) = &self.http {
            push_field(o, f, b"\"http\":");
            o.extend_from_slice(b"{\"response\":{\"status\":");
            serde_json::to_writer(&mut *o, &http.response.status).ok()?;
            o.extend_from_slice(b"}}");
        }
        push_field(o, f, b"\"aws\":");
        o.push(b'{');
        if let Some(account) = self.aws.account_id {
            o.extend_from_slice(b"\"account_id\":");
            push_json_str(o, account);
            o.push(b',');
        }
        o.extend_from_slice(b"\"cloudwatch_logs\":[{\"log_group\":");
        let [logs] = &self.aws.cloudwatch_logs;
        push_json_str(o, logs.log_group);
        o.extend_from_slice(b"}]}");
        if !self.annotations.is_empty() {
            push_field(o, f, b"\"annotations\":");
            o.push(b'{');
            let mut first_entry = true;
            for (key, value) in &self.annotations.0 {
                push_key(o, &mut first_entry, key);
                match value {
                    AnnotationValue::String(s) => push_json_str(o, s),
                    AnnotationValue::Number(n) => serde_json::to_writer(&mut *o, n).ok()?,
                    AnnotationValue::Bool(b) => {
                        o.extend_from_slice(if *b { b"true" } else { b"false" })
                    }
                }
            }
            o.push(b'}');
        }
        if let Some(meta) = &self.metadata {
            push_field(o, f, b"\"metadata\":");
            o.extend_from_slice(b"{\"logsieve\":{");
            let mut first_entry = true;
            for (key, value) in &meta.logsieve.0 {
                push_key(o, &mut first_entry, key);
                serde_json::to_writer(&mut *o, value).ok()?;
            }
            o.extend_from_slice(b"}}");
        }
        o.push(b'}');
        String::from_utf8(out).ok()
    }
}

#[derive(Serialize)]
struct Http {
    response: HttpResponse,
}

#[derive(Serialize)]
struct HttpResponse {
    status: u16,
}

#[derive(Serialize)]
struct Aws<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    cloudwatch_logs: [CloudwatchLogs<'a>; 1],
}

#[derive(Serialize)]
struct CloudwatchLogs<'a> {
    log_group: &'a str,
}

#[derive(Serialize)]
struct Metadata<'a> {
    logsieve: Entries<&'a str, &'a Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
        assert_eq!(truncate_utf8("€€", 5), "€");
    }

    #[test]
    fn annotation_keys() {
        let cases: &[(&str, Option<&str>)] = &[
            ("level", Some("level")),
            ("http.status", Some("http_status")),
            ("Ärger-1", Some("_rger_1")),
            ("a b", Some("a_b")),
            ("...", None),
            ("", None),
            ("___", None),
        ];
        for (name, want) in cases {
            assert_eq!(sanitize_annotation_key(name).as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn names_from_log_groups() {
        let cases: &[(&str, &str)] = &[
            ("/aws/lambda/orders-api", "orders-api"),
            ("/aws/lambda/us-east-1.edge-fn", "us-east-1.edge-fn"),
            ("/ecs/billing/web", "web"),
            ("plain", "plain"),
            ("/trailing/", "trailing"),
            ("", FALLBACK_SEGMENT_NAME),
            ("/", FALLBACK_SEGMENT_NAME),
            ("/aws/lambda/", FALLBACK_SEGMENT_NAME),
            ("/x/na$me*with\tjunk", "na_me_with_junk"),
            ("/x/Ünïcode name@1", "_n_code name@1"),
        ];
        for (group, want) in cases {
            assert_eq!(name_from_log_group(group), *want, "{group}");
        }
        assert_eq!(
            name_from_log_group(&format!("/x/{}", "n".repeat(500)))
                .chars()
                .count(),
            200
        );
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_for_log_group("/aws/lambda/f"),
            Some("AWS::Lambda::Function")
        );
        assert_eq!(
            origin_for_log_group("/ecs/svc"),
            Some("AWS::ECS::Container")
        );
        assert_eq!(
            origin_for_log_group("API-Gateway-Execution-Logs_abc/prod"),
            Some("AWS::ApiGateway::Stage")
        );
        assert_eq!(origin_for_log_group("/my/app"), None);
    }

    #[test]
    fn capped_writer_stops_early() {
        let big = Value::String("x".repeat(1_000_000));
        assert_eq!(json_len_within(&big, 100), None);
        assert_eq!(json_len_within(&Value::String("ab".into()), 100), Some(4));
    }

    mod hand_written_json {
        use super::*;
        use proptest::prelude::*;

        fn text() -> impl Strategy<Value = String> {
            prop_oneof!["\\PC{0,12}", "[\"\\\\/\u{0}-\u{1f}\u{7f}a-zé€😀]{0,12}",]
        }

        fn annotation() -> impl Strategy<Value = AnnotationValue> {
            prop_oneof![
                text().prop_map(AnnotationValue::String),
                any::<i64>().prop_map(|n| AnnotationValue::Number(n.into())),
                any::<f64>()
                    .prop_filter_map("finite", Number::from_f64)
                    .prop_map(AnnotationValue::Number),
                any::<bool>().prop_map(AnnotationValue::Bool),
            ]
        }

        fn metadata() -> impl Strategy<Value = Value> {
            prop_oneof![
                text().prop_map(Value::String),
                any::<i32>().prop_map(Value::from),
                Just(serde_json::json!({"a": [1, null, "x\u{1}"], "b": {"c": true}})),
            ]
        }

        proptest! {
            #[test]
            fn matches_serde_json_byte_for_byte(
                name in text(), trace_id in text(), log_group in text(),
                start_ms in -1_000_000_000_000_000i64..1_000_000_000_000_000,
                len_ms in 0i64..10_000_000,
                parent in proptest::option::of(text()),
                origin in proptest::option::of(prop::sample::select(vec!["AWS::Lambda::Function", "AWS::ECS::Container"])),
                flags in any::<(bool, bool, bool)>(),
                status in proptest::option::of(any::<u16>()),
                account in proptest::option::of(text()),
                annotations in prop::collection::vec((text(), annotation()), 0..6),
                metadata in proptest::option::of(prop::collection::vec((text(), metadata()), 0..4)),
            ) {
                let doc = Document {
                    name: &name,
                    id: "0123456789abcdef",
                    trace_id: &trace_id,
                    start_time: start_ms as f64 / 1000.0,
                    end_time: (start_ms + len_ms) as f64 / 1000.0,
                    parent_id: parent.as_deref(),
                    origin,
                    fault: flags.0,
                    error: flags.1,
                    throttle: flags.2,
                    http: status.map(|status| Http { response: HttpResponse { status } }),
                    aws: Aws {
                        account_id: account.as_deref(),
                        cloudwatch_logs: [CloudwatchLogs { log_group: &log_group }],
                    },
                    annotations: Entries(annotations.iter().map(|(k, v)| (k.as_str(), v)).collect()),
                    metadata: metadata.as_ref().map(|m| Metadata {
                        logsieve: Entries(m.iter().map(|(k, v)| (k.as_str(), v)).collect()),
                    }),
                };
                prop_assert_eq!(doc.to_json(), serde_json::to_string(&doc).ok());
            }
        }
    }
}
