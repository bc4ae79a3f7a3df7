//! Metrics: rules shaped like CloudWatch metric filters plus built-in Lambda metrics, aggregated
//! per batch into PutMetricData-shaped datums, and the pure encoders (PutMetricData requests, EMF).
//!
//! STUB: types only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config_error::ConfigError;
use crate::record::Record;
use crate::stats::Counters;

/// Where metrics go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricSinkKind {
    #[default]
    Cloudwatch,
    Emf,
    None,
}

/// `[metrics]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Default namespace for rules that set none.
    pub namespace: String,
    pub sink: MetricSinkKind,
    /// Built-in Lambda metrics from REPORT / platform.report lines.
    pub lambda_platform: bool,
    #[serde(rename = "rule")]
    pub rules: Vec<Value>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            namespace: "Logsieve".into(),
            sink: MetricSinkKind::Cloudwatch,
            lambda_platform: true,
            rules: Vec::new(),
        }
    }
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<MetricRules, ConfigError> {
        Ok(MetricRules { sink: self.sink })
    }
}

/// The checked `[metrics]` config, with patterns compiled.
#[derive(Debug, Clone)]
pub struct MetricRules {
    pub sink: MetricSinkKind,
}

impl MetricRules {
    /// Evaluates every rule and built-in metric against one record, adding samples to `agg`.
    pub fn derive(&self, _record: &Record, _agg: &mut Aggregator, _counters: &mut Counters) {}
}

/// Collects samples of one batch and folds them into datums.
#[derive(Debug, Default)]
pub struct Aggregator {}

impl Aggregator {
    pub fn new() -> Aggregator {
        Aggregator::default()
    }

    /// The datums of the batch, within every PutMetricData limit; drops are counted.
    pub fn finish(self, _counters: &mut Counters) -> Vec<MetricDatum> {
        Vec::new()
    }
}

/// One PutMetricData datum (design.md §4 shape when serialized).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDatum {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Map<String, Value>,
    pub unit: String,
    pub timestamp: i64,
    pub storage_resolution: u32,
    pub values: Vec<f64>,
    pub counts: Vec<f64>,
}

/// One PutMetricData call's worth of datums (one namespace, within every request limit).
#[derive(Debug, Clone, PartialEq)]
pub struct PutMetricDataRequest {
    pub namespace: String,
    pub datums: Vec<MetricDatum>,
}

/// Splits datums into PutMetricData requests (≤1000 datums, ≤1 MB each, one namespace each).
pub fn encode_put_metric_data(datums: &[MetricDatum]) -> Vec<PutMetricDataRequest> {
    datums
        .iter()
        .map(|d| PutMetricDataRequest {
            namespace: d.namespace.clone(),
            datums: vec![d.clone()],
        })
        .collect()
}

/// Embedded Metric Format documents (one JSON text each) carrying the same datums.
pub fn encode_emf(_datums: &[MetricDatum]) -> Vec<String> {
    Vec::new()
}
