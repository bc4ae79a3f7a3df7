//! `logsieve tail`: a live preview of a configuration on real log groups through CloudWatch Logs
//! StartLiveTail. Each update runs through the pipeline; the selected records are printed as they
//! come, and a table of the metrics they would emit is printed as it changes. Nothing is sent.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use logsieve::pipeline::{Limits, Pipeline};
use logsieve_aws::logs::{logs_client, LiveTail};

use crate::replay::{into_batches, now_ms, SeriesTable};
use crate::{load_config, stdout_error, usage, Failure};

/// The metrics table is printed at most this often (and only when it changed).
const TABLE_EVERY: Duration = Duration::from_secs(5);

pub(crate) fn run(
    groups: Vec<String>,
    config: Option<PathBuf>,
    filter_pattern: Option<String>,
) -> Result<ExitCode, Failure> {
    if groups.is_empty() {
        return Err(usage("tail: name at least one --log-group"));
    }
    if groups.len() > 10 {
        // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartLiveTail.html
        return Err(usage("tail: StartLiveTail takes at most 10 log groups"));
    }
    let checked = load_config(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("tail: no async runtime: {e}")))?;
    runtime.block_on(tail(groups, checked, filter_pattern))
}

async fn tail(
    mut groups: Vec<String>,
    checked: logsieve::config::CheckedConfig,
    filter_pattern: Option<String>,
) -> Result<ExitCode, Failure> {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = logs_client(&shared);
    let mut session = LiveTail::start(&client, &groups, filter_pattern.as_deref())
        .await
        .map_err(|e| Failure {
            code: 1,
            message: format!("tail: {e}"),
        })?;
    eprintln!(
        "tail: watching {} (Ctrl-C to stop; nothing is published)",
        groups.join(", ")
    );
    let mut pipeline = Pipeline::new(checked).with_records(true);
    let mut table = SeriesTable::default();
    let (mut events, mut selected, mut sampled) = (0u64, 0u64, 0u64);
    let mut changed = false;
    let mut last_table = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let stdout = io::stdout();
    loop {
        let update = tokio::select! {
            u = session.next() => u,
            _ = &mut ctrl_c => break,
        };
        let update = match update {
            Ok(Some(u)) => u,
            Ok(None) => {
                eprintln!("tail: the service ended the session");
                break;
            }
            Err(e) => {
                return Err(Failure {
                    code: 1,
                    message: format!("tail: {e}"),
                })
            }
        };
        if update.sampled {
            sampled += 1;
        }
        let indexed = update
            .events
            .into_iter()
            .map(|(group, e)| {
                let g = match groups.iter().position(|x| *x == group) {
                    Some(g) => g,
                    None => {
                        groups.push(group);
                        groups.len() - 1
                    }
                };
                (g, e)
            })
            .collect::<Vec<_>>();
        events += indexed.len() as u64;
        let mut w = stdout.lock();
        for batch in into_batches(indexed, &groups) {
            let out = pipeline.process_with(
                batch,
                Limits {
                    now_ms: Some(now_ms()),
                    budget: None,
                },
            );
            for r in &out.records {
                w.write_all(r.json().as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .map_err(stdout_error)?;
            }
            selected += out.records.len() as u64;
            for d in &out.metrics {
                table.add(d);
                changed = true;
            }
        }
        if changed && last_table.elapsed() >= TABLE_EVERY {
            print_table(&mut w, &table, events, selected, sampled).map_err(stdout_error)?;
            changed = false;
            last_table = Instant::now();
        }
        w.flush().map_err(stdout_error)?;
    }
    let mut w = stdout.lock();
    print_table(&mut w, &table, events, selected, sampled)
        .and_then(|_| w.flush())
        .map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

fn print_table(
    w: &mut impl Write,
    table: &SeriesTable,
    events: u64,
    selected: u64,
    sampled: u64,
) -> io::Result<()> {
    writeln!(
        w,
        "== TAIL == {events} events, {selected} records selected{}",
        if sampled > 0 {
            format!(", {sampled} updates sampled by the service")
        } else {
            String::new()
        }
    )?;
    writeln!(
        w,
        "{:<14} {:<18} {:<40} {:>7} {:>12} {:>10} {:<12}",
        "namespace", "metric", "dimensions", "samples", "sum", "avg", "unit"
    )?;
    for m in table.datums() {
        let dims = m
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
        let samples: f64 = m.counts.iter().sum();
        let avg = m.values.first().copied().unwrap_or_default();
        writeln!(
            w,
            "{:<14} {:<18} {:<40} {:>7} {:>12} {:>10} {:<12}",
            crate::clip(&m.namespace, 14),
            crate::clip(&m.metric_name, 18),
            crate::clip(&dims, 40),
            samples,
            crate::format_num(avg * samples),
            crate::format_num(avg),
            m.unit.as_str()
        )?;
    }
    writeln!(w)
}
