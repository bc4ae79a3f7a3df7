//! Finds the trace id a record names (and the caller's segment/span id printed beside it) in the
//! formats services print them in, normalised to X-Ray's `1-<8 hex>-<24 hex>` form.
//!
//! Precedence, first hit wins: named fields (configured `trace_id_fields`, then the well-known
//! names) > the Lambda REPORT's `XRAY TraceId:` > an `X-Amzn-Trace-Id` header (`Root=…`) in the
//! message or any string field > a bare `1-…-…` id in the message. One trace id per record.
//!
//! Hex is accepted in either case and lowercased: X-Ray ids are lowercase, and an uppercased copy
//! of the same 128 bits would otherwise start a second trace.

use std::sync::LazyLock;

use memchr::memmem;
use serde_json::Value;

use crate::json::object::RawValue;
use crate::record::{FieldPath, Fields, PathSegment, PlatformEvent, Record};

/// Length of an X-Ray trace id `1-58406520-a006649127e371903a2de979` (model `TraceId` max 35).
pub const XRAY_TRACE_ID_LEN: usize = 35;
/// Hex digits in a W3C/OpenTelemetry trace id.
pub const W3C_TRACE_ID_HEX: usize = 32;
/// Hex digits in an X-Ray segment id or a W3C/OpenTelemetry span id.
pub const SPAN_ID_HEX: usize = 16;
/// W3C `traceparent` version 00: `00-<32 hex>-<16 hex>-<2 hex>`.
const TRACEPARENT_V00_LEN: usize = 55;

/// How far around a `Root=` we look for the rest of its header; real headers are < 200 bytes.
const HEADER_SCAN_BACK: usize = 256;
const HEADER_SCAN_AHEAD: usize = 512;
/// `Root=` occurrences tried per string before giving up (hostile text can repeat it endlessly).
const MAX_HEADER_ATTEMPTS: usize = 8;
/// Bounds on the walk over every string field looking for a header.
const MAX_WALK_DEPTH: usize = 16;
const MAX_WALK_STRINGS: usize = 1024;
/// How far after `TraceId: <id>` a `SegmentId: <id>` is looked for.
const SEGMENT_ID_SCAN_AHEAD: usize = 64;

/// An X-Ray trace id, always valid: `1-` + 8 lowercase hex + `-` + 24 lowercase hex, not all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; XRAY_TRACE_ID_LEN]);

impl TraceId {
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// From the 32 hex digits of the id (the X-Ray form without dashes, or a W3C id).
    fn from_hex32(hex: &[u8]) -> Option<TraceId> {
        let digits: [u8; W3C_TRACE_ID_HEX] = lower_hex(hex)?;
        let mut out = [0u8; XRAY_TRACE_ID_LEN];
        out[0] = b'1';
        out[1] = b'-';
        out[2..10].copy_from_slice(&digits[..8]);
        out[10] = b'-';
        out[11..].copy_from_slice(&digits[8..]);
        Some(TraceId(out))
    }
}

impl std::fmt::Debug for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TraceId({})", self.as_str())
    }
}

impl std::fmt::Display for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 64-bit segment/span id: 16 lowercase hex, not all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId([u8; SPAN_ID_HEX]);

impl SpanId {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for SpanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpanId({})", self.as_str())
    }
}

/// Where in the record the trace id was found (highest precedence first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdSource {
    Field,
    Platform,
    Header,
    Bare,
}

/// A trace id found in one record, with what was printed beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRef {
    pub trace_id: TraceId,
    /// The segment/span that wrote the log or called this service, when named beside the id.
    pub parent_id: Option<SpanId>,
    /// `Sampled=1/0`, `Sampled: true/false`, or the W3C sampled flag, when present.
    pub sampled: Option<bool>,
    pub source: IdSource,
}

/// `n` hex digits, lowercased; rejects non-hex and all-zero (invalid in both X-Ray and W3C).
/// Without a branch per digit: ids are random, so a per-digit letter-or-digit test is a coin
/// toss for the branch predictor (perf put a quarter of the pipeline loop's own time here).
fn lower_hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    let digits: &[u8; N] = s.try_into().ok()?;
    let mut out = [0u8; N];
    let (mut invalid, mut nonzero) = (false, false);
    for (o, &b) in out.iter_mut().zip(digits) {
        let lower = LOWER_HEX[usize::from(b)];
        invalid |= lower == 0;
        nonzero |= b != b'0';
        *o = lower;
    }
    (!invalid && nonzero).then_some(out)
}

/// Each hex digit lowercased; 0 for every other byte.
static LOWER_HEX: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_hexdigit() {
            t[b] = c.to_ascii_lowercase();
        }
        b += 1;
    }
    t
};

/// An X-Ray id `1-<8 hex>-<24 hex>`. All-zero (in its 32 hex digits) is rejected.
pub fn parse_xray_trace_id(s: &str) -> Option<TraceId> {
    if s.len() != XRAY_TRACE_ID_LEN {
        return None;
    }
    let rest = s.as_bytes().strip_prefix(b"1-")?;
    let (time, rest) = rest.split_at_checked(8)?;
    let random = rest.strip_prefix(b"-")?;
    let mut hex = [0u8; W3C_TRACE_ID_HEX];
    let (hex_time, hex_random) = hex.split_at_mut(8);
    hex_time.copy_from_slice(time);
    if random.len() != hex_random.len() {
        return None;
    }
    hex_random.copy_from_slice(random);
    TraceId::from_hex32(&hex)
}

/// A 32-hex W3C/OpenTelemetry trace id, converted to `1-<first 8>-<last 24>`.
pub fn parse_w3c_trace_id(s: &str) -> Option<TraceId> {
    TraceId::from_hex32(s.as_bytes())
}

/// A 16-hex segment/span id.
pub fn parse_span_id(s: &str) -> Option<SpanId> {
    lower_hex(s.as_bytes()).map(SpanId)
}

/// A W3C `traceparent`: `<version>-<trace id>-<parent id>-<flags>`. Version `ff` is invalid;
/// version `00` has exactly four parts; later versions may append parts, which are ignored.
pub fn parse_traceparent(s: &str) -> Option<TraceRef> {
    let mut parts = s.split('-');
    let version: [u8; 2] = lower_hex_allow_zero(parts.next()?)?;
    if &version == b"ff" || (&version == b"00" && s.len() != TRACEPARENT_V00_LEN) {
        return None;
    }
    let trace_id = parse_w3c_trace_id(parts.next()?)?;
    let parent_id = parse_span_id(parts.next()?)?;
    let flags: [u8; 2] = lower_hex_allow_zero(parts.next()?)?;
    let low_nibble = flags[1];
    Some(TraceRef {
        trace_id,
        parent_id: Some(parent_id),
        // The sampled flag is bit 0 of the flags byte: odd low nibble.
        sampled: Some(matches!(
            low_nibble,
            b'1' | b'3' | b'5' | b'7' | b'9' | b'b' | b'd' | b'f'
        )),
        source: IdSource::Field,
    })
}

fn lower_hex_allow_zero<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits: &[u8; N] = s.as_bytes().try_into().ok()?;
    digits
        .iter()
        .all(u8::is_ascii_hexdigit)
        .then(|| digits.map(|b| b.to_ascii_lowercase()))
}

/// The result of reading an `X-Amzn-Trace-Id` style header.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    /// No `Root=` key: not a trace header.
    Absent,
    /// A `Root=` whose value is not a valid trace id.
    Malformed,
    Found(TraceRef),
}

/// `Root=…;Parent=…;Sampled=…;Lineage=…` in any key order; unknown keys (`Self`, `Lineage`, ALB's
/// extras) are ignored. An invalid `Parent` is dropped (and counted), keeping the trace id.
fn parse_header(s: &str, malformed: &mut u64) -> Header {
    parse_header_pairs(s.split(';'), malformed)
}

fn parse_header_pairs<'s>(pairs: impl Iterator<Item = &'s str>, malformed: &mut u64) -> Header {
    let mut root = None;
    let mut parent = None;
    let mut sampled = None;
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("Root") && root.is_none() {
            root = Some(parse_xray_trace_id(value));
        } else if key.eq_ignore_ascii_case("Parent") && parent.is_none() {
            parent = Some(parse_span_id(value));
        } else if key.eq_ignore_ascii_case("Sampled") && sampled.is_none() {
            sampled = match value {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            };
        }
    }
    match root {
        None => Header::Absent,
        Some(None) => Header::Malformed,
        Some(Some(trace_id)) => {
            if matches!(parent, Some(None)) {
                *malformed += 1;
            }
            Header::Found(TraceRef {
                trace_id,
                parent_id: parent.flatten(),
                sampled,
                source: IdSource::Header,
            })
        }
    }
}

/// A value in a named trace-id field: any of the accepted shapes. `None` with `malformed`
/// incremented when it is none of them.
fn parse_field_value(s: &str, malformed: &mut u64) -> Option<TraceRef> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let found = if ROOT_FINDER.find(s.as_bytes()).is_some() {
        match parse_header(s, malformed) {
            Header::Found(r) => Some(r),
            Header::Absent | Header::Malformed => None,
        }
    } else {
        let id_only = |trace_id| TraceRef {
            trace_id,
            parent_id: None,
            sampled: None,
            source: IdSource::Field,
        };
        match s.len() {
            XRAY_TRACE_ID_LEN => parse_xray_trace_id(s).map(id_only),
            W3C_TRACE_ID_HEX => parse_w3c_trace_id(s).map(id_only),
            _ => parse_traceparent(s),
        }
    };
    if found.is_none() {
        *malformed += 1;
    }
    found.map(|r| TraceRef {
        source: IdSource::Field,
        ..r
    })
}

/// Well-known fields that hold a trace id (or a whole trace header), in precedence order.
const BUILTIN_ID_FIELDS: &[&str] = &[
    "trace_id",
    "traceId",
    "xray_trace_id",
    "xRayTraceId",
    "AWS-XRAY-TRACE-ID",
    "otelTraceID",
    "traceparent",
    "X-Amzn-Trace-Id",
    "x-amzn-trace-id",
    // Lambda JSON platform records: the whole `{"time","type","record":{…}}` object is `fields`.
    "record.tracing.value",
    "tracing.value",
    "headers.X-Amzn-Trace-Id",
    "headers.x-amzn-trace-id",
];

/// Sibling fields that name the span/segment that wrote the log.
const SPAN_ID_FIELDS: &[&str] = &["span_id", "spanId", "otelSpanID", "segment_id", "segmentId"];

static BUILTIN_ID_PATHS: LazyLock<Vec<FieldPath>> = LazyLock::new(|| {
    BUILTIN_ID_FIELDS
        .iter()
        .filter_map(|p| FieldPath::parse(p).ok())
        .collect()
});

static ROOT_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"Root="));

/// The object holding the value at `path` (the root for one-segment paths).
fn parent_object<'a>(path: &FieldPath, root: Fields<'a>) -> Option<Fields<'a>> {
    let (_, parents) = path.segments().split_last()?;
    let mut cur: Option<&Value> = None;
    for seg in parents {
        let next = match (seg, cur) {
            (PathSegment::Key(k), None) => root.get(k)?,
            (PathSegment::Key(k), Some(Value::Object(m))) => m.get(k)?,
            (PathSegment::Index(n), Some(Value::Array(a))) => a.get(*n)?,
            _ => return None,
        };
        cur = Some(next);
    }
    match cur {
        None => Some(root),
        Some(Value::Object(m)) => Some(Fields::Map(m)),
        Some(_) => None,
    }
}

fn sibling_span_id(obj: Fields<'_>, malformed: &mut u64) -> Option<SpanId> {
    for key in SPAN_ID_FIELDS {
        if let Some(s) = obj.get_str(key) {
            let s = s.trim();
            if s.is_empty() {
                continue;
            }
            match parse_span_id(s) {
                Some(id) => return Some(id),
                None => *malformed += 1,
            }
        }
    }
    None
}

fn from_fields(record: &Record, extra: &[FieldPath], malformed: &mut u64) -> Option<TraceRef> {
    for path in extra.iter().chain(BUILTIN_ID_PATHS.iter()) {
        // Read as text: an id is a string, and a lazy record then need not copy it.
        let Some(value) = record.get_str(path) else {
            if let Some(Value::Number(_)) = record.get(path) {
                *malformed += 1;
            }
            continue;
        };
        if let Some(mut found) = parse_field_value(value, malformed) {
            if found.parent_id.is_none() {
                found.parent_id = parent_object(path, record.fields_view())
                    .and_then(|obj| sibling_span_id(obj, malformed));
            }
            return Some(found);
        }
    }
    None
}

fn from_platform(record: &Record, malformed: &mut u64) -> Option<TraceRef> {
    let Some(PlatformEvent::Report(report)) = &record.platform else {
        return None;
    };
    let xray = report.xray.as_ref()?;
    let Some(trace_id) = parse_xray_trace_id(xray.trace_id.trim()) else {
        *malformed += 1;
        return None;
    };
    let parent_id = xray.segment_id.as_deref().and_then(|s| {
        let id = parse_span_id(s.trim());
        if id.is_none() {
            *malformed += 1;
        }
        id
    });
    Some(TraceRef {
        trace_id,
        parent_id,
        sampled: xray.sampled,
        source: IdSource::Platform,
    })
}

/// Bytes that cannot be part of a header token (they end it when scanning around `Root=`).
fn ends_header(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b',' | b'{' | b'}' | b'[' | b']' | b'<' | b'>' | b'(' | b')' | b'\\'
        )
}

/// A header (`…Root=…;…`) anywhere inside `text`.
fn header_in_text(text: &str, malformed: &mut u64) -> Option<TraceRef> {
    let bytes = text.as_bytes();
    for at in ROOT_FINDER.find_iter(bytes).take(MAX_HEADER_ATTEMPTS) {
        let floor = at.saturating_sub(HEADER_SCAN_BACK);
        let start = bytes
            .get(floor..at)?
            .iter()
            .rposition(|&b| ends_header(b))
            .map_or(floor, |p| floor + p + 1);
        let ceil = bytes.len().min(at.saturating_add(HEADER_SCAN_AHEAD));
        let end = bytes
            .get(at..ceil)?
            .iter()
            .position(|&b| ends_header(b))
            .map_or(ceil, |p| at + p);
        // The header is read from `Root=` on, then the pairs before it (`Parent=…;Root=…`); the
        // first of those may carry a prefix such as `X-Amzn-Trace-Id=` and is then ignored.
        // Bounds are ASCII bytes or the scan window's edges; `get` declines a window edge inside
        // a multi-byte character, and the pairs before `Root=` are then skipped.
        let after = text.get(at..end).unwrap_or_default();
        let before = text.get(start..at).unwrap_or_default();
        let pairs = after.split(';').chain(before.split(';'));
        match parse_header_pairs(pairs, malformed) {
            Header::Found(r) => return Some(r),
            Header::Malformed => *malformed += 1,
            Header::Absent => {}
        }
    }
    None
}

fn header_in_value(
    value: &Value,
    depth: usize,
    budget: &mut usize,
    malformed: &mut u64,
) -> Option<TraceRef> {
    if *budget == 0 || depth > MAX_WALK_DEPTH {
        return None;
    }
    match value {
        Value::String(s) => {
            *budget -= 1;
            header_in_text(s, malformed)
        }
        Value::Array(items) => items
            .iter()
            .find_map(|v| header_in_value(v, depth + 1, budget, malformed)),
        Value::Object(map) => map
            .values()
            .find_map(|v| header_in_value(v, depth + 1, budget, malformed)),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

fn from_headers(record: &Record, malformed: &mut u64) -> Option<TraceRef> {
    if let Some(found) = header_in_text(&record.message, malformed) {
        return Some(found);
    }
    let mut budget = MAX_WALK_STRINGS;
    let found = match record.fields_view() {
        // Unparsed strings are read as their text, which is their value: the same walk as
        // below (one unit of budget per string) without allocating a string per member.
        Fields::Lazy { object, text } => object.raw_values(text).find_map(|v| match v {
            RawValue::Str(s) if budget > 0 => {
                budget -= 1;
                header_in_text(s, malformed)
            }
            RawValue::Str(_) | RawValue::Number => None,
            RawValue::Value(v) => header_in_value(v, 1, &mut budget, malformed),
        }),
        fields => fields
            .values()
            .find_map(|v| header_in_value(v, 1, &mut budget, malformed)),
    };
    if found.is_some() {
        return found;
    }
    record
        .extracted_fields
        .as_ref()?
        .values()
        .take(MAX_WALK_STRINGS)
        .find_map(|v| header_in_text(v, malformed))
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A bare `1-<8 hex>-<24 hex>` in the message, standing alone (not inside a longer word). When
/// it follows Lambda's `TraceId:`, a `SegmentId:` printed after it becomes the parent.
fn bare_in_message(message: &str, malformed: &mut u64) -> Option<TraceRef> {
    let bytes = message.as_bytes();
    for dash in memchr::memchr_iter(b'-', bytes) {
        let Some(start) = dash.checked_sub(1) else {
            continue;
        };
        let end = start + XRAY_TRACE_ID_LEN;
        let Some(candidate) = bytes.get(start..end) else {
            break;
        };
        if candidate.first() != Some(&b'1') || candidate.get(10) != Some(&b'-') {
            continue;
        }
        let before_ok = start == 0 || bytes.get(start - 1).is_none_or(|&b| !is_word_byte(b));
        let after_ok = bytes.get(end).is_none_or(|&b| !is_word_byte(b));
        let shape_ok = candidate
            .iter()
            .enumerate()
            .all(|(i, b)| i < 2 || i == 10 || b.is_ascii_hexdigit());
        // After `Root=` the header scan has already judged this id.
        let in_header = message.get(..start).is_some_and(|h| h.ends_with("Root="));
        if !(before_ok && after_ok && shape_ok) || in_header {
            continue;
        }
        let Some(trace_id) = message.get(start..end).and_then(parse_xray_trace_id) else {
            // The right shape but all zero.
            *malformed += 1;
            continue;
        };
        let parent_id = message
            .get(..start)
            .filter(|head| head.trim_end().ends_with("TraceId:"))
            .and_then(|_| segment_id_after(message.get(end..)?, malformed));
        return Some(TraceRef {
            trace_id,
            parent_id,
            sampled: None,
            source: IdSource::Bare,
        });
    }
    None
}

fn segment_id_after(tail: &str, malformed: &mut u64) -> Option<SpanId> {
    let window = tail
        .get(..tail.len().min(SEGMENT_ID_SCAN_AHEAD))
        .unwrap_or(tail);
    let at = memmem::find(window.as_bytes(), b"SegmentId:")?;
    let value = tail.get(at + "SegmentId:".len()..)?.trim_start();
    let id = value.get(..SPAN_ID_HEX)?;
    let id = parse_span_id(id);
    if id.is_none() {
        *malformed += 1;
    }
    id
}

/// The trace id `record` names, by the precedence in the module comment. Rejected candidates
/// (wrong length, non-hex, all zero) add to `malformed`.
pub fn find(record: &Record, extra_fields: &[FieldPath], malformed: &mut u64) -> Option<TraceRef> {
    from_fields(record, extra_fields, malformed)
        .or_else(|| from_platform(record, malformed))
        .or_else(|| from_headers(record, malformed))
        .or_else(|| bare_in_message(&record.message, malformed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogEvent, Report, XrayRef};
    use serde_json::json;
    use std::sync::Arc;

    const XRAY: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn record(message: &str, fields: Value) -> Record {
        let mut r = Record::text(
            Arc::default(),
            LogEvent {
                id: "1".into(),
                timestamp: 0,
                message: message.into(),
                extracted_fields: None,
            },
        );
        if let Value::Object(m) = fields {
            r.set_fields(m);
        }
        r
    }

    fn found(message: &str, fields: Value) -> (Option<TraceRef>, u64) {
        let mut malformed = 0;
        let r = find(&record(message, fields), &[], &mut malformed);
        (r, malformed)
    }

    #[test]
    fn id_shapes() {
        let cases: &[(&str, Option<&str>)] = &[
            (XRAY, Some(XRAY)),
            ("1-5759E988-BD862E3FE1BE46A994272793", Some(XRAY)),
            ("1-00000000-000000000000000000000000", None),
            (
                "1-00000000-000000000000000000000001",
                Some("1-00000000-000000000000000000000001"),
            ),
            ("2-5759e988-bd862e3fe1be46a994272793", None),
            ("1-5759e988-bd862e3fe1be46a99427279", None),
            ("1-5759e988-bd862e3fe1be46a9942727933", None),
            ("1-5759e98g-bd862e3fe1be46a994272793", None),
            ("1-5759e988_bd862e3fe1be46a994272793", None),
            ("1-5759é88-bd862e3fe1be46a994272793", None),
        ];
        for (input, want) in cases {
            let got = parse_xray_trace_id(input);
            assert_eq!(got.as_ref().map(TraceId::as_str), *want, "{input}");
        }
    }

    #[test]
    fn w3c_ids_convert_to_xray_form() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "4efaaf4d1e8720b39541901950019ee5",
                Some("1-4efaaf4d-1e8720b39541901950019ee5"),
            ),
            (
                "4EFAAF4D1E8720B39541901950019EE5",
                Some("1-4efaaf4d-1e8720b39541901950019ee5"),
            ),
            ("00000000000000000000000000000000", None),
            ("4efaaf4d1e8720b39541901950019ee", None),
            ("4efaaf4d1e8720b39541901950019ezz", None),
        ];
        for (input, want) in cases {
            let got = parse_w3c_trace_id(input);
            assert_eq!(got.as_ref().map(TraceId::as_str), *want, "{input}");
        }
    }

    #[test]
    fn traceparent_shapes() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let r = parse_traceparent(tp).unwrap();
        assert_eq!(r.trace_id.as_str(), "1-4bf92f35-77b34da6a3ce929d0e0e4736");
        assert_eq!(r.parent_id.unwrap().as_str(), "00f067aa0ba902b7");
        assert_eq!(r.sampled, Some(true));
        let unsampled =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert_eq!(unsampled.unwrap().sampled, Some(false));
        // A later version may append fields; version 00 may not.
        assert!(parse_traceparent(&format!("01{}-extra", &tp[2..])).is_some());
        for bad in [
            format!("{tp}-extra"),
            format!("ff{}", &tp[2..]),
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01".to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7".to_string(),
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        ] {
            assert!(parse_traceparent(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn headers_any_order_with_lineage_and_unknown_keys() {
        /// (trace id, parent id, sampled)
        type Want<'a> = Option<(&'a str, Option<&'a str>, Option<bool>)>;
        let cases: &[(&str, Want, u64)] = &[
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                Some((XRAY, Some("53995c3f42cd8ad8"), Some(true))),
                0,
            ),
            (
                "Sampled=0;Lineage=12326a9d:0;Parent=240a548a42a88af4;Root=1-5759e988-bd862e3fe1be46a994272793",
                Some((XRAY, Some("240a548a42a88af4"), Some(false))),
                0,
            ),
            (
                "Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;CalledFrom=app",
                Some((XRAY, None, None)),
                0,
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz;Lineage=a87bd80c:1|68fd508a:5",
                Some((XRAY, None, None)),
                1,
            ),
            (
                "X-Amzn-Trace-Id=Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
                Some((XRAY, None, Some(true))),
                0,
            ),
            ("Root=1-00000000-000000000000000000000000;Sampled=1", None, 1),
            ("Root=banana", None, 1),
        ];
        for (header, want, want_malformed) in cases {
            for (message, fields) in [
                (format!("incoming trace {header} done"), json!({})),
                (
                    String::new(),
                    json!({"request": {"headers": {"X-Trace": header}}}),
                ),
            ] {
                let (got, malformed) = found(&message, fields);
                let got = got.map(|r| {
                    (
                        r.trace_id.to_string(),
                        r.parent_id.map(|p| p.as_str().to_string()),
                        r.sampled,
                    )
                });
                let want = want.map(|(t, p, s)| (t.to_string(), p.map(str::to_string), s));
                assert_eq!(got, want, "{header}");
                assert_eq!(malformed, *want_malformed, "{header}");
            }
        }
    }

    #[test]
    fn named_fields_in_every_format() {
        let w3c = "4efaaf4d1e8720b39541901950019ee5";
        let w3c_x = "1-4efaaf4d-1e8720b39541901950019ee5";
        let cases: Vec<(Value, &str, Option<&str>)> = vec![
            (json!({"trace_id": XRAY}), XRAY, None),
            (
                json!({"traceId": w3c, "spanId": "00f067aa0ba902b7"}),
                w3c_x,
                Some("00f067aa0ba902b7"),
            ),
            (json!({"xray_trace_id": XRAY}), XRAY, None),
            (
                json!({"xRayTraceId": XRAY, "span_id": "00F067AA0BA902B7"}),
                XRAY,
                Some("00f067aa0ba902b7"),
            ),
            (
                json!({"AWS-XRAY-TRACE-ID": format!("Root={XRAY};Parent=53995c3f42cd8ad8")}),
                XRAY,
                Some("53995c3f42cd8ad8"),
            ),
            (
                json!({"otelTraceID": w3c, "otelSpanID": "00f067aa0ba902b7"}),
                w3c_x,
                Some("00f067aa0ba902b7"),
            ),
            (
                json!({"traceparent": "00-4efaaf4d1e8720b39541901950019ee5-00f067aa0ba902b7-01"}),
                w3c_x,
                Some("00f067aa0ba902b7"),
            ),
            (
                json!({"X-Amzn-Trace-Id": format!("Root={XRAY}")}),
                XRAY,
                None,
            ),
            (
                json!({"type": "platform.start", "record": {"requestId": "r", "tracing":
                    {"spanId": "1111111111111111", "type": "X-Amzn-Trace-Id",
                     "value": format!("Root={XRAY};Parent=2222222222222222;Sampled=1")}}}),
                XRAY,
                Some("2222222222222222"),
            ),
            (
                json!({"record": {"tracing": {"spanId": "1111111111111111", "value": format!("Root={XRAY}")}}}),
                XRAY,
                Some("1111111111111111"),
            ),
            (
                json!({"headers": {"x-amzn-trace-id": format!("Root={XRAY}")}}),
                XRAY,
                None,
            ),
        ];
        for (fields, want_trace, want_parent) in cases {
            let (got, malformed) = found("", fields.clone());
            let got = got.unwrap_or_else(|| panic!("{fields}"));
            assert_eq!(got.trace_id.as_str(), want_trace, "{fields}");
            assert_eq!(
                got.parent_id.map(|p| p.as_str().to_string()).as_deref(),
                want_parent,
                "{fields}"
            );
            assert_eq!(got.source, IdSource::Field);
            assert_eq!(malformed, 0, "{fields}");
        }
    }

    #[test]
    fn malformed_named_fields_are_counted_and_rejected() {
        for value in [
            json!("abc"),
            json!("1-00000000-000000000000000000000000"),
            json!("00000000000000000000000000000000"),
            json!("4efaaf4d1e8720b39541901950019ee5ff"),
            json!(12345),
        ] {
            let (got, malformed) = found("", json!({"trace_id": value}));
            assert!(got.is_none(), "{value}");
            assert_eq!(malformed, 1, "{value}");
        }
        // Empty and null mean "no id", not a bad one.
        for value in [json!(""), json!(null)] {
            assert_eq!(found("", json!({"trace_id": value})), (None, 0));
        }
    }

    #[test]
    fn configured_fields_come_first() {
        let other = "1-11111111-222222222222222222222222";
        let mut malformed = 0;
        let r = record("", json!({"trace_id": XRAY, "ctx": {"tid": other}}));
        let path = FieldPath::parse("$.ctx.tid").unwrap();
        let got = find(&r, std::slice::from_ref(&path), &mut malformed).unwrap();
        assert_eq!(got.trace_id.as_str(), other);
    }

    #[test]
    fn precedence_fields_then_platform_then_header_then_bare() {
        let a = "1-aaaaaaaa-aaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "1-bbbbbbbb-bbbbbbbbbbbbbbbbbbbbbbbb";
        let c = "1-cccccccc-cccccccccccccccccccccccc";
        let d = "1-dddddddd-dddddddddddddddddddddddd";
        let message = format!("bare {d} header Root={c};Sampled=1");
        let mut r = record(&message, json!({"trace_id": a}));
        r.platform = Some(PlatformEvent::Report(Report {
            xray: Some(XrayRef {
                trace_id: b.into(),
                segment_id: None,
                sampled: Some(true),
            }),
            ..Report::default()
        }));
        let mut m = 0;
        assert_eq!(find(&r, &[], &mut m).unwrap().trace_id.as_str(), a);
        r.set_fields(serde_json::Map::new());
        assert_eq!(find(&r, &[], &mut m).unwrap().source, IdSource::Platform);
        assert_eq!(find(&r, &[], &mut m).unwrap().trace_id.as_str(), b);
        r.platform = None;
        assert_eq!(find(&r, &[], &mut m).unwrap().trace_id.as_str(), c);
        r.message = format!("bare {d}");
        let got = find(&r, &[], &mut m).unwrap();
        assert_eq!((got.trace_id.as_str(), got.source), (d, IdSource::Bare));
        assert_eq!(m, 0);
    }

    #[test]
    fn report_xray_from_a_next_line_suffix() {
        // The parser joined `XRAY TraceId: … SegmentId: … Sampled: true` from the next line.
        let mut r = record("REPORT RequestId: x\tDuration: 1.00 ms", json!({}));
        r.platform = Some(PlatformEvent::Report(Report {
            request_id: "x".into(),
            xray: Some(XrayRef {
                trace_id: XRAY.into(),
                segment_id: Some("3d752a1b1bbe37e0".into()),
                sampled: Some(true),
            }),
            ..Report::default()
        }));
        let mut m = 0;
        let got = find(&r, &[], &mut m).unwrap();
        assert_eq!(got.trace_id.as_str(), XRAY);
        assert_eq!(got.parent_id.unwrap().as_str(), "3d752a1b1bbe37e0");
        assert_eq!(got.sampled, Some(true));
        // A bad ref is counted and the record has no trace.
        if let Some(PlatformEvent::Report(rep)) = &mut r.platform {
            rep.xray = Some(XrayRef {
                trace_id: "1-5d9d007f-0a8c7fd02xmpl480aed55ef0".into(),
                segment_id: None,
                sampled: None,
            });
        }
        assert!(find(&r, &[], &mut m).is_none());
        assert_eq!(m, 1);
    }

    #[test]
    fn bare_ids_in_text() {
        let cases: &[(&str, Option<&str>, Option<&str>, u64)] = &[
            (&format!("trace {XRAY} failed"), Some(XRAY), None, 0),
            (XRAY, Some(XRAY), None, 0),
            (&format!("2024-11-27 trace={XRAY}."), Some(XRAY), None, 0),
            (
                &format!("XRAY TraceId: {XRAY}\tSegmentId: 3d752a1b1bbe37e0\tSampled: true"),
                Some(XRAY),
                Some("3d752a1b1bbe37e0"),
                0,
            ),
            (&format!("x{XRAY}"), None, None, 0),
            (&format!("{XRAY}0"), None, None, 0),
            ("2024-11-27T10:00:00Z 1-2-3", None, None, 0),
            ("id 1-00000000-000000000000000000000000 here", None, None, 1),
            ("", None, None, 0),
            ("1-", None, None, 0),
        ];
        for (message, want, want_parent, want_malformed) in cases {
            let (got, malformed) = found(message, json!({}));
            assert_eq!(
                got.map(|r| r.trace_id.to_string()).as_deref(),
                *want,
                "{message}"
            );
            assert_eq!(
                got.and_then(|r| r.parent_id)
                    .map(|p| p.as_str().to_string())
                    .as_deref(),
                *want_parent,
                "{message}"
            );
            assert_eq!(malformed, *want_malformed, "{message}");
        }
    }

    #[test]
    fn hostile_text_is_bounded_and_safe() {
        let many_roots = "Root=;".repeat(100_000);
        let (got, malformed) = found(&many_roots, json!({}));
        assert!(got.is_none());
        assert!(malformed <= MAX_HEADER_ATTEMPTS as u64);
        let dashes = "1-".repeat(200_000) + "é-1-";
        assert_eq!(found(&dashes, json!({})).0, None);
        // A multi-byte character right at the scan window's edge must not panic.
        let edge = format!("{}Root={XRAY}", "é".repeat(300));
        assert_eq!(found(&edge, json!({})).0.unwrap().trace_id.as_str(), XRAY);
        let mut deep = json!(format!("Root={XRAY}"));
        for _ in 0..100 {
            deep = json!({ "a": deep });
        }
        // Deeper than the walk goes: not found, but no stack overflow.
        assert_eq!(found("", deep).0, None);
    }
}
