//! Sinks: sends a batch's metrics and segments out, without losing or double counting data.
//!
//! The AWS calls live behind two small traits (`MetricSink`, `TraceSink`) so the fallback rules
//! (no loss, no double count) are tested here with fault-injecting fakes, and the SDK crate only
//! maps calls and errors. Rules: a PutMetricData request that still fails after the sink's own retries is written
//! as EMF lines (the same datums) on the writer Lambda turns into log events, and is never re-sent;
//! a request that succeeded is never sent again. Segments are idempotent (deterministic ids), so
//! failed X-Ray documents are retried once and then logged with their trace ids.

use std::future::Future;
use std::io::Write;

use futures_util::stream::{self, StreamExt};

use crate::counter_keys as ck;
use crate::metrics::{
    encode_emf_counted, encode_put_metric_data, MetricDatum, PutMetricDataRequest,
    MAX_TIMESTAMP_FUTURE_MS, MAX_TIMESTAMP_PAST_MS,
};
use crate::stats::Counters;
use crate::trace::{within_retention, Segment, PUT_TRACE_SEGMENTS_BATCH};

/// PutMetricData requests in flight at once. CloudWatch allows 500 TPS per account and Region;
/// a batch rarely needs more than a handful of requests, so a small bound keeps one invocation
/// from starving the others that share the quota.
pub const DEFAULT_METRIC_CONCURRENCY: usize = 8;

/// Trace ids listed per failure log line, so one bad call cannot write a huge log event.
const MAX_TRACE_IDS_LOGGED: usize = 50;

/// Why a sink call failed after the sink's own retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    #[error("throttled")]
    Throttled,
    #[error("server error (HTTP {0})")]
    Server(u16),
    #[error("network error: {0}")]
    Network(String),
    #[error("timed out")]
    Timeout,
    /// Not attempted: the invocation's deadline had already passed.
    #[error("not sent: the invocation deadline has passed")]
    DeadlinePassed,
    #[error("rejected: {0}")]
    Rejected(String),
}

impl SinkError {
    /// Stable counter suffix for this error kind.
    pub fn key(&self) -> &'static str {
        match self {
            SinkError::Throttled => "throttled",
            SinkError::Server(_) => "server",
            SinkError::Network(_) => "network",
            SinkError::Timeout => "timeout",
            SinkError::DeadlinePassed => "deadline_passed",
            SinkError::Rejected(_) => "rejected",
        }
    }
}

/// Sends one PutMetricData request (the sink does its own retries within its budget).
pub trait MetricSink: Sync {
    fn put_metric_data(
        &self,
        request: &PutMetricDataRequest,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// A document X-Ray did not take (PutTraceSegments `UnprocessedTraceSegments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprocessed {
    /// The segment id.
    pub id: String,
    pub error_code: Option<String>,
    pub message: Option<String>,
}

/// Sends up to `trace::PUT_TRACE_SEGMENTS_BATCH` segment documents in one PutTraceSegments call.
pub trait TraceSink: Sync {
    fn put_trace_segments(
        &self,
        segments: &[&Segment],
    ) -> impl Future<Output = Result<Vec<Unprocessed>, SinkError>> + Send;
}

/// Where metrics go for this invocation.
pub enum MetricTarget<'a, S> {
    /// PutMetricData through the sink, EMF on the writer for requests that still fail.
    Api(&'a S),
    /// EMF lines on the writer only.
    Emf,
    /// Nowhere (dry run, or metrics disabled).
    Discard,
}

/// Where segments go for this invocation.
pub enum TraceTarget<'a, T> {
    Api(&'a T),
    Discard,
}

/// Knobs of one `emit` call.
#[derive(Debug, Clone, Copy)]
pub struct EmitOptions {
    /// Bound on PutMetricData requests in flight.
    pub metric_concurrency: usize,
    /// "Now" in epoch ms, for the PutMetricData timestamp window and the X-Ray retention check
    /// (the pipeline itself has no clock).
    pub now_ms: i64,
}

/// What `emit` did; `counters` holds the same under `sink.*` keys for the summary line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmitReport {
    pub metric_requests: u64,
    pub metric_requests_failed: u64,
    /// Datums accepted by PutMetricData.
    pub metrics_sent: u64,
    /// Datums written as EMF because their request failed.
    pub metrics_fallback: u64,
    /// Datums written as EMF by the `emf` sink.
    pub metrics_emf: u64,
    pub emf_lines: u64,
    pub segments_sent: u64,
    /// Segments X-Ray still did not take after the retry, or whose calls failed.
    pub segments_failed: u64,
    /// Segments outside X-Ray's retention window, not sent.
    pub segments_expired: u64,
    /// Records the records sinks accepted (summed over sinks).
    pub records_sent: u64,
    /// Records written to the spill location instead.
    pub records_spilled: u64,
    /// Records neither delivered nor spilled.
    pub records_lost: u64,
    pub counters: Counters,
}

/// Sends metrics and segments concurrently; never fails (every failure is counted and, for
/// metrics, written as EMF on `out`).
pub async fn emit<S: MetricSink, T: TraceSink, W: Write + Send>(
    metrics: MetricTarget<'_, S>,
    traces: TraceTarget<'_, T>,
    datums: &[MetricDatum],
    segments: &[Segment],
    out: &mut W,
    options: EmitOptions,
) -> EmitReport {
    let mut report = EmitReport::default();
    let (metric_report, trace_report) = futures_util::join!(
        emit_metrics(metrics, datums, out, options),
        emit_traces(traces, segments, options.now_ms),
    );
    report.merge(metric_report);
    report.merge(trace_report);
    report
}

impl EmitReport {
    fn merge(&mut self, other: EmitReport) {
        self.metric_requests += other.metric_requests;
        self.metric_requests_failed += other.metric_requests_failed;
        self.metrics_sent += other.metrics_sent;
        self.metrics_fallback += other.metrics_fallback;
        self.metrics_emf += other.metrics_emf;
        self.emf_lines += other.emf_lines;
        self.segments_sent += other.segments_sent;
        self.segments_failed += other.segments_failed;
        self.segments_expired += other.segments_expired;
        self.counters.merge(&other.counters);
    }
}

/// Metrics half of `emit`.
pub async fn emit_metrics<S: MetricSink, W: Write>(
    target: MetricTarget<'_, S>,
    datums: &[MetricDatum],
    out: &mut W,
    options: EmitOptions,
) -> EmitReport {
    let mut report = EmitReport::default();
    let in_window = within_put_metric_data_window(datums, options.now_ms, &mut report.counters);
    let datums: &[MetricDatum] = &in_window;
    if datums.is_empty() {
        return report;
    }
    let sink = match target {
        MetricTarget::Discard => return report,
        MetricTarget::Emf => {
            let n = datums.len() as u64;
            report.emf_lines += write_emf(datums, out, &mut report.counters);
            report.metrics_emf = n;
            report.counters.add(ck::sink::METRICS_EMF_DATUMS, n);
            return report;
        }
        MetricTarget::Api(sink) => sink,
    };
    let requests = encode_put_metric_data(datums);
    report.metric_requests = requests.len() as u64;
    report
        .counters
        .add(ck::sink::METRICS_REQUESTS, requests.len() as u64);
    // Each request is sent exactly once here; the sink's retries are its own business. Results
    // come back in completion order, each tagged with its request.
    let results: Vec<(&PutMetricDataRequest, Result<(), SinkError>)> =
        stream::iter(requests.iter())
            .map(|request| async move { (request, sink.put_metric_data(request).await) })
            .buffer_unordered(options.metric_concurrency.max(1))
            .collect()
            .await;
    for (request, result) in results {
        let n = request.datums.len() as u64;
        match result {
            Ok(()) => {
                report.metrics_sent += n;
                report.counters.add(ck::sink::METRICS_SENT, n);
            }
            Err(e) => {
                tracing::warn!(
                    namespace = %request.namespace,
                    datums = n,
                    error = %e,
                    "PutMetricData failed; writing the datums as EMF instead"
                );
                report.metric_requests_failed += 1;
                report.metrics_fallback += n;
                report.counters.incr(&ck::sink::metrics_error(e.key()));
                report.counters.add(ck::sink::METRICS_FALLBACK_DATUMS, n);
                report.emf_lines += write_emf(&request.datums, out, &mut report.counters);
            }
        }
    }
    report
}

/// The datums whose timestamp PutMetricData accepts at `now_ms`: "as much as two weeks before
/// the current date, and as much as 2 hours after the current day and time"
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html;
/// EMF has the same window). The aggregator anchors its window to the newest event when it has no
/// clock, so a batch that is old as a whole (or an `i64::MIN` timestamp) gets here; the rest
/// are dropped and counted under `sink.metrics_timestamp_out_of_window`. Borrowed when all pass.
fn within_put_metric_data_window<'d>(
    datums: &'d [MetricDatum],
    now_ms: i64,
    counters: &mut Counters,
) -> std::borrow::Cow<'d, [MetricDatum]> {
    let oldest = now_ms.saturating_sub(MAX_TIMESTAMP_PAST_MS);
    let latest = now_ms.saturating_add(MAX_TIMESTAMP_FUTURE_MS);
    let ok = |d: &MetricDatum| (oldest..=latest).contains(&d.timestamp);
    if datums.iter().all(ok) {
        return std::borrow::Cow::Borrowed(datums);
    }
    let kept: Vec<MetricDatum> = datums.iter().filter(|d| ok(d)).cloned().collect();
    let dropped = (datums.len() - kept.len()) as u64;
    counters.add(ck::sink::METRICS_TIMESTAMP_OUT_OF_WINDOW, dropped);
    tracing::warn!(
        datums = dropped,
        "metric datums outside PutMetricData's timestamp window (14 days back, 2 hours ahead) dropped"
    );
    std::borrow::Cow::Owned(kept)
}

/// Writes datums as EMF lines; returns the lines written. Datums EMF cannot carry and a failing
/// writer (stdout closed) are logged and counted: there is nowhere else to put the data.
fn write_emf<W: Write>(datums: &[MetricDatum], out: &mut W, counters: &mut Counters) -> u64 {
    let mut written = 0;
    for line in encode_emf_counted(datums, counters) {
        let ok = out
            .write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"));
        match ok {
            Ok(()) => written += 1,
            Err(e) => {
                tracing::error!(error = %e, "cannot write EMF line");
                counters.incr(ck::sink::EMF_WRITE_FAILED);
            }
        }
    }
    let _ = out.flush();
    written
}

/// Traces half of `emit`.
pub async fn emit_traces<T: TraceSink>(
    target: TraceTarget<'_, T>,
    segments: &[Segment],
    now_ms: i64,
) -> EmitReport {
    let mut report = EmitReport::default();
    let sink = match target {
        TraceTarget::Discard => return report,
        TraceTarget::Api(sink) => sink,
    };
    let mut live = Vec::with_capacity(segments.len());
    for seg in segments {
        if within_retention(seg, now_ms) {
            live.push(seg);
        } else {
            report.segments_expired += 1;
        }
    }
    if report.segments_expired > 0 {
        report
            .counters
            .add(ck::sink::SEGMENTS_EXPIRED, report.segments_expired);
        tracing::warn!(
            count = report.segments_expired,
            "segments outside X-Ray's write window dropped"
        );
    }
    for chunk in live.chunks(PUT_TRACE_SEGMENTS_BATCH) {
        let (sent, failed) = send_segments(sink, chunk, &mut report.counters).await;
        report.segments_sent += sent;
        report.segments_failed += failed;
    }
    report
        .counters
        .add(ck::sink::SEGMENTS_SENT, report.segments_sent);
    report
        .counters
        .add(ck::sink::SEGMENTS_FAILED, report.segments_failed);
    report
}

/// One chunk: the call, then one retry of whatever X-Ray did not take (the documents are
/// idempotent, so re-sending is safe). Returns (sent, failed).
async fn send_segments<T: TraceSink>(
    sink: &T,
    chunk: &[&Segment],
    counters: &mut Counters,
) -> (u64, u64) {
    let mut pending: Vec<&Segment> = chunk.to_vec();
    let mut last_error = String::new();
    for attempt in 0..2 {
        match sink.put_trace_segments(&pending).await {
            Ok(unprocessed) if unprocessed.is_empty() => {
                return (chunk.len() as u64, 0);
            }
            Ok(unprocessed) => {
                counters.add(ck::sink::SEGMENTS_UNPROCESSED, unprocessed.len() as u64);
                last_error = unprocessed
                    .iter()
                    .find_map(|u| u.error_code.clone().or_else(|| u.message.clone()))
                    .unwrap_or_else(|| "unprocessed".into());
                pending.retain(|s| unprocessed.iter().any(|u| u.id == s.id));
                // An id X-Ray names that we never sent cannot be retried; count the chunk by
                // what it reported.
                if pending.is_empty() {
                    return (chunk.len() as u64, 0);
                }
            }
            Err(e) => {
                counters.incr(&ck::sink::segments_error(e.key()));
                last_error = e.to_string();
                // A rejected call fails the same way twice, and past the deadline nothing starts.
                if matches!(e, SinkError::Rejected(_) | SinkError::DeadlinePassed) && attempt == 0 {
                    break;
                }
            }
        }
    }
    let trace_ids: Vec<&str> = pending
        .iter()
        .take(MAX_TRACE_IDS_LOGGED)
        .map(|s| s.trace_id.as_str())
        .collect();
    tracing::error!(
        failed = pending.len(),
        error = %last_error,
        trace_ids = ?trace_ids,
        "PutTraceSegments failed for these traces"
    );
    let failed = pending.len() as u64;
    (chunk.len() as u64 - failed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{encode_emf, Resolution, Unit};
    use serde_json::{Map, Value};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    const NOW: i64 = 1_764_000_000_000;

    fn datum(ns: &str, name: &str, values: &[f64], counts: &[f64]) -> MetricDatum {
        MetricDatum {
            namespace: ns.into(),
            metric_name: name.into(),
            dimensions: Map::new(),
            unit: Unit::Count,
            timestamp: NOW - 60_000,
            storage_resolution: Resolution::Standard,
            values: values.to_vec(),
            counts: counts.to_vec(),
        }
    }

    fn datums(n: usize) -> Vec<MetricDatum> {
        (0..n)
            .map(|i| {
                datum(
                    &format!("Ns{}", i % 3),
                    &format!("M{i}"),
                    &[i as f64, 0.5],
                    &[2.0, 1.0],
                )
            })
            .collect()
    }

    type FailWhen = Box<dyn Fn(&PutMetricDataRequest) -> Option<SinkError> + Send + Sync>;
    type XrayBehaviour =
        Box<dyn Fn(usize, &[&Segment]) -> Result<Vec<Unprocessed>, SinkError> + Send + Sync>;

    /// A metric sink that fails the requests `fail` picks.
    struct FakeMetrics {
        fail: FailWhen,
        calls: Mutex<Vec<PutMetricDataRequest>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl FakeMetrics {
        fn new(
            fail: impl Fn(&PutMetricDataRequest) -> Option<SinkError> + Send + Sync + 'static,
        ) -> FakeMetrics {
            FakeMetrics {
                fail: Box::new(fail),
                calls: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
            }
        }
    }

    impl MetricSink for FakeMetrics {
        async fn put_metric_data(&self, request: &PutMetricDataRequest) -> Result<(), SinkError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            self.calls.lock().unwrap().push(request.clone());
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            match (self.fail)(request) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }

    /// Never used as a target; satisfies the type parameter.
    struct NoTraces;
    impl TraceSink for NoTraces {
        async fn put_trace_segments(
            &self,
            _segments: &[&Segment],
        ) -> Result<Vec<Unprocessed>, SinkError> {
            unreachable!("no trace target in this test")
        }
    }

    fn opts() -> EmitOptions {
        EmitOptions {
            metric_concurrency: 3,
            now_ms: NOW,
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn sum_count(ds: &[MetricDatum]) -> (f64, f64) {
        ds.iter().fold((0.0, 0.0), |(s, c), d| {
            let counts = if d.counts.is_empty() {
                vec![1.0; d.values.len()]
            } else {
                d.counts.clone()
            };
            let ds: f64 = d.values.iter().zip(&counts).map(|(v, c)| v * c).sum();
            (s + ds, c + counts.iter().sum::<f64>())
        })
    }

    fn sorted_lines(text: &str) -> Vec<String> {
        let mut v: Vec<String> = text.lines().map(str::to_string).collect();
        v.sort();
        v
    }

    #[test]
    fn failed_requests_fall_back_to_emf_with_exactly_their_datums() {
        type Case = (&'static str, fn(&PutMetricDataRequest) -> Option<SinkError>);
        let cases: Vec<Case> = vec![
            ("all ok", |_| None),
            ("throttled", |_| Some(SinkError::Throttled)),
            ("500", |_| Some(SinkError::Server(500))),
            ("timeout", |_| Some(SinkError::Timeout)),
            ("network", |_| Some(SinkError::Network("refused".into()))),
            ("partial: Ns1 fails", |r| {
                (r.namespace == "Ns1").then_some(SinkError::Throttled)
            }),
            ("partial: odd metric numbers fail", |r| {
                let odd = r.datums.iter().any(|d| {
                    d.metric_name[1..]
                        .parse::<u32>()
                        .map(|n| n % 2 == 1)
                        .unwrap_or(false)
                });
                odd.then_some(SinkError::Server(503))
            }),
        ];
        let input = datums(10);
        for (name, fail) in cases {
            let sink = FakeMetrics::new(fail);
            let mut out = Vec::new();
            let report = run(emit_metrics(
                MetricTarget::Api(&sink),
                &input,
                &mut out,
                opts(),
            ));
            let calls = sink.calls.lock().unwrap().clone();
            // No double send: exactly one call per request the encoder produced.
            let expected_requests = encode_put_metric_data(&input);
            assert_eq!(calls.len(), expected_requests.len(), "{name}");
            for r in &expected_requests {
                assert_eq!(calls.iter().filter(|c| *c == r).count(), 1, "{name}");
            }
            let failed: Vec<MetricDatum> = calls
                .iter()
                .filter(|c| fail(c).is_some())
                .flat_map(|c| c.datums.clone())
                .collect();
            let sent: Vec<MetricDatum> = calls
                .iter()
                .filter(|c| fail(c).is_none())
                .flat_map(|c| c.datums.clone())
                .collect();
            // The fallback carries the failed datums, nothing more, nothing less.
            let text = String::from_utf8(out).unwrap();
            let expected_emf: String = encode_emf(&failed).into_iter().map(|l| l + "\n").collect();
            assert_eq!(sorted_lines(&text), sorted_lines(&expected_emf), "{name}");
            assert_eq!(report.metrics_fallback, failed.len() as u64, "{name}");
            assert_eq!(
                report.counters.get("sink.metrics_fallback_datums"),
                failed.len() as u64,
                "{name}"
            );
            assert_eq!(report.metrics_sent, sent.len() as u64, "{name}");
            // Nothing lost, nothing counted twice: sent + fallback = input, in sum and count.
            assert_eq!(sent.len() + failed.len(), input.len(), "{name}");
            let (s1, c1) = sum_count(&sent);
            let (s2, c2) = sum_count(&failed);
            let (s, c) = sum_count(&input);
            assert_eq!((s1 + s2, c1 + c2), (s, c), "{name}");
            assert!(sink.max_in_flight.load(Ordering::SeqCst) <= 3, "{name}");
        }
    }

    /// (metric name → (Σ value·count, Σ count)) of datums.
    fn by_name(ds: &[MetricDatum]) -> BTreeMap<String, (f64, f64)> {
        let mut out = BTreeMap::new();
        for d in ds {
            let (s, c) = sum_count(std::slice::from_ref(d));
            let e = out.entry(d.metric_name.clone()).or_insert((0.0, 0.0));
            e.0 += s;
            e.1 += c;
        }
        out
    }

    /// The same, read back from EMF text the way CloudWatch does: every value is one sample.
    fn emf_by_name(text: &str) -> BTreeMap<String, (f64, f64)> {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let doc: Value = serde_json::from_str(line).unwrap();
            for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for m in directive["Metrics"].as_array().unwrap() {
                    let name = m["Name"].as_str().unwrap();
                    let values: Vec<f64> = match &doc[name] {
                        Value::Array(a) => a.iter().map(|v| v.as_f64().unwrap()).collect(),
                        v => vec![v.as_f64().unwrap()],
                    };
                    let e = out.entry(name.to_string()).or_insert((0.0, 0.0));
                    e.0 += values.iter().sum::<f64>();
                    e.1 += values.len() as f64;
                }
            }
        }
        out
    }

    #[test]
    fn fallback_emf_preserves_sum_and_count_of_each_failed_metric() {
        // Namespace Ns1 fails: metrics M1, M4, M7 must come back with the same sums and counts.
        let sink = FakeMetrics::new(|r| (r.namespace == "Ns1").then_some(SinkError::Server(500)));
        let input = datums(9);
        let mut out = Vec::new();
        run(emit_metrics(
            MetricTarget::Api(&sink),
            &input,
            &mut out,
            opts(),
        ));
        let failed: Vec<MetricDatum> = input
            .iter()
            .filter(|d| d.namespace == "Ns1")
            .cloned()
            .collect();
        let got = emf_by_name(&String::from_utf8(out).unwrap());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            vec!["M1", "M4", "M7"],
            "only the failed metrics"
        );
        assert_eq!(got, by_name(&failed));
        // M4 had values [4, 0.5] with counts [2, 1]: sum 8.5 over 3 samples.
        assert_eq!(got["M4"], (8.5, 3.0));
    }

    #[test]
    fn error_kinds_are_counted_by_key() {
        let sink = FakeMetrics::new(|_| Some(SinkError::Timeout));
        let mut out = Vec::new();
        let report = run(emit_metrics(
            MetricTarget::Api(&sink),
            &datums(4),
            &mut out,
            opts(),
        ));
        assert_eq!(
            report.counters.get("sink.metrics_error.timeout"),
            report.metric_requests
        );
        assert_eq!(report.metric_requests_failed, report.metric_requests);
        assert_eq!(report.metrics_sent, 0);
    }

    #[test]
    fn emf_and_discard_targets_never_call_the_api() {
        let input = datums(5);
        let mut out = Vec::new();
        let report = run(emit_metrics::<FakeMetrics, _>(
            MetricTarget::Emf,
            &input,
            &mut out,
            opts(),
        ));
        let expected: String = encode_emf(&input).into_iter().map(|l| l + "\n").collect();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(report.metrics_emf, 5);
        assert_eq!(report.metric_requests, 0);

        let mut out = Vec::new();
        let report = run(emit_metrics::<FakeMetrics, _>(
            MetricTarget::Discard,
            &input,
            &mut out,
            opts(),
        ));
        assert!(out.is_empty());
        assert_eq!(report, EmitReport::default());
    }

    /// A writer that always fails, like a closed stdout.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("closed"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("closed"))
        }
    }

    #[test]
    fn a_broken_writer_is_counted_not_fatal() {
        let sink = FakeMetrics::new(|_| Some(SinkError::Throttled));
        let input = datums(2);
        let report = run(emit_metrics(
            MetricTarget::Api(&sink),
            &input,
            &mut Broken,
            opts(),
        ));
        assert_eq!(report.emf_lines, 0);
        assert_eq!(
            report.counters.get("sink.emf_write_failed"),
            encode_emf(&input).len() as u64
        );
        assert_eq!(report.metrics_fallback, 2);
    }

    fn seg(i: usize, time_ms: i64) -> Segment {
        Segment {
            trace_id: format!("1-5f000000-{i:024x}"),
            id: format!("{i:016x}"),
            document: format!("{{\"id\":\"{i:016x}\"}}"),
            start_time_ms: time_ms,
            end_time_ms: time_ms,
        }
    }

    /// An X-Ray fake: `behaviour(call number, documents)` answers each call.
    struct FakeXray {
        behaviour: XrayBehaviour,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl FakeXray {
        fn new(
            b: impl Fn(usize, &[&Segment]) -> Result<Vec<Unprocessed>, SinkError>
                + Send
                + Sync
                + 'static,
        ) -> FakeXray {
            FakeXray {
                behaviour: Box::new(b),
                calls: Mutex::new(Vec::new()),
            }
        }
    }

    impl TraceSink for FakeXray {
        async fn put_trace_segments(
            &self,
            segments: &[&Segment],
        ) -> Result<Vec<Unprocessed>, SinkError> {
            let call = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(segments.iter().map(|s| s.id.clone()).collect());
                calls.len() - 1
            };
            (self.behaviour)(call, segments)
        }
    }

    fn unprocessed(id: &str) -> Unprocessed {
        Unprocessed {
            id: id.into(),
            error_code: Some("InvalidTraceId".into()),
            message: None,
        }
    }

    #[test]
    fn segments_are_sent_in_chunks_of_fifty() {
        let segs: Vec<Segment> = (0..120).map(|i| seg(i, NOW)).collect();
        let xray = FakeXray::new(|_, _| Ok(Vec::new()));
        let report = run(emit_traces(TraceTarget::Api(&xray), &segs, NOW));
        let calls = xray.calls.lock().unwrap();
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        assert_eq!(report.segments_sent, 120);
        assert_eq!(report.segments_failed, 0);
    }

    #[test]
    fn unprocessed_segments_are_retried_once_then_counted() {
        let segs: Vec<Segment> = (0..5).map(|i| seg(i, NOW)).collect();
        // First call: 1 and 3 unprocessed; retry: 3 still unprocessed.
        let xray = FakeXray::new(|call, sent| {
            let bad: &[&str] = if call == 0 {
                &["0000000000000001", "0000000000000003"]
            } else {
                &["0000000000000003"]
            };
            Ok(sent
                .iter()
                .filter(|s| bad.contains(&s.id.as_str()))
                .map(|s| unprocessed(&s.id))
                .collect())
        });
        let report = run(emit_traces(TraceTarget::Api(&xray), &segs, NOW));
        let calls = xray.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1], vec!["0000000000000001", "0000000000000003"]);
        assert_eq!(report.segments_sent, 4);
        assert_eq!(report.segments_failed, 1);
        assert_eq!(report.counters.get("sink.segments_unprocessed"), 3);
    }

    #[test]
    fn call_failures_are_retried_once_except_rejections() {
        let cases: Vec<(SinkError, usize)> = vec![
            (SinkError::Throttled, 2),
            (SinkError::Server(500), 2),
            (SinkError::Timeout, 2),
            (SinkError::Rejected("bad".into()), 1),
            (SinkError::DeadlinePassed, 1),
        ];
        for (err, expected_calls) in cases {
            let segs: Vec<Segment> = (0..3).map(|i| seg(i, NOW)).collect();
            let e = err.clone();
            let xray = FakeXray::new(move |_, _| Err(e.clone()));
            let report = run(emit_traces(TraceTarget::Api(&xray), &segs, NOW));
            assert_eq!(xray.calls.lock().unwrap().len(), expected_calls, "{err}");
            assert_eq!(report.segments_failed, 3, "{err}");
            assert_eq!(report.segments_sent, 0, "{err}");
            assert_eq!(
                report
                    .counters
                    .get(&format!("sink.segments_error.{}", err.key())),
                expected_calls as u64
            );
        }
    }

    #[test]
    fn a_transient_failure_then_success_sends_everything() {
        let segs: Vec<Segment> = (0..3).map(|i| seg(i, NOW)).collect();
        let xray = FakeXray::new(|call, _| {
            if call == 0 {
                Err(SinkError::Throttled)
            } else {
                Ok(Vec::new())
            }
        });
        let report = run(emit_traces(TraceTarget::Api(&xray), &segs, NOW));
        assert_eq!(report.segments_sent, 3);
        assert_eq!(report.segments_failed, 0);
    }

    #[test]
    fn segments_outside_the_accept_window_are_dropped_and_counted() {
        let day = 24 * 60 * 60 * 1000;
        let segs = vec![
            seg(0, NOW),
            seg(1, NOW - 6 * day),
            seg(2, NOW - 7 * day),
            seg(3, NOW + 3 * 60 * 60 * 1000),
            seg(4, i64::MIN),
            seg(5, i64::MAX),
        ];
        let xray = FakeXray::new(|_, _| Ok(Vec::new()));
        let report = run(emit_traces(TraceTarget::Api(&xray), &segs, NOW));
        assert_eq!(
            xray.calls.lock().unwrap().clone(),
            vec![vec!["0000000000000000", "0000000000000001"]]
        );
        assert_eq!(report.segments_expired, 4);
        assert_eq!(report.counters.get("sink.segments_expired"), 4);
    }

    #[test]
    fn emit_runs_both_halves() {
        let sink = FakeMetrics::new(|r| (r.namespace == "Ns0").then_some(SinkError::Throttled));
        let xray = FakeXray::new(|_, _| Ok(Vec::new()));
        let segs: Vec<Segment> = (0..2).map(|i| seg(i, NOW)).collect();
        let mut out = Vec::new();
        let report = run(emit(
            MetricTarget::Api(&sink),
            TraceTarget::Api(&xray),
            &datums(6),
            &segs,
            &mut out,
            opts(),
        ));
        assert_eq!(report.segments_sent, 2);
        assert_eq!(report.metrics_sent + report.metrics_fallback, 6);
        assert_eq!(report.metrics_fallback, 2);
    }

    #[test]
    fn no_trace_target_sends_nothing() {
        let segs: Vec<Segment> = (0..2).map(|i| seg(i, NOW)).collect();
        let report = run(emit_traces::<NoTraces>(TraceTarget::Discard, &segs, NOW));
        assert_eq!(report, EmitReport::default());
    }

    /// Each datum's timestamp against the window at NOW: (offset from NOW, sent?).
    #[test]
    fn datums_outside_the_put_metric_data_window_are_dropped_and_counted() {
        const DAY: i64 = 24 * 60 * 60 * 1000;
        let cases: &[(&str, i64, bool)] = &[
            ("a minute old", NOW - 60_000, true),
            ("exactly 14 days old", NOW - 14 * DAY, true),
            ("14 days and 1 ms old", NOW - 14 * DAY - 1, false),
            ("30 days old", NOW - 30 * DAY, false),
            ("i64::MIN", i64::MIN, false),
            ("0 (1970)", 0, false),
            ("exactly 2 h ahead", NOW + 2 * 60 * 60 * 1000, true),
            ("2 h and 1 ms ahead", NOW + 2 * 60 * 60 * 1000 + 1, false),
            ("i64::MAX", i64::MAX, false),
        ];
        for target in ["api", "emf"] {
            let input: Vec<MetricDatum> = cases
                .iter()
                .enumerate()
                .map(|(i, &(_, ts, _))| MetricDatum {
                    timestamp: ts,
                    ..datum("Ns", &format!("M{i}"), &[1.0], &[1.0])
                })
                .collect();
            let sink = FakeMetrics::new(|_| None);
            let mut out = Vec::new();
            let t = if target == "api" {
                MetricTarget::Api(&sink)
            } else {
                MetricTarget::Emf
            };
            let report = run(emit_metrics(t, &input, &mut out, opts()));
            let sent: Vec<String> = if target == "api" {
                let calls = sink.calls.lock().unwrap();
                calls
                    .iter()
                    .flat_map(|c| c.datums.iter().map(|d| d.metric_name.clone()))
                    .collect()
            } else {
                String::from_utf8(out)
                    .unwrap()
                    .lines()
                    .flat_map(|l| {
                        let v: Value = serde_json::from_str(l).unwrap();
                        v.as_object()
                            .unwrap()
                            .keys()
                            .filter(|k| k.starts_with('M'))
                            .cloned()
                            .collect::<Vec<_>>()
                    })
                    .collect()
            };
            let mut dropped = 0;
            for (i, &(name, _, want)) in cases.iter().enumerate() {
                let was_sent = sent.contains(&format!("M{i}"));
                assert_eq!(was_sent, want, "{target}: {name}");
                dropped += u64::from(!want);
            }
            assert_eq!(
                report.counters.get("sink.metrics_timestamp_out_of_window"),
                dropped,
                "{target}"
            );
        }
    }
}
