//! Built-in rule packs (`[metrics] packs = [...]`): named sets of `[[metrics.rule]]` that logsieve
//! ships, expanded into ordinary rules before they are compiled, so a pack's rules are checked,
//! matched, capped and planned exactly like a user's.
//!
//! One pack so far, `cis-cloudtrail`: the CIS AWS Foundations Benchmark monitoring controls as
//! Security Hub checks them (CloudWatch.1–CloudWatch.14), on CloudTrail records. Each control
//! becomes two rules sharing its published pattern (so one match serves both):
//!
//! - the bare count, no dimensions: what the native metric filter produces and what an alarm
//!   can watch (CloudWatch alarms cannot sum across dimension values);
//! - the same count by `EventName`, `UserType` and `Region`: who did what, where. At most three
//!   dimensions, so `export-metric-filters` can still write it as a native filter.
//!
//! With `identity = true`, a third rule counts by `EventName` and `Identity` (the caller's
//! `userIdentity.arn`), capped at `max_identities` distinct values: ARNs name people and can be
//! unbounded, so they are never a dimension unless asked for.
//!
//! Pack rules only look at records recognised as CloudTrail (`@format` = `cloudtrail`), so an
//! application log with an `errorCode` of `AccessDenied` is not counted as an unauthorized API
//! call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;

use super::rules::{NumberOrText, RuleConfig, DEFAULT_MAX_CARDINALITY, MAX_CARDINALITY_LIMIT};
use crate::config_error::ConfigError;
use crate::pattern::FilterPattern;
use crate::record::Format;

/// The CIS / Security Hub CloudTrail monitoring pack.
pub const CIS_CLOUDTRAIL: &str = "cis-cloudtrail";
/// Every pack name `packs` accepts.
pub const PACK_NAMES: &[&str] = &[CIS_CLOUDTRAIL];

const CIS_CLOUDTRAIL_TOML: &str = include_str!("packs/cis_cloudtrail.toml");

/// Distinct values kept per dimension of the by-dimensions rules: every AWS Region (about 35)
/// and every `userIdentity.type` fit, and so do the event names of every control but the two
/// that take any event (root usage, unauthorized calls), whose rarer names past 40 fold into
/// `other` rather than becoming billed metrics without bound.
pub const BY_DIMENSIONS_CAP: usize = 40;

/// Default cap on distinct `Identity` values when the identity dimension is on.
pub const DEFAULT_MAX_IDENTITIES: usize = 20;

/// Dimensions of the pack's "by" rule: name → field path in the CloudTrail record.
pub const CIS_DIMENSIONS: [(&str, &str); 3] = [
    ("EventName", "$.eventName"),
    ("UserType", "$.userIdentity.type"),
    ("Region", "$.awsRegion"),
];
/// The opt-in identity dimension.
pub const IDENTITY_DIMENSION: (&str, &str) = ("Identity", "$.userIdentity.arn");

/// CloudTrail fields a records sink receives with the pack on and no `[fields] keep` of its own:
/// who, what, where, from where, and whether it failed; not the request and response bodies,
/// which are large and may hold data the alarm does not need.
pub const CLOUDTRAIL_KEEP: &[&str] = &[
    "eventTime",
    "eventSource",
    "eventName",
    "eventType",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "recipientAccountId",
    "eventID",
    "readOnly",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accountId",
    "userIdentity.principalId",
    "userIdentity.invokedBy",
    "userIdentity.sessionContext.attributes.mfaAuthenticated",
    "additionalEventData.MFAUsed",
    "responseElements.ConsoleLogin",
];

/// One Security Hub control of the pack, as `packs/cis_cloudtrail.toml` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Security Hub control id, `CloudWatch.1`.
    pub id: String,
    /// CIS AWS Foundations Benchmark recommendations it implements.
    pub cis: String,
    pub title: String,
    /// The pack's metric name for it (stable).
    pub metric_name: String,
    /// The page AWS publishes the pattern on.
    pub source: String,
    /// The pattern, exactly as published.
    pub filter_pattern: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    control: Vec<Control>,
}

/// The controls of `cis-cloudtrail`, in Security Hub's order.
pub fn cis_cloudtrail_controls() -> Result<&'static [Control], ConfigError> {
    static CONTROLS: OnceLock<Result<Vec<Control>, String>> = OnceLock::new();
    CONTROLS
        .get_or_init(|| {
            toml::from_str::<PackFile>(CIS_CLOUDTRAIL_TOML)
                .map(|f| f.control)
                .map_err(|e| e.to_string())
        })
        .as_deref()
        .map_err(|e| ConfigError::new("metrics.packs", format!("built-in pack: {e}")))
}

/// One entry of `[metrics] packs`: a name, or a table with the name and options.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PackRef {
    Name(String),
    Options(PackOptions),
}

/// `{ name = "cis-cloudtrail", ... }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackOptions {
    pub name: String,
    /// Namespace of the pack's metrics; `[metrics].namespace` when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Globs on the log group name (the CloudTrail log group); empty: every group (the rules
    /// still only see CloudTrail records).
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// Adds the rule by `EventName` and `Identity` (`userIdentity.arn`). Off by default: ARNs
    /// name people and their number is unbounded.
    #[serde(default)]
    pub identity: bool,
    /// Distinct `Identity` (and `EventName`) values kept by the identity rule before `other`
    /// (1–1000).
    #[serde(default = "default_max_identities")]
    pub max_identities: usize,
    /// With no `[records] filter_pattern` of the config's own, only records of the pack's
    /// format that match one of its rules are output (`false`: every record).
    #[serde(default = "yes")]
    pub records_matching_only: bool,
}

fn yes() -> bool {
    true
}

fn default_max_identities() -> usize {
    DEFAULT_MAX_IDENTITIES
}

impl PackRef {
    pub fn options(&self) -> PackOptions {
        match self {
            PackRef::Name(name) => PackOptions {
                name: name.clone(),
                namespace: None,
                log_groups: Vec::new(),
                identity: false,
                max_identities: DEFAULT_MAX_IDENTITIES,
                records_matching_only: true,
            },
            PackRef::Options(o) => o.clone(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            PackRef::Name(n) => n,
            PackRef::Options(o) => &o.name,
        }
    }
}

/// The rules of every pack in `packs` (`key` is `metrics.packs`), in order; an unknown or
/// repeated pack, or a bad option, is an error naming its entry.
pub fn expand(packs: &[PackRef]) -> Result<Vec<RuleConfig>, ConfigError> {
    let mut seen = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, p) in packs.iter().enumerate() {
        let key = format!("metrics.packs[{i}]");
        let o = p.options();
        if !seen.insert(o.name.clone()) {
            return Err(ConfigError::new(
                key,
                format!("pack {:?} is listed twice", o.name),
            ));
        }
        match o.name.as_str() {
            CIS_CLOUDTRAIL => rules.extend(cis_cloudtrail_rules(&o, &key)?),
            other => {
                return Err(ConfigError::new(
                    key,
                    format!("unknown pack {other:?} (known: {})", PACK_NAMES.join(", ")),
                ))
            }
        }
    }
    Ok(rules)
}

/// What the packs change about output records when the config does not say: the fields kept
/// (for `[fields] keep`) and which records are output (for `[records] filter_pattern`).
#[derive(Debug, Clone, Default)]
pub struct PackRecords {
    /// Field paths to keep; empty when no pack brings any.
    pub keep: Vec<String>,
    /// Output only records of this format that match one of `any_of`.
    pub only: Option<(Format, Vec<FilterPattern>)>,
}

impl PackRecords {
    /// Whether a record passes the packs' records filter (always, when there is none).
    pub fn wants(&self, record: &crate::record::Record) -> bool {
        match &self.only {
            None => true,
            Some((format, any_of)) => {
                record.format == *format && {
                    let input = crate::pattern::MatchInput {
                        message: &record.message,
                        json: Some(record.fields_view()),
                    };
                    any_of.iter().any(|p| p.is_match(&input))
                }
            }
        }
    }
}

/// The records settings of `packs` (validated by [`expand`] first).
pub fn records(packs: &[PackRef]) -> Result<PackRecords, ConfigError> {
    let mut out = PackRecords::default();
    for p in packs {
        let o = p.options();
        if o.name != CIS_CLOUDTRAIL {
            continue;
        }
        out.keep
            .extend(CLOUDTRAIL_KEEP.iter().map(|s| s.to_string()));
        if o.records_matching_only {
            let mut any_of = Vec::new();
            for c in cis_cloudtrail_controls()? {
                any_of
                    .push(FilterPattern::compile(&c.filter_pattern).map_err(|e| {
                        ConfigError::new("metrics.packs", format!("{}: {e}", c.id))
                    })?);
            }
            out.only = Some((Format::CloudTrail, any_of));
        }
    }
    Ok(out)
}

fn cis_cloudtrail_rules(o: &PackOptions, key: &str) -> Result<Vec<RuleConfig>, ConfigError> {
    if !(1..=MAX_CARDINALITY_LIMIT).contains(&o.max_identities) {
        return Err(ConfigError::new(
            format!("{key}.max_identities"),
            format!(
                "{} is not within 1..={MAX_CARDINALITY_LIMIT}",
                o.max_identities
            ),
        ));
    }
    let controls = cis_cloudtrail_controls()?;
    let rule = |c: &Control, dims: &[(&str, &str)], cap: usize| RuleConfig {
        metric_name: c.metric_name.clone(),
        metric_namespace: o.namespace.clone(),
        filter_pattern: c.filter_pattern.clone(),
        metric_value: NumberOrText::Number(1.0),
        default_value: None,
        unit: "Count".into(),
        storage_resolution: 60,
        dimensions: dims
            .iter()
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .collect::<BTreeMap<_, _>>(),
        max_cardinality: cap,
        log_groups: o.log_groups.clone(),
    };
    let mut out = Vec::with_capacity(controls.len() * 3);
    for c in controls {
        out.push(rule(c, &[], DEFAULT_MAX_CARDINALITY));
        out.push(rule(c, &CIS_DIMENSIONS, BY_DIMENSIONS_CAP));
        if o.identity {
            out.push(rule(
                c,
                &[CIS_DIMENSIONS[0], IDENTITY_DIMENSION],
                o.max_identities,
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourteen_controls_in_order_with_unique_names_and_their_own_anchor() {
        let controls = cis_cloudtrail_controls().unwrap();
        let ids: Vec<&str> = controls.iter().map(|c| c.id.as_str()).collect();
        let want: Vec<String> = (1..=14).map(|n| format!("CloudWatch.{n}")).collect();
        assert_eq!(ids, want);
        let names: BTreeSet<&str> = controls.iter().map(|c| c.metric_name.as_str()).collect();
        assert_eq!(names.len(), 14);
        for (n, c) in controls.iter().enumerate() {
            assert_eq!(
                c.source,
                format!(
                    "https://docs.aws.amazon.com/securityhub/latest/userguide/cloudwatch-controls.html#cloudwatch-{}",
                    n + 1
                )
            );
            assert!(c.filter_pattern.len() <= super::super::MAX_FILTER_PATTERN_LEN);
        }
    }

    #[test]
    fn each_control_gives_a_bare_and_a_dimensioned_rule_identity_only_when_asked() {
        let plain = expand(&[PackRef::Name(CIS_CLOUDTRAIL.into())]).unwrap();
        assert_eq!(plain.len(), 28);
        assert!(plain[0].dimensions.is_empty());
        assert_eq!(plain[1].max_cardinality, BY_DIMENSIONS_CAP);
        assert_eq!(
            plain[1].dimensions.keys().collect::<Vec<_>>(),
            ["EventName", "Region", "UserType"]
        );
        assert!(plain.iter().all(|r| !r.dimensions.contains_key("Identity")));
        let with = expand(&[PackRef::Options(PackOptions {
            identity: true,
            max_identities: 7,
            ..PackRef::Name(CIS_CLOUDTRAIL.into()).options()
        })])
        .unwrap();
        assert_eq!(with.len(), 42);
        assert_eq!(
            with[2].dimensions.get("Identity").map(String::as_str),
            Some("$.userIdentity.arn")
        );
        assert_eq!(with[2].max_cardinality, 7);
    }

    #[test]
    fn bad_pack_entries_name_the_entry() {
        let e = expand(&[PackRef::Name("cis-cloudtrial".into())]).unwrap_err();
        assert_eq!(e.key, "metrics.packs[0]");
        assert!(e.message.contains("unknown pack"), "{e}");
        let twice = [
            PackRef::Name(CIS_CLOUDTRAIL.into()),
            PackRef::Name(CIS_CLOUDTRAIL.into()),
        ];
        assert_eq!(expand(&twice).unwrap_err().key, "metrics.packs[1]");
        let cap = PackOptions {
            max_identities: 0,
            ..PackRef::Name(CIS_CLOUDTRAIL.into()).options()
        };
        let e = expand(&[PackRef::Options(cap)]).unwrap_err();
        assert_eq!(e.key, "metrics.packs[0].max_identities");
    }
}
