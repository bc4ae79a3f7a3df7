//! Decoding of what Lambda hands us into `Batch`es: the CloudWatch Logs subscription event
//! (`{"awslogs":{"data":…}}`), Kinesis and Firehose events whose records carry the same gzip'd
//! document, or an already-decoded CloudWatch Logs document. base64 → gzip (size-capped) → JSON.
//!
//! We decode ourselves rather than through `aws_lambda_events`' built-in `AwsLogs` deserializer
//! (aws_lambda_events 1.x, `event::cloudwatch_logs`): it rejects unknown keys inside `awslogs`, cannot be fed from a `Value`,
//! reads only the first gzip member, has no size cap and fails the whole batch on one bad event.
//! Here unknown fields are ignored everywhere, one bad event is skipped and counted, and every
//! failure of the payload itself is a typed `DecodeError`. The document in the shape AWS sends
//! it is read by hand (`envelope`, for speed); anything else by serde_json, with the same result.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::counter_keys as ck;
use crate::record::{Batch, LogEvent, Source};
use crate::stats::Counters;

mod envelope;

#[doc(hidden)]
pub use envelope::agrees_with_serde as envelope_agrees_with_serde;

/// Default cap on decompressed bytes per payload, sized for a 128 MB function: a 1 MB async
/// payload of typical logs inflates 5-15x (well under 16 MiB), and the densest payload the cap
/// admits (empty events back to back) peaks near 5x the cap while decoding — ~82 MB here.
/// Raise it (and the function's memory) for logs that compress better than ~20x.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;

/// The range of f64 timestamps that convert to i64 without saturating: [-2^63, 2^63).
const I64_MS_MIN: f64 = -9_223_372_036_854_775_808.0;
const I64_MS_END: f64 = 9_223_372_036_854_775_808.0;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `[decode]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeConfig {
    /// Largest decompressed payload accepted, in bytes; past it the payload fails with
    /// `DecodeError::TooLarge` (a gzip bomb cannot make us allocate more).
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

impl DecodeConfig {
    pub fn validate(&self) -> Result<DecodeLimits, crate::config_error::ConfigError> {
        if self.max_decompressed_bytes < 1024 {
            return Err(crate::config_error::ConfigError::new(
                "decode.max_decompressed_bytes",
                "must be at least 1024",
            ));
        }
        Ok(DecodeLimits {
            max_decompressed_bytes: self.max_decompressed_bytes,
        })
    }
}

/// Checked decode limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// Why a payload could not be decoded. Each has a stable counter key (`DecodeError::key`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload")]
    Empty,
    #[error("event is not valid JSON: {0}")]
    InvalidEventJson(String),
    #[error(
        "event is not a CloudWatch Logs subscription, Kinesis, Firehose event or CloudWatch Logs document"
    )]
    UnknownShape,
    #[error("{field} is not a string")]
    NotAString { field: &'static str },
    #[error("invalid base64 in {field}: {detail}")]
    Base64 { field: &'static str, detail: String },
    /// `prefix` (the first bytes) is kept for callers that inspect it; the message only says
    /// which kind of bytes they are, since they are payload.
    #[error(
        "payload is neither gzip nor JSON (starts with {})",
        describe_prefix(prefix)
    )]
    NotGzip { prefix: Vec<u8> },
    #[error("corrupt or truncated gzip: {0}")]
    Gzip(String),
    #[error("decompressed payload exceeds the {limit} byte cap")]
    TooLarge { limit: usize },
    #[error("decompressed payload is not a CloudWatch Logs document: {0}")]
    InvalidDocument(String),
}

impl DecodeError {
    /// The counter key for this error kind.
    pub fn key(&self) -> &'static str {
        match self {
            DecodeError::Empty => ck::decode::ERROR_EMPTY,
            DecodeError::InvalidEventJson(_) => ck::decode::ERROR_INVALID_EVENT_JSON,
            DecodeError::UnknownShape => ck::decode::ERROR_UNKNOWN_SHAPE,
            DecodeError::NotAString { .. } => ck::decode::ERROR_NOT_A_STRING,
            DecodeError::Base64 { .. } => ck::decode::ERROR_BASE64,
            DecodeError::NotGzip { .. } => ck::decode::ERROR_NOT_GZIP,
            DecodeError::Gzip(_) => ck::decode::ERROR_GZIP,
            DecodeError::TooLarge { .. } => ck::decode::ERROR_TOO_LARGE,
            DecodeError::InvalidDocument(_) => ck::decode::ERROR_INVALID_DOCUMENT,
        }
    }
}

/// Which Lambda event shape the payload was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Subscription,
    Kinesis,
    Firehose,
    Document,
}

/// One independently decodable unit: the subscription payload, or one Kinesis/Firehose record
/// (reported back individually: Kinesis partial batch failures, Firehose per-record results).
#[derive(Debug)]
pub struct Unit {
    /// Kinesis sequence number or Firehose recordId; `None` for subscription events and documents.
    pub record_id: Option<String>,
    /// The DATA_MESSAGE documents in this unit (none for CONTROL_MESSAGE).
    pub result: Result<Vec<Batch>, DecodeError>,
    /// A Kinesis record that failed: its `data` as received (or the whole record when it had no
    /// string `data`), so the edge can keep what a retry could never decode.
    pub rejected: Option<String>,
}

/// The decoded event.
#[derive(Debug)]
pub struct Decoded {
    pub kind: InputKind,
    pub units: Vec<Unit>,
    /// Skipped events and control messages, by reason.
    pub counters: Counters,
}

impl Decoded {
    /// All batches of all units that decoded.
    pub fn batches(&self) -> impl Iterator<Item = &Batch> {
        self.units
            .iter()
            .filter_map(|u| u.result.as_ref().ok())
            .flatten()
    }

    /// The first unit error, if any.
    pub fn first_error(&self) -> Option<&DecodeError> {
        self.units.iter().find_map(|u| u.result.as_ref().err())
    }
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    awslogs: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "Records")]
    kinesis_records: Option<&'a RawValue>,
    #[serde(borrow, default)]
    records: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "logEvents")]
    log_events: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "messageType")]
    message_type: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct AwsLogs<'a> {
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
}

/// One Kinesis or Firehose record, read member by member so that a record of the wrong shape
/// fails alone (reported by its id) instead of failing the whole event.
#[derive(Deserialize)]
struct KinesisRecord<'a> {
    #[serde(borrow, default)]
    kinesis: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct KinesisData<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "sequenceNumber")]
    sequence_number: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct FirehoseRecord<'a> {
    #[serde(borrow, default, rename = "recordId")]
    record_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// A record's identifier: a JSON string, or a number's digits (Kinesis sequence numbers are
/// decimal digits; a producer that wrote one as a number still names the record by them).
fn record_id(raw: Option<&RawValue>) -> Option<String> {
    let text = raw?.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).ok(),
        Some(b'0'..=b'9') => Some(text.to_string()),
        _ => None,
    }
}

/// A record's `data` member as text, or the unit's error.
fn record_data<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Cow<'a, str>, DecodeError> {
    let raw = raw.ok_or(DecodeError::UnknownShape)?;
    serde_json::from_str::<Cow<'a, str>>(raw.get()).map_err(|_| DecodeError::NotAString { field })
}

/// Top-level members of an event beside the one that decides its kind: never read, so counted
/// (`decode.ignored_part.<member>`) rather than dropped silently.
fn count_ignored(probe: &Probe<'_>, kind: InputKind, counters: &mut Counters) {
    let parts = [
        (
            probe.awslogs.is_some(),
            InputKind::Subscription,
            ck::decode::IGNORED_AWSLOGS,
        ),
        (
            probe.kinesis_records.is_some(),
            InputKind::Kinesis,
            ck::decode::IGNORED_KINESIS_RECORDS,
        ),
        (
            probe.records.is_some(),
            InputKind::Firehose,
            ck::decode::IGNORED_FIREHOSE_RECORDS,
        ),
        (
            probe.log_events.is_some() || probe.message_type.is_some(),
            InputKind::Document,
            ck::decode::IGNORED_DOCUMENT,
        ),
    ];
    for (present, owner, counter) in parts {
        if present && owner != kind {
            counters.incr(counter);
        }
    }
}

/// Decodes any supported Lambda event. An `Err` means the event itself is unusable; errors of
/// single Kinesis/Firehose records are reported in their `Unit`.
pub fn decode_input(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    // serde's derived structs also accept arrays (fields by position), so `[1,2,3]` would pass
    // the probe as `awslogs: 1`; every supported event is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(DecodeError::UnknownShape),
            Err(e) => Err(DecodeError::InvalidEventJson(json_error_text(&e))),
        };
    }
    let probe: Probe<'_> = serde_json::from_slice(bytes)
        .map_err(|e| DecodeError::InvalidEventJson(json_error_text(&e)))?;
    let mut counters = Counters::new();
    let (kind, units) = if let Some(raw) = probe.awslogs {
        let aws: AwsLogs<'_> = serde_json::from_str(raw.get())
            .map_err(|_| DecodeError::NotAString { field: "awslogs" })?;
        let data = aws.data.ok_or(DecodeError::UnknownShape)?;
        let result = decode_data("awslogs.data", &data, limits, &mut counters);
        (
            InputKind::Subscription,
            vec![Unit {
                record_id: None,
                result,
                rejected: None,
            }],
        )
    } else if let Some(raw) = probe.kinesis_records {
        let records: Vec<&RawValue> =
            serde_json::from_str(raw.get()).map_err(|_| DecodeError::UnknownShape)?;
        let units = records
            .into_iter()
            .map(|r| {
                let kinesis = serde_json::from_str::<KinesisRecord<'_>>(r.get())
                    .ok()
                    .and_then(|r| r.kinesis)
                    .and_then(|k| serde_json::from_str::<KinesisData<'_>>(k.get()).ok());
                let (data, id) = match kinesis {
                    Some(k) => (k.data, record_id(k.sequence_number)),
                    None => (None, None),
                };
                let field = "Records[].kinesis.data";
                let text = record_data(data, field);
                let result = text
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|d| decode_data(field, d, limits, &mut counters));
                let rejected = result.is_err().then(|| match text {
                    Ok(d) => d.into_owned(),
                    Err(_) => r.get().to_string(),
                });
                Unit {
                    record_id: id,
                    result,
                    rejected,
                }
            })
            .collect();
        (InputKind::Kinesis, units)
    } else if let Some(raw) = probe.records {
        let records: Vec<&RawValue> =
            serde_json::from_str(raw.get()).map_err(|_| DecodeError::UnknownShape)?;
        let units = records
            .into_iter()
            .map(|r| {
                let (data, id) = match serde_json::from_str::<FirehoseRecord<'_>>(r.get()) {
                    Ok(r) => (r.data, record_id(r.record_id)),
                    Err(_) => (None, None),
                };
                let field = "records[].data";
                let result = record_data(data, field)
                    .and_then(|d| decode_data(field, &d, limits, &mut counters));
                // Firehose keeps a failed record itself (`ProcessingFailed` goes to the
                // delivery stream's error output).
                Unit {
                    record_id: id,
                    result,
                    rejected: None,
                }
            })
            .collect();
        (InputKind::Firehose, units)
    } else if probe.log_events.is_some() || probe.message_type.is_some() {
        if bytes.len() > limits.max_decompressed_bytes {
            return Err(DecodeError::TooLarge {
                limit: limits.max_decompressed_bytes,
            });
        }
        let result = decode_documents(bytes, &mut counters);
        (
            InputKind::Document,
            vec![Unit {
                record_id: None,
                result,
                rejected: None,
            }],
        )
    } else {
        return Err(DecodeError::UnknownShape);
    };
    count_ignored(&probe, kind, &mut counters);
    for unit in &units {
        if let Err(e) = &unit.result {
            counters.incr(e.key());
        }
    }
    Ok(Decoded {
        kind,
        units,
        counters,
    })
}

/// base64 → (gzip, possibly multi-member | plain JSON) → documents.
fn decode_data(
    field: &'static str,
    data: &str,
    limits: &DecodeLimits,
    counters: &mut Counters,
) -> Result<Vec<Batch>, DecodeError> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| DecodeError::Base64 {
            field,
            detail: base64_error_text(&e),
        })?;
    let json = gunzip_capped(&compressed, limits.max_decompressed_bytes)?;
    decode_documents(&json, counters)
}

/// Inflates `bytes` if they are gzip (all members: Firehose concatenates records), refusing to
/// produce more than `cap` bytes. Plain JSON passes through (Firehose with its own decompression
/// processor delivers it that way).
pub fn gunzip_capped(bytes: &[u8], cap: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            if bytes.len() > cap {
                return Err(DecodeError::TooLarge { limit: cap });
            }
            return Ok(Cow::Borrowed(bytes));
        }
        return Err(DecodeError::NotGzip {
            prefix: bytes.iter().take(4).copied().collect(),
        });
    }
    // Grown by hand rather than `read_to_end`, which doubles the buffer: at a 16 MiB cap a
    // bomb would make it reserve 64 MiB to hold the one byte that proves the cap is exceeded.
    // Here the buffer never holds more than `cap` bytes, nor reserves more.
    // The trailer's ISIZE (the last member's length mod 2^32) sizes the buffer in one allocation
    // for the usual single-member payload. It is only a claim: one past what log text compresses
    // to (a truncated payload's last bytes, a lie) falls back to the guess grown as needed, so a
    // small payload cannot make the buffer reserve more than a bounded multiple of its size.
    let hint = match bytes.len().checked_sub(4).and_then(|at| bytes.get(at..)) {
        Some(&[a, b, c, d]) if bytes.len() >= GZIP_MIN_LEN => {
            u32::from_le_bytes([a, b, c, d]) as usize
        }
        _ => 0,
    };
    let plausible = hint > 0 && hint <= bytes.len().saturating_mul(MAX_TRUSTED_RATIO);
    let guess = if plausible {
        hint
    } else {
        bytes.len().saturating_mul(8)
    };
    // Inflated straight into the buffer, and read from the payload in place (`bufread`): no
    // copy through a chunk or a `BufReader`, which profiling put at a tenth of decode's time.
    let mut out = vec![0u8; guess.min(cap)];
    let mut filled = 0;
    let mut decoder = flate2::bufread::MultiGzDecoder::new(bytes);
    loop {
        let Some(rest) = out.get_mut(filled..).filter(|r| !r.is_empty()) else {
            // Full (for an honest ISIZE, exactly): one byte more says whether it goes on.
            let mut probe = [0u8; 1];
            if read_some(&mut decoder, &mut probe)? == 0 {
                break;
            }
            if out.len() >= cap {
                return Err(DecodeError::TooLarge { limit: cap });
            }
            out.resize(out.len().max(GUNZIP_CHUNK).saturating_mul(2).min(cap), 0);
            if let Some(b) = out.get_mut(filled) {
                *b = probe[0];
            }
            filled += 1;
            continue;
        };
        match read_some(&mut decoder, rest)? {
            0 => break,
            n => filled += n,
        }
    }
    out.truncate(filled);
    Ok(Cow::Owned(out))
}

/// One `read` of the inflated stream into `buf`, retried when interrupted.
fn read_some(decoder: &mut impl Read, buf: &mut [u8]) -> Result<usize, DecodeError> {
    loop {
        match decoder.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecodeError::Gzip(truncate(e.to_string()))),
            Ok(n) => return Ok(n),
        }
    }
}

/// A gzip member's header (10 bytes) and trailer (CRC32 and ISIZE, 8 bytes): anything shorter
/// has no trailer to read a size from.
const GZIP_MIN_LEN: usize = 18;

/// The largest inflate ratio an ISIZE claim is believed for (JSON logs compress 10-30x; the
/// deflate format allows ~1,000x, which a bomb would claim).
const MAX_TRUSTED_RATIO: usize = 64;

/// The least a full `gunzip_capped` buffer grows to (it doubles past that, up to the cap).
const GUNZIP_CHUNK: usize = 32 * 1024;

/// A CloudWatch Logs document; `E` is how its events are read: all at once (`FastEvents`, the
/// one-pass path) or each kept raw for lenient one-by-one decoding (`Vec<&RawValue>`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document<E> {
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    log_group: Option<String>,
    #[serde(default)]
    log_stream: Option<String>,
    #[serde(default)]
    subscription_filters: Option<Vec<String>>,
    #[serde(default)]
    policy_level: Option<String>,
    #[serde(default = "Option::default")]
    log_events: Option<E>,
}

impl<E> Document<E> {
    /// The batch source and the events, or `None` for a control message (counted).
    fn split(self, counters: &mut Counters) -> Result<Option<(Arc<Source>, E)>, DecodeError> {
        if self.message_type.as_deref() == Some("CONTROL_MESSAGE") {
            counters.incr(ck::decode::CONTROL_MESSAGE);
            return Ok(None);
        }
        let events = self
            .log_events
            .ok_or_else(|| DecodeError::InvalidDocument("missing logEvents".to_string()))?;
        if self.log_group.is_none() {
            counters.incr(ck::decode::MISSING_LOG_GROUP);
        }
        let source = Arc::new(Source {
            owner: self.owner.unwrap_or_default(),
            log_group: self.log_group.unwrap_or_default(),
            log_stream: self.log_stream.unwrap_or_default(),
            subscription_filters: self.subscription_filters.unwrap_or_default(),
            policy_level: self.policy_level,
            tags: Arc::default(),
        });
        Ok(Some((source, events)))
    }
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    timestamp: Option<Value>,
    message: String,
    #[serde(default, rename = "extractedFields")]
    extracted_fields: Option<BTreeMap<String, Value>>,
}

/// The events of a one-pass parse, converted as they are read so no second vector of
/// intermediate events exists at the peak (which matters for dense payloads near the cap).
struct FastEvents {
    events: Vec<LogEvent>,
    bad_timestamps: u64,
}

impl<'de> Deserialize<'de> for FastEvents {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FastEvents;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of log events")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FastEvents, A::Error> {
                let mut out = FastEvents {
                    events: Vec::new(),
                    bad_timestamps: 0,
                };
                while let Some(ObjectOnly(ev)) = seq.next_element::<ObjectOnly<FastEvent>>()? {
                    match ev.timestamp.0 {
                        Some(timestamp) => out.events.push(LogEvent {
                            id: ev.id.0,
                            timestamp,
                            message: ev.message,
                            extracted_fields: ev.extracted_fields.map(stringify_fields),
                        }),
                        None => out.bad_timestamps += 1,
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// `T` read from a JSON object only: serde's derived structs also accept arrays (fields by
/// position), which would turn `["8", 1, "text"]` into an event.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct FastEvent {
    #[serde(default)]
    id: LenientId,
    #[serde(default)]
    timestamp: LenientTimestamp,
    message: String,
    #[serde(default, rename = "extractedFields")]
    extracted_fields: Option<BTreeMap<String, Value>>,
}

/// An event id given as a string (as AWS does) or a number.
#[derive(Default)]
struct LenientId(String);

impl<'de> Deserialize<'de> for LenientId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = LenientId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LenientId, E> {
                Ok(LenientId(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<LenientId, E> {
                Ok(LenientId(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LenientId, E> {
                Ok(LenientId(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<LenientId, E> {
                Ok(LenientId(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<LenientId, E> {
                Ok(LenientId(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<LenientId, E> {
                Ok(LenientId::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Epoch milliseconds as a number or a numeric string; `None` for anything else (the event is
/// then skipped and counted, not the whole document failed).
#[derive(Default)]
struct LenientTimestamp(Option<i64>);

impl<'de> Deserialize<'de> for LenientTimestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(LenientTimestamp(timestamp_of(&v)))
    }
}

fn timestamp_of(v: &Value) -> Option<i64> {
    match v {
        // `as i64` would saturate 1e20 to i64::MAX, a made-up time that then moves every
        // later stage's window; a timestamp outside i64 milliseconds is bad, not clamped.
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| (I64_MS_MIN..I64_MS_END).contains(f))
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Parses one or more CloudWatch Logs documents laid back to back (`}{`), skipping
/// CONTROL_MESSAGEs and counting events that cannot be read. Tries the one-pass parse first;
/// only a payload it rejects pays for the event-by-event path.
fn decode_documents(json: &[u8], counters: &mut Counters) -> Result<Vec<Batch>, DecodeError> {
    // The usual case in one pass: a single document whose events all have the expected types
    // (ids and timestamps still read leniently), read by hand when it has exactly the shape AWS
    // sends, else by serde_json. Anything else takes the slow path.
    let one_pass = envelope::read(json).or_else(|| {
        // Counted: the hand-written reader giving up late costs a second parse, and a rise here
        // means AWS changed the document's shape.
        counters.incr(ck::perf::ENVELOPE_FALLBACK);
        serde_json::from_slice::<ObjectOnly<Document<FastEvents>>>(json)
            .ok()
            .map(|ObjectOnly(doc)| doc)
    });
    if let Some(doc) = one_pass {
        let Some((source, fast)) = doc.split(counters)? else {
            return Ok(Vec::new());
        };
        counters.add(ck::decode::EVENT_SKIPPED_BAD_TIMESTAMP, fast.bad_timestamps);
        return Ok(vec![Batch {
            source,
            events: fast.events,
        }]);
    }
    decode_documents_slow(json, counters)
}

fn decode_documents_slow(json: &[u8], counters: &mut Counters) -> Result<Vec<Batch>, DecodeError> {
    let mut batches = Vec::new();
    let stream = serde_json::Deserializer::from_slice(json).into_iter::<Document<Vec<&RawValue>>>();
    let mut any = false;
    for doc in stream {
        let doc = doc.map_err(|e| DecodeError::InvalidDocument(json_error_text(&e)))?;
        any = true;
        let Some((source, events_raw)) = doc.split(counters)? else {
            continue;
        };
        let mut events = Vec::with_capacity(events_raw.len());
        for raw in events_raw {
            match decode_event(raw) {
                Ok(ev) => events.push(ev),
                Err(reason) => counters.incr(reason),
            }
        }
        batches.push(Batch { source, events });
    }
    if !any {
        return Err(DecodeError::InvalidDocument("no document".to_string()));
    }
    Ok(batches)
}

fn stringify_fields(m: BTreeMap<String, Value>) -> BTreeMap<String, String> {
    m.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

/// One log event, leniently: ids may be strings or numbers, timestamps numbers or numeric
/// strings. Returns the counter key of the reason when the event is skipped.
fn decode_event(raw: &RawValue) -> Result<LogEvent, &'static str> {
    // An array would otherwise be read positionally as [id, timestamp, message, …].
    if !raw.get().starts_with('{') {
        return Err(ck::decode::EVENT_SKIPPED_INVALID);
    }
    let ev: RawEvent =
        serde_json::from_str(raw.get()).map_err(|_| ck::decode::EVENT_SKIPPED_INVALID)?;
    let id = match ev.id {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let timestamp = ev
        .timestamp
        .as_ref()
        .and_then(timestamp_of)
        .ok_or(ck::decode::EVENT_SKIPPED_BAD_TIMESTAMP)?;
    Ok(LogEvent {
        id,
        timestamp,
        message: ev.message,
        extracted_fields: ev.extracted_fields.map(stringify_fields),
    })
}

/// What the first bytes of an unrecognised payload look like, without showing them: enough to
/// tell a wrong encoding (zstd, zlib, double base64, plain text) from noise.
fn describe_prefix(prefix: &[u8]) -> &'static str {
    match prefix {
        [] => "no bytes",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "the zstd magic number",
        [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..] => "a zlib header",
        [b'B', b'Z', b'h', ..] => "the bzip2 magic number",
        [0x1f, ..] => "a truncated gzip magic number",
        p if p
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            "printable text"
        }
        _ => "binary bytes",
    }
}

/// A base64 error without the offending byte (payload) but with its offset.
fn base64_error_text(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(offset, _) => {
            format!("invalid character at offset {offset}")
        }
        base64::DecodeError::InvalidLength(len) => format!("invalid length {len}"),
        base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!("invalid last character at offset {offset}")
        }
        base64::DecodeError::InvalidPadding => "invalid padding".to_string(),
    }
}

/// A serde_json error fit for our logs and Lambda's `errorMessage`: never any payload content.
/// Syntax errors are fixed texts with a position; data errors (`invalid type: string "AKIA…",
/// expected i64`, ``invalid type: integer `4111…` ``, ``unknown field `…` ``) quote the value, so
/// the value is replaced by its type and length (`string of 20 bytes`, `integer`). A message not
/// of a known shape (a custom error) is replaced whole.
pub fn json_error_text(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let full = e.to_string();
    let place = format!(" at line {} column {}", e.line(), e.column());
    let message = if e.line() > 0 {
        full.strip_suffix(place.as_str()).unwrap_or(&full)
    } else {
        full.as_str()
    };
    let what = match e.classify() {
        // Fixed texts of serde_json's own (`expected value`, `EOF while parsing a string`…).
        Category::Syntax | Category::Eof => truncate(message.to_string()),
        Category::Io => "I/O error".to_string(),
        Category::Data => describe_data_error(message),
    };
    if e.line() > 0 {
        format!("{what}{place}")
    } else {
        what
    }
}

/// See [`json_error_text`]: serde's data error messages, with the quoted value replaced.
fn describe_data_error(message: &str) -> String {
    const GENERIC: &str = "a value of the wrong type or shape";
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // The expectation is ours (a type or visitor description) and comes last; the
            // value may itself contain ", expected ".
            let Some(at) = rest.rfind(", expected ") else {
                return GENERIC.to_string();
            };
            let (unexpected, expected) = rest.split_at(at);
            let Some(kind) = describe_unexpected(unexpected) else {
                return GENERIC.to_string();
            };
            return truncate(format!("{prefix}{kind}{expected}"));
        }
    }
    for (prefix, what) in [
        ("unknown field `", "unknown field"),
        ("unknown variant `", "unknown variant"),
    ] {
        if message.starts_with(prefix) {
            return what.to_string();
        }
    }
    // Field names of our own document types, not payload.
    let ours = ["missing field `", "duplicate field `"];
    if ours.iter().any(|p| message.starts_with(p))
        && message.len() <= 64
        && message.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return message.to_string();
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if let Some((n, expected)) = rest.split_once(", expected ") {
            if n.bytes().all(|b| b.is_ascii_digit()) {
                return truncate(format!("invalid length {n}, expected {expected}"));
            }
        }
    }
    GENERIC.to_string()
}

/// serde's `Unexpected` text (`string "…"`, `` integer `…` ``, `map`) as its type, with a
/// string's length instead of its content; `None` when the text is not of a known shape.
fn describe_unexpected(unexpected: &str) -> Option<String> {
    if let Some(quoted) = unexpected.strip_prefix("string ") {
        let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
        return Some(format!("string of {} bytes", debug_unescaped_len(inner)));
    }
    // Scalars serde shows between backticks: the value is dropped, the type kept.
    for kind in ["integer", "floating point", "boolean", "character"] {
        if unexpected
            .strip_prefix(kind)
            .is_some_and(|r| r.starts_with(" `") && r.ends_with('`'))
        {
            return Some(kind.to_string());
        }
    }
    let bare = [
        "null",
        "unit value",
        "Option value",
        "byte array",
        "newtype struct",
        "sequence",
        "map",
        "enum",
        "unit variant",
        "newtype variant",
        "tuple variant",
        "struct variant",
    ];
    bare.contains(&unexpected).then(|| unexpected.to_string())
}

/// The byte length of the string that Rust's `{:?}` rendered as `escaped` (serde writes
/// unexpected strings that way).
fn debug_unescaped_len(escaped: &str) -> usize {
    let mut len = 0;
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            len += c.len_utf8();
            continue;
        }
        match chars.next() {
            Some('u') => {
                // `\u{1f600}`
                let hex: String = chars
                    .by_ref()
                    .skip_while(|&c| c == '{')
                    .take_while(|&c| c != '}')
                    .collect();
                len += u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .map_or(1, char::len_utf8);
            }
            Some(_) | None => len += 1,
        }
    }
    len
}

/// An error text fit for our logs: serde quotes the offending value (`invalid type: string
/// "AKIA…", expected i64`), and a payload's values may be secrets, so quoted spans are elided;
/// then the text is capped.
fn truncate(s: String) -> String {
    const MAX: usize = 200;
    let mut s = if s.contains('"') {
        // Odd parts of the split are inside quotes.
        s.split('"')
            .enumerate()
            .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
            .collect::<Vec<_>>()
            .join("\"")
    } else {
        s
    };
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsieve_testkit::encode::*;

    const DOC: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/echo","logStream":"2019/03/13/[$LATEST]94fa","subscriptionFilters":["f"],"policyLevel":"ACCOUNT_LEVEL_POLICY","newSystemField":{"x":1},"logEvents":[{"id":"34622316099697884706540976068822859012661220141643892546","timestamp":1552518348220,"message":"REPORT RequestId: 6234\tDuration: 46.84 ms\t\n","extractedFields":{"ip":"127.0.0.1","n":5}},{"id":"2","timestamp":"1552518348221","message":"hello","unknown":true}]}"#;
    const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1438485463442,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn only_batch(d: &Decoded) -> &Batch {
        let all: Vec<&Batch> = d.batches().collect();
        assert_eq!(all.len(), 1);
        all[0]
    }

    #[test]
    fn subscription_event_decodes_with_unknown_fields_kept_or_ignored() {
        let ev = subscription_event(DOC);
        let d = decode_input(ev.as_bytes(), &limits()).unwrap();
        assert_eq!(d.kind, InputKind::Subscription);
        let b = only_batch(&d);
        assert_eq!(b.source.log_group, "/aws/lambda/echo");
        assert_eq!(b.source.owner, "123456789012");
        assert_eq!(
            b.source.policy_level.as_deref(),
            Some("ACCOUNT_LEVEL_POLICY")
        );
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[0].timestamp, 1552518348220);
        assert!(b.events[0].message.ends_with("\t\n"));
        let ex = b.events[0].extracted_fields.as_ref().unwrap();
        assert_eq!(ex.get("ip").map(String::as_str), Some("127.0.0.1"));
        assert_eq!(ex.get("n").map(String::as_str), Some("5"));
        assert_eq!(b.events[1].timestamp, 1552518348221);
    }

    #[test]
    fn extra_keys_inside_awslogs_are_ignored() {
        let ev = format!(
            "{{\"awslogs\":{{\"data\":\"{}\",\"future\":1}},\"x\":2}}",
            b64(&gzip(DOC.as_bytes()))
        );
        let d = decode_input(ev.as_bytes(), &limits()).unwrap();
        assert_eq!(only_batch(&d).events.len(), 2);
    }

    #[test]
    fn control_message_is_an_empty_result() {
        let ev = subscription_event(CONTROL);
        let d = decode_input(ev.as_bytes(), &limits()).unwrap();
        assert_eq!(d.batches().count(), 0);
        assert!(d.first_error().is_none());
        assert_eq!(d.counters.get("decode.control_message"), 1);
    }

    #[test]
    fn plain_document_and_concatenated_documents() {
        let d = decode_input(DOC.as_bytes(), &limits()).unwrap();
        assert_eq!(d.kind, InputKind::Document);
        assert_eq!(only_batch(&d).events.len(), 2);

        // Firehose S3 objects: several gzip members, documents back to back.
        let mut two = gzip(DOC.as_bytes());
        two.extend(gzip(DOC.as_bytes()));
        let batches = decode_data("x", &b64(&two), &limits(), &mut Counters::new()).unwrap();
        assert_eq!(batches.len(), 2);
    }

    #[test]
    fn kinesis_event_with_one_bad_record() {
        let good = b64(&gzip(DOC.as_bytes()));
        let ev = format!(
            r#"{{"Records":[{{"kinesis":{{"data":"{good}","sequenceNumber":"1","partitionKey":"p"}},"eventSource":"aws:kinesis"}},{{"kinesis":{{"data":"!!!","sequenceNumber":"2"}}}}]}}"#
        );
        let d = decode_input(ev.as_bytes(), &limits()).unwrap();
        assert_eq!(d.kind, InputKind::Kinesis);
        assert_eq!(d.units.len(), 2);
        assert_eq!(d.units[0].record_id.as_deref(), Some("1"));
        assert!(d.units[0].result.is_ok());
        assert!(matches!(d.units[1].result, Err(DecodeError::Base64 { .. })));
        assert_eq!(d.counters.get("decode.error.base64"), 1);
    }

    #[test]
    fn a_record_of_the_wrong_shape_fails_alone() {
        let good = b64(&gzip(DOC.as_bytes()));
        let kinesis = |bad: &str| {
            format!(
                r#"{{"Records":[{{"kinesis":{{"data":"{good}","sequenceNumber":"1"}}}},{bad},{{"kinesis":{{"data":"{good}","sequenceNumber":"3"}}}}]}}"#
            )
        };
        let firehose = |bad: &str| {
            format!(
                r#"{{"records":[{{"recordId":"r1","data":"{good}"}},{bad},{{"recordId":"r3","data":"{good}"}}]}}"#
            )
        };
        // (event, id of the bad record, its error's counter key)
        let cases = [
            (
                kinesis(r#"{"kinesis":{"data":5,"sequenceNumber":"2"}}"#),
                Some("2"),
                "decode.error.not_a_string",
            ),
            (
                kinesis(r#"{"kinesis":{"data":"!!!","sequenceNumber":2}}"#),
                Some("2"),
                "decode.error.base64",
            ),
            (
                kinesis(r#"{"kinesis":{"data":"x","sequenceNumber":{"n":2}}}"#),
                None,
                "decode.error.base64",
            ),
            (
                kinesis(r#"{"kinesis":"nope"}"#),
                None,
                "decode.error.unknown_shape",
            ),
            (kinesis("7"), None, "decode.error.unknown_shape"),
            (
                firehose(r#"{"recordId":"r2","data":["x"]}"#),
                Some("r2"),
                "decode.error.not_a_string",
            ),
            (
                firehose(r#"{"recordId":"r2"}"#),
                Some("r2"),
                "decode.error.unknown_shape",
            ),
            (
                firehose(r#"{"recordId":false,"data":"!!!"}"#),
                None,
                "decode.error.base64",
            ),
            (firehose("null"), None, "decode.error.unknown_shape"),
        ];
        for (event, bad_id, key) in cases {
            let d = decode_input(event.as_bytes(), &limits()).unwrap_or_else(|e| {
                panic!("the whole event failed ({e}) for {event}");
            });
            assert_eq!(d.units.len(), 3, "{event}");
            assert_eq!(d.units[0].result.as_ref().unwrap().len(), 1, "{event}");
            assert_eq!(d.units[2].result.as_ref().unwrap().len(), 1, "{event}");
            assert!(d.units[1].result.is_err(), "{event}");
            assert_eq!(d.units[1].record_id.as_deref(), bad_id, "{event}");
            assert_eq!(d.counters.get(key), 1, "{event}");
        }
    }

    #[test]
    fn documents_the_envelope_reader_gives_up_on_are_counted() {
        let usual = r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"m"}]}"#;
        let unusual = usual.replacen('{', "{\"future\":[1,2],", 1);
        let cases = [(usual.to_string(), 0), (unusual, 1), (DOC.to_string(), 1)];
        for (doc, fallbacks) in cases {
            let mut counters = Counters::new();
            let batches = decode_documents(doc.as_bytes(), &mut counters).unwrap();
            assert_eq!(batches.len(), 1, "{doc}");
            assert_eq!(
                counters.get(ck::perf::ENVELOPE_FALLBACK),
                fallbacks,
                "{doc}"
            );
        }
    }

    #[test]
    fn members_beside_the_one_that_decides_the_kind_are_counted() {
        let good = b64(&gzip(DOC.as_bytes()));
        let cases = [
            (
                format!(r#"{{"awslogs":{{"data":"{good}"}},"Records":[]}}"#),
                InputKind::Subscription,
                vec![ck::decode::IGNORED_KINESIS_RECORDS],
            ),
            (
                format!(r#"{{"awslogs":{{"data":"{good}"}},"records":[],"logEvents":[]}}"#),
                InputKind::Subscription,
                vec![
                    ck::decode::IGNORED_FIREHOSE_RECORDS,
                    ck::decode::IGNORED_DOCUMENT,
                ],
            ),
            (
                format!(
                    r#"{{"Records":[{{"kinesis":{{"data":"{good}","sequenceNumber":"1"}}}}],"records":[]}}"#
                ),
                InputKind::Kinesis,
                vec![ck::decode::IGNORED_FIREHOSE_RECORDS],
            ),
            (
                format!(r#"{{"awslogs":{{"data":"{good}"}}}}"#),
                InputKind::Subscription,
                vec![],
            ),
        ];
        let all = [
            ck::decode::IGNORED_AWSLOGS,
            ck::decode::IGNORED_KINESIS_RECORDS,
            ck::decode::IGNORED_FIREHOSE_RECORDS,
            ck::decode::IGNORED_DOCUMENT,
        ];
        for (event, kind, ignored) in cases {
            let d = decode_input(event.as_bytes(), &limits()).unwrap();
            assert_eq!(d.kind, kind, "{event}");
            for key in all {
                let expected = u64::from(ignored.contains(&key));
                assert_eq!(d.counters.get(key), expected, "{key} in {event}");
            }
        }
    }

    #[test]
    fn firehose_event() {
        let good = b64(&gzip(DOC.as_bytes()));
        let ctl = b64(&gzip(CONTROL.as_bytes()));
        let ev = format!(
            r#"{{"invocationId":"i","deliveryStreamArn":"arn","region":"us-east-1","records":[{{"recordId":"r1","approximateArrivalTimestamp":1,"data":"{good}"}},{{"recordId":"r2","data":"{ctl}"}}]}}"#
        );
        let d = decode_input(ev.as_bytes(), &limits()).unwrap();
        assert_eq!(d.kind, InputKind::Firehose);
        assert_eq!(d.units[0].record_id.as_deref(), Some("r1"));
        assert_eq!(d.units[0].result.as_ref().unwrap().len(), 1);
        assert_eq!(d.units[1].result.as_ref().unwrap().len(), 0);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let big = "x".repeat(4096);
        let big_doc = format!(
            r#"{{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{{"id":"1","timestamp":1,"message":"{big}"}}]}}"#
        );
        let truncated = {
            let g = gzip(DOC.as_bytes());
            b64(&g[..g.len() / 2])
        };
        let small = DecodeLimits {
            max_decompressed_bytes: 1024,
        };
        let wrap = |data: &str| format!("{{\"awslogs\":{{\"data\":\"{data}\"}}}}");
        let cases: Vec<(String, DecodeLimits, &str)> = vec![
            (wrap("not base64 !!"), limits(), "decode.error.base64"),
            (wrap(&b64(b"plain text")), limits(), "decode.error.not_gzip"),
            (wrap(&truncated), limits(), "decode.error.gzip"),
            (
                wrap(&b64(&gzip(big_doc.as_bytes()))),
                small,
                "decode.error.too_large",
            ),
            (
                wrap(&b64(&gzip(b"{not json"))),
                limits(),
                "decode.error.invalid_document",
            ),
            (
                wrap(&b64(&gzip(
                    br#"{"messageType":"DATA_MESSAGE","logEvents":5}"#,
                ))),
                limits(),
                "decode.error.invalid_document",
            ),
            (
                wrap(&b64(&gzip(b"[1,2]"))),
                limits(),
                "decode.error.invalid_document",
            ),
        ];
        for (ev, lim, key) in cases {
            let d = decode_input(ev.as_bytes(), &lim).unwrap();
            let err = d.first_error().unwrap_or_else(|| panic!("{key}: no error"));
            assert_eq!(err.key(), key, "{err}");
        }
    }

    #[test]
    fn bad_envelopes_are_typed_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "decode.error.empty"),
            (b"  \n", "decode.error.empty"),
            (b"{\"awslogs\":", "decode.error.invalid_event_json"),
            (b"\xff\xfe", "decode.error.invalid_event_json"),
            (b"[]", "decode.error.unknown_shape"),
            // Not read positionally as `awslogs`, `Records`, `records`.
            (b"[1,2,3]", "decode.error.unknown_shape"),
            (b" \"awslogs\"", "decode.error.unknown_shape"),
            (b"[1,", "decode.error.invalid_event_json"),
            (b"{\"hello\":1}", "decode.error.unknown_shape"),
            (b"{\"awslogs\":{\"data\":5}}", "decode.error.not_a_string"),
            (b"{\"awslogs\":{}}", "decode.error.unknown_shape"),
        ];
        for (bytes, key) in cases {
            let e = decode_input(bytes, &limits()).unwrap_err();
            assert_eq!(e.key(), *key, "{e}");
        }
    }

    #[test]
    fn bad_events_are_skipped_and_counted() {
        let doc = r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[
            {"id":"1","timestamp":1,"message":"ok"},
            {"id":"2","timestamp":"soon","message":"bad ts"},
            {"id":"3","timestamp":1,"message":"\ud800 lone"},
            {"id":"4","timestamp":1},
            {"id":5,"timestamp":2.0,"message":"numeric id"},
            {"id":"6","timestamp":1e20,"message":"past i64: not clamped to i64::MAX"},
            {"id":"7","timestamp":-1e19,"message":"before i64"},
            ["8", 1, "an array is not an event"]]}"#;
        let d = decode_input(subscription_event(doc).as_bytes(), &limits()).unwrap();
        let b = only_batch(&d);
        let ids: Vec<&str> = b.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["1", "5"]);
        assert_eq!(d.counters.get("decode.event_skipped.bad_timestamp"), 3);
        assert_eq!(d.counters.get("decode.event_skipped.invalid"), 3);
    }

    #[test]
    fn one_pass_and_slow_path_agree() {
        // No lone surrogate: the one-pass parse handles it, skipping the bad timestamp.
        let doc = r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[
            {"id":"1","timestamp":1,"message":"ok"},
            {"id":"2","timestamp":"soon","message":"bad ts"},
            {"id":3,"timestamp":"7","message":"string ts"}]}"#;
        let mut fast = Counters::new();
        let a = decode_documents(doc.as_bytes(), &mut fast).unwrap();
        let mut slow = Counters::new();
        let b = decode_documents_slow(doc.as_bytes(), &mut slow).unwrap();
        assert_eq!(a, b);
        // The fast path also says the hand-written reader gave up (a string timestamp).
        assert_eq!(fast.get(ck::perf::ENVELOPE_FALLBACK), 1);
        slow.add(ck::perf::ENVELOPE_FALLBACK, 1);
        assert_eq!(fast, slow);
        assert_eq!(a[0].events.len(), 2);
        assert_eq!(a[0].events[1].id, "3");
        assert_eq!(a[0].events[1].timestamp, 7);
        assert_eq!(fast.get("decode.event_skipped.bad_timestamp"), 1);
    }

    #[test]
    fn one_pass_rejects_array_events_like_the_slow_path() {
        let doc = r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[
            {"id":"1","timestamp":1,"message":"ok"},
            ["8", 1, "an array is not an event"]]}"#;
        let mut c = Counters::new();
        let b = decode_documents(doc.as_bytes(), &mut c).unwrap();
        assert_eq!(b[0].events.len(), 1);
        assert_eq!(c.get("decode.event_skipped.invalid"), 1);
    }

    #[test]
    fn error_texts_never_quote_payload_values() {
        let doc =
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":"AKIAIOSFODNN7EXAMPLE"}"#;
        let ev = subscription_event(doc);
        let d = decode_input(ev.as_bytes(), &limits()).unwrap();
        let e = d.first_error().unwrap().to_string();
        assert!(!e.contains("AKIAIOSFODNN7EXAMPLE"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
        assert_eq!(truncate("no quotes here".into()), "no quotes here");
    }

    /// Hostile payloads with secrets in wrong-typed or malformed places: no error text (our log
    /// line, Lambda's `errorMessage`) may contain any of them, and each still says what was wrong.
    #[test]
    fn error_texts_name_types_and_lengths_never_payload() {
        const SECRETS: &[&str] = &[
            "AKIAIOSFODNN7EXAMPLE",
            "4111111111111111",
            "31415926535",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "hunter2",
            "s3cr3t",
        ];
        // The case's field is the only one of its name (a repeated key is another error).
        let doc = |field: &str, value: &str| {
            if field == r#""logEvents""# {
                format!(r#"{{"messageType":"DATA_MESSAGE","logEvents":{value}}}"#)
            } else {
                format!(r#"{{"messageType":"DATA_MESSAGE","logEvents":[],{field}:{value}}}"#)
            }
        };
        let sub = |document: String| subscription_event(&document);
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "escaped quotes around the secret",
                sub(doc(r#""logEvents""#, r#""x\"AKIAIOSFODNN7EXAMPLE\"y""#)),
                "invalid type: string of 24 bytes, expected",
            ),
            (
                "a secret that looks like the message's own end",
                sub(doc(r#""logEvents""#, r#""a\", expected hunter2""#)),
                "invalid type: string of 20 bytes, expected",
            ),
            (
                "an integer",
                sub(doc(r#""logGroup""#, "4111111111111111")),
                "invalid type: integer, expected",
            ),
            (
                "a float",
                sub(doc(r#""owner""#, "31415926535.5")),
                "invalid type: floating point, expected",
            ),
            (
                "a number inside a list",
                sub(doc(r#""subscriptionFilters""#, r#"["ok", 31415926535]"#)),
                "invalid type: integer, expected",
            ),
            (
                "a nested object",
                sub(doc(r#""logStream""#, r#"{"password":"hunter2"}"#)),
                "invalid type: map, expected",
            ),
            (
                "non-ASCII and control characters",
                sub(doc(
                    r#""logEvents""#,
                    r#""é\u0001ghp_16C7e42F292c6912E7710c838347Ae178B4a""#,
                )),
                "invalid type: string of 43 bytes, expected",
            ),
            (
                "a syntax error right after a secret",
                sub(r#"{"logGroup":"s3cr3t" "logEvents":[]}"#.to_string()),
                "expected `,` or `}` at line 1 column",
            ),
            (
                "base64 with a secret",
                r#"{"awslogs":{"data":"hunter2!AKIAIOSFODNN7EXAMPLE"}}"#.to_string(),
                "invalid character at offset 7",
            ),
            (
                "plain text instead of gzip",
                r#"{"awslogs":{"data":"czNjcjN0IGh1bnRlcjI="}}"#.to_string(),
                "starts with printable text",
            ),
        ];
        for (what, event, want) in cases {
            let text = match decode_input(event.as_bytes(), &limits()) {
                Ok(d) => d
                    .first_error()
                    .unwrap_or_else(|| panic!("{what}: no error"))
                    .to_string(),
                Err(e) => e.to_string(),
            };
            for secret in SECRETS {
                assert!(!text.contains(secret), "{what}: {secret} in {text:?}");
            }
            assert!(text.contains(want), "{what}: {text:?} lacks {want:?}");
        }
    }

    #[test]
    fn json_error_text_keeps_position_and_our_words() {
        let e = serde_json::from_str::<i64>(r#""x\"AKIAIOSFODNN7EXAMPLE\"y""#).unwrap_err();
        assert_eq!(
            json_error_text(&e),
            "invalid type: string of 24 bytes, expected i64 at line 1 column 28"
        );
        let e = serde_json::from_str::<String>("123456789").unwrap_err();
        assert_eq!(
            json_error_text(&e),
            "invalid type: integer, expected a string at line 1 column 9"
        );
        let e = serde_json::from_str::<Value>(r#"{"a": "hunter2"#).unwrap_err();
        assert_eq!(
            json_error_text(&e),
            "EOF while parsing a string at line 1 column 14"
        );
        // Messages of no known shape (custom errors) are replaced whole.
        assert_eq!(
            describe_data_error("custom: hunter2"),
            "a value of the wrong type or shape"
        );
        assert_eq!(
            describe_data_error("unknown field `hunter2`, expected `a`"),
            "unknown field"
        );
        assert_eq!(
            describe_data_error("missing field `logEvents`"),
            "missing field `logEvents`"
        );
        assert_eq!(debug_unescaped_len(r"a\u{1f600}\n\\"), 1 + 4 + 1 + 1);
    }

    #[test]
    fn gzip_bomb_is_capped_without_inflating_everything() {
        let zeros = vec![b' '; 8 * 1024 * 1024];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 * 1024);
        let e = gunzip_capped(&bomb, 1024 * 1024).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { limit: 1024 * 1024 });
    }

    /// Sizes around the cap and the buffer's growth steps, one member or several (a member's
    /// ISIZE then covers only itself, so the buffer must grow past the hint).
    #[test]
    fn gunzip_is_exact_at_the_cap_and_across_members() {
        let text = |n: usize| -> Vec<u8> { (0..n).map(|i| b"abcdefgh\n"[i % 9]).collect() };
        let cap = 3 * GUNZIP_CHUNK + 7;
        for len in [
            0,
            1,
            GUNZIP_CHUNK,
            2 * GUNZIP_CHUNK + 1,
            cap - 1,
            cap,
            cap + 1,
        ] {
            let want = text(len);
            for members in [1, 2, 3] {
                let mut payload = Vec::new();
                let part = len.div_ceil(members).max(1);
                for chunk in want.chunks(part) {
                    payload.extend(gzip(chunk));
                }
                if payload.is_empty() {
                    payload = gzip(b"");
                }
                match gunzip_capped(&payload, cap) {
                    Ok(out) => {
                        assert!(len <= cap, "{len} over the cap accepted");
                        assert_eq!(out.as_ref(), want.as_slice(), "{len} in {members}");
                    }
                    Err(e) => {
                        assert!(len > cap, "{len} in {members}: {e:?}");
                        assert_eq!(e, DecodeError::TooLarge { limit: cap });
                    }
                }
            }
        }
    }

    #[test]
    fn the_trailer_sizes_the_buffer_and_a_lying_one_changes_nothing_else() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i} ").into_bytes())
            .collect();
        let honest = gzip(&text);
        let with_isize = |n: u32| {
            let mut g = honest.clone();
            let at = g.len() - 4;
            g[at..].copy_from_slice(&n.to_le_bytes());
            g
        };
        let cap = 4 * 1024 * 1024;
        // (payload, capacity of the result): exact when honest; a lie is bounded by the cap, or
        // grown from as before. flate2 checks ISIZE only after the data, so a lie is also an
        // error there: what matters is that it is an error, not a panic or an oversized buffer.
        let out = gunzip_capped(&honest, cap).unwrap();
        assert_eq!(out.as_ref(), text.as_slice());
        let Cow::Owned(v) = out else {
            panic!("gzip input gives an owned buffer")
        };
        assert_eq!(v.capacity(), text.len());
        for lie in [u32::MAX, 1] {
            match gunzip_capped(&with_isize(lie), cap) {
                Ok(out) => assert_eq!(out.as_ref(), text.as_slice()),
                Err(e) => assert!(matches!(e, DecodeError::Gzip(_)), "{e:?}"),
            }
        }
        // A truncated payload's last bytes read as a size: not believed past a bounded ratio (the
        // allocation budgets of the bad-input suite hold it to a few hundred KB).
        let truncated = &honest[..honest.len() / 2];
        assert!(matches!(
            gunzip_capped(truncated, cap),
            Err(DecodeError::Gzip(_))
        ));
        // A payload shorter than a header and trailer has no size to read.
        assert!(gunzip_capped(&GZIP_MAGIC, cap).is_err());
    }
}
