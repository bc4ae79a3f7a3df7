//! Drives the kinesis-processor handler with Kinesis events shaped like the ones Lambda delivers
//! (CloudWatch Logs → Kinesis Data Streams → event source mapping).

use kinesis_processor::handle;
use logsieve::config::CheckedConfig;
use logsieve::counter_keys as ck;
use logsieve::driver::DriveError;
use logsieve::pipeline::{Budget, Limits, Pipeline, SystemClock};
use logsieve_testkit::encode::{b64, gzip};
use serde_json::{json, Value};

const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/logsieve";

/// A CloudWatch Logs DATA_MESSAGE for `group` with one JSON app log line per message.
fn document(group: &str, messages: &[&str]) -> String {
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": format!("3762{i:052}"), "timestamp": 1_700_000_000_000i64 + i as i64, "message": m}))
        .collect();
    json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
        "logStream": "2026/11/27/[$LATEST]abc", "subscriptionFilters": ["to-kinesis"],
        "logEvents": events
    })
    .to_string()
}

const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1438485463442,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;

/// One Kinesis record as the event source mapping delivers it; `data` is already base64.
fn record(seq: &str, data: &str) -> Value {
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0", "partitionKey": "2c8ee4e2d5b4a1b7",
            "sequenceNumber": seq, "data": data, "approximateArrivalTimestamp": 1700000000.123
        },
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": format!("shardId-000000000000:{seq}"), "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/logsieve-kinesis", "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN
    })
}

fn good(seq: &str, group: &str, messages: &[&str]) -> Value {
    record(seq, &b64(&gzip(document(group, messages).as_bytes())))
}

fn event(records: Vec<Value>) -> Vec<u8> {
    json!({ "Records": records }).to_string().into_bytes()
}

fn pipeline() -> Pipeline {
    Pipeline::new(CheckedConfig::default_config().unwrap()).with_records(false)
}

fn failure_ids(body: &aws_lambda_events::streams::KinesisEventResponse) -> Vec<&str> {
    body.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref().unwrap())
        .collect()
}

const ERR_LINE: &str = r#"{"level":"ERROR","service":"orders","message":"boom"}"#;
const INFO_LINE: &str = r#"{"level":"INFO","service":"orders","message":"ok"}"#;

#[test]
fn undecodable_records_are_rejected_not_retried() {
    // Each bad record fails in a different decode stage. None of them is reported for a retry
    // (it could never be decoded), each is counted and kept, and every good record is processed.
    let not_base64 = record(
        "49590338271490256608559692538361571095921575989136588802",
        "%%%not base64%%%",
    );
    let not_gzip = record(
        "49590338271490256608559692538361571095921575989136588803",
        &b64(b"plain text, neither gzip nor JSON"),
    );
    let truncated_gzip = {
        let full = gzip(document("/aws/lambda/orders", &[INFO_LINE]).as_bytes());
        record(
            "49590338271490256608559692538361571095921575989136588804",
            &b64(&full[..full.len() / 2]),
        )
    };
    let not_a_document = record(
        "49590338271490256608559692538361571095921575989136588805",
        &b64(&gzip(b"{\"hello\":\"world\"}")),
    );
    let cases: Vec<(&str, Vec<Value>, Vec<&str>)> = vec![
        (
            "all good",
            vec![
                good("1", "/aws/lambda/orders", &[INFO_LINE]),
                good("2", "/aws/lambda/orders", &[ERR_LINE]),
            ],
            vec![],
        ),
        (
            "bad base64 in the middle",
            vec![
                good("1", "/aws/lambda/orders", &[INFO_LINE]),
                not_base64.clone(),
                good("3", "/aws/lambda/orders", &[ERR_LINE]),
            ],
            vec!["49590338271490256608559692538361571095921575989136588802"],
        ),
        (
            "not gzip first",
            vec![
                not_gzip.clone(),
                good("2", "/aws/lambda/orders", &[INFO_LINE]),
            ],
            vec!["49590338271490256608559692538361571095921575989136588803"],
        ),
        (
            "truncated gzip and a non-document",
            vec![
                good("1", "/aws/lambda/orders", &[INFO_LINE]),
                truncated_gzip.clone(),
                not_a_document.clone(),
            ],
            vec![
                "49590338271490256608559692538361571095921575989136588804",
                "49590338271490256608559692538361571095921575989136588805",
            ],
        ),
        (
            "control message is not a failure",
            vec![
                record("7", &b64(&gzip(CONTROL.as_bytes()))),
                good("8", "/aws/lambda/orders", &[INFO_LINE]),
            ],
            vec![],
        ),
        ("empty batch", vec![], vec![]),
    ];
    for (name, records, want) in cases {
        let mut p = pipeline();
        let resp = handle(&event(records), &mut p, None, Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(failure_ids(&resp.body).is_empty(), "{name}");
        let rejected: Vec<&str> = resp
            .driven
            .failed()
            .filter_map(|u| u.record_id.as_deref())
            .collect();
        assert_eq!(rejected, want, "{name}");
        assert_eq!(
            resp.driven
                .output
                .stats
                .counters
                .get(ck::driver::KINESIS_REJECTED),
            want.len() as u64,
            "{name}"
        );
        assert!(
            resp.driven.failed().all(|u| u.kept.is_some()),
            "{name}: every rejected record is kept"
        );
        assert_eq!(
            resp.driven.output.stats.errors.len(),
            want.len(),
            "{name}: one error line per failed record"
        );
        // What Lambda reads: an empty list means the whole batch succeeded.
        let wire: Value = serde_json::to_value(&resp.body).unwrap();
        assert_eq!(
            wire,
            json!({"batchItemFailures": []}),
            "{name}: wire format"
        );
    }
}

#[test]
fn records_after_a_rejected_one_are_processed_once() {
    let mut p = pipeline();
    let records = vec![
        good("1", "/aws/lambda/orders", &[ERR_LINE, INFO_LINE]),
        record("2", "***"),
        good("3", "/aws/lambda/orders", &[ERR_LINE, ERR_LINE, ERR_LINE]),
    ];
    let resp = handle(&event(records), &mut p, None, Limits::default()).unwrap();
    assert!(failure_ids(&resp.body).is_empty());
    assert_eq!(resp.driven.output.stats.events, 5, "records 1 and 3");
    let kept = resp.driven.units[1].kept.as_ref().unwrap();
    assert_eq!(kept.data, "***");
}

#[test]
fn records_not_started_in_time_are_reported_for_the_retry() {
    // The invocation's processing cutoff has passed before the batch starts: every decodable
    // record is left for Lambda's retry, named in the partial batch response; the corrupt one is
    // still rejected, since a retry could not fix it.
    let mut p = pipeline();
    let records = vec![
        good("1", "/aws/lambda/orders", &[ERR_LINE]),
        record("2", "***"),
        good("3", "/aws/lambda/orders", &[ERR_LINE]),
    ];
    let clock = SystemClock;
    let limits = Limits {
        now_ms: None,
        budget: Some(Budget {
            deadline: std::time::Instant::now(),
            clock: &clock,
        }),
    };
    let resp = handle(&event(records), &mut p, None, limits).unwrap();
    assert_eq!(failure_ids(&resp.body), vec!["1", "3"]);
    // The serialized reply is what Lambda reads: the exact key names matter.
    let wire: Value = serde_json::to_value(&resp.body).unwrap();
    assert_eq!(
        wire,
        json!({"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "3"}]})
    );
    assert_eq!(resp.driven.output.stats.events, 0);
    let counters = &resp.driven.output.stats.counters;
    assert_eq!(counters.get(ck::driver::KINESIS_RETRY), 2);
    assert_eq!(counters.get(ck::driver::KINESIS_REJECTED), 1);
}

#[test]
fn good_records_go_through_the_pipeline_unchanged() {
    // Same batch through the handler and straight through the pipeline: the adapter adds nothing
    // and loses nothing.
    let doc = document("/aws/lambda/orders", &[ERR_LINE, ERR_LINE, INFO_LINE]);
    let mut p = pipeline();
    let resp = handle(
        &event(vec![record("1", &b64(&gzip(doc.as_bytes())))]),
        &mut p,
        None,
        Limits::default(),
    )
    .unwrap();
    let mut direct = pipeline();
    let decoded = logsieve::decode::decode_input(doc.as_bytes(), &Default::default()).unwrap();
    let mut want = logsieve::pipeline::Output::default();
    for b in decoded.units.into_iter().flat_map(|u| u.result.unwrap()) {
        want.merge(direct.process(b));
    }
    assert_eq!(resp.driven.output.stats.events, 3);
    assert_eq!(resp.driven.output.metrics, want.metrics);
    assert!(resp.body.batch_item_failures.is_empty());
}

#[test]
fn own_log_group_is_skipped() {
    let own = "/aws/lambda/logsieve-kinesis-processor";
    let mut p = pipeline();
    let resp = handle(
        &event(vec![
            good("1", own, &[ERR_LINE]),
            good("2", "/aws/lambda/orders", &[ERR_LINE]),
        ]),
        &mut p,
        Some(own),
        Limits::default(),
    )
    .unwrap();
    assert_eq!(
        resp.driven.output.stats.events, 1,
        "only the other group's event is processed"
    );
    assert_eq!(
        resp.driven
            .output
            .stats
            .counters
            .get(ck::driver::OWN_LOG_GROUP_EVENTS),
        1
    );
    assert!(resp.body.batch_item_failures.is_empty());
}

#[test]
fn unusable_events_fail_the_invocation() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{\"Records\": [".to_vec()),
        (
            "a subscription event",
            logsieve_testkit::encode::subscription_event(&document("/g", &[INFO_LINE]))
                .into_bytes(),
        ),
    ];
    for (name, bytes) in cases {
        let mut p = pipeline();
        let err = handle(&bytes, &mut p, None, Limits::default())
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        match (name, &err) {
            ("not JSON", DriveError::Event(_)) => {}
            ("a subscription event", DriveError::WrongKind { .. }) => {}
            _ => panic!("{name}: unexpected {err:?}"),
        }
        let want_type = match name {
            "not JSON" => "Logsieve.UndecodableEvent",
            _ => "Logsieve.WrongEventKind",
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
    // lambda_runtime 1.5 deserializes with serde_path_to_error over serde_json::from_slice; the
    // handler relies on getting the event's bytes back untouched through a Box<RawValue>.
    let bytes = event(vec![good("1", "/aws/lambda/orders", &[INFO_LINE])]);
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let raw: Box<serde_json::value::RawValue> = serde_path_to_error::deserialize(de).unwrap();
    assert_eq!(raw.get().as_bytes(), &bytes[..]);
}
