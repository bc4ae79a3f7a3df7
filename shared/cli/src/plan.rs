//! `logsieve plan`: from a configuration alone (no AWS calls, no clock), lists every metric it can
//! publish with its worst-case number of series, flags dimensions that look unbounded, and
//! estimates the monthly bill at stated volume assumptions and configurable prices.
//!
//! The model, in order (docs/cost.md walks through an example):
//! - **Series** (billed custom metrics): a literal dimension has 1 value, a dimension read from
//!   the event has `max_cardinality` values plus `other`; a metric's series is the product.
//!   Built-in Lambda metrics have one `FunctionName` per subscribed log group (up to
//!   `lambda_max_functions`, plus `other` past it), and `Errors` by `ErrorType` up to
//!   [`MAX_ERROR_TYPES`] + 1 per function. Caps hold per execution environment: a truly unbounded
//!   field lets every new environment admit different values, which is why such dimensions are
//!   flagged. Every series is assumed active all month (CloudWatch prorates by the hour).
//! - **Volume**: `events_per_day` events arrive in deliveries of `events_per_batch` (one Lambda
//!   invocation, one aggregation). A rule yields a sample for `match_fraction` of events (every
//!   event when it has a `default_value`); Lambda REPORT lines are `report_fraction` of events and
//!   each yields [`LAMBDA_SAMPLES_PER_REPORT`] samples. Within a batch, samples of one series fold
//!   into one datum (one minute bucket per batch), so a metric contributes
//!   `min(series, samples per batch)` datums per batch. Rules are assumed to see every log group.
//! - **Profiles**: a `[[profile]]` with its own `[profile.metrics]` publishes its rules (and its
//!   built-in Lambda metrics, when their namespace is not planned already) besides the top
//!   level's, with their own caps: they are planned as more metrics (origin
//!   `profile.<name>.…`), and each is assumed to see every event too, an upper bound since a
//!   profile sees only its log groups. A profile without `[profile.metrics]` runs the top
//!   level's rules, which publish the same metrics, and adds nothing.
//! - **PutMetricData**: each batch with datums sends `ceil(datums / 1000)` requests.
//! - **EMF**: the bytes of one datum and of one extra sample are measured by running the EMF
//!   encoder over one synthetic datum per metric (12-character values for dimensions read from
//!   events), so documents shared by metrics with the same dimensions are accounted for.
//! - **Lambda**: invocations (one per batch) at `metrics.price_per_request`, plus compute at a
//!   measured cost per million events.
//! - **X-Ray**: one trace per `events_per_trace` events when the traces sink is `xray`; an upper
//!   bound, since traces the application already records are not recorded again.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};

use logsieve::config::Config;
use logsieve::config_error::ConfigError;
use logsieve::metrics::{
    encode_emf, CompiledRule, DimensionSource, MetricDatum, MetricSinkKind, Resolution, RuleConfig,
    Unit, MAX_DATUMS_PER_REQUEST, MAX_ERROR_TYPES, OVERFLOW_VALUE,
};
pub use logsieve::plan_config::{PlanConfig, Pricing, DEFAULT_LAMBDA_COST_PER_MILLION_EVENTS};
use logsieve::record::{FieldPath, PathSegment};
use logsieve::trace::TraceSinkKind;

/// Average month, as AWS bills it: 730 hours.
pub const DAYS_PER_MONTH: f64 = 730.0 / 24.0;
/// Custom metrics billed at the first tier price.
pub const METRIC_TIER_1: u64 = 10_000;
/// Custom metrics billed at the first or second tier price (10k + 240k).
pub const METRIC_TIER_2: u64 = 250_000;
/// Custom metrics billed at the first three tier prices (+ 750k); the fourth tier is beyond.
pub const METRIC_TIER_3: u64 = 1_000_000;
/// Bytes in one billed GB of log ingestion (AWS bills binary gigabytes).
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;
/// Samples every REPORT line yields: Invocations, Duration, BilledDuration, MemorySize,
/// MaxMemoryUsed, MemoryUtilization, EstimatedCost and Errors (cold starts, timeouts and errors
/// by type are rare and not counted in volume, though their series are).
pub const LAMBDA_SAMPLES_PER_REPORT: f64 = 8.0;
/// Length assumed for a dimension value read from events, for EMF sizing.
pub const ASSUMED_DIMENSION_VALUE_LEN: usize = 12;

/// Monthly cost of `series` custom metrics at the tiered prices.
pub fn custom_metrics_cost(series: u64, p: &Pricing) -> f64 {
    let tiers = [
        (METRIC_TIER_1, p.metric_first_10k),
        (METRIC_TIER_2, p.metric_next_240k),
        (METRIC_TIER_3, p.metric_next_750k),
        (u64::MAX, p.metric_over_1m),
    ];
    let mut cost = 0.0;
    let mut below = 0u64;
    for (upto, price) in tiers {
        let n = series.min(upto).saturating_sub(below);
        cost += n as f64 * price;
        below = upto;
        if series <= upto {
            break;
        }
    }
    cost
}

/// How a dimension gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DimensionKind {
    /// A fixed value: one series.
    Literal,
    /// `$.path` read from the event's fields.
    Field,
    /// `$name` from a space-delimited pattern.
    Extracted,
    /// `$tags.<key>`: a tag of the log group's function or of the log group.
    Tag,
    /// A value logsieve derives itself (`FunctionName`, `ErrorType`).
    Builtin,
}

/// One dimension of a planned metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedDimension {
    pub name: String,
    /// The source as written (`$.service`, `prod`, `$status_code`, `$$LATEST`).
    pub source: String,
    pub kind: DimensionKind,
    /// The value sent, for a literal (`$$LATEST` sends `$LATEST`).
    pub value: Option<String>,
    /// Worst-case distinct values, `other` included.
    pub values: u64,
    /// Why the values look unbounded (ids, addresses, timestamps…), if they do.
    pub unbounded: Option<String>,
}

/// One metric the configuration can publish.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedMetric {
    /// `metrics.rule[2]` or `lambda`.
    pub origin: String,
    pub namespace: String,
    pub name: String,
    pub unit: String,
    pub storage_resolution: u32,
    pub dimensions: Vec<PlannedDimension>,
    /// Worst-case series: the product of the dimensions' values.
    pub series: u64,
    /// Samples per log event on average (volume model, see the module comment).
    pub samples_per_event: f64,
}

/// The estimate, per month unless named otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEstimate {
    pub series: u64,
    pub custom_metrics_usd: f64,
    pub batches_per_day: f64,
    pub datums_per_batch: f64,
    pub samples_per_day: f64,
    pub put_metric_data_requests: f64,
    pub put_metric_data_usd: f64,
    pub emf_bytes_per_datum: f64,
    pub emf_bytes_per_extra_sample: f64,
    pub emf_gb: f64,
    pub emf_usd: f64,
    /// `cloudwatch` or `emf`, whichever costs less at this volume.
    pub cheaper_sink: MetricSinkKind,
    /// The sink the configuration uses.
    pub configured_sink: MetricSinkKind,
    pub lambda_invocations: f64,
    pub lambda_usd: f64,
    pub xray_traces: f64,
    pub xray_usd: f64,
    /// Custom metrics + the configured sink + Lambda + X-Ray.
    pub total_usd: f64,
}

/// What one `[[profile]]` with its own `[profile.metrics]` adds to the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedProfile {
    pub name: String,
    pub log_groups: Vec<String>,
    /// Its metrics in [`Plan::metrics`] (origin `profile.<name>.…`).
    pub metrics: usize,
    /// Their worst-case series, included in the cost.
    pub series: u64,
}

/// What `logsieve plan` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub assumptions: PlanConfig,
    pub metrics: Vec<PlannedMetric>,
    /// The profiles that publish metrics of their own, in config order.
    pub profiles: Vec<PlannedProfile>,
    pub cost: CostEstimate,
    /// Unbounded dimensions and other things worth a look, one line each.
    pub warnings: Vec<String>,
    /// What the configuration does that CloudWatch metric filters cannot.
    pub beyond_metric_filters: Vec<String>,
}

/// CloudWatch metric-filter limits, for the comparison.
const METRIC_FILTER_MAX_DIMENSIONS: usize = 3;
const METRIC_FILTERS_PER_LOG_GROUP: usize = 100;
const METRIC_FILTER_MAX_COMBINATIONS: u64 = 1000;

/// Plans `config` with the assumptions in its `[plan]` section (validating it first, `[plan]`
/// included). What each rule publishes is read from the rules as the pipeline compiled them,
/// so the plan cannot describe a metric other than the one sent.
pub fn plan(config: &Config) -> Result<Plan, ConfigError> {
    let checked = config.validate()?;
    let a = &config.plan;
    let m = &config.metrics;
    let mut metrics = Vec::new();
    for (i, rule) in checked.metrics.rules.iter().enumerate() {
        // Compiled in order, one per `[[metrics.rule]]`: the written rule gives the sources as
        // the user wrote them, for display only.
        // Rules past the written ones come from `[metrics] packs`.
        let origin = if i < m.rules.len() {
            format!("metrics.rule[{i}]")
        } else {
            "metrics.packs".to_string()
        };
        metrics.push(plan_rule(&origin, rule, m.rules.get(i), a));
    }
    // Built-in metrics of one namespace are the same series whoever publishes them.
    let mut lambda_namespaces: Vec<&str> = Vec::new();
    if checked.metrics.lambda.is_some() {
        lambda_namespaces.push(&m.namespace);
        metrics.extend(plan_lambda(&m.namespace, m.lambda_max_functions as u64, a));
    }
    let mut profiles = Vec::new();
    for p in &checked.profiles {
        let Some(written) = config
            .profile
            .iter()
            .find(|w| w.name == p.name)
            .and_then(|w| w.metrics.as_ref())
        else {
            continue;
        };
        let first = metrics.len();
        for (i, rule) in p.config.metrics.rules.iter().enumerate() {
            let origin = if i < written.rules.len() {
                format!("profile.{}.metrics.rule[{i}]", p.name)
            } else {
                format!("profile.{}.metrics.packs", p.name)
            };
            metrics.push(plan_rule(&origin, rule, written.rules.get(i), a));
        }
        if p.config.metrics.lambda.is_some() && !lambda_namespaces.contains(&&*written.namespace) {
            lambda_namespaces.push(&written.namespace);
            let max = written.lambda_max_functions as u64;
            metrics.extend(
                plan_lambda(&written.namespace, max, a)
                    .into_iter()
                    .map(|mut pm| {
                        pm.origin = format!("profile.{}.lambda", p.name);
                        pm
                    }),
            );
        }
        let mine = metrics.get(first..).unwrap_or(&[]);
        profiles.push(PlannedProfile {
            name: p.name.clone(),
            log_groups: p.log_groups.clone(),
            metrics: mine.len(),
            series: mine
                .iter()
                .fold(0u64, |acc, m| acc.saturating_add(m.series)),
        });
    }
    let mut warnings = Vec::new();
    for pm in &metrics {
        for d in &pm.dimensions {
            if let Some(why) = &d.unbounded {
                warnings.push(format!(
                    "{} {}: dimension {} = {:?} looks unbounded ({why}); the cap holds {} values per execution environment, and each new environment may admit different ones",
                    pm.origin, pm.name, d.name, d.source, d.values.saturating_sub(1)
                ));
            }
        }
    }
    if checked.metrics.sink == MetricSinkKind::None {
        warnings
            .push("metrics.sink = \"none\": nothing is published, so metric costs are 0".into());
    }
    let cost = estimate(&metrics, config, checked.metrics.sink, checked.traces.sink);
    Ok(Plan {
        assumptions: a.clone(),
        beyond_metric_filters: beyond_metric_filters(&m.rules, &metrics),
        metrics,
        profiles,
        cost,
        warnings,
    })
}

fn plan_rule(
    origin: &str,
    rule: &CompiledRule,
    written: Option<&RuleConfig>,
    a: &PlanConfig,
) -> PlannedMetric {
    let cap = rule.max_cardinality() as u64 + 1;
    let dimensions: Vec<PlannedDimension> = rule
        .dimensions()
        .map(|(name, source)| {
            let (kind, value, key) = match source {
                DimensionSource::Literal(v) => (DimensionKind::Literal, Some(v.to_string()), None),
                DimensionSource::Field(p) => (DimensionKind::Field, None, last_key(p)),
                DimensionSource::Extracted(n) => (
                    DimensionKind::Extracted,
                    None,
                    Some(n.strip_prefix('$').unwrap_or(n)),
                ),
                DimensionSource::Tag(k) => (DimensionKind::Tag, None, Some(k)),
            };
            let as_written = written
                .and_then(|w| w.dimensions.get(name))
                .cloned()
                .unwrap_or_else(|| match source {
                    DimensionSource::Literal(v) => v.to_string(),
                    DimensionSource::Field(p) => p.as_str().to_string(),
                    DimensionSource::Extracted(n) => n.to_string(),
                    DimensionSource::Tag(k) => format!("{}{k}", logsieve::record::TAG_PREFIX),
                });
            PlannedDimension {
                name: name.to_string(),
                source: as_written,
                kind,
                values: if value.is_some() { 1 } else { cap },
                unbounded: key.and_then(unbounded_reason),
                value,
            }
        })
        .collect();
    let series = dimensions
        .iter()
        .fold(1u64, |acc, d| acc.saturating_mul(d.values));
    let metric = rule.metric();
    PlannedMetric {
        origin: origin.to_string(),
        namespace: metric.namespace().to_string(),
        name: metric.name().to_string(),
        unit: metric.unit().as_str().to_string(),
        storage_resolution: metric.resolution().seconds(),
        dimensions,
        series,
        samples_per_event: if rule.default_value().is_some() {
            1.0
        } else {
            a.match_fraction
        },
    }
}

/// The key a path's value is found under (`id` of `$.user.id`), skipping array indexes and
/// keys that are only digits, which say nothing about the value.
fn last_key(path: &FieldPath) -> Option<&str> {
    path.segments().iter().rev().find_map(|s| match s {
        PathSegment::Key(k) if k.chars().any(char::is_alphabetic) => Some(k.as_str()),
        _ => None,
    })
}

/// The built-in metrics (lambda.rs), each with one `FunctionName` per function.
const LAMBDA_METRICS: &[(&str, &str, bool)] = &[
    // (name, unit, sampled on every REPORT line)
    ("Invocations", "Count", true),
    ("Duration", "Milliseconds", true),
    ("BilledDuration", "Milliseconds", true),
    ("MemorySize", "Megabytes", true),
    ("MaxMemoryUsed", "Megabytes", true),
    ("MemoryUtilization", "Percent", true),
    ("InitDuration", "Milliseconds", false),
    ("ColdStarts", "Count", false),
    ("RestoreDuration", "Milliseconds", false),
    ("Errors", "Count", true),
    ("Timeouts", "Count", false),
    ("OutOfMemory", "Count", false),
    ("EstimatedCost", "None", true),
];

fn plan_lambda(namespace: &str, max_functions: u64, a: &PlanConfig) -> Vec<PlannedMetric> {
    let functions = a.log_groups.min(max_functions) + u64::from(a.log_groups > max_functions);
    let function_dim = PlannedDimension {
        name: "FunctionName".into(),
        source: "<log group>".into(),
        kind: DimensionKind::Builtin,
        value: None,
        values: functions,
        unbounded: None,
    };
    let per_report = a.report_fraction;
    let mut out: Vec<PlannedMetric> = LAMBDA_METRICS
        .iter()
        .map(|&(name, unit, every_report)| PlannedMetric {
            origin: "lambda".into(),
            namespace: namespace.to_string(),
            name: name.into(),
            unit: unit.into(),
            storage_resolution: 60,
            dimensions: vec![function_dim.clone()],
            series: functions,
            samples_per_event: if every_report { per_report } else { 0.0 },
        })
        .collect();
    let error_types = MAX_ERROR_TYPES as u64 + 1;
    out.push(PlannedMetric {
        origin: "lambda".into(),
        namespace: namespace.to_string(),
        name: "Errors".into(),
        unit: "Count".into(),
        storage_resolution: 60,
        dimensions: vec![
            function_dim,
            PlannedDimension {
                name: "ErrorType".into(),
                source: "<error type>".into(),
                kind: DimensionKind::Builtin,
                value: None,
                values: error_types,
                unbounded: None,
            },
        ],
        series: functions.saturating_mul(error_types),
        samples_per_event: 0.0,
    });
    out
}

fn estimate(
    metrics: &[PlannedMetric],
    config: &Config,
    sink: MetricSinkKind,
    traces: TraceSinkKind,
) -> CostEstimate {
    let a = &config.plan;
    let p = &a.pricing;
    let publishing = sink != MetricSinkKind::None;
    let events = a.events_per_day as f64;
    let batch = a.events_per_batch as f64;
    let batches_per_day = events / batch;
    let series = metrics
        .iter()
        .fold(0u64, |acc, m| acc.saturating_add(m.series));
    let samples_per_day: f64 = metrics.iter().map(|m| events * m.samples_per_event).sum();
    // Events smaller than one batch still arrive in (smaller) batches.
    let per_batch = batch.min(events);
    let datums_per_batch: f64 = metrics
        .iter()
        .map(|m| (m.series as f64).min(per_batch * m.samples_per_event))
        .sum();
    let requests_per_batch = if datums_per_batch > 0.0 {
        (datums_per_batch / MAX_DATUMS_PER_REQUEST as f64).ceil()
    } else {
        0.0
    };
    let put_metric_data_requests = batches_per_day * requests_per_batch * DAYS_PER_MONTH;
    let put_metric_data_usd = put_metric_data_requests / 1000.0 * p.put_metric_data_per_1000;

    let (bytes_per_datum, bytes_per_extra) = emf_sizes(metrics);
    let datums_per_day = batches_per_day * datums_per_batch;
    let extra_samples = (samples_per_day - datums_per_day).max(0.0);
    let emf_bytes =
        (datums_per_day * bytes_per_datum + extra_samples * bytes_per_extra) * DAYS_PER_MONTH;
    let emf_gb = emf_bytes / BYTES_PER_GB;
    let emf_usd = emf_gb * p.log_ingestion_per_gb;

    let custom_metrics_usd = if publishing {
        custom_metrics_cost(series, p)
    } else {
        0.0
    };
    let cheaper_sink = if emf_usd < put_metric_data_usd {
        MetricSinkKind::Emf
    } else {
        MetricSinkKind::Cloudwatch
    };
    let sink_usd = match sink {
        MetricSinkKind::Cloudwatch => put_metric_data_usd,
        MetricSinkKind::Emf => emf_usd,
        MetricSinkKind::None => 0.0,
    };
    let lambda_invocations = batches_per_day * DAYS_PER_MONTH;
    let lambda_usd = lambda_invocations * config.metrics.price_per_request
        + events * DAYS_PER_MONTH / 1e6 * p.lambda_per_million_events;
    let xray_traces = if traces == TraceSinkKind::Xray {
        events * DAYS_PER_MONTH / a.events_per_trace
    } else {
        0.0
    };
    let xray_usd = xray_traces / 1e6 * p.xray_per_million_traces;
    CostEstimate {
        series,
        custom_metrics_usd,
        batches_per_day,
        datums_per_batch,
        samples_per_day,
        put_metric_data_requests,
        put_metric_data_usd,
        emf_bytes_per_datum: bytes_per_datum,
        emf_bytes_per_extra_sample: bytes_per_extra,
        emf_gb,
        emf_usd,
        cheaper_sink,
        configured_sink: sink,
        lambda_invocations,
        lambda_usd,
        xray_traces,
        xray_usd,
        total_usd: custom_metrics_usd + sink_usd + lambda_usd + xray_usd,
    }
}

/// (bytes per datum, bytes per additional sample of a datum) as the EMF encoder writes them.
fn emf_sizes(metrics: &[PlannedMetric]) -> (f64, f64) {
    let datums = |count: f64| -> Vec<MetricDatum> {
        metrics
            .iter()
            // Planned units come from compiled rules or our own tables, so all parse; one that
            // did not would have been skipped by the EMF encoder before units were typed.
            .filter_map(|m| {
                let unit = Unit::parse(&m.unit)?;
                let storage_resolution = Resolution::from_seconds(m.storage_resolution)?;
                let mut dims = Map::new();
                for d in &m.dimensions {
                    let v = d
                        .value
                        .clone()
                        .unwrap_or_else(|| "x".repeat(ASSUMED_DIMENSION_VALUE_LEN));
                    dims.insert(d.name.clone(), Value::String(v));
                }
                Some(MetricDatum {
                    namespace: m.namespace.clone(),
                    metric_name: m.name.clone(),
                    dimensions: dims,
                    unit,
                    timestamp: 1_700_000_000_000,
                    storage_resolution,
                    values: vec![123.456],
                    counts: vec![count],
                })
            })
            .collect()
    };
    // One newline per document: each is a line on stdout, one log event.
    let bytes = |ds: &[MetricDatum]| -> f64 {
        encode_emf(ds).iter().map(|d| d.len() + 1).sum::<usize>() as f64
    };
    let one = datums(1.0);
    let n = one.len().max(1) as f64;
    let b1 = bytes(&one);
    let b2 = bytes(&datums(2.0));
    (b1 / n, (b2 - b1).max(0.0) / n)
}

fn beyond_metric_filters(rules: &[RuleConfig], metrics: &[PlannedMetric]) -> Vec<String> {
    let mut out = Vec::new();
    let rule_metrics = || metrics.iter().filter(|m| !m.origin.ends_with("lambda"));
    let wide: Vec<&str> = rule_metrics()
        .filter(|m| m.dimensions.len() > METRIC_FILTER_MAX_DIMENSIONS)
        .map(|m| m.name.as_str())
        .collect();
    if !wide.is_empty() {
        out.push(format!(
            "{} rule(s) use more than the {METRIC_FILTER_MAX_DIMENSIONS} dimensions a metric filter allows: {}",
            wide.len(),
            wide.join(", ")
        ));
    }
    // Rules per log group: a rule without log_groups applies to all of them.
    let mut per_group: BTreeMap<&str, usize> = BTreeMap::new();
    let global = rules.iter().filter(|r| r.log_groups.is_empty()).count();
    for r in rules {
        for g in &r.log_groups {
            *per_group.entry(g.as_str()).or_default() += 1;
        }
    }
    let busiest = per_group.values().max().copied().unwrap_or(0) + global;
    if busiest > METRIC_FILTERS_PER_LOG_GROUP {
        out.push(format!(
            "up to {busiest} rules apply to one log group; metric filters stop at {METRIC_FILTERS_PER_LOG_GROUP} per log group"
        ));
    }
    let capped = rule_metrics()
        .filter(|m| m.series > METRIC_FILTER_MAX_COMBINATIONS)
        .count();
    if capped > 0 {
        out.push(format!(
            "{capped} rule(s) may exceed {METRIC_FILTER_MAX_COMBINATIONS} dimension combinations, where CloudWatch disables a metric filter; logsieve folds values past max_cardinality into {OVERFLOW_VALUE:?} and keeps publishing"
        ));
    }
    if rule_metrics().any(|m| m.dimensions.iter().any(|d| d.value.is_none())) {
        out.push(
            "dimensions read from events are capped per rule (max_cardinality), so a burst of new values costs at most the cap, not a new metric per value"
                .to_string(),
        );
    }
    out
}

/// Name parts that usually carry one value per request, user or moment.
const UNBOUNDED_TOKENS: &[(&str, &str)] = &[
    ("uuid", "UUIDs are unique"),
    ("guid", "GUIDs are unique"),
    ("email", "one value per user"),
    ("mail", "one value per user"),
    ("user", "one value per user"),
    ("username", "one value per user"),
    ("session", "one value per session"),
    ("ip", "one value per client address"),
    ("addr", "one value per client address"),
    ("address", "one value per client address"),
    ("timestamp", "one value per moment"),
    ("ts", "one value per moment"),
    ("time", "one value per moment"),
    ("date", "one value per moment"),
    ("datetime", "one value per moment"),
    ("trace", "one value per request"),
    ("span", "one value per request"),
    (
        "url",
        "raw URLs embed ids and query strings; use a route template",
    ),
    (
        "uri",
        "raw URLs embed ids and query strings; use a route template",
    ),
    ("path", "raw paths embed ids; use a route template"),
    ("query", "query strings are free text"),
    (
        "latency",
        "a measurement, not a category; make it the metric value",
    ),
    (
        "duration",
        "a measurement, not a category; make it the metric value",
    ),
    (
        "bytes",
        "a measurement, not a category; make it the metric value",
    ),
    (
        "size",
        "a measurement, not a category; make it the metric value",
    ),
    ("message", "free text"),
    ("agent", "user agents are free text"),
    ("msg", "free text"),
];

/// Why a dimension read from a key named `key` looks unbounded: the last key of its path
/// (`request_id` of `$.request_id`, `id` of `$.user.id`) or the `$name` without its `$`
/// (`remote_addr`).
pub fn unbounded_reason(key: &str) -> Option<String> {
    let tokens = name_tokens(key);
    if let Some(t) = tokens.last() {
        if t == "id" || t == "ids" {
            return Some("an identifier, one value per entity".into());
        }
    }
    // `requestId`, `reqid`, `correlationid`: ids written as one word.
    let joined = tokens.concat();
    if joined.len() > 2 && joined.ends_with("id") && !joined.ends_with("aid") {
        let stem = &joined[..joined.len() - 2];
        if [
            "request",
            "req",
            "correlation",
            "trace",
            "span",
            "user",
            "session",
            "message",
        ]
        .iter()
        .any(|s| stem.ends_with(s))
        {
            return Some("an identifier, one value per entity".into());
        }
    }
    // The last word is the noun (`user_agent` is an agent, not a user).
    tokens.iter().rev().find_map(|t| {
        UNBOUNDED_TOKENS
            .iter()
            .find(|(k, _)| k == t)
            .map(|(_, why)| (*why).to_string())
    })
}

/// Splits `remote_addr`, `requestId`, `sourceIPAddress` into lower-case words.
fn name_tokens(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().take(256).collect();
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

/// The human table `logsieve plan` prints.
pub fn render_table(plan: &Plan) -> String {
    let mut s = String::new();
    let a = &plan.assumptions;
    let c = &plan.cost;
    let _ = writeln!(
        s,
        "== METRICS ({} metrics, {} series worst case) ==",
        plan.metrics.len(),
        c.series
    );
    let _ = writeln!(
        s,
        "{:<18} {:<22} {:<20} {:>9}  dimensions (values)",
        "origin", "metric", "namespace", "series"
    );
    for m in &plan.metrics {
        let dims = m
            .dimensions
            .iter()
            .map(|d| {
                let flag = if d.unbounded.is_some() {
                    " UNBOUNDED?"
                } else {
                    ""
                };
                format!("{}={} ({}){flag}", d.name, d.source, d.values)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "{:<18} {:<22} {:<20} {:>9}  {}",
            m.origin, m.name, m.namespace, m.series, dims
        );
    }
    if !plan.profiles.is_empty() {
        let _ = writeln!(s, "\n== PROFILES (their own [profile.metrics]) ==");
        for p in &plan.profiles {
            let _ = writeln!(
                s,
                "profile {} ({}): {} metrics, {} series worst case",
                p.name,
                p.log_groups.join(", "),
                p.metrics,
                p.series
            );
        }
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(s, "\n== WARNINGS ==");
        for w in &plan.warnings {
            let _ = writeln!(s, "- {w}");
        }
    }
    if !plan.beyond_metric_filters.is_empty() {
        let _ = writeln!(s, "\n== BEYOND METRIC FILTERS ==");
        for w in &plan.beyond_metric_filters {
            let _ = writeln!(s, "- {w}");
        }
    }
    let _ = writeln!(
        s,
        "\n== MONTHLY COST (USD, {} events/day, {} log group(s), {} events/batch) ==",
        a.events_per_day, a.log_groups, a.events_per_batch
    );
    let sink = |k: MetricSinkKind| match k {
        MetricSinkKind::Cloudwatch => "cloudwatch",
        MetricSinkKind::Emf => "emf",
        MetricSinkKind::None => "none",
    };
    let rows = [
        (
            format!("custom metrics ({} series)", c.series),
            c.custom_metrics_usd,
        ),
        (
            format!(
                "PutMetricData ({:.0} requests){}",
                c.put_metric_data_requests,
                mark(c.configured_sink == MetricSinkKind::Cloudwatch)
            ),
            c.put_metric_data_usd,
        ),
        (
            format!(
                "EMF ingestion ({:.3} GB){}",
                c.emf_gb,
                mark(c.configured_sink == MetricSinkKind::Emf)
            ),
            c.emf_usd,
        ),
        (
            format!("Lambda ({:.0} invocations)", c.lambda_invocations),
            c.lambda_usd,
        ),
        (format!("X-Ray ({:.0} traces)", c.xray_traces), c.xray_usd),
    ];
    for (label, usd) in rows {
        let _ = writeln!(s, "{label:<48} {usd:>12.2}");
    }
    let _ = writeln!(
        s,
        "{:<48} {:>12.2}",
        format!("total (with sink {})", sink(c.configured_sink)),
        c.total_usd
    );
    let _ = writeln!(
        s,
        "cheaper metrics sink at this volume: {} ({:.1} datums/batch, {:.0} B/datum in EMF)",
        sink(c.cheaper_sink),
        c.datums_per_batch,
        c.emf_bytes_per_datum
    );
    s
}

fn mark(configured: bool) -> &'static str {
    if configured {
        " [configured]"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_toml(text).unwrap()
    }

    #[test]
    fn tiered_metric_prices() {
        let p = Pricing::default();
        // Hand computation from the us-east-1 tiers.
        // $0.30 for each of the first 10,000 metrics, $0.10 for the next 240,000, $0.05 for the
        // next 750,000, $0.02 beyond 1,000,000 (https://aws.amazon.com/cloudwatch/pricing/).
        let cases: [(u64, f64); 7] = [
            (0, 0.0),
            (1, 0.30),
            // 10,000 × 0.30
            (10_000, 3_000.0),
            (10_001, 3_000.10),
            // 3,000 + 240,000 × 0.10
            (250_000, 27_000.0),
            // 27,000 + 750,000 × 0.05
            (1_000_000, 64_500.0),
            // 64,500 + 1,000,000 × 0.02
            (2_000_000, 84_500.0),
        ];
        for (series, want) in cases {
            let got = custom_metrics_cost(series, &p);
            assert!((got - want).abs() < 1e-6, "{series}: {got} vs {want}");
        }
    }

    #[test]
    fn series_and_cost_match_a_hand_computation() {
        let cfg = config(
            r#"
            [metrics]
            namespace = "Shop"
            lambda_max_functions = 2
            [[metrics.rule]]
            metric_name = "Latency"
            metric_value = "$.latency"
            unit = "Milliseconds"
            dimensions = { Service = "$.service", Env = "prod" }
            max_cardinality = 9
            [[metrics.rule]]
            metric_name = "ClientErrors"
            filter_pattern = "[ip, id, user, ts, request, status_code = 4*, size]"
            dimensions = { StatusCode = "$status_code", Route = "$.route" }
            max_cardinality = 4
            [[metrics.rule]]
            metric_name = "Ratio"
            default_value = 0
            [traces]
            sink = "none"
            [plan]
            events_per_day = 864000
            log_groups = 3
            events_per_batch = 100
            match_fraction = 0.5
            report_fraction = 0.1
            "#,
        );
        let p = plan(&cfg).unwrap();
        let series: Vec<(&str, u64)> = p
            .metrics
            .iter()
            .filter(|m| m.origin != "lambda")
            .map(|m| (m.name.as_str(), m.series))
            .collect();
        // Latency: Service 9 + other = 10, Env literal = 1 → 10.
        // ClientErrors: (4 + 1) × (4 + 1) = 25. Ratio: no dimensions → 1.
        assert_eq!(
            series,
            vec![("Latency", 10), ("ClientErrors", 25), ("Ratio", 1)]
        );
        // 3 log groups, cap 2: functions a, b and other = 3. 13 metrics × 3 = 39, plus Errors
        // by ErrorType 3 × 101 = 303: 342.
        let lambda: u64 = p
            .metrics
            .iter()
            .filter(|m| m.origin == "lambda")
            .map(|m| m.series)
            .sum();
        assert_eq!(lambda, 342);
        // 10 + 25 + 1 + 342 = 378 series, all in the first tier: 378 × $0.30.
        assert_eq!(p.cost.series, 378);
        assert!((p.cost.custom_metrics_usd - 113.40).abs() < 1e-9);

        // Volume: 8640 batches/day of 100 events. Samples per batch: Latency 50, ClientErrors
        // 50, Ratio 100 (default value: every event), Lambda 8 metrics × 10 REPORT lines.
        // Datums per batch: min(10, 50) + min(25, 50) + min(1, 100) + 8 × min(3, 10) = 60.
        assert!((p.cost.batches_per_day - 8640.0).abs() < 1e-9);
        assert!((p.cost.datums_per_batch - 60.0).abs() < 1e-9);
        // One request per batch (60 ≤ 1000): 8640 × 730 h / 24 = 262,800 requests a month,
        // at $0.01 per 1,000 PutMetricData requests: $2.628.
        assert!((p.cost.put_metric_data_requests - 262_800.0).abs() < 1e-6);
        assert!((p.cost.put_metric_data_usd - 2.628).abs() < 1e-9);
        // Samples/day: 864000 × (0.5 + 0.5 + 1 + 8 × 0.1) = 2,419,200.
        assert!((p.cost.samples_per_day - 2_419_200.0).abs() < 1e-6);
        // Lambda: one invocation per batch, 262,800 × $0.20 per million requests = $0.05256
        // (https://aws.amazon.com/lambda/pricing/), plus compute for 864,000 × 730 / 24 =
        // 26.28 million events at the measured $0.00006 per million = $0.0015768.
        assert!((p.cost.lambda_invocations - 262_800.0).abs() < 1e-6);
        assert!((p.cost.lambda_usd - 0.054_136_8).abs() < 1e-9);
        // Traces are off.
        assert_eq!(p.cost.xray_traces, 0.0);
        assert_eq!(p.cost.xray_usd, 0.0);
        // 113.40 + 2.628 (the configured sink, cloudwatch) + 0.0541368.
        assert_eq!(p.cost.configured_sink, MetricSinkKind::Cloudwatch);
        assert!((p.cost.total_usd - 116.082_136_8).abs() < 1e-9);
        // EMF sizes and their cost are checked by hand on a smaller config (emf_cost_by_hand)
        // and against the pipeline's own output (emf_sizes_equal_what_the_pipeline_writes).
    }

    /// A profile with its own `[profile.metrics]` adds its rules, and its built-in metrics when
    /// their namespace is new; one that runs the top level's rules adds nothing.
    #[test]
    fn profiles_with_their_own_metrics_are_planned_per_profile() {
        let cfg = config(
            r#"
            [metrics]
            namespace = "Shop"
            lambda_max_functions = 2
            [[metrics.rule]]
            metric_name = "Errors5xx"
            dimensions = { Service = "$.service" }
            max_cardinality = 9
            [traces]
            sink = "none"
            [plan]
            log_groups = 3

            [[profile]]
            name = "api"
            log_groups = ["/ecs/api"]
            [profile.metrics]
            namespace = "Shop"
            [[profile.metrics.rule]]
            metric_name = "ApiLatency"
            metric_value = "$.latency"
            dimensions = { Route = "$.route" }
            max_cardinality = 4

            [[profile]]
            name = "batch"
            log_groups = ["/ecs/batch-*"]
            [profile.metrics]
            namespace = "Batch"
            lambda_max_functions = 2
            [[profile.metrics.rule]]
            metric_name = "Jobs"

            [[profile]]
            name = "quiet"
            log_groups = ["/ecs/quiet"]
            [profile.fields]
            keep = ["message"]
            "#,
        );
        let p = plan(&cfg).unwrap();
        let rules: Vec<(&str, &str, u64)> = p
            .metrics
            .iter()
            .filter(|m| !m.origin.ends_with("lambda"))
            .map(|m| (m.origin.as_str(), m.name.as_str(), m.series))
            .collect();
        assert_eq!(
            rules,
            vec![
                ("metrics.rule[0]", "Errors5xx", 10),
                ("profile.api.metrics.rule[0]", "ApiLatency", 5),
                ("profile.batch.metrics.rule[0]", "Jobs", 1),
            ]
        );
        // Built-ins: Shop once (the api profile's are the same series), Batch for its profile:
        // 14 metrics and 342 series each (see series_and_cost_match_a_hand_computation).
        let lambda = |origin: &str| -> (usize, u64) {
            let ms: Vec<_> = p.metrics.iter().filter(|m| m.origin == origin).collect();
            (ms.len(), ms.iter().map(|m| m.series).sum())
        };
        assert_eq!(lambda("lambda"), (14, 342));
        assert_eq!(lambda("profile.api.lambda"), (0, 0));
        assert_eq!(lambda("profile.batch.lambda"), (14, 342));
        assert!(p
            .metrics
            .iter()
            .filter(|m| m.origin == "profile.batch.lambda")
            .all(|m| m.namespace == "Batch"));
        let per_profile: Vec<(&str, usize, u64)> = p
            .profiles
            .iter()
            .map(|q| (q.name.as_str(), q.metrics, q.series))
            .collect();
        assert_eq!(per_profile, vec![("api", 1, 5), ("batch", 15, 343)]);
        // 10 + 342 at the top level, 5 + 343 in the profiles.
        assert_eq!(p.cost.series, 700);
        let table = render_table(&p);
        assert!(
            table.contains("profile batch (/ecs/batch-*): 15 metrics, 343 series worst case"),
            "{table}"
        );
        assert!(!table.contains("profile quiet"), "{table}");
    }

    #[test]
    fn emf_cost_by_hand() {
        let cfg = config(
            r#"
            [metrics]
            namespace = "Shop"
            sink = "emf"
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "Orders"
            metric_value = 123.456
            unit = "Count"
            [traces]
            sink = "none"
            [plan]
            events_per_day = 1000000
            events_per_batch = 100
            match_fraction = 1.0
            "#,
        );
        // The document the pipeline writes for one sample: 184 bytes, 185 with its newline;
        // each further sample of the same datum adds ",123.456", 8 bytes.
        let doc = r#"{"Orders":[123.456],"_aws":{"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"Orders","StorageResolution":60,"Unit":"Count"}],"Namespace":"Shop"}],"Timestamp":1699999980000}}"#;
        assert_eq!(pipeline_emf(&cfg, &[r#"{"a":1}"#]), vec![doc.to_string()]);
        assert_eq!(doc.len(), 184);
        let p = plan(&cfg).unwrap();
        assert_eq!(p.cost.emf_bytes_per_datum, 185.0);
        assert_eq!(p.cost.emf_bytes_per_extra_sample, 8.0);
        // 10,000 batches a day, one datum each (1 series), 1,000,000 samples: 10,000 × 185 +
        // 990,000 × 8 = 9,770,000 bytes a day; × 730 / 24 = 297,170,833.3 bytes a month
        // = 0.276762 GB (2^30 bytes) at $0.50 per GB ingested
        // (https://aws.amazon.com/cloudwatch/pricing/, Logs, standard class): $0.138381.
        assert!((p.cost.emf_gb - 0.276_761_905_6).abs() < 1e-9);
        assert!((p.cost.emf_usd - 0.138_380_952_8).abs() < 1e-9);
        // PutMetricData instead: 10,000 × 730 / 24 = 304,166.7 requests at $0.01 per 1,000.
        assert!((p.cost.put_metric_data_usd - 3.041_666_667).abs() < 1e-8);
        assert_eq!(p.cost.cheaper_sink, MetricSinkKind::Emf);
        // 1 metric × $0.30 + EMF (the configured sink) + Lambda: 304,166.7 invocations ×
        // $0.0000002 = $0.0608333 and 30.4167 million events × $0.00006 = $0.001825.
        assert!((p.cost.lambda_usd - 0.062_658_333).abs() < 1e-8);
        assert!((p.cost.total_usd - 0.501_039_286).abs() < 1e-8);
    }

    #[test]
    fn xray_and_sink_choice() {
        let mut cfg = config("[plan]\nevents_per_day = 1000000\nevents_per_trace = 4\n");
        let p = plan(&cfg).unwrap();
        // Default traces sink is xray: 1M / 4 = 250,000 traces a day, × 730 / 24 =
        // 7,604,166.7 a month, at $5.00 per million traces recorded
        // (https://aws.amazon.com/xray/pricing/): $38.0208.
        assert!((p.cost.xray_traces - 7_604_166.666_667).abs() < 1e-3);
        assert!((p.cost.xray_usd - 38.020_833_333).abs() < 1e-8);
        // Few datums per batch: EMF bytes cost less than a request per batch.
        assert!(p.cost.datums_per_batch < 20.0);
        assert_eq!(p.cost.cheaper_sink, MetricSinkKind::Emf);
        // Huge batches with many series: one request carries 1000 datums, EMF pays per byte.
        cfg.plan.events_per_batch = 10_000;
        cfg.plan.match_fraction = 1.0;
        cfg.metrics.rules.push(
            toml::from_str(
                "metric_name = \"Hits\"\ndimensions = { Path = \"$.route\" }\nmax_cardinality = 1000",
            )
            .unwrap(),
        );
        let p = plan(&cfg).unwrap();
        assert_eq!(p.cost.cheaper_sink, MetricSinkKind::Cloudwatch);
    }

    #[test]
    fn unbounded_dimensions_are_flagged() {
        let cases = [
            ("$.request_id", true),
            ("$.requestId", true),
            ("$.user.id", true),
            ("$.userId", true),
            ("$remote_addr", true),
            ("$ip", true),
            ("$.sourceIPAddress", true),
            ("$.email", true),
            ("$.timestamp", true),
            ("$.trace_id", true),
            ("$.span_id", true),
            ("$.uuid", true),
            ("$.session", true),
            ("$.path", true),
            ("$.latency_ms", true),
            ("$.correlationid", true),
            ("$.user_agent", true),
            ("$.service", false),
            ("$.status_code", false),
            ("$status_code", false),
            ("$.method", false),
            ("$.route", false),
            ("$.region", false),
            ("$.level", false),
            ("$.tier", false),
        ];
        for (source, flagged) in cases {
            let d = planned_dimension(source);
            assert_eq!(
                d.unbounded.is_some(),
                flagged,
                "{source}: {:?}",
                d.unbounded
            );
            assert_eq!(d.source, source);
            assert_eq!(d.values, 101, "{source}");
        }
        assert_eq!(
            planned_dimension("$.user_agent").unbounded.as_deref(),
            Some("user agents are free text")
        );
        assert_eq!(
            planned_dimension("$.user.id").unbounded.as_deref(),
            Some("an identifier, one value per entity")
        );
        let cfg = config(
            "[[metrics.rule]]\nmetric_name = \"X\"\ndimensions = { R = \"$.requestId\", S = \"$.service\" }\n",
        );
        let p = plan(&cfg).unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("requestId"), "{}", p.warnings[0]);
    }

    #[test]
    fn name_tokens_split_case_and_separators() {
        let cases: [(&str, &[&str]); 5] = [
            ("remote_addr", &["remote", "addr"]),
            ("requestId", &["request", "id"]),
            ("sourceIPAddress", &["source", "ip", "address"]),
            ("HTTPStatus", &["http", "status"]),
            ("x-amzn-trace-id", &["x", "amzn", "trace", "id"]),
        ];
        for (name, want) in cases {
            assert_eq!(name_tokens(name), want, "{name}");
        }
    }

    #[test]
    fn invalid_assumptions_name_the_key() {
        for (text, key) in [
            ("[plan]\nmatch_fraction = 1.5", "plan.match_fraction"),
            ("[plan]\nevents_per_batch = 0", "plan.events_per_batch"),
            ("[plan]\nevents_per_trace = 0.5", "plan.events_per_trace"),
            (
                "[plan.pricing]\nmetric_first_10k = -1.0",
                "plan.pricing.metric_first_10k",
            ),
        ] {
            let e = plan(&config(text)).unwrap_err();
            assert_eq!(e.key, key, "{text}");
        }
        assert!(Config::from_toml("[plan]\nevents = 3").is_err());
    }

    #[test]
    fn sink_none_costs_no_metrics_and_many_rules_are_noted() {
        let mut text = String::from("[metrics]\nsink = \"none\"\n");
        for i in 0..101 {
            text.push_str(&format!("[[metrics.rule]]\nmetric_name = \"M{i}\"\n"));
        }
        text.push_str(
            "[[metrics.rule]]\nmetric_name = \"Wide\"\ndimensions = { A = \"$.a\", B = \"$.b\", C = \"$.c\", D = \"d\" }\n",
        );
        let p = plan(&config(&text)).unwrap();
        assert_eq!(p.cost.custom_metrics_usd, 0.0);
        assert_eq!(p.cost.configured_sink, MetricSinkKind::None);
        let notes = p.beyond_metric_filters.join("\n");
        assert!(notes.contains("102 rules apply"), "{notes}");
        assert!(notes.contains("Wide"), "{notes}");
        // 101^3 combinations > 1000.
        assert!(notes.contains("1 rule(s) may exceed 1000"), "{notes}");
        let table = render_table(&p);
        assert!(table.contains("Wide"), "{table}");
        assert!(table.contains("total (with sink none)"), "{table}");
    }

    #[test]
    fn builtin_list_covers_what_the_pipeline_emits() {
        use logsieve::config::CheckedConfig;
        use logsieve::pipeline::Pipeline;
        use logsieve::record::{Batch, LogEvent, Source};
        use logsieve_testkit::generate::{events, Mix};
        // Generated Lambda traffic has cold starts, timeouts, out-of-memory kills and errors.
        let batch = Batch {
            source: std::sync::Arc::new(Source {
                log_group: "/aws/lambda/f".into(),
                ..Source::default()
            }),
            events: events(Mix::Lambda, 3000, 7)
                .into_iter()
                .map(|e| LogEvent {
                    id: e.id,
                    timestamp: e.timestamp,
                    message: e.message,
                    extracted_fields: None,
                })
                .collect(),
        };
        let cfg = CheckedConfig::from_toml("[metrics]\nnamespace = \"L\"").unwrap();
        let out = Pipeline::new(cfg).with_records(false).process(batch);
        let planned = plan_lambda("L", 10, &PlanConfig::default());
        let mut seen = std::collections::BTreeSet::new();
        for d in &out.metrics {
            let dims: Vec<&str> = d.dimensions.keys().map(String::as_str).collect();
            let found = planned.iter().any(|m| {
                let mut names: Vec<&str> = m.dimensions.iter().map(|x| x.name.as_str()).collect();
                names.sort_unstable();
                m.name == d.metric_name && m.unit == d.unit.as_str() && names == dims
            });
            assert!(
                found,
                "{} {:?} {} is not in the plan",
                d.metric_name,
                dims,
                d.unit.as_str()
            );
            seen.insert(d.metric_name.clone());
        }
        // The traffic exercised the rare signals too, so the check above saw them.
        for name in [
            "ColdStarts",
            "InitDuration",
            "Timeouts",
            "OutOfMemory",
            "EstimatedCost",
        ] {
            assert!(seen.contains(name), "{name} not generated");
        }
    }

    /// EMF bytes of what the pipeline writes for `messages` under `cfg`, one newline per
    /// document as on stdout.
    fn pipeline_emf_bytes(cfg: &Config, messages: &[&str]) -> usize {
        pipeline_emf(cfg, messages)
            .iter()
            .map(|d| d.len() + 1)
            .sum()
    }

    /// The EMF documents the pipeline writes for `messages` (one event each, a millisecond
    /// apart from 1700000000000) in log group `/ecs/shop` under `cfg`.
    fn pipeline_emf(cfg: &Config, messages: &[&str]) -> Vec<String> {
        use logsieve::metrics::encode_emf;
        use logsieve::pipeline::Pipeline;
        use logsieve::record::{Batch, LogEvent, Source};
        let batch = Batch {
            source: std::sync::Arc::new(Source {
                log_group: "/ecs/shop".into(),
                ..Source::default()
            }),
            events: messages
                .iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    id: i.to_string(),
                    timestamp: 1_700_000_000_000 + i as i64,
                    message: (*m).to_string(),
                    extracted_fields: None,
                })
                .collect(),
        };
        let out = Pipeline::new(cfg.validate().unwrap())
            .with_records(false)
            .process(batch);
        assert_eq!(out.metrics.len(), 1, "{:?}", out.metrics);
        encode_emf(&out.metrics)
    }

    #[test]
    fn emf_sizes_equal_what_the_pipeline_writes() {
        // A `$$` literal is sent with one `$` ("$LATEST"); a dimension read from the event is
        // sized at 12 characters, which "checkout-api" has.
        let cfg = config(
            r#"
            [metrics]
            namespace = "Shop"
            sink = "emf"
            lambda_platform = false
            [[metrics.rule]]
            metric_name = "Deploys"
            metric_value = 123.456
            unit = "Count"
            dimensions = { Version = "$$LATEST", Env = "prod", Service = "$.service" }
            [traces]
            sink = "none"
            "#,
        );
        let p = plan(&cfg).unwrap();
        let event = r#"{"service":"checkout-api"}"#;
        let one = pipeline_emf_bytes(&cfg, &[event]);
        let two = pipeline_emf_bytes(&cfg, &[event, event]);
        assert_eq!(p.cost.emf_bytes_per_datum, one as f64);
        assert_eq!(p.cost.emf_bytes_per_extra_sample, (two - one) as f64);
    }

    /// The one dimension `D = source` of a rule, as planned.
    fn planned_dimension(source: &str) -> PlannedDimension {
        let cfg = config(&format!(
            "[metrics]\nlambda_platform = false\n[[metrics.rule]]\nmetric_name = \"X\"\nfilter_pattern = \"[a, remote_addr, ip, status_code]\"\ndimensions = {{ D = {source:?} }}\n"
        ));
        let mut p = plan(&cfg).unwrap();
        assert_eq!(p.metrics.len(), 1);
        assert_eq!(p.metrics[0].dimensions.len(), 1);
        p.metrics[0].dimensions.remove(0)
    }

    #[test]
    fn hostile_names_stay_bounded() {
        // 300,000 characters of camel case: only the first 256 are split into words, none of
        // which names an unbounded value.
        assert_eq!(unbounded_reason(&"aB_".repeat(100_000)), None);
        assert_eq!(unbounded_reason(""), None);
        assert_eq!(unbounded_reason("$"), None);
        // Paths are read as the pipeline compiled them: indexes and keys of digits say nothing,
        // the key before them names the value.
        for (source, flagged) in [
            ("$['']", false),
            ("$.a[0]", false),
            ("$.ids[0]", true),
            ("$.request_id[3]", true),
            ("$['user.id']", true),
            ("$.items.0", false),
            ("$.session.0", true),
        ] {
            let d = planned_dimension(source);
            assert_eq!(d.kind, DimensionKind::Field, "{source}");
            assert_eq!(
                d.unbounded.is_some(),
                flagged,
                "{source}: {:?}",
                d.unbounded
            );
        }
    }

    #[test]
    fn literal_dimensions_are_read_as_compiled() {
        // `$$` escapes a leading `$`: one value, sent with one `$`; never flagged.
        for (source, value) in [
            ("$$LATEST", "$LATEST"),
            ("$$", "$"),
            ("$$$x", "$$x"),
            ("prod", "prod"),
            ("request_id", "request_id"),
        ] {
            let d = planned_dimension(source);
            assert_eq!(d.kind, DimensionKind::Literal, "{source}");
            assert_eq!(d.value.as_deref(), Some(value), "{source}");
            assert_eq!(d.source, source);
            assert_eq!((d.values, d.unbounded), (1, None), "{source}");
        }
        let d = planned_dimension("$status_code");
        assert_eq!(
            (d.kind, d.value, d.values),
            (DimensionKind::Extracted, None, 101)
        );
        assert_eq!(
            planned_dimension("$remote_addr").unbounded.as_deref(),
            Some("one value per client address")
        );
    }
}
