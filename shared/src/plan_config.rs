//! The `[plan]` section: the volume assumptions and prices `logsieve plan` estimates with,
//! checked like every other section. Apart from `plan` itself so the configuration does not
//! import the module that reads the configuration.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// Compute cost of processing one million events (USD), measured: `make bench` on the JSON mix
/// (425k events/s on one core, 10,000 events per invocation) at 128 MB arm64, scaled to the vCPU
/// share a 128 MB function gets (128/1769): $0.000054, rounded up. Requests are priced apart.
pub const DEFAULT_LAMBDA_COST_PER_MILLION_EVENTS: f64 = 0.00006;

/// `[plan]`: volume assumptions and prices for `logsieve plan`. Only `plan` reads it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    /// Log events delivered to the processor per day (all subscribed log groups together).
    pub events_per_day: u64,
    /// Log groups subscribed to the processor (each Lambda log group is one `FunctionName`).
    pub log_groups: u64,
    /// Events per subscription delivery, i.e. per invocation. CloudWatch Logs batches by time
    /// and size; 100 is a middle-of-the-road figure, busy groups deliver more.
    pub events_per_batch: u64,
    /// Share of events each rule's pattern matches (0–1).
    pub match_fraction: f64,
    /// Share of events that are Lambda REPORT lines (0–1): one per invocation of the monitored
    /// functions, e.g. 0.1 when a function writes 10 lines per invocation.
    pub report_fraction: f64,
    /// Events that share one trace id (≥ 1).
    pub events_per_trace: f64,
    /// Prices (USD); the defaults are us-east-1 list prices and are never fetched.
    pub pricing: Pricing,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            events_per_day: 1_000_000,
            log_groups: 1,
            events_per_batch: 100,
            match_fraction: 0.05,
            report_fraction: 0.1,
            events_per_trace: 10.0,
            pricing: Pricing::default(),
        }
    }
}

/// `[plan.pricing]`: USD prices, us-east-1 list prices by default (https://aws.amazon.com/cloudwatch/pricing/; verify on the
/// AWS pricing pages for other Regions or later dates).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pricing {
    /// Per custom metric-month, the first 10,000 metrics.
    pub metric_first_10k: f64,
    /// Per custom metric-month, the next 240,000.
    pub metric_next_240k: f64,
    /// Per custom metric-month, the next 750,000.
    pub metric_next_750k: f64,
    /// Per custom metric-month, beyond 1,000,000.
    pub metric_over_1m: f64,
    /// Per 1,000 PutMetricData requests.
    pub put_metric_data_per_1000: f64,
    /// Per GB of CloudWatch Logs ingestion (standard log class), what EMF costs.
    pub log_ingestion_per_gb: f64,
    /// Per million X-Ray traces recorded.
    pub xray_per_million_traces: f64,
    /// Lambda compute per million events processed (see
    /// [`DEFAULT_LAMBDA_COST_PER_MILLION_EVENTS`]); requests are priced by
    /// `metrics.price_per_request`.
    pub lambda_per_million_events: f64,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            metric_first_10k: 0.30,
            metric_next_240k: 0.10,
            metric_next_750k: 0.05,
            metric_over_1m: 0.02,
            put_metric_data_per_1000: 0.01,
            log_ingestion_per_gb: 0.50,
            xray_per_million_traces: 5.00,
            lambda_per_million_events: DEFAULT_LAMBDA_COST_PER_MILLION_EVENTS,
        }
    }
}

impl PlanConfig {
    /// Checks ranges; errors name the key (`plan.match_fraction`, `plan.pricing.…`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fraction = |key: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::new(key, format!("{v} is not within 0..=1")))
            }
        };
        fraction("plan.match_fraction", self.match_fraction)?;
        fraction("plan.report_fraction", self.report_fraction)?;
        if self.events_per_batch == 0 {
            return Err(ConfigError::new(
                "plan.events_per_batch",
                "must be at least 1",
            ));
        }
        if !(self.events_per_trace.is_finite() && self.events_per_trace >= 1.0) {
            return Err(ConfigError::new(
                "plan.events_per_trace",
                format!("{} is not a number ≥ 1", self.events_per_trace),
            ));
        }
        let p = &self.pricing;
        for (key, v) in [
            ("metric_first_10k", p.metric_first_10k),
            ("metric_next_240k", p.metric_next_240k),
            ("metric_next_750k", p.metric_next_750k),
            ("metric_over_1m", p.metric_over_1m),
            ("put_metric_data_per_1000", p.put_metric_data_per_1000),
            ("log_ingestion_per_gb", p.log_ingestion_per_gb),
            ("xray_per_million_traces", p.xray_per_million_traces),
            ("lambda_per_million_events", p.lambda_per_million_events),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError::new(
                    format!("plan.pricing.{key}"),
                    format!("{v} is not a price ≥ 0"),
                ));
            }
        }
        Ok(())
    }
}
