//! `logsieve import-metric-filters`: turns the JSON of `aws logs describe-metric-filters` into
//! `[[metrics.rule]]` TOML, one commented rule per metric transformation. Whatever cannot be
//! carried over exactly is reported as an [`ImportIssue`]; a filter logsieve cannot run is
//! written commented out with the reason, never changed into something else.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use logsieve::metrics::{NumberOrText, RuleConfig, MAX_CARDINALITY_LIMIT};

/// Largest document accepted (describe-metric-filters pages hold at most 50 filters, so a real
/// document is a few hundred KB even when several pages are concatenated by hand).
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// Keys of a filter or transformation that carry no behaviour (bookkeeping AWS adds).
const INFORMATIONAL_KEYS: &[&str] = &["creationTime"];

/// The `describe-metric-filters` response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    metric_filters: Vec<MetricFilter>,
    #[serde(default)]
    next_token: Option<String>,
}

/// One metric filter as AWS describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricFilter {
    filter_name: String,
    #[serde(default)]
    filter_pattern: String,
    log_group_name: String,
    metric_transformations: Vec<MetricTransformation>,
    #[serde(default)]
    apply_on_transformed_logs: bool,
    /// Newer or unknown members, reported when they carry a value.
    #[serde(flatten)]
    other: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricTransformation {
    metric_name: String,
    metric_namespace: String,
    metric_value: String,
    #[serde(default)]
    default_value: Option<f64>,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// How far a translation is from the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Translated exactly; worth knowing (a default filled in, a limit raised).
    Note,
    /// Translated, but the rule behaves differently in the way described.
    Inexact,
    /// Not translated: the rule is written commented out.
    Skipped,
}

/// One thing the user should know about an imported filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportIssue {
    /// The filter's name (empty for the document as a whole).
    pub filter: String,
    pub log_group: String,
    pub severity: Severity,
    pub message: String,
}

/// The result: TOML text and what could not be carried over exactly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Import {
    /// A configuration file holding the rules (valid TOML; skipped rules are comments).
    pub toml: String,
    pub issues: Vec<ImportIssue>,
    /// Rules written (uncommented).
    pub rules: usize,
    /// Rules written commented out.
    pub skipped: usize,
}

/// Why a document could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a describe-metric-filters document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("document is {0} bytes, the limit is {MAX_IMPORT_BYTES}")]
    TooLarge(usize),
}

/// Translates a `describe-metric-filters` JSON document.
pub fn import_metric_filters(json: &str) -> Result<Import, ImportError> {
    if json.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge(json.len()));
    }
    let doc: Document = serde_json::from_str(json)?;
    let mut out = Import {
        toml: String::new(),
        issues: Vec::new(),
        rules: 0,
        skipped: 0,
    };
    out.toml.push_str(
        "# Imported from `aws logs describe-metric-filters` by `logsieve import-metric-filters`.\n\
         # Each rule keeps its filter's pattern, value, dimensions and unit, limited to the\n\
         # filter's log group. Run `logsieve plan --config <this file>` to see series and cost.\n\n\
         [metrics]\n",
    );
    if doc.next_token.is_some() {
        out.issues.push(ImportIssue {
            filter: String::new(),
            log_group: String::new(),
            severity: Severity::Note,
            message: "the document has a nextToken: more filters exist; fetch every page (the AWS CLI does unless --max-items is given)".into(),
        });
    }
    for (i, f) in doc.metric_filters.iter().enumerate() {
        import_filter(i, f, &mut out);
    }
    Ok(out)
}

fn import_filter(index: usize, f: &MetricFilter, out: &mut Import) {
    let issue = |severity: Severity, message: String| ImportIssue {
        filter: f.filter_name.clone(),
        log_group: f.log_group_name.clone(),
        severity,
        message,
    };
    let mut filter_issues = Vec::new();
    if f.apply_on_transformed_logs {
        filter_issues.push(issue(
            Severity::Inexact,
            "applyOnTransformedLogs: the filter matched the output of the log group's transformer; logsieve matches the events as delivered by the subscription".into(),
        ));
    }
    for key in unknown_keys(&f.other) {
        filter_issues.push(issue(
            Severity::Inexact,
            format!("{key} is not translated (logsieve has no equivalent)"),
        ));
    }
    let log_group_ok = valid_log_group(&f.log_group_name);
    if !log_group_ok {
        filter_issues.push(issue(
            Severity::Skipped,
            format!(
                "log group name {:?} has characters log group names cannot have",
                f.log_group_name
            ),
        ));
    }
    if f.metric_transformations.len() > 1 {
        filter_issues.push(issue(
            Severity::Note,
            format!(
                "{} metric transformations: written as one rule each",
                f.metric_transformations.len()
            ),
        ));
    }
    if f.metric_transformations.is_empty() {
        filter_issues.push(issue(
            Severity::Skipped,
            "no metric transformation: nothing to publish".into(),
        ));
    }
    let filter_skipped = !log_group_ok;
    out.issues.append(&mut filter_issues);
    for (j, t) in f.metric_transformations.iter().enumerate() {
        let mut issues = Vec::new();
        let rule = translate(f, t, &mut issues);
        let key = format!("filter {index} transformation {j}");
        let compiled = rule.compile(&key, "Logsieve", false);
        let mut reasons: Vec<String> = issues
            .iter()
            .filter(|(s, _)| *s == Severity::Skipped)
            .map(|(_, m)| m.clone())
            .collect();
        if let Err(e) = &compiled {
            let prefix = format!("{key}.");
            let field = e.key.strip_prefix(&prefix).unwrap_or(&e.key);
            issues.push((
                Severity::Skipped,
                format!("logsieve rejects {field}: {}", e.message),
            ));
            reasons.push(format!("{field}: {}", e.message));
        }
        if filter_skipped {
            reasons.push("log group name".into());
        }
        let skipped = !reasons.is_empty();
        for (severity, message) in issues {
            out.issues.push(issue(severity, message));
        }
        let _ = writeln!(
            out.toml,
            "\n# Metric filter {:?} on log group {:?}{}",
            one_line(&f.filter_name),
            one_line(&f.log_group_name),
            if f.metric_transformations.len() > 1 {
                format!(" (transformation {})", j + 1)
            } else {
                String::new()
            }
        );
        let text = rule_toml(&rule);
        if skipped {
            out.skipped += 1;
            let _ = writeln!(
                out.toml,
                "# SKIPPED, not translatable: {}",
                one_line(&reasons.join("; "))
            );
            for line in text.lines() {
                let _ = writeln!(out.toml, "# {line}");
            }
        } else {
            out.rules += 1;
            out.toml.push_str(&text);
        }
    }
}

/// The rule for one transformation; problems are pushed to `issues`.
fn translate(
    f: &MetricFilter,
    t: &MetricTransformation,
    issues: &mut Vec<(Severity, String)>,
) -> RuleConfig {
    for key in unknown_keys(&t.other) {
        issues.push((
            Severity::Inexact,
            format!("{key} is not translated (logsieve has no equivalent)"),
        ));
    }
    let unit = match &t.unit {
        Some(u) => u.clone(),
        None => {
            issues.push((
                Severity::Note,
                "no unit: written as unit = \"None\", the unit CloudWatch gives such metrics"
                    .into(),
            ));
            "None".into()
        }
    };
    let from_event = t
        .dimensions
        .values()
        .any(|s| s.starts_with('$') && !s.starts_with("$$"));
    let mut default_value = t.default_value;
    if let Some(d) = t.default_value {
        if from_event {
            issues.push((
                Severity::Inexact,
                format!("defaultValue {d} dropped: logsieve (like CloudWatch) allows a default value only without dimensions read from events"),
            ));
            default_value = None;
        } else if d == 0.0 {
            issues.push((
                Severity::Note,
                "defaultValue 0: logsieve emits it for every non-matching event rather than once per ingestion period, so Sum is the same and SampleCount/Average count events (Average becomes the match ratio)".into(),
            ));
        } else {
            issues.push((
                Severity::Inexact,
                format!("defaultValue {d}: logsieve emits it for every non-matching event rather than once per ingestion period, so Sum and SampleCount differ from CloudWatch's"),
            ));
        }
    }
    // Dimension values are always fields in metric filters; a literal `$` cannot occur, but a
    // value without `$` would be a literal for logsieve and is kept as such.
    for (name, source) in &t.dimensions {
        if !source.starts_with('$') {
            issues.push((
                Severity::Note,
                format!("dimension {name} = {source:?} is a literal value in logsieve"),
            ));
        }
    }
    let max_cardinality = if from_event {
        issues.push((
            Severity::Note,
            format!("max_cardinality = {MAX_CARDINALITY_LIMIT}: CloudWatch's own limit of dimension combinations per filter, so nothing folds into \"other\" sooner than before; lower it to cap cost"),
        ));
        MAX_CARDINALITY_LIMIT
    } else {
        logsieve::metrics::DEFAULT_MAX_CARDINALITY
    };
    RuleConfig {
        metric_name: t.metric_name.clone(),
        metric_namespace: Some(t.metric_namespace.clone()),
        filter_pattern: f.filter_pattern.clone(),
        metric_value: NumberOrText::Text(t.metric_value.clone()),
        default_value,
        unit,
        storage_resolution: 60,
        dimensions: t.dimensions.clone(),
        max_cardinality,
        log_groups: vec![f.log_group_name.clone()],
    }
}

fn unknown_keys(other: &Map<String, Value>) -> Vec<&str> {
    other
        .iter()
        .filter(|(k, v)| {
            !INFORMATIONAL_KEYS.contains(&k.as_str())
                && !matches!(v, Value::Null | Value::Bool(false))
                && !(v.as_array().is_some_and(Vec::is_empty))
        })
        .map(|(k, _)| k.as_str())
        .collect()
}

/// Log group names are `[.\-_/#A-Za-z0-9]{1,512}`; none of those is a glob metacharacter, so the
/// name is its own exact glob.
fn valid_log_group(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b'#'))
}

/// The rule as TOML lines (the fields `RuleConfig` defaults are written only when set).
fn rule_toml(r: &RuleConfig) -> String {
    let mut s = String::from("[[metrics.rule]]\n");
    let _ = writeln!(s, "metric_name = {}", toml_string(&r.metric_name));
    if let Some(ns) = &r.metric_namespace {
        let _ = writeln!(s, "metric_namespace = {}", toml_string(ns));
    }
    if !r.filter_pattern.is_empty() {
        let _ = writeln!(s, "filter_pattern = {}", toml_string(&r.filter_pattern));
    }
    match &r.metric_value {
        NumberOrText::Text(t) => {
            let _ = writeln!(s, "metric_value = {}", toml_string(t));
        }
        NumberOrText::Number(n) => {
            let _ = writeln!(s, "metric_value = {n:?}");
        }
    }
    if let Some(d) = r.default_value {
        let _ = writeln!(s, "default_value = {d:?}");
    }
    let _ = writeln!(s, "unit = {}", toml_string(&r.unit));
    if !r.dimensions.is_empty() {
        let dims: Vec<String> = r
            .dimensions
            .iter()
            .map(|(k, v)| format!("{} = {}", toml_key(k), toml_string(v)))
            .collect();
        let _ = writeln!(s, "dimensions = {{ {} }}", dims.join(", "));
    }
    if r.max_cardinality != logsieve::metrics::DEFAULT_MAX_CARDINALITY {
        let _ = writeln!(s, "max_cardinality = {}", r.max_cardinality);
    }
    if !r.log_groups.is_empty() {
        let groups: Vec<String> = r.log_groups.iter().map(|g| toml_string(g)).collect();
        let _ = writeln!(s, "log_groups = [{}]", groups.join(", "));
    }
    s
}

/// A TOML string: a literal `'…'` when that needs no escaping (patterns stay readable), else a
/// basic string with escapes.
pub fn toml_string(v: &str) -> String {
    if !v.contains('\'') && !v.chars().any(char::is_control) {
        return format!("'{v}'");
    }
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(s, "\\u{:04X}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn toml_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        k.to_string()
    } else {
        toml_string(k)
    }
}

/// Text for a comment line: control characters (newlines) would end the comment.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The issues as one line each (`severity filter (log group): message`).
pub fn render_issues(issues: &[ImportIssue]) -> String {
    let mut s = String::new();
    for i in issues {
        let sev = match i.severity {
            Severity::Note => "note",
            Severity::Inexact => "INEXACT",
            Severity::Skipped => "SKIPPED",
        };
        if i.filter.is_empty() {
            let _ = writeln!(s, "{sev}: {}", i.message);
        } else {
            let _ = writeln!(
                s,
                "{sev}: {} ({}): {}",
                one_line(&i.filter),
                one_line(&i.log_group),
                i.message
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsieve::config::Config;

    fn filter(pattern: &str, transformation: Value) -> String {
        serde_json::json!({"metricFilters": [{
            "filterName": "f",
            "filterPattern": pattern,
            "logGroupName": "/aws/lambda/orders",
            "metricTransformations": [transformation],
        }]})
        .to_string()
    }

    fn severities(i: &Import) -> Vec<(Severity, String)> {
        i.issues
            .iter()
            .map(|x| (x.severity, x.message.clone()))
            .collect()
    }

    #[test]
    fn toml_strings_round_trip() {
        for v in [
            "plain",
            "it's",
            "{ $.msg = \"a \\\"b\\\" c\" }",
            "tab\there",
            "new\nline",
            "back\\slash'",
            "\u{1}",
            "é ü",
        ] {
            let text = format!("v = {}", toml_string(v));
            let back: BTreeMap<String, String> = toml::from_str(&text).unwrap();
            assert_eq!(back["v"], v, "{text}");
        }
        assert_eq!(toml_key("Status-Code_1"), "Status-Code_1");
        assert_eq!(toml_key("a.b"), "'a.b'");
    }

    #[test]
    fn exact_translation_has_no_issues_and_parses() {
        let json = filter(
            "{ $.latency > 500 }",
            serde_json::json!({"metricName": "Slow", "metricNamespace": "App",
                "metricValue": "$.latency", "unit": "Milliseconds"}),
        );
        let imp = import_metric_filters(&json).unwrap();
        assert!(imp.issues.is_empty(), "{:?}", imp.issues);
        assert_eq!((imp.rules, imp.skipped), (1, 0));
        let cfg = Config::from_toml(&imp.toml).unwrap();
        cfg.validate().unwrap();
        let r = &cfg.metrics.rules[0];
        assert_eq!(r.filter_pattern, "{ $.latency > 500 }");
        assert_eq!(r.log_groups, vec!["/aws/lambda/orders"]);
        assert_eq!(r.metric_namespace.as_deref(), Some("App"));
        assert_eq!(r.unit, "Milliseconds");
        assert!(imp
            .toml
            .contains("# Metric filter \"f\" on log group \"/aws/lambda/orders\""));
    }

    #[test]
    fn differences_are_reported_never_silent() {
        let t = |extra: Value| {
            let mut base = serde_json::json!({"metricName": "M", "metricNamespace": "App",
                "metricValue": "1"});
            if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
                b.extend(e);
            }
            base
        };
        let cases: Vec<(String, Severity, &str)> = vec![
            (
                filter("ERROR", t(serde_json::json!({}))),
                Severity::Note,
                "no unit",
            ),
            (
                filter(
                    "ERROR",
                    t(serde_json::json!({"unit": "Count", "defaultValue": 0.0})),
                ),
                Severity::Note,
                "defaultValue 0",
            ),
            (
                filter(
                    "ERROR",
                    t(serde_json::json!({"unit": "Count", "defaultValue": 2.0})),
                ),
                Severity::Inexact,
                "defaultValue 2",
            ),
            (
                filter(
                    "{ $.a = 1 }",
                    t(serde_json::json!({"unit": "Count", "defaultValue": 0.0,
                        "dimensions": {"S": "$.s"}})),
                ),
                Severity::Inexact,
                "dropped",
            ),
            (
                filter("ERROR", t(serde_json::json!({"unit": "Counts"}))),
                Severity::Skipped,
                "unit",
            ),
            (
                filter("{ $.a = ", t(serde_json::json!({"unit": "Count"}))),
                Severity::Skipped,
                "filter_pattern",
            ),
            (
                filter(
                    "ERROR",
                    t(serde_json::json!({"unit": "Count", "metricValue": "$a-b"})),
                ),
                Severity::Skipped,
                "metric_value",
            ),
            (
                filter(
                    "ERROR",
                    t(serde_json::json!({"unit": "Count", "entity": {"x": 1}})),
                ),
                Severity::Inexact,
                "entity",
            ),
            (
                filter(
                    "{ $.a = 1 }",
                    t(serde_json::json!({"unit": "Count", "dimensions": {"S": "$.s"}})),
                ),
                Severity::Note,
                "max_cardinality = 1000",
            ),
        ];
        for (json, severity, needle) in cases {
            let imp = import_metric_filters(&json).unwrap();
            let found = severities(&imp)
                .iter()
                .any(|(s, m)| *s == severity && m.contains(needle));
            assert!(found, "{needle}: {:?}", imp.issues);
            // Whatever happened, the output is a valid configuration.
            let cfg = Config::from_toml(&imp.toml).unwrap();
            cfg.validate().unwrap();
            assert_eq!(
                imp.skipped,
                usize::from(severity == Severity::Skipped),
                "{needle}"
            );
            assert_eq!(cfg.metrics.rules.len(), imp.rules);
        }
    }

    #[test]
    fn filter_level_issues() {
        let json = serde_json::json!({"nextToken": "abc", "metricFilters": [
            {"filterName": "t\nx", "filterPattern": "", "logGroupName": "/a",
             "applyOnTransformedLogs": true, "creationTime": 1,
             "metricTransformations": [
                {"metricName": "A", "metricNamespace": "N", "metricValue": "1", "unit": "Count"},
                {"metricName": "B", "metricNamespace": "N", "metricValue": "2", "unit": "Count"}]},
            {"filterName": "bad group", "filterPattern": "x", "logGroupName": "/a*",
             "metricTransformations": [
                {"metricName": "C", "metricNamespace": "N", "metricValue": "1", "unit": "Count"}]}
        ]})
        .to_string();
        let imp = import_metric_filters(&json).unwrap();
        let text = render_issues(&imp.issues);
        assert!(text.contains("nextToken"), "{text}");
        assert!(
            text.contains("INEXACT: t x (/a): applyOnTransformedLogs"),
            "{text}"
        );
        assert!(text.contains("2 metric transformations"), "{text}");
        assert!(text.contains("SKIPPED: bad group"), "{text}");
        assert!(!text.contains("creationTime"), "{text}");
        assert_eq!((imp.rules, imp.skipped), (2, 1));
        let cfg = Config::from_toml(&imp.toml).unwrap();
        let names: Vec<_> = cfg
            .metrics
            .rules
            .iter()
            .map(|r| r.metric_name.as_str())
            .collect();
        assert_eq!(names, vec!["A", "B"]);
    }

    #[test]
    fn not_a_document_is_an_error() {
        for bad in ["", "[]", "{\"metricFilters\": 3}", "{\"x\": []}"] {
            assert!(import_metric_filters(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(100_000);
        assert!(import_metric_filters(&deep).is_err());
    }
}
