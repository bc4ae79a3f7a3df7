//! The records writer (`Selector::select_output`, which copies plain values from the message
//! and plans each key once) against the map-based selection it replaces
//! (`Selector::select_output_slow`, `select_linked` on the eagerly parsed record): for arbitrary
//! records, configs and extras, the same record (as parsed JSON) and the same counters, and the
//! member spans the writer notes point at exactly those members. Redaction is the part this
//! guards: secrets are planted among the generated values and keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use proptest::prelude::*;
use prost::Message;
use serde_json::{Map, Value};

use logsieve::config::CheckedConfig;
use logsieve::parse::{parse_event, parse_event_lazy};
use logsieve::record::{LogEvent, Source};
use logsieve::records::{
    otlp, BatchSpan, MemberSpan, OtlpTarget, OutputRecord, ResourceSettings, SpanKind,
};
use logsieve::redact::RedactMemo;
use logsieve::select::{RecordExtras, SelectMemo};
use logsieve::stats::Counters;
use logsieve::trace::id::parse_traceparent;

const KEYS: &[&str] = &[
    "message",
    "msg",
    "level",
    "user",
    "password",
    "api_key",
    "tokens",
    "pwd",
    "status",
    "latency_ms",
    "duration_ms",
    "@timestamp",
    "@level",
    "@sampleRate",
    "headers",
    "card",
    "alice@example.com",
    "note",
    "x",
];

const STRINGS: &[&str] = &[
    "ok",
    "GET /orders -> 200",
    "AKIAIOSFODNN7EXAMPLE",
    "contact alice@example.com today",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "card 4111 1111 1111 1111",
    "/var/task",
    "12",
    "line\nbreak \"quoted\" \\ tab\t",
    "héllo wörld ✓",
    "[REDACTED:sensitive_key]",
    "",
    "a much longer value that goes past a small max_value_bytes cap for sure, twice over",
];

fn scalar() -> impl Strategy<Value = Value> {
    // The secret-laden strings weigh most: a plain one in a kept member is what a writer
    // shortcut that skipped redaction would leak, and at equal weights 400 cases missed one.
    prop_oneof![
        6 => proptest::sample::select(STRINGS).prop_map(Value::from),
        1 => "[a-z0-9 @.\"\\\\\n]{0,24}".prop_map(Value::from),
        1 => (0u64..100_000).prop_map(Value::from),
        1 => Just(Value::from(4_111_111_111_111_111_u64)),
        1 => Just(Value::from(1_700_000_000_000_u64)),
        // Past `i64`: OTLP has no unsigned integer, so a double.
        1 => Just(Value::from(u64::MAX)),
        1 => (-1000i64..0).prop_map(Value::from),
        1 => Just(serde_json::json!(1.5)),
        1 => Just(serde_json::json!(12.0)),
        // Latencies: decimals of every size the writer copies as they are, and some it does not.
        1 => (-1_000_000i64..1_000_000, 0i32..7)
            .prop_map(|(n, s)| serde_json::json!(n as f64 / 10f64.powi(s))),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..4).prop_map(
                |members| {
                    Value::Object(
                        members
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect(),
                    )
                }
            ),
        ]
    })
}

fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        // JSON objects, the common case (and what the lazy index takes).
        4 => proptest::collection::vec((proptest::sample::select(KEYS), value()), 0..10).prop_map(
            |members| {
                let mut seen = std::collections::BTreeSet::new();
                let mut text = String::from("{");
                for (k, v) in members {
                    if !seen.insert(k) {
                        continue;
                    }
                    if text.len() > 1 {
                        text.push(',');
                    }
                    text.push_str(&serde_json::to_string(k).unwrap());
                    text.push(':');
                    text.push_str(&serde_json::to_string(&v).unwrap());
                }
                text.push('}');
                text
            }
        ),
        // Other formats: logfmt, plain text with secrets, Lambda lines.
        1 => proptest::sample::select(vec![
            "level=info user=alice@example.com password=hunter2 status=200".to_string(),
            "plain text with AKIAIOSFODNN7EXAMPLE inside".to_string(),
            "2024-01-01T00:00:00.000Z\tabc-123\tERROR\tboom alice@example.com".to_string(),
            "START RequestId: 8f5c Version: $LATEST".to_string(),
            r#"{"a":1,"a":2}"#.to_string(),
            // Decimals as a logger may write them, not as serde_json would.
            r#"{"latency_ms":119.50,"n":1.5e3,"x":-0.0,"y":0.0001,"z":119.5,"password":2.5}"#.to_string(),
            r#"{"k\u0065y":"escaped key","password":"x"}"#.to_string(),
        ]),
    ]
}

fn config() -> impl Strategy<Value = String> {
    let keep = proptest::sample::subsequence(
        vec![
            "\"message\"",
            "\"level\"",
            "\"user.id\"",
            "\"user\"",
            "\"duration_ms\"",
            "\"password\"",
            "\"note\"",
            "\"@timestamp\"",
        ],
        0..4,
    );
    let drop = proptest::sample::subsequence(
        vec!["\"user.id\"", "\"msg\"", "\"x\"", "\"headers\"", "\"team\""],
        0..3,
    );
    let rename = proptest::sample::subsequence(
        vec![
            "latency_ms = \"duration_ms\"",
            "msg = \"message\"",
            "x = \"password\"",
            "note = \"note2\"",
        ],
        0..3,
    );
    // Tags as fields: one named like a logged key (`user`), one whose tag may be missing
    // (`status`), a sensitive tag key, and a name that holds a secret.
    let add = proptest::sample::subsequence(
        vec![
            "team = \"$tags.team\"",
            "user = \"$tags.owner\"",
            "status = \"$tags.region\"",
            "secret = \"$tags.api_key\"",
            "\"bob@example.com\" = \"$tags.team\"",
        ],
        0..4,
    );
    let value_cap = proptest::option::of(prop_oneof![Just(8usize), Just(40)]);
    let record_cap = proptest::option::of(prop_oneof![Just(220usize), Just(600)]);
    (keep, drop, rename, add, value_cap, record_cap).prop_map(
        |(keep, drop, rename, add, vc, rc)| {
            let mut text = format!(
                "[fields]\nkeep = [{}]\ndrop = [{}]\nrename = {{ {} }}\nadd = {{ {} }}\n",
                keep.join(", "),
                drop.join(", "),
                rename.join(", "),
                add.join(", ")
            );
            if let Some(c) = vc {
                text.push_str(&format!("max_value_bytes = {c}\n"));
            }
            if let Some(c) = rc {
                text.push_str(&format!("max_record_bytes = {c}\n"));
            }
            text
        },
    )
}

/// Tags of the resources behind the log group, values drawn from the secret-laden strings.
fn tags() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(
        proptest::sample::select(vec!["team", "owner", "region", "api_key"]).prop_map(String::from),
        proptest::sample::select(STRINGS).prop_map(String::from),
        0..4,
    )
}

fn source(secret_name: bool, tags: BTreeMap<String, String>) -> Arc<Source> {
    Arc::new(Source {
        tags: Arc::new(tags),
        owner: "123456789012".into(),
        log_group: if secret_name {
            "/aws/lambda/alice@example.com".into()
        } else {
            "/aws/lambda/orders".into()
        },
        log_stream: "2026/11/30/[$LATEST]abc\"def".into(),
        ..Source::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn writer_gives_the_map_path_record_and_counters(
        msg in message(),
        cfg in config(),
        traced in any::<bool>(),
        rate in proptest::option::of(1u64..10),
        secret_name in any::<bool>(),
        tags in tags(),
    ) {
        let config = CheckedConfig::from_toml(&cfg).unwrap();
        let selector = &config.fields;
        let src = source(secret_name, tags);
        let event = LogEvent {
            id: "37516444617598064708222633732146973250".into(),
            timestamp: 1_764_460_800_123,
            message: msg.clone(),
            extracted_fields: None,
        };
        let lazy = parse_event_lazy(&src, event.clone());
        let eager = parse_event(&src, event);
        let trace = parse_traceparent("00-6553f100beeb8da1658eec67f893a2ee-71c18690ee42c90b-01");
        let names = secret_name.then_some(("/aws/lambda/[REDACTED:email]", "2026/11/30/[$LATEST]abc\"def"));
        let extras = RecordExtras {
            trace: if traced { trace.as_ref() } else { None },
            sample_rate: rate,
            names,
            joined: None,
        };
        // Twice through one memo: the second answers come from the remembered key plans.
        let mut memo = SelectMemo::new();
        for round in 0..2 {
            let mut fast_counters = Counters::new();
            let fast = selector.select_output(&lazy, extras, &mut memo, &mut fast_counters);
            let mut slow_counters = Counters::new();
            let slow = selector.select_output_slow(&eager, extras, &mut RedactMemo::new(), &mut slow_counters);
            let fast_map: Map<String, Value> = serde_json::from_str(fast.json()).unwrap();
            prop_assert_eq!(&fast_map, &slow.to_map(), "round {}: {} / {}", round, msg, cfg);
            prop_assert_eq!(&fast_counters, &slow_counters, "round {}: {} / {}", round, msg, cfg);
            prop_assert_eq!(fast.timestamp(), slow.timestamp());
            prop_assert_eq!(fast.id(), slow.id());
            // The OTLP encoder reads the writer's spans; the map path's record it indexes.
            prop_assert_eq!(otlp_record(&fast), otlp_record(&slow), "round {}: {} / {}", round, msg, cfg);
            if let Some(members) = fast.members() {
                let text = fast.json();
                prop_assert_eq!(members.len(), fast_map.len());
                for m in members {
                    let key = &text[m.key.0 as usize..m.key.1 as usize];
                    let raw = &text[m.value.0 as usize..m.value.1 as usize];
                    let want = &fast_map[key];
                    let got = match m.kind {
                        SpanKind::Str => Value::from(raw),
                        SpanKind::Int => Value::from(raw.parse::<i64>().unwrap()),
                        SpanKind::Decimal => {
                            let v: Value = serde_json::from_str(raw).unwrap();
                            prop_assert!(v.is_f64(), "{}", raw);
                            v
                        }
                        SpanKind::Json => serde_json::from_str(raw).unwrap(),
                    };
                    prop_assert_eq!(&got, want, "member {}", key);
                }
            }
        }
    }
}

/// `record` encoded alone as an OTLP LogRecord, its attributes in key order (the writer keeps
/// the message's order, the map path's text is sorted).
fn otlp_record(record: &OutputRecord) -> LogRecord {
    let span = BatchSpan {
        log_group: "/aws/lambda/f".into(),
        start: 0,
        end: 1,
        ..BatchSpan::default()
    };
    let target = OtlpTarget {
        url: "http://127.0.0.1:4318/v1/logs".into(),
        headers: Vec::new(),
        headers_secret: None,
        resource: ResourceSettings::default(),
        max_request_bytes: 1 << 20,
        gzip: false,
    };
    let requests = otlp::encode(std::slice::from_ref(record), &[&span], &target, 7);
    let [request] = &requests[..] else {
        panic!("one request: {requests:?}")
    };
    let decoded = ExportLogsServiceRequest::decode(request.body.as_slice()).unwrap();
    let mut log = decoded.resource_logs[0].scope_logs[0].log_records[0].clone();
    log.attributes.sort_by(|a, b| a.key.cmp(&b.key));
    log
}

/// The writer really writes the common records (the property above would also hold if every
/// record went the map's way), and hands the ones it cannot write alike to the map.
#[test]
fn common_records_take_the_writer_and_odd_ones_the_map() {
    let config = CheckedConfig::default_config().unwrap();
    let src = source(false, BTreeMap::new());
    let select = |message: &str| {
        let event = LogEvent {
            id: "1".into(),
            timestamp: 1,
            message: message.into(),
            extracted_fields: None,
        };
        let record = parse_event_lazy(&src, event);
        config.fields.select_output(
            &record,
            RecordExtras::default(),
            &mut SelectMemo::new(),
            &mut Counters::new(),
        )
    };
    let plain = select(r#"{"level":"INFO","message":"GET /a","status":200,"user":{"id":3}}"#);
    assert!(plain.members().is_some(), "written by the writer");
    assert!(plain.json().contains(r#""message":"GET /a""#));
    // A key holding a secret is rewritten by the map path's key redaction.
    let odd = select(r#"{"alice@example.com":3}"#);
    assert!(odd.members().is_none(), "selected through the map");
    assert!(!odd.json().contains("alice@example.com"), "{}", odd.json());
}

/// `message` selected under the `[fields]` settings `fields` by the writer and by the map path:
/// the same record and counters, and written by the writer (not handed to the map). Returns
/// the writer's record.
fn writer_agrees_with_map_path(message: &str, fields: &str) -> OutputRecord {
    let config = CheckedConfig::from_toml(&format!("[fields]\n{fields}\n")).unwrap();
    let fast = writer_matches_map_path(
        &config,
        message,
        RecordExtras::default(),
        &mut SelectMemo::new(),
    );
    assert!(
        fast.members().is_some(),
        "not by the writer: {message} / {fields}"
    );
    fast
}

/// `message` selected by `config` through the writer (with `memo`) and through the map path:
/// the same record, id and counters. Returns the writer's record.
fn writer_matches_map_path(
    config: &CheckedConfig,
    message: &str,
    extras: RecordExtras<'_>,
    memo: &mut SelectMemo,
) -> OutputRecord {
    let src = source(false, BTreeMap::new());
    let event = LogEvent {
        id: "1".into(),
        timestamp: 1,
        message: message.into(),
        extracted_fields: None,
    };
    let lazy = parse_event_lazy(&src, event.clone());
    let eager = parse_event(&src, event);
    let mut fast_counters = Counters::new();
    let fast = config
        .fields
        .select_output(&lazy, extras, memo, &mut fast_counters);
    let mut slow_counters = Counters::new();
    let slow = config.fields.select_output_slow(
        &eager,
        extras,
        &mut RedactMemo::new(),
        &mut slow_counters,
    );
    let fast_map: Map<String, Value> = serde_json::from_str(fast.json()).unwrap();
    assert_eq!(fast_map, slow.to_map(), "{message}");
    assert_eq!(fast_counters, slow_counters, "{message}");
    assert_eq!(fast.id(), slow.id(), "{message}");
    fast
}

/// The key and value a writer's member span points at in the record's text.
fn span_member<'t>(text: &'t str, m: &MemberSpan) -> (&'t str, Value) {
    let key = &text[m.key.0 as usize..m.key.1 as usize];
    let raw = &text[m.value.0 as usize..m.value.1 as usize];
    let value = match m.kind {
        SpanKind::Str => Value::from(raw),
        _ => serde_json::from_str(raw).unwrap(),
    };
    (key, value)
}

/// Nested objects of scalars, which the writer writes itself (no copy and walk): each row the
/// same record and counters as the map path.
#[test]
fn nested_objects_of_scalars_match_the_map_path() {
    // (message, [fields] settings)
    let rows: &[(&str, &str)] = &[
        (r#"{"user":{"email":"alice@example.com","id":7862}}"#, ""),
        (
            r#"{"error":{"type":"UpstreamTimeout","detail":"payments did not answer"}}"#,
            "",
        ),
        // A member's own key is sensitive; then the whole object's key is.
        (r#"{"user":{"password":"hunter2","id":1}}"#, ""),
        (
            r#"{"password":{"hint":"blue","id":1,"ok":true,"n":null}}"#,
            "",
        ),
        // Cut to the value cap, after redaction.
        (
            r#"{"error":{"detail":"a much longer value than eight bytes","type":"X"}}"#,
            "max_value_bytes = 8",
        ),
        (
            r#"{"user":{"email":"alice@example.com"}}"#,
            "max_value_bytes = 8",
        ),
        // Escapes in keys and values.
        (
            r#"{"error":{"de\"tail":"line\nbreak \u00e9","t\\ype":"\u0001"}}"#,
            "",
        ),
        // A number the walk would replace (a card, or under a sensitive key); a key it would
        // rewrite; an array inside: the walk decides those.
        (r#"{"user":{"card":4111111111111111}}"#, ""),
        (r#"{"user":{"pwd":12}}"#, ""),
        (r#"{"user":{"alice@example.com":1}}"#, ""),
        (r#"{"user":{"tags":["a","alice@example.com"]}}"#, ""),
        (r#"{"user":{"id":{"n":1}}}"#, ""),
    ];
    for &(message, fields) in rows {
        let text = writer_agrees_with_map_path(message, fields)
            .json()
            .to_string();
        assert!(!text.contains("alice@example.com"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

/// Runs of members the writer copies from the message as they are: the same record and
/// counters as the map path, secrets among them still redacted, dropped and renamed members
/// still left out of the copy, and spans that point at each member.
#[test]
fn members_copied_as_they_are_match_the_map_path() {
    // (message, [fields] settings)
    let rows: &[(&str, &str)] = &[
        (
            r#"{"level":"INFO","message":"GET /a","status":200,"latency_ms":1.5}"#,
            "",
        ),
        // A secret in the middle of a run, then at its ends.
        (r#"{"a":"x","note":"AKIAIOSFODNN7EXAMPLE","b":"y"}"#, ""),
        (r#"{"note":"contact alice@example.com today","a":1}"#, ""),
        (r#"{"a":1,"note":"contact alice@example.com today"}"#, ""),
        // Sensitive keys: strings and numbers under them are replaced.
        (r#"{"a":"x","password":"hunter2","pwd":12,"b":"y"}"#, ""),
        // A dropped or renamed member between copied ones.
        (r#"{"a":"x","secret":"s3","b":"y"}"#, r#"drop = ["secret"]"#),
        (
            r#"{"a":"x","old":"v","b":"y"}"#,
            r#"rename = { old = "new" }"#,
        ),
        (r#"{"a":"x","old":"v","b":"y"}"#, r#"keep = ["a", "b"]"#),
        // Cut by the value cap; a card number as an integer; spaces around the colon.
        (
            r#"{"a":"x","note":"a much longer value than eight","b":"y"}"#,
            "max_value_bytes = 8",
        ),
        (r#"{"a":"x","card":4111111111111111,"b":"y"}"#, ""),
        (r#"{"a" : "x", "b":"y" ,"c": 1}"#, ""),
        // A metadata name, escapes and nesting between copied members.
        (r#"{"a":"x","@level":"DEBUG","b":"y"}"#, ""),
        (
            r#"{"a":"x","e":"line\nbreak","b":"y","u":{"id":1},"c":"z"}"#,
            "",
        ),
    ];
    for &(message, fields) in rows {
        let fast = writer_agrees_with_map_path(message, fields);
        let text = fast.json();
        let fast_map: Map<String, Value> = serde_json::from_str(text).unwrap();
        // Compact, as the writer writes: no space the message had around a colon or comma.
        for spaced in ["\" :", ": ", " ,", ", \""] {
            assert!(!text.contains(spaced), "{spaced:?} in {text}");
        }
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "alice@example.com",
            "hunter2",
            "s3",
            "4111",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let members = fast.members().unwrap_or_default();
        assert_eq!(members.len(), fast_map.len(), "{text}");
        for m in members {
            let (key, got) = span_member(text, m);
            assert_eq!(got, fast_map[key], "{key} in {text}");
        }
    }
}

/// The metadata head the writer keeps per log stream follows the stream: records of streams
/// taken in turn through one memo each name their own group and stream, with spans that point
/// at them, as the map path writes them.
#[test]
fn the_stream_head_follows_the_stream() {
    let config = CheckedConfig::default_config().unwrap();
    let streams = [
        ("/ecs/a", "s1"),
        ("/ecs/b", "s1"),
        ("/ecs/b", "s2 \"quoted\""),
        ("/ecs/a", "s1"),
    ];
    let mut memo = SelectMemo::new();
    for (group, stream) in streams {
        let extras = RecordExtras {
            names: Some((group, stream)),
            ..RecordExtras::default()
        };
        let message = r#"{"level":"INFO","message":"m"}"#;
        let fast = writer_matches_map_path(&config, message, extras, &mut memo);
        let text = fast.json();
        let spans = fast.members().expect("written by the writer");
        let noted: Map<String, Value> = spans
            .iter()
            .map(|m| span_member(text, m))
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let want = [("@logGroup", group), ("@logStream", stream), ("@id", "1")];
        for (key, value) in want {
            assert_eq!(noted.get(key), Some(&Value::from(value)), "{key} of {text}");
        }
    }
}

/// What one memo remembers of the records before answers only for the same value: a secret
/// after a clean value, the clean one again, a value that differs by a byte, each matches the
/// map path through one memo.
#[test]
fn remembered_answers_hold_only_for_the_same_value() {
    let config = CheckedConfig::default_config().unwrap();
    let notes = [
        "shipped to the usual address",
        "shipped to the usual address",
        "shipped to alice@example.com",
        "shipped to alice@example.com",
        "shipped to the usual address",
        "shipped to the usual addresz",
        "AKIAIOSFODNN7EXAMPLE",
        "shipped to the usual address",
    ];
    let mut memo = SelectMemo::new();
    for note in notes {
        let message = serde_json::json!({"note": note, "password": note}).to_string();
        let fast = writer_matches_map_path(&config, &message, RecordExtras::default(), &mut memo);
        let map: Map<String, Value> = serde_json::from_str(fast.json()).unwrap();
        assert_eq!(map["note"] == note, note.contains("usual"), "{note}");
    }
}
