//! The typed values that flow between stages: a decoded batch, its log events, and the parsed
//! `Record` every stage after `parse` reads. Also the `$.a.b[0]` field paths used to address them.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::json::object::{LazyObject, TextOrValue};

/// Where a batch came from; shared by every record of the batch (one allocation per batch).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    pub owner: String,
    pub log_group: String,
    pub log_stream: String,
    pub subscription_filters: Vec<String>,
    /// `ACCOUNT_LEVEL_POLICY` for account-level subscriptions, absent otherwise.
    pub policy_level: Option<String>,
    /// Tags of the resources behind the log group (its Lambda function, the log group itself),
    /// set by the edge before the batch is processed and read as `$tags.<key>`; empty when
    /// unknown. Not part of the delivered document.
    pub tags: Arc<Tags>,
}

/// Resource tags, key → value.
pub type Tags = BTreeMap<String, String>;

/// One CloudWatch Logs event as delivered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogEvent {
    pub id: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub message: String,
    /// Present when the subscription filter is a space-delimited pattern with named fields.
    pub extracted_fields: Option<BTreeMap<String, String>>,
}

/// A decoded CloudWatch Logs document (`DATA_MESSAGE`). `CONTROL_MESSAGE` decodes to no batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub source: Arc<Source>,
    pub events: Vec<LogEvent>,
}

/// Which parser recognised the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// A JSON object (application log).
    Json,
    /// Lambda's JSON log format: `{"time","type":"platform.*","record":{…}}`.
    LambdaJsonPlatform,
    /// Lambda's JSON log format for application lines (`timestamp`, `level`, `message`, `requestId`).
    LambdaJsonApp,
    /// A Lambda text-format platform line (START/END/REPORT/INIT_START/timeout/OOM…).
    LambdaText,
    /// A Lambda text-format application line: `<time>\t<requestId>\t<LEVEL>\t<message>`.
    LambdaTextApp,
    /// key=value pairs (logfmt).
    KeyValue,
    /// Common/combined access log (Apache/nginx style).
    AccessLog,
    /// A CloudTrail event record as CloudTrail delivers it to CloudWatch Logs (one JSON object
    /// per log event, with `eventVersion`, `eventSource` and `eventName`).
    CloudTrail,
    /// Anything else, kept as `message`.
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::LambdaJsonPlatform => "lambda_json_platform",
            Format::LambdaJsonApp => "lambda_json_app",
            Format::LambdaText => "lambda_text",
            Format::LambdaTextApp => "lambda_text_app",
            Format::KeyValue => "key_value",
            Format::AccessLog => "access_log",
            Format::CloudTrail => "cloudtrail",
            Format::Text => "text",
        }
    }
}

/// X-Ray ids printed by Lambda after a REPORT line (`XRAY TraceId: … SegmentId: … Sampled: …`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XrayRef {
    pub trace_id: String,
    pub segment_id: Option<String>,
    pub sampled: Option<bool>,
}

/// The numbers of a Lambda REPORT line or a `platform.report` record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub request_id: String,
    pub duration_ms: Option<f64>,
    pub billed_duration_ms: Option<f64>,
    pub memory_size_mb: Option<f64>,
    pub max_memory_used_mb: Option<f64>,
    pub init_duration_ms: Option<f64>,
    pub restore_duration_ms: Option<f64>,
    pub billed_restore_duration_ms: Option<f64>,
    /// `success`, `error`, `timeout`, `failure`… (absent on successful text REPORT lines).
    pub status: Option<String>,
    pub error_type: Option<String>,
    pub xray: Option<XrayRef>,
}

/// A Lambda platform event, from either the text or the JSON log format.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformEvent {
    Start {
        request_id: String,
        version: Option<String>,
    },
    End {
        request_id: String,
    },
    Report(Report),
    InitStart {
        runtime_version: Option<String>,
        runtime_version_arn: Option<String>,
    },
    InitReport {
        init_duration_ms: Option<f64>,
        phase: Option<String>,
        status: Option<String>,
        error_type: Option<String>,
    },
    RuntimeDone {
        request_id: String,
        status: Option<String>,
        error_type: Option<String>,
        duration_ms: Option<f64>,
    },
    /// `Task timed out after N seconds`.
    Timeout {
        request_id: Option<String>,
        seconds: f64,
    },
    /// `Runtime exited with error: signal: killed`, `Runtime.OutOfMemory`…
    OutOfMemory {
        request_id: Option<String>,
    },
    /// `Runtime exited with error: …` / `Process exited before completing request`.
    RuntimeExit {
        request_id: Option<String>,
        detail: String,
    },
    /// A `platform.*` type we do not model; kept so it is counted, never fails the parse.
    Other {
        kind: String,
    },
}

impl PlatformEvent {
    /// The one definition of "this platform event says the invocation or init failed", which
    /// the level alone does not show: a failure status or an error type on a report, runtime-done
    /// or init report, and every timeout, out-of-memory and runtime exit. Metrics (`Errors`),
    /// trace annotations and sampling (errors are never sampled away) all ask this.
    pub fn failed(&self) -> bool {
        match self {
            PlatformEvent::Report(r) => {
                r.status.as_deref().is_some_and(is_failure) || r.error_type.is_some()
            }
            PlatformEvent::RuntimeDone {
                status, error_type, ..
            }
            | PlatformEvent::InitReport {
                status, error_type, ..
            } => status.as_deref().is_some_and(is_failure) || error_type.is_some(),
            PlatformEvent::Timeout { .. }
            | PlatformEvent::OutOfMemory { .. }
            | PlatformEvent::RuntimeExit { .. } => true,
            PlatformEvent::Start { .. }
            | PlatformEvent::End { .. }
            | PlatformEvent::InitStart { .. }
            | PlatformEvent::Other { .. } => false,
        }
    }
}

/// Why a message that looked structured fell back to text (counted in stats, never fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseIssue {
    /// Started with `{` but was not a valid JSON object (truncated, too deep, invalid escapes…).
    InvalidJson(String),
    /// Looked like a Lambda platform line (e.g. `REPORT RequestId:`) but its fields did not parse.
    MalformedPlatformLine,
}

/// A record's top-level fields, however they were parsed.
#[derive(Debug, Clone, Copy)]
pub enum Fields<'a> {
    Map(&'a Map<String, Value>),
    /// `text` is the object's text, from `object.base()` in the message.
    Lazy {
        object: &'a LazyObject,
        text: &'a str,
    },
}

impl<'a> From<&'a Map<String, Value>> for Fields<'a> {
    fn from(m: &'a Map<String, Value>) -> Fields<'a> {
        Fields::Map(m)
    }
}

impl<'a> Fields<'a> {
    pub fn get(self, key: &str) -> Option<&'a Value> {
        match self {
            Fields::Map(m) => m.get(key),
            Fields::Lazy { object, text } => object.get(text, key),
        }
    }

    /// `key`'s value when it is a string, without building a `Value` for it when it can be read
    /// from the message as it is.
    pub fn get_str(self, key: &str) -> Option<&'a str> {
        match self {
            Fields::Map(m) => m.get(key).and_then(Value::as_str),
            Fields::Lazy { object, text } => object.get_str(text, key),
        }
    }

    /// `key`'s value, as text when it is a string that can be read from the message as it is
    /// (see [`LazyObject::text_or_value`]), else as a value.
    pub fn text_or_value(self, key: &str) -> Option<TextOrValue<'a>> {
        match self {
            Fields::Map(m) => m.get(key).map(TextOrValue::Value),
            Fields::Lazy { object, text } => object.text_or_value(text, key),
        }
    }

    /// Whether `key` is present, without parsing its value.
    pub fn contains_key(self, key: &str) -> bool {
        match self {
            Fields::Map(m) => m.contains_key(key),
            Fields::Lazy { object, text } => object.contains_key(text, key),
        }
    }

    pub fn is_empty(self) -> bool {
        match self {
            Fields::Map(m) => m.is_empty(),
            Fields::Lazy { object, .. } => object.is_empty(),
        }
    }

    /// Every value, in key order.
    pub fn values(self) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        match self {
            Fields::Map(m) => Box::new(m.values()),
            Fields::Lazy { object, text } => Box::new(object.values(text)),
        }
    }
}

/// One parsed log event. Its fields are the JSON view that field paths, JSON filter patterns, the
/// selector and the trace/metric stages read; for JSON messages, the object itself. They are held
/// one of two ways, parsed into a map or indexed but unparsed (`parse::parse_event_lazy`), and
/// that choice stays inside this type: stages read through [`Record::fields_view`] and write
/// through [`Record::fields_mut`] / [`Record::set_fields`].
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub source: Arc<Source>,
    pub event_id: String,
    /// Epoch milliseconds, from the log event.
    pub timestamp: i64,
    /// The raw message (trailing newline kept as delivered).
    pub message: String,
    pub format: Format,
    fields: Map<String, Value>,
    /// A JSON message indexed but not parsed; `fields` is then empty.
    lazy: Option<LazyObject>,
    pub platform: Option<PlatformEvent>,
    pub extracted_fields: Option<BTreeMap<String, String>>,
    pub issue: Option<ParseIssue>,
    /// The level the fields name, once asked (traces, sampling and the selector all ask).
    fields_level: LevelCache,
}

/// `Record::fields_level`, computed at most once per version of the fields: emptied by every
/// method that changes them (the fields are private, so nothing else can).
#[derive(Debug, Clone, Default)]
struct LevelCache(OnceCell<Option<Level>>);

impl PartialEq for LevelCache {
    /// A cache: records are equal whatever they have computed.
    fn eq(&self, _: &LevelCache) -> bool {
        true
    }
}

impl Record {
    /// A tag of the resources behind the record's log group (`$tags.<key>`).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.source.tags.get(key).map(String::as_str)
    }

    /// A text record with no fields, the starting point of every parser.
    pub fn text(source: Arc<Source>, event: LogEvent) -> Record {
        Record {
            source,
            event_id: event.id,
            timestamp: event.timestamp,
            message: event.message,
            format: Format::Text,
            fields: Map::new(),
            lazy: None,
            platform: None,
            extracted_fields: event.extracted_fields,
            issue: None,
            fields_level: LevelCache::default(),
        }
    }

    /// The value at `path` in this record's fields.
    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        path.lookup_in(self.fields_view())
    }

    /// The value at `path` when it is a string (unparsed when the record is lazy). See
    /// [`Record::get_text`] for numbers and booleans as text.
    pub fn get_str(&self, path: &FieldPath) -> Option<&str> {
        match path.segments() {
            [PathSegment::Key(key)] => self.fields_view().get_str(key),
            _ => self.get(path)?.as_str(),
        }
    }

    /// The value at `path` as dimension text: strings as they are (borrowed, unparsed when the
    /// record is lazy), numbers and booleans as JSON writes them; `None` for null, arrays and
    /// objects.
    pub fn get_text(&self, path: &FieldPath) -> Option<std::borrow::Cow<'_, str>> {
        if let [PathSegment::Key(key)] = path.segments() {
            if let Some(s) = self.fields_view().get_str(key) {
                return Some(std::borrow::Cow::Borrowed(s));
            }
        }
        scalar_text(self.get(path)?)
    }

    /// Read access to the fields, parsed or lazily indexed: what every stage but `select` uses.
    pub fn fields_view(&self) -> Fields<'_> {
        match &self.lazy {
            Some(object) => Fields::Lazy {
                object,
                text: self.message.get(object.base()..).unwrap_or_default(),
            },
            None => Fields::Map(&self.fields),
        }
    }

    /// Parses what a lazy record left unparsed into `fields` (for stages that rewrite fields).
    pub fn materialize(&mut self) {
        if let Some(object) = self.lazy.take() {
            let text = self.message.get(object.base()..).unwrap_or_default();
            self.fields = object.to_map(text);
        }
    }

    /// The fields as a map to change, parsed first when the record was only indexed.
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        self.materialize();
        self.fields_level = LevelCache::default();
        &mut self.fields
    }

    /// Replaces the fields (a record built by hand, or a parser's result).
    pub fn set_fields(&mut self, fields: Map<String, Value>) {
        self.lazy = None;
        self.fields = fields;
        self.fields_level = LevelCache::default();
    }

    /// The fields as an owned map, parsed when the record was only indexed.
    pub fn into_fields(mut self) -> Map<String, Value> {
        self.materialize();
        self.fields
    }

    /// What a parser found: a parsed map, or an index over the message's JSON object.
    pub(crate) fn set_parsed(&mut self, fields: Map<String, Value>, lazy: Option<LazyObject>) {
        self.fields = fields;
        self.lazy = lazy;
        self.fields_level = LevelCache::default();
    }

    /// The log level, normalised, from the usual field names or the platform event.
    pub fn level(&self) -> Option<Level> {
        let named = *self.fields_level.0.get_or_init(|| self.named_level());
        if named.is_some() {
            return named;
        }
        match &self.platform {
            Some(p) if p.failed() => Some(Level::Error),
            _ => None,
        }
    }

    /// The level the usual field names give.
    fn named_level(&self) -> Option<Level> {
        let fields = self.fields_view();
        match fields {
            // One pass over the map instead of a lookup per name: most maps (access logs,
            // platform lines, key=value) have none of the names, and each miss cost a descent.
            Fields::Map(m) => {
                let mut best: Option<(usize, Level)> = None;
                for (k, v) in m {
                    if !matches!(k.as_bytes().first(), Some(b'l' | b's')) {
                        continue;
                    }
                    let Some(rank) = LEVEL_KEYS.iter().position(|name| name == k) else {
                        continue;
                    };
                    if best.is_some_and(|(b, _)| b < rank) {
                        continue;
                    }
                    if let Some(l) = v.as_str().and_then(Level::parse) {
                        best = Some((rank, l));
                    }
                }
                if let Some((_, l)) = best {
                    return Some(l);
                }
            }
            Fields::Lazy { .. } => {
                for key in LEVEL_KEYS {
                    if let Some(s) = fields.get_str(key) {
                        if let Some(l) = Level::parse(s) {
                            return Some(l);
                        }
                    }
                }
            }
        }
        if let Some(Value::Object(log)) = fields.get("log") {
            if let Some(Value::String(s)) = log.get("level") {
                return Level::parse(s);
            }
        }
        None
    }
}

/// The names a level is read from, first found first (each starts with `l` or `s`, which
/// `Record::level` filters on).
const LEVEL_KEYS: &[&str] = &[
    "level",
    "severity",
    "levelname",
    "log_level",
    "loglevel",
    "lvl",
];

/// Lambda statuses that mean the invocation failed.
fn is_failure(status: &str) -> bool {
    matches!(status, "error" | "timeout" | "failure")
}

/// Log levels in increasing severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        let s = s.trim();
        let eq = |w: &str| s.eq_ignore_ascii_case(w);
        Some(if eq("trace") {
            Level::Trace
        } else if eq("debug") {
            Level::Debug
        } else if eq("info") || eq("information") || eq("notice") {
            Level::Info
        } else if eq("warn") || eq("warning") {
            Level::Warn
        } else if eq("error") || eq("err") {
            Level::Error
        } else if eq("fatal") || eq("critical") || eq("crit") || eq("alert") || eq("emerg") {
            Level::Fatal
        } else {
            return None;
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    pub fn is_error(self) -> bool {
        self >= Level::Error
    }
}

/// Where a configured value is read: a path into the record's fields (`$.a.b`), or a tag of
/// the resources behind the batch's log group (`$tags.team`, [`Source::tags`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    Path(FieldPath),
    Tag(String),
}

/// The prefix of a tag reference.
pub const TAG_PREFIX: &str = "$tags.";

/// The tag key of `$tags.<key>` (everything after the prefix: AWS tag keys may hold spaces and
/// `. : / = + - @`), or `None` when `text` is not a tag reference.
pub fn tag_key(text: &str) -> Option<&str> {
    text.strip_prefix(TAG_PREFIX).filter(|k| !k.is_empty())
}

impl FieldRef {
    /// `$tags.<key>`, else a [`FieldPath`].
    pub fn parse(text: &str) -> Result<FieldRef, PathError> {
        if text == TAG_PREFIX.trim_end_matches('.') || text == TAG_PREFIX {
            return Err(PathError {
                path: text.to_string(),
                column: text.len(),
                reason: "a tag reference needs the tag key: `$tags.<key>`",
            });
        }
        match tag_key(text) {
            Some(key) => Ok(FieldRef::Tag(key.to_string())),
            None => FieldPath::parse(text).map(FieldRef::Path),
        }
    }

    pub fn path(&self) -> Option<&FieldPath> {
        match self {
            FieldRef::Path(p) => Some(p),
            FieldRef::Tag(_) => None,
        }
    }
}

/// A path into a record's fields: `$.a.b[0]`, `$.['dotted.key']`, or the bare `a.b` shorthand used
/// in keep/drop lists. No wildcards (those belong to filter patterns).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<PathSegment>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path {path:?} at column {column}: {reason}")]
pub struct PathError {
    pub path: String,
    pub column: usize,
    pub reason: &'static str,
}

impl FieldPath {
    /// Parses `$.a.b[0]`, `$.['k.x']`, `$a` is not accepted (that is a space-delimited name), and
    /// `a.b` (no `$.`) is accepted as shorthand.
    pub fn parse(path: &str) -> Result<FieldPath, PathError> {
        let err = |column: usize, reason: &'static str| PathError {
            path: path.to_string(),
            column,
            reason,
        };
        let body = path.strip_prefix("$.").or_else(|| path.strip_prefix('$'));
        let (rest, offset) = match body {
            Some(b) => (b, path.len() - b.len()),
            None => (path, 0),
        };
        let bytes = rest.as_bytes();
        let mut segments = Vec::new();
        let mut i = 0;
        let mut expect_key = true;
        while i < bytes.len() {
            match bytes[i] {
                b'[' => {
                    let close = rest[i..]
                        .find(']')
                        .map(|c| c + i)
                        .ok_or_else(|| err(offset + i + 1, "unclosed '['"))?;
                    let inner = rest[i + 1..close].trim();
                    if let Some(q) = inner
                        .strip_prefix('\'')
                        .and_then(|s| s.strip_suffix('\''))
                        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    {
                        segments.push(PathSegment::Key(q.to_string()));
                    } else {
                        let n: usize = inner
                            .parse()
                            .map_err(|_| err(offset + i + 2, "array index must be a number"))?;
                        segments.push(PathSegment::Index(n));
                    }
                    i = close + 1;
                    expect_key = false;
                }
                b'.' => {
                    if expect_key && !segments.is_empty() {
                        return Err(err(offset + i + 1, "empty key"));
                    }
                    i += 1;
                    expect_key = true;
                }
                _ => {
                    let end = rest[i..]
                        .find(['.', '['])
                        .map(|e| e + i)
                        .unwrap_or(rest.len());
                    let key = &rest[i..end];
                    if key.is_empty() {
                        return Err(err(offset + i + 1, "empty key"));
                    }
                    segments.push(PathSegment::Key(key.to_string()));
                    i = end;
                    expect_key = false;
                }
            }
        }
        if segments.is_empty() || expect_key && rest.ends_with('.') {
            return Err(err(offset + rest.len().max(1), "empty path"));
        }
        Ok(FieldPath {
            segments,
            text: path.to_string(),
        })
    }

    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first key, for selection decisions on top-level fields.
    pub fn first_key(&self) -> Option<&str> {
        match self.segments.first() {
            Some(PathSegment::Key(k)) => Some(k),
            _ => None,
        }
    }

    pub fn lookup<'a>(&self, root: &'a Map<String, Value>) -> Option<&'a Value> {
        self.lookup_in(Fields::Map(root))
    }

    /// [`FieldPath::lookup`] on a record's fields, parsed or lazily indexed.
    pub fn lookup_in<'a>(&self, root: Fields<'a>) -> Option<&'a Value> {
        let mut iter = self.segments.iter();
        let mut cur = match iter.next()? {
            PathSegment::Key(k) => root.get(k)?,
            PathSegment::Index(_) => return None,
        };
        for seg in iter {
            cur = match (seg, cur) {
                (PathSegment::Key(k), Value::Object(m)) => m.get(k)?,
                (PathSegment::Index(n), Value::Array(a)) => a.get(*n)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    pub fn lookup_mut<'a>(&self, root: &'a mut Map<String, Value>) -> Option<&'a mut Value> {
        let mut iter = self.segments.iter();
        let mut cur = match iter.next()? {
            PathSegment::Key(k) => root.get_mut(k)?,
            PathSegment::Index(_) => return None,
        };
        for seg in iter {
            cur = match (seg, cur) {
                (PathSegment::Key(k), Value::Object(m)) => m.get_mut(k)?,
                (PathSegment::Index(n), Value::Array(a)) => a.get_mut(*n)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Removes the value at this path, returning it.
    pub fn remove(&self, root: &mut Map<String, Value>) -> Option<Value> {
        let (last, parents) = self.segments.split_last()?;
        if parents.is_empty() {
            return match last {
                PathSegment::Key(k) => root.remove(k),
                PathSegment::Index(_) => None,
            };
        }
        let parent = FieldPath {
            segments: parents.to_vec(),
            text: String::new(),
        };
        match (last, parent.lookup_mut(root)?) {
            (PathSegment::Key(k), Value::Object(m)) => m.remove(k),
            (PathSegment::Index(n), Value::Array(a)) if *n < a.len() => Some(a.remove(*n)),
            _ => None,
        }
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A scalar JSON value as the string CloudWatch would use for a dimension or annotation.
/// A scalar as text, borrowed when it is a string (see [`scalar_to_string`]).
pub fn scalar_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        other => scalar_to_string(other).map(std::borrow::Cow::Owned),
    }
}

pub fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON value as a finite number, accepting numeric strings as metric filters do.
pub fn value_as_f64(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    f.is_finite().then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn platform_failure_is_one_definition() {
        let report = |status: Option<&str>, error_type: Option<&str>| {
            PlatformEvent::Report(Report {
                status: status.map(str::to_string),
                error_type: error_type.map(str::to_string),
                ..Report::default()
            })
        };
        let done = |status: &str, error_type: Option<&str>| PlatformEvent::RuntimeDone {
            request_id: "r".into(),
            status: Some(status.into()),
            error_type: error_type.map(str::to_string),
            duration_ms: None,
        };
        let cases = [
            (report(None, None), false),
            (report(Some("success"), None), false),
            (report(Some("timeout"), None), true),
            (report(Some("error"), Some("Runtime.ExitError")), true),
            (report(None, Some("Runtime.OutOfMemory")), true),
            (done("success", None), false),
            (done("failure", None), true),
            (done("success", Some("Runtime.Unknown")), true),
            (
                PlatformEvent::InitReport {
                    init_duration_ms: None,
                    phase: None,
                    status: Some("error".into()),
                    error_type: None,
                },
                true,
            ),
            (
                PlatformEvent::Timeout {
                    request_id: None,
                    seconds: 3.0,
                },
                true,
            ),
            (PlatformEvent::OutOfMemory { request_id: None }, true),
            (
                PlatformEvent::End {
                    request_id: "r".into(),
                },
                false,
            ),
            (
                PlatformEvent::Other {
                    kind: "platform.extension".into(),
                },
                false,
            ),
        ];
        for (event, failed) in cases {
            assert_eq!(event.failed(), failed, "{event:?}");
            // The level derived for a platform record says the same.
            let mut record = Record::text(Arc::new(Source::default()), LogEvent::default());
            record.platform = Some(event.clone());
            assert_eq!(record.level() == Some(Level::Error), failed, "{event:?}");
        }
    }

    /// The level the fields name is computed once, and again after each change to them; the
    /// platform event, a public field, is read every time.
    #[test]
    fn the_level_follows_changes_to_the_fields() {
        let event = LogEvent {
            message: r#"{"level":"INFO","msg":"m"}"#.into(),
            ..LogEvent::default()
        };
        let mut record = crate::parse::parse_event_lazy(&Arc::new(Source::default()), event);
        assert_eq!(
            (record.level(), record.level()),
            (Some(Level::Info), Some(Level::Info))
        );
        record.fields_mut().insert("level".into(), json!("ERROR"));
        assert_eq!(record.level(), Some(Level::Error));
        record.set_fields(Map::new());
        assert_eq!(record.level(), None);
        record.platform = Some(PlatformEvent::OutOfMemory { request_id: None });
        assert_eq!(record.level(), Some(Level::Error));
        record.platform = None;
        record.set_fields(obj(json!({"severity": "warning"})));
        assert_eq!(record.level(), Some(Level::Warn));
        // Equal records stay equal whatever each has computed.
        let fresh = record.clone();
        record.fields_mut();
        assert_eq!(record.level(), Some(Level::Warn));
        assert_eq!(record, fresh);
    }

    proptest::proptest! {
        /// The one pass over a map finds the level the per-name lookups find: the first name
        /// of `LEVEL_KEYS` whose value parses, then `log.level`.
        #[test]
        fn map_level_is_the_first_name_that_parses(
            members in proptest::collection::btree_map(
                proptest::sample::select(vec![
                    "level", "severity", "levelname", "log_level", "loglevel", "lvl", "status",
                    "s", "l", "log", "msg", "Level",
                ]),
                proptest::sample::select(vec![
                    json!("INFO"), json!(" warn "), json!("bogus"), json!("Error"), json!(3),
                    json!(null), json!({"level": "fatal"}),
                ]),
                0..8,
            ),
        ) {
            let fields: Map<String, Value> =
                members.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let want = LEVEL_KEYS
                .iter()
                .find_map(|k| fields.get(*k).and_then(Value::as_str).and_then(Level::parse))
                .or_else(|| match fields.get("log") {
                    Some(Value::Object(log)) => {
                        log.get("level").and_then(Value::as_str).and_then(Level::parse)
                    }
                    _ => None,
                });
            let mut record = Record::text(Arc::new(Source::default()), LogEvent::default());
            record.set_fields(fields);
            proptest::prop_assert_eq!(record.level(), want);
        }
    }

    #[test]
    fn paths_parse_and_lookup() {
        let root = obj(json!({"a": {"b": [10, {"c": "x"}]}, "k.x": 1, "top": true}));
        let cases: &[(&str, Option<Value>)] = &[
            ("$.a.b[0]", Some(json!(10))),
            ("$.a.b[1].c", Some(json!("x"))),
            ("a.b[1].c", Some(json!("x"))),
            ("$.['k.x']", Some(json!(1))),
            ("$.top", Some(json!(true))),
            ("$.a.b[5]", None),
            ("$.missing", None),
            ("$.top.deeper", None),
        ];
        for (p, want) in cases {
            let path = FieldPath::parse(p).unwrap();
            assert_eq!(path.lookup(&root).cloned(), *want, "{p}");
        }
    }

    #[test]
    fn bad_paths_are_errors_with_columns() {
        for p in ["", "$.", "$.a..b", "$.a[", "$.a[x]"] {
            let e = FieldPath::parse(p).unwrap_err();
            assert!(e.column >= 1, "{p}: {e}");
        }
    }

    #[test]
    fn remove_nested() {
        let mut root = obj(json!({"headers": {"authorization": "x", "host": "h"}}));
        let p = FieldPath::parse("headers.authorization").unwrap();
        assert_eq!(p.remove(&mut root), Some(json!("x")));
        assert_eq!(root, obj(json!({"headers": {"host": "h"}})));
    }

    #[test]
    fn levels() {
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse("ERROR"), Some(Level::Error));
        assert_eq!(Level::parse("nope"), None);
        assert!(Level::Fatal.is_error());
        assert!(!Level::Warn.is_error());
    }

    #[test]
    fn numbers_from_values() {
        assert_eq!(value_as_f64(&json!(3)), Some(3.0));
        assert_eq!(value_as_f64(&json!("2.5")), Some(2.5));
        assert_eq!(value_as_f64(&json!("1e999")), None);
        assert_eq!(value_as_f64(&json!("x")), None);
    }
}
