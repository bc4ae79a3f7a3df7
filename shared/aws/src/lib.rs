//! The AWS SDK side of the sinks: `logsieve::sink::{MetricSink, TraceSink}` over
//! aws-sdk-cloudwatch PutMetricData and aws-sdk-xray PutTraceSegments, with SDK errors mapped to
//! `SinkError` and every call of an invocation bounded by one [`Deadline`].
//!
//! Clients are built once per execution environment (`AwsClients::load`) and reused; each
//! invocation borrows them through cheap views that carry its deadline (`AwsClients::sinks`).

pub mod lambda;
#[cfg(feature = "logs")]
pub mod logs;
pub mod records;
pub mod tags;

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::config::interceptors::InterceptorContext;
use aws_sdk_cloudwatch::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum as CwDatum, StandardUnit};

use logsieve::metrics::{MetricDatum, MetricSinkKind, PutMetricDataRequest, Resolution, Unit};
use logsieve::pipeline::Output;
use logsieve::record::scalar_to_string;
use logsieve::sink::{
    emit, EmitOptions, EmitReport, MetricSink, MetricTarget, SinkError, TraceSink, TraceTarget,
    Unprocessed, DEFAULT_METRIC_CONCURRENCY,
};
use logsieve::trace::{Segment, TraceSinkKind};

/// Time kept back from Lambda's deadline for what follows the calls: writing the EMF fallback
/// and the summary line, and returning to the Runtime API before Lambda kills us.
pub const DEADLINE_SAFETY_MARGIN: Duration = Duration::from_millis(750);

/// Upper bound on one HTTP attempt, so a hung connection leaves room for another attempt (X-Ray)
/// or the EMF fallback (CloudWatch) inside the deadline instead of eating all of it.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// Upper bound on opening a connection. A regional endpoint answers in milliseconds from Lambda;
/// a dead one should cost a second, not the SDK's default of several.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Attempts per call, the first included. Backoff starts small and stays small: the deadline is
/// seconds away and the fallback (EMF, idempotent segments) is always there, so waiting long for
/// a retry buys nothing. With a dead endpoint a call gives up in ~`CONNECT_TIMEOUT` x attempts
/// plus at most `MAX_BACKOFF` x (attempts - 1), well inside any function's timeout.
pub const MAX_ATTEMPTS: u32 = 3;
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Budget when the caller knows no deadline (CLI, tests).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

/// The one deadline of an invocation: Lambda's deadline minus [`DEADLINE_SAFETY_MARGIN`]. Every
/// sink call of the invocation runs under it: once it has passed, no new call starts (the call
/// answers [`SinkError::DeadlinePassed`] at once and its data takes the fallback path), and a call
/// in flight is cut at it. Lambda therefore never times the invocation out and never retries an
/// event whose datums were already sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(tokio::time::Instant);

impl Deadline {
    /// From Lambda's `Lambda-Runtime-Deadline-Ms` (epoch ms) and the wall clock now (epoch ms).
    pub fn from_epoch_ms(deadline_ms: u64, now_ms: u64) -> Deadline {
        Deadline::after(budget_until(deadline_ms, now_ms))
    }

    /// `budget` from now (the CLI and tests, where no Lambda deadline exists).
    pub fn after(budget: Duration) -> Deadline {
        Deadline(tokio::time::Instant::now() + budget)
    }

    /// Lambda's deadline, or [`DEFAULT_BUDGET`] from now when there is none.
    pub fn for_invocation(deadline_ms: Option<u64>) -> Deadline {
        match deadline_ms {
            Some(d) => Deadline::from_epoch_ms(d, now_ms()),
            None => Deadline::after(DEFAULT_BUDGET),
        }
    }

    pub fn instant(&self) -> std::time::Instant {
        self.0.into_std()
    }

    /// Until when the pipeline may work on the event: half the time left, so that at least the
    /// other half stays for the sink calls (a stalling batch stops, counts what it skipped and
    /// still sends what it derived).
    pub fn processing_cutoff(&self) -> std::time::Instant {
        let now = tokio::time::Instant::now();
        let left = self.0.saturating_duration_since(now);
        (now + left / 2).into_std()
    }

    pub fn passed(&self) -> bool {
        tokio::time::Instant::now() >= self.0
    }

    /// The same deadline `by` sooner (a stage that must leave time for the next one).
    pub fn earlier_by(&self, by: Duration) -> Deadline {
        let now = tokio::time::Instant::now();
        Deadline(self.0.checked_sub(by).unwrap_or(now).max(now))
    }

    /// Time left before it.
    pub fn remaining(&self) -> Duration {
        self.0
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Sleeps `wait` when that ends before the deadline and answers true; answers false at
    /// once otherwise (a retry that could not start in time is not waited for).
    pub async fn sleep(&self, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        if until >= self.0 {
            return false;
        }
        tokio::time::sleep_until(until).await;
        true
    }

    /// Runs one sink call under the deadline: refused without starting once the deadline has
    /// passed, dropped (and the connection with it) when the deadline comes mid-call.
    pub async fn bound<T, F>(&self, call: F) -> Result<T, SinkError>
    where
        F: Future<Output = Result<T, SinkError>>,
    {
        if self.passed() {
            return Err(SinkError::DeadlinePassed);
        }
        match tokio::time::timeout_at(self.0, call).await {
            Err(_) => Err(SinkError::Timeout),
            Ok(result) => result,
        }
    }
}

/// PutMetricData is not idempotent: CloudWatch adds a datum every time it receives it. A timed-out
/// attempt, or one whose response was lost, may have been recorded, so retrying it could count
/// its datums twice. Such failures are not retried; the request takes the EMF fallback instead
/// (which may at worst duplicate, never lose). Failures that prove the request was not recorded
/// (throttling, 5xx, a refused connection) keep the SDK's standard retries.
#[derive(Debug)]
struct NoRetryWhenFateUnknown;

impl ClassifyRetry for NoRetryWhenFateUnknown {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e))
                if e.is_timeout_error()
                    || e.is_response_error()
                    || e.as_connector_error().is_some_and(|c| c.is_timeout()) =>
            {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "logsieve: no retry when the request's fate is unknown"
    }
}

/// Every SDK client's timeouts: see [`CONNECT_TIMEOUT`] and [`ATTEMPT_TIMEOUT`].
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

/// Every SDK client's retries: see [`MAX_ATTEMPTS`].
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The SDK clients of one execution environment.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub xray: aws_sdk_xray::Client,
}

impl AwsClients {
    /// Loads the default config chain (credentials, region, `AWS_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_CLOUDWATCH`, `AWS_ENDPOINT_URL_XRAY`) with our timeouts and retries.
    pub async fn load() -> AwsClients {
        let shared = aws_config::load_defaults(BehaviorVersion::latest()).await;
        AwsClients::from_conf(&shared)
    }

    pub fn from_conf(shared: &aws_config::SdkConfig) -> AwsClients {
        let timeouts = timeouts();
        let retries = retries();
        let cw = aws_sdk_cloudwatch::config::Builder::from(shared)
            .timeout_config(timeouts.clone())
            .retry_config(retries.clone())
            .retry_classifier(NoRetryWhenFateUnknown)
            .build();
        // Segment documents are idempotent (deterministic ids): X-Ray keeps every standard retry.
        let xr = aws_sdk_xray::config::Builder::from(shared)
            .timeout_config(timeouts)
            .retry_config(retries)
            .build();
        AwsClients {
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cw),
            xray: aws_sdk_xray::Client::from_conf(xr),
        }
    }

    /// Sinks whose every call runs under `deadline`.
    pub fn sinks(&self, deadline: Deadline) -> (CloudWatchSink, XrayTraceSink) {
        (
            CloudWatchSink {
                client: self.cloudwatch.clone(),
                deadline,
            },
            XrayTraceSink {
                client: self.xray.clone(),
                deadline,
            },
        )
    }
}

/// The configured sinks of one execution environment, shared by every function: which targets
/// the config asks for, and the SDK clients when one of them calls AWS.
#[derive(Debug)]
pub struct Emitter {
    metrics: MetricSinkKind,
    traces: TraceSinkKind,
    clients: Option<AwsClients>,
    records: Option<records::RecordShipper>,
}

impl Emitter {
    /// Every sink of the configuration: metrics, traces and the records sinks. SDK clients are
    /// built only when a sink calls AWS (`emf`/`none` need no credentials).
    pub async fn for_config(config: &logsieve::config::CheckedConfig) -> Emitter {
        let (metrics, traces) = (config.metrics.sink, config.traces.sink);
        let sinks = &config.record_sinks;
        let needs_aws = metrics == MetricSinkKind::Cloudwatch
            || traces == TraceSinkKind::Xray
            || !sinks.is_empty();
        if !needs_aws {
            return Emitter::with_clients(metrics, traces, None);
        }
        let shared = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Emitter::with_config(config, &shared)
    }

    /// [`Emitter::for_config`] with an SDK configuration built by the caller (tests point it at
    /// a local server).
    pub fn with_config(
        config: &logsieve::config::CheckedConfig,
        shared: &aws_config::SdkConfig,
    ) -> Emitter {
        let (metrics, traces) = (config.metrics.sink, config.traces.sink);
        let clients = (metrics == MetricSinkKind::Cloudwatch || traces == TraceSinkKind::Xray)
            .then(|| AwsClients::from_conf(shared));
        let mut emitter = Emitter::with_clients(metrics, traces, clients);
        if !config.record_sinks.is_empty() {
            emitter.records = Some(records::RecordShipper::new(
                config.record_sinks.clone(),
                shared,
            ));
        }
        emitter
    }

    /// With clients built by the caller (tests point them at a local server).
    pub fn with_clients(
        metrics: MetricSinkKind,
        traces: TraceSinkKind,
        clients: Option<AwsClients>,
    ) -> Emitter {
        Emitter {
            metrics,
            traces,
            clients,
            records: None,
        }
    }

    /// True when records sinks are configured (the pipeline must then output records).
    pub fn ships_records(&self) -> bool {
        self.records.is_some()
    }

    /// Sends one invocation's output under its deadline; EMF lines (the `emf` sink, or the
    /// fallback for failed PutMetricData requests) are appended to `emf` for the caller to write
    /// to stdout in one piece. Metrics, segments and records go at the same time.
    pub async fn emit(&self, output: &Output, deadline: Deadline, emf: &mut Vec<u8>) -> EmitReport {
        let (cw, xray) = match &self.clients {
            Some(c) => {
                let (cw, xr) = c.sinks(deadline);
                (Some(cw), Some(xr))
            }
            None => (None, None),
        };
        let metrics: MetricTarget<'_, CloudWatchSink> = match (self.metrics, cw.as_ref()) {
            (MetricSinkKind::Cloudwatch, Some(s)) => MetricTarget::Api(s),
            (MetricSinkKind::Emf, _) => MetricTarget::Emf,
            _ => MetricTarget::Discard,
        };
        let traces: TraceTarget<'_, XrayTraceSink> = match (self.traces, xray.as_ref()) {
            (TraceSinkKind::Xray, Some(s)) => TraceTarget::Api(s),
            _ => TraceTarget::Discard,
        };
        let options = EmitOptions {
            metric_concurrency: DEFAULT_METRIC_CONCURRENCY,
            now_ms: now_ms() as i64,
        };
        let ship = async {
            match &self.records {
                Some(r) => r.ship(output, deadline).await,
                None => records::RecordsReport::default(),
            }
        };
        let (mut report, shipped) = tokio::join!(
            emit(
                metrics,
                traces,
                &output.metrics,
                &output.segments,
                emf,
                options,
            ),
            ship
        );
        report.records_sent = shipped.sent;
        report.records_spilled = shipped.spilled;
        report.records_lost = shipped.lost;
        report.counters.merge(&shipped.counters);
        report
    }
}

/// Writes EMF lines to stdout in one piece, so Lambda's log capture takes them whole and not
/// interleaved with log lines. A broken stdout is logged, never fatal.
pub fn write_stdout(bytes: &[u8]) {
    use std::io::Write;
    if bytes.is_empty() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        tracing::error!(error = %e, "cannot write to stdout");
    }
}

/// Wall-clock epoch milliseconds (sinks need "now" for retention and budgets).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Time left until `deadline_ms`, minus the safety margin; zero when already past it.
pub fn budget_until(deadline_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(DEADLINE_SAFETY_MARGIN)
}

/// PutMetricData through aws-sdk-cloudwatch.
#[derive(Debug, Clone)]
pub struct CloudWatchSink {
    client: aws_sdk_cloudwatch::Client,
    deadline: Deadline,
}

impl MetricSink for CloudWatchSink {
    async fn put_metric_data(&self, request: &PutMetricDataRequest) -> Result<(), SinkError> {
        self.deadline
            .bound(async {
                self.client
                    .put_metric_data()
                    .namespace(&request.namespace)
                    .set_metric_data(Some(request.datums.iter().map(to_sdk_datum).collect()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| map_sdk_error(&e))
            })
            .await
    }
}

/// The SDK's `StandardUnit` for ours. Spelled out (not through the SDK's `From<&str>`, which
/// accepts any text as `Unknown`) so a unit the SDK does not know cannot compile silently.
pub fn standard_unit(u: Unit) -> StandardUnit {
    match u {
        Unit::Seconds => StandardUnit::Seconds,
        Unit::Microseconds => StandardUnit::Microseconds,
        Unit::Milliseconds => StandardUnit::Milliseconds,
        Unit::Bytes => StandardUnit::Bytes,
        Unit::Kilobytes => StandardUnit::Kilobytes,
        Unit::Megabytes => StandardUnit::Megabytes,
        Unit::Gigabytes => StandardUnit::Gigabytes,
        Unit::Terabytes => StandardUnit::Terabytes,
        Unit::Bits => StandardUnit::Bits,
        Unit::Kilobits => StandardUnit::Kilobits,
        Unit::Megabits => StandardUnit::Megabits,
        Unit::Gigabits => StandardUnit::Gigabits,
        Unit::Terabits => StandardUnit::Terabits,
        Unit::Percent => StandardUnit::Percent,
        Unit::Count => StandardUnit::Count,
        Unit::BytesPerSecond => StandardUnit::BytesSecond,
        Unit::KilobytesPerSecond => StandardUnit::KilobytesSecond,
        Unit::MegabytesPerSecond => StandardUnit::MegabytesSecond,
        Unit::GigabytesPerSecond => StandardUnit::GigabytesSecond,
        Unit::TerabytesPerSecond => StandardUnit::TerabytesSecond,
        Unit::BitsPerSecond => StandardUnit::BitsSecond,
        Unit::KilobitsPerSecond => StandardUnit::KilobitsSecond,
        Unit::MegabitsPerSecond => StandardUnit::MegabitsSecond,
        Unit::GigabitsPerSecond => StandardUnit::GigabitsSecond,
        Unit::TerabitsPerSecond => StandardUnit::TerabitsSecond,
        Unit::CountPerSecond => StandardUnit::CountSecond,
        Unit::None => StandardUnit::None,
    }
}

/// `StorageResolution` as the API takes it: 1 (high) or 60 (standard) seconds.
pub fn storage_resolution(r: Resolution) -> i32 {
    match r {
        Resolution::High => 1,
        Resolution::Standard => 60,
    }
}

/// One of our datums in the SDK's shape. The encoder already enforced every request limit.
pub fn to_sdk_datum(d: &MetricDatum) -> CwDatum {
    let dimensions = d
        .dimensions
        .iter()
        .map(|(name, value)| {
            Dimension::builder()
                .name(name)
                .value(scalar_to_string(value).unwrap_or_else(|| value.to_string()))
                .build()
        })
        .collect();
    CwDatum::builder()
        .metric_name(&d.metric_name)
        .set_dimensions(Some(dimensions))
        .unit(standard_unit(d.unit))
        .timestamp(DateTime::from_millis(d.timestamp))
        .storage_resolution(storage_resolution(d.storage_resolution))
        .set_values(Some(d.values.clone()))
        .set_counts((!d.counts.is_empty()).then(|| d.counts.clone()))
        .build()
}

/// PutTraceSegments through aws-sdk-xray.
#[derive(Debug, Clone)]
pub struct XrayTraceSink {
    client: aws_sdk_xray::Client,
    deadline: Deadline,
}

impl TraceSink for XrayTraceSink {
    async fn put_trace_segments(
        &self,
        segments: &[&Segment],
    ) -> Result<Vec<Unprocessed>, SinkError> {
        let docs = segments.iter().map(|s| s.document.clone()).collect();
        self.deadline
            .bound(async {
                let out = self
                    .client
                    .put_trace_segments()
                    .set_trace_segment_documents(Some(docs))
                    .send()
                    .await
                    .map_err(|e| map_sdk_error(&e))?;
                Ok(out
                    .unprocessed_trace_segments()
                    .iter()
                    .map(|u| Unprocessed {
                        id: u.id().unwrap_or_default().to_string(),
                        error_code: u.error_code().map(str::to_string),
                        message: u.message().map(str::to_string),
                    })
                    .collect())
            })
            .await
    }
}

/// Error codes AWS services use for throttling (CloudWatch `Throttling`, X-Ray
/// `ThrottledException`, the generic ones).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// Maps an SDK error (after the SDK's retries) to the sink's error kinds.
pub fn map_sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> SinkError {
    match e {
        SdkError::TimeoutError(_) => SinkError::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => SinkError::Timeout,
        SdkError::DispatchFailure(d) => SinkError::Network(format!("{:?}", d.as_connector_error())),
        SdkError::ConstructionFailure(_) => {
            SinkError::Rejected(format!("request not built: {e:?}"))
        }
        SdkError::ResponseError(r) => {
            classify(r.raw().status().as_u16(), None, "unreadable response")
        }
        SdkError::ServiceError(s) => {
            let code = s.err().code();
            let message = s.err().message().unwrap_or("");
            classify(s.raw().status().as_u16(), code, message)
        }
        _ => SinkError::Network(e.to_string()),
    }
}

fn classify(status: u16, code: Option<&str>, message: &str) -> SinkError {
    if code.is_some_and(|c| THROTTLING_CODES.contains(&c)) || status == 429 {
        return SinkError::Throttled;
    }
    if status >= 500 {
        return SinkError::Server(status);
    }
    SinkError::Rejected(format!("{}: {message}", code.unwrap_or("HTTP error")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_the_safety_margin() {
        let cases = [
            (
                10_000,
                0,
                Duration::from_millis(10_000) - DEADLINE_SAFETY_MARGIN,
            ),
            (1_000, 900, Duration::ZERO),
            (1_000, 2_000, Duration::ZERO),
            (u64::MAX, u64::MAX, Duration::ZERO),
        ];
        for (deadline, now, expected) in cases {
            assert_eq!(budget_until(deadline, now), expected, "{deadline} {now}");
        }
    }

    #[test]
    fn classify_statuses_and_codes() {
        let cases: Vec<(u16, Option<&str>, SinkError)> = vec![
            (400, Some("Throttling"), SinkError::Throttled),
            (400, Some("ThrottledException"), SinkError::Throttled),
            (429, None, SinkError::Throttled),
            (500, Some("InternalServiceError"), SinkError::Server(500)),
            (503, None, SinkError::Server(503)),
            (
                400,
                Some("InvalidParameterValue"),
                SinkError::Rejected("InvalidParameterValue: m".into()),
            ),
        ];
        for (status, code, expected) in cases {
            assert_eq!(classify(status, code, "m"), expected, "{status} {code:?}");
        }
    }

    #[test]
    fn datum_conversion_keeps_values_counts_and_dimensions() {
        let mut dims = serde_json::Map::new();
        dims.insert("Service".into(), serde_json::json!("checkout"));
        dims.insert("Code".into(), serde_json::json!(503));
        let d = MetricDatum {
            namespace: "App".into(),
            metric_name: "Latency".into(),
            dimensions: dims,
            unit: Unit::Milliseconds,
            timestamp: 1_764_000_000_123,
            storage_resolution: Resolution::High,
            values: vec![1.5, 2.0],
            counts: vec![3.0, 1.0],
        };
        let s = to_sdk_datum(&d);
        assert_eq!(s.metric_name(), Some("Latency"));
        assert_eq!(s.unit(), Some(&StandardUnit::Milliseconds));
        assert_eq!(s.values(), &[1.5, 2.0]);
        assert_eq!(s.counts(), &[3.0, 1.0]);
        assert_eq!(s.storage_resolution(), Some(1));
        assert_eq!(
            s.timestamp().map(|t| t.to_millis().unwrap()),
            Some(1_764_000_000_123)
        );
        let dims: Vec<(&str, &str)> = s
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(dims, vec![("Code", "503"), ("Service", "checkout")]);
        let no_counts = MetricDatum {
            counts: vec![],
            ..d
        };
        assert!(to_sdk_datum(&no_counts).counts().is_empty());
    }

    #[test]
    fn every_unit_reaches_the_sdk_spelled_as_cloudwatch_spells_it() {
        // The request carries `StandardUnit::as_str()`: it must be our spelling (the one EMF and
        // the CLI output carry), and a known SDK variant, never `Unknown`.
        for u in Unit::ALL {
            let sdk = standard_unit(u);
            assert_eq!(sdk.as_str(), u.as_str(), "{u:?}");
            assert!(
                StandardUnit::values().contains(&sdk.as_str()),
                "{u:?} is not a variant the SDK knows"
            );
            assert_eq!(StandardUnit::from(u.as_str()), sdk, "{u:?}");
        }
        assert_eq!(standard_unit(Unit::BytesPerSecond).as_str(), "Bytes/Second");
        assert_eq!(storage_resolution(Resolution::High), 1);
        assert_eq!(storage_resolution(Resolution::Standard), 60);
    }
}
