//! The CLI contract the README documents, exercised through the real binary on the bundled fixtures.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn demo_config() -> String {
    root().join("examples/logsieve.toml").display().to_string()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(args)
        .env_remove("LOGSIEVE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn process_json(args: &[&str]) -> Value {
    let out = run(args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "exactly one JSON object");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn process_prints_the_design_shape() {
    let v = process_json(&["process", &fixture("flask-api.json")]);
    for key in ["metrics", "segments", "records", "stats"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let stats = &v["stats"];
    assert_eq!(stats["batches"], 1);
    assert_eq!(stats["events"], 40);
    assert_eq!(stats["parsed"], 40);
    assert_eq!(stats["errors"], Value::Array(vec![]));
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 40);
    for r in records {
        assert_eq!(r["@logGroup"], "/ecs/orders-api");
        assert!(r["@timestamp"].as_i64().unwrap() >= 1_700_000_000_000);
        assert!(r["@id"].as_str().is_some_and(|s| !s.is_empty()));
    }
}

#[test]
fn every_event_shape_from_files_and_stdin() {
    for (name, events) in [
        ("kinesis-event.json", 5),
        ("firehose-event.json", 5),
        ("mixed-document.json", 30),
        ("control-message.json", 0),
        ("lambda-platform.json", 16),
    ] {
        let v = process_json(&["process", &fixture(name)]);
        assert_eq!(v["stats"]["events"], events, "{name}");
    }
    let bytes = std::fs::read(fixture("access-log.json")).unwrap();
    let out = run(&["process", "-"], Some(&bytes));
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stats"]["events"], 40);
}

#[test]
fn records_hold_only_configured_fields_and_no_planted_secret() {
    let v = process_json(&[
        "process",
        "--config",
        &demo_config(),
        &fixture("planted-secrets.json"),
        &fixture("flask-api.json"),
    ]);
    let allowed = [
        "level",
        "message",
        "service",
        "method",
        "path",
        "status",
        "duration_ms",
        "trace_id",
        "traceparent",
        "error",
        "user",
        "requestId",
        "type",
        "durationMs",
        "status_code",
        "remote_addr",
    ];
    for r in v["records"].as_array().unwrap() {
        for k in r.as_object().unwrap().keys() {
            assert!(
                k.starts_with('@') || allowed.contains(&k.as_str()),
                "unexpected field {k}"
            );
        }
        assert!(r.get("logger").is_none());
        assert!(r.get("latency_ms").is_none(), "renamed to duration_ms");
    }
    let text = v.to_string();
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        "alice@example.com",
        "hunter2",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "4111 1111 1111 1111",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "S3cr3tPassw0rd",
    ] {
        assert!(!text.contains(secret), "secret leaked: {secret}");
    }
    // Correlation ids survive redaction.
    assert!(text.contains("1-6553f120-11112222333344445555aaaa"));
}

#[test]
fn bad_payload_exits_1_with_one_line() {
    let dir = std::env::temp_dir().join(format!("logsieve-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"awslogs":{"data":"bm90IGd6aXA="}}"#).unwrap();
    let out = run(&["process", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("neither gzip nor JSON"), "{err}");
    // The output object is still printed, with the error listed.
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stats"]["errors"].as_array().unwrap().len(), 1);
}

#[test]
fn usage_and_config_errors_exit_2() {
    let out = run(&["process", "/nonexistent/file.json"], None);
    assert_eq!(out.status.code(), Some(2));
    let dir = std::env::temp_dir().join(format!("logsieve-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[metrics]\nnamespace = \"x\"\ntypo = 1\n").unwrap();
    let out = run(&["check-config", cfg.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("line 3") && err.contains("typo"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    let out = run(&["check-config", &demo_config()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["bogus"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pattern_prints_one_object_per_line() {
    let out = run(&["pattern", "ERROR", "an ERROR here", "all fine"], None);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["matches"], true);
    assert_eq!(lines[1]["matches"], false);
    assert_eq!(lines[1]["line"], "all fine");
    let out = run(&["pattern", "ERROR"], Some(b"ERROR a\nb\n"));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}

fn pattern_verdicts(args: &[&str]) -> Vec<(String, bool)> {
    let out = run(args, None);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["line"].as_str().unwrap().to_string(),
                v["matches"] == true,
            )
        })
        .collect()
}

#[test]
fn pattern_and_lines_starting_with_a_hyphen_are_values() {
    // AWS's exclusion pattern, and a VPC flow-log line of a NODATA record (fields are `-`).
    let flow = "- - - - - - - - - - 1620140761 1620140821 - NODATA";
    let want = vec![
        ("DEBUG started".to_string(), false),
        (flow.to_string(), true),
        ("-v INFO".to_string(), true),
    ];
    let lines = ["DEBUG started", flow, "-v INFO"];
    let mut plain = vec!["pattern", "-DEBUG"];
    plain.extend(lines);
    assert_eq!(pattern_verdicts(&plain), want);
    // `--` still ends the options, as before.
    let mut dashed = vec!["pattern", "--", "-DEBUG"];
    dashed.extend(lines);
    assert_eq!(pattern_verdicts(&dashed), want);
    // A line that looks like a long option is a line too.
    assert_eq!(
        pattern_verdicts(&["pattern", "ERROR", "--ERROR--"]),
        vec![("--ERROR--".to_string(), true)]
    );
}

#[test]
fn pattern_regex_with_a_space_from_the_aws_docs() {
    assert_eq!(
        pattern_verdicts(&[
            "pattern",
            "%^starting|^initializing|^shutting down%",
            "shutting down now",
            "worker shutting down",
        ]),
        vec![
            ("shutting down now".to_string(), true),
            ("worker shutting down".to_string(), false),
        ]
    );
}

#[test]
fn ndjson_output_is_the_json_documents_records_one_per_line() {
    let files = [fixture("flask-api.json"), fixture("lambda-platform.json")];
    let config = demo_config();
    let mut args = vec!["process", "--config", &config];
    args.extend(files.iter().map(String::as_str));
    let doc = process_json(&args);
    let records = doc["records"].as_array().unwrap().clone();
    assert!(records.len() > 10, "{} records", records.len());
    args.insert(1, "--output");
    args.insert(2, "ndjson");
    let out = run(&args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Same records, same order (the JSON document streams them as each input is done).
    assert_eq!(lines, records);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(&format!("{} records", records.len())),
        "{summary}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_ndjson_quietly() {
    use std::io::{BufRead, BufReader};
    let batch = run(&["generate", "--events", "5000"], None);
    assert!(batch.status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(["process", "--output", "ndjson", "-"])
        .env_remove("LOGSIEVE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&batch.stdout).unwrap();
    drop(stdin);
    // Like `| head -1`: one line, then the pipe closes with megabytes still to come.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"@timestamp\""), "{first}");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn segments_of_several_inputs_come_out_in_order_and_the_table_counts_them_all() {
    // Segments wait outside memory until the document reaches them: the JSON of two inputs
    // must hold exactly each input's own segments, in input order.
    let config = demo_config();
    let files = [
        fixture("flask-api.json"),
        fixture("lambda-json-format.json"),
    ];
    let mut expected = Vec::new();
    for f in &files {
        let v = process_json(&["process", "--config", &config, f]);
        expected.extend(v["segments"].as_array().unwrap().iter().cloned());
    }
    assert!(expected.len() > 1, "{} segments", expected.len());
    let both = process_json(&["process", "--config", &config, &files[0], &files[1]]);
    assert_eq!(both["segments"].as_array().unwrap(), &expected);

    // The table keeps only what it prints, yet counts every record and segment.
    let out = run(
        &[
            "process", "--config", &config, "--output", "table", &files[0], &files[1],
        ],
        None,
    );
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let records = both["records"].as_array().unwrap().len();
    assert!(records > 15, "{records} records");
    assert!(
        table.contains(&format!("== RECORDS ({records} selected) ==")),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "… {} more (use --output json for all)",
            records - 15
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!("== SEGMENTS ({}) ==", expected.len())),
        "{table}"
    );
}
