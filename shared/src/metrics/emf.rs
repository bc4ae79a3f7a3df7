//! Renders datums as Embedded Metric Format documents (one JSON text each), carrying exactly the
//! same samples as the PutMetricData encoding.
//!
//! EMF has no `Counts`: a value observed N times is written N times. A metric array holds at most
//! 100 values and a name may appear once per document, so a metric with more values continues in
//! further documents of the same (namespace, dimensions, timestamp) group; CloudWatch aggregates
//! documents, so Sum and SampleCount equal those of the datums.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::aggregate::{
    is_cloudwatch_value, MetricDatum, Resolution, Unit, MAX_DIMENSIONS, MAX_DIMENSION_VALUE_LEN,
};
use crate::counter_keys as ck;
use crate::stats::Counters;

/// Metric definitions per directive (we use one directive per document).
pub const MAX_EMF_METRICS_PER_DIRECTIVE: usize = 100;
/// Values in one metric's array.
pub const MAX_EMF_VALUES_PER_METRIC: usize = 100;
/// Keys in one dimension set.
pub const MAX_EMF_DIMENSION_KEYS: usize = MAX_DIMENSIONS;
/// Dimension key length in the EMF schema (shorter than PutMetricData's 255).
pub const MAX_EMF_DIMENSION_NAME_LEN: usize = 250;
/// Metric name and namespace length in the EMF schema (characters).
pub const MAX_EMF_NAME_LEN: usize = 1024;
/// One document is one log event: 1 MB, counted as 10^6 bytes to leave room for framing.
pub const MAX_EMF_DOCUMENT_BYTES: usize = 1_000_000;
/// Samples (Σ counts) one datum may expand to. Aggregated batches stay far below this (a batch
/// holds at most a few tens of thousands of events); it bounds output for hand-built datums.
pub const MAX_EMF_SAMPLES_PER_DATUM: u64 = 100_000;

/// The root member holding EMF metadata; no dimension or metric may use this name.
const AWS_KEY: &str = "_aws";
/// Longest JSON text of a finite f64 plus its separating comma.
const MAX_NUMBER_JSON: usize = 25;

/// Embedded Metric Format documents (one JSON text each) carrying the same datums.
/// Datums EMF cannot represent are skipped; use [`encode_emf_counted`] to count them.
pub fn encode_emf(datums: &[MetricDatum]) -> Vec<String> {
    encode_emf_counted(datums, &mut Counters::new())
}

/// Like [`encode_emf`], counting skipped datums under `metrics.emf_*`:
/// `emf_unrepresentable` (a metric named like one of its dimensions or `_aws`, a name or
/// namespace over 1024 characters, a dimension key over 250 characters, a non-integral count, or values out of range), `emf_too_many_samples`
/// (Σ counts over [`MAX_EMF_SAMPLES_PER_DATUM`]) and `emf_too_large` (a single metric entry
/// that cannot fit a 1 MB document).
pub fn encode_emf_counted(datums: &[MetricDatum], counters: &mut Counters) -> Vec<String> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<GroupKey<'_>, usize> = HashMap::new();
    for d in datums {
        if let Err(reason) = representable(d) {
            counters.incr(reason);
            continue;
        }
        let key = (
            d.namespace.as_str(),
            d.timestamp,
            d.dimensions
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect(),
        );
        let idx = *index.entry(key).or_insert_with(|| {
            groups.push(Group::new(d));
            groups.len() - 1
        });
        if let Some(g) = groups.get_mut(idx) {
            g.add(d);
        }
    }
    let mut out = Vec::new();
    for g in &groups {
        g.render(&mut out, counters);
    }
    out
}

/// (namespace, timestamp, dimensions): the datums that may share documents.
type GroupKey<'a> = (&'a str, i64, Vec<(&'a str, &'a str)>);

/// Checks a datum can be written as EMF.
fn representable(d: &MetricDatum) -> Result<(), &'static str> {
    let bad = ck::metrics::EMF_UNREPRESENTABLE;
    let too_long = |s: &str| s.chars().count() > MAX_EMF_NAME_LEN;
    if d.metric_name.is_empty()
        || too_long(&d.metric_name)
        || too_long(&d.namespace)
        || d.metric_name == AWS_KEY
        || d.dimensions.contains_key(&d.metric_name)
        || d.dimensions.len() > MAX_EMF_DIMENSION_KEYS
        || d.namespace.is_empty()
        || d.values.len() != d.counts.len()
    {
        return Err(bad);
    }
    for (k, v) in &d.dimensions {
        let value_ok = v
            .as_str()
            .is_some_and(|v| !v.is_empty() && v.len() <= MAX_DIMENSION_VALUE_LEN);
        if k.is_empty() || k.len() > MAX_EMF_DIMENSION_NAME_LEN || k == AWS_KEY || !value_ok {
            return Err(bad);
        }
    }
    let mut total: u64 = 0;
    for (&v, &c) in d.values.iter().zip(&d.counts) {
        if !(is_cloudwatch_value(v) && c >= 1.0 && c.fract() == 0.0) {
            return Err(bad);
        }
        if c > MAX_EMF_SAMPLES_PER_DATUM as f64 {
            return Err(ck::metrics::EMF_TOO_MANY_SAMPLES);
        }
        total = total.saturating_add(c as u64);
    }
    if total > MAX_EMF_SAMPLES_PER_DATUM {
        return Err(ck::metrics::EMF_TOO_MANY_SAMPLES);
    }
    Ok(())
}

/// One metric of a group: its definition and every sample, expanded.
struct Slot<'a> {
    name: &'a str,
    unit: Unit,
    resolution: Resolution,
    values: Vec<f64>,
}

/// Datums sharing namespace, dimensions and timestamp: they can share documents.
struct Group<'a> {
    namespace: &'a str,
    dimensions: &'a Map<String, Value>,
    timestamp: i64,
    slots: Vec<Slot<'a>>,
}

impl<'a> Group<'a> {
    fn new(d: &'a MetricDatum) -> Group<'a> {
        Group {
            namespace: &d.namespace,
            dimensions: &d.dimensions,
            timestamp: d.timestamp,
            slots: Vec::new(),
        }
    }

    fn add(&mut self, d: &'a MetricDatum) {
        let pos = self.slots.iter().position(|s| {
            s.name == d.metric_name && s.unit == d.unit && s.resolution == d.storage_resolution
        });
        let slot = match pos.and_then(|i| self.slots.get_mut(i)) {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    name: &d.metric_name,
                    unit: d.unit,
                    resolution: d.storage_resolution,
                    values: Vec::new(),
                });
                match self.slots.last_mut() {
                    Some(s) => s,
                    None => return,
                }
            }
        };
        for (&v, &c) in d.values.iter().zip(&d.counts) {
            // `representable` bounded c to an integer in 1..=MAX_EMF_SAMPLES_PER_DATUM.
            slot.values.extend(std::iter::repeat_n(v, c as usize));
        }
    }

    /// The document without metrics, to size it.
    fn base(&self, metrics: Vec<Value>) -> Map<String, Value> {
        let keys: Vec<&String> = self.dimensions.keys().collect();
        let mut root = self.dimensions.clone();
        root.insert(
            AWS_KEY.into(),
            json!({
                "Timestamp": self.timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [keys],
                    "Metrics": metrics,
                }],
            }),
        );
        root
    }

    fn render(&self, out: &mut Vec<String>, counters: &mut Counters) {
        let base_bytes = Value::Object(self.base(Vec::new())).to_string().len();
        let mut docs: Vec<DocPlan<'_>> = Vec::new();
        // Documents before this index are full (100 metrics), so placement skips them.
        let mut first_open = 0;
        for slot in &self.slots {
            let definition = definition(slot);
            let fixed = definition.to_string().len() + Value::from(slot.name).to_string().len() + 4;
            let mut start = first_open;
            for chunk in slot.values.chunks(MAX_EMF_VALUES_PER_METRIC) {
                let bytes = fixed + chunk.len() * MAX_NUMBER_JSON;
                if base_bytes + bytes > MAX_EMF_DOCUMENT_BYTES {
                    counters.incr(ck::metrics::EMF_TOO_LARGE);
                    break;
                }
                let fits = |d: &DocPlan<'_>| {
                    d.entries.len() < MAX_EMF_METRICS_PER_DIRECTIVE
                        && !d.names.contains(slot.name)
                        && d.bytes + bytes <= MAX_EMF_DOCUMENT_BYTES
                };
                let at = match docs.iter().skip(start).position(fits) {
                    Some(i) => start + i,
                    None => {
                        docs.push(DocPlan {
                            entries: Vec::new(),
                            names: HashSet::new(),
                            bytes: base_bytes,
                        });
                        docs.len() - 1
                    }
                };
                if let Some(doc) = docs.get_mut(at) {
                    doc.entries.push((slot, chunk));
                    doc.names.insert(slot.name);
                    doc.bytes += bytes;
                }
                start = at + 1;
            }
            while docs
                .get(first_open)
                .is_some_and(|d| d.entries.len() >= MAX_EMF_METRICS_PER_DIRECTIVE)
            {
                first_open += 1;
            }
        }
        for doc in docs {
            let defs = doc.entries.iter().map(|(s, _)| definition(s)).collect();
            let mut root = self.base(defs);
            for (slot, chunk) in doc.entries {
                root.insert(slot.name.to_string(), json!(chunk));
            }
            out.push(Value::Object(root).to_string());
        }
    }
}

fn definition(slot: &Slot<'_>) -> Value {
    json!({"Name": slot.name, "Unit": slot.unit.as_str(), "StorageResolution": slot.resolution.seconds()})
}

struct DocPlan<'a> {
    entries: Vec<(&'a Slot<'a>, &'a [f64])>,
    names: HashSet<&'a str>,
    bytes: usize,
}
