//! Folds the samples of one batch into PutMetricData datums: equal values merge into
//! `Values`/`Counts`, and anything CloudWatch would reject is counted and dropped here, so the
//! encoders only ever see valid datums.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use foldhash::fast::RandomState as FastHash;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::counter_keys as ck;
use crate::stats::Counters;

/// Distinct values per datum (`Values`/`Counts` entries) in one PutMetricData request.
pub const MAX_VALUES_PER_DATUM: usize = 150;
/// Dimensions per metric.
pub const MAX_DIMENSIONS: usize = 30;
/// Dimension name length (ASCII characters).
pub const MAX_DIMENSION_NAME_LEN: usize = 255;
/// Dimension value length (ASCII characters).
pub const MAX_DIMENSION_VALUE_LEN: usize = 1024;
/// Namespace length.
pub const MAX_NAMESPACE_LEN: usize = 255;
/// Metric name length.
pub const MAX_METRIC_NAME_LEN: usize = 255;
/// Largest magnitude CloudWatch accepts for a value or count: 2^359. The MetricDatum reference
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html) now
/// says "-2^360 to 2^360"; its earlier text gave "8.515920e-109 to 1.174271e+108 (Base 10)",
/// which is 2^-359 to 2^359. Both bounds of the narrower reading are kept.
pub const MAX_ABS_VALUE: f64 = 1.174_271_291_386_916_6e108;
/// Smallest non-zero magnitude CloudWatch accepts: 2^-359 (8.515920e-109, same sources).
/// Smaller values (subnormals such as `5e-324`, REPORT arithmetic such as `1e-320`) are sent as 0.
pub const MIN_ABS_VALUE: f64 = 8.515_919_680_016_301e-109;
/// How far in the past a datum's timestamp may be: 14 days, in ms.
pub const MAX_TIMESTAMP_PAST_MS: i64 = 14 * 24 * 60 * 60 * 1000;
/// How far in the future a datum's timestamp may be: 2 hours, in ms.
pub const MAX_TIMESTAMP_FUTURE_MS: i64 = 2 * 60 * 60 * 1000;

/// The CloudWatch `StandardUnit` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    Bits,
    Kilobits,
    Megabits,
    Gigabits,
    Terabits,
    Percent,
    Count,
    BytesPerSecond,
    KilobytesPerSecond,
    MegabytesPerSecond,
    GigabytesPerSecond,
    TerabytesPerSecond,
    BitsPerSecond,
    KilobitsPerSecond,
    MegabitsPerSecond,
    GigabitsPerSecond,
    TerabitsPerSecond,
    CountPerSecond,
    None,
}

impl Unit {
    /// Every unit, in the order of the CloudWatch API reference.
    pub const ALL: [Unit; 27] = [
        Unit::Seconds,
        Unit::Microseconds,
        Unit::Milliseconds,
        Unit::Bytes,
        Unit::Kilobytes,
        Unit::Megabytes,
        Unit::Gigabytes,
        Unit::Terabytes,
        Unit::Bits,
        Unit::Kilobits,
        Unit::Megabits,
        Unit::Gigabits,
        Unit::Terabits,
        Unit::Percent,
        Unit::Count,
        Unit::BytesPerSecond,
        Unit::KilobytesPerSecond,
        Unit::MegabytesPerSecond,
        Unit::GigabytesPerSecond,
        Unit::TerabytesPerSecond,
        Unit::BitsPerSecond,
        Unit::KilobitsPerSecond,
        Unit::MegabitsPerSecond,
        Unit::GigabitsPerSecond,
        Unit::TerabitsPerSecond,
        Unit::CountPerSecond,
        Unit::None,
    ];

    /// The name CloudWatch uses (`Bytes/Second`, `Count`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "Seconds",
            Unit::Microseconds => "Microseconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
            Unit::Kilobytes => "Kilobytes",
            Unit::Megabytes => "Megabytes",
            Unit::Gigabytes => "Gigabytes",
            Unit::Terabytes => "Terabytes",
            Unit::Bits => "Bits",
            Unit::Kilobits => "Kilobits",
            Unit::Megabits => "Megabits",
            Unit::Gigabits => "Gigabits",
            Unit::Terabits => "Terabits",
            Unit::Percent => "Percent",
            Unit::Count => "Count",
            Unit::BytesPerSecond => "Bytes/Second",
            Unit::KilobytesPerSecond => "Kilobytes/Second",
            Unit::MegabytesPerSecond => "Megabytes/Second",
            Unit::GigabytesPerSecond => "Gigabytes/Second",
            Unit::TerabytesPerSecond => "Terabytes/Second",
            Unit::BitsPerSecond => "Bits/Second",
            Unit::KilobitsPerSecond => "Kilobits/Second",
            Unit::MegabitsPerSecond => "Megabits/Second",
            Unit::GigabitsPerSecond => "Gigabits/Second",
            Unit::TerabitsPerSecond => "Terabits/Second",
            Unit::CountPerSecond => "Count/Second",
            Unit::None => "None",
        }
    }

    /// Parses the exact (case-sensitive) CloudWatch spelling, as the API does.
    pub fn parse(s: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

/// Serialized as CloudWatch spells it, so the JSON a datum serializes to (`logsieve process`
/// output) carries the same text as PutMetricData and EMF.
impl Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `StorageResolution`: standard (60 s) or high resolution (1 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    High,
    Standard,
}

impl Resolution {
    pub fn from_seconds(s: u32) -> Option<Resolution> {
        match s {
            1 => Some(Resolution::High),
            60 => Some(Resolution::Standard),
            _ => None,
        }
    }

    pub fn seconds(self) -> u32 {
        match self {
            Resolution::High => 1,
            Resolution::Standard => 60,
        }
    }

    /// The aggregation bucket: samples in the same bucket share one datum timestamp.
    fn bucket_ms(self) -> i64 {
        i64::from(self.seconds()) * 1000
    }
}

/// Serialized as the API's `StorageResolution` number (1 or 60), as before it was an enum.
impl Serialize for Resolution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.seconds())
    }
}

/// Why a namespace, metric name or dimension is not acceptable to CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("is {len} characters, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("must be ASCII without control characters")]
    NotPrintableAscii,
    #[error("must contain a non-whitespace character")]
    Blank,
    #[error("must not start with ':'")]
    LeadingColon,
    #[error("must not start with 'AWS/' (reserved for AWS services)")]
    Reserved,
}

fn check_ascii(s: &str, max: usize) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    // ASCII means one byte per character, so byte length is the character count.
    if s.len() > max {
        return Err(NameError::TooLong { len: s.len(), max });
    }
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(NameError::NotPrintableAscii);
    }
    if s.bytes().all(|b| b == b' ') {
        return Err(NameError::Blank);
    }
    Ok(())
}

/// A dimension name: 1–255 printable ASCII, not blank, not starting with `:`.
pub fn check_dimension_name(s: &str) -> Result<(), NameError> {
    check_ascii(s, MAX_DIMENSION_NAME_LEN)?;
    if s.starts_with(':') {
        return Err(NameError::LeadingColon);
    }
    Ok(())
}

/// A dimension value: 1–1024 printable ASCII, not blank.
pub fn check_dimension_value(s: &str) -> Result<(), NameError> {
    check_ascii(s, MAX_DIMENSION_VALUE_LEN)
}

/// A namespace: 1–255 printable ASCII, not starting with `:` or `AWS/`.
pub fn check_namespace(s: &str) -> Result<(), NameError> {
    check_ascii(s, MAX_NAMESPACE_LEN)?;
    if s.starts_with(':') {
        return Err(NameError::LeadingColon);
    }
    if s.starts_with("AWS/") {
        return Err(NameError::Reserved);
    }
    Ok(())
}

/// A metric name: 1–255 characters without control characters. The API allows any Unicode here;
/// we also require ASCII so the same name is valid in EMF and in every SDK's query encoding.
pub fn check_metric_name(s: &str) -> Result<(), NameError> {
    check_ascii(s, MAX_METRIC_NAME_LEN)
}

/// A validated metric identity (everything about a datum except dimensions, time and values).
/// Built once per rule at config time and shared by every sample of that rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricId {
    namespace: String,
    name: String,
    unit: Unit,
    resolution: Resolution,
    /// XXH3 of the fields above, so hashing a sample's key does not rehash two strings.
    digest: u64,
}

impl Hash for MetricId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
    }
}

/// Which part of a [`MetricId`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricIdError {
    #[error("namespace {0}")]
    Namespace(NameError),
    #[error("metric name {0}")]
    Name(NameError),
}

impl MetricId {
    pub fn new(
        namespace: &str,
        name: &str,
        unit: Unit,
        resolution: Resolution,
    ) -> Result<Arc<MetricId>, MetricIdError> {
        check_namespace(namespace).map_err(MetricIdError::Namespace)?;
        check_metric_name(name).map_err(MetricIdError::Name)?;
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(namespace.as_bytes());
        h.update(&[0]);
        h.update(name.as_bytes());
        h.update(&[0, unit as u8, resolution as u8]);
        Ok(Arc::new(MetricId {
            namespace: namespace.to_string(),
            name: name.to_string(),
            unit,
            resolution,
            digest: h.digest(),
        }))
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn unit(&self) -> Unit {
        self.unit
    }

    pub fn resolution(&self) -> Resolution {
        self.resolution
    }
}

/// A dimension of one sample. Names are shared (`Arc`) because they come from config.
pub type Dimension = (Arc<str>, String);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DatumKey {
    metric: Arc<MetricId>,
    /// Sorted by name, names unique.
    dims: Vec<Dimension>,
    /// Start of the minute (or second) bucket, epoch ms.
    bucket: i64,
}

/// The value CloudWatch would store for `v`: `None` for NaN, infinities and magnitudes above
/// [`MAX_ABS_VALUE`] (no stand-in would be honest), 0 for magnitudes below [`MIN_ABS_VALUE`]
/// (indistinguishable from 0 at any unit) and for -0.
pub fn cloudwatch_value(v: f64) -> Option<f64> {
    if !v.is_finite() || v.abs() > MAX_ABS_VALUE {
        None
    } else if v.abs() < MIN_ABS_VALUE {
        Some(0.0)
    } else {
        Some(v)
    }
}

/// Whether PutMetricData accepts `v` as sent: 0, or a magnitude within the documented range.
pub fn is_cloudwatch_value(v: f64) -> bool {
    v == 0.0 || (MIN_ABS_VALUE..=MAX_ABS_VALUE).contains(&v.abs())
}

/// The checks on a sample's value, count and number of dimensions: the value to record, or
/// `None` (the reason counted) when one fails. Tiny values become 0, counted under
/// `metrics.value_clamped_to_zero`.
fn admit_sample(value: f64, count: f64, dims: usize, counters: &mut Counters) -> Option<f64> {
    let admitted = cloudwatch_value(value);
    let reason = if admitted.is_none() {
        ck::metrics::VALUE_OUT_OF_RANGE
    } else if !count.is_finite() || count <= 0.0 || count > MAX_ABS_VALUE {
        ck::metrics::COUNT_OUT_OF_RANGE
    } else if dims > MAX_DIMENSIONS {
        ck::metrics::TOO_MANY_DIMENSIONS
    } else {
        if admitted == Some(0.0) && value != 0.0 {
            counters.incr(ck::metrics::VALUE_CLAMPED_TO_ZERO);
        }
        return admitted;
    };
    counters.incr(reason);
    None
}

/// A datum key's parts, owned (`DatumKey`) or borrowed from a sample (`SampleKey`), hashed and
/// compared alike so a sample finds its group without building an owned key: the usual case,
/// since most samples land in a group that already exists.
trait KeyView {
    fn metric(&self) -> &MetricId;
    fn dim_count(&self) -> usize;
    fn dim(&self, i: usize) -> (&str, &str);
    fn bucket(&self) -> i64;
}

impl KeyView for DatumKey {
    fn metric(&self) -> &MetricId {
        &self.metric
    }
    fn dim_count(&self) -> usize {
        self.dims.len()
    }
    fn dim(&self, i: usize) -> (&str, &str) {
        self.dims.get(i).map_or(("", ""), |(n, v)| (n, v.as_str()))
    }
    fn bucket(&self) -> i64 {
        self.bucket
    }
}

/// A sample's key, borrowing the rule's names and the record's values (sorted by name).
struct SampleKey<'a> {
    metric: &'a MetricId,
    dims: &'a [(&'a Arc<str>, Cow<'a, str>)],
    bucket: i64,
}

impl KeyView for SampleKey<'_> {
    fn metric(&self) -> &MetricId {
        self.metric
    }
    fn dim_count(&self) -> usize {
        self.dims.len()
    }
    fn dim(&self, i: usize) -> (&str, &str) {
        self.dims.get(i).map_or(("", ""), |(n, v)| (n, v))
    }
    fn bucket(&self) -> i64 {
        self.bucket
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.metric().hash(state);
        let n = self.dim_count();
        state.write_usize(n);
        for i in 0..n {
            let (name, value) = self.dim(i);
            name.hash(state);
            value.hash(state);
        }
        state.write_i64(self.bucket());
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.bucket() == other.bucket()
            && self.dim_count() == other.dim_count()
            && self.metric() == other.metric()
            && (0..self.dim_count()).all(|i| self.dim(i) == other.dim(i))
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for DatumKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyView).hash(state);
    }
}

impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for DatumKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// Collects samples of one batch and folds them into datums.
///
/// Timestamps are checked against a reference time: the newest record timestamp the aggregator
/// was told about ([`Aggregator::observe`]), or a wall clock given to [`Aggregator::with_clock`].
/// The pure pipeline has no clock, and CloudWatch Logs only accepts events within a similar
/// window of ingestion, so the newest event is a good stand-in for "now".
#[derive(Debug, Default)]
pub struct Aggregator {
    // foldhash: several times cheaper than SipHash on this per-sample path, still seeded per
    // process; the cardinality caps bound how many keys hostile input can create.
    groups: HashMap<DatumKey, HashMap<u64, f64, FastHash>, FastHash>,
    newest: Option<i64>,
    clock: Option<i64>,
    /// Samples whose timestamp is checked at `finish`, when the newest timestamp is known.
    accepted: u64,
}

impl Aggregator {
    pub fn new() -> Aggregator {
        Aggregator::default()
    }

    /// An aggregator that checks the timestamp window against `now_ms` instead of the newest
    /// event.
    pub fn with_clock(now_ms: i64) -> Aggregator {
        Aggregator {
            clock: Some(now_ms),
            ..Aggregator::default()
        }
    }

    /// Records that an event with this timestamp is part of the batch (moves the window).
    pub fn observe(&mut self, timestamp_ms: i64) {
        self.newest = Some(self.newest.map_or(timestamp_ms, |n| n.max(timestamp_ms)));
    }

    /// Samples accepted so far (after value and dimension checks, before the timestamp check).
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Adds `count` observations of `value`. Invalid values or dimensions are counted under
    /// `metrics.*` and skipped; the sample's timestamp also moves the window.
    pub fn add(
        &mut self,
        metric: &Arc<MetricId>,
        mut dims: Vec<Dimension>,
        timestamp_ms: i64,
        value: f64,
        count: f64,
        counters: &mut Counters,
    ) {
        self.observe(timestamp_ms);
        let Some(value) = admit_sample(value, count, dims.len(), counters) else {
            return;
        };
        for (name, value) in &dims {
            if check_dimension_name(name).is_err() || check_dimension_value(value).is_err() {
                counters.incr(ck::metrics::DIMENSION_INVALID);
                return;
            }
        }
        dims.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if dims.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
            counters.incr(ck::metrics::DIMENSION_DUPLICATE);
            return;
        }
        let bucket_ms = metric.resolution.bucket_ms();
        let key = DatumKey {
            metric: Arc::clone(metric),
            dims,
            bucket: timestamp_ms.div_euclid(bucket_ms).saturating_mul(bucket_ms),
        };
        *self
            .groups
            .entry(key)
            .or_default()
            .entry(value.to_bits())
            .or_insert(0.0) += count;
        self.accepted += 1;
    }

    /// [`Aggregator::add`] for a rule's sample: its dimension names are valid, unique and
    /// sorted already (checked when the rule was compiled), and its values are borrowed. The
    /// group is found by reference; values are copied only when the sample starts a new group.
    /// Same checks, counters and result as `add` for such dimensions.
    pub(crate) fn add_sample(
        &mut self,
        metric: &Arc<MetricId>,
        dims: &[(&Arc<str>, Cow<'_, str>)],
        timestamp_ms: i64,
        value: f64,
        counters: &mut Counters,
    ) {
        self.observe(timestamp_ms);
        let Some(value) = admit_sample(value, 1.0, dims.len(), counters) else {
            return;
        };
        if dims.iter().any(|(_, v)| check_dimension_value(v).is_err()) {
            counters.incr(ck::metrics::DIMENSION_INVALID);
            return;
        }
        debug_assert!(dims.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)));
        let bucket_ms = metric.resolution.bucket_ms();
        let bucket = timestamp_ms.div_euclid(bucket_ms).saturating_mul(bucket_ms);
        let view = SampleKey {
            metric,
            dims,
            bucket,
        };
        let group = match self.groups.get_mut(&view as &dyn KeyView) {
            Some(group) => group,
            None => {
                let key = DatumKey {
                    metric: Arc::clone(metric),
                    dims: dims
                        .iter()
                        .map(|(n, v)| (Arc::clone(n), v.to_string()))
                        .collect(),
                    bucket,
                };
                self.groups.entry(key).or_default()
            }
        };
        *group.entry(value.to_bits()).or_insert(0.0) += 1.0;
        self.accepted += 1;
    }

    /// The datums of the batch, within every PutMetricData limit, in a deterministic order
    /// (metric, dimensions, timestamp, then ascending values). Drops are counted.
    pub fn finish(self, counters: &mut Counters) -> Vec<MetricDatum> {
        let reference = self.clock.or(self.newest).unwrap_or(0);
        let oldest = reference.saturating_sub(MAX_TIMESTAMP_PAST_MS);
        let latest = reference.saturating_add(MAX_TIMESTAMP_FUTURE_MS);
        let mut groups: Vec<(DatumKey, Vec<(f64, f64)>)> = Vec::with_capacity(self.groups.len());
        for (key, values) in self.groups {
            // Buckets are floored, so a bucket is in the window when any part of it is; the
            // datum timestamp itself must be, so check the bucket start.
            if key.bucket < oldest || key.bucket > latest {
                let dropped: f64 = values.values().sum();
                counters.add(ck::metrics::TIMESTAMP_OUT_OF_WINDOW, dropped as u64);
                continue;
            }
            let mut values: Vec<(f64, f64)> = values
                .into_iter()
                .map(|(bits, c)| (f64::from_bits(bits), c))
                .collect();
            values.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            groups.push((key, values));
        }
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::new();
        for (key, values) in groups {
            let dims: Map<String, Value> = key
                .dims
                .iter()
                .map(|(n, v)| (n.to_string(), Value::String(v.clone())))
                .collect();
            for chunk in values.chunks(MAX_VALUES_PER_DATUM) {
                out.push(MetricDatum {
                    namespace: key.metric.namespace.clone(),
                    metric_name: key.metric.name.clone(),
                    dimensions: dims.clone(),
                    unit: key.metric.unit,
                    timestamp: key.bucket,
                    storage_resolution: key.metric.resolution,
                    values: chunk.iter().map(|p| p.0).collect(),
                    counts: chunk.iter().map(|p| p.1).collect(),
                });
            }
        }
        counters.add(ck::metrics::DATUMS, out.len() as u64);
        out
    }
}

/// One PutMetricData datum (serialized, the `metrics` entries of `logsieve process` in the README).
/// Unit and resolution are the enums, so a datum cannot carry a unit or resolution CloudWatch
/// would refuse: config text is parsed once, when the rule compiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDatum {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Map<String, Value>,
    pub unit: Unit,
    pub timestamp: i64,
    pub storage_resolution: Resolution,
    pub values: Vec<f64>,
    pub counts: Vec<f64>,
}

/// Why a datum would be rejected by PutMetricData.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatumError {
    #[error("namespace {0}")]
    Namespace(NameError),
    #[error("metric name {0}")]
    MetricName(NameError),
    #[error("{0} dimensions, the limit is {MAX_DIMENSIONS}")]
    TooManyDimensions(usize),
    #[error("dimension {name:?}: {error}")]
    DimensionName { name: String, error: NameError },
    #[error("dimension {name:?} value {error}")]
    DimensionValue { name: String, error: NameError },
    #[error("dimension {0:?} value is not a string")]
    DimensionNotString(String),
    #[error("{values} values and {counts} counts")]
    CountsMismatch { values: usize, counts: usize },
    #[error("{0} values, the limit is {MAX_VALUES_PER_DATUM}")]
    TooManyValues(usize),
    #[error("no values")]
    NoValues,
    #[error("value or count {0} is not 0 or a magnitude within 2^-359..=2^359")]
    OutOfRange(f64),
}

impl MetricDatum {
    /// Checks every PutMetricData rule that applies to a single datum (not the timestamp window,
    /// which depends on the clock).
    pub fn check(&self) -> Result<(), DatumError> {
        check_namespace(&self.namespace).map_err(DatumError::Namespace)?;
        check_metric_name(&self.metric_name).map_err(DatumError::MetricName)?;
        if self.dimensions.len() > MAX_DIMENSIONS {
            return Err(DatumError::TooManyDimensions(self.dimensions.len()));
        }
        for (name, value) in &self.dimensions {
            check_dimension_name(name).map_err(|error| DatumError::DimensionName {
                name: name.clone(),
                error,
            })?;
            let Value::String(v) = value else {
                return Err(DatumError::DimensionNotString(name.clone()));
            };
            check_dimension_value(v).map_err(|error| DatumError::DimensionValue {
                name: name.clone(),
                error,
            })?;
        }
        if self.values.len() != self.counts.len() {
            return Err(DatumError::CountsMismatch {
                values: self.values.len(),
                counts: self.counts.len(),
            });
        }
        if self.values.is_empty() {
            return Err(DatumError::NoValues);
        }
        if self.values.len() > MAX_VALUES_PER_DATUM {
            return Err(DatumError::TooManyValues(self.values.len()));
        }
        for &v in self.values.iter().chain(&self.counts) {
            if !is_cloudwatch_value(v) {
                return Err(DatumError::OutOfRange(v));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, res: Resolution) -> Arc<MetricId> {
        MetricId::new("Test", name, Unit::Count, res).unwrap()
    }

    fn dim(n: &str, v: &str) -> Dimension {
        (Arc::from(n), v.to_string())
    }

    const T0: i64 = 1_699_999_980_000; // a multiple of 60 000

    proptest::proptest! {
        /// A rule's borrowed sample lands exactly where `add` puts the owned one.
        #[test]
        fn add_sample_agrees_with_add(
            samples in proptest::collection::vec(
                (0usize..3, 0usize..4, 0usize..4, -120_000i64..240_000, proptest::sample::select(vec![0.0, -0.0, 1.0, 2.5, f64::NAN, 1e300])),
                0..60,
            ),
        ) {
            let metrics = [id("A", Resolution::Standard), id("B", Resolution::High), id("A", Resolution::Standard)];
            let values = ["x", "y", "", "bad\u{1}"];
            let (service, zone): (Arc<str>, Arc<str>) = (Arc::from("Service"), Arc::from("Zone"));
            let (mut owned, mut borrowed) = (Aggregator::new(), Aggregator::new());
            let (mut c1, mut c2) = (Counters::new(), Counters::new());
            for (m, a, b, dt, v) in samples {
                let metric = &metrics[m];
                let dims = [(&service, Cow::Borrowed(values[a])), (&zone, Cow::Borrowed(values[b]))];
                owned.add(metric, dims.iter().map(|(n, v)| (Arc::clone(n), v.to_string())).collect(), T0 + dt, v, 1.0, &mut c1);
                borrowed.add_sample(metric, &dims, T0 + dt, v, &mut c2);
            }
            proptest::prop_assert_eq!(owned.finish(&mut c1), borrowed.finish(&mut c2));
            proptest::prop_assert_eq!(c1, c2);
        }
    }

    #[test]
    fn range_bounds_are_the_documented_figures() {
        // The PutMetricData text: "8.515920e-109 to 1.174271e+108 (Base 10)".
        assert_eq!(format!("{MIN_ABS_VALUE:.6e}"), "8.515920e-109");
        assert_eq!(format!("{MAX_ABS_VALUE:.6e}"), "1.174271e108");
        assert_eq!(MIN_ABS_VALUE, 2f64.powi(-359));
        assert_eq!(MAX_ABS_VALUE, 2f64.powi(359));
    }

    /// What reaches the datum for each value, and which counter moves.
    #[test]
    fn values_outside_the_documented_range_are_clamped_or_dropped() {
        enum Want {
            Sent(f64),
            Clamped,
            Dropped,
        }
        use Want::*;
        let cases = [
            (1.5, Sent(1.5)),
            (0.0, Sent(0.0)),
            (-0.0, Sent(0.0)),
            (5e-324, Clamped),
            (-5e-324, Clamped),
            (1e-320, Clamped),
            (8.5e-109, Clamped),
            (MIN_ABS_VALUE, Sent(MIN_ABS_VALUE)),
            (-MIN_ABS_VALUE, Sent(-MIN_ABS_VALUE)),
            (MAX_ABS_VALUE, Sent(MAX_ABS_VALUE)),
            (-MAX_ABS_VALUE, Sent(-MAX_ABS_VALUE)),
            (1.2e108, Dropped),
            (2f64.powi(360), Dropped),
            (f64::MAX, Dropped),
            (f64::NAN, Dropped),
            (f64::NEG_INFINITY, Dropped),
        ];
        let m = id("M", Resolution::Standard);
        for (v, want) in cases {
            for borrowed in [false, true] {
                let mut agg = Aggregator::new();
                let mut c = Counters::new();
                if borrowed {
                    agg.add_sample(&m, &[], T0, v, &mut c);
                } else {
                    agg.add(&m, vec![], T0, v, 1.0, &mut c);
                }
                let out = agg.finish(&mut c);
                let sent: Vec<f64> = out.iter().flat_map(|d| d.values.clone()).collect();
                for d in &out {
                    d.check().unwrap();
                }
                match want {
                    Sent(x) => {
                        assert_eq!(sent, vec![x], "{v:e}");
                        assert_eq!(sent[0].to_bits(), x.to_bits(), "{v:e}: sign of zero");
                        assert_eq!(c.get("metrics.value_clamped_to_zero"), 0, "{v:e}");
                    }
                    Clamped => {
                        assert_eq!(sent, vec![0.0], "{v:e}");
                        assert_eq!(c.get("metrics.value_clamped_to_zero"), 1, "{v:e}");
                    }
                    Dropped => {
                        assert!(sent.is_empty(), "{v:e}");
                        assert_eq!(c.get("metrics.value_out_of_range"), 1, "{v:e}");
                    }
                }
            }
        }
    }

    #[test]
    fn datum_check_refuses_values_cloudwatch_rejects() {
        let good = MetricDatum {
            namespace: "N".into(),
            metric_name: "M".into(),
            dimensions: Map::new(),
            unit: Unit::Count,
            timestamp: T0,
            storage_resolution: Resolution::Standard,
            values: vec![0.0, MIN_ABS_VALUE],
            counts: vec![1.0, 1.0],
        };
        good.check().unwrap();
        for bad in [5e-324, 1e-320, 2f64.powi(360)] {
            let d = MetricDatum {
                values: vec![bad],
                counts: vec![1.0],
                ..good.clone()
            };
            assert!(
                matches!(d.check(), Err(DatumError::OutOfRange(_))),
                "{bad:e}"
            );
        }
    }

    #[test]
    fn equal_values_fold_into_counts_and_minute_buckets() {
        let m = id("M", Resolution::Standard);
        let mut agg = Aggregator::new();
        let mut c = Counters::new();
        for (ts, v) in [
            (T0, 1.0),
            (T0 + 59_999, 1.0),
            (T0 + 10, 2.0),
            (T0 + 60_000, 1.0),
        ] {
            agg.add(&m, vec![], ts, v, 1.0, &mut c);
        }
        agg.add(&m, vec![], T0, -0.0, 1.0, &mut c);
        agg.add(&m, vec![], T0, 0.0, 2.0, &mut c);
        let out = agg.finish(&mut c);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].timestamp, T0);
        assert_eq!(out[0].values, vec![0.0, 1.0, 2.0]);
        assert_eq!(out[0].counts, vec![3.0, 2.0, 1.0]);
        assert_eq!(out[1].timestamp, T0 + 60_000);
        assert_eq!(out[1].counts, vec![1.0]);
    }

    #[test]
    fn high_resolution_buckets_by_second() {
        let m = id("M", Resolution::High);
        let mut agg = Aggregator::new();
        let mut c = Counters::new();
        agg.add(&m, vec![], T0 + 1_500, 1.0, 1.0, &mut c);
        agg.add(&m, vec![], T0 + 1_999, 1.0, 1.0, &mut c);
        agg.add(&m, vec![], T0 + 2_000, 1.0, 1.0, &mut c);
        let out = agg.finish(&mut c);
        let ts: Vec<_> = out
            .iter()
            .map(|d| (d.timestamp, d.counts.clone()))
            .collect();
        assert_eq!(ts, vec![(T0 + 1_000, vec![2.0]), (T0 + 2_000, vec![1.0])]);
        assert!(out.iter().all(|d| d.storage_resolution == Resolution::High));
    }

    #[test]
    fn values_split_at_150() {
        for (n, want) in [
            (150usize, vec![150usize]),
            (151, vec![150, 1]),
            (300, vec![150, 150]),
        ] {
            let m = id("M", Resolution::Standard);
            let mut agg = Aggregator::new();
            let mut c = Counters::new();
            for i in 0..n {
                agg.add(&m, vec![], T0, i as f64, 1.0, &mut c);
            }
            let out = agg.finish(&mut c);
            let lens: Vec<_> = out.iter().map(|d| d.values.len()).collect();
            assert_eq!(lens, want, "{n} values");
            // Values stay ascending across the split, so output is deterministic.
            let all: Vec<f64> = out.iter().flat_map(|d| d.values.clone()).collect();
            assert!(all.windows(2).all(|w| w[0] < w[1]));
            assert!(out.iter().all(|d| d.check().is_ok()));
        }
    }

    #[test]
    fn bad_values_are_counted_and_skipped() {
        let m = id("M", Resolution::Standard);
        let mut agg = Aggregator::new();
        let mut c = Counters::new();
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            MAX_ABS_VALUE * 2.0,
        ] {
            agg.add(&m, vec![], T0, v, 1.0, &mut c);
        }
        agg.add(&m, vec![], T0, MAX_ABS_VALUE, 1.0, &mut c);
        agg.add(&m, vec![], T0, -MAX_ABS_VALUE, 1.0, &mut c);
        agg.add(&m, vec![], T0, 1.0, f64::NAN, &mut c);
        agg.add(&m, vec![], T0, 1.0, 0.0, &mut c);
        assert_eq!(c.get("metrics.value_out_of_range"), 4);
        assert_eq!(c.get("metrics.count_out_of_range"), 2);
        let out = agg.finish(&mut c);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].values, vec![-MAX_ABS_VALUE, MAX_ABS_VALUE]);
    }

    #[test]
    fn dimension_limits() {
        let m = id("M", Resolution::Standard);
        let dims = |n: usize| -> Vec<Dimension> {
            (0..n).map(|i| dim(&format!("D{i:02}"), "v")).collect()
        };
        let long_name = "n".repeat(MAX_DIMENSION_NAME_LEN);
        let long_value = "v".repeat(MAX_DIMENSION_VALUE_LEN);
        let table: Vec<(Vec<Dimension>, Option<&str>)> = vec![
            (dims(30), None),
            (dims(31), Some("metrics.too_many_dimensions")),
            (vec![dim(&long_name, "v")], None),
            (
                vec![dim(&format!("{long_name}n"), "v")],
                Some("metrics.dimension_invalid"),
            ),
            (vec![dim("N", &long_value)], None),
            (
                vec![dim("N", &format!("{long_value}v"))],
                Some("metrics.dimension_invalid"),
            ),
            (vec![dim(":N", "v")], Some("metrics.dimension_invalid")),
            (vec![dim("N:", "v")], None),
            (vec![dim("N", "")], Some("metrics.dimension_invalid")),
            (vec![dim("N", "   ")], Some("metrics.dimension_invalid")),
            (vec![dim("N", " x ")], None),
            (vec![dim("N", "café")], Some("metrics.dimension_invalid")),
            (vec![dim("N", "a\tb")], Some("metrics.dimension_invalid")),
            (vec![dim("", "v")], Some("metrics.dimension_invalid")),
            (
                vec![dim("A", "1"), dim("A", "2")],
                Some("metrics.dimension_duplicate"),
            ),
        ];
        for (i, (dims, want)) in table.into_iter().enumerate() {
            let mut agg = Aggregator::new();
            let mut c = Counters::new();
            agg.add(&m, dims, T0, 1.0, 1.0, &mut c);
            let out = agg.finish(&mut c);
            match want {
                None => {
                    assert_eq!(out.len(), 1, "case {i}");
                    assert!(out[0].check().is_ok(), "case {i}");
                }
                Some(counter) => {
                    assert!(out.is_empty(), "case {i}");
                    assert_eq!(c.get(counter), 1, "case {i}");
                }
            }
        }
    }

    #[test]
    fn timestamp_window_is_relative_to_newest_event() {
        let m = id("M", Resolution::High);
        let newest = T0;
        let cases = [
            (newest - MAX_TIMESTAMP_PAST_MS, true),
            (newest - MAX_TIMESTAMP_PAST_MS - 1_000, false),
            (newest, true),
        ];
        for (ts, kept) in cases {
            let mut agg = Aggregator::new();
            let mut c = Counters::new();
            agg.observe(newest);
            agg.add(&m, vec![], ts, 1.0, 1.0, &mut c);
            let out = agg.finish(&mut c);
            assert_eq!(out.len() == 1, kept, "ts {ts}");
            assert_eq!(c.get("metrics.timestamp_out_of_window"), u64::from(!kept));
        }
        // With a clock, future samples beyond two hours are dropped too.
        for (ts, kept) in [
            (T0 + MAX_TIMESTAMP_FUTURE_MS, true),
            (T0 + MAX_TIMESTAMP_FUTURE_MS + 1_000, false),
        ] {
            let mut agg = Aggregator::with_clock(T0);
            let mut c = Counters::new();
            agg.add(&m, vec![], ts, 1.0, 1.0, &mut c);
            assert_eq!(agg.finish(&mut c).len() == 1, kept, "future ts {ts}");
        }
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        let m = id("M", Resolution::Standard);
        let mut agg = Aggregator::new();
        let mut c = Counters::new();
        agg.add(&m, vec![], i64::MIN, 1.0, 1.0, &mut c);
        agg.add(&m, vec![], i64::MAX, 1.0, 1.0, &mut c);
        let out = agg.finish(&mut c);
        assert_eq!(out.len(), 1);
        assert_eq!(c.get("metrics.timestamp_out_of_window"), 1);
    }

    #[test]
    fn output_order_is_deterministic() {
        let a = id("A", Resolution::Standard);
        let b = id("B", Resolution::Standard);
        let samples = [
            (&b, "x", 3.0),
            (&a, "y", 1.0),
            (&a, "x", 2.0),
            (&b, "x", 1.0),
        ];
        let run = |order: &[usize]| {
            let mut agg = Aggregator::new();
            let mut c = Counters::new();
            for &i in order {
                let (m, d, v) = samples[i];
                agg.add(m, vec![dim("D", d)], T0, v, 1.0, &mut c);
            }
            serde_json::to_string(&agg.finish(&mut c)).unwrap()
        };
        let first = run(&[0, 1, 2, 3]);
        assert_eq!(first, run(&[3, 2, 1, 0]));
        assert_eq!(first, run(&[2, 0, 3, 1]));
        let out: Vec<MetricDatum> = {
            let mut agg = Aggregator::new();
            let mut c = Counters::new();
            for (m, d, v) in samples {
                agg.add(m, vec![dim("D", d)], T0, v, 1.0, &mut c);
            }
            agg.finish(&mut c)
        };
        let keys: Vec<_> = out
            .iter()
            .map(|d| (d.metric_name.as_str(), d.dimensions["D"].as_str().unwrap()))
            .collect();
        assert_eq!(keys, vec![("A", "x"), ("A", "y"), ("B", "x")]);
    }

    #[test]
    fn datum_serializes_to_the_cli_contract_shape() {
        let m = MetricId::new("NS", "Latency", Unit::Milliseconds, Resolution::Standard).unwrap();
        let mut agg = Aggregator::new();
        let mut c = Counters::new();
        agg.add(&m, vec![dim("Service", "api")], T0 + 5, 12.5, 1.0, &mut c);
        let out = agg.finish(&mut c);
        let v = serde_json::to_value(&out[0]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"namespace": "NS", "metric_name": "Latency",
                "dimensions": {"Service": "api"}, "unit": "Milliseconds", "timestamp": T0,
                "storage_resolution": 60, "values": [12.5], "counts": [1.0]})
        );
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_namespace("AWS/Lambda"), Err(NameError::Reserved));
        assert_eq!(check_namespace(":x"), Err(NameError::LeadingColon));
        assert!(check_namespace("My/App").is_ok());
        assert_eq!(
            check_metric_name(&"m".repeat(256)),
            Err(NameError::TooLong { len: 256, max: 255 })
        );
        assert_eq!(Unit::parse("Bytes/Second"), Some(Unit::BytesPerSecond));
        assert_eq!(Unit::parse("count"), None);
        assert!(Unit::ALL
            .iter()
            .all(|u| Unit::parse(u.as_str()) == Some(*u)));
    }
}
