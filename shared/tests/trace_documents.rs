//! Every segment document the trace stage emits is one X-Ray accepts, whatever the records hold:
//! hostile batches and random ones (proptest) are checked against X-Ray's segment rules.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use logsieve::record::{LogEvent, PlatformEvent, Record, Report, Source, XrayRef};
use logsieve::stats::Counters;
use logsieve::trace::id::parse_xray_trace_id;
use logsieve::trace::segment::{
    MAX_ANNOTATIONS, MAX_ANNOTATION_VALUE_BYTES, MAX_SEGMENT_DOCUMENT_BYTES,
};
use logsieve::trace::{Segment, TraceCollector, TraceRules, TracesConfig};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// X-Ray's segment document rules (developer guide, "Segment documents"), as a JSON schema.
static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let hex16 = json!({"type": "string", "pattern": "^(?!0{16}$)[0-9a-f]{16}$"});
    let schema = json!({
        "type": "object",
        "required": ["name", "id", "trace_id", "start_time", "end_time"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200,
                     "pattern": "^[\\p{L}\\p{N} _.:/%&#=+\\\\\\-@]+$"},
            "id": hex16,
            "parent_id": hex16,
            "trace_id": {"type": "string", "pattern": "^1-[0-9a-f]{8}-[0-9a-f]{24}$"},
            "start_time": {"type": "number"},
            "end_time": {"type": "number"},
            "in_progress": false,
            "fault": {"type": "boolean"},
            "error": {"type": "boolean"},
            "throttle": {"type": "boolean"},
            "origin": {"type": "string"},
            "http": {"type": "object"},
            "aws": {"type": "object"},
            "annotations": {
                "type": "object",
                "maxProperties": MAX_ANNOTATIONS,
                "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
                "additionalProperties": {"type": ["string", "number", "boolean"]}
            },
            "metadata": {
                "type": "object",
                "propertyNames": {"not": {"pattern": "^AWS\\."}}
            }
        }
    });
    jsonschema::validator_for(&schema).unwrap()
});

fn assert_valid(seg: &Segment) -> Value {
    assert!(
        seg.document.len() <= MAX_SEGMENT_DOCUMENT_BYTES,
        "{} bytes",
        seg.document.len()
    );
    let v: Value = serde_json::from_str(&seg.document).unwrap();
    if let Err(e) = SCHEMA.validate(&v) {
        panic!("{e} at {}", e.instance_path);
    }
    assert_eq!(v["id"], seg.id.as_str());
    assert_eq!(v["trace_id"], seg.trace_id.as_str());
    assert!(parse_xray_trace_id(&seg.trace_id).is_some());
    assert!(v["end_time"].as_f64() >= v["start_time"].as_f64());
    if let Some(a) = v.get("annotations").and_then(Value::as_object) {
        for (k, val) in a {
            if let Value::String(s) = val {
                assert!(
                    s.len() <= MAX_ANNOTATION_VALUE_BYTES,
                    "{k}: {} bytes",
                    s.len()
                );
            }
        }
    }
    v
}

fn source(group: &str) -> Arc<Source> {
    Arc::new(Source {
        owner: "123456789012".into(),
        log_group: group.into(),
        log_stream: "s".into(),
        ..Source::default()
    })
}

fn record(
    src: &Arc<Source>,
    id: String,
    ts: i64,
    message: String,
    fields: Map<String, Value>,
) -> Record {
    let mut r = Record::text(
        src.clone(),
        LogEvent {
            id,
            timestamp: ts,
            message,
            extracted_fields: None,
        },
    );
    r.set_fields(fields);
    r
}

fn run(rules: &TraceRules, src: &Source, records: &[Record]) -> (Vec<Segment>, Counters) {
    let mut counters = Counters::new();
    let mut c = TraceCollector::new(rules, src);
    for r in records {
        c.observe(r, &mut counters);
    }
    (c.finish(&mut counters), counters)
}

/// Config whose annotations and metadata all point at fields the hostile records fill.
fn greedy_rules() -> TraceRules {
    let annotations: BTreeMap<String, String> = (0..MAX_ANNOTATIONS)
        .map(|i| (format!("a{i}"), format!("$.f{i}")))
        .collect();
    TracesConfig {
        service_name: None,
        annotations,
        metadata: (0..30).map(|i| format!("$.m{i}")).collect(),
        ..TracesConfig::default()
    }
    .validate()
    .unwrap()
}

#[test]
fn hostile_records_still_give_valid_documents() {
    let trace = "1-5759e988-bd862e3fe1be46a994272793";
    let group = format!("/aws/lambda/{}", "!@#$%^&*()<>?\"'\n\t".repeat(1000));
    let src = source(&group);
    let mut records = Vec::new();
    for n in 0..5 {
        let mut fields = Map::new();
        fields.insert("trace_id".into(), json!(trace));
        fields.insert("level".into(), json!("error"));
        for i in 0..MAX_ANNOTATIONS {
            // Control characters escape to six bytes each: 1000 of them are 6 KB of JSON.
            fields.insert(format!("f{i}"), json!("\u{1}".repeat(2000) + "é"));
        }
        for i in 0..30 {
            fields.insert(format!("m{i}"), json!({"blob": "x".repeat(40_000)}));
        }
        for i in 0..300 {
            fields.insert(
                format!("{}{i}", ".-:/ ".repeat(20)),
                json!("y".repeat(3000)),
            );
        }
        fields.insert("huge".into(), json!("z".repeat(1 << 20)));
        let message = format!("{} {trace} {}", "Root=".repeat(10_000), "-".repeat(100_000));
        records.push(record(&src, format!("id{n}"), n, message, fields));
    }
    let rules = greedy_rules();
    let (segs, counters) = run(&rules, &src, &records);
    assert_eq!(segs.len(), 1);
    let v = assert_valid(&segs[0]);
    let annotations = v["annotations"].as_object().unwrap();
    assert!(!annotations.is_empty() && annotations.len() <= MAX_ANNOTATIONS);
    // 57 candidates (50 configured + 7 built-ins), so some were dropped for count or size.
    assert!(counters.get("trace.annotations_dropped") > 0);
    assert!(counters.get("trace.metadata_dropped") > 0);
    assert!(v["name"].as_str().unwrap().chars().count() <= 200);
}

#[test]
fn report_with_xray_ref_joins_the_trace() {
    let src = source("/aws/lambda/fn");
    let mut r = record(
        &src,
        "e".into(),
        1_000,
        "REPORT RequestId: r1".into(),
        Map::new(),
    );
    r.platform = Some(PlatformEvent::Report(Report {
        request_id: "r1".into(),
        status: Some("timeout".into()),
        xray: Some(XrayRef {
            trace_id: "1-5d9d007f-0a8c7fd02a0b480aed55ef00".into(),
            segment_id: Some("3d752a1b1bbe37e0".into()),
            sampled: Some(true),
        }),
        ..Report::default()
    }));
    let (segs, _) = run(&TraceRules::default(), &src, &[r]);
    let v = assert_valid(&segs[0]);
    assert_eq!(v["parent_id"], "3d752a1b1bbe37e0");
    assert_eq!(v["annotations"]["log_errors"], 1);
    assert_eq!(v["annotations"]["request_id"], "r1");
    assert_eq!(v["fault"], true);
}

const IDS: &[&str] = &[
    "1-5759e988-bd862e3fe1be46a994272793",
    "4efaaf4d1e8720b39541901950019ee5",
    "00-4efaaf4d1e8720b39541901950019ee5-00f067aa0ba902b7-01",
    "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1",
    "1-00000000-000000000000000000000000",
    "not-an-id",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,64}".prop_map(Value::String),
        prop::sample::select(IDS).prop_map(|s| json!(s)),
        (0usize..5000).prop_map(|n| json!("\"\\\u{7}".repeat(n))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn fields() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        prop::sample::select(
            &[
                "trace_id",
                "traceId",
                "traceparent",
                "level",
                "status",
                "statusCode",
                "requestId",
                "errorType",
                "span_id",
                "user",
                "code",
                "X-Amzn-Trace-Id",
            ][..]
        )
        .prop_map(str::to_string),
        ".{0,16}",
    ];
    prop::collection::btree_map(key, json_value(), 0..12).prop_map(|m| m.into_iter().collect())
}

fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        (prop::sample::select(IDS), ".{0,40}", ".{0,40}")
            .prop_map(|(id, a, b)| format!("{a} {id} {b}")),
        prop::sample::select(IDS)
            .prop_map(|id| format!("XRAY TraceId: {id}\tSegmentId: 3d752a1b1bbe37e0")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_records_give_valid_documents(
        group in prop_oneof![Just("/aws/lambda/fn".to_string()), ".{0,80}"],
        records in prop::collection::vec((message(), fields(), any::<i64>(), any::<bool>()), 1..24),
    ) {
        let src = source(&group);
        let rules = TracesConfig {
            annotations: [("code", "$.code"), ("user.id", "$.user.id"), ("lvl", "level")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            metadata: vec!["$.user".into(), "code".into()],
            include_unsampled: true,
            ..TracesConfig::default()
        }
        .validate()
        .unwrap();
        let records: Vec<Record> = records
            .into_iter()
            .enumerate()
            .map(|(i, (message, fields, ts, report))| {
                let mut r = record(&src, i.to_string(), ts, message, fields);
                if report {
                    r.platform = Some(PlatformEvent::Report(Report {
                        request_id: "r".into(),
                        xray: Some(XrayRef { trace_id: IDS[i % IDS.len()].into(), segment_id: None, sampled: None }),
                        ..Report::default()
                    }));
                }
                r
            })
            .collect();
        let (segs, _) = run(&rules, &src, &records);
        let (again, _) = run(&rules, &src, &records);
        prop_assert_eq!(&segs, &again);
        let mut ids = std::collections::HashSet::new();
        for seg in &segs {
            assert_valid(seg);
            prop_assert!(ids.insert(seg.trace_id.clone()), "one segment per trace");
        }
    }
}
