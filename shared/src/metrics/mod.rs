//! Metrics: rules shaped like CloudWatch metric filters plus built-in Lambda metrics, aggregated
//! per batch into PutMetricData-shaped datums, and the pure encoders (PutMetricData requests, EMF).
//!
//! Per batch the pipeline creates an [`Aggregator`], calls [`MetricRules::derive`] for every
//! record and [`Aggregator::finish`] at the end. Cardinality caps and Lambda de-duplication live
//! in a [`MetricState`] the caller keeps for the life of the process (a warm Lambda environment).

mod aggregate;
mod emf;
mod encode;
mod lambda;
pub mod packs;
mod rules;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use aggregate::*;
pub use emf::*;
pub use encode::*;
pub use lambda::{
    function_name, LambdaMetrics, LambdaState, RecentIds, DEFAULT_MAX_FUNCTIONS,
    DEFAULT_PRICE_PER_GB_SECOND, DEFAULT_PRICE_PER_REQUEST, MAX_ERROR_TYPES, RECENT_IDS,
};
pub use rules::{
    CompiledRule, DimensionSource, NumberOrText, RuleConfig, DEFAULT_MAX_CARDINALITY,
    MAX_CARDINALITY_LIMIT, MAX_FILTER_PATTERN_LEN, OVERFLOW_VALUE,
};

use crate::config_error::ConfigError;
use crate::pattern::{regex_budget_message, MAX_CONFIG_REGEX_POSITIONS};
use crate::record::{Record, Source};
use crate::stats::Counters;
use rules::SeenValues;

/// Most `[[metrics.rule]]` entries. CloudWatch allows 100 metric filters per log group
/// (PutMetricFilter, https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutMetricFilter.html);
/// one processor may serve several log groups, so more are allowed, but every rule is tried on
/// every event, so not without bound.
pub const MAX_METRIC_RULES: usize = 500;

/// Where metrics go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricSinkKind {
    /// PutMetricData calls.
    #[default]
    Cloudwatch,
    /// Embedded Metric Format documents on stdout (lands in the processor's own log group).
    Emf,
    /// Metrics are derived (and shown by the CLI) but not sent.
    None,
}

/// `[metrics]` in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Default namespace for rules that set none, and the namespace of the built-in Lambda
    /// metrics. 1–255 printable ASCII, not starting with `AWS/`.
    pub namespace: String,
    /// Where metrics go: `cloudwatch`, `emf` or `none`.
    pub sink: MetricSinkKind,
    /// Built-in Lambda metrics from REPORT / platform.report lines (see the `lambda` module).
    pub lambda_platform: bool,
    /// USD per GB-second for `EstimatedCost`; default arm64 on-demand, first tier.
    pub price_per_gb_second: f64,
    /// USD per request for `EstimatedCost`.
    pub price_per_request: f64,
    /// Distinct `FunctionName` values kept before folding into `other` (account-level
    /// subscriptions can deliver many log groups); an overflowing log group is counted once per
    /// batch as `metrics.cardinality_overflow`. 1–1000.
    pub lambda_max_functions: usize,
    /// `[[metrics.rule]]` entries.
    #[serde(rename = "rule")]
    pub rules: Vec<RuleConfig>,
    /// Built-in rule packs (`"cis-cloudtrail"`, or `{ name = "cis-cloudtrail", ... }`), whose
    /// rules follow `rules` (see `packs`).
    pub packs: Vec<packs::PackRef>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            namespace: "Logsieve".into(),
            sink: MetricSinkKind::Cloudwatch,
            lambda_platform: true,
            price_per_gb_second: DEFAULT_PRICE_PER_GB_SECOND,
            price_per_request: DEFAULT_PRICE_PER_REQUEST,
            lambda_max_functions: DEFAULT_MAX_FUNCTIONS,
            rules: Vec::new(),
            packs: Vec::new(),
        }
    }
}

impl MetricsConfig {
    /// The rules `packs` adds, as configs (for tools that describe rules: dashboards, export).
    pub fn pack_rules(&self) -> Result<Vec<RuleConfig>, ConfigError> {
        packs::expand(&self.packs)
    }

    pub fn validate(&self) -> Result<MetricRules, ConfigError> {
        check_namespace(&self.namespace).map_err(|e| {
            ConfigError::new("metrics.namespace", format!("{:?} {e}", self.namespace))
        })?;
        for (key, price) in [
            ("metrics.price_per_gb_second", self.price_per_gb_second),
            ("metrics.price_per_request", self.price_per_request),
        ] {
            if !(price.is_finite() && price >= 0.0) {
                return Err(ConfigError::new(key, format!("{price} is not a price ≥ 0")));
            }
        }
        if !(1..=MAX_CARDINALITY_LIMIT).contains(&self.lambda_max_functions) {
            return Err(ConfigError::new(
                "metrics.lambda_max_functions",
                format!(
                    "{} is not within 1..={MAX_CARDINALITY_LIMIT}",
                    self.lambda_max_functions
                ),
            ));
        }
        let emf = self.sink == MetricSinkKind::Emf;
        if self.rules.len() > MAX_METRIC_RULES {
            return Err(ConfigError::new(
                "metrics.rule",
                format!(
                    "{} rules, more than {MAX_METRIC_RULES}: every rule is tried on every event",
                    self.rules.len()
                ),
            ));
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        let mut positions = 0usize;
        for (i, r) in self.rules.iter().enumerate() {
            let key = format!("metrics.rule[{i}]");
            let rule = r.compile(&key, &self.namespace, emf)?;
            // Checked as rules compile, so a config far over the budget is refused at the first
            // rule past it instead of after compiling every one.
            positions = positions.saturating_add(rule.regex_positions());
            if positions > MAX_CONFIG_REGEX_POSITIONS {
                return Err(ConfigError::new(
                    format!("{key}.filter_pattern"),
                    regex_budget_message(positions),
                ));
            }
            rules.push(rule);
        }
        let pack_rules = packs::expand(&self.packs)?;
        if self.rules.len() + pack_rules.len() > MAX_METRIC_RULES {
            return Err(ConfigError::new(
                "metrics.packs",
                format!(
                    "{} rules with the packs', more than {MAX_METRIC_RULES}",
                    self.rules.len() + pack_rules.len()
                ),
            ));
        }
        for r in &pack_rules {
            let key = format!("metrics.packs.{}", r.metric_name);
            let mut rule = r.compile(&key, &self.namespace, emf)?;
            rule.only_format(crate::record::Format::CloudTrail);
            rules.push(rule);
        }
        let lambda = if self.lambda_platform {
            let l = LambdaMetrics::new(
                &self.namespace,
                self.price_per_gb_second,
                self.price_per_request,
                self.lambda_max_functions,
            )
            .map_err(|e| ConfigError::new("metrics.namespace", e.to_string()))?;
            Some(l)
        } else {
            None
        };
        let shared_pattern = shared_patterns(&rules);
        Ok(MetricRules {
            sink: self.sink,
            rules,
            lambda,
            redactor: None,
            names: None,
            shared_pattern,
        })
    }
}

/// The checked `[metrics]` config, with patterns compiled.
#[derive(Debug, Clone)]
pub struct MetricRules {
    pub sink: MetricSinkKind,
    pub rules: Vec<CompiledRule>,
    pub lambda: Option<LambdaMetrics>,
    /// Set by the pipeline when records arrive unredacted: applied to every dimension value read
    /// from an event before it is admitted.
    pub redactor: Option<crate::redact::Redactor>,
    /// Redacts the log group before it becomes a `FunctionName` (both pipeline modes: record
    /// redaction does not touch names). Set by `guard_exits`.
    names: Option<crate::redact::Redactor>,
    /// For each rule, an earlier rule with the same filter pattern, whose verdict on a record it
    /// reuses (a count and a rate ported from two metric filters share one pattern).
    shared_pattern: Vec<Option<usize>>,
}

/// Rules past this many do not share verdicts (the per-record memory is a fixed array).
const MAX_SHARED_VERDICTS: usize = 32;

fn shared_patterns(rules: &[CompiledRule]) -> Vec<Option<usize>> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let source = r.pattern_source()?;
            rules
                .iter()
                .take(i.min(MAX_SHARED_VERDICTS))
                .position(|earlier| earlier.pattern_source() == Some(source))
        })
        .collect()
}

/// What metric derivation remembers between batches of one process: the distinct dimension
/// values admitted under each cardinality cap, recent timeout / out-of-memory request ids, and a
/// cache of per-log-group decisions. Memory is bounded by the caps. Use one state per
/// [`MetricRules`]; a state used with other rules only carries over unrelated caps.
#[derive(Debug, Default, Clone)]
pub struct MetricState {
    /// `seen[rule][dimension]`.
    seen: Vec<Vec<SeenValues>>,
    functions: SeenValues,
    lambda: LambdaState,
    scope: Option<Scope>,
    /// Dimension values repeat from record to record; their redaction is remembered.
    redact_memo: crate::redact::RedactMemo,
}

/// Decisions that depend only on the record's source, cached while the source stays the same
/// (every record of a batch shares one `Arc<Source>`).
#[derive(Debug, Clone)]
struct Scope {
    source: Arc<Source>,
    applies: Vec<bool>,
    /// `FunctionName`, admitted under the function cap on first use.
    function: Option<String>,
}

impl MetricState {
    pub fn new() -> MetricState {
        MetricState::default()
    }

    fn enter(&mut self, record: &Record, rules: &[CompiledRule]) {
        let fresh = self.scope.as_ref().is_some_and(|s| {
            Arc::ptr_eq(&s.source, &record.source) && s.applies.len() == rules.len()
        });
        if fresh {
            return;
        }
        let group = record.source.log_group.as_str();
        self.scope = Some(Scope {
            source: Arc::clone(&record.source),
            applies: rules.iter().map(|r| r.applies_to(group)).collect(),
            function: None,
        });
        if self.seen.len() < rules.len() {
            self.seen.resize_with(rules.len(), Vec::new);
        }
        for (seen, rule) in self.seen.iter_mut().zip(rules) {
            if seen.len() < rule.dimension_count() {
                seen.resize_with(rule.dimension_count(), SeenValues::default);
            }
        }
    }

    fn applies(&self, rule: usize) -> bool {
        self.scope
            .as_ref()
            .and_then(|s| s.applies.get(rule).copied())
            .unwrap_or(false)
    }

    /// Redacted once per source (a batch), since every record of it shares the name.
    fn function(
        &mut self,
        max: usize,
        names: Option<&crate::redact::Redactor>,
        counters: &mut Counters,
    ) -> Option<String> {
        let scope = self.scope.as_mut()?;
        if scope.function.is_none() {
            let group = crate::exits::redact_name(&scope.source.log_group, names);
            let name = function_name(&group).to_string();
            scope.function = Some(self.functions.admit(name, max, counters));
        }
        scope.function.clone()
    }
}

impl MetricRules {
    /// Applies `redactor`'s sensitive keys to the rules' paths and its detectors to log group
    /// names, in both pipeline modes (the config loader calls it with the `[fields]` redactor).
    pub fn guard_exits(&mut self, redactor: &crate::redact::Redactor) {
        for rule in &mut self.rules {
            rule.guard_exits(redactor);
        }
        self.names = (!redactor.is_empty()).then(|| redactor.clone());
    }

    /// Evaluates every rule and built-in metric against one record, adding samples to `agg`.
    /// Every record moves the aggregator's timestamp window, whether or not it yields samples.
    pub fn derive(
        &self,
        record: &Record,
        agg: &mut Aggregator,
        state: &mut MetricState,
        counters: &mut Counters,
    ) {
        agg.observe(record.timestamp);
        state.enter(record, &self.rules);
        let mut verdicts = [None; MAX_SHARED_VERDICTS];
        for (i, rule) in self.rules.iter().enumerate() {
            if !state.applies(i) {
                continue;
            }
            let known = self
                .shared_pattern
                .get(i)
                .copied()
                .flatten()
                .and_then(|j| verdicts.get(j).copied().flatten());
            let seen = state.seen.get_mut(i).map_or(&mut [][..], |v| &mut v[..]);
            let redactor = self.redactor.as_ref().map(|r| (r, &mut state.redact_memo));
            let verdict = rule.apply(record, agg, seen, redactor, known, counters);
            if let Some(slot) = verdicts.get_mut(i) {
                *slot = verdict;
            }
        }
        if let (Some(lambda), Some(_)) = (&self.lambda, &record.platform) {
            if let Some(function) =
                state.function(lambda.max_functions, self.names.as_ref(), counters)
            {
                lambda.derive(
                    record,
                    &function,
                    agg,
                    &mut state.lambda,
                    self.redactor.as_ref(),
                    counters,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Format, LogEvent, PlatformEvent, Report};
    use serde_json::{json, Value};

    const T0: i64 = 1_699_999_980_000;

    fn source(group: &str) -> Arc<Source> {
        Arc::new(Source {
            log_group: group.into(),
            ..Source::default()
        })
    }

    fn text(src: &Arc<Source>, message: &str) -> Record {
        Record::text(
            Arc::clone(src),
            LogEvent {
                id: "1".into(),
                timestamp: T0,
                message: message.into(),
                extracted_fields: None,
            },
        )
    }

    fn json_rec(src: &Arc<Source>, v: Value) -> Record {
        let mut r = text(src, &v.to_string());
        r.format = Format::Json;
        if let Value::Object(m) = v {
            r.set_fields(m);
        }
        r
    }

    fn platform(src: &Arc<Source>, p: PlatformEvent) -> Record {
        let mut r = text(src, "REPORT");
        r.format = Format::LambdaText;
        r.platform = Some(p);
        r
    }

    fn config(toml_text: &str) -> MetricsConfig {
        #[derive(Deserialize)]
        struct Root {
            metrics: MetricsConfig,
        }
        toml::from_str::<Root>(toml_text).unwrap().metrics
    }

    fn run(rules: &MetricRules, records: &[Record]) -> (Vec<MetricDatum>, Counters) {
        let mut state = MetricState::new();
        let mut counters = Counters::new();
        let mut agg = Aggregator::new();
        for r in records {
            rules.derive(r, &mut agg, &mut state, &mut counters);
        }
        (agg.finish(&mut counters), counters)
    }

    /// (metric name, dimensions as "k=v,…", Σ value×count, Σ count) per datum.
    fn summary(ds: &[MetricDatum]) -> Vec<(String, String, f64, f64)> {
        ds.iter()
            .map(|d| {
                let dims: Vec<String> = d
                    .dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                    .collect();
                let sum = d.values.iter().zip(&d.counts).map(|(v, c)| v * c).sum();
                (
                    d.metric_name.clone(),
                    dims.join(","),
                    sum,
                    d.counts.iter().sum(),
                )
            })
            .collect()
    }

    #[test]
    fn rules_sharing_a_pattern_reuse_its_verdict_with_the_same_result() {
        let rule = |name: &str, extra: &str| {
            format!(
                "[[metrics.rule]]\nmetric_name = \"{name}\"\nfilter_pattern = '{{ $.status >= 500 }}'\n{extra}\n"
            )
        };
        let rules_text = [
            rule(
                "Errors",
                "metric_value = \"1\"\ndimensions = { Service = \"$.service\" }",
            ),
            rule(
                "ErrorRate",
                "metric_value = \"1\"\ndefault_value = 0\ndimensions = { Service = \"fixed\" }",
            ),
            rule(
                "Status",
                "metric_value = \"$.status\"\ndimensions = { Code = \"$.status\" }",
            ),
            rule(
                "Other",
                "metric_value = \"2\"\nlog_groups = [\"/nowhere/*\"]",
            ),
            rule("Again", "metric_value = \"3\""),
        ];
        let header = "[metrics]\nnamespace = \"T\"\nlambda_platform = false\n";
        let shared = config(&format!("{header}{}", rules_text.concat()))
            .validate()
            .unwrap();
        assert_eq!(
            shared.shared_pattern,
            vec![None, Some(0), Some(0), Some(0), Some(0)]
        );
        let src = source("/ecs/api");
        let records: Vec<Record> = [
            json!({"status": 503, "service": "a"}),
            json!({"status": 200, "service": "a"}),
            json!({"service": "b"}),
            json!({"status": "500", "service": "c"}),
            json!({"status": 500}),
        ]
        .into_iter()
        .map(|v| json_rec(&src, v))
        .collect();
        let (got, got_counters) = run(&shared, &records);
        // Each rule on its own, so no verdict is shared.
        let mut want = Vec::new();
        let mut want_counters = Counters::new();
        for text in &rules_text {
            let alone = config(&format!("{header}{text}")).validate().unwrap();
            let (d, c) = run(&alone, &records);
            want.extend(d);
            want_counters.merge(&c);
        }
        assert_eq!(sums(&got), sums(&want));
        assert_eq!(got_counters, want_counters);
        assert!(sums(&got).len() >= 4, "{:?}", sums(&got));
    }

    #[test]
    fn config_defaults_and_full_rule_parse() {
        let c = config(
            r#"
            [metrics]
            namespace = "App"
            [[metrics.rule]]
            metric_name = "Latency"
            filter_pattern = "latency"
            metric_value = "$.latency"
            unit = "Milliseconds"
            storage_resolution = 1
            dimensions = { Service = "$.service", Env = "prod" }
            max_cardinality = 5
            log_groups = ["/aws/lambda/api-*"]
            [[metrics.rule]]
            metric_name = "Hits"
            metric_value = 2
            default_value = 0
            "#,
        );
        assert!(c.lambda_platform);
        assert_eq!(
            c.rules[0].metric_value,
            NumberOrText::Text("$.latency".into())
        );
        assert_eq!(c.rules[1].metric_value, NumberOrText::Number(2.0));
        assert_eq!(c.rules[1].unit, "None");
        assert_eq!(c.rules[1].max_cardinality, DEFAULT_MAX_CARDINALITY);
        let rules = c.validate().unwrap();
        assert_eq!(rules.rules.len(), 2);
        assert_eq!(rules.rules[0].metric().namespace(), "App");
        assert_eq!(rules.rules[0].metric().resolution(), Resolution::High);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        #[derive(Deserialize)]
        struct Root {
            #[allow(dead_code)]
            metrics: MetricsConfig,
        }
        let e =
            toml::from_str::<Root>("[[metrics.rule]]\nmetric_name = \"x\"\nunits = \"Count\"\n")
                .err()
                .unwrap();
        assert!(e.to_string().contains("units"), "{e}");
    }

    #[test]
    fn validation_errors_name_the_key_and_value() {
        let long = "x".repeat(1025);
        let cases: Vec<(String, &str, &str)> = vec![
            (
                "unit = \"Counts\"".into(),
                "metrics.rule[1].unit",
                "\"Counts\"",
            ),
            (
                "storage_resolution = 30".into(),
                "metrics.rule[1].storage_resolution",
                "30",
            ),
            (
                "metric_value = \"abc\"".into(),
                "metrics.rule[1].metric_value",
                "\"abc\"",
            ),
            (
                "metric_value = \"$a-b\"".into(),
                "metrics.rule[1].metric_value",
                "$a-b",
            ),
            (
                "metric_value = \"$.a..b\"".into(),
                "metrics.rule[1].metric_value",
                "$.a..b",
            ),
            (
                "metric_value = 1e300".into(),
                "metrics.rule[1].metric_value",
                "2^-359..=2^359",
            ),
            (
                "metric_namespace = \"AWS/Lambda\"".into(),
                "metrics.rule[1].metric_namespace",
                "AWS/",
            ),
            (
                "dimensions = { \":bad\" = \"x\" }".into(),
                "metrics.rule[1].dimensions.:bad",
                ":bad",
            ),
            (
                "dimensions = { D = \"  \" }".into(),
                "metrics.rule[1].dimensions.D",
                "non-whitespace",
            ),
            (
                "dimensions = { D = \"é\" }".into(),
                "metrics.rule[1].dimensions.D",
                "ASCII",
            ),
            (
                "dimensions = { M = \"x\" }".into(),
                "metrics.rule[1].dimensions.M",
                "metric's name",
            ),
            (
                "default_value = 0\ndimensions = { S = \"$.service\" }".into(),
                "metrics.rule[1].default_value",
                "dimensions",
            ),
            (
                "max_cardinality = 0".into(),
                "metrics.rule[1].max_cardinality",
                "0",
            ),
            (
                "log_groups = [\"a[\"]".into(),
                "metrics.rule[1].log_groups[0]",
                "a[",
            ),
            (
                format!("filter_pattern = \"{long}\""),
                "metrics.rule[1].filter_pattern",
                "1024",
            ),
            (
                format!(
                    "dimensions = {{ {} }}",
                    (0..31)
                        .map(|i| format!("D{i} = \"v\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "metrics.rule[1].dimensions",
                "31",
            ),
        ];
        for (extra, key, needle) in cases {
            let text = format!(
                "[[metrics.rule]]\nmetric_name = \"Ok\"\n[[metrics.rule]]\nmetric_name = \"M\"\n{extra}\n"
            );
            let e = config(&text).validate().unwrap_err();
            assert_eq!(e.key, key, "{extra}");
            assert!(e.message.contains(needle), "{extra}: {}", e.message);
        }
        let e = config("[metrics]\nnamespace = \":x\"")
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "metrics.namespace");
        let e = config("[metrics]\nprice_per_request = -1.0")
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "metrics.price_per_request");
    }

    #[test]
    fn default_value_is_emitted_for_non_matching_records() {
        let rules = config(
            r#"
            [metrics]
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "Errors"
            filter_pattern = "ERROR"
            metric_value = "1"
            default_value = 0
            unit = "Count"
            dimensions = { Stage = "prod" }
            "#,
        )
        .validate()
        .unwrap();
        let src = source("/app");
        let recs: Vec<_> = ["ERROR a", "ok", "fine", "ERROR b", "ERROR c"]
            .iter()
            .map(|m| text(&src, m))
            .collect();
        let (ds, _) = run(&rules, &recs);
        // One datum: values 0 (×2) and 1 (×3): Sum 3 as CloudWatch, SampleCount 5 (per record).
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].values, vec![0.0, 1.0]);
        assert_eq!(ds[0].counts, vec![2.0, 3.0]);
        assert_eq!(ds[0].dimensions["Stage"], json!("prod"));
    }

    #[test]
    fn compiled_rules_describe_their_dimensions() {
        let rules = config(
            r#"
            [metrics]
            [[metrics.rule]]
            metric_name = "Hits"
            filter_pattern = "[ip, status_code, size]"
            dimensions = { Version = "$$LATEST", Env = "prod", Service = "$.svc['name']", Code = "$status_code", Cash = "$$" }
            max_cardinality = 7
            [[metrics.rule]]
            metric_name = "Rate"
            default_value = 0
            "#,
        )
        .validate()
        .unwrap();
        let path = crate::record::FieldPath::parse("$.svc['name']").unwrap();
        let dims: Vec<(&str, DimensionSource<'_>)> = rules.rules[0].dimensions().collect();
        assert_eq!(
            dims,
            vec![
                ("Cash", DimensionSource::Literal("$")),
                ("Code", DimensionSource::Extracted("$status_code")),
                ("Env", DimensionSource::Literal("prod")),
                ("Service", DimensionSource::Field(&path)),
                ("Version", DimensionSource::Literal("$LATEST")),
            ]
        );
        assert_eq!(rules.rules[0].max_cardinality(), 7);
        assert_eq!(rules.rules[0].default_value(), None);
        assert_eq!(rules.rules[1].dimensions().len(), 0);
        assert_eq!(rules.rules[1].max_cardinality(), DEFAULT_MAX_CARDINALITY);
        assert_eq!(rules.rules[1].default_value(), Some(0.0));
    }

    #[test]
    fn value_and_dimension_from_fields() {
        let rules = config(
            r#"
            [metrics]
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "Latency"
            metric_value = "$.latency"
            unit = "Milliseconds"
            dimensions = { Service = "$.svc.name", Version = "$$LATEST" }
            "#,
        )
        .validate()
        .unwrap();
        let src = source("/app");
        let recs = vec![
            json_rec(&src, json!({"latency": 10, "svc": {"name": "api"}})),
            json_rec(&src, json!({"latency": "20.5", "svc": {"name": "api"}})),
            json_rec(&src, json!({"latency": 5, "svc": {"name": "db"}})),
            json_rec(&src, json!({"latency": "slow", "svc": {"name": "db"}})),
            json_rec(&src, json!({"svc": {"name": "db"}})),
            json_rec(&src, json!({"latency": 1})),
            json_rec(&src, json!({"latency": 1, "svc": {"name": {"nested": 1}}})),
            json_rec(&src, json!({"latency": 1, "svc": {"name": "naïve"}})),
        ];
        let (ds, c) = run(&rules, &recs);
        assert_eq!(
            summary(&ds),
            vec![
                (
                    "Latency".into(),
                    "Service=api,Version=$LATEST".into(),
                    30.5,
                    2.0
                ),
                (
                    "Latency".into(),
                    "Service=db,Version=$LATEST".into(),
                    5.0,
                    1.0
                ),
            ]
        );
        assert_eq!(c.get("metrics.value_not_numeric"), 2);
        assert_eq!(c.get("metrics.dimension_missing"), 2);
        assert_eq!(c.get("metrics.dimension_invalid"), 1);
    }

    #[test]
    fn cardinality_cap_folds_into_other_and_persists_across_batches() {
        let rules = config(
            r#"
            [metrics]
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "Hits"
            dimensions = { Path = "$.path" }
            max_cardinality = 2
            "#,
        )
        .validate()
        .unwrap();
        let src = source("/app");
        let rec = |p: &str| json_rec(&src, json!({"path": p}));
        let mut state = MetricState::new();
        let mut counters = Counters::new();
        let mut batch = |paths: &[&str]| {
            let mut agg = Aggregator::new();
            for p in paths {
                rules.derive(&rec(p), &mut agg, &mut state, &mut counters);
            }
            summary(&agg.finish(&mut counters))
        };
        let first = batch(&["/a", "/b", "/c", "/a", "/d"]);
        assert_eq!(
            first,
            vec![
                ("Hits".into(), "Path=/a".into(), 2.0, 2.0),
                ("Hits".into(), "Path=/b".into(), 1.0, 1.0),
                ("Hits".into(), "Path=other".into(), 2.0, 2.0),
            ]
        );
        // A warm environment remembers /a and /b: /c still folds, /b is still itself.
        let second = batch(&["/c", "/b"]);
        assert_eq!(
            second,
            vec![
                ("Hits".into(), "Path=/b".into(), 1.0, 1.0),
                ("Hits".into(), "Path=other".into(), 1.0, 1.0),
            ]
        );
        assert_eq!(counters.get("metrics.cardinality_overflow"), 3);
    }

    #[test]
    fn log_groups_glob_limits_a_rule() {
        let rules = config(
            r#"
            [metrics]
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "Hits"
            log_groups = ["/aws/lambda/orders-*", "/ecs/exact"]
            "#,
        )
        .validate()
        .unwrap();
        let cases = [
            ("/aws/lambda/orders-api", true),
            ("/aws/lambda/orders-", true),
            ("/aws/lambda/payments", false),
            ("/ecs/exact", true),
            ("/ecs/exact2", false),
        ];
        for (group, hit) in cases {
            let (ds, _) = run(&rules, &[text(&source(group), "x")]);
            assert_eq!(ds.len() == 1, hit, "{group}");
        }
    }

    #[test]
    fn plain_term_pattern_counts_matches() {
        let rules = config(
            "[metrics]\nlambda_platform = false\n[[metrics.rule]]\nmetric_name = \"Fails\"\nfilter_pattern = \"FAIL\"\n",
        )
        .validate()
        .unwrap();
        let src = source("/app");
        let recs: Vec<_> = ["FAIL 1", "ok", "FAIL 2"]
            .iter()
            .map(|m| text(&src, m))
            .collect();
        let (ds, _) = run(&rules, &recs);
        assert_eq!(summary(&ds), vec![("Fails".into(), "".into(), 2.0, 2.0)]);
    }

    #[test]

    fn access_log_4xx_by_status_code() {
        let rules = config(
            r#"
            [metrics]
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "ClientErrors"
            filter_pattern = "[ip, id, user, timestamp, request, status_code=4*, size]"
            metric_value = "1"
            unit = "Count"
            dimensions = { StatusCode = "$status_code" }
            [[metrics.rule]]
            metric_name = "Bytes"
            filter_pattern = "[ip, id, user, timestamp, request, status_code, size]"
            metric_value = "$size"
            unit = "Bytes"
            "#,
        )
        .validate()
        .unwrap();
        let src = source("/nginx");
        let lines = [
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 404 100"#,
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:37 -0700] "GET /b HTTP/1.0" 200 2326"#,
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:38 -0700] "GET /c HTTP/1.0" 403 50"#,
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:39 -0700] "GET /d HTTP/1.0" 404 -"#,
        ];
        let recs: Vec<_> = lines.iter().map(|l| text(&src, l)).collect();
        let (ds, c) = run(&rules, &recs);
        assert_eq!(
            summary(&ds),
            vec![
                ("Bytes".into(), "".into(), 2476.0, 3.0),
                ("ClientErrors".into(), "StatusCode=403".into(), 1.0, 1.0),
                ("ClientErrors".into(), "StatusCode=404".into(), 2.0, 2.0),
            ]
        );
        // `-` is not a number: that sample is skipped and counted.
        assert_eq!(c.get("metrics.value_not_numeric"), 1);
    }

    #[test]
    fn json_pattern_sums_latency_by_service() {
        let rules = config(
            r#"
            [metrics]
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "Latency"
            filter_pattern = "{ $.latency > 0 }"
            metric_value = "$.latency"
            unit = "Milliseconds"
            dimensions = { Service = "$.service" }
            "#,
        )
        .validate()
        .unwrap();
        let src = source("/app");
        let recs = vec![
            json_rec(&src, json!({"latency": 10, "service": "api"})),
            json_rec(&src, json!({"latency": 0, "service": "api"})),
            json_rec(&src, json!({"latency": 7, "service": "db"})),
            json_rec(&src, json!({"latency": 3, "service": "api"})),
            text(&src, "latency 5 service api"),
        ];
        let (ds, _) = run(&rules, &recs);
        assert_eq!(
            summary(&ds),
            vec![
                ("Latency".into(), "Service=api".into(), 13.0, 2.0),
                ("Latency".into(), "Service=db".into(), 7.0, 1.0),
            ]
        );
    }

    fn report(id: &str) -> Report {
        Report {
            request_id: id.into(),
            duration_ms: Some(1233.96),
            billed_duration_ms: Some(1698.0),
            memory_size_mb: Some(256.0),
            max_memory_used_mb: Some(128.0),
            ..Report::default()
        }
    }

    fn lambda_rules() -> MetricRules {
        MetricsConfig::default().validate().unwrap()
    }

    fn sums(ds: &[MetricDatum]) -> std::collections::BTreeMap<String, (f64, f64)> {
        let mut m = std::collections::BTreeMap::new();
        for (name, dims, sum, count) in summary(ds) {
            let e = m.entry(format!("{name}[{dims}]")).or_insert((0.0, 0.0));
            e.0 += sum;
            e.1 += count;
        }
        m
    }

    #[test]
    fn lambda_report_metrics() {
        let src = source("/aws/lambda/orders");
        let cold = Report {
            init_duration_ms: Some(463.512),
            ..report("a")
        };
        let (ds, _) = run(
            &lambda_rules(),
            &[
                platform(&src, PlatformEvent::Report(cold)),
                platform(&src, PlatformEvent::Report(report("b"))),
            ],
        );
        let s = sums(&ds);
        let f = |k: &str| s.get(&format!("{k}[FunctionName=orders]")).copied();
        assert_eq!(f("Invocations"), Some((2.0, 2.0)));
        assert_eq!(f("Duration"), Some((2467.92, 2.0)));
        assert_eq!(f("BilledDuration"), Some((3396.0, 2.0)));
        assert_eq!(f("MemorySize"), Some((512.0, 2.0)));
        assert_eq!(f("MaxMemoryUsed"), Some((256.0, 2.0)));
        assert_eq!(f("MemoryUtilization"), Some((100.0, 2.0)));
        assert_eq!(f("InitDuration"), Some((463.512, 1.0)));
        assert_eq!(f("ColdStarts"), Some((1.0, 1.0)));
        assert_eq!(f("Errors"), Some((0.0, 2.0)));
        assert_eq!(f("Timeouts"), None);
        // 1.698 s × 0.25 GB = 0.4245 GB-s per invocation.
        let (cost, n) = f("EstimatedCost").unwrap();
        let want = 2.0 * (0.4245 * DEFAULT_PRICE_PER_GB_SECOND + DEFAULT_PRICE_PER_REQUEST);
        assert!((cost - want).abs() < 1e-12, "{cost} vs {want}");
        assert_eq!(n, 2.0);
        let units: std::collections::BTreeMap<_, _> = ds
            .iter()
            .map(|d| (d.metric_name.as_str(), d.unit.as_str()))
            .collect();
        assert_eq!(units["Duration"], "Milliseconds");
        assert_eq!(units["MemorySize"], "Megabytes");
        assert_eq!(units["MemoryUtilization"], "Percent");
        assert!(ds.iter().all(|d| d.namespace == "Logsieve"));
    }

    #[test]
    fn timeouts_and_oom_are_counted_once_per_request() {
        let src = source("/aws/lambda/f");
        let timed_out = Report {
            status: Some("timeout".into()),
            ..report("t1")
        };
        let oom = Report {
            status: Some("error".into()),
            error_type: Some("Runtime.OutOfMemory".into()),
            ..report("o1")
        };
        let line = |id: Option<&str>| PlatformEvent::Timeout {
            request_id: id.map(String::from),
            seconds: 3.0,
        };
        let recs = [
            platform(&src, line(Some("t1"))),
            platform(&src, PlatformEvent::Report(timed_out)),
            platform(
                &src,
                PlatformEvent::OutOfMemory {
                    request_id: Some("o1".into()),
                },
            ),
            platform(&src, PlatformEvent::Report(oom)),
            // No request id: cannot be matched to a report, so it counts.
            platform(&src, line(None)),
        ];
        let rules = lambda_rules();
        let mut state = MetricState::new();
        let mut c = Counters::new();
        let mut agg = Aggregator::new();
        for r in &recs[..3] {
            rules.derive(r, &mut agg, &mut state, &mut c);
        }
        let mut ds = agg.finish(&mut c);
        // The report of o1 arrives in the next batch of the same warm environment.
        let mut agg = Aggregator::new();
        for r in &recs[3..] {
            rules.derive(r, &mut agg, &mut state, &mut c);
        }
        ds.extend(agg.finish(&mut c));
        let s = sums(&ds);
        assert_eq!(s["Timeouts[FunctionName=f]"], (2.0, 2.0));
        assert_eq!(s["OutOfMemory[FunctionName=f]"], (1.0, 1.0));
        assert_eq!(s["Errors[FunctionName=f]"], (2.0, 2.0));
        assert_eq!(
            s["Errors[ErrorType=Sandbox.Timedout,FunctionName=f]"],
            (1.0, 1.0)
        );
        assert_eq!(
            s["Errors[ErrorType=Runtime.OutOfMemory,FunctionName=f]"],
            (1.0, 1.0)
        );
        assert_eq!(c.get("metrics.lambda_duplicate_timeout"), 1);
        assert_eq!(c.get("metrics.lambda_duplicate_out_of_memory"), 1);
    }

    #[test]
    fn function_name_from_log_group() {
        for (group, want) in [
            ("/aws/lambda/orders", "orders"),
            ("/aws/lambda/", "/aws/lambda/"),
            ("/ecs/web", "/ecs/web"),
        ] {
            assert_eq!(function_name(group), want);
        }
    }

    #[test]
    fn lambda_metrics_can_be_disabled_and_ignore_non_platform_records() {
        let off = config("[metrics]\nlambda_platform = false")
            .validate()
            .unwrap();
        let src = source("/aws/lambda/f");
        let rec = platform(&src, PlatformEvent::Report(report("x")));
        assert!(run(&off, &[rec]).0.is_empty());
        assert!(run(&lambda_rules(), &[text(&src, "hello")]).0.is_empty());
    }

    #[test]
    fn function_names_are_capped_across_batches() {
        let rules = config("[metrics]\nlambda_max_functions = 1")
            .validate()
            .unwrap();
        let mut state = MetricState::new();
        let mut c = Counters::new();
        let mut functions = Vec::new();
        for group in ["/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/a"] {
            let rec = platform(&source(group), PlatformEvent::Report(report("r")));
            let mut agg = Aggregator::new();
            rules.derive(&rec, &mut agg, &mut state, &mut c);
            let ds = agg.finish(&mut c);
            functions.push(ds[0].dimensions["FunctionName"].clone());
        }
        assert_eq!(functions, vec![json!("a"), json!("other"), json!("a")]);
        assert_eq!(c.get("metrics.cardinality_overflow"), 1);
    }

    #[test]
    fn hostile_records_are_counted_not_fatal() {
        let rules = config(
            r#"
            [[metrics.rule]]
            metric_name = "X"
            filter_pattern = "!!"
            metric_value = "$.v"
            dimensions = { D = "$.d", E = "$e" }
            "#,
        )
        .validate()
        .unwrap();
        let src = source("/aws/lambda/\u{0}");
        let punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".repeat(30_000);
        let mut nested = json!(1);
        for _ in 0..200 {
            nested = json!([nested]);
        }
        let recs = vec![
            text(&src, &punct),
            json_rec(&src, json!({"v": "1e400", "d": "x", "m": "!!"})),
            json_rec(&src, json!({"v": 1, "d": "y".repeat(2000), "m": "!!"})),
            json_rec(&src, json!({"v": 1, "d": nested, "m": "!!"})),
            platform(
                &src,
                PlatformEvent::Report(Report {
                    duration_ms: Some(f64::MAX),
                    memory_size_mb: Some(0.0),
                    max_memory_used_mb: Some(1.0),
                    ..report("h")
                }),
            ),
        ];
        let (ds, c) = run(&rules, &recs);
        assert!(ds.iter().all(|d| d.check().is_ok()));
        // The log group is not valid ASCII-printable, so no Lambda datum survives either.
        assert!(ds.is_empty(), "{ds:?}");
        assert_eq!(c.get("metrics.value_not_numeric"), 1);
        assert!(c.get("metrics.dimension_missing") + c.get("metrics.dimension_invalid") >= 3);
        assert!(c.get("metrics.dimension_invalid") >= 1);
    }

    #[test]
    fn managed_instance_report_with_duration_only() {
        let src = source("/aws/lambda/f");
        let r = Report {
            request_id: "m".into(),
            duration_ms: Some(12.0),
            status: Some("success".into()),
            ..Report::default()
        };
        let (ds, _) = run(&lambda_rules(), &[platform(&src, PlatformEvent::Report(r))]);
        let names: Vec<_> = ds.iter().map(|d| d.metric_name.as_str()).collect();
        assert_eq!(names, vec!["Duration", "Errors", "Invocations"]);
    }
}
