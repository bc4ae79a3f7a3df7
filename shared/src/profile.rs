//! `[[profile]]`: settings chosen per log group. Each profile names its log groups (globs) and
//! replaces, whole, any of the top-level `[fields]`, `[records]` (`filter_pattern`,
//! `sample_rate`), `[traces]`, `[multiline]` and `[metrics]` sections for them; sections it does
//! not name are the top level's. The first profile whose globs match a batch's log group wins;
//! no match: the top-level settings. Sinks are the function's, never a profile's.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::config_error::ConfigError;
use crate::metrics::MetricsConfig;
use crate::multiline::MultilineConfig;
use crate::select::FieldsConfig;
use crate::trace::TracesConfig;

/// Longest profile name (it becomes part of counter keys).
pub const MAX_NAME_LEN: usize = 64;

/// Most profiles in one configuration.
pub const MAX_PROFILES: usize = 100;

/// One `[[profile]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub name: String,
    pub log_groups: Vec<String>,
    #[serde(default)]
    pub fields: Option<FieldsConfig>,
    #[serde(default)]
    pub records: Option<ProfileRecords>,
    #[serde(default)]
    pub traces: Option<TracesConfig>,
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
}

/// The part of `[records]` a profile may set (where records go is the function's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileRecords {
    pub filter_pattern: String,
    pub sample_rate: u64,
}

impl Default for ProfileRecords {
    fn default() -> Self {
        ProfileRecords {
            filter_pattern: String::new(),
            sample_rate: 1,
        }
    }
}

/// A checked profile: its globs and the whole configuration `C` its log groups get (the
/// checked configuration type lives in `config`, which builds it from the overrides).
#[derive(Debug, Clone)]
pub struct CheckedProfile<C> {
    pub name: String,
    pub log_groups: Vec<String>,
    globs: GlobSet,
    pub config: Box<C>,
}

impl<C> CheckedProfile<C> {
    pub fn matches(&self, log_group: &str) -> bool {
        self.globs.is_match(log_group)
    }
}

/// The index of the profile `log_group` gets: the first whose globs match.
pub fn choose<C>(profiles: &[CheckedProfile<C>], log_group: &str) -> Option<usize> {
    profiles.iter().position(|p| p.matches(log_group))
}

/// Keys a profile may not set, found in the config text (serde cannot tell a default from a
/// value written out): the metric and trace sinks are the function's.
pub fn forbidden_keys(text: &str, count: usize) -> Option<(String, String)> {
    if count == 0 {
        return None;
    }
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let profiles = doc.get("profile")?;
    for i in 0..count {
        let Some(p) = profiles.get(i) else { continue };
        for section in ["metrics", "traces"] {
            if p.get(section).and_then(|s| s.get("sink")).is_some() {
                return Some((
                    format!("profile[{i}].{section}.sink"),
                    format!("sinks are per function, not per profile: set `{section}.sink` at the top level"),
                ));
            }
        }
    }
    None
}

fn has_glob_syntax(g: &str) -> bool {
    g.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// Checks every profile: names, globs, order; `settings` builds and checks the configuration a
/// profile's log groups get (its errors are located in the profile).
pub fn validate<C>(
    profiles: &[ProfileConfig],
    settings: impl Fn(&ProfileConfig) -> Result<C, ConfigError>,
) -> Result<Vec<CheckedProfile<C>>, ConfigError> {
    if profiles.len() > MAX_PROFILES {
        return Err(ConfigError::new(
            "profile",
            format!("{} profiles, more than {MAX_PROFILES}", profiles.len()),
        ));
    }
    let mut out: Vec<CheckedProfile<C>> = Vec::with_capacity(profiles.len());
    for (j, p) in profiles.iter().enumerate() {
        let key = |k: &str| format!("profile[{j}].{k}");
        let name = &p.name;
        if name.is_empty()
            || name.len() > MAX_NAME_LEN
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::new(
                key("name"),
                format!("{name:?}: a profile name is 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ -"),
            ));
        }
        if let Some(i) = out.iter().position(|q| &q.name == name) {
            return Err(ConfigError::new(
                key("name"),
                format!(
                    "profile[{j}] and profile[{i}] are both named {name:?}; profile names must be unique"
                ),
            ));
        }
        if p.log_groups.is_empty() {
            return Err(ConfigError::new(
                key("log_groups"),
                format!("profile {name:?} names no log groups"),
            ));
        }
        let mut b = GlobSetBuilder::new();
        for (k, g) in p.log_groups.iter().enumerate() {
            b.add(Glob::new(g).map_err(|e| {
                ConfigError::new(
                    key(&format!("log_groups[{k}]")),
                    format!("profile {name:?}: {e}"),
                )
            })?);
        }
        let globs = b
            .build()
            .map_err(|e| ConfigError::new(key("log_groups"), e.to_string()))?;
        // A profile every one of whose globs an earlier profile already takes is never chosen:
        // almost surely an ordering mistake. (Caught for identical globs and plain names.)
        let shadowed_by = |g: &String| {
            out.iter().position(|q| {
                q.log_groups.contains(g) || (!has_glob_syntax(g) && q.globs.is_match(g.as_str()))
            })
        };
        let shadows: Vec<Option<usize>> = p.log_groups.iter().map(shadowed_by).collect();
        if let Some(Some(i)) = shadows.first().copied() {
            if shadows.iter().all(Option::is_some) {
                return Err(ConfigError::new(
                    key("log_groups"),
                    format!(
                        "profile {name:?} (profile[{j}]) can never be chosen: profile {:?} (profile[{i}]) comes first and takes every log group it names (the first match wins)",
                        out[i].name
                    ),
                ));
            }
        }
        let checked = settings(p).map_err(|mut e| {
            e.key = key(&e.key);
            e.message = format!("profile {name:?}: {}", e.message);
            e
        })?;
        out.push(CheckedProfile {
            name: name.clone(),
            log_groups: p.log_groups.clone(),
            globs,
            config: Box::new(checked),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::CheckedConfig;

    const PROFILES: &str = r#"
[fields]
keep = ["message"]

[[profile]]
name = "api"
log_groups = ["/ecs/api", "/ecs/api-*"]
[profile.fields]
keep = ["message", "status"]

[[profile]]
name = "ecs"
log_groups = ["/ecs/*"]
[profile.multiline]
detectors = ["java"]

[[profile]]
name = "lambda-python"
log_groups = ["/aws/lambda/py-*"]
[profile.records]
sample_rate = 10
"#;

    #[test]
    fn the_first_matching_profile_wins() {
        let cfg = CheckedConfig::from_toml(PROFILES).unwrap();
        for (group, want) in [
            ("/ecs/api", Some("api")),
            ("/ecs/api-canary", Some("api")),
            ("/ecs/apis", Some("ecs")),
            ("/ecs/billing", Some("ecs")),
            ("/ecs", None),
            ("/aws/lambda/py-orders", Some("lambda-python")),
            ("/aws/lambda/node-orders", None),
            ("", None),
        ] {
            assert_eq!(
                cfg.profile_for(group).map(|p| p.name.as_str()),
                want,
                "{group}"
            );
        }
        // Sections a profile names replace the top level's; the others are inherited.
        let api = &cfg.profiles[0].config;
        let ecs = &cfg.profiles[1].config;
        assert!(api.multiline.is_none());
        assert!(ecs.multiline.is_some());
        assert!(cfg.multiline.is_none());
        assert_eq!(cfg.profiles[2].config.records_sample_rate, 10);
        assert_eq!(cfg.records_sample_rate, 1);
    }

    /// (config text, error key, words the message must hold, line)
    #[test]
    fn conflicting_or_invalid_profiles_are_errors_naming_both() {
        let two = |a: &str, b: &str| {
            format!(
                "[[profile]]\nname = \"{a}\"\nlog_groups = [\"/a/*\"]\n\n[[profile]]\nname = \"{b}\"\nlog_groups = [\"/b/*\"]\n"
            )
        };
        let cases: Vec<(String, &str, Vec<&str>, Option<usize>)> = vec![
            (
                two("api", "api"),
                "profile[1].name",
                vec!["profile[1] and profile[0]", "\"api\"", "unique"],
                Some(6),
            ),
            (
                "[[profile]]\nname = \"all-ecs\"\nlog_groups = [\"/ecs/*\"]\n\n[[profile]]\nname = \"api\"\nlog_groups = [\"/ecs/api\"]\n".into(),
                "profile[1].log_groups",
                vec!["\"api\"", "\"all-ecs\"", "never be chosen"],
                Some(7),
            ),
            (
                format!(
                    "{}[profile.metrics]\nnamespace = \"X\"\n[[profile.metrics.rule]]\nmetric_name = \"E\"\nunit = \"Bogus\"\n",
                    two("a", "b")
                ),
                "profile[1].metrics.rule[0].unit",
                vec!["profile \"b\"", "Bogus"],
                Some(12),
            ),
            (
                format!("{}[profile.metrics]\nsink = \"emf\"\n", two("a", "b")),
                "profile[1].metrics.sink",
                vec!["per function"],
                Some(9),
            ),
            (
                format!("{}[profile.records]\nsinks = []\n", two("a", "b")),
                "config",
                vec!["sinks"],
                Some(9),
            ),
            (
                two("a", "b c"),
                "profile[1].name",
                vec!["\"b c\""],
                Some(6),
            ),
            (
                "[[profile]]\nname = \"a\"\nlog_groups = []\n".into(),
                "profile[0].log_groups",
                vec!["no log groups"],
                Some(3),
            ),
            (
                format!("{}[profile.multiline]\nmax_lines = 5\n", two("a", "b")),
                "profile[1].multiline",
                vec!["profile \"b\"", "nothing to join by"],
                Some(8),
            ),
        ];
        for (text, key, words, line) in cases {
            let e = CheckedConfig::from_toml(&text).unwrap_err();
            assert_eq!(e.key, key, "{text}\n{e}");
            for w in words {
                assert!(e.message.contains(w), "{w:?} not in {e}");
            }
            assert_eq!(e.line, line, "{text}\n{e}");
        }
    }

    #[test]
    fn without_profiles_nothing_is_chosen() {
        let cfg = CheckedConfig::default_config().unwrap();
        assert!(cfg.profiles.is_empty());
        assert!(cfg.profile_for("/ecs/api").is_none());
    }
}
