//! `logsieve replay`: runs the pipeline over a past window of real log groups, read with
//! CloudWatch Logs FilterLogEvents, to preview a configuration or (with `--publish`) backfill its
//! metrics, segments and records. Pages are processed as they arrive, in timestamp order across
//! the log groups, so memory holds about one page per group, and the window processed so far is
//! always "everything before T": an interrupted run names T and a run from T continues it.

use std::collections::{HashMap, HashSet};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use logsieve::metrics::{encode_emf, MetricDatum, MetricSinkKind, MAX_DATUMS_PER_REQUEST};
use logsieve::pipeline::{Limits, Output, Pipeline};
use logsieve::record::{Batch, LogEvent, Source};
use logsieve::sink::EmitReport;
use logsieve::trace::TraceSinkKind;
use logsieve_aws::logs::{filter_page, logs_client, FetchedEvent, FilterRequest, Page};
use logsieve_aws::{Deadline, Emitter};
use serde::Serialize;

use crate::{load_config, load_raw_config, stdout_error, usage, Failure, OutputFormat};

/// PutMetricData takes data points up to two weeks old
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html).
pub(crate) const MAX_PUBLISH_AGE_MS: i64 = 14 * DAY_MS;
const DAY_MS: i64 = 86_400_000;

/// A subscription delivers one log stream's events per batch; a replay batch is cut at this many
/// events or [`MAX_BATCH_BYTES`] of messages, whichever comes first.
pub(crate) const MAX_BATCH_EVENTS: usize = 10_000;
/// Lambda's asynchronous payload limit (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
pub(crate) const MAX_BATCH_BYTES: usize = 1_048_576;

/// The command's arguments (clap's `Replay` variant, passed through).
pub(crate) struct ReplayArgs {
    pub groups: Vec<String>,
    pub start: String,
    pub end: String,
    pub config: Option<PathBuf>,
    pub filter_pattern: Option<String>,
    pub publish: bool,
    pub output: OutputFormat,
    pub page_size: i32,
    pub max_pages_per_second: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Times

/// Epoch ms now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `now`, a duration ago (`90m`, `2h`, `7d`, `1h 30m`), or an RFC 3339 time (`Z` or a numeric
/// offset; seconds and fractions optional).
pub(crate) fn parse_time(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(d) = humantime::parse_duration(t) {
        return Ok(now.saturating_sub(d.as_millis().min(i64::MAX as u128) as i64));
    }
    let (local, offset_ms) = split_offset(t);
    let at = humantime::parse_rfc3339_weak(local).map_err(|e| {
        format!("{text:?} is neither a duration ago (2h, 7d) nor an RFC 3339 time ({e})")
    })?;
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{text:?} is before 1970"))?
        .as_millis() as i64;
    Ok(ms - offset_ms)
}

/// Splits a trailing `Z` or `±HH:MM` off an RFC 3339 time (humantime reads UTC only).
fn split_offset(t: &str) -> (&str, i64) {
    if let Some(rest) = t.strip_suffix(['Z', 'z']) {
        return (rest, 0);
    }
    let b = t.as_bytes();
    if b.len() > 6 && b[b.len() - 3] == b':' && matches!(b[b.len() - 6], b'+' | b'-') {
        let hh = t[t.len() - 5..t.len() - 3].parse::<i64>();
        let mm = t[t.len() - 2..].parse::<i64>();
        if let (Ok(h), Ok(m)) = (hh, mm) {
            let sign = if b[b.len() - 6] == b'-' { -1 } else { 1 };
            return (&t[..t.len() - 6], sign * (h * 3_600_000 + m * 60_000));
        }
    }
    (t, 0)
}

/// RFC 3339 in UTC with milliseconds: what `--start` takes back exactly.
pub(crate) fn format_time(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Checks the window before anything is read.
pub(crate) fn check_window(start: i64, end: i64, now: i64, publish: bool) -> Result<(), String> {
    if start >= end {
        return Err(format!(
            "the window is empty: --start {} is not before --end {}",
            format_time(start),
            format_time(end)
        ));
    }
    if publish && start < now - MAX_PUBLISH_AGE_MS {
        let days = (now - start) as f64 / DAY_MS as f64;
        return Err(format!(
            "--publish: the window starts {days:.1} days ago, and PutMetricData takes data points \
             up to 14 days old; nothing was read. Start at {} or later, or leave out --publish \
             to preview",
            format_time(now - MAX_PUBLISH_AGE_MS + 60_000)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading several log groups in timestamp order

/// Where the reading of one log group stands.
#[derive(Debug, Default)]
struct Cursor {
    /// Newest timestamp read so far (the window's start before the first page). FilterLogEvents
    /// returns events sorted by timestamp, so nothing older is still to come.
    seen: i64,
    done: bool,
    token: Option<String>,
    /// Read again from this time, without a token: a full page came without a token, which an
    /// emulator does instead of paging (AWS sends a token whenever more is left).
    restart_at: Option<i64>,
    /// Ids read at `seen`, so a page read again from `seen` does not count them twice.
    ids_at_seen: HashSet<String>,
    buffer: Vec<FetchedEvent>,
}

/// Merges the pages of several log groups into one stream of events in timestamp order, and
/// keeps the watermark: after [`Merge::take_ready`] every event before it has been handed out and
/// none at or after it.
#[derive(Debug)]
pub(crate) struct Merge {
    start: i64,
    end: i64,
    limit: usize,
    cursors: Vec<Cursor>,
    /// Pages that repeated only events already read (see [`Cursor::restart_at`]): a page's worth
    /// of events in one millisecond, past which events of that millisecond may be missed.
    pub stuck_pages: u64,
}

impl Merge {
    /// Over `[start, end)` (epoch ms) of `groups` log groups, pages of `limit` events.
    pub(crate) fn new(groups: usize, start: i64, end: i64, limit: usize) -> Merge {
        let cursors = (0..groups)
            .map(|_| Cursor {
                seen: start,
                ..Cursor::default()
            })
            .collect();
        Merge {
            start,
            end,
            limit: limit.max(1),
            cursors,
            stuck_pages: 0,
        }
    }

    /// Every group is read to the end of the window.
    pub(crate) fn finished(&self) -> bool {
        self.cursors.iter().all(|c| c.done)
    }

    /// Nothing before this time is still to be read from any group.
    pub(crate) fn frontier(&self) -> i64 {
        self.cursors
            .iter()
            .filter(|c| !c.done)
            .map(|c| c.seen)
            .min()
            .unwrap_or(self.end)
    }

    /// The groups holding the frontier back: the ones to read next.
    pub(crate) fn laggards(&self) -> Vec<usize> {
        let f = self.frontier();
        (0..self.cursors.len())
            .filter(|&g| !self.cursors[g].done && self.cursors[g].seen == f)
            .collect()
    }

    /// The next request of group `g`: (start time, token).
    pub(crate) fn request(&self, g: usize) -> (i64, Option<String>) {
        let c = &self.cursors[g];
        match c.restart_at {
            Some(at) => (at, None),
            None => (self.start, c.token.clone()),
        }
    }

    /// Takes a page of group `g`.
    pub(crate) fn accept(&mut self, g: usize, page: Page) {
        let full = page.events.len() >= self.limit;
        let c = &mut self.cursors[g];
        let rereading = c.restart_at.is_some();
        let mut added = 0usize;
        for e in page.events {
            if rereading && e.timestamp == c.seen && c.ids_at_seen.contains(&e.id) {
                continue;
            }
            if e.timestamp > c.seen {
                c.seen = e.timestamp;
                c.ids_at_seen.clear();
            }
            if e.timestamp == c.seen {
                c.ids_at_seen.insert(e.id.clone());
            }
            c.buffer.push(e);
            added += 1;
        }
        match page.next_token {
            Some(t) => {
                c.token = Some(t);
                c.restart_at = None;
            }
            None if full => {
                if rereading && added == 0 {
                    // A page's worth of events in one millisecond: read on from the next one
                    // (events of that millisecond past the first page cannot be reached).
                    self.stuck_pages += 1;
                    c.seen += 1;
                    c.ids_at_seen.clear();
                    c.token = None;
                    c.restart_at = Some(c.seen);
                } else {
                    c.token = None;
                    c.restart_at = Some(c.seen);
                }
            }
            None => c.done = true,
        }
        if c.done {
            c.ids_at_seen = HashSet::new();
        }
    }

    /// Hands out every buffered event before the frontier (all of them once every group is
    /// done), in timestamp order, and the watermark reached.
    pub(crate) fn take_ready(&mut self) -> (i64, Vec<(usize, FetchedEvent)>) {
        let watermark = if self.finished() {
            self.end
        } else {
            self.frontier()
        };
        let mut ready = Vec::new();
        for (g, c) in self.cursors.iter_mut().enumerate() {
            let (take, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut c.buffer)
                .into_iter()
                .partition(|e| e.timestamp < watermark);
            c.buffer = keep;
            ready.extend(take.into_iter().map(|e| (g, e)));
        }
        ready.sort_by_key(|(_, e)| e.timestamp);
        (watermark, ready)
    }
}

// ---------------------------------------------------------------------------------------------
// Batches, as a subscription delivers them

/// Groups events into per-stream batches, in order of each stream's first event, each cut at
/// [`MAX_BATCH_EVENTS`] events or [`MAX_BATCH_BYTES`] of messages.
pub(crate) fn into_batches(events: Vec<(usize, FetchedEvent)>, groups: &[String]) -> Vec<Batch> {
    let mut order: Vec<(usize, String)> = Vec::new();
    let mut by_stream: HashMap<(usize, String), Vec<FetchedEvent>> = HashMap::new();
    for (g, e) in events {
        let key = (g, e.stream.clone());
        let list = by_stream.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        list.push(e);
    }
    let mut batches = Vec::new();
    for key in order {
        let Some(events) = by_stream.remove(&key) else {
            continue;
        };
        let (g, stream) = key;
        let source = Arc::new(Source {
            owner: String::new(),
            log_group: groups.get(g).cloned().unwrap_or_default(),
            log_stream: stream,
            subscription_filters: vec!["logsieve-replay".into()],
            policy_level: None,
            ..Source::default()
        });
        let mut current: Vec<LogEvent> = Vec::new();
        let mut bytes = 0usize;
        for e in events {
            let size = e.message.len();
            if !current.is_empty()
                && (current.len() >= MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES)
            {
                batches.push(Batch {
                    source: source.clone(),
                    events: std::mem::take(&mut current),
                });
                bytes = 0;
            }
            bytes += size;
            current.push(LogEvent {
                id: e.id,
                timestamp: e.timestamp,
                message: e.message,
                extracted_fields: None,
            });
        }
        if !current.is_empty() {
            batches.push(Batch {
                source,
                events: current,
            });
        }
    }
    batches
}

// ---------------------------------------------------------------------------------------------
// What was read, sent and would cost

/// The figures of a run (printed, and the `replay` object of the JSON output).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Summary {
    pub log_groups: Vec<String>,
    pub start: String,
    pub end: String,
    /// The window processed: `[start, covered_to)`. Equal to `end` unless interrupted.
    pub covered_to: String,
    pub interrupted: bool,
    pub events: u64,
    pub bytes: u64,
    pub pages: u64,
    pub batches: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub pages_per_second: f64,
    /// Share of the run's time spent inside the pipeline (0-1).
    pub pipeline_share: f64,
    pub published: bool,
    pub publish: Option<Published>,
    pub subscription_cost: SubscriptionCost,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Published {
    pub metric_datums_sent: u64,
    pub metric_requests: u64,
    pub metric_datums_failed: u64,
    pub segments_sent: u64,
    pub segments_failed: u64,
    pub records_sent: u64,
    pub records_spilled: u64,
    pub records_lost: u64,
}

impl Published {
    fn add(&mut self, r: &EmitReport) {
        self.metric_datums_sent += r.metrics_sent;
        self.metric_requests += r.metric_requests;
        self.metric_datums_failed += r.metrics_fallback;
        self.segments_sent += r.segments_sent;
        self.segments_failed += r.segments_failed + r.segments_expired;
        self.records_sent += r.records_sent;
        self.records_spilled += r.records_spilled;
        self.records_lost += r.records_lost;
    }
}

/// What the configuration, subscribed to these log groups, would have cost over the window
/// covered, at the configuration's `[plan]` prices (the same as `logsieve plan`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct SubscriptionCost {
    /// Deliveries of `plan.events_per_batch` events (at least one per replay batch).
    pub invocations: f64,
    pub lambda_usd: f64,
    pub put_metric_data_requests: f64,
    pub put_metric_data_usd: f64,
    /// Distinct series seen, billed for the window's share of a month.
    pub series: u64,
    pub custom_metrics_usd: f64,
    /// EMF bytes of the datums (metrics sink `emf` only).
    pub emf_bytes: u64,
    pub emf_usd: f64,
    pub xray_traces: u64,
    pub xray_usd: f64,
    pub total_usd: f64,
}

/// Counts gathered batch by batch for [`subscription_cost`].
#[derive(Debug, Default)]
pub(crate) struct CostInputs {
    pub events: u64,
    pub batches: u64,
    /// Metric datums the replay batches derived.
    pub datums: u64,
    pub series: HashSet<String>,
    pub emf_bytes: u64,
    pub segments: u64,
}

pub(crate) fn subscription_cost(
    inputs: &CostInputs,
    covered_ms: i64,
    config: &logsieve::config::Config,
) -> SubscriptionCost {
    use logsieve_cli::plan::{custom_metrics_cost, DAYS_PER_MONTH};
    let p = &config.plan.pricing;
    let per_batch = config.plan.events_per_batch.max(1) as f64;
    let invocations = (inputs.events as f64 / per_batch)
        .ceil()
        .max(inputs.batches as f64);
    // The datums spread over the deliveries, each sending one request per 1,000 datums (at
    // least one when it has any). Deliveries shorter than a minute fold less than the replay's
    // batches do, so this leans low for metrics whose series are busy every minute.
    let put_metric_data_requests = if inputs.datums > 0 && invocations > 0.0 {
        let per_delivery = inputs.datums as f64 / invocations;
        invocations * (per_delivery / MAX_DATUMS_PER_REQUEST as f64).ceil()
    } else {
        0.0
    };
    let sink = config.metrics.sink;
    let put_metric_data_usd = if sink == MetricSinkKind::Cloudwatch {
        put_metric_data_requests / 1000.0 * p.put_metric_data_per_1000
    } else {
        0.0
    };
    let month_share = covered_ms.max(0) as f64 / (DAYS_PER_MONTH * DAY_MS as f64);
    let series = inputs.series.len() as u64;
    let custom_metrics_usd = if sink == MetricSinkKind::None {
        0.0
    } else {
        custom_metrics_cost(series, p) * month_share
    };
    let emf_usd = if sink == MetricSinkKind::Emf {
        inputs.emf_bytes as f64 / logsieve_cli::plan::BYTES_PER_GB * p.log_ingestion_per_gb
    } else {
        0.0
    };
    let lambda_usd = invocations * config.metrics.price_per_request
        + inputs.events as f64 / 1e6 * p.lambda_per_million_events;
    let xray_traces = if config.traces.sink == TraceSinkKind::Xray {
        inputs.segments
    } else {
        0
    };
    let xray_usd = xray_traces as f64 / 1e6 * p.xray_per_million_traces;
    SubscriptionCost {
        invocations,
        lambda_usd,
        put_metric_data_requests,
        put_metric_data_usd,
        series,
        custom_metrics_usd,
        emf_bytes: if sink == MetricSinkKind::Emf {
            inputs.emf_bytes
        } else {
            0
        },
        emf_usd,
        xray_traces,
        xray_usd,
        total_usd: lambda_usd + put_metric_data_usd + custom_metrics_usd + emf_usd + xray_usd,
    }
}

/// A series' identity: what CloudWatch bills as one custom metric.
fn series_key(d: &MetricDatum) -> String {
    let dims = serde_json::to_string(&d.dimensions).unwrap_or_default();
    format!("{}\u{1}{}\u{1}{dims}", d.namespace, d.metric_name)
}

/// Datums folded per series (timestamps merged), for the table: one line per series with its
/// samples and sum.
#[derive(Debug, Default)]
pub(crate) struct SeriesTable {
    order: Vec<String>,
    rows: HashMap<String, (MetricDatum, f64, f64)>,
}

impl SeriesTable {
    pub(crate) fn add(&mut self, d: &MetricDatum) {
        let samples: f64 = d.counts.iter().sum::<f64>()
            + if d.counts.is_empty() {
                d.values.len() as f64
            } else {
                0.0
            };
        let sum: f64 = if d.counts.is_empty() {
            d.values.iter().sum()
        } else {
            d.values.iter().zip(&d.counts).map(|(v, c)| v * c).sum()
        };
        let key = series_key(d);
        let row = self.rows.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            (d.clone(), 0.0, 0.0)
        });
        row.1 += samples;
        row.2 += sum;
    }

    /// One datum per series: values [mean], counts [samples], so the table shows samples and sum.
    pub(crate) fn datums(&self) -> Vec<MetricDatum> {
        self.order
            .iter()
            .filter_map(|k| self.rows.get(k))
            .map(|(d, samples, sum)| MetricDatum {
                values: vec![if *samples > 0.0 { sum / samples } else { 0.0 }],
                counts: vec![*samples],
                ..d.clone()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// Progress on stderr: a bar on a terminal, a plain line every second otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    start: i64,
    last_line: Instant,
    began: Instant,
}

impl Progress {
    fn new(start: i64, end: i64) -> Progress {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(((end - start) / 1000).max(1) as u64);
            let style = indicatif::ProgressStyle::with_template(
                // wide_msg is cut to the terminal's width, so the bar never wraps.
                "{spinner} [{bar:20}] {percent:>3}% {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            start,
            last_line: Instant::now(),
            began: Instant::now(),
        }
    }

    fn update(&mut self, covered: i64, events: u64, pages: u64) {
        let secs = self.began.elapsed().as_secs_f64().max(1e-9);
        let msg = format!(
            "covered to {}, {events} events, {pages} pages, {:.0} events/s",
            format_time(covered),
            events as f64 / secs
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(((covered - self.start) / 1000).max(0) as u64);
                bar.set_message(msg);
            }
            None => {
                if self.last_line.elapsed() >= Duration::from_secs(1) {
                    eprintln!("replay: {msg}");
                    self.last_line = Instant::now();
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Sets the flag on the first Ctrl-C; a second one ends the process at once.
fn watch_ctrl_c() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("replay: stopping after the current batch (Ctrl-C again to quit at once)");
        let _ = tx.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
    rx
}

pub(crate) fn run(args: ReplayArgs) -> Result<ExitCode, Failure> {
    let now = now_ms();
    let start = parse_time(&args.start, now).map_err(|e| usage(format!("replay: --start {e}")))?;
    let end = parse_time(&args.end, now).map_err(|e| usage(format!("replay: --end {e}")))?;
    // Events later than now cannot have been read yet: a window said to be covered past now would
    // make a run that continues from its end skip the events still to come.
    let end = end.min(now);
    check_window(start, end, now, args.publish).map_err(|e| usage(format!("replay: {e}")))?;
    if args.groups.is_empty() {
        return Err(usage("replay: name at least one --log-group"));
    }
    let raw = load_raw_config(args.config.clone())?;
    let checked = load_config(args.config.clone())?;
    if args.publish && checked.metrics.sink == MetricSinkKind::Emf {
        return Err(usage(
            "replay --publish: metrics.sink is \"emf\", whose lines only count when a Lambda \
             writes them to its log; set metrics.sink = \"cloudwatch\" to backfill through \
             PutMetricData, or leave out --publish to preview",
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("replay: no async runtime: {e}")))?;
    runtime.block_on(replay(args, start, end, raw, checked))
}

/// The state of the printed output across batches.
struct Collected {
    series: SeriesTable,
    /// Every datum (JSON output: what would be sent).
    datums: Vec<MetricDatum>,
    /// Segments as `process` writes them: spooled for JSON, the first few for the table.
    segments: crate::SegmentStream,
    stats: logsieve::pipeline::Stats,
}

async fn replay(
    args: ReplayArgs,
    start: i64,
    end: i64,
    raw: logsieve::config::Config,
    checked: logsieve::config::CheckedConfig,
) -> Result<ExitCode, Failure> {
    let json = matches!(args.output, OutputFormat::Json);
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = logs_client(&shared);
    let emitter = if args.publish {
        Some(Emitter::with_config(&checked, &shared))
    } else {
        None
    };
    let ships_records = emitter.as_ref().is_some_and(Emitter::ships_records);
    let emf_sizing = checked.metrics.sink == MetricSinkKind::Emf;
    let mut pipeline = Pipeline::new(checked).with_records(!args.publish || ships_records);
    let mut stop = watch_ctrl_c();

    let mut w = logsieve_cli::stdout::bulk();
    let mut records_out = crate::RecordStream::new(if json {
        crate::ProcessOutput::Json
    } else {
        crate::ProcessOutput::Table
    });
    records_out.start(&mut w).map_err(stdout_error)?;

    let mut merge = Merge::new(args.groups.len(), start, end, args.page_size as usize);
    let mut progress = Progress::new(start, end);
    let mut collected = Collected {
        series: SeriesTable::default(),
        datums: Vec::new(),
        segments: crate::SegmentStream::new(if json {
            crate::ProcessOutput::Json
        } else {
            crate::ProcessOutput::Table
        })
        .map_err(crate::spool_error)?,
        stats: logsieve::pipeline::Stats::default(),
    };
    let mut cost = CostInputs::default();
    let mut published = Published::default();
    let (mut pages, mut bytes) = (0u64, 0u64);
    let mut covered = start;
    let mut in_pipeline = Duration::ZERO;
    let began = Instant::now();
    let interval = args
        .max_pages_per_second
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_call = tokio::time::Instant::now();
    let mut interrupted = false;

    'run: loop {
        if *stop.borrow() {
            interrupted = !merge.finished() || covered < end;
            break;
        }
        for g in merge.laggards() {
            if let Some(i) = interval {
                tokio::time::sleep_until(next_call).await;
                next_call = tokio::time::Instant::now() + i;
            }
            let (from, token) = merge.request(g);
            let req = FilterRequest {
                group: &args.groups[g],
                start_ms: from,
                end_ms_inclusive: end - 1,
                pattern: args.filter_pattern.as_deref(),
                limit: args.page_size,
                token,
            };
            let page = tokio::select! {
                page = filter_page(&client, req) => page,
                _ = stop.changed() => { interrupted = true; break 'run; }
            };
            let page = page.map_err(|e| {
                progress.finish();
                Failure {
                    code: 1,
                    message: if covered > start {
                        format!(
                            "replay: {e} (window processed: {} .. {}; --start {} continues it)",
                            format_time(start),
                            format_time(covered),
                            format_time(covered)
                        )
                    } else {
                        format!("replay: {e} (nothing processed)")
                    },
                }
            })?;
            pages += 1;
            bytes += page
                .events
                .iter()
                .map(|e| e.message.len() as u64)
                .sum::<u64>();
            merge.accept(g, page);
        }
        let (watermark, ready) = merge.take_ready();
        let n = ready.len() as u64;
        if n > 0 {
            let batches = into_batches(ready, &args.groups);
            let mut step = Output::default();
            let t0 = Instant::now();
            for batch in batches {
                let out = pipeline.process_with(
                    batch,
                    Limits {
                        now_ms: Some(now_ms()),
                        budget: None,
                    },
                );
                cost.batches += 1;
                cost.datums += out.metrics.len() as u64;
                if emf_sizing {
                    cost.emf_bytes += encode_emf(&out.metrics)
                        .iter()
                        .map(|l| l.len() as u64 + 1)
                        .sum::<u64>();
                }
                step.merge(out);
            }
            in_pipeline += t0.elapsed();
            cost.events += n;
            cost.segments += step.segments.len() as u64;
            for d in &step.metrics {
                cost.series.insert(series_key(d));
            }
            if let Some(emitter) = &emitter {
                let mut emf = Vec::new();
                let report = emitter
                    .emit(
                        &step,
                        Deadline::after(logsieve_aws::DEFAULT_BUDGET),
                        &mut emf,
                    )
                    .await;
                published.add(&report);
                step.stats.counters.merge(&report.counters);
            }
            collect(&mut collected, &mut records_out, &mut w, step, json)?;
        }
        covered = watermark;
        progress.update(covered, collected.stats.events, pages);
        if merge.finished() && covered >= end {
            break;
        }
    }
    progress.finish();
    let seconds = began.elapsed().as_secs_f64();
    let summary = Summary {
        log_groups: args.groups.clone(),
        start: format_time(start),
        end: format_time(end),
        covered_to: format_time(covered),
        interrupted,
        events: collected.stats.events,
        bytes,
        pages,
        batches: cost.batches,
        seconds,
        events_per_second: collected.stats.events as f64 / seconds.max(1e-9),
        pages_per_second: pages as f64 / seconds.max(1e-9),
        pipeline_share: in_pipeline.as_secs_f64() / seconds.max(1e-9),
        published: args.publish,
        publish: args.publish.then(|| published.clone()),
        subscription_cost: subscription_cost(&cost, covered - start, &raw),
    };
    if merge.stuck_pages > 0 {
        eprintln!(
            "replay: warning: {} events or more share one millisecond in a log group, and the \
             server sent no next-page token; events of that millisecond past the first page \
             may be missing",
            args.page_size
        );
    }
    let out = Output {
        metrics: if json {
            std::mem::take(&mut collected.datums)
        } else {
            collected.series.datums()
        },
        segments: Vec::new(),
        records: Vec::new(),
        batches: Vec::new(),
        stats: collected.stats,
    };
    write_summary(
        &mut w,
        &out,
        &summary,
        &records_out,
        &mut collected.segments,
        json,
    )
    .and_then(|_| w.flush())
    .map_err(stdout_error)?;
    if interrupted {
        eprintln!(
            "replay: interrupted: processed {} .. {}; to continue without counting anything \
             twice, run again with --start {} --end {}",
            summary.start, summary.covered_to, summary.covered_to, summary.end
        );
        return Ok(ExitCode::from(130));
    }
    if published.metric_datums_failed > 0 || published.records_lost > 0 {
        return Err(Failure {
            code: 1,
            message: format!(
                "replay --publish: {} metric datums and {} records could not be delivered",
                published.metric_datums_failed, published.records_lost
            ),
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn collect(
    c: &mut Collected,
    records_out: &mut crate::RecordStream,
    w: &mut impl Write,
    mut step: Output,
    json: bool,
) -> Result<(), Failure> {
    for d in &step.metrics {
        c.series.add(d);
    }
    if json {
        c.datums.append(&mut step.metrics);
    }
    // The table keeps only the records and segments it prints; JSON streams them.
    records_out.write(w, &step.records).map_err(stdout_error)?;
    c.segments
        .take(std::mem::take(&mut step.segments))
        .map_err(crate::spool_error)?;
    c.stats.merge(step.stats);
    Ok(())
}

fn write_summary(
    w: &mut impl Write,
    out: &Output,
    s: &Summary,
    records: &crate::RecordStream,
    segments: &mut crate::SegmentStream,
    json: bool,
) -> io::Result<()> {
    if json {
        // `process`'s document, with the replay figures added as one more member.
        crate::write_json_members(w, out, segments)?;
        w.write_all(b",\"replay\":")?;
        serde_json::to_writer(&mut *w, s).map_err(io::Error::other)?;
        return w.write_all(b"}\n");
    }
    writeln!(
        w,
        "(metrics: one line per series, its samples summed over the window)"
    )?;
    crate::write_table(w, out, records, segments)?;
    writeln!(w)?;
    writeln!(w, "== REPLAY ==")?;
    writeln!(w, "log groups: {}", s.log_groups.join(", "))?;
    writeln!(
        w,
        "window:     {} .. {}{}",
        s.start,
        s.covered_to,
        if s.interrupted {
            format!(" (interrupted; the window asked ends {})", s.end)
        } else {
            String::new()
        }
    )?;
    writeln!(
        w,
        "read:       {} events, {} bytes in {} pages, {} batches, {:.2} s: {:.0} events/s, \
         {:.1} pages/s, {:.1}% of the time in the pipeline",
        s.events,
        s.bytes,
        s.pages,
        s.batches,
        s.seconds,
        s.events_per_second,
        s.pages_per_second,
        s.pipeline_share * 100.0
    )?;
    match &s.publish {
        Some(p) => writeln!(
            w,
            "published:  {} metric datums in {} PutMetricData requests ({} failed), {} segments \
             ({} failed), {} records ({} spilled, {} lost)",
            p.metric_datums_sent,
            p.metric_requests,
            p.metric_datums_failed,
            p.segments_sent,
            p.segments_failed,
            p.records_sent,
            p.records_spilled,
            p.records_lost
        )?,
        None => writeln!(w, "published:  nothing (a preview; --publish sends)")?,
    }
    let c = &s.subscription_cost;
    writeln!(
        w,
        "a subscription over this window would cost {}: Lambda {} ({:.0} invocations), \
         PutMetricData {} ({:.0} requests), custom metrics {} ({} series for the window's share \
         of a month), EMF {}, X-Ray {} ({} traces)",
        usd(c.total_usd),
        usd(c.lambda_usd),
        c.invocations,
        usd(c.put_metric_data_usd),
        c.put_metric_data_requests,
        usd(c.custom_metrics_usd),
        c.series,
        usd(c.emf_usd),
        usd(c.xray_usd),
        c.xray_traces
    )
}

/// Dollars with two significant digits below a cent (a day of a small group costs fractions of
/// one), cents above.
pub(crate) fn usd(x: f64) -> String {
    if x == 0.0 {
        "$0".to_string()
    } else if x < 0.01 {
        let digits = (-x.log10().floor()) as usize + 1;
        format!("${x:.digits$}")
    } else {
        format!("${x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    #[test]
    fn times_relative_and_absolute() {
        let ok = |t: &str| parse_time(t, NOW).unwrap();
        assert_eq!(ok("now"), NOW);
        assert_eq!(ok("2h"), NOW - 7_200_000);
        assert_eq!(ok("7d"), NOW - 7 * DAY_MS);
        assert_eq!(ok("1h 30m"), NOW - 5_400_000);
        assert_eq!(ok("2025-12-01T00:00:00Z"), NOW);
        assert_eq!(ok("2025-11-30T23:00:00.250Z"), NOW - 3_600_000 + 250);
        assert_eq!(ok("2025-12-01T02:00:00+02:00"), NOW);
        assert_eq!(ok("2025-11-30T19:30:00-04:30"), NOW);
        assert_eq!(ok("2025-12-01 00:00:00"), NOW);
        for bad in ["", "yesterday", "2025-13-01T00:00:00Z", "5 parsecs"] {
            assert!(parse_time(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn printed_times_read_back_exactly() {
        for ms in [NOW, NOW - 1, NOW + 999, 1_000] {
            assert_eq!(parse_time(&format_time(ms), NOW), Ok(ms), "{ms}");
        }
        assert_eq!(format_time(NOW + 5), "2025-12-01T00:00:00.005Z");
    }

    #[test]
    fn publishing_refuses_windows_older_than_two_weeks() {
        assert!(check_window(NOW - 13 * DAY_MS, NOW, NOW, true).is_ok());
        assert!(check_window(NOW - 14 * DAY_MS, NOW, NOW, true).is_ok());
        let e = check_window(NOW - 15 * DAY_MS, NOW - DAY_MS, NOW, true).unwrap_err();
        assert!(
            e.contains("15.0 days ago") && e.contains("nothing was read"),
            "{e}"
        );
        // A preview may look further back.
        assert!(check_window(NOW - 90 * DAY_MS, NOW, NOW, false).is_ok());
        assert!(check_window(NOW, NOW, NOW, false).is_err());
        assert!(check_window(NOW, NOW - 1, NOW, false).is_err());
    }

    fn ev(id: &str, stream: &str, ts: i64) -> FetchedEvent {
        FetchedEvent {
            id: id.into(),
            stream: stream.into(),
            timestamp: ts,
            message: format!("m{id}"),
        }
    }

    fn page(events: Vec<FetchedEvent>, token: Option<&str>) -> Page {
        Page {
            events,
            next_token: token.map(str::to_string),
        }
    }

    /// Drives a merge over scripted pages per group, optionally stopping after `stop_after`
    /// steps; returns (ids handed out in order, watermark, finished).
    fn drive(
        script: &[Vec<Page>],
        start: i64,
        end: i64,
        limit: usize,
        stop_after: Option<usize>,
    ) -> (Vec<String>, i64, bool) {
        let mut merge = Merge::new(script.len(), start, end, limit);
        let mut next = vec![0usize; script.len()];
        let mut out = Vec::new();
        let mut watermark = start;
        let mut steps = 0;
        while !merge.finished() {
            if stop_after == Some(steps) {
                return (out, watermark, false);
            }
            for g in merge.laggards() {
                // A page read from the merge's own request time: pages whose events are all at
                // or after it (what the API answers).
                let (from, _) = merge.request(g);
                let p = &script[g][next[g]];
                next[g] += 1;
                let events = p
                    .events
                    .iter()
                    .filter(|e| e.timestamp >= from)
                    .cloned()
                    .collect();
                merge.accept(g, page(events, p.next_token.as_deref()));
            }
            let (w, ready) = merge.take_ready();
            assert!(w >= watermark, "watermark went back");
            for (_, e) in &ready {
                assert!(e.timestamp < w, "{} handed out at watermark {w}", e.id);
                assert!(
                    e.timestamp >= watermark,
                    "{} is before the last watermark",
                    e.id
                );
            }
            watermark = w;
            out.extend(ready.into_iter().map(|(_, e)| e.id));
            steps += 1;
        }
        let (w, ready) = merge.take_ready();
        out.extend(ready.into_iter().map(|(_, e)| e.id));
        (out, w, true)
    }

    /// Splits a group's events into pages of `n` (with tokens, as AWS pages).
    fn paged(events: &[FetchedEvent], n: usize) -> Vec<Page> {
        let chunks: Vec<_> = events.chunks(n).collect();
        let mut pages: Vec<Page> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| page(c.to_vec(), (i + 1 < chunks.len()).then_some("t")))
            .collect();
        if pages.is_empty() {
            pages.push(page(vec![], None));
        }
        pages
    }

    fn group(prefix: &str, times: &[i64]) -> Vec<FetchedEvent> {
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| ev(&format!("{prefix}{i}"), &format!("{prefix}-s{}", i % 2), t))
            .collect()
    }

    #[test]
    fn two_groups_come_out_in_time_order_and_complete() {
        let a = group("a", &[0, 10, 10, 20, 30, 30, 30, 40, 90]);
        let b = group("b", &[5, 10, 15, 50, 60]);
        let (ids, w, done) = drive(&[paged(&a, 2), paged(&b, 3)], 0, 100, 100, None);
        assert!(done);
        assert_eq!(w, 100);
        let mut all: Vec<String> = a.iter().chain(&b).map(|e| e.id.clone()).collect();
        let mut got = ids.clone();
        got.sort();
        all.sort();
        assert_eq!(got, all, "every event exactly once");
        let ts: HashMap<String, i64> = a
            .iter()
            .chain(&b)
            .map(|e| (e.id.clone(), e.timestamp))
            .collect();
        assert!(ids.windows(2).all(|p| ts[&p[0]] <= ts[&p[1]]), "{ids:?}");
    }

    #[test]
    fn stopping_anywhere_and_resuming_at_the_watermark_counts_each_event_once() {
        let a = group("a", &[0, 10, 10, 10, 20, 30, 30, 40, 41, 42, 90]);
        let b = group("b", &[5, 10, 15, 30, 50, 60, 60, 61]);
        let script = [paged(&a, 2), paged(&b, 3)];
        let (whole, _, _) = drive(&script, 0, 100, 100, None);
        for stop in 0..12 {
            let (first, w, _) = drive(&script, 0, 100, 100, Some(stop));
            // The resumed run reads the same data from the watermark on.
            let from = |evs: &[FetchedEvent]| -> Vec<FetchedEvent> {
                evs.iter().filter(|e| e.timestamp >= w).cloned().collect()
            };
            let (a2, b2) = (from(&a), from(&b));
            let (second, end, done) = drive(&[paged(&a2, 2), paged(&b2, 3)], w, 100, 100, None);
            assert!(done && end == 100);
            let mut both: Vec<String> = first.iter().chain(&second).cloned().collect();
            both.sort();
            let mut want = whole.clone();
            want.sort();
            assert_eq!(both, want, "stopped after {stop} steps at {w}");
        }
    }

    #[test]
    fn full_pages_without_a_token_are_read_on_from_their_last_time() {
        // An emulator answers at most `limit` events and no token: read on from the newest time
        // seen, skipping the ids already read at it.
        let a = group("a", &[1, 2, 3, 3, 4, 5, 5, 6]);
        let (got, stuck) = read_capped(&a, 3);
        let want: Vec<String> = a.iter().map(|e| e.id.clone()).collect();
        assert_eq!(got, want);
        assert_eq!(stuck, 0);
    }

    /// Reads one group from a server that answers at most `limit` events and never a token.
    fn read_capped(a: &[FetchedEvent], limit: usize) -> (Vec<String>, u64) {
        let mut merge = Merge::new(1, 0, 10, limit);
        let mut got = Vec::new();
        for _ in 0..20 {
            if merge.finished() {
                break;
            }
            let (from, token) = merge.request(0);
            assert!(token.is_none());
            let events: Vec<_> = a
                .iter()
                .filter(|e| e.timestamp >= from)
                .take(limit)
                .cloned()
                .collect();
            merge.accept(0, page(events, None));
            got.extend(merge.take_ready().1.into_iter().map(|(_, e)| e.id));
        }
        assert!(merge.finished());
        got.extend(merge.take_ready().1.into_iter().map(|(_, e)| e.id));
        (got, merge.stuck_pages)
    }

    #[test]
    fn a_millisecond_with_a_page_of_events_is_passed_not_looped_on() {
        let a = group("a", &[7, 7, 7, 7, 8]);
        let (got, stuck) = read_capped(&a, 2);
        // The two events of 7 past the first page are out of reach of such a server.
        assert_eq!(got, vec!["a0", "a1", "a4"]);
        assert_eq!(stuck, 1);
    }

    #[test]
    fn batches_are_per_stream_in_first_seen_order_and_cut_at_the_limits() {
        let groups = vec!["/g0".to_string(), "/g1".to_string()];
        let events = vec![
            (0, ev("1", "x", 1)),
            (1, ev("2", "x", 2)),
            (0, ev("3", "y", 3)),
            (0, ev("4", "x", 4)),
        ];
        let b = into_batches(events, &groups);
        let shape: Vec<(String, String, Vec<String>)> = b
            .iter()
            .map(|b| {
                (
                    b.source.log_group.clone(),
                    b.source.log_stream.clone(),
                    b.events.iter().map(|e| e.id.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("/g0".into(), "x".into(), vec!["1".into(), "4".into()]),
                ("/g1".into(), "x".into(), vec!["2".into()]),
                ("/g0".into(), "y".into(), vec!["3".into()]),
            ]
        );

        let many: Vec<_> = (0..MAX_BATCH_EVENTS + 1)
            .map(|i| (0, ev(&i.to_string(), "s", i as i64)))
            .collect();
        let sizes: Vec<usize> = into_batches(many, &groups)
            .iter()
            .map(|b| b.events.len())
            .collect();
        assert_eq!(sizes, vec![MAX_BATCH_EVENTS, 1]);

        let big = "x".repeat(MAX_BATCH_BYTES / 2 + 1);
        let heavy: Vec<_> = (0..3)
            .map(|i| {
                let mut e = ev(&i.to_string(), "s", i);
                e.message = big.clone();
                (0, e)
            })
            .collect();
        let sizes: Vec<usize> = into_batches(heavy, &groups)
            .iter()
            .map(|b| b.events.len())
            .collect();
        assert_eq!(sizes, vec![1, 1, 1]);
    }

    #[test]
    fn dollars_keep_two_significant_digits_below_a_cent() {
        let cases = [
            (0.0, "$0"),
            (0.0395, "$0.04"),
            (12.5, "$12.50"),
            (0.0006, "$0.00060"),
            (0.000_012_3, "$0.000012"),
        ];
        for (x, want) in cases {
            assert_eq!(usd(x), want, "{x}");
        }
    }

    #[test]
    fn subscription_cost_from_counts_and_prices() {
        let mut config = logsieve::config::Config::from_toml(
            "[metrics]\nsink = \"cloudwatch\"\nprice_per_request = 0.0000002\n\
             [plan]\nevents_per_batch = 100\n\
             [plan.pricing]\nlambda_per_million_events = 1.0\nmetric_first_10k = 0.30\n\
             put_metric_data_per_1000 = 0.01\n[traces]\nsink = \"none\"\n",
        )
        .unwrap();
        config.plan.events_per_batch = 100;
        let inputs = CostInputs {
            events: 10_000,
            batches: 10,
            datums: 150_000,
            series: ["a", "b", "c"].iter().map(|s| s.to_string()).collect(),
            emf_bytes: 0,
            segments: 7,
        };
        // One day of a 730-hour month.
        let c = subscription_cost(&inputs, DAY_MS, &config);
        assert_eq!(c.invocations, 100.0); // 10,000 events / 100 per delivery
                                          // 1,500 datums per delivery: 2 requests each.
        assert_eq!(c.put_metric_data_requests, 200.0);
        assert!((c.put_metric_data_usd - 0.002).abs() < 1e-12);
        assert!((c.lambda_usd - (100.0 * 0.0000002 + 0.01)).abs() < 1e-12);
        assert!((c.custom_metrics_usd - 3.0 * 0.30 * 24.0 / 730.0).abs() < 1e-12);
        assert_eq!(c.xray_traces, 0);
        let sum = c.lambda_usd + c.put_metric_data_usd + c.custom_metrics_usd;
        assert!((c.total_usd - sum).abs() < 1e-12);
    }
}
