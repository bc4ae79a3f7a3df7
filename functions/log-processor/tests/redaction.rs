//! The planted-secrets corpus through the library path this function runs: a subscription
//! payload decoded and processed by `Pipeline` with records off, so every secret that could
//! leave does so through a metric dimension or a trace annotation. The config sends message
//! text to both on purpose. (Values taken from a sensitive key, `$.password`, are the exits'
//! own rule, not the detectors'.)

use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::pipeline::{Output, Pipeline};
use logsieve_testkit::encode::{b64, gzip};
use serde_json::{json, Value};

fn planted() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/tests/fixtures/secrets/planted.jsonl"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A CloudWatch Logs subscription event (base64 of gzip of the document), as Lambda delivers it.
fn payload(texts: &[&str]) -> Vec<u8> {
    let events: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": format!("{i:056}"), "timestamp": 1_700_000_000_000i64 + i as i64, "message": t}))
        .collect();
    let doc = json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/corpus/app",
        "logStream": "app/main/1", "subscriptionFilters": ["logsieve"], "logEvents": events
    })
    .to_string();
    json!({"awslogs": {"data": b64(&gzip(doc.as_bytes()))}})
        .to_string()
        .into_bytes()
}

const CONFIG: &str = r#"
[metrics]
namespace = "Corpus"
sink = "emf"

[[metrics.rule]]
metric_name = "Messages"
filter_pattern = ""
metric_value = "1"
unit = "Count"
dimensions = { Message = "$.message" }

[[metrics.rule]]
metric_name = "Msgs"
filter_pattern = ""
metric_value = "1"
unit = "Count"
dimensions = { Msg = "$.msg" }

[traces]
sink = "xray"
annotations = { message = "$.message", msg = "$.msg" }
"#;

#[test]
fn no_planted_secret_leaves_the_function_path() {
    let corpus = planted();
    let texts: Vec<&str> = corpus.iter().map(|l| l["text"].as_str().unwrap()).collect();
    let bytes = payload(&texts);
    for (exits, config) in [
        (false, CheckedConfig::default_config().unwrap()),
        (true, CheckedConfig::from_toml(CONFIG).unwrap()),
    ] {
        let mut pipeline = Pipeline::new(config).with_records(false);
        let decoded = decode_input(&bytes, &DecodeLimits::default()).unwrap();
        let mut output = Output::default();
        for unit in decoded.units {
            for batch in unit.result.unwrap() {
                output.merge(pipeline.process(batch));
            }
        }
        assert_eq!(output.stats.events, corpus.len() as u64);
        assert!(output.records.is_empty(), "records are off in the function");
        let text = serde_json::to_string(&output).unwrap();
        if exits {
            // Not vacuous: secrets reached the dimensions and annotations, redacted.
            assert!(text.contains("[REDACTED:"), "{text}");
        }
        for line in &corpus {
            for s in line["secrets"].as_array().unwrap() {
                let s = s.as_str().unwrap();
                // Long secrets: no 16-byte window either.
                let windows: Vec<&str> = if s.len() < 24 || !s.is_ascii() {
                    vec![s]
                } else {
                    (0..=s.len() - 16).map(|i| &s[i..i + 16]).collect()
                };
                for w in windows {
                    assert!(!text.contains(w), "{}: {w:?} leaked: {text}", line["id"]);
                }
            }
        }
    }
}
