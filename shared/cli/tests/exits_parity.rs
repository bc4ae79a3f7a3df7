//! The two pipeline modes send the same thing: with records (the CLI, the Firehose filter) every
//! record is redacted before any stage reads it; without (the subscription and Kinesis
//! functions) only the values that leave are. One config — dimensions and trace values read from
//! sensitive and benign fields, secrets in the log group and stream names — runs through both,
//! and through the `logsieve process` binary; every metric datum, segment annotation, metadata
//! value and name must be equal, and no planted secret may appear in any output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::pipeline::{Output, Pipeline};
use logsieve::record::{Batch, LogEvent, Source};
use logsieve_testkit::encode;
use serde_json::{json, Value};

const CONFIG: &str = r#"
[metrics]
namespace = "Parity"

[[metrics.rule]]
metric_name = "Logins"
filter_pattern = '{ $.user = * }'
dimensions = { User = "$.user", Pw = "$.password", Auth = "$.headers.Authorization", Service = "$.service" }

[[metrics.rule]]
metric_name = "DbCalls"
filter_pattern = '{ $.db.host = * }'
metric_value = "$.db.ms"
dimensions = { Host = "$.db.host", DbPw = "$.db.password" }

[[metrics.rule]]
metric_name = "PinSum"
filter_pattern = '{ $.pin_token = * }'
metric_value = "$.pin_token"

[[metrics.rule]]
metric_name = "Words"
filter_pattern = '[verb = "LOGIN", user, password]'
dimensions = { Verb = "$verb", User = "$user", Secret = "$password" }

[[metrics.rule]]
metric_name = "Levels"
dimensions = { Level = "$.level", Service = "$.service" }

[traces]
annotations = { who = "$.user", pw = "$.password", auth = "$.headers.Authorization", key = "$.api_key", flag = "$.token_ok", service = "$.service" }
metadata = ["$.db", "$.headers", "$.secret.hint", "$.db.password", "$.session", "$.a.sec.ret"]
"#;

const T1: &str = "1-6553f100-beeb8da1658eec67f893a2ee";
const T2: &str = "1-6553f101-0123456789abcdef01234567";

/// Secrets planted in structured fields and names: none may leave in any output.
const PLANTED: &[&str] = &[
    "hunter2",
    "dXNlcjpwYXNzd29yZA==",
    "Tr0ub4dor&3",
    "98765432109",
    "s3cr3t-hint-value",
    "9081726354",
    "frank@example.com",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "alice@example.com",
    "sk_live_9aB8cD7eF6gH5iJ4kL3mN2oP",
    // From tests/fixtures/planted-secrets.json.
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "4111 1111 1111 1111",
    "S3cr3tPassw0rd",
];

/// Said in a space-delimited line that no detector can recognise: it leaves only as the
/// `$password` dimension (masked by its name) — the raw line itself stays in records.
const TEXT_SECRET: &str = "Zebra-Horse-Battery";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn messages() -> Vec<String> {
    let report = "REPORT RequestId: 8f5c2a1e-3b7d-4e9a-9c1f-2d6b8a4e7f01\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: error\tError Type: Runtime.ExitError";
    vec![
        json!({
            "level": "ERROR", "user": "carol", "password": "hunter2", "service": "auth",
            "headers": {"Authorization": "Basic dXNlcjpwYXNzd29yZA==", "host": "api.internal"},
            "api_key": 98765432109_u64, "token_ok": true, "trace_id": T1,
            "secret": {"hint": "s3cr3t-hint-value"}, "a": {"sec": {"ret": "not a secret"}},
        })
        .to_string(),
        json!({
            "level": "INFO", "service": "auth", "trace_id": T1,
            "db": {"host": "db1", "password": "Tr0ub4dor&3", "ms": 12},
            "session": {"id": "abc", "refresh_token": "sk_live_9aB8cD7eF6gH5iJ4kL3mN2oP"},
        })
        .to_string(),
        json!({
            "level": "WARN", "user": "dave", "password": 9081726354_u64, "pin_token": 4321,
            "service": "auth",
            "trace_id": T2, "headers": {"Authorization": "alice@example.com"},
        })
        .to_string(),
        json!({
            "level": "INFO", "user": "erin", "password": false, "trace_id": T2,
            "service": "auth", "headers": {"Authorization": "Basic ZXJpbjpwdw=="},
        })
        .to_string(),
        format!("LOGIN carol {TEXT_SECRET}"),
        report.to_string(),
    ]
}

/// The batch with secrets in its names, then the planted-secrets fixture's batches.
fn batches() -> Vec<Batch> {
    let source = Arc::new(Source {
        owner: "123456789012".into(),
        log_group: "/aws/lambda/orders-frank@example.com".into(),
        log_stream: "2026/11/30/[$LATEST]ghp_16C7e42F292c6912E7710c838347Ae178B4a".into(),
        ..Source::default()
    });
    let events = messages()
        .into_iter()
        .enumerate()
        .map(|(i, message)| LogEvent {
            id: format!("{i}"),
            timestamp: 1_700_000_000_000 + i as i64,
            message,
            extracted_fields: None,
        })
        .collect();
    let mut out = vec![Batch { source, events }];
    let bytes = std::fs::read(root().join("tests/fixtures/planted-secrets.json")).unwrap();
    let decoded = decode_input(&bytes, &DecodeLimits::default()).unwrap();
    out.extend(decoded.batches().cloned());
    out
}

fn run(with_records: bool) -> Output {
    let cfg = CheckedConfig::from_toml(CONFIG).unwrap();
    let mut p = Pipeline::new(cfg).with_records(with_records);
    let mut out = Output::default();
    for b in batches() {
        out.merge(p.process(b));
    }
    out
}

/// Metrics as sent (namespace, name, unit, dimensions, values), sorted: the comparison must not
/// depend on the order datums were first seen in.
fn metrics_of(out: &Output) -> Vec<Value> {
    let mut m: Vec<Value> = out
        .metrics
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect();
    m.sort_by_key(|v| v.to_string());
    m
}

fn segments_of(out: &Output) -> Vec<Value> {
    out.segments
        .iter()
        .map(|s| serde_json::from_str(&s.document).unwrap())
        .collect()
}

fn dims<'a>(metrics: &'a [Value], name: &str) -> Vec<&'a Value> {
    metrics
        .iter()
        .filter(|m| m["metric_name"] == name)
        .map(|m| &m["dimensions"])
        .collect()
}

const MARKER: &str = "[REDACTED:sensitive_key]";

#[test]
fn both_modes_send_the_same_values_and_no_secret() {
    let with = run(true);
    let lean = run(false);
    let (mw, ml) = (metrics_of(&with), metrics_of(&lean));
    let (sw, sl) = (segments_of(&with), segments_of(&lean));
    assert_eq!(mw, ml, "metric datums differ between the modes");
    assert_eq!(sw.len(), sl.len());
    for (a, b) in sw.iter().zip(&sl) {
        for key in ["name", "annotations", "metadata", "aws", "id", "trace_id"] {
            assert_eq!(a[key], b[key], "segment {key} differs");
        }
        assert_eq!(a, b);
    }

    // The values were there to leak: each exit was used, and shows the marker.
    let logins = dims(&ml, "Logins");
    assert!(logins
        .iter()
        .any(|d| d["User"] == "carol" && d["Pw"] == MARKER && d["Auth"] == MARKER));
    assert!(logins
        .iter()
        .any(|d| d["User"] == "dave" && d["Pw"] == MARKER));
    // Record redaction keeps booleans below a sensitive key; so do the exits.
    assert!(logins
        .iter()
        .any(|d| d["User"] == "erin" && d["Pw"] == "false"));
    let db = dims(&ml, "DbCalls");
    assert_eq!(db.len(), 1, "{ml:?}");
    assert_eq!(db[0]["Host"], "db1");
    assert_eq!(db[0]["DbPw"], MARKER);
    let words = dims(&ml, "Words");
    assert_eq!(words.len(), 1, "{ml:?}");
    assert_eq!(words[0]["Secret"], MARKER);
    assert_eq!(words[0]["User"], "carol");
    // A value read from a sensitive key is not numeric after record redaction: no sample.
    assert!(dims(&ml, "PinSum").is_empty(), "{ml:?}");
    assert_eq!(lean.stats.counters.get("metrics.value_not_numeric"), 1);
    let functions: Vec<&Value> = ml
        .iter()
        .filter_map(|m| m["dimensions"].get("FunctionName"))
        .collect();
    assert!(
        !functions.is_empty(),
        "the REPORT line yields Lambda metrics"
    );
    assert!(functions.iter().all(|f| *f == "[REDACTED:email]"));

    let t1 = sl
        .iter()
        .find(|s| s["trace_id"] == T1)
        .expect("segment of T1");
    let ann = &t1["annotations"];
    assert_eq!(ann["who"], "carol");
    assert_eq!(ann["pw"], MARKER);
    assert_eq!(ann["auth"], MARKER);
    assert_eq!(
        ann["key"], MARKER,
        "a number under a sensitive key is masked"
    );
    assert_eq!(ann["flag"], true);
    assert_eq!(ann["service"], "auth");
    assert_eq!(ann["log_group"], "/aws/lambda/[REDACTED:email]");
    let meta = &t1["metadata"]["logsieve"];
    assert_eq!(meta["secret.hint"], MARKER);
    assert_eq!(meta["db.password"], MARKER);
    assert_eq!(meta["db"]["password"], MARKER);
    assert_eq!(meta["db"]["host"], "db1");
    assert_eq!(meta["headers"]["Authorization"], MARKER);
    assert_eq!(meta["session"]["refresh_token"], MARKER);
    // No key on this path is sensitive, though the joined text `asecret` would look so.
    assert_eq!(meta["a.sec.ret"], "not a secret");
    assert_eq!(t1["name"], "_REDACTED:email_");
    assert_eq!(
        t1["aws"]["cloudwatch_logs"][0]["log_group"],
        "/aws/lambda/[REDACTED:email]"
    );
    let t2 = sl
        .iter()
        .find(|s| s["trace_id"] == T2)
        .expect("segment of T2");
    assert_eq!(t2["annotations"]["pw"], MARKER);
    assert_eq!(t2["annotations"]["auth"], MARKER);

    for (mode, out) in [("records", &with), ("lean", &lean)] {
        let exits = json!({
            "metrics": out.metrics,
            "segments": segments_of(out),
            "errors": out.stats.errors,
            "counters": out.stats.counters,
        })
        .to_string();
        let all = serde_json::to_string(out).unwrap();
        for secret in PLANTED {
            assert!(!all.contains(secret), "{mode}: {secret} leaked");
        }
        assert!(!exits.contains(TEXT_SECRET), "{mode}: {TEXT_SECRET} leaked");
    }
    // Records carry the redacted names too.
    let r0 = with.records[0].to_map();
    assert_eq!(r0["@logGroup"], "/aws/lambda/[REDACTED:email]");
    assert_eq!(
        r0["@logStream"],
        "2026/11/30/[$LATEST][REDACTED:github_token]"
    );
}

/// What users test with shows what production sends: the `logsieve process` binary (records
/// on) against the library's lean path, on the same payloads.
#[test]
fn the_cli_shows_what_the_lean_path_sends() {
    // One Firehose event holds every batch (the CLI reads one event per input).
    let mut records = Vec::new();
    for (i, b) in batches().into_iter().enumerate() {
        let doc = json!({
            "messageType": "DATA_MESSAGE",
            "owner": b.source.owner,
            "logGroup": b.source.log_group,
            "logStream": b.source.log_stream,
            "subscriptionFilters": ["parity"],
            "logEvents": b.events.iter().map(|e| json!({
                "id": e.id, "timestamp": e.timestamp, "message": e.message,
            })).collect::<Vec<_>>(),
        });
        let data = encode::b64(&encode::gzip(doc.to_string().as_bytes()));
        records.push(json!({"recordId": format!("r{i}"), "data": data}));
    }
    let payload = json!({ "records": records }).to_string().into_bytes();
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(["process", "-"])
        .env("LOGSIEVE_CONFIG", CONFIG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&payload).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lean = run(false);
    let mut cli_metrics: Vec<Value> = cli["metrics"].as_array().unwrap().clone();
    cli_metrics.sort_by_key(|v| v.to_string());
    assert_eq!(cli_metrics, metrics_of(&lean));
    assert_eq!(cli["segments"], json!(segments_of(&lean)));
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in PLANTED {
        assert!(!text.contains(secret), "cli: {secret} leaked");
    }
}
