//! `logsieve plan`, `import-metric-filters` and `dashboard` through the real binary.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo_config() -> String {
    root().join("examples/logsieve.toml").display().to_string()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(args)
        .env_remove("LOGSIEVE_CONFIG")
        .env_remove("LOGSIEVE_METRICS_SINK")
        .env_remove("LOGSIEVE_TRACES_SINK")
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

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("logsieve-cli-plan-{}-{name}", std::process::id()))
}

/// Worst-case series of examples/logsieve.toml, by hand: Latency has two event dimensions
/// capped at 50 (51 values each with `other`), ServerErrors, ErrorsByTeam (a tag) and
/// ClientErrors one at the default 100 (101), ServerErrorRate a literal, BytesServed none.
const DEMO_RULE_SERIES: u64 = 51 * 51 + 101 + 1 + 101 + 101 + 1;

#[test]
fn plan_table_lists_rules_and_cost() {
    let o = run(&["plan", "--config", &demo_config()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    for needle in [
        "== METRICS",
        "Latency",
        "2601",
        "ServerErrors",
        "== MONTHLY COST",
        "custom metrics",
        "PutMetricData",
        "EMF ingestion",
        "X-Ray",
        "cheaper metrics sink",
    ] {
        assert!(t.contains(needle), "missing {needle}:\n{t}");
    }
}

#[test]
fn plan_json_matches_a_hand_computation() {
    let o = run(
        &[
            "plan",
            "--config",
            &demo_config(),
            "--events-per-day",
            "864000",
            "--log-groups",
            "3",
            "--events-per-batch",
            "50",
            "--output",
            "json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["assumptions"]["events_per_day"], 864_000);
    assert_eq!(v["assumptions"]["log_groups"], 3);
    // Three functions: 13 built-in metrics each, and Errors by ErrorType (100 + other) each.
    let series = DEMO_RULE_SERIES + 13 * 3 + 3 * 101;
    assert_eq!(v["cost"]["series"], series);
    let usd = v["cost"]["custom_metrics_usd"].as_f64().unwrap();
    assert!((usd - series as f64 * 0.30).abs() < 1e-6, "{usd}");
    // 864000 / 50 = 17280 invocations a day.
    assert_eq!(v["cost"]["batches_per_day"], 17_280.0);
    assert_eq!(v["cost"]["configured_sink"], "cloudwatch");
    assert_eq!(v["metrics"].as_array().unwrap().len(), 6 + 14);
}

#[test]
fn plan_flags_unbounded_dimensions() {
    let cfg = temp("unbounded.toml");
    std::fs::write(
        &cfg,
        "[[metrics.rule]]\nmetric_name = \"Hits\"\ndimensions = { Client = \"$.remote_addr\" }\n",
    )
    .unwrap();
    let o = run(&["plan", "--config", cfg.to_str().unwrap()], None);
    let _ = std::fs::remove_file(&cfg);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.contains("== WARNINGS =="), "{t}");
    assert!(t.contains("remote_addr"), "{t}");
    assert!(t.contains("UNBOUNDED?"), "{t}");
}

#[test]
fn plan_errors_are_one_line_with_status_2() {
    let cfg = temp("bad-plan.toml");
    std::fs::write(&cfg, "[plan]\nmatch_fraction = 2.0\n").unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["plan".into(), "--config".into(), cfg.display().to_string()],
        vec![
            "plan".into(),
            "--config".into(),
            demo_config(),
            "--events-per-batch".into(),
            "0".into(),
        ],
        vec!["plan".into(), "--config".into(), "/nonexistent.toml".into()],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(e.starts_with("logsieve: "), "{e}");
    }
    let _ = std::fs::remove_file(&cfg);
}

const FILTERS: &str = r#"{"metricFilters": [
  {"filterName": "errors", "filterPattern": "?ERROR ?FATAL", "logGroupName": "/aws/lambda/orders",
   "metricTransformations": [{"metricName": "Errors", "metricNamespace": "App", "metricValue": "1", "unit": "Count"}]},
  {"filterName": "4xx", "filterPattern": "[ip, id, user, timestamp, request, status_code = 4*, size]",
   "logGroupName": "/nginx/access",
   "metricTransformations": [{"metricName": "ClientErrors", "metricNamespace": "App", "metricValue": "1",
     "unit": "Count", "dimensions": {"StatusCode": "$status_code"}}]}
]}"#;

#[test]
fn import_writes_toml_that_check_config_and_plan_accept() {
    let out = temp("imported.toml");
    let input = temp("filters.json");
    std::fs::write(&input, FILTERS).unwrap();
    let o = run(
        &[
            "import-metric-filters",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "TOML goes to the file");
    // The one note: the dimension's cap is raised to CloudWatch's own limit.
    assert!(
        stderr(&o).contains("note: 4xx (/nginx/access): max_cardinality"),
        "{}",
        stderr(&o)
    );
    let check = run(&["check-config", out.to_str().unwrap()], None);
    assert!(check.status.success(), "{}", stderr(&check));
    let plan = run(
        &[
            "plan",
            "--config",
            out.to_str().unwrap(),
            "--output",
            "json",
        ],
        None,
    );
    assert!(plan.status.success(), "{}", stderr(&plan));
    let v: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let names: Vec<&str> = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["origin"] != "lambda")
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Errors", "ClientErrors"]);
    // StatusCode: 1000 values + other.
    assert_eq!(v["metrics"][1]["series"], 1001);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&input);
}

#[test]
fn import_from_stdin_and_failures() {
    let o = run(&["import-metric-filters", "-"], Some(FILTERS.as_bytes()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("[[metrics.rule]]"));

    let skipped = FILTERS.replace("?ERROR ?FATAL", "{ $.a = ");
    let o = run(&["import-metric-filters", "-"], Some(skipped.as_bytes()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("# SKIPPED"), "{}", stdout(&o));
    let last = stderr(&o)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with("logsieve: 1 rule(s) imported, 1 could not"),
        "{last}"
    );

    let o = run(&["import-metric-filters", "-"], Some(b"not json"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn dashboard_body_for_the_demo_config() {
    let o = run(
        &[
            "dashboard",
            "--config",
            &demo_config(),
            "--region",
            "eu-west-1",
            "--function",
            "orders",
            "--function",
            "payments",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let widgets = v["widgets"].as_array().unwrap();
    // Five built-in graphs and one per rule of the demo config.
    assert_eq!(widgets.len(), 5 + 6);
    assert!(widgets
        .iter()
        .all(|w| w["properties"]["region"] == "eu-west-1"));
    // Duration: p50/p90/p99 for each of the two functions.
    assert_eq!(
        widgets[0]["properties"]["metrics"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    let o = run(&["dashboard", "--region", "Mars 1"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("region"), "{}", stderr(&o));
}
