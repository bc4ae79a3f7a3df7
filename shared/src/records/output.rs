//! One output record as it leaves the pipeline: the selected, redacted fields and metadata as
//! one compact JSON object. Every records sink writes that text as it is (NDJSON for the CLI,
//! Firehose, S3 and the spill bucket) or reads it once into protobuf (OTLP), so a record is
//! serialized once, by the selector, and never held as a map of values.

use serde::Serialize;
use serde_json::{Map, Value};

/// An output record. `json` is a JSON object (no newline); `@timestamp` and `@id` are kept
/// beside it for the sinks that key objects and spill sections by them, and where the selector
/// wrote each member, so the OTLP encoder reads them without parsing the text again.
#[derive(Debug, Clone, Default)]
pub struct OutputRecord {
    json: String,
    timestamp: i64,
    id: Id,
    /// Every member, in order (`None`: not known, the text must be parsed).
    members: Option<Vec<MemberSpan>>,
}

/// Where `@id` is kept: as a span of the JSON text when the selector wrote it there unchanged
/// (an allocation per record saved), else as its own text.
#[derive(Debug, Clone)]
enum Id {
    InJson(u32, u32),
    Own(Box<str>),
}

impl Default for Id {
    fn default() -> Id {
        Id::Own(Box::from(""))
    }
}

impl PartialEq for OutputRecord {
    /// Equal records hold the same text, timestamp, id and member spans, wherever the id is.
    fn eq(&self, other: &OutputRecord) -> bool {
        self.json == other.json
            && self.timestamp == other.timestamp
            && self.id() == other.id()
            && self.members == other.members
    }
}

impl Eq for OutputRecord {}

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

/// How many leading member spans `from_parts` looks through for `@id` (the selector writes it
/// fourth; a record whose id is elsewhere keeps its own copy).
const ID_SPAN_SEARCH: usize = 4;

impl OutputRecord {
    /// Text the selector wrote: a compact JSON object whose `@timestamp` and `@id` are these.
    pub(crate) fn from_parts(
        json: String,
        timestamp: i64,
        id: &str,
        members: Option<Vec<MemberSpan>>,
    ) -> OutputRecord {
        // The selector writes `@id` among the metadata; an id that needed no escape is its
        // value's text there.
        let bytes = |(a, b): (u32, u32)| json.as_bytes().get(a as usize..b as usize);
        let in_json = members.as_deref().and_then(|spans| {
            spans.iter().take(ID_SPAN_SEARCH).find_map(|m| {
                (bytes(m.key) == Some(b"@id") && bytes(m.value) == Some(id.as_bytes()))
                    .then_some(Id::InJson(m.value.0, m.value.1))
            })
        });
        OutputRecord {
            id: in_json.unwrap_or_else(|| Id::Own(id.into())),
            json,
            timestamp,
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
            id: Id::Own(super::record_id(map).into()),
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
        match &self.id {
            Id::InJson(a, b) => self.json.get(*a as usize..*b as usize).unwrap_or_default(),
            Id::Own(id) => id,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn span(json: &str, key: &str, value: &str) -> MemberSpan {
        let k = json.find(&format!("\"{key}\"")).expect("key") + 1;
        let v = json[k..].find(value).expect("value") + k;
        MemberSpan {
            key: (k as u32, (k + key.len()) as u32),
            value: (v as u32, (v + value.len()) as u32),
            kind: SpanKind::Str,
        }
    }

    /// `@id` is read from the text where the selector wrote it unchanged, else kept apart; the
    /// two forms read and compare alike.
    #[test]
    fn the_id_is_read_from_the_text_when_written_there_unchanged() {
        let json = r#"{"@timestamp":1,"@id":"3771","msg":"3772"}"#.to_string();
        let spans = vec![span(&json, "@id", "3771"), span(&json, "msg", "3772")];
        let cases: &[(&str, Option<Vec<MemberSpan>>, bool)] = &[
            ("3771", Some(spans.clone()), true),
            // The text differs from the id (an escape, a redaction): kept apart.
            ("3772", Some(vec![spans[0]]), false),
            // No spans, or none for `@id`: kept apart.
            ("3771", None, false),
            ("3771", Some(vec![spans[1]]), false),
        ];
        for (id, members, in_json) in cases {
            let r = OutputRecord::from_parts(json.clone(), 1, id, members.clone());
            assert_eq!(r.id(), *id);
            assert_eq!(matches!(r.id, Id::InJson(..)), *in_json, "{id} {members:?}");
            let own = OutputRecord {
                id: Id::Own((*id).into()),
                ..r.clone()
            };
            assert_eq!(r, own);
        }
        let other = OutputRecord::from_parts(json.clone(), 1, "9", Some(spans));
        assert_ne!(other, OutputRecord::from_parts(json, 1, "3771", None));
    }
}
