//! Output records as OTLP logs: `ExportLogsServiceRequest` protobuf bodies, one ResourceLogs per
//! log group, stream and service, split so no body exceeds the sink's size. Pure: the AWS edge
//! compresses, sends and retries.
//!
//! Mapping (https://opentelemetry.io/docs/specs/otel/logs/data-model/ and the semantic
//! conventions' `cloud`, `aws.log`, `faas` and `service` attributes):
//! - resource: `cloud.provider`, `cloud.platform` (Lambda groups), `cloud.region`,
//!   `cloud.account.id` (the batch's owner), `aws.log.group.names`, `aws.log.stream.names`,
//!   `faas.name` (`/aws/lambda/<name>`), `service.name`, then `OTEL_RESOURCE_ATTRIBUTES`;
//! - record: `time_unix_nano` from `@timestamp`, severity from `@level` (the lowest number of
//!   each range: 1/5/9/13/17/21), body = `message` (or `msg`), attributes = every other field
//!   plus `log.record.uid` (`@id`), `SampleRate` (Honeycomb's name for `@sampleRate`) and
//!   `logsieve.joined` (`@joined`: the log events a multiline-joined record was made of), and
//!   `trace_id`/`span_id` bytes from `@traceId`/`@spanId`: an X-Ray id `1-aaaaaaaa-b…` is the
//!   16 bytes of its 32 hex digits, as the OpenTelemetry X-Ray propagator maps it.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};

use super::{AttributeValue, BatchSpan, OtlpTarget, OutputRecord, ResourceSettings, SpanKind};
use crate::json::object::{LazyObject, MemberValue};
use crate::record::Level;

/// The instrumentation scope every record is written under.
pub const SCOPE_NAME: &str = "logsieve";
/// The attribute for `@joined`, in logsieve's own namespace (the semantic conventions have none).
pub const JOINED_ATTRIBUTE: &str = "logsieve.joined";
/// The field that becomes the body, and the one used when it is absent.
const BODY_KEY: &str = "message";
const BODY_FALLBACK_KEY: &str = "msg";
/// Room kept in each request for the length prefixes of the enclosing messages, which grow by a
/// byte at a time as records are added.
const FRAMING_SLACK: usize = 64;

/// One request body (not yet compressed) and the records it holds (indices into the output's
/// records), so a failed request's records can be spilled.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpRequest {
    pub body: Vec<u8>,
    pub records: Vec<usize>,
}

/// Encodes the records of `spans` (all of them, in order) into requests no larger than
/// `target.max_request_bytes` each; a single record larger than that goes alone.
///
/// Records are written straight from their JSON to protobuf (the `wire` functions below)
/// rather than through `opentelemetry_proto`'s structs: building those cloned every key and
/// value of every record, and was most of this stage's cost (callgrind, json-app mix). The
/// resource and scope, once per group, still go through the structs. Tests decode the result
/// with the structs.
pub fn encode(
    records: &[OutputRecord],
    spans: &[&BatchSpan],
    target: &OtlpTarget,
    observed_unix_nano: u64,
) -> Vec<OtlpRequest> {
    let mut out = Vec::new();
    let mut builder = RequestBuilder::new(target.max_request_bytes.saturating_sub(FRAMING_SLACK));
    // A record's protobuf is about as long as its JSON. Reserving that up front spares the
    // request's buffers their doublings (a realloc and a copy each) on a large batch.
    let json_bytes: usize = spans
        .iter()
        .filter_map(|s| records.get(s.start..s.end.min(records.len())))
        .flatten()
        .map(|r| r.json().len())
        .sum();
    builder.reserve(json_bytes);
    let mut scratch = Vec::with_capacity(1024);
    for span in spans {
        let mut current_service: Option<String> = None;
        for i in span.start..span.end.min(records.len()) {
            let Some(record) = records.get(i) else {
                continue;
            };
            let backing = Backing::of(record);
            let view = Members::of(record, &backing);
            let service = service_name(&target.resource, span, &view);
            if current_service.as_deref() != Some(&*service) {
                let resource = resource(&target.resource, span, &service).encode_to_vec();
                builder.start_resource(resource, &mut out);
                current_service = Some(service.into_owned());
            }
            scratch.clear();
            wire::log_record(&mut scratch, &view, observed_unix_nano);
            builder.push(i, &scratch, &mut out);
        }
    }
    builder.finish(&mut out);
    out
}

/// An output record's members as the encoder reads them, in the record's order: from where the
/// selector noted them (plain strings and small integers never parsed, other values parsed
/// once), else from the text indexed in place, else from the text parsed whole.
struct Members<'a> {
    members: Vec<(&'a str, MemberValue<'a>)>,
}

/// What a record's members borrow from besides its text: the values parsed for them.
enum Backing {
    /// Values of the record's `SpanKind::Json` members, in order.
    Parsed(Vec<Value>),
    Indexed(LazyObject),
    Map(Map<String, Value>),
}

impl Backing {
    fn of(record: &OutputRecord) -> Backing {
        let text = record.json();
        match record.members() {
            Some(spans) => Backing::Parsed(
                spans
                    .iter()
                    .filter(|m| m.kind == SpanKind::Json)
                    .map(|m| serde_json::from_str(span_text(text, m.value)).unwrap_or(Value::Null))
                    .collect(),
            ),
            None => match crate::json::index_object(text) {
                Some(object) => Backing::Indexed(object),
                None => Backing::Map(record.to_map()),
            },
        }
    }
}

fn span_text(text: &str, (start, end): (u32, u32)) -> &str {
    text.get(start as usize..end as usize).unwrap_or_default()
}

impl<'a> Members<'a> {
    fn of(record: &'a OutputRecord, backing: &'a Backing) -> Members<'a> {
        let text = record.json();
        let members = match (backing, record.members()) {
            (Backing::Parsed(values), Some(spans)) => {
                let mut parsed = values.iter();
                spans
                    .iter()
                    .map(|m| {
                        let value = match m.kind {
                            SpanKind::Str => MemberValue::Plain(span_text(text, m.value)),
                            SpanKind::Int => MemberValue::Int(span_text(text, m.value)),
                            SpanKind::Decimal => MemberValue::Decimal(span_text(text, m.value)),
                            SpanKind::Json => {
                                MemberValue::Value(parsed.next().unwrap_or(&Value::Null))
                            }
                        };
                        (span_text(text, m.key), value)
                    })
                    .collect()
            }
            (Backing::Indexed(object), _) => object.members(text).collect(),
            (Backing::Map(map), _) => map
                .iter()
                .map(|(k, v)| (k.as_str(), MemberValue::Value(v)))
                .collect(),
            (Backing::Parsed(_), None) => Vec::new(),
        };
        Members { members }
    }

    fn iter(&self) -> impl Iterator<Item = (&'a str, MemberValue<'a>)> + '_ {
        self.members.iter().copied()
    }

    /// `key`'s value as text when it is a scalar (see `scalar_text`).
    fn text_of(&self, key: &str) -> Option<std::borrow::Cow<'a, str>> {
        let (_, v) = self.members.iter().find(|(k, _)| *k == key)?;
        match *v {
            MemberValue::Plain(s) | MemberValue::Int(s) | MemberValue::Decimal(s) => {
                Some(std::borrow::Cow::Borrowed(s))
            }
            MemberValue::Value(v) => crate::record::scalar_text(v),
        }
    }
}

/// Accumulates one request at a time, starting a new one when the next record would not fit.
struct RequestBuilder {
    limit: usize,
    /// Finished ResourceLogs of the current request (each with its tag and length).
    body: Vec<u8>,
    indices: Vec<usize>,
    /// The encoded Resource of the group being filled, to reopen it in the next request.
    resource: Option<Vec<u8>>,
    /// The group's records, each with its tag and length.
    records: Vec<u8>,
    scope: Vec<u8>,
}

impl RequestBuilder {
    fn new(limit: usize) -> RequestBuilder {
        let scope = InstrumentationScope {
            name: SCOPE_NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }
        .encode_to_vec();
        RequestBuilder {
            limit,
            body: Vec::new(),
            indices: Vec::new(),
            resource: None,
            records: Vec::new(),
            scope,
        }
    }

    /// Room for about `bytes` of records in the first request, no more than one request holds.
    fn reserve(&mut self, bytes: usize) {
        let bytes = bytes.min(self.limit);
        self.records.reserve(bytes);
        self.body.reserve(bytes);
    }

    /// Bytes the request would have now.
    fn size(&self) -> usize {
        let group = self
            .resource
            .as_ref()
            .map_or(0, |r| resource_logs_cost(r.len(), self.scope.len()));
        self.body.len() + group + self.records.len()
    }

    fn start_resource(&mut self, resource: Vec<u8>, out: &mut Vec<OtlpRequest>) {
        self.close_group();
        let cost = resource_logs_cost(resource.len(), self.scope.len());
        if !self.indices.is_empty() && self.body.len() + cost > self.limit {
            self.flush(out);
        }
        self.resource = Some(resource);
    }

    fn push(&mut self, index: usize, record: &[u8], out: &mut Vec<OtlpRequest>) {
        let cost = 1 + prost::length_delimiter_len(record.len()) + record.len();
        if !self.indices.is_empty() && self.size() + cost > self.limit {
            self.close_group();
            self.flush(out);
        }
        wire::bytes_field(&mut self.records, 2, record);
        self.indices.push(index);
    }

    /// Appends the group being filled (if it has records) to the request's body.
    fn close_group(&mut self) {
        if self.records.is_empty() {
            return;
        }
        let resource = self.resource.as_deref().unwrap_or_default();
        let scope_logs_len = 1
            + prost::length_delimiter_len(self.scope.len())
            + self.scope.len()
            + self.records.len();
        let resource_logs_len = 1
            + prost::length_delimiter_len(resource.len())
            + resource.len()
            + 1
            + prost::length_delimiter_len(scope_logs_len)
            + scope_logs_len;
        wire::key(&mut self.body, 1, wire::LEN);
        wire::varint(&mut self.body, resource_logs_len as u64);
        wire::bytes_field(&mut self.body, 1, resource);
        wire::key(&mut self.body, 2, wire::LEN);
        wire::varint(&mut self.body, scope_logs_len as u64);
        wire::bytes_field(&mut self.body, 1, &self.scope);
        self.body.extend_from_slice(&self.records);
        self.records.clear();
    }

    fn flush(&mut self, out: &mut Vec<OtlpRequest>) {
        let body = std::mem::take(&mut self.body);
        let indices = std::mem::take(&mut self.indices);
        if indices.is_empty() {
            return;
        }
        out.push(OtlpRequest {
            body,
            records: indices,
        });
    }

    fn finish(mut self, out: &mut Vec<OtlpRequest>) {
        self.close_group();
        self.flush(out);
    }
}

/// Bytes one ResourceLogs adds before any record: its resource, scope and framing.
fn resource_logs_cost(resource: usize, scope: usize) -> usize {
    // ResourceLogs, resource, ScopeLogs and scope: a tag and a length each (≤ 6 bytes).
    4 * 6 + resource + scope
}

/// `service.name`: configured (or `OTEL_SERVICE_NAME`), else the record's service field, else
/// `OTEL_RESOURCE_ATTRIBUTES`' `service.name`, else the Lambda function, else the log group.
/// Borrowed: it is asked of every record, and changes only between groups.
fn service_name<'a>(
    settings: &'a ResourceSettings,
    span: &'a BatchSpan,
    record: &Members<'a>,
) -> Cow<'a, str> {
    if let Some(s) = &settings.service_name {
        return Cow::Borrowed(s);
    }
    if let Some(field) = &settings.service_name_field {
        if let Some(v) = record.text_of(field) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    if let Some((_, v)) = settings.extra.iter().find(|(k, _)| k == "service.name") {
        return Cow::Borrowed(v);
    }
    Cow::Borrowed(lambda_function(&span.log_group).unwrap_or(&span.log_group))
}

/// The function of a `/aws/lambda/<name>` log group.
pub fn lambda_function(log_group: &str) -> Option<&str> {
    log_group
        .strip_prefix("/aws/lambda/")
        .filter(|f| !f.is_empty() && !f.contains('/'))
}

fn resource(settings: &ResourceSettings, span: &BatchSpan, service: &str) -> Resource {
    let mut attributes = vec![kv("cloud.provider", string("aws"))];
    let function = lambda_function(&span.log_group);
    if function.is_some() {
        attributes.push(kv("cloud.platform", string("aws_lambda")));
    }
    if let Some(r) = &settings.region {
        attributes.push(kv("cloud.region", string(r)));
    }
    if !span.owner.is_empty() {
        attributes.push(kv("cloud.account.id", string(&span.owner)));
    }
    attributes.push(kv("aws.log.group.names", strings(&span.log_group)));
    attributes.push(kv("aws.log.stream.names", strings(&span.log_stream)));
    if let Some(f) = function {
        attributes.push(kv("faas.name", string(f)));
    }
    attributes.push(kv("service.name", string(service)));
    for (k, v) in &settings.attributes {
        let value = match v {
            AttributeValue::Literal(s) => Some(s.as_str()),
            AttributeValue::Tag(key) => span.tags.get(key).map(String::as_str),
        };
        if let Some(value) = value {
            if !attributes.iter().any(|a| &a.key == k) {
                attributes.push(kv(k, string(value)));
            }
        }
    }
    for (k, v) in &settings.extra {
        if !attributes.iter().any(|a| &a.key == k) {
            attributes.push(kv(k, string(v)));
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// The OpenTelemetry severity number of a level name (0, unspecified, when unknown).
pub fn severity_number(level: &str) -> i32 {
    match Level::parse(level) {
        Some(Level::Trace) => 1,
        Some(Level::Debug) => 5,
        Some(Level::Info) => 9,
        Some(Level::Warn) => 13,
        Some(Level::Error) => 17,
        Some(Level::Fatal) => 21,
        None => 0,
    }
}

/// The 16 bytes of an X-Ray (`1-8hex-24hex`) or W3C (32 hex) trace id.
pub fn trace_id_bytes(id: &str) -> Option<[u8; 16]> {
    match id.strip_prefix("1-") {
        Some(rest) => {
            // The hex digits without the dash: at most 32 of them, else not an id.
            let mut digits = [0u8; 32];
            let mut n = 0;
            for &b in rest.as_bytes().iter().filter(|&&b| b != b'-') {
                *digits.get_mut(n)? = b;
                n += 1;
            }
            hex_bytes::<16>(digits.get(..n)?)
        }
        None => hex_bytes::<16>(id.as_bytes()),
    }
}

/// Each byte's value as a hex digit, `INVALID_HEX` for a byte that is not one.
const HEX_VALUES: [u8; 256] = {
    let mut t = [INVALID_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
/// Outside 0..=15, so it shows in the high nibble of the digits OR-ed together.
const INVALID_HEX: u8 = 0xff;

/// Every record with a trace carries two ids to decode; a table and one check at the end cost a
/// fraction of a branch per digit.
fn hex_bytes<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut seen = 0u8;
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let [h, l] = pair else { return None };
        let (h, l) = (HEX_VALUES[usize::from(*h)], HEX_VALUES[usize::from(*l)]);
        seen |= h | l;
        *o = h << 4 | l;
    }
    // All zero is an invalid id in both formats.
    (seen & 0xf0 == 0 && out.iter().any(|&x| x != 0)).then_some(out)
}

/// Protobuf wire encoding of a LogRecord straight from an output record
/// (https://protobuf.dev/programming-guides/encoding/; field numbers from
/// opentelemetry/proto/logs/v1/logs.proto and common/v1/common.proto).
mod wire {
    use serde_json::Value;

    use super::{severity_number, trace_id_bytes, Members, BODY_FALLBACK_KEY, BODY_KEY};
    use crate::json::object::MemberValue;
    use crate::records::{LEVEL_KEY, SPAN_ID_KEY, TRACE_ID_KEY};

    pub const VARINT: u8 = 0;
    pub const FIXED64: u8 = 1;
    pub const LEN: u8 = 2;

    pub fn varint(buf: &mut Vec<u8>, v: u64) {
        // Tags and most lengths are one byte: no loop for them.
        if v < 0x80 {
            buf.push(v as u8);
        } else {
            prost::encoding::encode_varint(v, buf);
        }
    }

    fn varint_len(v: u64) -> usize {
        prost::encoding::encoded_len_varint(v)
    }

    pub fn key(buf: &mut Vec<u8>, field: u32, wire_type: u8) {
        varint(buf, u64::from(field << 3 | u32::from(wire_type)));
    }

    pub fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        key(buf, field, LEN);
        varint(buf, bytes.len() as u64);
        buf.extend_from_slice(bytes);
    }

    fn len_field_len(field_len: usize) -> usize {
        1 + varint_len(field_len as u64) + field_len
    }

    /// Length of an AnyValue message holding `v`.
    fn any_len(v: &Value) -> usize {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 2,
            Value::Number(n) => match n.as_i64() {
                Some(i) => 1 + varint_len(i as u64),
                None => 9,
            },
            Value::String(s) => len_field_len(s.len()),
            Value::Array(a) => len_field_len(a.iter().map(|x| len_field_len(any_len(x))).sum()),
            Value::Object(m) => {
                len_field_len(m.iter().map(|(k, x)| len_field_len(kv_len(k, x))).sum())
            }
        }
    }

    fn kv_len(k: &str, v: &Value) -> usize {
        len_field_len(k.len()) + len_field_len(any_len(v))
    }

    fn any(buf: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Null => {}
            Value::Bool(b) => {
                key(buf, 2, VARINT);
                varint(buf, u64::from(*b));
            }
            Value::Number(n) => match n.as_i64() {
                Some(i) => {
                    key(buf, 3, VARINT);
                    // int64: negative values are their two's complement, ten bytes.
                    varint(buf, i as u64);
                }
                None => {
                    key(buf, 4, FIXED64);
                    buf.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
                }
            },
            Value::String(s) => bytes_field(buf, 1, s.as_bytes()),
            Value::Array(a) => {
                key(buf, 5, LEN);
                varint(
                    buf,
                    a.iter().map(|x| len_field_len(any_len(x))).sum::<usize>() as u64,
                );
                for x in a {
                    key(buf, 1, LEN);
                    varint(buf, any_len(x) as u64);
                    any(buf, x);
                }
            }
            Value::Object(m) => {
                key(buf, 6, LEN);
                varint(
                    buf,
                    m.iter()
                        .map(|(k, x)| len_field_len(kv_len(k, x)))
                        .sum::<usize>() as u64,
                );
                for (k, x) in m {
                    kv_field(buf, 1, k, x);
                }
            }
        }
    }

    /// A KeyValue as field `field` of the enclosing message.
    fn kv_field(buf: &mut Vec<u8>, field: u32, k: &str, v: &Value) {
        key(buf, field, LEN);
        varint(buf, kv_len(k, v) as u64);
        bytes_field(buf, 1, k.as_bytes());
        key(buf, 2, LEN);
        varint(buf, any_len(v) as u64);
        any(buf, v);
    }

    /// An integer member's value (`MemberValue::Int` digits and the `@timestamp` the selector
    /// writes both fit `i64`).
    fn int(digits: &str) -> i64 {
        digits.parse().unwrap_or(0)
    }

    /// Length of an AnyValue message holding member value `m`.
    fn member_len(m: MemberValue<'_>) -> usize {
        match m {
            MemberValue::Plain(s) => len_field_len(s.len()),
            MemberValue::Int(d) => 1 + varint_len(int(d) as u64),
            MemberValue::Decimal(_) => 9,
            MemberValue::Value(v) => any_len(v),
        }
    }

    fn member_any(buf: &mut Vec<u8>, m: MemberValue<'_>) {
        match m {
            MemberValue::Plain(s) => bytes_field(buf, 1, s.as_bytes()),
            MemberValue::Int(d) => {
                key(buf, 3, VARINT);
                varint(buf, int(d) as u64);
            }
            MemberValue::Decimal(d) => {
                key(buf, 4, FIXED64);
                let f = crate::json::object::canonical_decimal(d).unwrap_or(0.0);
                buf.extend_from_slice(&f.to_le_bytes());
            }
            MemberValue::Value(v) => any(buf, v),
        }
    }

    /// A KeyValue of a member as field `field` of the enclosing message.
    fn member_kv(buf: &mut Vec<u8>, field: u32, k: &str, m: MemberValue<'_>) {
        // An integer is parsed once, for its length and its bytes.
        let int_value = match m {
            MemberValue::Int(d) => Some(int(d) as u64),
            _ => None,
        };
        let len = int_value.map_or_else(|| member_len(m), |i| 1 + varint_len(i));
        key(buf, field, LEN);
        varint(buf, (len_field_len(k.len()) + len_field_len(len)) as u64);
        bytes_field(buf, 1, k.as_bytes());
        key(buf, 2, LEN);
        varint(buf, len as u64);
        match int_value {
            Some(i) => {
                key(buf, 3, VARINT);
                varint(buf, i);
            }
            None => member_any(buf, m),
        }
    }

    /// A member's value when it is a string.
    fn member_str(m: MemberValue<'_>) -> Option<&str> {
        match m {
            MemberValue::Plain(s) => Some(s),
            MemberValue::Value(v) => v.as_str(),
            MemberValue::Int(_) | MemberValue::Decimal(_) => None,
        }
    }

    /// A LogRecord message's body for one output record (mapping in the module comment).
    pub fn log_record(buf: &mut Vec<u8>, record: &Members<'_>, observed_unix_nano: u64) {
        // One pass picks the metadata and the body out; a second writes the attributes.
        let (mut millis, mut level, mut trace, mut span) = (0u64, None, None, None);
        let (mut message, mut msg) = (None, None);
        for (k, m) in record.iter() {
            // Only metadata and the body matter here: most keys are ruled out by one byte.
            if !matches!(k.as_bytes().first(), Some(b'@' | b'm')) {
                continue;
            }
            match k {
                "@timestamp" => {
                    millis = match m {
                        MemberValue::Int(d) => u64::try_from(int(d)).unwrap_or(0),
                        MemberValue::Value(v) => v.as_u64().unwrap_or(0),
                        MemberValue::Plain(_) | MemberValue::Decimal(_) => 0,
                    }
                }
                LEVEL_KEY => level = member_str(m),
                TRACE_ID_KEY => trace = member_str(m).and_then(trace_id_bytes),
                SPAN_ID_KEY => {
                    span = member_str(m).and_then(|s| super::hex_bytes::<8>(s.as_bytes()))
                }
                BODY_KEY => message = Some(m),
                BODY_FALLBACK_KEY => msg = Some(m),
                _ => {}
            }
        }
        let time = millis.saturating_mul(1_000_000);
        if time != 0 {
            key(buf, 1, FIXED64);
            buf.extend_from_slice(&time.to_le_bytes());
        }
        if let Some(level) = level {
            let n = severity_number(level);
            if n != 0 {
                key(buf, 2, VARINT);
                varint(buf, n as u64);
            }
            if !level.is_empty() {
                bytes_field(buf, 3, level.as_bytes());
            }
        }
        // `message` is the body; `msg` only when there is no `message`.
        let (body_key, body) = match (message, msg) {
            (Some(m), _) => (BODY_KEY, Some(m)),
            (None, Some(m)) => (BODY_FALLBACK_KEY, Some(m)),
            (None, None) => (BODY_KEY, None),
        };
        if let Some(m) = body {
            key(buf, 5, LEN);
            varint(buf, member_len(m) as u64);
            member_any(buf, m);
        }
        for (k, m) in record.iter() {
            if k.as_bytes().first() == Some(&b'@') {
                match k {
                    "@id" if member_str(m).is_some_and(|s| !s.is_empty()) => {
                        member_kv(buf, 6, "log.record.uid", m);
                    }
                    crate::records::SAMPLE_RATE_KEY => member_kv(buf, 6, "SampleRate", m),
                    crate::multiline::JOINED_KEY => member_kv(buf, 6, super::JOINED_ATTRIBUTE, m),
                    _ => {}
                }
            } else if k != body_key {
                member_kv(buf, 6, k, m);
            }
        }
        if let Some(id) = trace {
            bytes_field(buf, 9, &id);
        }
        if let Some(id) = span {
            bytes_field(buf, 10, &id);
        }
        if observed_unix_nano != 0 {
            key(buf, 11, FIXED64);
            buf.extend_from_slice(&observed_unix_nano.to_le_bytes());
        }
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    }
}

/// A one-element string array (the `aws.log.*.names` attributes are arrays).
fn strings(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![string(s)],
        })),
    }
}
