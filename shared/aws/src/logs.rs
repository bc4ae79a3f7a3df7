//! Reading log groups back for the CLI's `replay` and `tail`: CloudWatch Logs `FilterLogEvents`
//! one page at a time, and a `StartLiveTail` session's updates, with SDK errors turned into one
//! line naming the call and the log group. The functions never call this.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream;

/// Attempts per FilterLogEvents page. Reads are idempotent, so every failure may be retried;
/// the adaptive mode also slows the client down when CloudWatch Logs throttles (the API's quota
/// is a few calls per second per account and Region, shared with every other reader).
pub const LOGS_MAX_ATTEMPTS: u32 = 8;

/// A page is up to 1 MB; a slow link or a busy emulator needs more than the sinks' 3 s.
const LOGS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most events FilterLogEvents returns in one page (its `limit` range is 1-10,000:
/// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html).
pub const MAX_PAGE_EVENTS: i32 = 10_000;

/// A failed CloudWatch Logs call, as one line: the call, the log group, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} on log group {group}: {detail}")]
pub struct LogsError {
    pub call: &'static str,
    pub group: String,
    pub detail: String,
}

impl LogsError {
    fn from_sdk<E, R>(call: &'static str, group: &str, e: &SdkError<E, R>) -> LogsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let detail = match e {
            SdkError::ServiceError(s) => {
                let err = s.err();
                match (err.code(), err.message()) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c.to_string(),
                    _ => causes(e),
                }
            }
            // The cause chain (no credentials, connection refused…), which the SDK's own Display
            // reduces to "dispatch failure".
            _ => causes(e),
        };
        LogsError {
            call,
            group: group.to_string(),
            detail: one_line(&detail),
        }
    }
}

/// An error and its sources, `: `-joined, each said once.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A CloudWatch Logs client for reading: the standard configuration chain (credentials, region,
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`) with adaptive retries.
pub fn logs_client(shared: &aws_config::SdkConfig) -> aws_sdk_cloudwatchlogs::Client {
    let conf = aws_sdk_cloudwatchlogs::config::Builder::from(shared)
        .retry_config(RetryConfig::adaptive().with_max_attempts(LOGS_MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(crate::CONNECT_TIMEOUT * 3)
                .operation_attempt_timeout(LOGS_ATTEMPT_TIMEOUT)
                .build(),
        )
        .interceptor(NoPrefixOnAddresses)
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(conf)
}

/// StartLiveTail's endpoint carries a host prefix (`stream-logs.<Region>.amazonaws.com`), which
/// the SDK also puts in front of a custom endpoint. In front of an IP address or `localhost` (an
/// emulator, a tunnel) that is a name that can never resolve, so there it is taken off again;
/// every other endpoint keeps the prefix the service asks for.
#[derive(Debug)]
struct NoPrefixOnAddresses;

impl aws_sdk_cloudwatchlogs::config::Intercept for NoPrefixOnAddresses {
    fn name(&self) -> &'static str {
        "logsieve: no host prefix on IP addresses and localhost"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_cloudwatchlogs::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_cloudwatchlogs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_cloudwatchlogs::config::ConfigBag,
    ) -> Result<(), aws_sdk_cloudwatchlogs::error::BoxError> {
        let request = context.request_mut();
        if let Some(uri) = without_prefix_on_address(request.uri()) {
            request.set_uri(uri)?;
        }
        Ok(())
    }
}

/// `http://stream-127.0.0.1:4566/x` → `http://127.0.0.1:4566/x`; `None` when nothing to take off.
fn without_prefix_on_address(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (prefix, host_port) = authority.split_once('-')?;
    if prefix.is_empty() || prefix.contains(['.', ':', '@', '[']) {
        return None;
    }
    let host = match host_port.strip_prefix('[') {
        Some(v6) => {
            return v6
                .contains(']')
                .then(|| format!("{scheme}://{host_port}{path}"))
        }
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    let is_address = host.parse::<std::net::Ipv4Addr>().is_ok() || host == "localhost";
    is_address.then(|| format!("{scheme}://{host_port}{path}"))
}

/// One log event as FilterLogEvents or Live Tail returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchedEvent {
    pub id: String,
    pub stream: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub message: String,
}

/// One FilterLogEvents request.
#[derive(Debug, Clone)]
pub struct FilterRequest<'a> {
    pub group: &'a str,
    /// Epoch ms, both inclusive as the API takes them.
    pub start_ms: i64,
    pub end_ms_inclusive: i64,
    pub pattern: Option<&'a str>,
    pub limit: i32,
    pub token: Option<String>,
}

/// One page: its events (in the API's order) and the token of the next one, if any.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub events: Vec<FetchedEvent>,
    pub next_token: Option<String>,
}

/// Reads one FilterLogEvents page. An event without a timestamp (the API always sends one) is
/// placed at the request's start, so it is still processed and counted.
pub async fn filter_page(
    client: &aws_sdk_cloudwatchlogs::Client,
    req: FilterRequest<'_>,
) -> Result<Page, LogsError> {
    let out = client
        .filter_log_events()
        .log_group_name(req.group)
        .start_time(req.start_ms)
        .end_time(req.end_ms_inclusive)
        .limit(req.limit.clamp(1, MAX_PAGE_EVENTS))
        .set_filter_pattern(req.pattern.filter(|p| !p.is_empty()).map(str::to_string))
        .set_next_token(req.token)
        .send()
        .await
        .map_err(|e| LogsError::from_sdk("FilterLogEvents", req.group, &e))?;
    let events = out
        .events()
        .iter()
        .map(|e| FetchedEvent {
            id: e.event_id().unwrap_or_default().to_string(),
            stream: e.log_stream_name().unwrap_or_default().to_string(),
            timestamp: e.timestamp().unwrap_or(req.start_ms),
            message: e.message().unwrap_or_default().to_string(),
        })
        .collect();
    Ok(Page {
        events,
        next_token: out.next_token().map(str::to_string),
    })
}

/// The ARN StartLiveTail takes for a log group given by name or ARN: `logGroupArn` (no trailing
/// `:*`, https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartLiveTail.html).
pub async fn log_group_arn(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
) -> Result<String, LogsError> {
    if group.starts_with("arn:") {
        return Ok(group.trim_end_matches(":*").to_string());
    }
    let out = client
        .describe_log_groups()
        .log_group_name_prefix(group)
        .send()
        .await
        .map_err(|e| LogsError::from_sdk("DescribeLogGroups", group, &e))?;
    let found = out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(group));
    let Some(g) = found else {
        return Err(LogsError {
            call: "DescribeLogGroups",
            group: group.to_string(),
            detail: "ResourceNotFoundException: no such log group".into(),
        });
    };
    g.log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
        .ok_or_else(|| LogsError {
            call: "DescribeLogGroups",
            group: group.to_string(),
            detail: "the log group has no ARN in the answer".into(),
        })
}

/// One Live Tail update: the events of about one second, per log group name.
#[derive(Debug, Clone, Default)]
pub struct LiveUpdate {
    pub events: Vec<(String, FetchedEvent)>,
    /// The service sent a sample only (more than 500 events in the second).
    pub sampled: bool,
}

/// An open Live Tail session.
pub struct LiveTail {
    session: aws_sdk_cloudwatchlogs::operation::start_live_tail::StartLiveTailOutput,
    /// ARN → the name the user gave.
    names: HashMap<String, String>,
    label: String,
}

impl LiveTail {
    /// Starts a session over `groups` (names or ARNs), optionally filtered by `pattern`.
    pub async fn start(
        client: &aws_sdk_cloudwatchlogs::Client,
        groups: &[String],
        pattern: Option<&str>,
    ) -> Result<LiveTail, LogsError> {
        let mut names = HashMap::new();
        let mut arns = Vec::new();
        for g in groups {
            let arn = log_group_arn(client, g).await?;
            names.insert(arn.clone(), g.clone());
            arns.push(arn);
        }
        let label = groups.join(",");
        let out = client
            .start_live_tail()
            .set_log_group_identifiers(Some(arns))
            .set_log_event_filter_pattern(pattern.filter(|p| !p.is_empty()).map(str::to_string))
            .send()
            .await
            .map_err(|e| LogsError::from_sdk("StartLiveTail", &label, &e))?;
        Ok(LiveTail {
            session: out,
            names,
            label,
        })
    }

    /// The next update with events; `None` when the service ended the session.
    pub async fn next(&mut self) -> Result<Option<LiveUpdate>, LogsError> {
        loop {
            let frame = self
                .session
                .response_stream
                .recv()
                .await
                .map_err(|e| LogsError::from_sdk("StartLiveTail", &self.label, &e))?;
            let update = match frame {
                None => return Ok(None),
                Some(StartLiveTailResponseStream::SessionUpdate(u)) => u,
                // sessionStart and frames of a newer model carry no events.
                Some(_) => continue,
            };
            let events = update
                .session_results()
                .iter()
                .map(|e| {
                    let arn = e.log_group_identifier().unwrap_or_default();
                    let group = self
                        .names
                        .get(arn)
                        .cloned()
                        .unwrap_or_else(|| group_name_of(arn).to_string());
                    let event = FetchedEvent {
                        id: String::new(),
                        stream: e.log_stream_name().unwrap_or_default().to_string(),
                        timestamp: e.timestamp().unwrap_or_default(),
                        message: e.message().unwrap_or_default().to_string(),
                    };
                    (group, event)
                })
                .collect();
            let sampled = update.session_metadata().is_some_and(|m| m.sampled());
            return Ok(Some(LiveUpdate { events, sampled }));
        }
    }
}

/// The name in a log group ARN (`arn:aws:logs:R:A:log-group:NAME`, optionally `:*`).
pub fn group_name_of(arn: &str) -> &str {
    let arn = arn.trim_end_matches(":*");
    match arn.find(":log-group:") {
        Some(i) => &arn[i + ":log-group:".len()..],
        None => arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_from_arns() {
        let cases = [
            (
                "arn:aws:logs:us-east-1:123:log-group:/aws/lambda/f",
                "/aws/lambda/f",
            ),
            ("arn:aws:logs:us-east-1:123:log-group:/a:b:*", "/a:b"),
            ("/plain/name", "/plain/name"),
        ];
        for (arn, name) in cases {
            assert_eq!(group_name_of(arn), name, "{arn}");
        }
    }

    #[test]
    fn host_prefixes_come_off_addresses_only() {
        let cases = [
            (
                "http://stream-127.0.0.1:4566/",
                Some("http://127.0.0.1:4566/"),
            ),
            (
                "http://stream-localhost:4566",
                Some("http://localhost:4566"),
            ),
            ("http://stream-[::1]:4566/a", Some("http://[::1]:4566/a")),
            ("https://stream-logs.us-east-1.amazonaws.com/", None),
            ("http://127.0.0.1:4566/", None),
            ("http://my-host.internal:80/", None),
            ("http://a.b-127.0.0.1/", None),
        ];
        for (uri, want) in cases {
            assert_eq!(without_prefix_on_address(uri).as_deref(), want, "{uri}");
        }
    }

    #[test]
    fn errors_are_one_line_naming_call_and_group() {
        let e = LogsError {
            call: "FilterLogEvents",
            group: "/g".into(),
            detail: one_line("dispatch failure:\n  no credentials"),
        };
        assert_eq!(
            e.to_string(),
            "FilterLogEvents on log group /g: dispatch failure: no credentials"
        );
    }
}
