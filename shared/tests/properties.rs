//! End-to-end properties of decode → pipeline on arbitrary input (the per-stage properties live
//! beside their stages: aggregation and encodings in `metrics_encoding.rs`, segment documents in
//! `trace_documents.rs`, parsing and patterns in their modules and `pattern_conformance.rs`).
//!
//! - arbitrary payload bytes, raw or wrapped as AWS sends them, never panic;
//! - every event of an arbitrary document becomes one record that keeps its log group, stream,
//!   id and timestamp;
//! - the same batch gives the same metrics, segments, records and counters every time;
//! - every datum passes `MetricDatum::check`, and what the sinks would send stays within every
//!   request limit;
//! - a Kinesis event yields one unit per record, with its sequence number, whatever the data.

use proptest::prelude::*;
use serde_json::{json, Value};

use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DecodeLimits, Decoded};
use logsieve::metrics::{
    encode_emf, encode_put_metric_data, estimate_datum_bytes, estimate_request_overhead,
    MAX_DATUMS_PER_REQUEST, MAX_EMF_DOCUMENT_BYTES, MAX_REQUEST_BYTES,
};
use logsieve::pipeline::{Output, Pipeline};
use logsieve::record::Batch;
use logsieve_testkit::encode;

const CONFIG: &str = include_str!("../../tests/fixtures/bad/hostile.toml");

fn config() -> CheckedConfig {
    CheckedConfig::from_toml(CONFIG).unwrap()
}

fn limits() -> DecodeLimits {
    DecodeLimits {
        max_decompressed_bytes: 1 << 20,
    }
}

fn batches(decoded: &Decoded) -> Vec<Batch> {
    decoded.batches().cloned().collect()
}

fn run(batches: &[Batch]) -> Output {
    let mut pipeline = Pipeline::new(config());
    let mut out = Output::default();
    for b in batches {
        out.merge(pipeline.process(b.clone()));
    }
    out
}

fn assert_sendable(out: &Output) {
    for d in &out.metrics {
        assert!(d.check().is_ok(), "{d:?}: {:?}", d.check());
    }
    for req in encode_put_metric_data(&out.metrics) {
        assert!(req.datums.len() <= MAX_DATUMS_PER_REQUEST);
        let bytes = estimate_request_overhead(&req.namespace)
            + req.datums.iter().map(estimate_datum_bytes).sum::<usize>();
        assert!(bytes <= MAX_REQUEST_BYTES, "{bytes}");
    }
    for doc in encode_emf(&out.metrics) {
        assert!(doc.len() <= MAX_EMF_DOCUMENT_BYTES, "{}", doc.len());
    }
    for s in &out.segments {
        let v: Value = serde_json::from_str(&s.document).unwrap();
        assert!(v.is_object());
        assert!(s.document.len() <= 64 * 1024);
    }
}

const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";

/// Messages from every parser's territory, with hostile values where they reach metrics and
/// traces.
fn message() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        Just("1e999".to_string()),
        Just("NaN".to_string()),
        "[0-9]{1,4}(\\.[0-9]{1,2})?",
    ];
    let service = prop_oneof![
        "[a-z]{1,8}",
        ".{0,12}",
        Just("x".repeat(1100)),
        Just(" ".to_string()),
    ];
    prop_oneof![
        any::<String>(),
        "\\PC{0,60}",
        (number.clone(), service.clone(), any::<bool>()).prop_map(|(n, s, tr)| {
            let mut v = json!({"latency_ms": n.parse::<f64>().ok(), "service": s, "level": "ERROR"});
            if tr {
                v["trace_id"] = json!(TRACE);
            }
            v.to_string()
        }),
        (number.clone(), number.clone(), "[a-f0-9-]{0,12}").prop_map(|(d, m, id)| format!(
            "REPORT RequestId: {id}\tDuration: {d} ms\tBilled Duration: {d} ms\tMemory Size: {m} MB\tMax Memory Used: {m} MB\t\nXRAY TraceId: {TRACE}\tSegmentId: 3d752a1b1bbe37e0\tSampled: true\t"
        )),
        (number, "[a-z0-9]{0,8}").prop_map(|(d, id)| json!({
            "time": "2025-01-01T07:30:29.470Z", "type": "platform.report",
            "record": {"requestId": id, "metrics": {"durationMs": d.parse::<f64>().ok()}, "status": "timeout"}
        }).to_string()),
        ("[0-9.]{1,15}", ".{0,20}").prop_map(|(ip, rest)| format!(
            r#"{ip} - - [10/Oct/2000:13:55:36 -0700] "GET /{rest} HTTP/1.1" 404 12 "-" "ua""#
        )),
        prop::collection::vec(("[a-z_.]{1,6}", ".{0,8}"), 0..6).prop_map(|kv| kv
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")),
    ]
}

fn events() -> impl Strategy<Value = Vec<(String, i64, String)>> {
    let ts = prop_oneof![
        any::<i64>(),
        (0i64..600_000).prop_map(|d| 1_700_000_000_000 + d),
    ];
    prop::collection::vec((".{0,60}", ts, message()), 0..24)
}

fn document(group: &str, stream: &str, events: &[(String, i64, String)]) -> String {
    json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012",
        "logGroup": group, "logStream": stream, "subscriptionFilters": ["f"],
        "logEvents": events.iter().map(|(id, ts, m)| json!({"id": id, "timestamp": ts, "message": m})).collect::<Vec<_>>(),
    })
    .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_payload_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // Raw, as the Lambda event itself.
        if let Ok(d) = decode_input(&bytes, &limits()) {
            assert_sendable(&run(&batches(&d)));
        }
        // Wrapped, as the decompressed document of a well-formed subscription event.
        let wrapped = format!("{{\"awslogs\":{{\"data\":\"{}\"}}}}", encode::b64(&encode::gzip(&bytes)));
        let d = decode_input(wrapped.as_bytes(), &limits()).unwrap();
        prop_assert_eq!(d.units.len(), 1);
        assert_sendable(&run(&batches(&d)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_event_becomes_a_record_with_its_metadata_deterministically(
        group in prop_oneof![Just("/aws/lambda/orders".to_string()), ".{0,40}"],
        stream in ".{0,40}",
        events in events(),
    ) {
        let doc = document(&group, &stream, &events);
        let d = decode_input(encode::subscription_event(&doc).as_bytes(), &limits()).unwrap();
        prop_assert!(d.first_error().is_none(), "{:?}", d.first_error());
        let bs = batches(&d);
        let out = run(&bs);
        prop_assert_eq!(out.records.len(), events.len());
        for (r, (id, ts, _)) in out.records.iter().zip(&events) {
            let r = r.to_map();
            prop_assert_eq!(r["@logGroup"].as_str(), Some(group.as_str()));
            prop_assert_eq!(r["@logStream"].as_str(), Some(stream.as_str()));
            prop_assert_eq!(r["@id"].as_str(), Some(id.as_str()));
            prop_assert_eq!(r["@timestamp"].as_i64(), Some(*ts));
        }
        assert_sendable(&out);

        let again = run(&bs);
        prop_assert_eq!(&out.metrics, &again.metrics);
        prop_assert_eq!(&out.segments, &again.segments);
        prop_assert_eq!(&out.records, &again.records);
        prop_assert_eq!(&out.stats, &again.stats);
    }

    #[test]
    fn kinesis_keeps_one_unit_per_record(
        records in prop::collection::vec(
            (prop_oneof![Just(None), "[A-Za-z0-9+/=!]{0,40}".prop_map(Some)], events()),
            0..6,
        ),
    ) {
        let json_records: Vec<Value> = records
            .iter()
            .enumerate()
            .map(|(i, (garbage, evs))| {
                let data = match garbage {
                    Some(g) => g.clone(),
                    None => encode::b64(&encode::gzip(document("/g", "s", evs).as_bytes())),
                };
                json!({"kinesis": {"data": data, "sequenceNumber": i.to_string()}})
            })
            .collect();
        let event = json!({"Records": json_records}).to_string();
        let d = decode_input(event.as_bytes(), &limits()).unwrap();
        prop_assert_eq!(d.units.len(), records.len());
        for (i, (unit, (garbage, evs))) in d.units.iter().zip(&records).enumerate() {
            let seq = i.to_string();
            prop_assert_eq!(unit.record_id.as_deref(), Some(seq.as_str()));
            if garbage.is_none() {
                let got: usize = unit.result.as_ref().unwrap().iter().map(|b| b.events.len()).sum();
                prop_assert_eq!(got, evs.len());
            }
        }
        // Errors are counted once per failed unit.
        let failed = d.units.iter().filter(|u| u.result.is_err()).count() as u64;
        let counted: u64 = d.counters.iter().filter(|(k, _)| k.starts_with("decode.error.")).map(|(_, v)| v).sum();
        prop_assert_eq!(failed, counted);
    }
}
