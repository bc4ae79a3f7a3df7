//! Looks up the tags behind a log group for `$tags.<key>`: the Lambda function's (for
//! `/aws/lambda/<name>`, through the Resource Groups Tagging API's `GetResources`) and the log
//! group's own (`logs:ListTagsForResource`), the log group's winning on a shared key. A cache per
//! execution environment with a time to live and a size bound; at most one lookup in flight per
//! log group; a failed, throttled or slow lookup keeps the older tags (or none) and never fails
//! the batch nor holds it past the time budget. Every outcome is counted (`tags.*`).
//!
//! <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_ListTagsForResource.html>
//! <https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html>

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use logsieve::counter_keys as ck;
use logsieve::record::Tags;
use logsieve::sink::SinkError;
use logsieve::stats::Counters;

use crate::map_sdk_error;

/// Seconds a looked-up tag set is used before it is looked up again (default 300).
pub const ENV_TAGS_TTL_SECONDS: &str = "LOGSIEVE_TAGS_TTL_SECONDS";
/// Longest an invocation waits for tag lookups, in milliseconds (default 300).
pub const ENV_TAGS_BUDGET_MS: &str = "LOGSIEVE_TAGS_BUDGET_MS";
/// Log groups whose tags are cached (default 1000); the least recently used is forgotten.
pub const ENV_TAGS_MAX_ENTRIES: &str = "LOGSIEVE_TAGS_MAX_ENTRIES";

/// One call's limit: a lookup still running after it is abandoned (and counted as an error by
/// the next invocation that needs it), so a frozen environment cannot leave it pending forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failed or throttled lookup, the tags kept (or none) are used this long before the
/// next attempt, so a throttled API is not asked again by every invocation.
const FAILURE_BACKOFF: Duration = Duration::from_secs(30);

/// The cache's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagSettings {
    pub ttl: Duration,
    pub budget: Duration,
    pub max_entries: usize,
}

impl Default for TagSettings {
    fn default() -> Self {
        TagSettings {
            ttl: Duration::from_secs(300),
            budget: Duration::from_millis(300),
            max_entries: 1000,
        }
    }
}

impl TagSettings {
    /// From any variable lookup; an unreadable value keeps the default.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> TagSettings {
        let d = TagSettings::default();
        let num = |name: &str| var(name).and_then(|v| v.trim().parse::<u64>().ok());
        TagSettings {
            ttl: num(ENV_TAGS_TTL_SECONDS).map_or(d.ttl, Duration::from_secs),
            budget: num(ENV_TAGS_BUDGET_MS).map_or(d.budget, Duration::from_millis),
            max_entries: num(ENV_TAGS_MAX_ENTRIES)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(d.max_entries),
        }
    }
}

/// Whether the configuration reads any `$tags.<key>`, at the top level or in a profile:
/// without one, no lookup is made (and no permission is needed).
pub fn config_uses_tags(config: &logsieve::config::CheckedConfig) -> bool {
    use logsieve::metrics::DimensionSource;
    config.metrics.rules.iter().any(|r| {
        r.dimensions()
            .any(|(_, s)| matches!(s, DimensionSource::Tag(_)))
    }) || config.traces.uses_tags()
        || config.fields.uses_tags()
        || config.profiles.iter().any(|p| config_uses_tags(&p.config))
        || config.record_sinks.sinks.iter().any(|s| match &s.target {
            logsieve::records::SinkTarget::Otlp(t) => t
                .resource
                .attributes
                .iter()
                .any(|(_, v)| matches!(v, logsieve::records::AttributeValue::Tag(_))),
            _ => false,
        })
}

/// Whether the selected records read a tag (`[fields] add`, at the top level or in a profile):
/// what a function that only outputs records (firehose-filter) needs tags for.
pub fn fields_use_tags(config: &logsieve::config::CheckedConfig) -> bool {
    config.fields.uses_tags() || config.profiles.iter().any(|p| fields_use_tags(&p.config))
}

/// Why a lookup gave no tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Throttled,
    Error,
}

type Lookup = Shared<BoxFuture<'static, Result<Arc<Tags>, Failure>>>;

struct Entry {
    /// The last tags looked up successfully; `None` until one succeeds.
    tags: Option<Arc<Tags>>,
    /// Until when `tags` (or their absence after a failure) is used without a lookup.
    good_until: Instant,
    last_used: Instant,
    pending: Option<Lookup>,
}

/// The two clients the lookups use.
#[derive(Debug, Clone)]
pub struct TagClients {
    logs: aws_sdk_cloudwatchlogs::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    /// `aws`, `aws-cn` or `aws-us-gov`, and the region, for the ARNs.
    partition: &'static str,
    region: String,
}

impl TagClients {
    /// One attempt per call within [`CALL_TIMEOUT`]: a throttled call is retried after the back-off,
    /// not by the SDK while a batch waits. Endpoints as for every SDK
    /// (`AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, `AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API`).
    pub fn from_conf(shared: &aws_config::SdkConfig) -> TagClients {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CALL_TIMEOUT)
            .operation_timeout(CALL_TIMEOUT)
            .build();
        let retries = RetryConfig::standard().with_max_attempts(1);
        let logs = aws_sdk_cloudwatchlogs::config::Builder::from(shared)
            .timeout_config(timeouts.clone())
            .retry_config(retries.clone())
            .build();
        let tagging = aws_sdk_resourcegroupstagging::config::Builder::from(shared)
            .timeout_config(timeouts)
            .retry_config(retries)
            .build();
        let region = shared.region().map(|r| r.to_string()).unwrap_or_default();
        TagClients {
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(tagging),
            partition: partition(&region),
            region,
        }
    }

    /// Both resources' tags, merged (the log group's win on a shared key).
    async fn lookup(self, owner: String, log_group: String) -> Result<Arc<Tags>, Failure> {
        let (p, region) = (self.partition, self.region.as_str());
        let group_arn = format!("arn:{p}:logs:{region}:{owner}:log-group:{log_group}");
        let function_arn = lambda_function(&log_group)
            .map(|f| format!("arn:{p}:lambda:{region}:{owner}:function:{f}"));
        let group = async {
            match self
                .logs
                .list_tags_for_resource()
                .resource_arn(&group_arn)
                .send()
                .await
            {
                Ok(out) => Ok(out.tags.unwrap_or_default()),
                // A deleted log group has no tags; that is an answer, not a failure.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    Ok(HashMap::new())
                }
                Err(e) => Err(failure(&map_sdk_error(&e))),
            }
        };
        let function = async {
            let Some(arn) = &function_arn else {
                return Ok(Vec::new());
            };
            match self
                .tagging
                .get_resources()
                .resource_arn_list(arn)
                .send()
                .await
            {
                // Untagged resources are not listed: no mapping means no tags.
                Ok(out) => Ok(out
                    .resource_tag_mapping_list
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|m| m.tags.unwrap_or_default())
                    .map(|t| (t.key, t.value))
                    .collect()),
                Err(e) => Err(failure(&map_sdk_error(&e))),
            }
        };
        let (group, function) = futures_util::future::join(group, function).await;
        let mut tags: Tags = function?.into_iter().collect();
        tags.extend(group?);
        Ok(Arc::new(tags))
    }
}

fn failure(e: &SinkError) -> Failure {
    match e {
        SinkError::Throttled => Failure::Throttled,
        _ => Failure::Error,
    }
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The function of a `/aws/lambda/<name>` log group.
fn lambda_function(log_group: &str) -> Option<&str> {
    log_group
        .strip_prefix("/aws/lambda/")
        .filter(|f| !f.is_empty() && !f.contains('/'))
}

/// The tags of each log group seen by this execution environment.
pub struct TagCache {
    clients: TagClients,
    settings: TagSettings,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

/// What one log group's tags became in one invocation, before counting.
enum Outcome {
    Hit,
    Fresh { first: bool },
    Failed(Failure),
    TimedOut,
}

impl TagCache {
    /// With the default config chain (credentials, region, endpoints).
    pub async fn load(settings: TagSettings) -> TagCache {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        TagCache::new(TagClients::from_conf(&shared), settings)
    }

    pub fn new(clients: TagClients, settings: TagSettings) -> TagCache {
        TagCache {
            clients,
            settings,
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The tags for the batches of a decoded event that the driver will process
    /// ([`logsieve::driver::tag_lookups`]: not the function's own log group, not a redelivery
    /// `recent` holds), within the budget, as [`TagCache::tags_for`]. Every function calls this
    /// between `decode` and `drive_decoded`; `recent` is unlocked before the lookups wait.
    pub async fn tags_for_event(
        &self,
        decoded: &logsieve::decode::Decoded,
        own_log_group: Option<&str>,
        recent: Option<&Mutex<logsieve::dedup::RecentBatches>>,
        counters: &mut Counters,
    ) -> BTreeMap<String, Arc<Tags>> {
        let groups = {
            let recent = recent.map(|r| r.lock().unwrap_or_else(|p| p.into_inner()));
            logsieve::driver::tag_lookups(decoded, own_log_group, recent.as_deref())
        };
        let waited = Instant::now();
        let tags = self.tags_for(groups, counters).await;
        tracing::debug!(
            tags_wait_ms = waited.elapsed().as_millis() as u64,
            "tags looked up"
        );
        tags
    }

    /// [`TagCache::tags_for_event`] when the function has a cache (its configuration reads a
    /// tag), else `None`: the one line each function's handler calls.
    pub async fn maybe_for_event(
        cache: Option<&TagCache>,
        decoded: &logsieve::decode::Decoded,
        own_log_group: Option<&str>,
        recent: Option<&Mutex<logsieve::dedup::RecentBatches>>,
        counters: &mut Counters,
    ) -> Option<BTreeMap<String, Arc<Tags>>> {
        match cache {
            Some(cache) => Some(
                cache
                    .tags_for_event(decoded, own_log_group, recent, counters)
                    .await,
            ),
            None => None,
        }
    }

    /// The tags of each `(owner, log group)`, waiting at most the budget for lookups. Never
    /// fails: a log group without an answer is absent from the map, or has its older tags.
    pub async fn tags_for(
        &self,
        groups: impl IntoIterator<Item = (String, String)>,
        counters: &mut Counters,
    ) -> BTreeMap<String, Arc<Tags>> {
        let now = Instant::now();
        let deadline = tokio::time::Instant::from_std(now + self.settings.budget);
        let mut waiting: Vec<(String, bool, bool, Lookup)> = Vec::new();
        let mut out = BTreeMap::new();
        for (owner, group) in groups {
            if out.contains_key(&group) || waiting.iter().any(|(g, ..)| *g == group) {
                continue;
            }
            let mut entries = self.lock();
            if !entries.contains_key(&group) {
                self.make_room(&mut entries);
            }
            let entry = entries.entry(group.clone()).or_insert_with(|| Entry {
                tags: None,
                good_until: now,
                last_used: now,
                pending: None,
            });
            entry.last_used = now;
            let first = entry.tags.is_none();
            if entry.pending.is_none() && entry.good_until > now {
                count(Outcome::Hit, false, counters);
                if let Some(t) = &entry.tags {
                    out.insert(group, Arc::clone(t));
                }
                continue;
            }
            // One lookup per log group: a lookup still running from an earlier invocation (it
            // ran past that one's budget) is waited for, not started again.
            let lookup = match &entry.pending {
                Some(p) => p.clone(),
                None => {
                    let p = self.start(owner, group.clone());
                    entry.pending = Some(p.clone());
                    p
                }
            };
            waiting.push((group, first, entry.tags.is_some(), lookup));
        }
        for (group, first, had_tags, lookup) in waiting {
            let outcome = match tokio::time::timeout_at(deadline, lookup).await {
                Ok(Ok(_)) => Outcome::Fresh { first },
                Ok(Err(f)) => Outcome::Failed(f),
                Err(_) => Outcome::TimedOut,
            };
            count(outcome, had_tags, counters);
            if let Some(t) = self.lock().get(&group).and_then(|e| e.tags.clone()) {
                out.insert(group, t);
            }
        }
        out
    }

    /// Starts a lookup that runs to its end (even after the invocation stopped waiting) and
    /// records its result in the cache.
    fn start(&self, owner: String, group: String) -> Lookup {
        let entries = Arc::clone(&self.entries);
        let clients = self.clients.clone();
        let ttl = self.settings.ttl;
        let key = group.clone();
        let lookup = async move {
            let result = clients.lookup(owner, group).await;
            let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
            // Forgotten meanwhile (the cache was full): nothing to record.
            if let Some(e) = entries.get_mut(&key) {
                e.pending = None;
                match &result {
                    Ok(tags) => {
                        e.tags = Some(Arc::clone(tags));
                        e.good_until = Instant::now() + ttl;
                    }
                    Err(_) => e.good_until = Instant::now() + FAILURE_BACKOFF.min(ttl),
                }
            }
            result
        }
        .boxed()
        .shared();
        tokio::spawn(lookup.clone());
        lookup
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the least recently used log group when the cache is full.
    fn make_room(&self, entries: &mut HashMap<String, Entry>) {
        if entries.len() < self.settings.max_entries {
            return;
        }
        let oldest = entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            entries.remove(&k);
        }
    }
}

fn count(outcome: Outcome, had_tags: bool, counters: &mut Counters) {
    match outcome {
        Outcome::Hit => counters.incr(ck::tags::HIT),
        Outcome::Fresh { first: true } => counters.incr(ck::tags::MISS),
        Outcome::Fresh { first: false } => counters.incr(ck::tags::REFRESHED),
        Outcome::Failed(f) => {
            counters.incr(match f {
                Failure::Throttled => ck::tags::THROTTLED,
                Failure::Error => ck::tags::ERROR,
            });
            if had_tags {
                counters.incr(ck::tags::STALE_KEPT);
            }
        }
        Outcome::TimedOut => {
            counters.incr(ck::tags::TIMED_OUT);
            if had_tags {
                counters.incr(ck::tags::STALE_KEPT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            TagSettings::from_lookup(move |k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(env(&[]), TagSettings::default());
        let s = env(&[
            (ENV_TAGS_TTL_SECONDS, "60"),
            (ENV_TAGS_BUDGET_MS, "50"),
            (ENV_TAGS_MAX_ENTRIES, "0"),
        ]);
        assert_eq!(s.ttl, Duration::from_secs(60));
        assert_eq!(s.budget, Duration::from_millis(50));
        assert_eq!(s.max_entries, TagSettings::default().max_entries);
    }

    #[test]
    fn lookups_only_when_the_config_reads_a_tag() {
        let uses = |toml: &str| {
            config_uses_tags(&logsieve::config::CheckedConfig::from_toml(toml).unwrap())
        };
        assert!(!uses(
            "[[metrics.rule]]\nmetric_name = \"E\"\ndimensions = { S = \"$.service\" }\n"
        ));
        assert!(uses(
            "[[metrics.rule]]\nmetric_name = \"E\"\ndimensions = { T = \"$tags.team\" }\n"
        ));
        assert!(uses("[traces]\nannotations = { team = \"$tags.team\" }\n"));
        assert!(uses(
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"https://c.example\"\n\
             resource_attributes = { team = \"$tags.team\" }\n"
        ));
        assert!(!uses(
            "[[records.sinks]]\nkind = \"otlp\"\nendpoint = \"https://c.example\"\n\
             resource_attributes = { env = \"prod\" }\n"
        ));
        assert!(uses("[fields]\nadd = { team = \"$tags.team\" }\n"));
        // A profile's sections are read for its log groups: its tags need the lookups too.
        let profile = |section: &str| {
            format!("[[profile]]\nname = \"api\"\nlog_groups = [\"/ecs/api\"]\n{section}")
        };
        assert!(uses(&profile(
            "[profile.fields]\nadd = { team = \"$tags.team\" }\n"
        )));
        assert!(uses(&profile(
            "[[profile.metrics.rule]]\nmetric_name = \"E\"\ndimensions = { T = \"$tags.team\" }\n"
        )));
        assert!(uses(&profile(
            "[profile.traces]\nannotations = { t = \"$tags.team\" }\n"
        )));
        assert!(!uses(&profile("[profile.fields]\nkeep = [\"message\"]\n")));
        // Only the records' own reads count for a function that outputs nothing else.
        let fields_use = |toml: &str| {
            fields_use_tags(&logsieve::config::CheckedConfig::from_toml(toml).unwrap())
        };
        assert!(fields_use("[fields]\nadd = { team = \"$tags.team\" }\n"));
        assert!(fields_use(&profile(
            "[profile.fields]\nadd = { t = \"$tags.team\" }\n"
        )));
        assert!(!fields_use(
            "[traces]\nannotations = { team = \"$tags.team\" }\n"
        ));
        assert!(!fields_use(&profile(
            "[[profile.metrics.rule]]\nmetric_name = \"E\"\ndimensions = { T = \"$tags.team\" }\n"
        )));
    }

    #[test]
    fn arns_per_partition() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(lambda_function("/aws/lambda/shop"), Some("shop"));
        assert_eq!(lambda_function("/aws/lambda/"), None);
        assert_eq!(lambda_function("/ecs/shop"), None);
    }
}
