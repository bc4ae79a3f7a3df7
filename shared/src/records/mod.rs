//! Where the selected records go: the `[[records.sinks]]` and `[records.spill]` configuration,
//! checked into [`RecordSinks`], and the pure encodings each sink sends (OTLP protobuf in
//! [`otlp`], newline-delimited JSON for Firehose, S3 and the spill bucket in [`ndjson`]). The
//! network calls live in `logsieve-aws`; nothing here does I/O.

pub mod ndjson;
pub mod otlp;
mod output;

pub use output::{MemberSpan, OutputRecord, SpanKind};

use std::collections::BTreeMap;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config_error::ConfigError;

/// Largest OTLP request body before compression, by default. Collectors commonly refuse bodies
/// over a few MiB (the OpenTelemetry Collector's default `max_request_body_size` is 20 MiB;
/// the OTLP specification suggests answering 413 above a server-chosen size), and a smaller
/// request keeps a retry cheap.
pub const DEFAULT_OTLP_MAX_REQUEST_BYTES: usize = 4 << 20;
/// Smallest `max_request_bytes` accepted (a record larger than the limit still goes, alone).
pub const MIN_OTLP_MAX_REQUEST_BYTES: usize = 1024;
/// Largest `max_request_bytes` accepted (the OTLP specification's suggested cap, 64 MiB, would
/// not fit a 1 MB Lambda event many times over anyway).
pub const MAX_OTLP_MAX_REQUEST_BYTES: usize = 64 << 20;
/// Most sinks in one configuration.
pub const MAX_SINKS: usize = 8;
/// Honeycomb's OTLP endpoints (https://docs.honeycomb.io/send-data/opentelemetry/).
pub const HONEYCOMB_US: &str = "https://api.honeycomb.io";
pub const HONEYCOMB_EU: &str = "https://api.eu1.honeycomb.io";
/// The header carrying a Honeycomb ingest key.
pub const HONEYCOMB_TEAM_HEADER: &str = "x-honeycomb-team";
/// Path appended to a base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` specifies.
pub const OTLP_LOGS_PATH: &str = "/v1/logs";

/// The standard OpenTelemetry exporter variables (read as every OTel SDK reads them).
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const ENV_OTLP_LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
pub const ENV_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub const ENV_OTLP_LOGS_HEADERS: &str = "OTEL_EXPORTER_OTLP_LOGS_HEADERS";
pub const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
pub const ENV_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// A Secrets Manager secret holding OTLP headers (`k=v,k2=v2` or a JSON object).
pub const ENV_OTLP_HEADERS_SECRET_ARN: &str = "LOGSIEVE_OTLP_HEADERS_SECRET_ARN";
/// Adds a Firehose sink for this delivery stream.
pub const ENV_FIREHOSE_STREAM: &str = "LOGSIEVE_RECORDS_FIREHOSE_STREAM";
/// Adds an S3 sink for this bucket (and prefix).
pub const ENV_RECORDS_BUCKET: &str = "LOGSIEVE_RECORDS_BUCKET";
pub const ENV_RECORDS_PREFIX: &str = "LOGSIEVE_RECORDS_PREFIX";
/// That sink's gzip level, 1 to 9 (the `gzip_level` setting).
pub const ENV_RECORDS_GZIP_LEVEL: &str = "LOGSIEVE_RECORDS_GZIP_LEVEL";
/// The spill location (and prefix).
pub const ENV_SPILL_BUCKET: &str = "LOGSIEVE_SPILL_BUCKET";
pub const ENV_SPILL_PREFIX: &str = "LOGSIEVE_SPILL_PREFIX";

/// What kind of place a sink writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Otlp,
    Firehose,
    S3,
    None,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Otlp => "otlp",
            SinkKind::Firehose => "firehose",
            SinkKind::S3 => "s3",
            SinkKind::None => "none",
        }
    }
}

/// Where a header's value comes from. Values other than literals are resolved once per
/// execution environment by the AWS edge and never logged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum HeaderSource {
    Literal(String),
    /// An environment variable of the function.
    Env {
        env: String,
    },
    /// A Secrets Manager secret's `SecretString`; with `key`, that member of its JSON object.
    Secret {
        secret: String,
        #[serde(default)]
        key: Option<String>,
    },
    /// A Systems Manager Parameter Store parameter (SecureString decrypted).
    Parameter {
        parameter: String,
    },
}

/// `[[records.sinks]]`: one place the kept records are sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub kind: SinkKind,
    /// Names the sink in counters, in spill keys and for `logsieve redrive`. Default: the kind.
    #[serde(default)]
    pub name: Option<String>,
    /// Log group globs whose records this sink takes (absent: every log group).
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// otlp: `honeycomb` sets the endpoint (and `region` = `us` | `eu`).
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// otlp: base URL; `/v1/logs` is appended (as for `OTEL_EXPORTER_OTLP_ENDPOINT`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// otlp: the full URL, used as it is (as for `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`).
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    /// otlp: request headers; values literal or `{ env }`, `{ secret, key }`, `{ parameter }`.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderSource>,
    /// otlp: a Secrets Manager secret holding several headers: `k=v,k2=v2` (the
    /// `OTEL_EXPORTER_OTLP_HEADERS` form) or a JSON object. Default: `LOGSIEVE_OTLP_HEADERS_SECRET_ARN`.
    #[serde(default)]
    pub headers_secret: Option<String>,
    /// otlp: the resource's `service.name` (else `OTEL_SERVICE_NAME`, else `service_name_field`,
    /// else the Lambda function's name for `/aws/lambda/*` groups, else the log group).
    #[serde(default)]
    pub service_name: Option<String>,
    /// otlp: a record field whose value names the service.
    #[serde(default)]
    pub service_name_field: Option<String>,
    /// otlp: more resource attributes, name → a literal or `$tags.<key>` (a tag of the log
    /// group's Lambda function or of the log group).
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
    /// otlp: largest request body before compression.
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
    /// otlp: `gzip` (default) or `none`.
    #[serde(default)]
    pub compression: Option<String>,
    /// firehose: the delivery stream's name.
    #[serde(default)]
    pub delivery_stream: Option<String>,
    /// firehose: pack many NDJSON lines into each Firehose record (up to 1,000 KiB) instead of
    /// one line per record. Firehose bills every record rounded up to 5 KB, so packing costs a
    /// fraction for small log lines; the destination must split on newlines (S3 objects are
    /// NDJSON either way). Default false.
    #[serde(default)]
    pub pack: Option<bool>,
    /// s3: bucket and key prefix.
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// s3: gzip level of each object, 1 (fastest) to 9 (smallest). Default 6: an archive is
    /// stored and scanned for longer than it takes to write. Level 1 compresses about three
    /// times faster and writes larger objects (the README has the measured trade).
    #[serde(default)]
    pub gzip_level: Option<u32>,
}

/// `[records.spill]`: where records go that a sink did not take in time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpillConfig {
    pub bucket: String,
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A checked sink.
#[derive(Debug, Clone)]
pub struct RecordSink {
    pub name: String,
    pub log_groups: Option<GlobSet>,
    pub target: SinkTarget,
}

impl RecordSink {
    /// Whether this sink takes `log_group`'s records (its `log_groups` globs; none: all).
    pub fn takes(&self, log_group: &str) -> bool {
        self.log_groups
            .as_ref()
            .is_none_or(|g| g.is_match(log_group))
    }
}

/// What a checked sink writes to.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkTarget {
    Otlp(OtlpTarget),
    Firehose {
        delivery_stream: String,
        /// Many lines per Firehose record.
        pack: bool,
    },
    S3 {
        location: BucketPrefix,
        /// 1-9.
        gzip_level: u32,
    },
}

/// The S3 sink's gzip level when the config names none (zlib's default).
pub const DEFAULT_S3_GZIP_LEVEL: u32 = 6;

impl SinkTarget {
    pub fn kind(&self) -> SinkKind {
        match self {
            SinkTarget::Otlp(_) => SinkKind::Otlp,
            SinkTarget::Firehose { .. } => SinkKind::Firehose,
            SinkTarget::S3 { .. } => SinkKind::S3,
        }
    }
}

/// An S3 location: bucket and key prefix (no leading or trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPrefix {
    pub bucket: String,
    pub prefix: String,
}

/// A checked OTLP sink.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpTarget {
    /// The full URL requests are POSTed to.
    pub url: String,
    /// Header names (lowercase) and where each value comes from.
    pub headers: Vec<(String, HeaderSource)>,
    /// A secret holding more headers (they do not replace `headers`).
    pub headers_secret: Option<String>,
    pub resource: ResourceSettings,
    pub max_request_bytes: usize,
    pub gzip: bool,
}

/// What every resource of a sink carries besides what each batch names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceSettings {
    pub service_name: Option<String>,
    pub service_name_field: Option<String>,
    /// `cloud.region` (the function's `AWS_REGION`).
    pub region: Option<String>,
    /// From `OTEL_RESOURCE_ATTRIBUTES`.
    pub extra: Vec<(String, String)>,
    /// The sink's `resource_attributes`: a literal, or the key of a `$tags.<key>` read from the
    /// batch's log group tags (left out when it has no such tag).
    pub attributes: Vec<(String, AttributeValue)>,
}

/// A configured resource attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    Literal(String),
    Tag(String),
}

/// Every checked sink, and the spill location.
#[derive(Debug, Clone, Default)]
pub struct RecordSinks {
    pub sinks: Vec<RecordSink>,
    pub spill: Option<BucketPrefix>,
}

impl RecordSinks {
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// The sinks that take `log_group`'s records.
    pub fn for_group<'a>(&'a self, log_group: &'a str) -> impl Iterator<Item = &'a RecordSink> {
        self.sinks.iter().filter(move |s| s.takes(log_group))
    }

    pub fn by_name(&self, name: &str) -> Option<&RecordSink> {
        self.sinks.iter().find(|s| s.name == name)
    }
}

/// Adds the sinks the environment asks for (the templates' parameters) to the configured ones.
/// A kind the config already declares is left to the config.
pub fn apply_env(
    sinks: &mut Vec<SinkConfig>,
    spill: &mut Option<SpillConfig>,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let has = |sinks: &Vec<SinkConfig>, kind| sinks.iter().any(|s| s.kind == kind);
    if !has(sinks, SinkKind::Otlp)
        && (set(ENV_OTLP_ENDPOINT).is_some() || set(ENV_OTLP_LOGS_ENDPOINT).is_some())
    {
        sinks.push(SinkConfig::new(SinkKind::Otlp));
    }
    if let (false, Some(stream)) = (has(sinks, SinkKind::Firehose), set(ENV_FIREHOSE_STREAM)) {
        let mut s = SinkConfig::new(SinkKind::Firehose);
        s.delivery_stream = Some(stream);
        sinks.push(s);
    }
    if let (false, Some(bucket)) = (has(sinks, SinkKind::S3), set(ENV_RECORDS_BUCKET)) {
        let mut s = SinkConfig::new(SinkKind::S3);
        s.bucket = Some(bucket);
        s.prefix = set(ENV_RECORDS_PREFIX);
        s.gzip_level = set(ENV_RECORDS_GZIP_LEVEL)
            .map(|v| match v.trim().parse::<u32>() {
                Ok(level) if (1..=9).contains(&level) => Ok(level),
                _ => Err(ConfigError::new(
                    ENV_RECORDS_GZIP_LEVEL,
                    format!("{v:?}: a whole number from 1 (fastest) to 9 (smallest)"),
                )),
            })
            .transpose()?;
        sinks.push(s);
    }
    if let (None, Some(bucket)) = (spill.as_ref(), set(ENV_SPILL_BUCKET)) {
        *spill = Some(SpillConfig {
            bucket,
            prefix: set(ENV_SPILL_PREFIX),
        });
    }
    // Environment headers and service name reach every OTLP sink that does not say otherwise.
    for s in sinks.iter_mut().filter(|s| s.kind == SinkKind::Otlp) {
        if s.endpoint.is_none() && s.logs_endpoint.is_none() && s.preset.is_none() {
            s.logs_endpoint = set(ENV_OTLP_LOGS_ENDPOINT);
            s.endpoint = set(ENV_OTLP_ENDPOINT);
        }
        for var in [ENV_OTLP_HEADERS, ENV_OTLP_LOGS_HEADERS] {
            for (k, v) in set(var).map(|h| parse_key_values(&h)).unwrap_or_default() {
                s.headers
                    .entry(k.to_ascii_lowercase())
                    .or_insert(HeaderSource::Literal(v));
            }
        }
        if s.service_name.is_none() {
            s.service_name = set(ENV_SERVICE_NAME);
        }
        if s.headers_secret.is_none() {
            s.headers_secret = set(ENV_OTLP_HEADERS_SECRET_ARN);
        }
    }
    Ok(())
}

impl SinkConfig {
    pub fn new(kind: SinkKind) -> SinkConfig {
        SinkConfig {
            kind,
            name: None,
            log_groups: Vec::new(),
            preset: None,
            region: None,
            endpoint: None,
            logs_endpoint: None,
            headers: BTreeMap::new(),
            headers_secret: None,
            service_name: None,
            service_name_field: None,
            resource_attributes: BTreeMap::new(),
            max_request_bytes: None,
            compression: None,
            delivery_stream: None,
            pack: None,
            bucket: None,
            prefix: None,
            gzip_level: None,
        }
    }
}

/// `k=v,k2=v2` as `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES` write it: values
/// percent-decoded, blanks trimmed, entries without `=` or with an empty key skipped.
pub fn parse_key_values(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Validates the sinks and spill into their checked form. `region` is the function's region
/// (`cloud.region`), `resource_attributes` the `OTEL_RESOURCE_ATTRIBUTES` text.
pub fn validate(
    sinks: &[SinkConfig],
    spill: Option<&SpillConfig>,
    region: Option<String>,
    resource_attributes: Option<&str>,
) -> Result<RecordSinks, ConfigError> {
    if sinks.len() > MAX_SINKS {
        return Err(ConfigError::new(
            "records.sinks",
            format!("{} sinks, more than {MAX_SINKS}", sinks.len()),
        ));
    }
    let extra = resource_attributes
        .map(parse_key_values)
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, s) in sinks.iter().enumerate() {
        let key = |k: &str| format!("records.sinks[{i}].{k}");
        let name = s.name.clone().unwrap_or_else(|| s.kind.as_str().into());
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                key("name"),
                format!("{name:?}: letters, digits, '-' and '_' only (it is part of S3 keys)"),
            ));
        }
        if out.iter().any(|o: &RecordSink| o.name == name) {
            return Err(ConfigError::new(
                key("name"),
                format!("{name:?} names two sinks; give each a distinct `name`"),
            ));
        }
        let log_groups = globs(&s.log_groups, &key("log_groups"))?;
        let unused = |field: &str, set: bool| -> Result<(), ConfigError> {
            if set {
                return Err(ConfigError::new(
                    key(field),
                    format!("not a setting of a {} sink", s.kind.as_str()),
                ));
            }
            Ok(())
        };
        let target = match s.kind {
            SinkKind::None => continue,
            SinkKind::Otlp => {
                unused("delivery_stream", s.delivery_stream.is_some())?;
                unused("pack", s.pack.is_some())?;
                unused("bucket", s.bucket.is_some())?;
                unused("prefix", s.prefix.is_some())?;
                unused("gzip_level", s.gzip_level.is_some())?;
                SinkTarget::Otlp(otlp_target(s, &key, region.clone(), &extra)?)
            }
            SinkKind::Firehose => {
                otlp_only_unset(s, &key)?;
                unused("bucket", s.bucket.is_some())?;
                unused("prefix", s.prefix.is_some())?;
                unused("gzip_level", s.gzip_level.is_some())?;
                let stream = s.delivery_stream.clone().unwrap_or_default();
                if stream.trim().is_empty() {
                    return Err(ConfigError::new(
                        key("delivery_stream"),
                        "a firehose sink needs `delivery_stream`",
                    ));
                }
                SinkTarget::Firehose {
                    delivery_stream: stream,
                    pack: s.pack.unwrap_or(false),
                }
            }
            SinkKind::S3 => {
                otlp_only_unset(s, &key)?;
                unused("delivery_stream", s.delivery_stream.is_some())?;
                unused("pack", s.pack.is_some())?;
                let gzip_level = s.gzip_level.unwrap_or(DEFAULT_S3_GZIP_LEVEL);
                if !(1..=9).contains(&gzip_level) {
                    return Err(ConfigError::new(
                        key("gzip_level"),
                        format!("{gzip_level}: from 1 (fastest) to 9 (smallest)"),
                    ));
                }
                SinkTarget::S3 {
                    location: bucket_prefix(
                        s.bucket.as_deref(),
                        s.prefix.as_deref(),
                        "logs",
                        &key("bucket"),
                    )?,
                    gzip_level,
                }
            }
        };
        out.push(RecordSink {
            name,
            log_groups,
            target,
        });
    }
    let spill = spill
        .map(|s| {
            bucket_prefix(
                Some(&s.bucket),
                s.prefix.as_deref(),
                "spill",
                "records.spill.bucket",
            )
        })
        .transpose()?;
    Ok(RecordSinks { sinks: out, spill })
}

fn otlp_only_unset(s: &SinkConfig, key: &impl Fn(&str) -> String) -> Result<(), ConfigError> {
    let set = [
        ("preset", s.preset.is_some()),
        ("region", s.region.is_some()),
        ("endpoint", s.endpoint.is_some()),
        ("logs_endpoint", s.logs_endpoint.is_some()),
        ("headers", !s.headers.is_empty()),
        ("headers_secret", s.headers_secret.is_some()),
        ("service_name", s.service_name.is_some()),
        ("service_name_field", s.service_name_field.is_some()),
        ("max_request_bytes", s.max_request_bytes.is_some()),
        ("compression", s.compression.is_some()),
    ];
    match set.iter().find(|(_, on)| *on) {
        Some((field, _)) => Err(ConfigError::new(
            key(field),
            format!("not a setting of a {} sink", s.kind.as_str()),
        )),
        None => Ok(()),
    }
}

fn globs(patterns: &[String], key: &str) -> Result<Option<GlobSet>, ConfigError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for (i, g) in patterns.iter().enumerate() {
        b.add(Glob::new(g).map_err(|e| ConfigError::new(format!("{key}[{i}]"), e.to_string()))?);
    }
    b.build()
        .map(Some)
        .map_err(|e| ConfigError::new(key, e.to_string()))
}

fn bucket_prefix(
    bucket: Option<&str>,
    prefix: Option<&str>,
    default_prefix: &str,
    key: &str,
) -> Result<BucketPrefix, ConfigError> {
    let bucket = bucket.unwrap_or_default().trim();
    // S3 bucket names: 3-63 of lowercase letters, digits, '.', '-'
    // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !valid {
        return Err(ConfigError::new(
            key,
            format!(
                "{bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-')"
            ),
        ));
    }
    let prefix = prefix
        .unwrap_or(default_prefix)
        .trim_matches('/')
        .to_string();
    Ok(BucketPrefix {
        bucket: bucket.to_string(),
        prefix,
    })
}

fn otlp_target(
    s: &SinkConfig,
    key: &impl Fn(&str) -> String,
    region: Option<String>,
    extra: &[(String, String)],
) -> Result<OtlpTarget, ConfigError> {
    let base = match s.preset.as_deref() {
        None => None,
        Some("honeycomb") => Some(match s.region.as_deref().unwrap_or("us") {
            "us" => HONEYCOMB_US,
            "eu" => HONEYCOMB_EU,
            other => {
                return Err(ConfigError::new(
                    key("region"),
                    format!("{other:?}: the honeycomb preset knows `us` and `eu`"),
                ))
            }
        }),
        Some(other) => {
            return Err(ConfigError::new(
                key("preset"),
                format!("unknown preset {other:?} (honeycomb)"),
            ))
        }
    };
    if s.preset.is_none() && s.region.is_some() {
        return Err(ConfigError::new(
            key("region"),
            "`region` belongs to a preset",
        ));
    }
    let url = match (&s.logs_endpoint, &s.endpoint, base) {
        (Some(full), _, _) => full.trim().to_string(),
        (None, Some(base), _) => join_logs_path(base),
        (None, None, Some(base)) => join_logs_path(base),
        (None, None, None) => {
            return Err(ConfigError::new(
                key("endpoint"),
                format!(
                    "an otlp sink needs `endpoint`, `logs_endpoint`, a `preset`, or \
                     {ENV_OTLP_ENDPOINT} in the environment"
                ),
            ))
        }
    };
    check_url(&url, &key("endpoint"))?;
    let mut headers: Vec<(String, HeaderSource)> = Vec::new();
    for (name, value) in &s.headers {
        let lower = name.trim().to_ascii_lowercase();
        let token = !lower.is_empty()
            && lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(ConfigError::new(
                key("headers"),
                format!("{name:?} is not an HTTP header name"),
            ));
        }
        headers.push((lower, value.clone()));
    }
    if s.preset.as_deref() == Some("honeycomb")
        && s.headers_secret.is_none()
        && !headers.iter().any(|(k, _)| k == HONEYCOMB_TEAM_HEADER)
    {
        return Err(ConfigError::new(
            key("headers"),
            format!(
                "the honeycomb preset needs an `{HONEYCOMB_TEAM_HEADER}` header (an ingest key, \
                 best from a secret: {{ secret = \"arn:aws:secretsmanager:…\" }}), or \
                 {ENV_OTLP_HEADERS_SECRET_ARN}"
            ),
        ));
    }
    let max_request_bytes = s
        .max_request_bytes
        .unwrap_or(DEFAULT_OTLP_MAX_REQUEST_BYTES);
    if !(MIN_OTLP_MAX_REQUEST_BYTES..=MAX_OTLP_MAX_REQUEST_BYTES).contains(&max_request_bytes) {
        return Err(ConfigError::new(
            key("max_request_bytes"),
            format!(
                "{max_request_bytes} is not within \
                 {MIN_OTLP_MAX_REQUEST_BYTES}..={MAX_OTLP_MAX_REQUEST_BYTES}"
            ),
        ));
    }
    let gzip = match s.compression.as_deref().unwrap_or("gzip") {
        "gzip" => true,
        "none" => false,
        other => {
            return Err(ConfigError::new(
                key("compression"),
                format!("{other:?} (gzip | none)"),
            ))
        }
    };
    Ok(OtlpTarget {
        url,
        headers,
        headers_secret: s.headers_secret.clone().filter(|a| !a.trim().is_empty()),
        resource: ResourceSettings {
            service_name: s.service_name.clone().filter(|n| !n.is_empty()),
            service_name_field: s.service_name_field.clone(),
            region,
            extra: extra.to_vec(),
            attributes: s
                .resource_attributes
                .iter()
                .map(|(k, v)| {
                    let value = match crate::record::tag_key(v) {
                        Some(tag) => AttributeValue::Tag(tag.to_string()),
                        None => AttributeValue::Literal(v.clone()),
                    };
                    (k.clone(), value)
                })
                .collect(),
        },
        max_request_bytes,
        gzip,
    })
}

fn join_logs_path(base: &str) -> String {
    format!("{}{OTLP_LOGS_PATH}", base.trim().trim_end_matches('/'))
}

fn check_url(url: &str, key: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) && !h.contains('@') => Ok(()),
        _ => Err(ConfigError::new(
            key,
            format!("{url:?} is not an http:// or https:// URL with a host (and no credentials)"),
        )),
    }
}

/// One batch's slice of `Output::records`: its records are `records[start..end]`, all from one
/// log group and stream (names as output, secrets replaced).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSpan {
    pub log_group: String,
    pub log_stream: String,
    /// The AWS account that owns the log group (`owner` of the subscription payload).
    pub owner: String,
    /// The log group's tags (see `record::Source::tags`).
    pub tags: Arc<crate::record::Tags>,
    pub start: usize,
    pub end: usize,
}

/// Metadata members an output record may carry besides the ones every record has.
pub const TRACE_ID_KEY: &str = "@traceId";
pub const SPAN_ID_KEY: &str = "@spanId";
pub const LEVEL_KEY: &str = "@level";
/// The member carrying a kept record's sample rate (Honeycomb's convention: this record stands
/// for N records).
pub const SAMPLE_RATE_KEY: &str = "@sampleRate";

/// The epoch milliseconds of an output record (`@timestamp`), 0 when absent.
pub fn record_timestamp(record: &Map<String, Value>) -> i64 {
    record
        .get("@timestamp")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The event id of an output record (`@id`).
pub fn record_id(record: &Map<String, Value>) -> &str {
    record
        .get("@id")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
