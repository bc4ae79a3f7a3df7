//! `[[metrics.rule]]`: user rules shaped like CloudWatch metric filters (pattern, value, default
//! value, dimensions), validated and compiled once, then evaluated per record.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde_json::Value;

use super::aggregate::{
    check_dimension_name, check_dimension_value, is_cloudwatch_value, Aggregator, MetricId,
    MetricIdError, Resolution, Unit, MAX_DIMENSIONS,
};
use super::emf::MAX_EMF_DIMENSION_NAME_LEN;
use crate::config_error::ConfigError;
use crate::counter_keys as ck;
use crate::exits::{masked_scalar_text, name_is_sensitive, path_is_sensitive};
use crate::pattern::{FilterPattern, Match, MatchInput};
use crate::record::{scalar_to_string, tag_key, value_as_f64, FieldPath, Format, Record};
use crate::redact::Redactor;
use crate::stats::Counters;

/// Longest filter pattern CloudWatch accepts.
pub const MAX_FILTER_PATTERN_LEN: usize = 1024;
/// Default distinct values kept per dimension before folding into [`OVERFLOW_VALUE`].
pub const DEFAULT_MAX_CARDINALITY: usize = 100;
/// Upper bound for `max_cardinality`: each kept value (≤1 KB) is remembered for the life of the
/// process, every distinct value is a billed custom metric, and CloudWatch itself disables a
/// metric filter past 1000 dimension combinations.
pub const MAX_CARDINALITY_LIMIT: usize = 1000;
/// The dimension value that stands for every value past the cardinality cap.
pub const OVERFLOW_VALUE: &str = "other";

/// One `[[metrics.rule]]`: a metric filter in CloudWatch's own vocabulary.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The metric's name (1–255 printable ASCII characters).
    pub metric_name: String,
    /// Namespace; `[metrics].namespace` when absent. Must not start with `AWS/` or `:`.
    #[serde(default)]
    pub metric_namespace: Option<String>,
    /// CloudWatch filter pattern selecting the events that produce a sample; empty or absent
    /// matches every event. At most 1024 characters.
    #[serde(default)]
    pub filter_pattern: String,
    /// The sample value when the pattern matches: a number (`1`, `"0.5"`), `"$.path"` read from
    /// the record's fields, or `"$name"` from a space-delimited pattern's extracted fields.
    /// A value that is missing or not numeric skips the sample (counted as
    /// `metrics.value_not_numeric`). Defaults to 1, counting matches.
    #[serde(default = "one")]
    pub metric_value: NumberOrText,
    /// Emitted once for every record the pattern does NOT match (records outside `log_groups`
    /// are not considered). Unlike CloudWatch, which emits it per ingestion period, a per-record
    /// default is independent of how events are batched; for the usual `1`/`0` pair Sum equals
    /// CloudWatch's and Average is the match ratio. Only allowed when every dimension is a
    /// literal, since a non-matching event has no extracted values.
    #[serde(default)]
    pub default_value: Option<f64>,
    /// A CloudWatch `StandardUnit` name, spelled exactly (`Count`, `Milliseconds`,
    /// `Bytes/Second`…). Defaults to `None`.
    #[serde(default = "unit_none")]
    pub unit: String,
    /// 60 (standard, one datum per minute) or 1 (high resolution, per second).
    #[serde(default = "sixty")]
    pub storage_resolution: u32,
    /// Up to 30 dimensions, name → `"$.path"`, `"$name"`, `"$tags.<key>"` (a tag of the
    /// log group's Lambda function or of the log group) or a literal value (write `$$` for a
    /// literal leading `$`, e.g. `"$$LATEST"`). A sample whose dimension value is missing or not
    /// a scalar is skipped (`metrics.dimension_missing`), as metric filters do; one that
    /// CloudWatch would reject (non-ASCII, blank, over 1024 characters) is skipped too
    /// (`metrics.dimension_invalid`).
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// Distinct values kept per dimension for the life of the process (a warm Lambda
    /// environment); later new values are folded into `"other"` and counted as
    /// `metrics.cardinality_overflow`. 1–1000, default 100.
    #[serde(default = "default_cardinality")]
    pub max_cardinality: usize,
    /// Globs on the log group name (`/aws/lambda/orders-*`); the rule only sees records of
    /// matching groups. `*` also crosses `/`. Empty or absent: every group.
    #[serde(default)]
    pub log_groups: Vec<String>,
}

/// A TOML value that may be written as a number or as a string.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum NumberOrText {
    Number(f64),
    Text(String),
}

fn one() -> NumberOrText {
    NumberOrText::Number(1.0)
}
fn unit_none() -> String {
    "None".into()
}
fn sixty() -> u32 {
    60
}
fn default_cardinality() -> usize {
    DEFAULT_MAX_CARDINALITY
}

/// Where a sample's value comes from.
#[derive(Debug, Clone)]
enum ValueSource {
    Literal(f64),
    Field(FieldPath),
    /// A `$name` of a space-delimited pattern, stored with its `$`, as `Match::extracted` keys.
    Extracted(String),
}

/// Where a dimension's value comes from.
#[derive(Debug, Clone)]
enum DimSource {
    Literal(String),
    Field(FieldPath),
    Extracted(String),
    /// The key of a `$tags.<key>`.
    Tag(String),
}

/// Where a compiled rule's dimension takes its value, as the rule reads it: what tools that
/// describe a configuration (`logsieve plan`) read instead of parsing the sources again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimensionSource<'a> {
    /// Sent as it is; `$$LATEST` in the config is sent as `$LATEST`.
    Literal(&'a str),
    /// Read from the record's fields.
    Field(&'a FieldPath),
    /// A `$name` of a space-delimited pattern, with its `$`.
    Extracted(&'a str),
    /// A tag of the resources behind the log group: the key of `$tags.<key>`.
    Tag(&'a str),
}

/// A checked rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    metric: Arc<MetricId>,
    /// `None` for match-all patterns, which skip matching entirely.
    pattern: Option<FilterPattern>,
    /// Whether any `$name` is read, so matching must build the extracted values.
    /// The extracted names the value and dimensions read (`$size`, `$.a.b`); empty when none.
    needs_extracted: Vec<String>,
    value: ValueSource,
    default_value: Option<f64>,
    dims: Vec<(Arc<str>, DimSource)>,
    /// Index-aligned with `dims`: read from a path naming a sensitive key, so the value is sent
    /// as the marker (set by `guard_exits`; empty means none).
    sensitive_dims: Vec<bool>,
    /// The value is read from a path naming a sensitive key: never numeric, as after record
    /// redaction.
    sensitive_value: bool,
    max_cardinality: usize,
    log_groups: Option<GlobSet>,
    /// Only records of this format are looked at (a pack's rules: CloudTrail only).
    format: Option<Format>,
}

/// `$name` field names of space-delimited patterns: letters, digits, underscore.
fn extracted_name(s: &str) -> Option<&str> {
    let name = s.strip_prefix('$')?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(name)
}

fn in_range(v: f64) -> bool {
    is_cloudwatch_value(v)
}

impl RuleConfig {
    /// Checks and compiles the rule; `key` is its config key, e.g. `metrics.rule[1]`.
    pub fn compile(
        &self,
        key: &str,
        default_namespace: &str,
        emf: bool,
    ) -> Result<CompiledRule, ConfigError> {
        let err = |field: &str, msg: String| ConfigError::new(format!("{key}.{field}"), msg);
        let unit = Unit::parse(&self.unit).ok_or_else(|| {
            err(
                "unit",
                format!(
                    "{:?} is not a CloudWatch unit (one of: {})",
                    self.unit,
                    Unit::ALL.map(Unit::as_str).join(", ")
                ),
            )
        })?;
        let resolution = Resolution::from_seconds(self.storage_resolution).ok_or_else(|| {
            err(
                "storage_resolution",
                format!("{} is not 1 or 60", self.storage_resolution),
            )
        })?;
        let namespace = self
            .metric_namespace
            .as_deref()
            .unwrap_or(default_namespace);
        let metric =
            MetricId::new(namespace, &self.metric_name, unit, resolution).map_err(|e| match e {
                MetricIdError::Namespace(e) => {
                    err("metric_namespace", format!("{namespace:?} {e}"))
                }
                MetricIdError::Name(e) => err("metric_name", format!("{:?} {e}", self.metric_name)),
            })?;
        if self.filter_pattern.chars().count() > MAX_FILTER_PATTERN_LEN {
            return Err(err(
                "filter_pattern",
                format!("longer than {MAX_FILTER_PATTERN_LEN} characters"),
            ));
        }
        let pattern = FilterPattern::compile(&self.filter_pattern)
            .map_err(|e| err("filter_pattern", format!("{:?}: {e}", self.filter_pattern)))?;
        let pattern = (!pattern.is_match_all()).then_some(pattern);

        let value = match &self.metric_value {
            NumberOrText::Number(n) => ValueSource::Literal(*n),
            NumberOrText::Text(t) => {
                parse_value(t.trim()).map_err(|m| err("metric_value", format!("{t:?}: {m}")))?
            }
        };
        if let ValueSource::Literal(n) = value {
            if !in_range(n) {
                return Err(err(
                    "metric_value",
                    format!("{n} is not 0 or a magnitude within 2^-359..=2^359"),
                ));
            }
        }
        if let Some(d) = self.default_value {
            if !in_range(d) {
                return Err(err(
                    "default_value",
                    format!("{d} is not 0 or a magnitude within 2^-359..=2^359"),
                ));
            }
        }

        if self.dimensions.len() > MAX_DIMENSIONS {
            return Err(err(
                "dimensions",
                format!(
                    "{} dimensions, the limit is {MAX_DIMENSIONS}",
                    self.dimensions.len()
                ),
            ));
        }
        let mut dims = Vec::with_capacity(self.dimensions.len());
        for (name, source) in &self.dimensions {
            let dkey = format!("dimensions.{name}");
            check_dimension_name(name).map_err(|e| err(&dkey, format!("name {name:?} {e}")))?;
            if emf && name.len() > MAX_EMF_DIMENSION_NAME_LEN {
                return Err(err(
                    &dkey,
                    format!(
                        "EMF allows dimension names up to {MAX_EMF_DIMENSION_NAME_LEN} characters"
                    ),
                ));
            }
            if *name == self.metric_name || name == "_aws" {
                return Err(err(
                    &dkey,
                    "a dimension may not share the metric's name or be `_aws` (EMF writes both as the same JSON key)".into(),
                ));
            }
            let parsed =
                parse_dimension(source).map_err(|m| err(&dkey, format!("{source:?}: {m}")))?;
            dims.push((Arc::<str>::from(name.as_str()), parsed));
        }
        if self.default_value.is_some()
            && dims
                .iter()
                .any(|(_, s)| !matches!(s, DimSource::Literal(_)))
        {
            return Err(err(
                "default_value",
                "not allowed with dimensions read from the event: a non-matching event has no values for them".into(),
            ));
        }
        if !(1..=MAX_CARDINALITY_LIMIT).contains(&self.max_cardinality) {
            return Err(err(
                "max_cardinality",
                format!(
                    "{} is not within 1..={MAX_CARDINALITY_LIMIT}",
                    self.max_cardinality
                ),
            ));
        }
        let log_groups = if self.log_groups.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for (i, g) in self.log_groups.iter().enumerate() {
                let glob = Glob::new(g)
                    .map_err(|e| err(&format!("log_groups[{i}]"), format!("{g:?}: {e}")))?;
                b.add(glob);
            }
            Some(b.build().map_err(|e| err("log_groups", e.to_string()))?)
        };
        let mut needs_extracted: Vec<String> = dims
            .iter()
            .filter_map(|(_, s)| match s {
                DimSource::Extracted(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        if let ValueSource::Extracted(n) = &value {
            needs_extracted.push(n.clone());
        }
        Ok(CompiledRule {
            metric,
            pattern,
            needs_extracted,
            value,
            default_value: self.default_value,
            dims,
            sensitive_dims: Vec::new(),
            sensitive_value: false,
            max_cardinality: self.max_cardinality,
            log_groups,
            format: None,
        })
    }
}

fn parse_value(t: &str) -> Result<ValueSource, String> {
    if t.starts_with("$.") || t.starts_with("$[") {
        return FieldPath::parse(t)
            .map(ValueSource::Field)
            .map_err(|e| e.to_string());
    }
    if t.starts_with('$') {
        return extracted_name(t)
            .map(|_| ValueSource::Extracted(t.to_string()))
            .ok_or_else(|| "a `$name` may only contain letters, digits and `_`".to_string());
    }
    t.parse::<f64>()
        .map(ValueSource::Literal)
        .map_err(|_| "expected a number, `$.path` or `$name`".to_string())
}

fn parse_dimension(t: &str) -> Result<DimSource, String> {
    if let Some(lit) = t.strip_prefix("$$") {
        let lit = format!("${lit}");
        check_dimension_value(&lit).map_err(|e| format!("literal value {e}"))?;
        return Ok(DimSource::Literal(lit));
    }
    if let Some(key) = tag_key(t) {
        return Ok(DimSource::Tag(key.to_string()));
    }
    if t.starts_with("$.") || t.starts_with("$[") {
        return FieldPath::parse(t)
            .map(DimSource::Field)
            .map_err(|e| e.to_string());
    }
    if t.starts_with('$') {
        return extracted_name(t)
            .map(|_| DimSource::Extracted(t.to_string()))
            .ok_or_else(|| {
                "a `$name` may only contain letters, digits and `_` (write `$$` for a literal `$`)"
                    .to_string()
            });
    }
    check_dimension_value(t).map_err(|e| format!("literal value {e}"))?;
    Ok(DimSource::Literal(t.to_string()))
}

/// Distinct values seen for one dimension, capped; lives as long as the process.
#[derive(Debug, Default, Clone)]
pub(crate) struct SeenValues(HashSet<String, foldhash::fast::RandomState>);

impl SeenValues {
    /// Whether `value` may be used as it is: already seen, or new while under the cap (it is
    /// then remembered). `false` means the sample takes `"other"` instead.
    pub(crate) fn admit_ref(&mut self, value: &str, max: usize, counters: &mut Counters) -> bool {
        if self.0.contains(value) {
            return true;
        }
        if self.0.len() < max {
            self.0.insert(value.to_string());
            return true;
        }
        counters.incr(ck::metrics::CARDINALITY_OVERFLOW);
        false
    }

    /// The value to use: itself while under the cap (or already seen), else `"other"`.
    pub(crate) fn admit(&mut self, value: String, max: usize, counters: &mut Counters) -> String {
        if self.0.contains(&value) {
            return value;
        }
        if self.0.len() < max {
            self.0.insert(value.clone());
            return value;
        }
        counters.incr(ck::metrics::CARDINALITY_OVERFLOW);
        OVERFLOW_VALUE.to_string()
    }
}

/// Reads a `$name` from the pattern's match, falling back to the subscription filter's
/// extracted fields (delivered with or without the `$`).
fn extracted<'a>(name: &str, m: &'a Match, record: &'a Record) -> Option<Value> {
    if let Some(v) = m.extracted.get(name) {
        return Some(v.clone());
    }
    let fields = record.extracted_fields.as_ref()?;
    let bare = name.strip_prefix('$').unwrap_or(name);
    fields
        .get(bare)
        .or_else(|| fields.get(name))
        .map(|s| Value::String(s.clone()))
}

impl CompiledRule {
    /// Positions of the regexes in its filter pattern (its regex cost per byte of input).
    pub fn regex_positions(&self) -> usize {
        self.pattern
            .as_ref()
            .map_or(0, FilterPattern::regex_positions)
    }

    pub fn metric(&self) -> &Arc<MetricId> {
        &self.metric
    }

    /// The dimensions, by name (sorted), with where each value comes from.
    pub fn dimensions(&self) -> impl ExactSizeIterator<Item = (&str, DimensionSource<'_>)> {
        self.dims.iter().map(|(name, source)| {
            let source = match source {
                DimSource::Literal(v) => DimensionSource::Literal(v.as_str()),
                DimSource::Field(p) => DimensionSource::Field(p),
                DimSource::Extracted(n) => DimensionSource::Extracted(n.as_str()),
                DimSource::Tag(k) => DimensionSource::Tag(k.as_str()),
            };
            (&**name, source)
        })
    }

    /// The value sent for every record the pattern does not match, if any.
    pub fn default_value(&self) -> Option<f64> {
        self.default_value
    }

    /// Distinct values kept per dimension read from events before `other`.
    pub fn max_cardinality(&self) -> usize {
        self.max_cardinality
    }

    /// Marks the value and dimensions read from paths (or `$name`s) naming a sensitive key of
    /// `redactor`, decided once here rather than per event.
    pub(crate) fn guard_exits(&mut self, redactor: &Redactor) {
        let sensitive = |s: &DimSource| match s {
            DimSource::Literal(_) => false,
            DimSource::Field(p) => path_is_sensitive(p, redactor),
            DimSource::Extracted(n) | DimSource::Tag(n) => name_is_sensitive(n, redactor),
        };
        self.sensitive_dims = self.dims.iter().map(|(_, s)| sensitive(s)).collect();
        self.sensitive_value = match &self.value {
            ValueSource::Literal(_) => false,
            ValueSource::Field(p) => path_is_sensitive(p, redactor),
            ValueSource::Extracted(n) => name_is_sensitive(n, redactor),
        };
    }

    /// Restricts the rule to records of one format (set by packs, whose published patterns
    /// assume the record is that format's).
    pub(crate) fn only_format(&mut self, format: Format) {
        self.format = Some(format);
    }

    /// Whether the rule looks at records of this log group.
    pub fn applies_to(&self, log_group: &str) -> bool {
        self.log_groups
            .as_ref()
            .is_none_or(|g| g.is_match(log_group))
    }

    /// Evaluates the rule on one record (already known to be in its log groups).
    pub(crate) fn apply(
        &self,
        record: &Record,
        agg: &mut Aggregator,
        seen: &mut [SeenValues],
        mut redactor: Option<(&crate::redact::Redactor, &mut crate::redact::RedactMemo)>,
        known: Option<bool>,
        counters: &mut Counters,
    ) -> Option<bool> {
        if self.format.is_some_and(|f| f != record.format) {
            return None;
        }
        let input = MatchInput {
            message: &record.message,
            json: Some(record.fields_view()).filter(|f| !f.is_empty()),
        };
        // `known`: an earlier rule with the same pattern already judged this record.
        let matched = match (&self.pattern, known) {
            (None, _) => Some(Match::default()),
            (Some(_), Some(false)) => None,
            (Some(p), _) if !self.needs_extracted.is_empty() => {
                p.matches_only(&input, &self.needs_extracted)
            }
            (Some(_), Some(true)) => Some(Match::default()),
            (Some(p), None) => p.is_match(&input).then(Match::default),
        };
        let verdict = self.pattern.as_ref().map(|_| matched.is_some());
        let Some(m) = matched else {
            if let Some(d) = self.default_value {
                // Most records of a rate rule take this path, so the sample borrows its
                // (literal, compiled: valid and sorted) dimensions like a matched one does.
                let dims: Vec<(&Arc<str>, Cow<'_, str>)> = self
                    .dims
                    .iter()
                    .filter_map(|(n, s)| match s {
                        DimSource::Literal(v) => Some((n, Cow::Borrowed(v.as_str()))),
                        _ => None,
                    })
                    .collect();
                agg.add_sample(&self.metric, &dims, record.timestamp, d, counters);
            }
            return verdict;
        };
        let value = match &self.value {
            ValueSource::Literal(v) => Some(*v),
            _ if self.sensitive_value => None,
            ValueSource::Field(p) => record.get(p).and_then(value_as_f64),
            ValueSource::Extracted(n) => extracted(n, &m, record).as_ref().and_then(value_as_f64),
        };
        let Some(value) = value else {
            counters.incr(ck::metrics::VALUE_NOT_NUMERIC);
            return verdict;
        };
        // Values borrow from the record where they can: the aggregator copies them only for a
        // sample that starts a new datum.
        let mut dims: Vec<(&Arc<str>, Cow<'_, str>)> = Vec::with_capacity(self.dims.len());
        for (i, (name, source)) in self.dims.iter().enumerate() {
            let sensitive = self.sensitive_dims.get(i).copied().unwrap_or(false);
            let v = match source {
                DimSource::Literal(lit) => {
                    dims.push((name, Cow::Borrowed(lit.as_str())));
                    continue;
                }
                DimSource::Field(p) if sensitive => record.get(p).and_then(|v| {
                    let (text, replaced) = masked_scalar_text(v)?;
                    if replaced {
                        counters.incr(ck::select::REDACTED);
                    }
                    Some(text)
                }),
                DimSource::Extracted(n) if sensitive => {
                    extracted(n, &m, record).as_ref().and_then(|v| {
                        let (text, replaced) = masked_scalar_text(v)?;
                        if replaced {
                            counters.incr(ck::select::REDACTED);
                        }
                        Some(Cow::Owned(text.into_owned()))
                    })
                }
                DimSource::Tag(k) if sensitive => record.tag(k).map(|_| {
                    counters.incr(ck::select::REDACTED);
                    Cow::Borrowed(crate::exits::SENSITIVE_MARKER)
                }),
                DimSource::Tag(k) => record.tag(k).map(Cow::Borrowed),
                DimSource::Field(p) => record.get_text(p),
                DimSource::Extracted(n) => extracted(n, &m, record)
                    .as_ref()
                    .and_then(scalar_to_string)
                    .map(Cow::Owned),
            };
            let Some(mut v) = v else {
                counters.incr(ck::metrics::DIMENSION_MISSING);
                return verdict;
            };
            if let Some((r, memo)) = redactor.as_mut() {
                if let (Cow::Owned(clean), n) = memo.redact_counted(r, &v) {
                    v = Cow::Owned(clean);
                    counters.add(ck::select::REDACTED, n as u64);
                }
            }
            if check_dimension_value(&v).is_err() {
                counters.incr(ck::metrics::DIMENSION_INVALID);
                return verdict;
            }
            dims.push((name, v));
        }
        // Only samples that will be sent consume cardinality slots.
        for (i, ((_, source), (_, v))) in self.dims.iter().zip(dims.iter_mut()).enumerate() {
            if matches!(source, DimSource::Literal(_)) {
                continue;
            }
            if let Some(s) = seen.get_mut(i) {
                if !s.admit_ref(v, self.max_cardinality, counters) {
                    *v = Cow::Borrowed(OVERFLOW_VALUE);
                }
            }
        }
        agg.add_sample(&self.metric, &dims, record.timestamp, value, counters);
        verdict
    }

    pub(crate) fn pattern_source(&self) -> Option<&str> {
        self.pattern.as_ref().map(FilterPattern::source)
    }

    pub(crate) fn dimension_count(&self) -> usize {
        self.dims.len()
    }
}
