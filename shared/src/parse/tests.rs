//! End-to-end tests of `parse_event`: dispatch between formats, record plumbing, hostile input.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::record::{FieldPath, Level};

fn source() -> Arc<Source> {
    Arc::new(Source {
        owner: "123456789012".into(),
        log_group: "/aws/lambda/orders".into(),
        log_stream: "2026/11/27/[$LATEST]abc".into(),
        ..Source::default()
    })
}

fn event(message: &str) -> LogEvent {
    LogEvent {
        id: "3719586470498732424".into(),
        timestamp: 1_764_209_892_000,
        message: message.to_string(),
        extracted_fields: None,
    }
}

fn parse(message: &str) -> Record {
    parse_event(&source(), event(message))
}

#[test]
fn dispatch_picks_the_format() {
    let id = "c793869b-ee49-115b-a5b6-4fd21e8dedac";
    let cases: Vec<(String, Format)> = vec![
        (r#"{"a":1}"#.into(), Format::Json),
        ("\n  {\"a\":1}\n".into(), Format::Json),
        (
            r#"{"time":"t","type":"platform.start","record":{"requestId":"r"}}"#.into(),
            Format::LambdaJsonPlatform,
        ),
        (
            r#"{"timestamp":"t","level":"INFO","message":"m","requestId":"r"}"#.into(),
            Format::LambdaJsonApp,
        ),
        (format!("START RequestId: {id} Version: $LATEST\n"), Format::LambdaText),
        (format!("END RequestId: {id}\n"), Format::LambdaText),
        (
            format!("REPORT RequestId: {id}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t\n"),
            Format::LambdaText,
        ),
        (
            "INIT_START Runtime Version: provided:al2023.v100\tRuntime Version ARN: arn:x\n"
                .into(),
            Format::LambdaText,
        ),
        (
            format!("2019-02-13T20:12:38.950Z {id} Task timed out after 300.09 seconds"),
            Format::LambdaText,
        ),
        (
            format!("RequestId: {id} Error: Runtime exited with error: signal: killed"),
            Format::LambdaText,
        ),
        (
            format!("2019-06-07T19:11:20.563Z\t{id}\tINFO\thello\n"),
            Format::LambdaTextApp,
        ),
        (
            format!("[INFO]\t2025-06-04T12:46:22.643Z\t{id}\thello\n"),
            Format::LambdaTextApp,
        ),
        (
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#
                .into(),
            Format::AccessLog,
        ),
        (
            r#"example.com - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#.into(),
            Format::AccessLog,
        ),
        ("level=info msg=\"hello world\" took=12\n".into(), Format::KeyValue),
        // Platform-looking prefixes that turn out to be key=value are not platform lines.
        ("START job=nightly user=ops\n".into(), Format::KeyValue),
        ("2024-01-01 level=warn msg=slow".into(), Format::KeyValue),
        ("just some words\n".into(), Format::Text),
        ("[1, 2, 3]".into(), Format::Text),
        ("\"a json string\"".into(), Format::Text),
        ("42".into(), Format::Text),
        (String::new(), Format::Text),
        ("\u{feff}{\"bom\":1}".into(), Format::Text),
    ];
    for (message, want) in cases {
        let rec = parse(&message);
        assert_eq!(rec.format, want, "{message:?}");
        assert_eq!(rec.issue, None, "{message:?}");
    }
}

#[test]
fn record_keeps_event_metadata() {
    let mut ev = event("REPORT RequestId: r1\tDuration: 2.5 ms\n");
    ev.extracted_fields = Some(BTreeMap::from([("a".to_string(), "b".to_string())]));
    let src = source();
    let rec = parse_event(&src, ev.clone());
    assert!(Arc::ptr_eq(&rec.source, &src));
    assert_eq!(rec.event_id, ev.id);
    assert_eq!(rec.timestamp, ev.timestamp);
    assert_eq!(rec.message, ev.message, "raw message keeps its newline");
    assert_eq!(rec.extracted_fields, ev.extracted_fields);
    assert_eq!(
        rec.get(&FieldPath::parse("$.durationMs").unwrap()),
        Some(&json!(2.5))
    );
}

#[test]
fn text_fields_drop_only_the_trailing_newline() {
    for (message, want) in [
        ("plain\n", "plain"),
        ("crlf\r\n", "crlf"),
        ("  keeps inner\nlines  \n\n", "  keeps inner\nlines  "),
        ("", ""),
    ] {
        let rec = parse(message);
        assert_eq!(rec.format, Format::Text);
        assert_eq!(
            Value::Object(rec.into_fields()),
            json!({ "message": want }),
            "{message:?}"
        );
    }
}

#[test]
fn malformed_platform_lines_are_text_with_issue() {
    for message in [
        "REPORT card printed",
        "START the engine\n",
        "END",
        "INIT_REPORT oops",
        "RequestId: abc whatever",
    ] {
        let rec = parse(message);
        assert_eq!(rec.format, Format::Text, "{message:?}");
        assert_eq!(
            rec.issue,
            Some(ParseIssue::MalformedPlatformLine),
            "{message:?}"
        );
        assert_eq!(rec.platform, None);
    }
    // Partly damaged REPORT: kept as a report, flagged.
    let rec = parse("REPORT RequestId: x Duration: banana ms");
    assert_eq!(rec.format, Format::LambdaText);
    assert_eq!(rec.issue, Some(ParseIssue::MalformedPlatformLine));
    assert!(matches!(rec.platform, Some(PlatformEvent::Report(ref r)) if r.request_id == "x"));
}

#[test]
fn platform_start_tracing_is_addressable_for_the_trace_stage() {
    let rec = parse(
        r#"{"time":"t","type":"platform.start","record":{"requestId":"r1","version":"$LATEST","tracing":{"spanId":"a","type":"X-Amzn-Trace-Id","value":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}}"#,
    );
    assert_eq!(rec.format, Format::LambdaJsonPlatform);
    let value = rec
        .get(&FieldPath::parse("$.record.tracing.value").unwrap())
        .and_then(Value::as_str)
        .and_then(parse_xray_header)
        .unwrap();
    assert_eq!(value.trace_id, "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(value.segment_id.as_deref(), Some("53995c3f42cd8ad8"));
}

#[test]
fn invalid_json_is_text_with_issue() {
    for message in [
        "{\"a\":1",
        "{\"a\":\"\\ud800\"}",
        "{'single': 1}",
        "{\"a\":1}{\"b\":2}",
    ] {
        let rec = parse(message);
        assert_eq!(rec.format, Format::Text, "{message:?}");
        assert!(
            matches!(rec.issue, Some(ParseIssue::InvalidJson(_))),
            "{message:?}"
        );
        assert_eq!(rec.fields_view().get("message"), Some(&json!(message)));
    }
}

#[test]
fn levels_come_through_for_the_selector() {
    let id = "c793869b-ee49-115b-a5b6-4fd21e8dedac";
    let cases = [
        (
            format!("2019-06-07T19:11:20.563Z\t{id}\tERROR\tboom"),
            Some(Level::Error),
        ),
        (
            format!("[WARNING]\t2025-06-04T12:46:22.643Z\t{id}\tslow"),
            Some(Level::Warn),
        ),
        (
            format!("REPORT RequestId: {id}\tDuration: 1 ms\tStatus: timeout"),
            Some(Level::Error),
        ),
        (format!("REPORT RequestId: {id}\tDuration: 1 ms"), None),
        (
            format!("RequestId: {id} Error: Runtime exited with error: signal: killed"),
            Some(Level::Error),
        ),
        ("level=debug msg=x".to_string(), Some(Level::Debug)),
    ];
    for (message, want) in cases {
        assert_eq!(parse(&message).level(), want, "{message:?}");
    }
}

/// Hostile input must stay bounded; a generous wall-clock bound catches accidental quadratics
/// (a quadratic scan of 1 MB would take minutes) without being flaky on a loaded machine.
const HOSTILE_BUDGET: Duration = Duration::from_secs(5);

#[test]
fn deeply_nested_json_does_not_overflow() {
    let depth = 10_000;
    let objects = "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth);
    let arrays = "{\"a\":".to_string() + &"[".repeat(depth) + &"]".repeat(depth) + "}";
    let unclosed = "{\"a\":".repeat(depth);
    for message in [objects, arrays, unclosed] {
        let t = Instant::now();
        let rec = parse(&message);
        assert!(t.elapsed() < HOSTILE_BUDGET);
        assert_eq!(rec.format, Format::Text);
        assert!(
            matches!(rec.issue, Some(ParseIssue::InvalidJson(ref e)) if e.contains("recursion")),
            "{:?}",
            rec.issue
        );
    }
    // Nesting under serde_json's limit is still a JSON object.
    let ok = "{\"a\":".repeat(100) + "1" + &"}".repeat(100);
    assert_eq!(parse(&ok).format, Format::Json);
}

#[test]
fn huge_messages_stay_bounded() {
    const MB: usize = 1 << 20;
    let huge_json = format!("{{\"blob\":\"{}\"}}", "x".repeat(MB));
    let cases: Vec<(String, Format)> = vec![
        ("a".repeat(MB), Format::Text),
        ("word ".repeat(MB / 5), Format::Text),
        ("k=v ".repeat(MB / 4), Format::KeyValue),
        ("k=\"".repeat(MB / 3), Format::KeyValue),
        ("=".repeat(MB), Format::Text),
        (
            format!("REPORT RequestId: r {}", "Key: ".repeat(MB / 5)),
            Format::LambdaText,
        ),
        (format!("REPORT {}", "\t".repeat(MB)), Format::Text),
        (
            format!("START RequestId: r {}", "a b c: ".repeat(MB / 7)),
            Format::LambdaText,
        ),
        (
            format!("RequestId: r Error: {}", "x".repeat(MB)),
            Format::LambdaText,
        ),
        (format!("[INFO\t{}", "]".repeat(MB)), Format::Text),
        (
            format!("2019-06-07T19:11:20.563Z\tid\tINFO\t{}", "{".repeat(MB)),
            Format::LambdaTextApp,
        ),
        (format!("1.2.3.4 - - [{}", "x".repeat(MB)), Format::Text),
        (
            format!("1.2.3.4 - - [t] \"{}", "\\\"".repeat(MB / 2)),
            Format::Text,
        ),
        (huge_json, Format::Json),
    ];
    for (message, want) in cases {
        let t = Instant::now();
        let rec = parse(&message);
        assert!(t.elapsed() < HOSTILE_BUDGET, "{:.40}", message);
        assert_eq!(rec.format, want, "{:.40}", message);
        assert_eq!(rec.message.len(), message.len());
    }
}

#[test]
fn json_numbers_follow_the_grammar() {
    let cases: &[(&str, Option<Value>)] = &[
        ("0", Some(json!(0))),
        ("-0", Some(json!(0))),
        ("12", Some(json!(12))),
        ("-12", Some(json!(-12))),
        ("18446744073709551615", Some(json!(u64::MAX))),
        ("1.5", Some(json!(1.5))),
        ("1e2", Some(json!(100.0))),
        ("1E-2", Some(json!(0.01))),
        ("18446744073709551616", None),
        ("1e400", None),
        ("01", None),
        ("1.", None),
        (".5", None),
        ("1e", None),
        ("+1", None),
        ("-", None),
        ("", None),
        ("1_000", None),
        ("١٢", None),
    ];
    for (s, want) in cases {
        assert_eq!(json_number(s).map(Value::Number), *want, "{s:?}");
    }
}

/// Fragments that steer random input into the deeper branches of every parser.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("REPORT ".to_string()),
        Just("START ".to_string()),
        Just("END ".to_string()),
        Just("INIT_START ".to_string()),
        Just("INIT_REPORT ".to_string()),
        Just("RequestId: ".to_string()),
        Just("Duration: ".to_string()),
        Just("XRAY TraceId: ".to_string()),
        Just("Error: ".to_string()),
        Just("Task timed out after ".to_string()),
        Just("2019-06-07T19:11:20.563Z".to_string()),
        Just("[INFO]".to_string()),
        Just(" ms".to_string()),
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("=".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(":".to_string()),
        Just("-".to_string()),
        "[0-9.]{1,6}",
        "[a-zA-Z]{1,6}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        let rec = parse(&s);
        prop_assert_eq!(&rec.message, &s);
    }

    #[test]
    fn never_panics_on_structured_looking_strings(parts in proptest::collection::vec(fragment(), 0..24)) {
        let s = parts.concat();
        let rec = parse(&s);
        prop_assert_eq!(&rec.message, &s);
        // Text records always carry the message; platform records always carry their type.
        match rec.format {
            Format::Text => prop_assert!(rec.fields_view().contains_key("message")),
            Format::LambdaText => prop_assert!(rec.platform.is_some() && rec.fields_view().contains_key("type")),
            Format::LambdaJsonPlatform => prop_assert!(rec.platform.is_some()),
            _ => prop_assert!(rec.platform.is_none()),
        }
    }
}
