//! Field selection ("filter to only the needed fields"): keep / drop / rename, per-value byte
//! caps, and redaction, producing the JSON object written to `records`.
//!
//! STUB: passes fields through.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config_error::ConfigError;
use crate::record::Record;
use crate::redact::Redactor;

/// `[fields]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldsConfig {
    /// Field paths to keep (empty = keep all).
    pub keep: Vec<String>,
    /// Field paths to drop.
    pub drop: Vec<String>,
    /// Old name → new name.
    pub rename: BTreeMap<String, String>,
    /// Built-in detectors to apply.
    pub redact: Vec<String>,
    /// Longest string value kept, in bytes.
    pub max_value_bytes: Option<usize>,
}

impl FieldsConfig {
    pub fn validate(&self) -> Result<Selector, ConfigError> {
        Ok(Selector {
            redactor: Redactor::default(),
        })
    }
}

/// The checked `[fields]` config.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub redactor: Redactor,
}

impl Selector {
    /// Redacts secrets in the record's message and fields in place, before any stage reads them.
    /// Returns how many secrets were replaced.
    pub fn redact_record(&self, record: &mut Record) -> usize {
        let mut n = 0;
        for v in record.fields.values_mut() {
            n += self.redactor.redact_value(v);
        }
        n
    }

    /// The output object for one record: metadata (`@timestamp`, `@logGroup`, `@logStream`,
    /// `@id`, `@format`) then the selected fields.
    pub fn select(&self, record: &Record) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("@timestamp".into(), record.timestamp.into());
        out.insert("@logGroup".into(), record.source.log_group.clone().into());
        out.insert("@logStream".into(), record.source.log_stream.clone().into());
        out.insert("@id".into(), record.event_id.clone().into());
        out.insert("@format".into(), record.format.as_str().into());
        for (k, v) in &record.fields {
            out.insert(k.clone(), v.clone());
        }
        out
    }
}
