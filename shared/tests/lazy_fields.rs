//! The lean pipeline indexes JSON messages and parses a member only when a stage reads it. That
//! must never change what comes out: for every bundled fixture, the bad-input corpus, generated
//! batches and a set of awkward JSON lines, under configs that read fields every way a stage can
//! (JSON patterns with wildcards and nested selectors, extracted values, dimensions, trace id
//! fields, annotations, metadata), the metrics, segments and every counter are identical with the
//! lazy path on and off.

use std::path::{Path, PathBuf};

use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::pipeline::Pipeline;
use logsieve::record::Batch;
use logsieve_testkit::encode;
use logsieve_testkit::generate::{self, Mix};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Reads every field the lazy index can hold, in every way a stage reads one.
const READ_EVERYTHING: &str = r#"
[metrics]
namespace = "Lazy"
sink = "none"
lambda_platform = true

[[metrics.rule]]
metric_name = "Latency"
filter_pattern = '{ $.latency_ms > 0 || $.duration > 0 }'
metric_value = "$.latency_ms"
dimensions = { Service = "$.service", Method = "$.method", Level = "$.level" }

[[metrics.rule]]
metric_name = "AnyValueIsError"
filter_pattern = '{ $.* = "ERROR" || $.* = "error" }'
metric_value = "1"
dimensions = { Path = "$.path" }

[[metrics.rule]]
metric_name = "Nested"
filter_pattern = '{ $.user.id = * || $.items[0].price > 1 || $.http.status >= 400 }'
metric_value = "$.items[0].price"
dimensions = { User = "$.user.id" }

[[metrics.rule]]
metric_name = "Extracted"
filter_pattern = '{ $.status = * }'
metric_value = "$.status"
dimensions = { Status = "$.status", Flag = "$.flag" }

[[metrics.rule]]
metric_name = "Missing"
filter_pattern = '{ $.absent NOT EXISTS && $.flag IS TRUE }'
metric_value = "1"
default_value = 0
dimensions = { Kind = "flagged" }

[traces]
sink = "xray"
include_unsampled = true
trace_id_fields = ["$.ctx.trace", "$.otel.traceId"]
annotations = { service = "$.service", route = "$.path", user = "$.user.id", flag = "$.flag", n = "$.status" }
metadata = ["$.detail", "$.items", "$.message"]
"#;

fn configs() -> Vec<(String, CheckedConfig)> {
    let mut out = vec![(
        "read-everything".to_string(),
        CheckedConfig::from_toml(READ_EVERYTHING).expect("valid test config"),
    )];
    for path in [
        "examples/logsieve.toml",
        "shared/config/default.toml",
        "tests/fixtures/bad/hostile.toml",
    ] {
        let text = std::fs::read_to_string(repo().join(path)).expect(path);
        out.push((
            path.to_string(),
            CheckedConfig::from_toml(&text).expect(path),
        ));
    }
    out
}

/// Lines that probe the index's edges: the eager fallbacks and every kind of value.
fn awkward_lines() -> Vec<String> {
    let many: String = (0..40)
        .map(|i| format!("\"k{i}\":{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut lines: Vec<String> = [
        r#"{"service":"orders","latency_ms":12.5,"level":"ERROR","method":"GET","path":"/a","status":500,"flag":true}"#,
        r#"{"service":"orders","service":"dup-wins","latency_ms":3,"level":"info"}"#,
        r#"{"serv\u0069ce":"escaped key","latency_ms":7,"method":"GET"}"#,
        r#"{"service":"esc\"aped \u00e9","latency_ms":1e2,"status":-0,"n":-1.5e-3,"flag":false}"#,
        r#"{"user":{"id":"u-1","email":"jane@example.com"},"items":[{"price":9.5}],"http":{"status":404}}"#,
        r#"{"ctx":{"trace":"1-5759e988-bd862e3fe1be46a994272791"},"service":"nested-trace","span_id":"53995c3f42cd8ad8"}"#,
        r#"{"otel":{"traceId":"4bf92f3577b34da6a3ce929d0e0e4731"},"service":"otel","level":"WARN"}"#,
        r#"{"trace_id":"1-5759e988-bd862e3fe1be46a994272792","spanId":"53995c3f42cd8ad8","status":"200"}"#,
        r#"{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4732-00f067aa0ba902b7-01","detail":{"a":[1,2,{"b":null}]}}"#,
        r#"{"message":"X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1","level":"ERROR"}"#,
        r#"{"nested":{"note":"Root=1-5759e988-bd862e3fe1be46a994272794"},"level":"debug"}"#,
        r#"{"timestamp":"2024-01-01T00:00:00Z","level":"ERROR","message":"boom","requestId":"8f5c-1","errorType":"TypeError"}"#,
        r#"{"time":"2024-01-01T00:00:00.000Z","type":"platform.report","record":{"requestId":"r-1","metrics":{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":64},"status":"success"}}"#,
        r#"{"time":"2024-01-01T00:00:00.000Z","type":"platform.start","record":"not an object"}"#,
        r#"{"type":"platform.unknown"}"#,
        r#"{"status":007}"#,
        r#"{"latency_ms":1e400}"#,
        r#"{"service":"trailing"} x"#,
        r#"{"service":"truncated""#,
        "{\"service\":\"raw\ttab\"}",
        r#"{"service":"lone \ud800"}"#,
        r#"{}"#,
        "  {\"service\":\"leading space\",\"latency_ms\":5}\n",
        r#"{"latency_ms":18446744073709551616,"status":123456789012345678901234567890}"#,
        r#"{"AWS_SECRET_ACCESS_KEY":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","service":"AKIAIOSFODNN7EXAMPLE"}"#,
        r#"{"log":{"level":"error"},"service":"nested-level","latency_ms":2}"#,
        // Headers only the value walk finds (escaped in the text), next to malformed ones.
        r#"{"note":"Root\u003d1-5759e988-bd862e3fe1be46a994272795","level":"info"}"#,
        r#"{"a":"Root=bogus","b":"Root\u003d1-5759e988-bd862e3fe1be46a994272797","n":[{"c":"Root=x"}]}"#,
        r#"{"z":"Root=1-5759e988-bd862e3fe1be46a994272796"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    lines.push(format!("{{{many},\"service\":\"many\",\"latency_ms\":4}}"));
    lines.push(format!(
        "{{\"deep\":{}1{},\"service\":\"deep\"}}",
        "[".repeat(100),
        "]".repeat(100)
    ));
    lines
}

fn document(group: &str, messages: &[String]) -> String {
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": i.to_string(), "timestamp": 1_700_000_000_000i64 + i as i64, "message": m}))
        .collect();
    json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": group,
        "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": events,
    })
    .to_string()
}

fn batches() -> Vec<(String, Batch)> {
    let limits = DecodeLimits::default();
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in ["tests/fixtures", "tests/fixtures/bad"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
            .expect(dir)
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).expect("fixture");
            inputs.push((f.display().to_string(), bytes));
        }
    }
    for mix in Mix::ALL {
        for seed in 1..=3 {
            let doc = generate::document(mix, &generate::events(mix, 300, seed));
            inputs.push((format!("{} seed {seed}", mix.name()), doc.into_bytes()));
        }
    }
    for group in ["/ecs/orders-api", "/aws/lambda/checkout", "/nginx/access"] {
        let doc = document(group, &awkward_lines());
        inputs.push((
            format!("awkward lines in {group}"),
            encode::subscription_event(&doc).into_bytes(),
        ));
    }
    let mut out = Vec::new();
    for (name, bytes) in inputs {
        let Ok(decoded) = decode_input(&bytes, &limits) else {
            continue;
        };
        for unit in decoded.units {
            for batch in unit.result.into_iter().flatten() {
                out.push((name.clone(), batch));
            }
        }
    }
    out
}

#[test]
fn lazy_json_changes_nothing_that_comes_out() {
    let batches = batches();
    assert!(batches.len() > 30, "only {} batches", batches.len());
    let mut json_events = 0;
    // With records too: the writer then copies plain members from the indexed message in one
    // pipeline and reads the parsed map in the other.
    for records in [false, true] {
        for (config_name, config) in configs() {
            let mut lazy = Pipeline::new(config.clone()).with_records(records);
            let mut eager = Pipeline::new(config)
                .with_records(records)
                .with_lazy_json(false);
            for (name, batch) in &batches {
                let a = lazy.process(batch.clone());
                let b = eager.process(batch.clone());
                json_events += a.stats.counters.get("parse.json");
                assert_eq!(a.records.len(), b.records.len());
                assert_eq!(
                    serde_json::to_value(&a).expect("serializes"),
                    serde_json::to_value(&b).expect("serializes"),
                    "{config_name} on {name}, records {records}"
                );
            }
        }
    }
    assert!(
        json_events > 1000,
        "the corpus must exercise JSON ({json_events})"
    );
}

#[test]
fn the_awkward_lines_produce_what_they_probe() {
    // Guards the test above against comparing two empty outputs.
    let config = CheckedConfig::from_toml(READ_EVERYTHING).expect("valid");
    let doc = document("/ecs/orders-api", &awkward_lines());
    let decoded = decode_input(
        encode::subscription_event(&doc).as_bytes(),
        &DecodeLimits::default(),
    )
    .expect("decodes");
    let batch = decoded.batches().next().expect("one batch").clone();
    let out = Pipeline::new(config).with_records(false).process(batch);
    let names: Vec<&str> = out.metrics.iter().map(|m| m.metric_name.as_str()).collect();
    for want in [
        "Latency",
        "AnyValueIsError",
        "Nested",
        "Extracted",
        "Missing",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(out.segments.len() >= 8, "{} segments", out.segments.len());
    assert!(out.stats.counters.get("parse.invalid_json") >= 5);
}

#[test]
fn string_and_text_reads_agree_between_the_paths() {
    use logsieve::parse::{parse_event, parse_event_lazy};
    use logsieve::record::{FieldPath, LogEvent, Source};
    use std::sync::Arc;
    let source = Arc::new(Source::default());
    let keys = [
        "s", "esc", "n", "f", "b", "z", "o", "a", "missing", "o.k", "a[0]",
    ];
    for line in awkward_lines().into_iter().chain([
        r#"{"s":"plain","esc":"a\"b","n":42,"f":-1.5,"b":true,"z":null,"o":{"k":"v"},"a":["x"]}"#
            .to_string(),
    ]) {
        let event = LogEvent {
            message: line.clone(),
            ..LogEvent::default()
        };
        let eager = parse_event(&source, event.clone());
        let lazy = parse_event_lazy(&source, event);
        for key in keys {
            let path = FieldPath::parse(key).expect("path");
            // Before any other read (the lazy record answers from its text), then after one.
            assert_eq!(lazy.get_str(&path), eager.get_str(&path), "{line} {key}");
            assert_eq!(lazy.get_text(&path), eager.get_text(&path), "{line} {key}");
            assert_eq!(lazy.get(&path), eager.get(&path), "{line} {key}");
            assert_eq!(lazy.get_str(&path), eager.get_str(&path), "{line} {key}");
        }
    }
}
