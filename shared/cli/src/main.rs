//! `logsieve`: the pipeline on the command line, with the same stages the Lambda runs and dry-run
//! sinks. Exit status: 0 success, 1 processing error, 2 usage or config error.

use std::io::{self, BufRead, Read, Seek, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use logsieve::config::{CheckedConfig, Config, DEFAULT_CONFIG, ENV_CONFIG};
use logsieve::driver::DriveError;
use logsieve::parse::parse_event;
use logsieve::pattern::FilterPattern;
use logsieve::pipeline::{match_input, Output, Pipeline};
use logsieve::record::{LogEvent, Source};
use logsieve::records::OutputRecord;
use logsieve::trace::Segment;

/// mimalloc, as in the functions and the bench: the pipeline allocates many small strings per
/// event, and glibc's malloc was a fifth of `process`'s profile (perf, 50,000 JSON events).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "logsieve",
    version,
    about = "Turn CloudWatch Logs subscription batches into selected records, metrics and X-Ray segments",
    long_about = "Runs the logsieve pipeline locally with dry-run sinks: nothing is sent to AWS.\n\
                  The configuration comes from --config, else LOGSIEVE_CONFIG, else the built-in default."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline over event files and print metrics, segments, records and stats.
    ///
    /// Each file holds a Lambda subscription event ({"awslogs":{"data":…}}), a Kinesis or
    /// Firehose event, or an already-decoded CloudWatch Logs document. '-' reads stdin.
    Process {
        /// Configuration file (TOML). Default: LOGSIEVE_CONFIG, else the built-in config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// `json`: exactly one JSON object (`records`, written as each input is done, then
        /// `metrics`, `segments` and `stats`); `ndjson`: one record per line, for piping into
        /// other tools (the counts go to stderr); `table`: a readable summary.
        #[arg(long, value_enum, default_value_t = ProcessOutput::Json)]
        output: ProcessOutput,
        /// Tags for `$tags.<key>` (nothing is looked up locally): a JSON object of
        /// log group → {tag key: value}.
        #[arg(long)]
        tags: Option<PathBuf>,
        /// Event files; '-' for stdin.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Test a CloudWatch filter pattern against lines, like TestMetricFilter.
    ///
    /// Prints one JSON object per line: {"line", "matches", "extracted"}.
    ///
    /// The pattern and the lines are values whatever they start with (`-ERROR`, a VPC flow-log
    /// line starting with `-`); `--` before them still works.
    Pattern {
        /// The filter pattern, in CloudWatch syntax.
        #[arg(allow_hyphen_values = true)]
        pattern: String,
        /// Log lines to test; read from stdin (one per line) when none are given.
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        lines: Vec<String>,
    },
    /// Generate a realistic batch (deterministic for a seed) for demos, tests and benchmarks.
    Generate {
        /// json-app | lambda | access | mixed
        #[arg(long, default_value = "json-app")]
        mix: String,
        /// Number of log events.
        #[arg(long, default_value_t = 100)]
        events: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// `subscription`: the Lambda event AWS sends; `document`: the decoded JSON.
        #[arg(long, default_value = "subscription")]
        format: String,
    },
    /// Validate a configuration file and summarise it.
    CheckConfig {
        /// Configuration file (TOML).
        file: PathBuf,
        /// Also print which `[[profile]]` this log group gets.
        #[arg(long)]
        log_group: Option<String>,
    },
    /// List every metric the configuration can publish, its worst-case series, dimensions that
    /// look unbounded, and the estimated monthly cost (us-east-1 prices unless [plan.pricing]
    /// says otherwise; nothing is fetched).
    Plan {
        /// Configuration file (TOML). Default: LOGSIEVE_CONFIG, else the built-in config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Log events per day (overrides plan.events_per_day).
        #[arg(long)]
        events_per_day: Option<u64>,
        /// Subscribed log groups (overrides plan.log_groups).
        #[arg(long)]
        log_groups: Option<u64>,
        /// Events per subscription delivery (overrides plan.events_per_batch).
        #[arg(long)]
        events_per_batch: Option<u64>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Translate `aws logs describe-metric-filters` JSON into config rules (TOML).
    ///
    /// Notes and inexact translations go to stderr; filters that cannot be translated are
    /// written commented out and make the exit status 1.
    ImportMetricFilters {
        /// The describe-metric-filters output; '-' for stdin.
        file: String,
        /// Write the TOML here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write CloudFormation (JSON) with native metric filters, and alarms, for the rules
    /// CloudWatch metric filters can express (the reverse of import-metric-filters).
    ///
    /// Rules that cannot be expressed are listed on stderr and left out.
    ExportMetricFilters {
        /// Configuration file (TOML). Default: LOGSIEVE_CONFIG, else the built-in config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The log group the filters go on (the template parameter's default); rules whose
        /// log_groups exclude it are left out.
        #[arg(long)]
        log_group: Option<String>,
        /// Write the template here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a CloudWatch dashboard body (JSON) for the configuration's metrics.
    Dashboard {
        /// Configuration file (TOML). Default: LOGSIEVE_CONFIG, else the built-in config.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// FunctionName to graph explicitly (repeatable); none: SEARCH expressions.
        #[arg(long = "function")]
        functions: Vec<String>,
        /// Seconds per data point.
        #[arg(long, default_value_t = logsieve_cli::dashboard::DEFAULT_PERIOD)]
        period: u32,
        /// Only this rule pack's metrics (`cis-cloudtrail`: the security dashboard), whether or
        /// not the configuration turns the pack on.
        #[arg(long)]
        pack: Option<String>,
    },
    /// Run the pipeline over a past window of real log groups (FilterLogEvents): preview what a
    /// configuration would send, or backfill it with --publish.
    ///
    /// Events are read in timestamp order across the log groups and grouped into per-stream
    /// batches as a subscription delivers them. Without --publish, prints what would be sent,
    /// the events and bytes read, and what a subscription over the window would cost. With
    /// --publish, sends the metrics with their original timestamps (the window must start at
    /// most 14 days ago: PutMetricData takes nothing older), and segments and records to the
    /// configured sinks.
    ///
    /// Ctrl-C stops after the current batch and prints the window processed, [start, T): run
    /// again with --start T (same --end) to continue without counting any event twice; the exit
    /// status is then 130. AWS credentials, region and AWS_ENDPOINT_URL as for every AWS tool.
    Replay(ReplayCli),
    /// Show each record a configuration selects from live log groups (StartLiveTail), and a
    /// rolling table of the metrics it would emit, until Ctrl-C. Nothing is published.
    Tail {
        /// Log group name or ARN (repeatable, up to 10).
        #[arg(long = "log-group", required = true)]
        log_groups: Vec<String>,
        /// Configuration file (TOML). Default: LOGSIEVE_CONFIG, else the built-in config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only events matching this CloudWatch filter pattern are sent by the service.
        #[arg(long)]
        filter_pattern: Option<String>,
    },
    /// Send spilled records again, and delete each spill object once all its records were
    /// accepted.
    ///
    /// Reads every `.ndjson.gz` object under the location, sends each section to the sink it
    /// names (the sinks of the configuration, as the function has them: same config and
    /// environment variables), and deletes the object; an object partly sent is rewritten with
    /// only what is left. AWS credentials, region and AWS_ENDPOINT_URL as for every AWS tool.
    /// Exit status 0 when nothing is left, 1 otherwise.
    Redrive {
        /// The spill location: s3://bucket/prefix
        location: String,
        /// Configuration file (TOML). Default: LOGSIEVE_CONFIG, else the built-in config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Longest time spent sending one object, in seconds.
        #[arg(long, default_value_t = 60)]
        object_timeout: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Table,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProcessOutput {
    Json,
    Ndjson,
    Table,
}

#[derive(clap::Args)]
struct ReplayCli {
    /// Log group name (repeatable).
    #[arg(long = "log-group", required = true)]
    log_groups: Vec<String>,
    /// Start of the window, included: RFC 3339 (2026-11-30T08:00:00Z, +02:00 offsets) or a
    /// duration ago (2h, 7d).
    #[arg(long)]
    start: String,
    /// End of the window, excluded (same forms, or `now`; a time later than now is taken as now).
    #[arg(long, default_value = "now")]
    end: String,
    /// Configuration file (TOML). Default: LOGSIEVE_CONFIG, else the built-in config.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only events matching this CloudWatch filter pattern are read (as a subscription filter).
    #[arg(long)]
    filter_pattern: Option<String>,
    /// Send the metrics (original timestamps), segments and records to the configured sinks.
    #[arg(long)]
    publish: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// Events per FilterLogEvents page (1-10000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    page_size: i32,
    /// At most this many FilterLogEvents calls per second (the API's quota is shared by every
    /// reader of the account and Region); throttling is retried adaptively either way.
    #[arg(long)]
    max_pages_per_second: Option<f64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Process {
            config,
            output,
            tags,
            files,
        } => process(config, output, tags, &files),
        Command::Pattern { pattern, lines } => pattern_cmd(&pattern, lines),
        Command::CheckConfig { file, log_group } => check_config(&file, log_group.as_deref()),
        Command::Plan {
            config,
            events_per_day,
            log_groups,
            events_per_batch,
            output,
        } => plan_cmd(config, events_per_day, log_groups, events_per_batch, output),
        Command::ImportMetricFilters { file, output } => import_cmd(&file, output),
        Command::ExportMetricFilters {
            config,
            log_group,
            output,
        } => export_cmd(config, log_group, output),
        Command::Dashboard {
            config,
            region,
            functions,
            period,
            pack,
        } => dashboard_cmd(config, region, functions, period, pack),
        Command::Generate {
            mix,
            events,
            seed,
            format,
        } => generate(&mix, events, seed, &format),
        Command::Replay(r) => replay::run(replay::ReplayArgs {
            groups: r.log_groups,
            start: r.start,
            end: r.end,
            config: r.config,
            filter_pattern: r.filter_pattern,
            publish: r.publish,
            output: r.output,
            page_size: r.page_size,
            max_pages_per_second: r.max_pages_per_second,
        }),
        Command::Tail {
            log_groups,
            config,
            filter_pattern,
        } => tail::run(log_groups, config, filter_pattern),
        Command::Redrive {
            location,
            config,
            object_timeout,
        } => redrive::run(&location, config, object_timeout),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("logsieve: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

mod redrive;
mod replay;
mod tail;

struct Failure {
    code: u8,
    message: String,
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

pub(crate) fn load_config(path: Option<PathBuf>) -> Result<CheckedConfig, Failure> {
    match path {
        Some(p) => CheckedConfig::load(Some(&p)),
        None => CheckedConfig::from_env(),
    }
    .map_err(|e| usage(format!("config: {e}")))
}

fn read_input(name: &str) -> Result<Vec<u8>, Failure> {
    if name == "-" {
        let mut buf = Vec::new();
        io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| usage(format!("stdin: {e}")))?;
        Ok(buf)
    } else {
        std::fs::read(name).map_err(|e| usage(format!("{name}: {e}")))
    }
}

fn process(
    config: Option<PathBuf>,
    format: ProcessOutput,
    tags: Option<PathBuf>,
    files: &[String],
) -> Result<ExitCode, Failure> {
    let config = load_config(config)?;
    let tags = match tags {
        Some(p) => {
            Some(logsieve_cli::tags_file::load(&p).map_err(|e| usage(format!("tags: {e}")))?)
        }
        None => None,
    };
    let mut pipeline = Pipeline::new(config);
    let mut w = logsieve_cli::stdout::bulk();
    let io_err = stdout_error;
    // Records leave as each input is done, so memory holds one input's records at a time; the
    // table keeps only the few it shows, and a count.
    let mut records = RecordStream::new(format);
    records.start(&mut w).map_err(io_err)?;
    let mut segments = SegmentStream::new(format).map_err(spool_error)?;
    let mut out = Output::default();
    for name in files {
        let bytes = read_input(name)?;
        // No budget and no clock: a dry run of files shows everything, anchored to their own times.
        match logsieve_cli::tags_file::drive_file(&bytes, &mut pipeline, tags.as_ref()) {
            Ok(driven) => {
                let mut got = driven.output;
                for e in &mut got.stats.errors {
                    let sep = if e.starts_with("record ") { " " } else { ": " };
                    *e = format!("{name}{sep}{e}");
                }
                records.write(&mut w, &got.records).map_err(io_err)?;
                segments
                    .take(std::mem::take(&mut got.segments))
                    .map_err(spool_error)?;
                got.records.clear();
                got.batches.clear();
                out.merge(got);
            }
            Err(e) => {
                if let DriveError::Event(d) = &e {
                    out.stats.counters.incr(d.key());
                }
                out.stats.errors.push(format!("{name}: {e}"));
            }
        }
    }
    let written = match format {
        ProcessOutput::Json => write_json_tail(&mut w, &out, &mut segments),
        ProcessOutput::Ndjson => {
            eprintln!(
                "{} events, {} records, {} metric datums, {} segments, {} errors",
                out.stats.events,
                out.stats.selected,
                out.metrics.len(),
                segments.count,
                out.stats.errors.len()
            );
            Ok(())
        }
        ProcessOutput::Table => write_table(&mut w, &out, &records, &segments),
    };
    written.and_then(|_| w.flush()).map_err(stdout_error)?;
    match out.stats.errors.first() {
        Some(first) => Err(Failure {
            code: 1,
            message: format!(
                "{} payload(s) failed to decode; first: {first}",
                out.stats.errors.len()
            ),
        }),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Writes records as they come: inside the JSON document's `records` array, or one per line.
struct RecordStream {
    format: ProcessOutput,
    first: bool,
    /// Every record written (or, for the table, seen).
    count: usize,
    /// The table's first few records; empty for the other formats.
    shown: Vec<OutputRecord>,
    /// The table's first few records joined from several events, and how many there were.
    joined: Vec<OutputRecord>,
    joined_count: usize,
}

/// Records the table prints; the rest are only counted.
const TABLE_RECORDS_SHOWN: usize = 15;

impl RecordStream {
    fn new(format: ProcessOutput) -> RecordStream {
        RecordStream {
            format,
            first: true,
            count: 0,
            shown: Vec::new(),
            joined: Vec::new(),
            joined_count: 0,
        }
    }

    fn start(&self, w: &mut impl Write) -> io::Result<()> {
        match self.format {
            ProcessOutput::Json => w.write_all(b"{\"records\":["),
            ProcessOutput::Ndjson | ProcessOutput::Table => Ok(()),
        }
    }

    fn write(&mut self, w: &mut impl Write, records: &[OutputRecord]) -> io::Result<()> {
        self.count += records.len();
        for r in records {
            match self.format {
                ProcessOutput::Json => {
                    if !std::mem::take(&mut self.first) {
                        w.write_all(b",")?;
                    }
                    w.write_all(r.json().as_bytes())?;
                }
                ProcessOutput::Ndjson => {
                    w.write_all(r.json().as_bytes())?;
                    w.write_all(b"\n")?;
                }
                ProcessOutput::Table => {
                    if self.shown.len() < TABLE_RECORDS_SHOWN {
                        self.shown.push(r.clone());
                    }
                    if logsieve_cli::arrival::is_joined(r) {
                        self.joined_count += 1;
                        if self.joined.len() < logsieve_cli::arrival::JOINED_SHOWN {
                            self.joined.push(r.clone());
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Segments as they come. The JSON document lists them after `records` and `metrics`, so they
/// wait in an anonymous temporary file (deleted when closed) rather than in memory: memory stays
/// bounded by the largest input, whatever the number of inputs. The table keeps the few it shows;
/// NDJSON only counts them.
struct SegmentStream {
    format: ProcessOutput,
    spool: Option<io::BufWriter<std::fs::File>>,
    count: usize,
    shown: Vec<Segment>,
}

/// Segments the table prints; the rest are only counted.
const TABLE_SEGMENTS_SHOWN: usize = 20;

impl SegmentStream {
    fn new(format: ProcessOutput) -> io::Result<SegmentStream> {
        let spool = match format {
            ProcessOutput::Json => Some(io::BufWriter::new(tempfile::tempfile()?)),
            ProcessOutput::Ndjson | ProcessOutput::Table => None,
        };
        Ok(SegmentStream {
            format,
            spool,
            count: 0,
            shown: Vec::new(),
        })
    }

    fn take(&mut self, segments: Vec<Segment>) -> io::Result<()> {
        for seg in segments {
            match (self.format, self.spool.as_mut()) {
                (ProcessOutput::Json, Some(spool)) => {
                    if self.count > 0 {
                        spool.write_all(b",")?;
                    }
                    // Our own JSON; were it ever not, it goes as a string (as `Output`'s
                    // serialization has it), so the document stays valid.
                    match serde_json::from_str::<&RawValue>(&seg.document) {
                        Ok(raw) => spool.write_all(raw.get().as_bytes())?,
                        Err(_) => serde_json::to_writer(&mut *spool, &seg.document)
                            .map_err(io::Error::other)?,
                    }
                }
                (ProcessOutput::Table, _) if self.shown.len() < TABLE_SEGMENTS_SHOWN => {
                    self.shown.push(seg);
                }
                _ => {}
            }
            self.count += 1;
        }
        Ok(())
    }

    /// Copies the spooled segments out, comma-separated, as they were taken.
    fn copy_to(&mut self, w: &mut impl Write) -> io::Result<()> {
        if let Some(spool) = self.spool.take() {
            let mut file = spool.into_inner().map_err(|e| e.into_error())?;
            file.seek(io::SeekFrom::Start(0))?;
            io::copy(&mut file, w)?;
        }
        Ok(())
    }
}

fn spool_error(e: io::Error) -> Failure {
    Failure {
        code: 1,
        message: format!("segments spool (a temporary file): {e}"),
    }
}

/// Closes the `records` array and writes the rest of `Output`: `metrics`, `segments` (each
/// document as it is) and `stats`, without building values for them.
fn write_json_tail(
    w: &mut impl Write,
    out: &Output,
    segments: &mut SegmentStream,
) -> io::Result<()> {
    write_json_members(w, out, segments)?;
    w.write_all(b"}\n")
}

/// [`write_json_tail`] short of the closing brace, so `replay` can add a member.
fn write_json_members(
    w: &mut impl Write,
    out: &Output,
    segments: &mut SegmentStream,
) -> io::Result<()> {
    w.write_all(b"],\"metrics\":")?;
    serde_json::to_writer(&mut *w, &out.metrics).map_err(io::Error::other)?;
    w.write_all(b",\"segments\":[")?;
    segments.copy_to(w)?;
    w.write_all(b"],\"stats\":")?;
    serde_json::to_writer(&mut *w, &out.stats).map_err(io::Error::other)
}

fn write_table(
    w: &mut impl Write,
    out: &Output,
    records: &RecordStream,
    segments: &SegmentStream,
) -> io::Result<()> {
    writeln!(w, "== METRICS ({} datums) ==", out.metrics.len())?;
    writeln!(
        w,
        "{:<14} {:<18} {:<40} {:>7} {:>12} {:>10} {:<12}",
        "namespace", "metric", "dimensions", "samples", "sum", "avg", "unit"
    )?;
    for m in &out.metrics {
        let dims = m
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
        let samples: f64 = m.counts.iter().sum();
        let sum: f64 = m.values.iter().zip(&m.counts).map(|(v, c)| v * c).sum();
        let avg = if samples > 0.0 { sum / samples } else { 0.0 };
        writeln!(
            w,
            "{:<14} {:<18} {:<40} {:>7} {:>12} {:>10} {:<12}",
            clip(&m.namespace, 14),
            clip(&m.metric_name, 18),
            clip(&dims, 40),
            samples,
            format_num(sum),
            format_num(avg),
            m.unit.as_str()
        )?;
    }
    writeln!(w)?;
    writeln!(w, "== SEGMENTS ({}) ==", segments.count)?;
    for s in &segments.shown {
        let doc: Value = serde_json::from_str(&s.document).unwrap_or(Value::Null);
        let ann = doc
            .get("annotations")
            .and_then(Value::as_object)
            .map(|a| {
                a.iter()
                    .map(|(k, v)| format!("{k}={}", scalar(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        writeln!(
            w,
            "{} {} {:<16} {}",
            s.trace_id,
            s.id,
            clip(doc.get("name").and_then(Value::as_str).unwrap_or(""), 16),
            clip(&ann, 120)
        )?;
    }
    if segments.count > segments.shown.len() {
        writeln!(
            w,
            "… {} more (use --output json for all)",
            segments.count - segments.shown.len()
        )?;
    }
    writeln!(w)?;
    writeln!(w, "== RECORDS ({} selected) ==", records.count)?;
    for r in &records.shown {
        let mut r: Map<String, Value> = r.to_map();
        for k in ["@logStream", "@id"] {
            r.remove(k);
        }
        writeln!(w, "{}", clip(&Value::Object(r).to_string(), 160))?;
    }
    if records.count > records.shown.len() {
        writeln!(
            w,
            "… {} more (use --output json for all)",
            records.count - records.shown.len()
        )?;
    }
    writeln!(w)?;
    logsieve_cli::arrival::write_joined(w, &records.joined, records.joined_count)?;
    let s = &out.stats;
    writeln!(
        w,
        "== STATS == batches={} events={} parsed={} selected={} dropped={} errors={}",
        s.batches,
        s.events,
        s.parsed,
        s.selected,
        s.dropped,
        s.errors.len()
    )?;
    let counters = s
        .counters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    writeln!(w, "{counters}")?;
    for e in &s.errors {
        writeln!(w, "error: {e}")?;
    }
    Ok(())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => clip(s, 40),
        other => other.to_string(),
    }
}

fn format_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else if f.abs() < 0.01 {
        format!("{f:.2e}")
    } else {
        format!("{f:.2}")
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn pattern_cmd(pattern: &str, lines: Vec<String>) -> Result<ExitCode, Failure> {
    let compiled = FilterPattern::compile(pattern).map_err(|e| usage(format!("pattern: {e}")))?;
    let source = Arc::new(Source::default());
    let stdout = io::stdout();
    let mut w = io::BufWriter::new(stdout.lock());
    let mut run = |line: String| -> io::Result<()> {
        let record = parse_event(
            &source,
            LogEvent {
                message: line.clone(),
                ..LogEvent::default()
            },
        );
        let m = compiled.matches(&match_input(&record));
        let obj = serde_json::json!({
            "line": line,
            "matches": m.is_some(),
            "extracted": m.map(|m| m.extracted).unwrap_or_default(),
        });
        writeln!(w, "{obj}")
    };
    let io_err = stdout_error;
    if lines.is_empty() {
        for line in io::stdin().lock().lines() {
            run(line.map_err(io_err)?).map_err(io_err)?;
        }
    } else {
        for line in lines {
            run(line).map_err(io_err)?;
        }
    }
    w.flush().map_err(io_err)?;
    Ok(ExitCode::SUCCESS)
}

fn check_config(file: &std::path::Path, log_group: Option<&str>) -> Result<ExitCode, Failure> {
    let cfg = CheckedConfig::load(Some(file)).map_err(|e| usage(format!("config: {e}")))?;
    let sinks = &cfg.record_sinks;
    let records = if sinks.is_empty() {
        "none".to_string()
    } else {
        sinks
            .sinks
            .iter()
            .map(|s| format!("{} ({})", s.name, s.target.kind().as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let spill = sinks.spill.as_ref().map_or("none".to_string(), |l| {
        format!("s3://{}/{}", l.bucket, l.prefix)
    });
    println!(
        "{}: ok (metrics sink {:?}, traces sink {:?}, records sinks {records}, spill {spill})",
        file.display(),
        cfg.metrics.sink,
        cfg.traces.sink
    );
    println!(
        "{}",
        logsieve_cli::arrival::profiles_summary(&cfg, log_group)
    );
    Ok(ExitCode::SUCCESS)
}

fn generate(mix: &str, n: usize, seed: u64, format: &str) -> Result<ExitCode, Failure> {
    use logsieve_testkit::generate::{document, events, subscription_event, Mix};
    let m = Mix::parse(mix).ok_or_else(|| {
        usage(format!(
            "unknown mix {mix:?} (json-app | lambda | access | mixed)"
        ))
    })?;
    let text = match format {
        "subscription" => subscription_event(m, n, seed),
        "document" => document(m, &events(m, n, seed)),
        other => {
            return Err(usage(format!(
                "unknown format {other:?} (subscription | document)"
            )))
        }
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The configuration as written (plan and dashboard read rule sources the checked form drops),
/// after checking it the way every other command does, so errors carry their line.
fn load_raw_config(path: Option<PathBuf>) -> Result<Config, Failure> {
    let env = |k: &str| std::env::var(k).ok();
    let (text, origin) = match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(&p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
            (text, format!("{}: ", p.display()))
        }
        None => match std::env::var(ENV_CONFIG) {
            Ok(v) if !v.trim().is_empty() => {
                let p = std::path::Path::new(v.trim());
                if p.is_file() {
                    let text = std::fs::read_to_string(p)
                        .map_err(|e| usage(format!("{}: {e}", p.display())))?;
                    (text, format!("{}: ", p.display()))
                } else if v.contains('=') || v.contains('[') {
                    (v, String::new())
                } else {
                    return Err(usage(format!(
                        "config: {ENV_CONFIG}: {v:?} is neither an existing file nor TOML"
                    )));
                }
            }
            _ => (DEFAULT_CONFIG.to_string(), String::new()),
        },
    };
    CheckedConfig::from_toml_with_env(&text, env)
        .map_err(|e| usage(format!("config: {origin}{e}")))?;
    let mut cfg = Config::from_toml(&text).map_err(|e| usage(format!("config: {origin}{e}")))?;
    cfg.apply_env(env)
        .map_err(|e| usage(format!("config: {origin}{e}")))?;
    Ok(cfg)
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut w = stdout.lock();
    w.write_all(text.as_bytes())
        .and_then(|_| w.flush())
        .map_err(stdout_error)
}

/// A failed write to stdout (or read of stdin). A reader that closed the pipe (`| head`) has
/// all it wanted: that ends the command quietly and successfully, as it does for other tools.
fn stdout_error(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Failure {
            code: 0,
            message: String::new(),
        };
    }
    usage(format!("io: {e}"))
}

fn plan_cmd(
    config: Option<PathBuf>,
    events_per_day: Option<u64>,
    log_groups: Option<u64>,
    events_per_batch: Option<u64>,
    output: OutputFormat,
) -> Result<ExitCode, Failure> {
    let mut cfg = load_raw_config(config)?;
    if let Some(n) = events_per_day {
        cfg.plan.events_per_day = n;
    }
    if let Some(n) = log_groups {
        cfg.plan.log_groups = n;
    }
    if let Some(n) = events_per_batch {
        cfg.plan.events_per_batch = n;
    }
    let plan = logsieve_cli::plan::plan(&cfg).map_err(|e| usage(format!("plan: {e}")))?;
    let text = match output {
        OutputFormat::Table => logsieve_cli::plan::render_table(&plan),
        OutputFormat::Json => serde_json::to_string(&plan)
            .map(|s| s + "\n")
            .map_err(|e| usage(format!("json: {e}")))?,
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn import_cmd(file: &str, output: Option<PathBuf>) -> Result<ExitCode, Failure> {
    use logsieve_cli::import::{import_metric_filters, render_issues, MAX_IMPORT_BYTES};
    let bytes = read_input(file)?;
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(usage(format!(
            "{file}: {} bytes, the limit is {MAX_IMPORT_BYTES}",
            bytes.len()
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| usage(format!("{file}: not UTF-8")))?;
    let imp = import_metric_filters(&text).map_err(|e| usage(format!("{file}: {e}")))?;
    match &output {
        Some(p) => {
            std::fs::write(p, &imp.toml).map_err(|e| usage(format!("{}: {e}", p.display())))?
        }
        None => write_stdout(&imp.toml)?,
    }
    eprint!("{}", render_issues(&imp.issues));
    if imp.skipped > 0 {
        return Err(Failure {
            code: 1,
            message: format!(
                "{} rule(s) imported, {} could not be translated (written commented out)",
                imp.rules, imp.skipped
            ),
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn export_cmd(
    config: Option<PathBuf>,
    log_group: Option<String>,
    output: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    use logsieve_cli::export::{export_metric_filters, render_notes, ExportOptions};
    let cfg = load_raw_config(config)?;
    let e = export_metric_filters(&cfg, &ExportOptions { log_group })
        .map_err(|e| usage(format!("export: {e}")))?;
    let text =
        serde_json::to_string_pretty(&e.template).map_err(|e| usage(format!("json: {e}")))? + "\n";
    match &output {
        Some(p) => std::fs::write(p, &text).map_err(|e| usage(format!("{}: {e}", p.display())))?,
        None => write_stdout(&text)?,
    }
    eprint!("{}", render_notes(&e.notes));
    eprintln!("{} metric filter(s), {} alarm(s)", e.filters, e.alarms);
    Ok(ExitCode::SUCCESS)
}

fn dashboard_cmd(
    config: Option<PathBuf>,
    region: String,
    functions: Vec<String>,
    period: u32,
    pack: Option<String>,
) -> Result<ExitCode, Failure> {
    use logsieve_cli::dashboard::{dashboard, pack_only, DashboardOptions};
    let mut cfg = load_raw_config(config)?;
    if let Some(p) = pack {
        cfg = pack_only(&cfg, &p);
    }
    let opts = DashboardOptions {
        region,
        functions,
        period,
    };
    let body = dashboard(&cfg, &opts).map_err(|e| usage(format!("dashboard: {e}")))?;
    let text = serde_json::to_string_pretty(&body).map_err(|e| usage(format!("json: {e}")))?;
    write_stdout(&(text + "\n"))?;
    Ok(ExitCode::SUCCESS)
}
