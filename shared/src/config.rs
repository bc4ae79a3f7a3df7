//! The configuration file: one TOML document (`[decode]`, `[metrics]`, `[fields]`, `[traces]`,
//! `[records]`) loaded from `--config` or `LOGSIEVE_CONFIG`, with a few environment overrides,
//! validated at start-up into a `CheckedConfig`. Unknown keys and bad values are errors naming the
//! key and its line.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;

use crate::config_error::ConfigError;
use crate::decode::{DecodeConfig, DecodeLimits};
use crate::metrics::{MetricRules, MetricSinkKind, MetricsConfig};
use crate::pattern::FilterPattern;
use crate::plan_config::PlanConfig;
use crate::select::{FieldsConfig, Selector};
use crate::trace::{TraceRules, TraceSinkKind, TracesConfig};

/// The configuration used when none is given: built-in Lambda metrics, error counts, trace
/// correlation, secret redaction.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");

/// Environment variable holding a config file path or inline TOML.
pub const ENV_CONFIG: &str = "LOGSIEVE_CONFIG";
/// Overrides `metrics.namespace`.
pub const ENV_NAMESPACE: &str = "LOGSIEVE_NAMESPACE";
/// Overrides `metrics.sink` (`cloudwatch` | `emf` | `none`).
pub const ENV_METRICS_SINK: &str = "LOGSIEVE_METRICS_SINK";
/// Overrides `traces.sink` (`xray` | `none`).
pub const ENV_TRACES_SINK: &str = "LOGSIEVE_TRACES_SINK";

/// The whole configuration file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Payload decoding limits.
    pub decode: DecodeConfig,
    /// Metric rules and built-in Lambda metrics.
    pub metrics: MetricsConfig,
    /// Field selection and redaction.
    pub fields: FieldsConfig,
    /// Trace correlation into X-Ray.
    pub traces: TracesConfig,
    /// Which records are written to the `records` output.
    pub records: RecordsConfig,
    /// Volume assumptions and prices for `logsieve plan` (the pipeline ignores them).
    pub plan: PlanConfig,
    /// Joining split multi-line messages (`[multiline]`; absent: never).
    pub multiline: Option<crate::multiline::MultilineConfig>,
    /// Per-log-group settings (`[[profile]]`), first match wins.
    pub profile: Vec<crate::profile::ProfileConfig>,
}

/// `[records]`: which selected records are output (the CLI's `records`, the Firehose filter's
/// result). Metrics and traces always see every record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordsConfig {
    /// Only records matching this filter pattern are output (empty: all records).
    pub filter_pattern: String,
    /// Keep 1 in N of the records that pass the filter and are not errors, chosen by a hash of
    /// the event id (a retried batch keeps the same sample). Errors (error-level records, failed
    /// platform events) are always kept. With N > 1 every output record carries
    /// `"@sampleRate"` (N, or 1 for errors), the Honeycomb convention for re-weighting counts.
    /// 1 (the default) keeps everything. At most 1,000,000.
    pub sample_rate: u64,
    /// Where the kept records are sent (`[[records.sinks]]`; none: nowhere, the CLI prints them).
    pub sinks: Vec<crate::records::SinkConfig>,
    /// Where records go that a sink did not take in time (`[records.spill]`).
    pub spill: Option<crate::records::SpillConfig>,
    /// `cloud.region` of OTLP resources: the function's `AWS_REGION` (not a config key).
    #[serde(skip)]
    pub region: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES` (not a config key).
    #[serde(skip)]
    pub resource_attributes: Option<String>,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            filter_pattern: String::new(),
            sample_rate: 1,
            sinks: Vec::new(),
            spill: None,
            region: None,
            resource_attributes: None,
        }
    }
}

/// Largest `records.sample_rate`: beyond it nothing but errors would ever be seen.
pub const MAX_SAMPLE_RATE: u64 = 1_000_000;

/// Largest configuration text, in bytes. A thousand rules of a few lines each fit many times
/// over; anything larger is a mistake (or an attack on start-up time and memory).
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

pub use crate::metrics::MAX_METRIC_RULES;
use crate::pattern::regex_budget_message;
pub use crate::pattern::MAX_CONFIG_REGEX_POSITIONS;

/// The validated configuration every stage reads.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    pub decode: DecodeLimits,
    pub metrics: MetricRules,
    pub fields: Selector,
    pub traces: TraceRules,
    /// `None` when every record is output.
    pub records_filter: Option<FilterPattern>,
    /// The packs' records filter, used when `records_filter` is `None` (see `metrics::packs`).
    pub records_pack: crate::metrics::packs::PackRecords,
    /// `records.sample_rate`: 1 keeps every non-error record.
    pub records_sample_rate: u64,
    /// Where kept records are sent, and the spill location.
    pub record_sinks: crate::records::RecordSinks,
    /// `None` when nothing is joined.
    pub multiline: Option<crate::multiline::MultilineRules>,
    /// `[[profile]]`s in order; each holds the whole configuration its log groups get.
    pub profiles: Vec<crate::profile::CheckedProfile<CheckedConfig>>,
}

impl Config {
    /// Parses TOML; errors carry the line of the offending key.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        check_size(text.len())?;
        let config = toml::from_str::<Config>(text).map_err(|e| {
            let span = e.span();
            ConfigError {
                key: "config".to_string(),
                message: e.message().to_string(),
                line: span.as_ref().map(|s| line_of(text, s.start)),
                span,
            }
        })?;
        if let Some((key, message)) = crate::profile::forbidden_keys(text, config.profile.len()) {
            let span = span_of(text, &key);
            return Err(ConfigError {
                line: span.as_ref().map(|s| line_of(text, s.start)),
                span,
                key,
                message,
            });
        }
        Ok(config)
    }

    /// Applies the environment overrides documented in the README.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(ns) = get(ENV_NAMESPACE) {
            self.metrics.namespace = ns;
        }
        if let Some(s) = get(ENV_METRICS_SINK) {
            self.metrics.sink = match s.as_str() {
                "cloudwatch" => MetricSinkKind::Cloudwatch,
                "emf" => MetricSinkKind::Emf,
                "none" => MetricSinkKind::None,
                other => {
                    return Err(ConfigError::new(
                        ENV_METRICS_SINK,
                        format!("unknown sink {other:?} (cloudwatch | emf | none)"),
                    ))
                }
            };
        }
        if let Some(s) = get(ENV_TRACES_SINK) {
            self.traces.sink = match s.as_str() {
                "xray" => TraceSinkKind::Xray,
                "none" => TraceSinkKind::None,
                other => {
                    return Err(ConfigError::new(
                        ENV_TRACES_SINK,
                        format!("unknown sink {other:?} (xray | none)"),
                    ))
                }
            };
        }
        crate::records::apply_env(&mut self.records.sinks, &mut self.records.spill, &get)?;
        self.records.region = get("AWS_REGION").filter(|r| !r.is_empty());
        self.records.resource_attributes = get(crate::records::ENV_RESOURCE_ATTRIBUTES);
        Ok(())
    }

    /// The configuration a profile's log groups get: each section the profile sets replaces the
    /// top level's; the sinks stay the function's.
    fn with_profile(&self, p: &crate::profile::ProfileConfig) -> Config {
        let mut cfg = self.clone();
        cfg.profile = Vec::new();
        if let Some(f) = &p.fields {
            cfg.fields = f.clone();
        }
        if let Some(r) = &p.records {
            cfg.records.filter_pattern = r.filter_pattern.clone();
            cfg.records.sample_rate = r.sample_rate;
        }
        if let Some(t) = &p.traces {
            cfg.traces = TracesConfig {
                sink: self.traces.sink,
                ..t.clone()
            };
        }
        if let Some(m) = &p.metrics {
            cfg.metrics = MetricsConfig {
                sink: self.metrics.sink,
                ..m.clone()
            };
        }
        if let Some(m) = &p.multiline {
            cfg.multiline = Some(m.clone());
        }
        cfg
    }

    pub fn validate(&self) -> Result<CheckedConfig, ConfigError> {
        let records_filter = if self.records.filter_pattern.trim().is_empty() {
            None
        } else {
            Some(
                FilterPattern::compile(&self.records.filter_pattern)
                    .map_err(|e| ConfigError::new("records.filter_pattern", e.to_string()))?,
            )
        };
        if !(1..=MAX_SAMPLE_RATE).contains(&self.records.sample_rate) {
            return Err(ConfigError::new(
                "records.sample_rate",
                format!(
                    "{} is not within 1..={MAX_SAMPLE_RATE}",
                    self.records.sample_rate
                ),
            ));
        }
        self.plan.validate()?;
        let decode = self.decode.validate()?;
        let mut metrics = self.metrics.validate()?;
        let positions = metrics
            .rules
            .iter()
            .map(|r| r.regex_positions())
            .chain(records_filter.iter().map(FilterPattern::regex_positions))
            .fold(0usize, usize::saturating_add);
        if positions > MAX_CONFIG_REGEX_POSITIONS {
            return Err(ConfigError::new(
                "records.filter_pattern",
                regex_budget_message(positions),
            ));
        }
        // A pack brings the fields its records need and keeps only the records its rules match,
        // unless `[fields] keep` / `[records] filter_pattern` say otherwise.
        let mut records_pack = crate::metrics::packs::records(&self.metrics.packs)?;
        let fields = if self.fields.keep.is_empty() && !records_pack.keep.is_empty() {
            let mut f = self.fields.clone();
            f.keep = std::mem::take(&mut records_pack.keep);
            f.validate()?
        } else {
            self.fields.validate()?
        };
        if records_filter.is_some() {
            records_pack.only = None;
        }
        let record_sinks = crate::records::validate(
            &self.records.sinks,
            self.records.spill.as_ref(),
            self.records.region.clone(),
            self.records.resource_attributes.as_deref(),
        )?;
        let mut traces = self.traces.validate()?;
        // Values read from a sensitive key's path and source names are redacted at the exits
        // whether or not whole records are (see `exits`).
        metrics.guard_exits(&fields.redactor);
        traces.guard_exits(&fields.redactor);
        let multiline = self
            .multiline
            .as_ref()
            .map(|m| m.validate("multiline"))
            .transpose()?;
        let profiles =
            crate::profile::validate(&self.profile, |p| self.with_profile(p).validate())?;
        Ok(CheckedConfig {
            decode,
            metrics,
            fields,
            traces,
            records_filter,
            records_pack,
            records_sample_rate: self.records.sample_rate,
            record_sinks,
            multiline,
            profiles,
        })
    }
}

impl CheckedConfig {
    /// The profile `log_group` gets (the first whose globs match), if any.
    pub fn profile_for(
        &self,
        log_group: &str,
    ) -> Option<&crate::profile::CheckedProfile<CheckedConfig>> {
        crate::profile::choose(&self.profiles, log_group).map(|i| &self.profiles[i])
    }

    /// Parses and validates TOML text, locating validation errors in it.
    pub fn from_toml(text: &str) -> Result<CheckedConfig, ConfigError> {
        Self::from_toml_with_env(text, |_| None)
    }

    pub fn from_toml_with_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<CheckedConfig, ConfigError> {
        let mut cfg = Config::from_toml(text)?;
        cfg.apply_env(env)?;
        cfg.validate().map_err(|mut e| {
            if e.span.is_none() {
                if let Some(span) = span_of(text, &e.key) {
                    e.line = Some(line_of(text, span.start));
                    e.span = Some(span);
                }
            }
            e
        })
    }

    /// The built-in default configuration.
    pub fn default_config() -> Result<CheckedConfig, ConfigError> {
        Self::from_toml(DEFAULT_CONFIG)
    }

    /// Reads a config file (or the default when `path` is `None`), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<CheckedConfig, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        match path {
            Some(p) => {
                let cannot_read = |e: std::io::Error| {
                    ConfigError::new(p.display().to_string(), format!("cannot read: {e}"))
                };
                // Checked before reading, so a huge file is refused without loading it.
                let len = std::fs::metadata(p).map_err(cannot_read)?.len();
                check_size(usize::try_from(len).unwrap_or(usize::MAX)).map_err(|mut e| {
                    e.key = p.display().to_string();
                    e
                })?;
                let text = std::fs::read_to_string(p).map_err(cannot_read)?;
                Self::from_toml_with_env(&text, env).map_err(|mut e| {
                    e.key = format!("{}: {}", p.display(), e.key);
                    e
                })
            }
            None => Self::from_toml_with_env(DEFAULT_CONFIG, env),
        }
    }

    /// The Lambda's configuration: `LOGSIEVE_CONFIG` as a path (when such a file exists) or
    /// inline TOML, else the built-in default; then the environment overrides.
    pub fn from_env() -> Result<CheckedConfig, ConfigError> {
        match std::env::var(ENV_CONFIG) {
            Ok(v) if !v.trim().is_empty() => {
                let path = Path::new(v.trim());
                if path.is_file() {
                    Self::load(Some(path))
                } else if v.contains('=') || v.contains('[') {
                    Self::from_toml_with_env(&v, |k| std::env::var(k).ok())
                } else {
                    Err(ConfigError::new(
                        ENV_CONFIG,
                        format!("{v:?} is neither an existing file nor TOML"),
                    ))
                }
            }
            _ => Self::load(None),
        }
    }
}

fn check_size(bytes: usize) -> Result<(), ConfigError> {
    if bytes > MAX_CONFIG_BYTES {
        return Err(ConfigError::new(
            "config",
            format!("{bytes} bytes, more than {MAX_CONFIG_BYTES}"),
        ));
    }
    Ok(())
}

fn line_of(text: &str, byte: usize) -> usize {
    let end = byte.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Where a dotted key such as `metrics.rule[2].unit` or `fields.keep[1]` is in TOML text: the
/// byte span the TOML parser recorded for its value (for a table, its header). A key that is not
/// in the text (a default, or one set by the environment) gives the span of its nearest ancestor
/// that is, or `None`. Names containing dots (`fields.rename."a.b"`) are matched against the keys
/// actually present, longest first.
fn span_of(text: &str, key: &str) -> Option<Range<usize>> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = None;
    let mut rest = key;
    while !rest.is_empty() {
        let (next, tail) = match rest.strip_prefix('[') {
            Some(after) => {
                let Some((index, tail)) = after.split_once(']') else {
                    break;
                };
                let Ok(index) = index.parse::<usize>() else {
                    break;
                };
                (item.get(index), tail)
            }
            None => match member_name(item, rest) {
                Some((name, tail)) => (item.get(name), tail),
                None => break,
            },
        };
        let Some(next) = next else {
            break;
        };
        item = next;
        rest = tail.strip_prefix('.').unwrap_or(tail);
        best = item.span().or(best);
    }
    best
}

/// The longest key of the table `item` that `rest` starts with, followed by the end, `.` or
/// `[`; and what follows it.
fn member_name<'k>(item: &toml_edit::Item, rest: &'k str) -> Option<(&'k str, &'k str)> {
    let keys: Vec<&str> = match item {
        toml_edit::Item::Table(t) => t.iter().map(|(k, _)| k).collect(),
        toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
            t.iter().map(|(k, _)| k).collect()
        }
        _ => return None,
    };
    keys.into_iter()
        .filter(|k| {
            rest.strip_prefix(k)
                .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '[']))
        })
        .max_by_key(|k| k.len())
        .map(|k| rest.split_at(k.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        CheckedConfig::default_config().unwrap();
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let e = CheckedConfig::from_toml("[metrics]\nnamespace = \"X\"\nbogus = 1\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = CheckedConfig::from_toml("[nope]\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn env_overrides() {
        let env = |k: &str| match k {
            ENV_METRICS_SINK => Some("emf".to_string()),
            ENV_TRACES_SINK => Some("none".to_string()),
            _ => None,
        };
        let c = CheckedConfig::from_toml_with_env(DEFAULT_CONFIG, env).unwrap();
        assert_eq!(c.metrics.sink, MetricSinkKind::Emf);
        assert_eq!(c.traces.sink, TraceSinkKind::None);
        let bad = |k: &str| (k == ENV_METRICS_SINK).then(|| "kafka".to_string());
        let e = CheckedConfig::from_toml_with_env(DEFAULT_CONFIG, bad).unwrap_err();
        assert_eq!(e.key, ENV_METRICS_SINK);
    }

    #[test]
    fn keys_are_located_by_the_parsers_spans() {
        let text = concat!(
            "[metrics]\n",                               // 1
            "namespace = \"a\"\n",                       // 2
            "\n",                                        // 3
            "[[metrics.rule]]\n",                        // 4
            "metric_name = \"A\"\n",                     // 5
            "\n",                                        // 6
            "[[metrics.rule]]\n",                        // 7
            "metric_name = \"B\"\n",                     // 8
            "  unit   =   \"Bogus\"\n",                  // 9
            "[fields]\n",                                // 10
            "keep = [\"ok\",\n  \"a..b\"]\n",            // 11-12
            "rename = { \"a.b\" = \"x\", a = \"y\" }\n", // 13
        );
        // (key, line, the text the span covers)
        let cases: &[(&str, usize, &str)] = &[
            ("metrics.rule[1].unit", 9, "\"Bogus\""),
            ("metrics.rule[0].metric_name", 5, "\"A\""),
            ("metrics.namespace", 2, "\"a\""),
            ("fields.keep[1]", 12, "\"a..b\""),
            ("fields.rename.a.b", 13, "\"x\""),
            ("fields.rename.a", 13, "\"y\""),
            // Not in the text: its nearest ancestor that is (a table spans its header and body).
            (
                "metrics.rule[1].dimensions",
                7,
                "[[metrics.rule]]\nmetric_name = \"B\"\n  unit   =   \"Bogus\"",
            ),
        ];
        for &(key, line, covered) in cases {
            let span = span_of(text, key).unwrap_or_else(|| panic!("{key}: no span"));
            assert_eq!(line_of(text, span.start), line, "{key}");
            assert_eq!(&text[span], covered, "{key}");
        }
        assert_eq!(span_of(text, "traces.sink"), None);
        assert_eq!(span_of("not toml [", "metrics"), None);
    }

    #[test]
    fn validation_errors_carry_the_span_of_the_bad_value() {
        let text = "[fields]\nkeep = [\"ok\", \"a..b\"]\n";
        let e = CheckedConfig::from_toml(text).unwrap_err();
        assert_eq!(e.key, "fields.keep[1]", "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(e.span.clone().map(|s| &text[s]), Some("\"a..b\""), "{e}");
    }

    fn rules_toml(n: usize, pattern: &str) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "[[metrics.rule]]\nmetric_name = \"M{i}\"\nfilter_pattern = '{pattern}'\n\n"
                )
            })
            .collect()
    }

    /// A regex exactly at the per-regex limit (126 + 2 positions).
    fn near_cap_regex() -> String {
        format!("%a[ab]{{{}}}c%", crate::pattern::MAX_REGEX_POSITIONS - 2)
    }

    #[test]
    fn a_thousand_near_cap_regex_rules_are_refused_fast_by_count() {
        let text = rules_toml(1000, &near_cap_regex());
        let started = std::time::Instant::now();
        let e = CheckedConfig::from_toml(&text).unwrap_err();
        assert_eq!(e.key, "metrics.rule", "{e}");
        assert!(e.message.contains("1000 rules, more than 500"), "{e}");
        // Generous: catches a stall, not a regression (it takes milliseconds).
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn regex_budget_is_summed_over_rules_and_the_records_filter() {
        let per = crate::pattern::MAX_REGEX_POSITIONS;
        let fit = MAX_CONFIG_REGEX_POSITIONS / per;
        // As many near-cap regexes as the budget holds load; one more is refused, naming it.
        let ok = CheckedConfig::from_toml(&rules_toml(fit, &near_cap_regex())).unwrap();
        assert_eq!(ok.metrics.rules.len(), fit);
        let started = std::time::Instant::now();
        let e =
            CheckedConfig::from_toml(&rules_toml(MAX_METRIC_RULES, &near_cap_regex())).unwrap_err();
        assert_eq!(e.key, format!("metrics.rule[{fit}].filter_pattern"), "{e}");
        assert!(
            e.message
                .contains(&format!("{} positions", (fit + 1) * per)),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // Small regexes add up too: `%ERR\d%` is 4 positions.
        let e = CheckedConfig::from_toml(&rules_toml(MAX_METRIC_RULES, r"%ERR\d%")).unwrap_err();
        assert_eq!(
            e.key,
            format!(
                "metrics.rule[{}].filter_pattern",
                MAX_CONFIG_REGEX_POSITIONS / 4
            ),
            "{e}"
        );
        // The records filter counts with the rules.
        let text = format!(
            "[records]\nfilter_pattern = '%x%'\n\n{}",
            rules_toml(fit, &near_cap_regex())
        );
        let e = CheckedConfig::from_toml(&text).unwrap_err();
        assert_eq!(e.key, "records.filter_pattern", "{e}");
        // Rules without regexes cost nothing against the budget: the full count loads.
        let ok = CheckedConfig::from_toml(&rules_toml(MAX_METRIC_RULES, "ERROR -DEBUG")).unwrap();
        assert_eq!(ok.metrics.rules.len(), MAX_METRIC_RULES);
    }

    #[test]
    fn oversized_config_text_and_files_are_refused() {
        let mut text = String::from("[metrics]\nnamespace = \"A\"\n");
        text.push_str(&"#".repeat(MAX_CONFIG_BYTES - text.len()));
        assert!(
            CheckedConfig::from_toml(&text).is_ok(),
            "exactly at the limit"
        );
        text.push('\n');
        let e = CheckedConfig::from_toml(&text).unwrap_err();
        assert_eq!(e.key, "config");
        assert!(e.to_string().contains("more than 1048576"), "{e}");
        let path = std::env::temp_dir().join(format!("logsieve-big-{}.toml", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let e = CheckedConfig::load(Some(&path)).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(e.key.contains("logsieve-big"), "{e}");
        assert!(e.message.contains("more than 1048576"), "{e}");
    }
}
