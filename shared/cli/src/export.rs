//! `logsieve export-metric-filters`: the reverse of `import-metric-filters`. Writes a
//! CloudFormation template (JSON) with a native metric filter for every rule CloudWatch metric
//! filters can express, and an alarm for every such rule without dimensions, so checks that look
//! for native filters on a log group (Security Hub's CloudWatch.1–14) stay green while logsieve
//! publishes the richer metrics.
//!
//! A rule is expressible when CloudWatch can run it unchanged: at most 3 dimensions, each read
//! from the event (`$.path` or `$name`: metric filters have no literal dimensions), standard
//! resolution, a default value only without dimensions. Anything else is reported and left out,
//! never approximated.

use serde::Serialize;
use serde_json::{json, Map, Value};

use logsieve::config::Config;
use logsieve::config_error::ConfigError;
use logsieve::metrics::{NumberOrText, RuleConfig, DEFAULT_MAX_CARDINALITY};

/// Dimensions a metric filter's transformation may have (PutMetricFilter).
pub const MAX_FILTER_DIMENSIONS: usize = 3;
/// Alarm period and threshold: the CIS remediation's alarm (Sum ≥ 1 over 5 minutes).
const ALARM_PERIOD: u32 = 300;

/// A rule left out or exported with a difference the user should know about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportNote {
    /// The rule's metric name and dimensions (`IAMPolicyChanges by EventName, Region`).
    pub rule: String,
    /// Exported with a difference (`false`) or left out (`true`).
    pub skipped: bool,
    pub message: String,
}

/// The template and what was not carried over.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub template: Value,
    pub filters: usize,
    pub alarms: usize,
    pub notes: Vec<ExportNote>,
}

/// What to export for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The log group the filters go on; rules whose `log_groups` exclude it are left out. `None`:
    /// a parameter without default, and every rule is exported.
    pub log_group: Option<String>,
}

/// Why no template could be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
}

/// The template for every rule of `config` (its `[[metrics.rule]]` then its packs').
pub fn export_metric_filters(config: &Config, opts: &ExportOptions) -> Result<Export, ExportError> {
    config.validate()?;
    let m = &config.metrics;
    let mut rules: Vec<RuleConfig> = m.rules.clone();
    rules.extend(m.pack_rules()?);
    let mut resources = Map::new();
    let mut notes = Vec::new();
    let (mut filters, mut alarms) = (0, 0);
    let mut names = std::collections::BTreeSet::new();
    for rule in &rules {
        let label = rule_label(rule);
        if let Err(reason) = expressible(rule) {
            notes.push(ExportNote {
                rule: label,
                skipped: true,
                message: reason,
            });
            continue;
        }
        if let Some(group) = &opts.log_group {
            if !rule.log_groups.is_empty() && !globs_match(&rule.log_groups, group) {
                notes.push(ExportNote {
                    rule: label,
                    skipped: true,
                    message: format!("its log_groups do not include {group:?}"),
                });
                continue;
            }
        }
        if rule.max_cardinality != DEFAULT_MAX_CARDINALITY && !rule.dimensions.is_empty() {
            notes.push(ExportNote {
                rule: label.clone(),
                skipped: false,
                message: format!(
                    "max_cardinality {} has no metric-filter equivalent: CloudWatch disables the filter past 1,000 dimension combinations instead",
                    rule.max_cardinality
                ),
            });
        }
        let namespace = rule
            .metric_namespace
            .clone()
            .unwrap_or_else(|| m.namespace.clone());
        let base = logical_id(&label);
        let mut id = base.clone();
        let mut n = 2;
        while !names.insert(id.clone()) {
            id = format!("{base}{n}");
            n += 1;
        }
        let mut transformation = json!({
            "MetricName": rule.metric_name,
            "MetricNamespace": namespace,
            "MetricValue": metric_value(&rule.metric_value),
        });
        if let Some(d) = rule.default_value {
            transformation["DefaultValue"] = json!(d);
        }
        if rule.unit != "None" {
            transformation["Unit"] = json!(rule.unit);
        }
        if !rule.dimensions.is_empty() {
            transformation["Dimensions"] = Value::Array(
                rule.dimensions
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect(),
            );
        }
        resources.insert(
            format!("{id}Filter"),
            json!({
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "FilterName": filter_name(&label),
                    "LogGroupName": {"Ref": "LogGroupName"},
                    "FilterPattern": rule.filter_pattern,
                    "MetricTransformations": [transformation],
                },
            }),
        );
        filters += 1;
        // An alarm watches one series: a rule with dimensions has one per value, none of which
        // is "all of them". Its dimensionless twin (the packs write one) carries the alarm.
        if rule.dimensions.is_empty() {
            resources.insert(
                format!("{id}Alarm"),
                json!({
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": {"Fn::Sub": format!("${{AWS::StackName}}-{}", rule.metric_name)},
                        "AlarmDescription": format!("{} ≥ 1 in 5 minutes (metric filter {})", rule.metric_name, filter_name(&label)),
                        "Namespace": namespace,
                        "MetricName": rule.metric_name,
                        "Statistic": "Sum",
                        "Period": ALARM_PERIOD,
                        "EvaluationPeriods": 1,
                        "Threshold": 1,
                        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                        "TreatMissingData": "notBreaching",
                        "AlarmActions": [{"Ref": "AlarmTopicArn"}],
                    },
                }),
            );
            alarms += 1;
        }
    }
    let mut log_group = json!({
        "Type": "String",
        "Description": "The log group the metric filters go on (a trail's CloudWatch Logs group for the cis-cloudtrail pack)",
    });
    if let Some(g) = &opts.log_group {
        log_group["Default"] = json!(g);
    }
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Native CloudWatch metric filters and alarms for the logsieve rules they can express (written by logsieve export-metric-filters)",
        "Parameters": {
            "LogGroupName": log_group,
            "AlarmTopicArn": {
                "Type": "String",
                "Description": "SNS topic the alarms notify",
            },
        },
        "Resources": resources,
    });
    Ok(Export {
        template,
        filters,
        alarms,
        notes,
    })
}

/// `Ok` when CloudWatch metric filters run the rule as logsieve does; else why not.
fn expressible(rule: &RuleConfig) -> Result<(), String> {
    if rule.dimensions.len() > MAX_FILTER_DIMENSIONS {
        return Err(format!(
            "{} dimensions; metric filters allow {MAX_FILTER_DIMENSIONS}",
            rule.dimensions.len()
        ));
    }
    for (name, source) in &rule.dimensions {
        if !source.starts_with('$') || source.starts_with("$$") {
            return Err(format!(
                "dimension {name} is the literal {source:?}; metric filter dimensions are read from the event"
            ));
        }
    }
    if rule.storage_resolution != 60 {
        return Err("high-resolution (1 s) metrics; metric filters publish at 60 s".into());
    }
    if rule.default_value.is_some() && !rule.dimensions.is_empty() {
        return Err("a default value with dimensions".into());
    }
    Ok(())
}

fn metric_value(v: &NumberOrText) -> String {
    match v {
        NumberOrText::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{}", *n as i64)
            } else {
                format!("{n}")
            }
        }
        NumberOrText::Text(t) => t.clone(),
    }
}

fn rule_label(rule: &RuleConfig) -> String {
    if rule.dimensions.is_empty() {
        rule.metric_name.clone()
    } else {
        let dims: Vec<&str> = rule.dimensions.keys().map(String::as_str).collect();
        format!("{} by {}", rule.metric_name, dims.join(", "))
    }
}

/// `logsieve-IAMPolicyChanges` or `logsieve-IAMPolicyChanges-by-EventName-Region-UserType`
/// (filter names may not contain `:` or `*`; 512 characters at most).
fn filter_name(label: &str) -> String {
    let s: String = label
        .replace(" by ", "-by-")
        .replace(", ", "-")
        .chars()
        .map(|c| if c == ':' || c == '*' { '_' } else { c })
        .collect();
    let mut name = format!("logsieve-{s}");
    name.truncate(512);
    name
}

/// A CloudFormation logical id: alphanumerics only, at most 255 (less the suffixes).
fn logical_id(label: &str) -> String {
    let mut id: String = label
        .replace(" by ", "By")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert(0, 'R');
    }
    id.truncate(240);
    id
}

fn globs_match(globs: &[String], group: &str) -> bool {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        match globset::Glob::new(g) {
            Ok(glob) => {
                b.add(glob);
            }
            Err(_) => return false,
        }
    }
    b.build().is_ok_and(|set| set.is_match(group))
}

/// The notes as one line each.
pub fn render_notes(notes: &[ExportNote]) -> String {
    notes
        .iter()
        .map(|n| {
            format!(
                "{}: {}: {}\n",
                if n.skipped { "SKIPPED" } else { "note" },
                n.rule,
                n.message
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_toml(text).unwrap()
    }

    #[test]
    fn the_pack_exports_fourteen_alarmed_filters_and_fourteen_by_dimensions() {
        let c = config("[metrics]\nnamespace = \"Sec\"\npacks = [\"cis-cloudtrail\"]\n");
        let e = export_metric_filters(
            &c,
            &ExportOptions {
                log_group: Some("aws-cloudtrail-logs-1".into()),
            },
        )
        .unwrap();
        assert_eq!((e.filters, e.alarms), (28, 14));
        // The by-dimension rules' cap of 40 has no metric-filter equivalent: said, not skipped.
        assert_eq!(e.notes.len(), 14, "{:?}", e.notes);
        assert!(e
            .notes
            .iter()
            .all(|n| !n.skipped && n.message.contains("40")));
        let r = &e.template["Resources"];
        let root = &r["RootAccountUsageFilter"]["Properties"];
        assert_eq!(
            root["FilterPattern"],
            r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#
        );
        assert_eq!(
            root["MetricTransformations"][0],
            json!({"MetricName": "RootAccountUsage", "MetricNamespace": "Sec", "MetricValue": "1", "Unit": "Count"})
        );
        let by = &r["RootAccountUsageByEventNameRegionUserTypeFilter"]["Properties"];
        assert_eq!(
            by["MetricTransformations"][0]["Dimensions"],
            json!([
                {"Key": "EventName", "Value": "$.eventName"},
                {"Key": "Region", "Value": "$.awsRegion"},
                {"Key": "UserType", "Value": "$.userIdentity.type"},
            ])
        );
        let alarm = &r["RootAccountUsageAlarm"]["Properties"];
        assert_eq!(alarm["MetricName"], "RootAccountUsage");
        assert_eq!(alarm["Namespace"], "Sec");
        assert!(r
            .get("RootAccountUsageByEventNameRegionUserTypeAlarm")
            .is_none());
        assert_eq!(
            e.template["Parameters"]["LogGroupName"]["Default"],
            "aws-cloudtrail-logs-1"
        );
    }

    #[test]
    fn what_metric_filters_cannot_express_is_left_out_and_said() {
        let c = config(concat!(
            "[metrics]\nnamespace = \"N\"\n",
            "packs = [{ name = \"cis-cloudtrail\", identity = true, log_groups = [\"trail-*\"] }]\n",
            "[[metrics.rule]]\nmetric_name = \"Lit\"\nfilter_pattern = 'x'\ndimensions = { Env = \"prod\" }\n",
            "[[metrics.rule]]\nmetric_name = \"Fast\"\nfilter_pattern = 'x'\nstorage_resolution = 1\n",
            "[[metrics.rule]]\nmetric_name = \"Four\"\nfilter_pattern = '{ $.a = 1 }'\n",
            "dimensions = { A = \"$.a\", B = \"$.b\", C = \"$.c\", D = \"$.d\" }\n",
            "[[metrics.rule]]\nmetric_name = \"Rate\"\nfilter_pattern = 'ERROR'\ndefault_value = 0\n",
        ));
        let e = export_metric_filters(
            &c,
            &ExportOptions {
                log_group: Some("trail-main".into()),
            },
        )
        .unwrap();
        let skipped: Vec<&str> = e
            .notes
            .iter()
            .filter(|n| n.skipped)
            .map(|n| n.rule.as_str())
            .collect();
        assert_eq!(skipped, ["Lit by Env", "Fast", "Four by A, B, C, D"]);
        // The identity rules fit (2 dimensions); they and the by-dimension rules get a note
        // about their caps.
        assert_eq!(e.filters, 1 + 42);
        assert_eq!(e.alarms, 1 + 14);
        assert_eq!(
            e.notes.iter().filter(|n| !n.skipped).count(),
            28,
            "{:?}",
            e.notes
        );
        let rate = &e.template["Resources"]["RateFilter"]["Properties"];
        assert_eq!(rate["MetricTransformations"][0]["DefaultValue"], 0.0);
        // Another log group: the pack's rules are not for it.
        let other = export_metric_filters(
            &c,
            &ExportOptions {
                log_group: Some("/aws/lambda/x".into()),
            },
        )
        .unwrap();
        assert_eq!(other.filters, 1);
    }
}
