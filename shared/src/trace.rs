//! Trace correlation: finds X-Ray and W3C/OpenTelemetry trace ids in records and builds one X-Ray
//! segment document per trace per batch, with annotations that make the trace searchable.
//!
//! STUB: types only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;
use crate::record::{Record, Source};
use crate::stats::Counters;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceSinkKind {
    #[default]
    Xray,
    None,
}

/// `[traces]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    pub sink: TraceSinkKind,
    /// Annotation name → field path.
    pub annotations: BTreeMap<String, String>,
}

impl TracesConfig {
    pub fn validate(&self) -> Result<TraceRules, ConfigError> {
        Ok(TraceRules { sink: self.sink })
    }
}

#[derive(Debug, Clone)]
pub struct TraceRules {
    pub sink: TraceSinkKind,
}

/// One X-Ray segment document ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub trace_id: String,
    pub id: String,
    /// The document exactly as sent (JSON text).
    pub document: String,
    /// Latest event time in the segment, epoch ms (for the retention check at the sink).
    pub end_time_ms: i64,
}

/// Collects trace notes over one batch.
#[derive(Debug)]
pub struct TraceCollector<'a> {
    _rules: &'a TraceRules,
}

impl<'a> TraceCollector<'a> {
    pub fn new(rules: &'a TraceRules, _source: &Source) -> TraceCollector<'a> {
        TraceCollector { _rules: rules }
    }

    pub fn observe(&mut self, _record: &Record, _counters: &mut Counters) {}

    pub fn finish(self, _counters: &mut Counters) -> Vec<Segment> {
        Vec::new()
    }
}
