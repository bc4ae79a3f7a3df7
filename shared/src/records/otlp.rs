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
//!   plus `log.record.uid` (`@id`) and `SampleRate` (Honeycomb's name for `@sampleRate`), and
//!   `trace_id`/`span_id` bytes from `@traceId`/`@spanId`: an X-Ray id `1-aaaaaaaa-b…` is the
//!   16 bytes of its 32 hex digits, as the OpenTelemetry X-Ray propagator maps it.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};

use super::{BatchSpan, OtlpTarget, ResourceSettings, LEVEL_KEY, SPAN_ID_KEY, TRACE_ID_KEY};
use crate::record::Level;

/// The instrumentation scope every record is written under.
pub const SCOPE_NAME: &str = "logsieve";
/// Fields that become the body, in order of preference.
const BODY_KEYS: &[&str] = &["message", "msg"];
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
pub fn encode(
    records: &[Map<String, Value>],
    spans: &[&BatchSpan],
    target: &OtlpTarget,
    observed_unix_nano: u64,
) -> Vec<OtlpRequest> {
    let mut out = Vec::new();
    let mut builder = RequestBuilder::new(target.max_request_bytes.saturating_sub(FRAMING_SLACK));
    for span in spans {
        let mut current_service: Option<String> = None;
        for i in span.start..span.end.min(records.len()) {
            let Some(record) = records.get(i) else {
                continue;
            };
            let service = service_name(&target.resource, span, record);
            if current_service.as_deref() != Some(service.as_str()) {
                builder.start_resource(resource(&target.resource, span, &service), &mut out);
                current_service = Some(service);
            }
            let encoded = log_record(record, observed_unix_nano);
            builder.push(i, encoded, &mut out);
        }
    }
    builder.finish(&mut out);
    out
}

/// Accumulates one request at a time, starting a new one when the next record would not fit.
struct RequestBuilder {
    limit: usize,
    request: ExportLogsServiceRequest,
    indices: Vec<usize>,
    size: usize,
    /// The resource of the ResourceLogs being filled, to reopen it in the next request.
    resource: Option<Resource>,
}

impl RequestBuilder {
    fn new(limit: usize) -> RequestBuilder {
        RequestBuilder {
            limit,
            request: ExportLogsServiceRequest::default(),
            indices: Vec::new(),
            size: 0,
            resource: None,
        }
    }

    fn start_resource(&mut self, resource: Resource, out: &mut Vec<OtlpRequest>) {
        let cost = resource_logs_cost(&resource);
        if self.size > 0 && self.size + cost > self.limit {
            self.flush(out);
        }
        self.open(resource.clone());
        self.resource = Some(resource);
    }

    fn open(&mut self, resource: Resource) {
        self.size += resource_logs_cost(&resource);
        self.request.resource_logs.push(ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
    }

    fn push(&mut self, index: usize, record: LogRecord, out: &mut Vec<OtlpRequest>) {
        let len = record.encoded_len();
        let cost = 1 + prost::length_delimiter_len(len) + len;
        if !self.indices.is_empty() && self.size + cost > self.limit {
            self.flush(out);
            if let Some(r) = self.resource.clone() {
                self.open(r);
            }
        }
        self.size += cost;
        self.indices.push(index);
        if let Some(scope) = self
            .request
            .resource_logs
            .last_mut()
            .and_then(|r| r.scope_logs.last_mut())
        {
            scope.log_records.push(record);
        }
    }

    fn flush(&mut self, out: &mut Vec<OtlpRequest>) {
        let request = std::mem::take(&mut self.request);
        let indices = std::mem::take(&mut self.indices);
        self.size = 0;
        if indices.is_empty() {
            return;
        }
        out.push(OtlpRequest {
            body: request.encode_to_vec(),
            records: indices,
        });
    }

    fn finish(mut self, out: &mut Vec<OtlpRequest>) {
        self.flush(out);
    }
}

/// Bytes one ResourceLogs adds before any record: its resource, scope and framing.
fn resource_logs_cost(resource: &Resource) -> usize {
    let len = resource.encoded_len();
    // ResourceLogs tag + length, resource tag + length, ScopeLogs with its scope (< 32 bytes).
    2 * (1 + prost::length_delimiter_len(len)) + len + 32
}

/// `service.name`: configured (or `OTEL_SERVICE_NAME`), else the record's service field, else
/// `OTEL_RESOURCE_ATTRIBUTES`' `service.name`, else the Lambda function, else the log group.
fn service_name(
    settings: &ResourceSettings,
    span: &BatchSpan,
    record: &Map<String, Value>,
) -> String {
    if let Some(s) = &settings.service_name {
        return s.clone();
    }
    if let Some(field) = &settings.service_name_field {
        if let Some(v) = record.get(field).and_then(crate::record::scalar_text) {
            if !v.is_empty() {
                return v.into_owned();
            }
        }
    }
    if let Some((_, v)) = settings.extra.iter().find(|(k, _)| k == "service.name") {
        return v.clone();
    }
    match lambda_function(&span.log_group) {
        Some(f) => f.to_string(),
        None => span.log_group.clone(),
    }
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

fn log_record(record: &Map<String, Value>, observed_unix_nano: u64) -> LogRecord {
    let millis = record
        .get("@timestamp")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let level = record.get(LEVEL_KEY).and_then(Value::as_str);
    let body_key = BODY_KEYS.iter().find(|k| record.contains_key(**k)).copied();
    let mut attributes = Vec::with_capacity(record.len());
    for (k, v) in record {
        if Some(k.as_str()) == body_key {
            continue;
        }
        match k.as_str() {
            "@id" => {
                if let Some(id) = v.as_str().filter(|s| !s.is_empty()) {
                    attributes.push(kv("log.record.uid", string(id)));
                }
            }
            crate::pipeline::SAMPLE_RATE_KEY => attributes.push(kv("SampleRate", any(v))),
            k if k.starts_with('@') => {}
            _ => attributes.push(kv(k, any(v))),
        }
    }
    LogRecord {
        time_unix_nano: millis.saturating_mul(1_000_000),
        observed_time_unix_nano: observed_unix_nano,
        severity_number: level.map_or(0, severity_number),
        severity_text: level.map(str::to_string).unwrap_or_default(),
        body: body_key.and_then(|k| record.get(k)).map(any),
        attributes,
        trace_id: record
            .get(TRACE_ID_KEY)
            .and_then(Value::as_str)
            .and_then(trace_id_bytes)
            .map(Vec::from)
            .unwrap_or_default(),
        span_id: record
            .get(SPAN_ID_KEY)
            .and_then(Value::as_str)
            .and_then(hex_bytes::<8>)
            .map(Vec::from)
            .unwrap_or_default(),
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
    let hex: String = match id.strip_prefix("1-") {
        Some(rest) => rest.chars().filter(|c| *c != '-').collect(),
        None => id.to_string(),
    };
    hex_bytes::<16>(&hex)
}

fn hex_bytes<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let b = hex.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        *o = (hi * 16 + lo) as u8;
    }
    // All zero is an invalid id in both formats.
    out.iter().any(|&x| x != 0).then_some(out)
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

/// A JSON value as an AnyValue: objects become key-value lists, integers stay integers
/// (beyond i64 they become doubles), null becomes the empty value.
pub fn any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.iter().map(any).collect(),
        })),
        Value::Object(m) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: m.iter().map(|(k, v)| kv(k, any(v))).collect(),
        })),
    };
    AnyValue { value }
}
