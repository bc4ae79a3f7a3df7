//! Import round trip: a describe-metric-filters document with real-looking filters (terms,
//! regex, JSON and space-delimited patterns, several taken from the pattern conformance table)
//! becomes TOML, loads as a validated config, and the rules publish a sample for exactly the
//! lines the original patterns match, in the original log group only.

use std::sync::Arc;

use logsieve::config::{CheckedConfig, Config};
use logsieve::parse::parse_event;
use logsieve::pattern::FilterPattern;
use logsieve::pipeline::{match_input, Pipeline};
use logsieve::record::{Batch, LogEvent, Source};
use logsieve_cli::import::{import_metric_filters, Severity};
use serde_json::{json, Value};

const TRAIL: &str = r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111","arrayKey":["value","another value"],"objectList":[{"name":"a","id":1},{"name":"b","id":2}],"SomeObject":null,"ThisFlag":true}"#;
const APACHE_404: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
const APACHE_200: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#;

/// (filter name, log group, pattern, metric, value, dimensions).
fn filters() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Value,
)> {
    vec![
        (
            "errors-not-exiting",
            "/aws/lambda/orders",
            "\"ERROR\" -\"Exiting\"",
            "Errors",
            "1",
            json!({}),
        ),
        (
            "warn-or-error",
            "/aws/lambda/orders",
            "?ERROR ?WARN",
            "Problems",
            "1",
            json!({}),
        ),
        (
            "internal",
            "/ecs/web",
            "\"INTERNAL SERVER ERROR\"",
            "Internal",
            "1",
            json!({}),
        ),
        ("quote", "/ecs/web", "\"it's down\"", "Down", "1", json!({})),
        ("regex", "/ecs/web", "%^[hc]at%", "Cats", "1", json!({})),
        (
            "trail",
            "/aws/cloudtrail",
            "{ $.eventType = \"UpdateTrail\" }",
            "TrailUpdates",
            "1",
            json!({}),
        ),
        (
            "trail-ip",
            "/aws/cloudtrail",
            "{ $.sourceIPAddress != 123.123.* }",
            "ForeignIp",
            "1",
            json!({}),
        ),
        (
            "trail-array",
            "/aws/cloudtrail",
            "{ $.objectList[*].name = \"b\" }",
            "HasB",
            "1",
            json!({}),
        ),
        (
            "slow",
            "/ecs/api",
            "{ $.latency >= 500 }",
            "SlowLatency",
            "$.latency",
            json!({"Service": "$.service"}),
        ),
        (
            "4xx",
            "/nginx/access",
            "[ip, id, user, timestamp, request, status_code = 4*, size]",
            "ClientErrors",
            "$size",
            json!({"StatusCode": "$status_code"}),
        ),
    ]
}

/// (filter name, line, whether the original pattern matches it).
const LINES: &[(&str, &str, bool)] = &[
    (
        "errors-not-exiting",
        "[ERROR] A fatal exception has occurred",
        true,
    ),
    ("errors-not-exiting", "Exiting with ERRORCODE: -1", false),
    ("errors-not-exiting", "error: lower case", false),
    ("warn-or-error", "WARN message", true),
    ("warn-or-error", "INFO message", false),
    ("internal", "500 INTERNAL SERVER ERROR", true),
    ("internal", "INTERNAL ERROR SERVER", false),
    ("quote", "service: it's down again", true),
    ("quote", "its down", false),
    ("regex", "hat trick", true),
    ("regex", "that", false),
    ("trail", TRAIL, true),
    ("trail", r#"{"eventType":"CreateTrail"}"#, false),
    ("trail-ip", TRAIL, true),
    ("trail-ip", r#"{"sourceIPAddress":"123.123.0.1"}"#, false),
    ("trail-array", TRAIL, true),
    ("trail-array", r#"{"objectList":[{"name":"c"}]}"#, false),
    ("slow", r#"{"latency":600,"service":"api"}"#, true),
    ("slow", r#"{"latency":20,"service":"api"}"#, false),
    ("4xx", APACHE_404, true),
    ("4xx", APACHE_200, false),
];

fn document() -> String {
    let filters: Vec<Value> = filters()
        .into_iter()
        .map(|(name, group, pattern, metric, value, dims)| {
            let mut t = json!({
                "metricName": metric,
                "metricNamespace": "Imported/App",
                "metricValue": value,
                "unit": if value == "1" { "Count" } else { "None" },
            });
            if dims.as_object().is_some_and(|d| !d.is_empty()) {
                t["dimensions"] = dims;
            }
            json!({
                "filterName": name,
                "filterPattern": pattern,
                "logGroupName": group,
                "metricTransformations": [t],
                "creationTime": 1_700_000_000_000_i64,
                "applyOnTransformedLogs": false,
            })
        })
        .collect();
    json!({ "metricFilters": filters }).to_string()
}

/// Σ counts and Σ value×count of `metric` after running `line` through the pipeline in `group`.
fn samples(config: &CheckedConfig, group: &str, line: &str, metric: &str) -> (f64, f64) {
    let batch = Batch {
        source: Arc::new(Source {
            log_group: group.into(),
            log_stream: "s".into(),
            ..Source::default()
        }),
        events: vec![LogEvent {
            id: "1".into(),
            timestamp: 1_700_000_000_000,
            message: line.into(),
            extracted_fields: None,
        }],
    };
    let out = Pipeline::new(config.clone()).process(batch);
    out.metrics
        .iter()
        .filter(|d| d.metric_name == metric)
        .fold((0.0, 0.0), |(n, s), d| {
            let c: f64 = d.counts.iter().sum();
            let v: f64 = d.values.iter().zip(&d.counts).map(|(v, c)| v * c).sum();
            (n + c, s + v)
        })
}

#[test]
fn describe_metric_filters_round_trips_into_rules_matching_the_same_lines() {
    let imp = import_metric_filters(&document()).unwrap();
    assert_eq!((imp.rules, imp.skipped), (filters().len(), 0));
    // Only the cardinality notes of the two rules with event dimensions: everything else is exact.
    let issues: Vec<_> = imp
        .issues
        .iter()
        .map(|i| (i.filter.as_str(), i.severity))
        .collect();
    assert_eq!(
        issues,
        vec![("slow", Severity::Note), ("4xx", Severity::Note)]
    );

    let cfg = Config::from_toml(&imp.toml).unwrap();
    let checked = cfg.validate().unwrap();
    assert_eq!(checked.metrics.rules.len(), filters().len());

    let table = filters();
    for &(name, line, want) in LINES {
        let (_, group, pattern, metric, _, _) = table.iter().find(|f| f.0 == name).unwrap();
        let (group, pattern, metric) = (*group, *pattern, *metric);
        // The original pattern, compiled straight from the document, agrees with the table…
        let original = FilterPattern::compile(pattern).unwrap();
        let record = parse_event(
            &Arc::new(Source::default()),
            LogEvent {
                message: line.into(),
                ..LogEvent::default()
            },
        );
        assert_eq!(
            original.is_match(&match_input(&record)),
            want,
            "{name}: {line}"
        );
        // …and the imported rule publishes one sample exactly when it matches.
        let (count, _) = samples(&checked, group, line, metric);
        assert_eq!(count, if want { 1.0 } else { 0.0 }, "{name}: {line}");
        // Log groups other than the filter's own are not looked at.
        let (elsewhere, _) = samples(&checked, "/other/group", line, metric);
        assert_eq!(elsewhere, 0.0, "{name}: {line}");
    }

    // Values and dimensions come over too: latency 600 for Service=api, size 1534 for 404.
    let (_, latency) = samples(
        &checked,
        "/ecs/api",
        r#"{"latency":600,"service":"api"}"#,
        "SlowLatency",
    );
    assert_eq!(latency, 600.0);
    let (_, size) = samples(&checked, "/nginx/access", APACHE_404, "ClientErrors");
    assert_eq!(size, 1534.0);
    let out = Pipeline::new(checked).process(Batch {
        source: Arc::new(Source {
            log_group: "/nginx/access".into(),
            ..Source::default()
        }),
        events: vec![LogEvent {
            id: "1".into(),
            timestamp: 1_700_000_000_000,
            message: APACHE_404.into(),
            extracted_fields: None,
        }],
    });
    let d = out
        .metrics
        .iter()
        .find(|d| d.metric_name == "ClientErrors")
        .unwrap();
    assert_eq!(d.dimensions["StatusCode"], "404");
    assert_eq!(d.namespace, "Imported/App");
}

#[test]
fn a_rejected_pattern_is_commented_out_and_the_rest_still_loads() {
    let doc = json!({"metricFilters": [
        {"filterName": "ok", "filterPattern": "ERROR", "logGroupName": "/a",
         "metricTransformations": [{"metricName": "A", "metricNamespace": "N", "metricValue": "1", "unit": "Count"}]},
        {"filterName": "too many regexes", "filterPattern": "{ $.a = %x% || $.b = %y% || $.c = %z% }", "logGroupName": "/a",
         "metricTransformations": [{"metricName": "B", "metricNamespace": "N", "metricValue": "1", "unit": "Count"}]}
    ]})
    .to_string();
    let imp = import_metric_filters(&doc).unwrap();
    assert_eq!((imp.rules, imp.skipped), (1, 1));
    let skipped = imp
        .issues
        .iter()
        .find(|i| i.severity == Severity::Skipped)
        .unwrap();
    assert_eq!(skipped.filter, "too many regexes");
    assert!(
        skipped.message.contains("filter_pattern"),
        "{}",
        skipped.message
    );
    assert!(
        imp.toml.contains("# SKIPPED, not translatable"),
        "{}",
        imp.toml
    );
    assert!(imp.toml.contains("# metric_name = 'B'"), "{}", imp.toml);
    let cfg = Config::from_toml(&imp.toml).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.metrics.rules.len(), 1);
}
