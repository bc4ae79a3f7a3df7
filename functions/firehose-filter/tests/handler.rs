//! Drives the firehose-filter handler with Firehose transformation events shaped like the ones
//! Firehose sends for a CloudWatch Logs subscription (each record's data: base64 of gzip'd
//! CloudWatch Logs JSON).

use aws_lambda_events::firehose::KinesisFirehoseResponseRecord;
use base64::Engine;
use firehose_filter::{handle, RESULT_DROPPED, RESULT_FAILED, RESULT_OK};
use logsieve::config::CheckedConfig;
use logsieve::driver::DriveError;
use logsieve::pipeline::{Limits, Pipeline};
use logsieve_testkit::encode::{b64, gzip};
use serde_json::{json, Map, Value};

const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1438485463442,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;

/// Keeps three fields; `password` and `headers` must never reach the bucket.
const KEEP_CONFIG: &str = r#"
[metrics]
namespace = "Logsieve/Test"
sink = "none"

[fields]
keep = ["level", "message", "service"]

[traces]
sink = "none"
"#;

const LINE_A: &str = r#"{"level":"ERROR","service":"orders","message":"payment declined","password":"hunter2","headers":{"authorization":"Bearer abc"},"latency_ms":812}"#;
const LINE_B: &str = r#"{"level":"INFO","service":"orders","message":"order placed","password":"hunter2","latency_ms":12}"#;

fn document(group: &str, messages: &[&str]) -> String {
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": format!("3762{i:052}"), "timestamp": 1_700_000_000_000i64 + i as i64, "message": m}))
        .collect();
    json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
        "logStream": "2026/11/27/[$LATEST]abc", "subscriptionFilters": ["to-firehose"],
        "logEvents": events
    })
    .to_string()
}

fn record(id: &str, data: &str) -> Value {
    json!({"recordId": id, "approximateArrivalTimestamp": 1700000000123i64, "data": data})
}

fn gz(doc: &str) -> String {
    b64(&gzip(doc.as_bytes()))
}

fn event(records: Vec<Value>) -> Vec<u8> {
    json!({
        "invocationId": "b2c4b1d6-3a4e-4c0f-9d1a-0f5d0f1e2a3b",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/logsieve",
        "region": "us-east-1",
        "records": records
    })
    .to_string()
    .into_bytes()
}

fn pipeline(config: &str) -> Pipeline {
    Pipeline::new(CheckedConfig::from_toml(config).unwrap()).with_records(true)
}

/// The objects in one `Ok` record's data as Firehose reads it: base64 on the wire → NDJSON, one
/// object per line.
fn lines(record: &KinesisFirehoseResponseRecord) -> Vec<Map<String, Value>> {
    let wire = serde_json::to_value(record).unwrap();
    let data = wire["data"].as_str().expect("data is a base64 string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.ends_with('\n'),
        "every line ends with a newline so S3 objects stay NDJSON"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn each_record_gets_ok_dropped_or_processing_failed() {
    let records = vec![
        record(
            "ok-1",
            &gz(&document("/aws/lambda/orders", &[LINE_A, LINE_B])),
        ),
        record("control", &gz(CONTROL)),
        record("not-base64", "%%%"),
        record("not-gzip", &b64(b"just text")),
        record("not-a-document", &gz("{\"hello\":1}")),
        // CloudWatch Logs may put several documents into one Firehose record.
        record(
            "ok-2",
            &b64(&[
                gzip(document("/ecs/api", &[LINE_B]).as_bytes()),
                gzip(document("/ecs/api", &[LINE_A]).as_bytes()),
            ]
            .concat()),
        ),
    ];
    let mut p = pipeline(KEEP_CONFIG);
    let resp = handle(&event(records), &mut p, None, Limits::default()).unwrap();
    let got: Vec<(&str, &str)> = resp
        .body
        .records
        .iter()
        .map(|r| {
            (
                r.record_id.as_deref().unwrap(),
                r.result.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("ok-1", RESULT_OK),
            ("control", RESULT_DROPPED),
            ("not-base64", RESULT_FAILED),
            ("not-gzip", RESULT_FAILED),
            ("not-a-document", RESULT_FAILED),
            ("ok-2", RESULT_OK),
        ]
    );
    assert_eq!(lines(&resp.body.records[0]).len(), 2);
    assert_eq!(
        lines(&resp.body.records[5]).len(),
        2,
        "both documents of the record"
    );
    for r in &resp.body.records[1..5] {
        assert!(r.data.is_empty(), "{:?}: no data unless Ok", r.record_id);
    }
    assert_eq!(resp.driven.output.stats.errors.len(), 3);
    // The wire names Firehose checks.
    let wire = serde_json::to_value(&resp.body).unwrap();
    assert_eq!(wire["records"][0]["recordId"], "ok-1");
    assert_eq!(wire["records"][0]["result"], "Ok");
    assert_eq!(wire["records"][1]["result"], "Dropped");
    assert_eq!(wire["records"][2]["result"], "ProcessingFailed");
    assert!(
        wire["records"][2]["data"].is_string(),
        "data is present on every record"
    );
}

#[test]
fn ok_data_is_exactly_what_the_pipeline_selects() {
    // The adapter must neither add nor lose fields: its NDJSON equals the pipeline's own
    // selection of the same batch, line by line.
    let doc = document("/aws/lambda/orders", &[LINE_A, LINE_B]);
    let mut p = pipeline(KEEP_CONFIG);
    let resp = handle(
        &event(vec![record("r", &gz(&doc))]),
        &mut p,
        None,
        Limits::default(),
    )
    .unwrap();
    let mut direct = pipeline(KEEP_CONFIG);
    let decoded = logsieve::decode::decode_input(doc.as_bytes(), &Default::default()).unwrap();
    let want: Vec<Map<String, Value>> = decoded
        .units
        .into_iter()
        .flat_map(|u| u.result.unwrap())
        .flat_map(|b| direct.process(b).records)
        .map(|r| r.to_map())
        .collect();
    assert_eq!(lines(&resp.body.records[0]), want);
}

#[test]

fn ok_data_contains_only_the_selected_fields() {
    let doc = document("/aws/lambda/orders", &[LINE_A, LINE_B]);
    let mut p = pipeline(KEEP_CONFIG);
    let resp = handle(
        &event(vec![record("r", &gz(&doc))]),
        &mut p,
        None,
        Limits::default(),
    )
    .unwrap();
    for line in lines(&resp.body.records[0]) {
        let fields: Vec<&str> = line
            .keys()
            .filter(|k| !k.starts_with('@'))
            .map(String::as_str)
            .collect();
        for f in &fields {
            assert!(
                ["level", "message", "service"].contains(f),
                "unexpected field {f} in {line:?}"
            );
        }
        assert!(!line.contains_key("password") && !line.contains_key("headers"));
        assert_eq!(line["service"], "orders");
    }
}

#[test]
fn nothing_selected_is_dropped_and_own_group_is_skipped() {
    let own = "/aws/lambda/logsieve-firehose-filter";
    // A plain term: only LINE_A's message contains it.
    let filtered = format!("{KEEP_CONFIG}\n[records]\nfilter_pattern = 'ERROR'\n");
    let mut p = pipeline(&filtered);
    let resp = handle(
        &event(vec![
            record("info-only", &gz(&document("/aws/lambda/orders", &[LINE_B]))),
            record("own", &gz(&document(own, &[LINE_A]))),
            record(
                "error",
                &gz(&document("/aws/lambda/orders", &[LINE_B, LINE_A])),
            ),
        ]),
        &mut p,
        Some(own),
        Limits::default(),
    )
    .unwrap();
    let got: Vec<&str> = resp
        .body
        .records
        .iter()
        .map(|r| r.result.as_deref().unwrap())
        .collect();
    assert_eq!(got, vec![RESULT_DROPPED, RESULT_DROPPED, RESULT_OK]);
    let kept = lines(&resp.body.records[2]);
    assert_eq!(
        kept.len(),
        1,
        "only the ERROR event passes the records filter"
    );
    assert_eq!(kept[0]["level"], "ERROR");
}

#[test]
fn unusable_events_fail_the_invocation() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated JSON", b"{\"records\": [".to_vec()),
        (
            "a Kinesis event",
            json!({"Records": []}).to_string().into_bytes(),
        ),
        (
            "record without recordId",
            json!({"records": [{"data": "***"}]})
                .to_string()
                .into_bytes(),
        ),
    ];
    for (name, bytes) in cases {
        let mut p = pipeline(KEEP_CONFIG);
        let err = handle(&bytes, &mut p, None, Limits::default())
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        let expected = match name {
            "truncated JSON" => matches!(err, DriveError::Event(_)),
            "a Kinesis event" => matches!(err, DriveError::WrongKind { .. }),
            _ => matches!(err, DriveError::MissingRecordId { index: 0 }),
        };
        assert!(expected, "{name}: unexpected {err:?}");
        let want_type = match name {
            "truncated JSON" => "Logsieve.UndecodableEvent",
            "a Kinesis event" => "Logsieve.WrongEventKind",
            _ => "Logsieve.MissingRecordId",
        };
        assert_eq!(
            err.error_type(),
            want_type,
            "{name}: errorType Lambda records"
        );
    }
}

#[test]
fn raw_payload_survives_the_runtime_deserializer() {
    let bytes = event(vec![record("r", &gz(CONTROL))]);
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let raw: Box<serde_json::value::RawValue> = serde_path_to_error::deserialize(de).unwrap();
    assert_eq!(raw.get().as_bytes(), &bytes[..]);
}
