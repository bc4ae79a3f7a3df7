//! The deployment templates against the code: every alarm and dashboard widget in `infra/` that
//! names a logsieve metric names one the code emits, and every template that alarms on the
//! processor's own metrics hands its `ProcessorNamespace` to the function that writes them.
//! (An alarm on a metric nothing emits can never fire, and `TreatMissingData: notBreaching`
//! hides it.)

use std::path::PathBuf;

use logsieve::config::CheckedConfig;
use logsieve::metrics::packs::cis_cloudtrail_controls;
use logsieve::telemetry::{ENV_SELF_METRICS, ENV_SELF_NAMESPACE, SELF_METRICS};

fn templates() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "templates found: {out:?}");
    out
}

fn builtin_names() -> Vec<String> {
    let config = CheckedConfig::default_config().unwrap();
    let lambda = config
        .metrics
        .lambda
        .as_ref()
        .expect("built-in Lambda metrics on by default");
    lambda.names().iter().map(|s| s.to_string()).collect()
}

/// The `cis-cloudtrail` pack's metric names, one per control, in control order.
fn pack_names() -> Vec<String> {
    cis_cloudtrail_controls()
        .unwrap()
        .iter()
        .map(|c| c.metric_name.clone())
        .collect()
}

fn self_names() -> Vec<&'static str> {
    SELF_METRICS.iter().map(|m| m.name).collect()
}

/// The resources of a template: (logical id, the lines of its block).
fn resources(text: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_resources = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_resources = line.trim_end() == "Resources:";
            continue;
        }
        if !in_resources {
            continue;
        }
        let is_id =
            line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':');
        if is_id && !line.trim_start().starts_with('#') {
            out.push((line.trim().trim_end_matches(':').to_string(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line);
        }
    }
    out
}

fn value<'a>(lines: &[&'a str], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        l.trim()
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The quoted strings after `needle` on every line (`MetricName=\"X\"`, `"${Ns}", "X"`).
fn quoted_after(text: &str, needle: &str, closing: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(needle) {
        rest = &rest[at + needle.len()..];
        if let Some(end) = rest.find(closing) {
            out.push(rest[..end].to_string());
        }
    }
    out
}

#[test]
fn every_alarm_names_a_metric_the_code_emits() {
    let pack = pack_names();
    let builtin = builtin_names();
    let own = self_names();
    let mut checked = 0;
    for (file, text) in templates() {
        for (id, lines) in resources(&text) {
            if value(&lines, "Type") != Some("AWS::CloudWatch::Alarm") {
                continue;
            }
            let (Some(ns), Some(metric)) =
                (value(&lines, "Namespace"), value(&lines, "MetricName"))
            else {
                panic!("{file} {id}: an alarm without Namespace/MetricName");
            };
            match ns {
                "!Ref ProcessorNamespace" => {
                    assert!(
                        own.contains(&metric),
                        "{file} {id}: {metric} is not a self metric ({own:?})"
                    );
                }
                "!Ref Namespace" => {
                    assert!(
                        builtin.iter().any(|b| b == metric),
                        "{file} {id}: {metric} is not a built-in metric ({builtin:?})"
                    );
                }
                "!Ref SecurityNamespace" => {
                    assert!(
                        pack.iter().any(|p| p == metric),
                        "{file} {id}: {metric} is not a cis-cloudtrail metric ({pack:?})"
                    );
                }
                ns if ns.starts_with("AWS/") => continue,
                other => panic!("{file} {id}: unexpected namespace {other}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} logsieve alarms found");
}

#[test]
fn every_dashboard_widget_names_a_metric_the_code_emits() {
    let builtin = builtin_names();
    let own = self_names();
    let mut checked = 0;
    for (file, text) in templates() {
        for metric in quoted_after(&text, "[\"${ProcessorNamespace}\", \"", "\"") {
            assert!(
                own.contains(&metric.as_str()),
                "{file}: dashboard names {metric}, not a self metric"
            );
            checked += 1;
        }
        for metric in quoted_after(&text, "MetricName=\\\"", "\\\"") {
            assert!(
                builtin.contains(&metric),
                "{file}: dashboard searches {metric}, not a built-in metric"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} dashboard metrics found");
}

#[test]
fn templates_that_alarm_on_self_metrics_configure_them() {
    for (file, text) in templates() {
        if !text.contains("Namespace: !Ref ProcessorNamespace") {
            continue;
        }
        assert!(
            text.contains(&format!("{ENV_SELF_NAMESPACE}: !Ref ProcessorNamespace")),
            "{file}: alarms on ProcessorNamespace but never passes it to the function"
        );
        assert!(
            !text.contains(&format!("{ENV_SELF_METRICS}: \"0\""))
                && !text.contains(&format!("{ENV_SELF_METRICS}: '0'")),
            "{file}: alarms on self metrics it turns off"
        );
    }
}

#[test]
fn the_readme_lists_the_self_metrics_as_the_code_defines_them() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let table = logsieve::telemetry::self_metrics_markdown();
    assert!(
        readme.contains(&table),
        "README.md's self-metrics table differs from the code; paste this:\n{table}"
    );
}

#[test]
fn the_security_alarms_cover_every_control_once_on_the_pack_s_bare_count() {
    let (_, text) = templates()
        .into_iter()
        .find(|(f, _)| f == "security-alarms.yaml")
        .expect("infra/security-alarms.yaml");
    let mut alarmed: Vec<String> = Vec::new();
    for (id, lines) in resources(&text) {
        if value(&lines, "Type") != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        assert_eq!(
            value(&lines, "Namespace"),
            Some("!Ref SecurityNamespace"),
            "{id}"
        );
        // The bare count: an alarm with dimensions would watch one slice only.
        assert_eq!(value(&lines, "Dimensions"), None, "{id}");
        assert_eq!(value(&lines, "Statistic"), Some("Sum"), "{id}");
        assert_eq!(value(&lines, "Threshold"), Some("1"), "{id}");
        assert_eq!(
            value(&lines, "AlarmActions"),
            Some("[!Ref AlarmTopic]"),
            "{id}"
        );
        alarmed.push(value(&lines, "MetricName").expect("MetricName").to_string());
    }
    assert_eq!(
        alarmed,
        pack_names(),
        "one alarm per control, in control order"
    );
    for (id, lines) in resources(&text) {
        if value(&lines, "Type") == Some("AWS::SNS::Topic") {
            assert_eq!(
                value(&lines, "KmsMasterKeyId"),
                Some("!Ref AlarmTopicKey"),
                "{id}: the topic must be encrypted with the key"
            );
        }
    }
    // The namespace the template expects by default is the one the example configuration
    // publishes the pack's metrics in.
    let example = CheckedConfig::from_toml(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/security.toml"),
        )
        .unwrap(),
    )
    .unwrap();
    let namespaces: std::collections::BTreeSet<&str> = example
        .metrics
        .rules
        .iter()
        .map(|r| r.metric().namespace())
        .collect();
    assert_eq!(
        namespaces.into_iter().collect::<Vec<_>>(),
        ["Logsieve/Security"]
    );
    assert!(text.contains("    Default: Logsieve/Security\n"));
}
