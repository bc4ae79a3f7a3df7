//! The usual CloudWatch Logs document, read in one pass by hand. A profile of the decode put
//! half of it in serde_json turning each message's escapes back into text (~170 instructions
//! per escape, and a JSON log line carries one per quote once it sits in the document).
//!
//! This reader takes the shape AWS sends: the known keys, string ids, integer timestamps and
//! string messages. It answers `None` for anything else (an unknown key, `extractedFields`, a
//! numeric id, a duplicate key, invalid JSON…), and serde_json's derived reader then decides,
//! with its leniency and its error texts. On what it accepts it gives exactly what that reader
//! gives (see the tests), so it changes speed, not outcomes.

use super::{Document, FastEvents, LenientId, LenientTimestamp};
use crate::json::reader::Cursor;
use crate::record::LogEvent;

/// `json` read as one document, or `None` when it is not one in the usual shape.
pub(super) fn read(json: &[u8]) -> Option<Document<FastEvents>> {
    let mut r = Reader {
        c: Cursor::new(json),
        scratch: Vec::new(),
    };
    let mut doc = Document {
        message_type: None,
        owner: None,
        log_group: None,
        log_stream: None,
        subscription_filters: None,
        policy_level: None,
        log_events: None,
    };
    let mut seen = 0u8;
    r.object(|r, key| {
        let bit = match key {
            b"messageType" => 0,
            b"owner" => 1,
            b"logGroup" => 2,
            b"logStream" => 3,
            b"subscriptionFilters" => 4,
            b"policyLevel" => 5,
            b"logEvents" => 6,
            _ => return None,
        };
        // serde's derived reader refuses a duplicate field; let it.
        if seen & (1 << bit) != 0 {
            return None;
        }
        seen |= 1 << bit;
        match bit {
            0 => doc.message_type = r.nullable(Reader::string)?,
            1 => doc.owner = r.nullable(Reader::string)?,
            2 => doc.log_group = r.nullable(Reader::string)?,
            3 => doc.log_stream = r.nullable(Reader::string)?,
            4 => doc.subscription_filters = r.nullable(|r| r.array(Reader::string))?,
            5 => doc.policy_level = r.nullable(Reader::string)?,
            _ => doc.log_events = r.nullable(Reader::events)?,
        }
        Some(())
    })?;
    r.c.at_end().then_some(doc)
}

struct Reader<'a> {
    c: Cursor<'a>,
    /// Where escaped strings are put back together (`Cursor::string`).
    scratch: Vec<u8>,
}

impl<'a> Reader<'a> {
    /// `{ "key": value, … }`, calling `member` with each key once the reader is at its value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.c.skip_ws();
        self.separated(b'{', b'}', |r| {
            let key = r.key()?;
            r.c.colon()?;
            member(r, key)
        })
    }

    /// `[ item, … ]`.
    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        self.separated(b'[', b']', |r| {
            out.push(item(r)?);
            Some(())
        })?;
        Some(out)
    }

    /// `open item, item, … close` (or `open close`), calling `item` at each item.
    fn separated(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if self.c.open(open, close)? {
            return Some(());
        }
        loop {
            item(self)?;
            if !self.c.next_item(close)? {
                return Some(());
            }
        }
    }

    /// `null` as `None`, else `value` (an `Option` field with `#[serde(default)]`).
    fn nullable<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.c.keyword(b"null") {
            return Some(None);
        }
        value(self).map(Some)
    }

    /// A key's text, borrowed from the document; a key with an escape is `None` (every key we
    /// know is plain, so the derived reader decides those).
    fn key(&mut self) -> Option<&'a [u8]> {
        let (start, end) = self.c.plain_string()?;
        self.c.bytes.get(start..end)
    }

    fn string(&mut self) -> Option<String> {
        self.c.string(&mut self.scratch)
    }

    /// `logEvents`: converted as they are read, like the derived reader's `FastEvents`.
    fn events(&mut self) -> Option<FastEvents> {
        let mut out = FastEvents {
            events: Vec::new(),
            bad_timestamps: 0,
        };
        self.separated(b'[', b']', |r| {
            let (id, timestamp, message) = r.event()?;
            match timestamp.0 {
                Some(timestamp) => out.events.push(LogEvent {
                    id: id.0,
                    timestamp,
                    message,
                    extracted_fields: None,
                }),
                None => out.bad_timestamps += 1,
            }
            Some(())
        })?;
        Some(out)
    }

    /// One event object: `id` and `timestamp` may be missing (as the derived reader's defaults
    /// allow), `message` may not.
    fn event(&mut self) -> Option<(LenientId, LenientTimestamp, String)> {
        let (mut id, mut timestamp, mut message) = (None, None, None);
        self.object(|r, key| match key {
            b"id" if id.is_none() => {
                id = Some(LenientId(r.string()?));
                Some(())
            }
            b"timestamp" if timestamp.is_none() => {
                timestamp = Some(LenientTimestamp(Some(r.c.int()?)));
                Some(())
            }
            b"message" if message.is_none() => {
                message = Some(r.string()?);
                Some(())
            }
            _ => None,
        })?;
        Some((
            id.unwrap_or_default(),
            timestamp.unwrap_or_default(),
            message?,
        ))
    }
}

/// A document's contents in a comparable form (the derived reader's types have no `PartialEq`).
type Summary = (
    [Option<String>; 5],
    Option<Vec<String>>,
    Option<(Vec<(String, i64, String)>, u64)>,
);

fn summary(d: Document<FastEvents>) -> Summary {
    (
        [
            d.message_type,
            d.owner,
            d.log_group,
            d.log_stream,
            d.policy_level,
        ],
        d.subscription_filters,
        d.log_events.map(|e| {
            let evs = e
                .events
                .into_iter()
                .map(|e| {
                    assert!(e.extracted_fields.is_none());
                    (e.id, e.timestamp, e.message)
                })
                .collect();
            (evs, e.bad_timestamps)
        }),
    )
}

/// For the fuzzer: whether `read` agrees with serde_json's derived reader on `json`, that is
/// it answers nothing or exactly what that reader answers.
pub fn agrees_with_serde(json: &[u8]) -> bool {
    match read(json) {
        None => true,
        Some(ours) => {
            let theirs = serde_json::from_slice::<super::ObjectOnly<Document<FastEvents>>>(json)
                .ok()
                .map(|d| summary(d.0));
            theirs == Some(summary(ours))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ObjectOnly;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn serde(text: &str) -> Option<Summary> {
        serde_json::from_str::<ObjectOnly<Document<FastEvents>>>(text)
            .ok()
            .map(|d| summary(d.0))
    }

    fn ours(text: &str) -> Option<Summary> {
        read(text.as_bytes()).map(summary)
    }

    /// The contract: whatever we answer, serde_json's derived reader answers the same.
    fn agrees(text: &str) {
        if let Some(fast) = ours(text) {
            assert_eq!(Some(fast), serde(text), "{text:?}");
        }
    }

    #[test]
    fn table() {
        let aws = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/echo","logStream":"2019/03/13/[$LATEST]94fa","subscriptionFilters":["f"],"policyLevel":"ACCOUNT_LEVEL_POLICY","logEvents":[{"id":"3462","timestamp":1552518348220,"message":"REPORT RequestId: 6234\tDuration: 46.84 ms\t\n"},{"id":"2","timestamp":-5,"message":"{\"level\":\"INFO\",\"msg\":\"caf\u00e9 \ud83d\ude00\"}"}]}"#;
        // (document, whether we read it ourselves)
        let cases: &[(&str, bool)] = &[
            (aws, true),
            (" {\n \"logEvents\" : [ ] , \"owner\" : null }\n", true),
            (
                r#"{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}"#,
                true,
            ),
            (r#"{"logEvents":[{"message":"no id, no timestamp"}]}"#, true),
            (r#"{"logEvents":null}"#, true),
            (r#"{}"#, true),
            // Left to serde_json: unknown keys, other types, extracted fields, duplicates.
            (r#"{"newSystemField":{"x":1},"logEvents":[]}"#, false),
            (
                r#"{"logEvents":[{"id":5,"timestamp":1,"message":"numeric id"}]}"#,
                false,
            ),
            (
                r#"{"logEvents":[{"id":"1","timestamp":"7","message":"string ts"}]}"#,
                false,
            ),
            (
                r#"{"logEvents":[{"id":"1","timestamp":1.5,"message":"float ts"}]}"#,
                false,
            ),
            (
                r#"{"logEvents":[{"id":"1","timestamp":1e3,"message":"exp ts"}]}"#,
                false,
            ),
            (
                r#"{"logEvents":[{"id":"1","timestamp":1,"message":"x","extractedFields":{"a":"b"}}]}"#,
                false,
            ),
            (
                r#"{"logEvents":[{"id":"1","id":"2","timestamp":1,"message":"x"}]}"#,
                false,
            ),
            (r#"{"owner":"a","owner":"b","logEvents":[]}"#, false),
            (r#"{"logEvents":[{"id":"1","timestamp":1}]}"#, false),
            (r#"{"logEvents":[["1",1,"array event"]]}"#, false),
            // Not a (single, valid) document at all.
            (
                r#"{"logEvents":[{"id":"1","timestamp":1,"message":"\ud800 lone"}]}"#,
                false,
            ),
            (
                r#"{"logEvents":[{"id":"1","timestamp":01,"message":"x"}]}"#,
                false,
            ),
            (
                r#"{"logEvents":[{"id":"1","timestamp":1,"message":"tab	raw"}]}"#,
                false,
            ),
            (r#"{"logEvents":[]}{"logEvents":[]}"#, false),
            (r#"{"logEvents":[],}"#, false),
            (
                r#"{"logEvents":[{"id":"1","timestamp":1,"message":"x"}"#,
                false,
            ),
            ("", false),
        ];
        for (doc, fast) in cases {
            assert_eq!(ours(doc).is_some(), *fast, "{doc}");
            agrees(doc);
        }
        let (_, _, events) = ours(aws).unwrap();
        let (events, bad) = events.unwrap();
        assert_eq!(bad, 0);
        assert_eq!(events[1].2, "{\"level\":\"INFO\",\"msg\":\"café 😀\"}");
        assert_eq!(events[1].1, -5);
        let (_, _, events) = ours(cases[3].0).unwrap();
        assert_eq!(
            events,
            Some((Vec::new(), 1)),
            "a missing timestamp is counted"
        );
        assert!(read(b"{\"owner\":\"\xff\"}").is_none(), "invalid UTF-8");
    }

    /// Every kind of escape in a message, valid or not: read as serde_json reads it, and
    /// refused (left to serde_json) exactly when serde_json refuses it.
    #[test]
    fn escapes() {
        let tokens = [
            r#""""#,
            r#""{\"level\":\"INFO\"}""#,
            r#""a\\b\/c\b\f\n\r\t""#,
            r#""\u00e9t\u00E9 \u20ac \u0000 \u001f""#,
            r#""\ud83d\ude00!""#,
            r#""été ok \"x\" ünïcödé 😀""#,
            r#""\ud800 lone""#,
            r#""\udc00 trailing""#,
            r#""\ud800\u0041""#,
            r#""\ud800\n""#,
            r#""\ud800""#,
            r#""\u12G4""#,
            r#""\u12""#,
            r#""\x""#,
            r#""\""#,
            r#""ends in a backslash\"#,
            "\"raw\u{7f} del and \u{1} control\"",
            "\"a long plain run then a tab at its end, past a word\t\"",
        ];
        for token in tokens {
            let doc = format!(r#"{{"logEvents":[{{"id":"1","timestamp":1,"message":{token}}}]}}"#);
            let serde_ok = serde(&doc).is_some();
            assert_eq!(ours(&doc).is_some(), serde_ok, "{doc}");
            agrees(&doc);
        }
    }

    fn message() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,40}",
            "[\"\\\\/\\x00-\\x1f\u{80}-\u{10ffff}a-z{}:,]{0,40}",
            // A JSON log line, the common case: one escape per quote.
            ("[a-z]{1,8}", "[ -~]{0,20}").prop_map(|(k, v)| json!({ k: v, "n": 1 }).to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Documents as AWS writes them (compact or pretty, any key order): we read every one,
        /// exactly as serde_json does.
        #[test]
        fn aws_shaped_documents_read_as_serde_reads_them(
            events in prop::collection::vec(
                ("[0-9]{0,56}", any::<i64>(), message()),
                0..6,
            ),
            group in "\\PC{0,20}",
            pretty in any::<bool>(),
            reverse in any::<bool>(),
        ) {
            let evs: Vec<_> = events
                .iter()
                .map(|(id, ts, m)| json!({"id": id, "timestamp": ts, "message": m}))
                .collect();
            let mut members = [
                ("messageType", json!("DATA_MESSAGE")),
                ("owner", json!("123456789012")),
                ("logGroup", json!(group)),
                ("logStream", json!("s")),
                ("subscriptionFilters", json!(["a", "b\"c"])),
                ("logEvents", json!(evs)),
            ];
            if reverse {
                members.reverse();
            }
            // Written member by member so the key order is ours, not the map's.
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| {
                    let v = if pretty { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() };
                    format!("{}:{v}", json!(k))
                })
                .collect();
            let sep = if pretty { ",\n  " } else { "," };
            let text = format!("{{{}}}", body.join(sep));
            let fast = ours(&text);
            prop_assert!(fast.is_some(), "refused {}", text);
            prop_assert_eq!(fast, serde(&text));
        }

        /// Cut or hit by one stray byte anywhere, a document never reads differently.
        #[test]
        fn mangled_documents_never_disagree_with_serde(
            events in prop::collection::vec(("[0-9]{1,4}", -5i64..5, message()), 1..4),
            cut in any::<prop::sample::Index>(),
            insert in any::<prop::sample::Index>(),
            byte in prop::sample::select(vec!['"', '\\', '{', '}', '[', ']', ',', ':', '0', '-', '.', 'e', 'u', ' ', '\u{1}', 'n']),
        ) {
            let evs: Vec<_> = events
                .iter()
                .map(|(id, ts, m)| json!({"id": id, "timestamp": ts, "message": m}))
                .collect();
            let text = json!({"logGroup": "g", "logEvents": evs}).to_string();
            let chars: Vec<char> = text.chars().collect();
            agrees(&chars[..cut.index(chars.len() + 1)].iter().collect::<String>());
            let mut inserted = chars.clone();
            inserted.insert(insert.index(chars.len() + 1), byte);
            agrees(&inserted.into_iter().collect::<String>());
        }
    }
}
