use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use prost::Message;
use serde_json::{json, Value};

use super::ndjson::*;
use super::otlp::*;
use super::*;

fn sinks_from(toml_text: &str, env: &[(&str, &str)]) -> Result<RecordSinks, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    crate::config::CheckedConfig::from_toml_with_env(toml_text, |k| env.get(k).cloned())
        .map(|c| c.record_sinks)
}

#[test]
fn config_errors_name_the_key() {
    let cases: &[(&str, &str)] = &[
        ("[[records.sinks]]\nkind = \"otlp\"", "records.sinks[0].endpoint"),
        (
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"ftp://x\"",
            "records.sinks[0].endpoint",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"https://user:pw@host\"",
            "records.sinks[0].endpoint",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\npreset = \"honeycomb\"",
            "records.sinks[0].headers",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\npreset = \"datadog\"",
            "records.sinks[0].preset",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\npreset = \"honeycomb\"\nregion = \"ap\"\nheaders = { x-honeycomb-team = \"k\" }",
            "records.sinks[0].region",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"http://h\"\nmax_request_bytes = 10",
            "records.sinks[0].max_request_bytes",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"http://h\"\ncompression = \"zstd\"",
            "records.sinks[0].compression",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"http://h\"\nheaders = { \"bad header\" = \"v\" }",
            "records.sinks[0].headers",
        ),
        ("[[records.sinks]]\nkind = \"firehose\"", "records.sinks[0].delivery_stream"),
        (
            "[[records.sinks]]\nkind = \"firehose\"\ndelivery_stream = \"s\"\nendpoint = \"http://h\"",
            "records.sinks[0].endpoint",
        ),
        ("[[records.sinks]]\nkind = \"s3\"", "records.sinks[0].bucket"),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"Upper_Case\"",
            "records.sinks[0].bucket",
        ),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"good-bucket\"\ndelivery_stream = \"x\"",
            "records.sinks[0].delivery_stream",
        ),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"good-bucket\"\npack = true",
            "records.sinks[0].pack",
        ),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"b-1\"\n[[records.sinks]]\nkind = \"s3\"\nbucket = \"b-2\"",
            "records.sinks[1].name",
        ),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"b-1\"\nname = \"a/b\"",
            "records.sinks[0].name",
        ),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"b-1\"\nlog_groups = [\"[\"]",
            "records.sinks[0].log_groups[0]",
        ),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"b-1\"\ngzip_level = 0",
            "records.sinks[0].gzip_level",
        ),
        (
            "[[records.sinks]]\nkind = \"s3\"\nbucket = \"b-1\"\ngzip_level = 10",
            "records.sinks[0].gzip_level",
        ),
        (
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"http://h\"\ngzip_level = 1",
            "records.sinks[0].gzip_level",
        ),
        (
            "[[records.sinks]]\nkind = \"firehose\"\ndelivery_stream = \"s\"\ngzip_level = 1",
            "records.sinks[0].gzip_level",
        ),
        ("[records.spill]\nbucket = \"x\"", "records.spill.bucket"),
    ];
    for (text, key) in cases {
        let e = sinks_from(text, &[]).expect_err(text);
        assert_eq!(&e.key, key, "{text}: {e}");
    }
    // Unknown settings are refused by the parser, with their line.
    let e = sinks_from("[[records.sinks]]\nkind = \"s3\"\nbukket = \"x\"", &[]).unwrap_err();
    assert!(e.to_string().contains("bukket"), "{e}");
}

#[test]
fn endpoints_presets_and_headers() {
    let s = sinks_from(
        "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"http://127.0.0.1:4318/\"\nheaders = { X-Team = \"abc\", x-env = { env = \"K\" }, x-sec = { secret = \"arn:aws:secretsmanager:us-east-1:1:secret:s\", key = \"k\" }, x-par = { parameter = \"/p\" } }",
        &[],
    )
    .unwrap();
    let SinkTarget::Otlp(t) = &s.sinks[0].target else {
        panic!("not otlp")
    };
    assert_eq!(t.url, "http://127.0.0.1:4318/v1/logs");
    assert!(t.gzip);
    assert_eq!(t.max_request_bytes, DEFAULT_OTLP_MAX_REQUEST_BYTES);
    let h: HashMap<&str, &HeaderSource> = t.headers.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(h["x-team"], &HeaderSource::Literal("abc".into()));
    assert_eq!(h["x-env"], &HeaderSource::Env { env: "K".into() });
    assert_eq!(
        h["x-sec"],
        &HeaderSource::Secret {
            secret: "arn:aws:secretsmanager:us-east-1:1:secret:s".into(),
            key: Some("k".into())
        }
    );
    assert_eq!(
        h["x-par"],
        &HeaderSource::Parameter {
            parameter: "/p".into()
        }
    );

    let hc = |region: &str| {
        let s = sinks_from(
            &format!("[[records.sinks]]\nkind = \"otlp\"\npreset = \"honeycomb\"\n{region}\nheaders = {{ x-honeycomb-team = {{ secret = \"arn\" }} }}"),
            &[],
        )
        .unwrap();
        match &s.sinks[0].target {
            SinkTarget::Otlp(t) => t.url.clone(),
            _ => panic!(),
        }
    };
    assert_eq!(hc(""), "https://api.honeycomb.io/v1/logs");
    assert_eq!(
        hc("region = \"eu\""),
        "https://api.eu1.honeycomb.io/v1/logs"
    );

    // logs_endpoint is used as it is.
    let s = sinks_from(
        "[[records.sinks]]\nkind = \"otlp\"\nlogs_endpoint = \"https://c.example/custom\"",
        &[],
    )
    .unwrap();
    assert!(
        matches!(&s.sinks[0].target, SinkTarget::Otlp(t) if t.url == "https://c.example/custom")
    );
}

#[test]
fn the_otel_variables_work_as_in_every_sdk() {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=ab%2Ccd, x-b = 2,novalue",
        ),
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod,team=core",
        ),
        ("AWS_REGION", "eu-west-1"),
    ];
    let s = sinks_from("", &env).unwrap();
    assert_eq!(s.sinks.len(), 1);
    assert_eq!(s.sinks[0].name, "otlp");
    let SinkTarget::Otlp(t) = &s.sinks[0].target else {
        panic!()
    };
    assert_eq!(t.url, "https://api.honeycomb.io/v1/logs");
    assert_eq!(
        t.headers,
        vec![
            ("x-b".to_string(), HeaderSource::Literal("2".into())),
            (
                "x-honeycomb-team".to_string(),
                HeaderSource::Literal("ab,cd".into())
            ),
        ]
    );
    assert_eq!(t.resource.service_name.as_deref(), Some("checkout"));
    assert_eq!(t.resource.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        t.resource.extra,
        vec![
            ("deployment.environment".to_string(), "prod".to_string()),
            ("team".to_string(), "core".to_string())
        ]
    );
    // The logs-specific endpoint wins over the base one.
    let s = sinks_from(
        "",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://a"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://b/logs"),
        ],
    )
    .unwrap();
    assert!(matches!(&s.sinks[0].target, SinkTarget::Otlp(t) if t.url == "https://b/logs"));
    // A configured endpoint is not replaced by the environment's.
    let s = sinks_from(
        "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"http://mine\"",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://other")],
    )
    .unwrap();
    assert_eq!(s.sinks.len(), 1);
    assert!(matches!(&s.sinks[0].target, SinkTarget::Otlp(t) if t.url == "http://mine/v1/logs"));
}

#[test]
fn template_variables_add_firehose_s3_and_spill() {
    let s = sinks_from(
        "",
        &[
            ("LOGSIEVE_RECORDS_FIREHOSE_STREAM", "records"),
            ("LOGSIEVE_RECORDS_BUCKET", "archive-bucket"),
            ("LOGSIEVE_SPILL_BUCKET", "spill-bucket"),
            ("LOGSIEVE_SPILL_PREFIX", "/undelivered/"),
        ],
    )
    .unwrap();
    let kinds: Vec<(&str, SinkKind)> = s
        .sinks
        .iter()
        .map(|k| (k.name.as_str(), k.target.kind()))
        .collect();
    assert_eq!(
        kinds,
        [("firehose", SinkKind::Firehose), ("s3", SinkKind::S3)]
    );
    assert_eq!(
        s.sinks[1].target,
        SinkTarget::S3 {
            location: BucketPrefix {
                bucket: "archive-bucket".into(),
                prefix: "logs".into()
            },
            gzip_level: DEFAULT_S3_GZIP_LEVEL,
        }
    );
    assert_eq!(
        s.spill,
        Some(BucketPrefix {
            bucket: "spill-bucket".into(),
            prefix: "undelivered".into()
        })
    );
    // No variables, no sinks: today's behaviour.
    assert!(sinks_from("", &[]).unwrap().is_empty());
}

#[test]
fn routing_by_log_group_globs() {
    let s = sinks_from(
        "[[records.sinks]]\nkind = \"s3\"\nbucket = \"all-logs\"\n[[records.sinks]]\nkind = \"firehose\"\ndelivery_stream = \"x\"\nlog_groups = [\"/aws/lambda/*\"]\n[[records.sinks]]\nkind = \"none\"",
        &[],
    )
    .unwrap();
    let names = |g: &str| s.for_group(g).map(|k| k.name.clone()).collect::<Vec<_>>();
    assert_eq!(names("/aws/lambda/f"), ["s3", "firehose"]);
    assert_eq!(names("/ecs/web"), ["s3"]);
}

fn rec(v: Value) -> OutputRecord {
    match v {
        Value::Object(m) => OutputRecord::from_map(&m),
        _ => panic!(),
    }
}

fn span(group: &str, start: usize, end: usize) -> BatchSpan {
    BatchSpan {
        log_group: group.into(),
        log_stream: "2026/11/30/[$LATEST]abc".into(),
        owner: "123456789012".into(),
        start,
        end,
        ..BatchSpan::default()
    }
}

fn target(max: usize) -> OtlpTarget {
    OtlpTarget {
        url: "http://x/v1/logs".into(),
        headers: vec![],
        headers_secret: None,
        resource: ResourceSettings {
            region: Some("us-east-1".into()),
            ..Default::default()
        },
        max_request_bytes: max,
        gzip: true,
    }
}

fn attr<'a>(
    attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    k: &str,
) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|a| a.key == k)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

#[test]
fn otlp_record_mapping() {
    let records = vec![
        rec(
            json!({"@timestamp": 1764500000123i64, "@logGroup": "/aws/lambda/checkout",
            "@logStream": "st", "@id": "38000000000000000000000001", "@format": "json",
            "@traceId": "1-5759e988-bd862e3fe1be46a994272793", "@spanId": "53995c3f42cd8ad8",
            "@level": "ERROR", "message": "payment failed", "status": 502, "ratio": 0.5,
            "ok": false, "user": {"tier": "gold"}, "tags": ["a", 1], "nothing": null}),
        ),
        rec(
            json!({"@timestamp": 1764500000124i64, "@id": "2", "@traceId": "1-00000000-000000000000000000000001",
            "@level": "WARN", "msg": "slow", "@sampleRate": 10, "@joined": 3}),
        ),
        rec(json!({"@timestamp": 5, "@id": "3", "text": "no body"})),
    ];
    let spans = [span("/aws/lambda/checkout", 0, 3)];
    let reqs = encode(&records, &[&spans[0]], &target(1 << 20), 42);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].records, [0, 1, 2]);
    let req = ExportLogsServiceRequest::decode(reqs[0].body.as_slice()).unwrap();
    assert_eq!(req.resource_logs.len(), 1);
    let rl = &req.resource_logs[0];
    let res = &rl.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(res, "cloud.provider"), Some(&s("aws")));
    assert_eq!(attr(res, "cloud.platform"), Some(&s("aws_lambda")));
    assert_eq!(attr(res, "cloud.region"), Some(&s("us-east-1")));
    assert_eq!(attr(res, "cloud.account.id"), Some(&s("123456789012")));
    assert_eq!(attr(res, "faas.name"), Some(&s("checkout")));
    assert_eq!(attr(res, "service.name"), Some(&s("checkout")));
    let Some(any_value::Value::ArrayValue(groups)) = attr(res, "aws.log.group.names") else {
        panic!("group names not an array")
    };
    assert_eq!(groups.values[0].value, Some(s("/aws/lambda/checkout")));
    let scope = &rl.scope_logs[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "logsieve");
    let [a, b, c] = &scope.log_records[..] else {
        panic!("3 records")
    };
    assert_eq!(a.time_unix_nano, 1_764_500_000_123_000_000);
    assert_eq!(a.observed_time_unix_nano, 42);
    assert_eq!((a.severity_number, a.severity_text.as_str()), (17, "ERROR"));
    assert_eq!(
        a.trace_id,
        [
            0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27,
            0x27, 0x93
        ]
    );
    assert_eq!(a.span_id, [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8]);
    assert_eq!(a.body.as_ref().unwrap().value, Some(s("payment failed")));
    assert_eq!(
        attr(&a.attributes, "status"),
        Some(&any_value::Value::IntValue(502))
    );
    assert_eq!(
        attr(&a.attributes, "ratio"),
        Some(&any_value::Value::DoubleValue(0.5))
    );
    assert_eq!(
        attr(&a.attributes, "ok"),
        Some(&any_value::Value::BoolValue(false))
    );
    assert_eq!(
        attr(&a.attributes, "log.record.uid"),
        Some(&s("38000000000000000000000001"))
    );
    assert!(
        attr(&a.attributes, "message").is_none(),
        "the body is not repeated"
    );
    assert!(
        a.attributes.iter().all(|k| !k.key.starts_with('@')),
        "{:?}",
        a.attributes
    );
    let Some(any_value::Value::KvlistValue(user)) = attr(&a.attributes, "user") else {
        panic!("nested object")
    };
    assert_eq!(user.values[0].key, "tier");
    let nothing = a.attributes.iter().find(|k| k.key == "nothing").unwrap();
    assert_eq!(nothing.value, Some(AnyValue { value: None }));
    assert_eq!(
        (b.severity_number, b.body.as_ref().unwrap().value.clone()),
        (13, Some(s("slow")))
    );
    assert_eq!(b.trace_id[15], 1);
    assert!(b.span_id.is_empty());
    assert_eq!(
        attr(&b.attributes, "SampleRate"),
        Some(&any_value::Value::IntValue(10))
    );
    // A multiline-joined record says how many log events it was made of; others say nothing.
    assert_eq!(
        attr(&b.attributes, JOINED_ATTRIBUTE),
        Some(&any_value::Value::IntValue(3))
    );
    assert!(attr(&a.attributes, JOINED_ATTRIBUTE).is_none());
    assert_eq!((c.severity_number, c.body.is_none()), (0, true));
    assert!(c.trace_id.is_empty());
}

/// Integers past `i64` are doubles, as serde_json's `Value` reads them, however the record's
/// members are found.
#[test]
fn otlp_integers_past_i64_are_doubles() {
    let record = rec(json!({"@timestamp": 1, "@id": "1", "big": u64::MAX, "small": 7, "neg": -7}));
    assert!(record.members().is_none(), "indexed from its text");
    let reqs = encode(&[record], &[&span("/ecs/web", 0, 1)], &target(1 << 20), 0);
    let req = ExportLogsServiceRequest::decode(reqs[0].body.as_slice()).unwrap();
    let log = &req.resource_logs[0].scope_logs[0].log_records[0];
    let cases = [
        ("big", any_value::Value::DoubleValue(u64::MAX as f64)),
        ("small", any_value::Value::IntValue(7)),
        ("neg", any_value::Value::IntValue(-7)),
    ];
    for (k, want) in cases {
        assert_eq!(attr(&log.attributes, k), Some(&want), "{k}");
    }
}

#[test]
fn severity_and_trace_id_tables() {
    for (level, n) in [
        ("TRACE", 1),
        ("debug", 5),
        ("INFO", 9),
        ("warning", 13),
        ("ERROR", 17),
        ("FATAL", 21),
        ("chatty", 0),
    ] {
        assert_eq!(severity_number(level), n, "{level}");
    }
    let cases: &[(&str, Option<&str>)] = &[
        (
            "1-58406520-a006649127e371903a2de979",
            Some("58406520a006649127e371903a2de979"),
        ),
        (
            "4bf92f3577b34da6a3ce929d0e0e4736",
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
        (
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
        ("1-00000000-000000000000000000000000", None),
        ("1-5840652-a006649127e371903a2de979", None),
        ("zz", None),
    ];
    // One byte that is not a hex digit, anywhere, refuses the id: the neighbours of each digit
    // range, a space and a byte of a multibyte character.
    let valid = "4bf92f3577b34da6a3ce929d0e0e4736";
    for bad in ["/", ":", "@", "G", "`", "g", " "] {
        for at in [0, 7, 31] {
            let id = format!("{}{bad}{}", &valid[..at], &valid[at + 1..]);
            assert_eq!(trace_id_bytes(&id), None, "{id}");
        }
    }
    assert_eq!(trace_id_bytes("4bf92f3577b34da6a3ce929d0e0e47é"), None);
    for (id, hex) in cases {
        let got =
            trace_id_bytes(id).map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>());
        assert_eq!(got.as_deref(), *hex, "{id}");
    }
}

#[test]
fn resources_per_group_stream_and_service() {
    let records: Vec<_> = (0..6)
        .map(|i| rec(json!({"@timestamp": i, "@id": i.to_string(), "svc": if i < 4 { "a" } else { "b" }, "message": "m"})))
        .collect();
    let spans = [span("/ecs/web", 0, 2), span("/aws/lambda/f", 2, 6)];
    let mut t = target(1 << 20);
    t.resource.service_name_field = Some("svc".into());
    t.resource.extra = vec![
        ("team".into(), "core".into()),
        ("cloud.provider".into(), "gcp".into()),
    ];
    let reqs = encode(&records, &[&spans[0], &spans[1]], &t, 0);
    let req = ExportLogsServiceRequest::decode(reqs[0].body.as_slice()).unwrap();
    let summary: Vec<(String, usize)> = req
        .resource_logs
        .iter()
        .map(|rl| {
            let attrs = &rl.resource.as_ref().unwrap().attributes;
            let Some(any_value::Value::StringValue(svc)) = attr(attrs, "service.name") else {
                panic!()
            };
            assert_eq!(attr(attrs, "team"), Some(&s("core")));
            assert_eq!(attr(attrs, "cloud.provider"), Some(&s("aws")), "ours wins");
            (svc.clone(), rl.scope_logs[0].log_records.len())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a".to_string(), 2),
            ("a".to_string(), 2),
            ("b".to_string(), 2)
        ]
    );
}

#[test]
fn requests_stay_under_the_size_and_hold_every_record_once() {
    let records: Vec<_> = (0..3000)
        .map(|i| {
            rec(
                json!({"@timestamp": i, "@id": format!("id-{i}"), "@level": "INFO",
            "message": "x".repeat(i % 700), "n": i}),
            )
        })
        .collect();
    let spans = [span("/a", 0, 1000), span("/b", 1000, 3000)];
    let max = 64 * 1024;
    let reqs = encode(&records, &[&spans[0], &spans[1]], &target(max), 0);
    assert!(reqs.len() > 10, "{} requests", reqs.len());
    let mut seen = Vec::new();
    for r in &reqs {
        assert!(r.body.len() <= max, "{} > {max}", r.body.len());
        let req = ExportLogsServiceRequest::decode(r.body.as_slice()).unwrap();
        let n: usize = req
            .resource_logs
            .iter()
            .map(|rl| rl.scope_logs[0].log_records.len())
            .sum();
        assert_eq!(n, r.records.len());
        seen.extend(r.records.iter().copied());
    }
    assert_eq!(seen, (0..3000).collect::<Vec<_>>());
    // One record over the size still goes, alone.
    let big = vec![
        rec(json!({"@id": "big", "message": "y".repeat(100_000)})),
        rec(json!({"@id": "small"})),
    ];
    let reqs = encode(
        &big,
        &[&span("/a", 0, 2)],
        &target(MIN_OTLP_MAX_REQUEST_BYTES),
        0,
    );
    assert_eq!(
        reqs.iter().map(|r| r.records.clone()).collect::<Vec<_>>(),
        [vec![0], vec![1]]
    );
}

#[test]
fn firehose_batches_respect_the_api_limits() {
    let small: Vec<_> = (0..1201).map(|i| rec(json!({"@id": i}))).collect();
    let (batches, over) = firehose_batches(&small, 0..1201, false);
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        [500, 500, 201]
    );
    assert!(over.is_empty());
    assert_eq!(batches[0][0].data, b"{\"@id\":0}\n");
    assert_eq!(batches[0][0].records, [0]);
    // ~900 KB records: four fit under 4 MiB, the fifth starts a new call; 1.1 MB is refused.
    let mut big: Vec<_> = (0..5)
        .map(|i| rec(json!({"@id": i, "m": "z".repeat(900_000)})))
        .collect();
    big.push(rec(json!({"@id": 9, "m": "z".repeat(1_100_000)})));
    let (batches, over) = firehose_batches(&big, 0..6, false);
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 1]);
    assert_eq!(over, [5]);
    for b in &batches {
        assert!(b.iter().map(|e| e.data.len()).sum::<usize>() <= FIREHOSE_MAX_BATCH_BYTES);
    }
}

#[test]
fn packed_firehose_entries_hold_many_lines_within_the_record_limit() {
    // 3,000 lines of ~700 bytes: ~2.1 MB, so three entries of at most 1,024,000 bytes.
    let records: Vec<_> = (0..3000)
        .map(|i| rec(json!({"@id": i, "m": "p".repeat(680)})))
        .collect();
    let (batches, over) = firehose_batches(&records, 0..3000, true);
    assert!(over.is_empty());
    assert_eq!(batches.len(), 1, "three entries fit one call");
    let entries = &batches[0];
    assert_eq!(entries.len(), 3);
    let mut seen = Vec::new();
    for e in entries {
        assert!(
            e.data.len() <= FIREHOSE_MAX_RECORD_BYTES,
            "{}",
            e.data.len()
        );
        let lines: Vec<Value> = e
            .data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        // Each entry's lines are exactly the records it names, in order.
        let ids: Vec<usize> = lines
            .iter()
            .map(|l| l["@id"].as_u64().unwrap() as usize)
            .collect();
        assert_eq!(ids, e.records);
        seen.extend(ids);
    }
    assert_eq!(seen, (0..3000).collect::<Vec<_>>());
    // A line too large for any record is still handed back, packed or not.
    let mut with_big = records[..2].to_vec();
    with_big.push(rec(json!({"@id": "big", "m": "z".repeat(1_100_000)})));
    assert_eq!(firehose_batches(&with_big, 0..3, true).1, [2]);
}

#[test]
fn s3_keys_are_deterministic_and_dated_by_the_events() {
    let records: Vec<_> = (0..3)
        .map(|i| {
            rec(json!({"@timestamp": 1764502200000i64 + i, "@id": format!("e{i}"), "message": "m"}))
        })
        .collect();
    let loc = BucketPrefix {
        bucket: "b".into(),
        prefix: "logs".into(),
    };
    let sp = span("/aws/lambda/f", 0, 3);
    let (key, body) = s3_object(&loc, &records, &sp, DEFAULT_S3_GZIP_LEVEL);
    // 1764502200 s = 2025-11-30 11:30:00 UTC.
    assert!(key.starts_with("logs/aws/lambda/f/2025/11/30/11/"), "{key}");
    assert!(key.ends_with(".ndjson.gz"));
    assert_eq!(
        s3_object(&loc, &records, &sp, DEFAULT_S3_GZIP_LEVEL).0,
        key,
        "same batch, same key"
    );
    let other = span("/aws/lambda/f", 0, 2);
    assert_ne!(
        s3_object(&loc, &records, &other, DEFAULT_S3_GZIP_LEVEL).0,
        key
    );
    // The key names the records, not how they were compressed.
    assert_eq!(s3_object(&loc, &records, &sp, 1).0, key);
    let text = crate::decode::gunzip_capped(&body, 1 << 20).unwrap();
    let lines: Vec<Value> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["@id"], "e2");
    assert_eq!(hour_path(0), "1970/01/01/00");
    assert_eq!(hour_path(951_782_400_000), "2000/02/29/00");
    // 1700000000 s is 2023-11-14T22:13:20Z (`date -u -d @1700000000`); a millisecond before
    // the epoch is still 1969's last hour, not 1970's first.
    assert_eq!(hour_path(1_700_000_000_000), "2023/11/14/22");
    assert_eq!(hour_path(-1), "1969/12/31/23");
    assert_eq!(hour_path(1_709_251_199_999), "2024/02/29/23");
}

#[test]
fn s3_objects_past_the_gzip_input_buffer_hold_every_line() {
    // Several times the 64 KiB handed to the compressor at a time, with lines that straddle
    // each boundary.
    let records: Vec<_> = (0..3000)
        .map(|i| rec(json!({"@timestamp": i, "@id": i.to_string(), "m": "x".repeat(i % 300)})))
        .collect();
    let loc = BucketPrefix {
        bucket: "b".into(),
        prefix: "logs".into(),
    };
    let want: String = records.iter().map(|r| format!("{}\n", r.json())).collect();
    assert!(want.len() > 4 * 64 * 1024, "{} bytes", want.len());
    let sp = span("/a", 0, records.len());
    let mut sizes = Vec::new();
    for level in [1, DEFAULT_S3_GZIP_LEVEL, 9] {
        let (_, body) = s3_object(&loc, &records, &sp, level);
        let text = crate::decode::gunzip_capped(&body, 1 << 24).unwrap();
        assert_eq!(text, want.as_bytes(), "level {level}");
        sizes.push(body.len());
    }
    // The level reaches the encoder: the fastest level writes the largest object.
    assert!(sizes[0] > sizes[2], "{sizes:?}");
}

#[test]
fn the_gzip_level_reaches_its_s3_sink() {
    let level_of = |toml: &str, env: &[(&str, &str)]| {
        sinks_from(toml, env).map(|s| match s.sinks[0].target {
            SinkTarget::S3 { gzip_level, .. } => gzip_level,
            _ => 0,
        })
    };
    let bucket = ("LOGSIEVE_RECORDS_BUCKET", "archive-bucket");
    let var = "LOGSIEVE_RECORDS_GZIP_LEVEL";
    let declared = "[[records.sinks]]\nkind = \"s3\"\nbucket = \"b-1\"\ngzip_level = 9";
    // (config, environment, the sink's level)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u32);
    let cases: &[Case] = &[
        ("", &[bucket], DEFAULT_S3_GZIP_LEVEL),
        ("", &[bucket, (var, " 1 ")], 1),
        (declared, &[], 9),
        // A sink the config declares keeps its own level.
        (declared, &[bucket, (var, "1")], 9),
    ];
    for &(toml, env, want) in cases {
        assert_eq!(level_of(toml, env).unwrap(), want, "{toml} {env:?}");
    }
    for bad in ["0", "10", "fast", "-1", "6.5"] {
        let e = level_of("", &[bucket, (var, bad)]).unwrap_err();
        assert_eq!(e.key, var, "{bad}: {e}");
    }
}

#[test]
fn spill_objects_read_back_whole() {
    let records: Vec<_> = (0..4)
        .map(|i| rec(json!({"@timestamp": i, "@id": i.to_string(), "m": "é\n\"x"})))
        .collect();
    let a = SpillSection::new(
        "hc",
        SinkKind::Otlp,
        &span("/a", 0, 2),
        records[..2].to_vec(),
    );
    let b = SpillSection::new(
        "hc",
        SinkKind::Otlp,
        &span("/b", 2, 4),
        records[2..].to_vec(),
    );
    let loc = BucketPrefix {
        bucket: "b".into(),
        prefix: "spill".into(),
    };
    let (key, body) = spill_object(&loc, "hc", &[a.clone(), b.clone()]);
    assert!(key.starts_with("spill/hc/1970/01/01/00/"), "{key}");
    let back = read_spill(&body).unwrap();
    assert_eq!(back, [a.clone(), b]);
    assert_eq!(back[0].span().end, 2);
    assert_eq!(back[1].header.log_group, "/b");
    // Damaged objects are typed errors, never a panic.
    assert!(matches!(read_spill(b"nope"), Err(SpillError::Inflate(_))));
    let gz = |t: &str| logsieve_testkit::encode::gzip(t.as_bytes());
    assert_eq!(
        read_spill(&gz("{\"a\":1}\n")),
        Err(SpillError::NoHeader { line: 1 })
    );
    assert!(matches!(
        read_spill(&gz("{\"@spill\":{\"version\":1}}\n")),
        Err(SpillError::Line { line: 1, .. })
    ));
    assert!(matches!(
        read_spill(&gz("{\"@spill\":{\"version\":9,\"sink\":\"s\",\"kind\":\"s3\",\"logGroup\":\"g\",\"logStream\":\"s\"}}\n")),
        Err(SpillError::Version(9))
    ));
    assert!(matches!(read_spill(&gz("{\"@spill\":{\"version\":1,\"sink\":\"s\",\"kind\":\"s3\",\"logGroup\":\"g\",\"logStream\":\"s\"}}\n{tr")), Err(SpillError::Line { line: 2, .. })));
}

#[test]
fn otlp_resource_attributes_read_the_batch_tags() {
    let toml = r#"
[[records.sinks]]
kind = "otlp"
endpoint = "https://collector.example"
resource_attributes = { team = "$tags.team", "deployment.environment" = "prod", stack = "$tags.aws:cloudformation:stack-name" }
"#;
    let sinks = sinks_from(toml, &[("AWS_REGION", "us-east-1")]).unwrap();
    let SinkTarget::Otlp(t) = &sinks.sinks[0].target else {
        panic!()
    };
    let records = vec![rec(json!({"@timestamp": 1, "@id": "1", "message": "m"}))];
    let tagged = BatchSpan {
        tags: std::sync::Arc::new(
            [("team".to_string(), "payments".to_string())]
                .into_iter()
                .collect(),
        ),
        ..span("/aws/lambda/checkout", 0, 1)
    };
    let untagged = span("/aws/lambda/checkout", 0, 1);
    let attrs_of = |sp: &BatchSpan| {
        let reqs = encode(&records, &[sp], t, 42);
        let req = ExportLogsServiceRequest::decode(reqs[0].body.as_slice()).unwrap();
        req.resource_logs[0].resource.clone().unwrap().attributes
    };
    let res = attrs_of(&tagged);
    assert_eq!(attr(&res, "team"), Some(&s("payments")));
    assert_eq!(attr(&res, "deployment.environment"), Some(&s("prod")));
    // A tag the resources lack is left out, not sent empty.
    assert_eq!(attr(&res, "stack"), None);
    let res = attrs_of(&untagged);
    assert_eq!(attr(&res, "team"), None);
    assert_eq!(attr(&res, "deployment.environment"), Some(&s("prod")));
}
