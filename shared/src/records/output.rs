//! One output record as it leaves the pipeline: the selected, redacted fields and metadata as
//! one compact JSON object. Every records sink writes that text as it is (NDJSON for the CLI,
//! Firehose, S3 and the spill bucket) or reads it once into protobuf (OTLP), so a record is
//! serialized once, by the selector, and never held as a map of values.

use serde::Serialize;
use serde_json::{Map, Value};

/// An output record. `json` is a JSON object (no newline); `@timestamp` and `@id` are kept
/// beside it for the sinks that key objects and spill sections by them, and where the selector
/// wrote each member, so the OTLP encoder reads them without parsing the text again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputRecord {
    json: String,
    timestamp: i64,
    id: Box<str>,
    /// Every member, in order (`None`: not known, the text must be parsed).
    members: Option<Vec<MemberSpan>>,
}

/// Where one member of a record's JSON text is (byte offsets into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberSpan {
    /// The key's text between its quotes, which needs no unescaping.
    pub key: (u32, u32),
    pub value: (u32, u32),
    pub kind: SpanKind,
}

/// What a [`MemberSpan`]'s value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A string: `value` is its text between the quotes, which needs no unescaping.
    Str,
    /// An integer that fits `i64`: `value` is its text (digits, and a sign when negative).
    Int,
    /// A decimal number whose text is what serde_json prints for its `f64`
    /// (`json::object::canonical_decimal`).
    Decimal,
    /// Any other JSON value: `value` is its whole text.
    Json,
}

impl OutputRecord {
    /// Text the selector wrote: a compact JSON object whose `@timestamp` and `@id` are these.
    pub(crate) fn from_parts(
        json: String,
        timestamp: i64,
        id: &str,
        members: Option<Vec<MemberSpan>>,
    ) -> OutputRecord {
        OutputRecord {
            json,
            timestamp,
            id: id.into(),
            members,
        }
    }

    /// Where each member is in `json()`, when the writer recorded it.
    pub fn members(&self) -> Option<&[MemberSpan]> {
        self.members.as_deref()
    }

    /// Any JSON object as an output record (`@timestamp` and `@id` read from it).
    pub fn from_map(map: &Map<String, Value>) -> OutputRecord {
        // A map of JSON values always serializes.
        let json = serde_json::to_string(map).unwrap_or_else(|_| "{}".into());
        OutputRecord {
            json,
            timestamp: super::record_timestamp(map),
            id: super::record_id(map).into(),
            members: None,
        }
    }

    /// The record's JSON object text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// `@timestamp`, epoch milliseconds.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// `@id`, the CloudWatch Logs event id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Bytes of the JSON text.
    pub fn len(&self) -> usize {
        self.json.len()
    }

    pub fn is_empty(&self) -> bool {
        self.json.is_empty()
    }

    /// The record parsed (for tests and tools; the sinks never need it).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }

    /// One member's value, parsed (for tests and tools).
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().remove(key)
    }

    /// The record as an NDJSON line: its text and a newline.
    pub fn line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json.len() + 1);
        out.extend_from_slice(self.json.as_bytes());
        out.push(b'\n');
        out
    }
}

impl Serialize for OutputRecord {
    /// As the JSON object it is (not as a string holding it).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&serde_json::value::RawValue>(&self.json) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_str(&self.json),
        }
    }
}
