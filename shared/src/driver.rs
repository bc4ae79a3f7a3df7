//! The one adapter loop every entry point runs: the CloudWatch Logs, Kinesis and Firehose
//! functions and the CLI. It decodes the event, checks its kind, skips the function's own log
//! group, runs every decodable unit through the pipeline and says per unit what happened. What
//! differs between event sources is data ([`EventSource`]), not code: each function only turns
//! a [`Driven`] into its Lambda response.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::counter_keys as ck;
use crate::decode::{decode_input, DecodeError, Decoded, InputKind};
use crate::dedup::{Fingerprint, RecentBatches};
use crate::pipeline::{Limits, Output, Pipeline};
use crate::record::{Batch, Tags};

/// At most this many bytes of a rejected Kinesis record's data are kept in the log line (more
/// than a CloudWatch Logs document's header, and a bounded line whatever the record).
pub const MAX_KEPT_BYTES: usize = 4096;

/// Which event an entry point takes, and so how a unit that fails to decode is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// A CloudWatch Logs subscription: its one payload failing fails the invocation, so Lambda
    /// retries the event and its on-failure destination keeps it.
    Subscription,
    /// Kinesis Data Streams with `ReportBatchItemFailures`. A record that cannot be decoded never
    /// will be: retrying it would hold up its shard until it expires, so it is counted, kept
    /// (bounded and redacted, in the invocation's log) and the rest of the batch is processed.
    /// Only what a retry can fix is reported as a batch item failure: records not started
    /// because the invocation ran out of time. Lambda resumes from the lowest one reported, and
    /// every record after it is unstarted too, so nothing is counted twice.
    /// <https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html>
    Kinesis,
    /// A Firehose transformation: every record gets its own result, and its selected records.
    Firehose,
    /// The CLI: any event shape; failures are reported in `stats.errors`, nothing fails.
    Any,
}

impl EventSource {
    fn accepts(self, kind: InputKind) -> bool {
        match self {
            EventSource::Subscription => kind == InputKind::Subscription,
            EventSource::Kinesis => kind == InputKind::Kinesis,
            EventSource::Firehose => kind == InputKind::Firehose,
            EventSource::Any => true,
        }
    }
}

/// What became of one unit (the subscription payload, or one Kinesis/Firehose record).
#[derive(Debug)]
pub enum UnitStatus {
    Processed,
    /// The unit can never be decoded (Firehose: `ProcessingFailed`; Kinesis: rejected, kept).
    Failed(DecodeError),
    /// Not started because the CPU budget ran out: left for Lambda's retry (Kinesis).
    Retry,
}

/// One unit's outcome, in input order.
#[derive(Debug)]
pub struct UnitOutcome {
    /// Kinesis sequence number or Firehose recordId.
    pub record_id: Option<String>,
    pub status: UnitStatus,
    /// This unit's selected records (Firehose only; elsewhere they stay in `Driven::output`).
    pub records: Vec<crate::records::OutputRecord>,
    /// A rejected Kinesis record's data, redacted and cut to [`MAX_KEPT_BYTES`], for the log.
    pub kept: Option<Kept>,
}

/// What is kept of a rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The record's data as received (base64 text, or whatever arrived), redacted and cut.
    pub data: String,
    /// The data's length as received, in bytes.
    pub bytes: usize,
    /// Whether `data` is all of it.
    pub whole: bool,
}

impl Kept {
    /// `data` redacted, then cut at a character boundary to at most [`MAX_KEPT_BYTES`].
    pub fn new(data: &str, redactor: &crate::redact::Redactor) -> Kept {
        let (redacted, _) = redactor.redact_counted(data);
        let mut end = redacted.len().min(MAX_KEPT_BYTES);
        while !redacted.is_char_boundary(end) {
            end -= 1;
        }
        Kept {
            data: redacted[..end].to_string(),
            bytes: data.len(),
            whole: end == redacted.len(),
        }
    }
}

/// What one event produced.
#[derive(Debug)]
pub struct Driven {
    pub kind: InputKind,
    pub units: Vec<UnitOutcome>,
    /// Metrics, segments, stats (every decode counter, skip and error included) and, except for
    /// Firehose, the selected records.
    pub output: Output,
    /// The batches processed, for the edge to remember once the invocation has succeeded (see
    /// [`Context::recent`]).
    pub processed: Vec<Fingerprint>,
}

/// What the edge knows about an event beyond its bytes. The default knows nothing: no batch is
/// skipped as a redelivery and no batch has tags.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    /// Batches this execution environment finished in invocations that succeeded: a batch seen
    /// again (Lambda retrying an event, a record redelivered) is skipped and counted. Only for
    /// subscription and Kinesis events; a Firehose record must always get its result.
    pub recent: Option<&'a RecentBatches>,
    /// Tags by log group, set on each batch's source (`$tags.<key>`).
    pub tags: Option<&'a BTreeMap<String, Arc<Tags>>>,
}

/// Why the whole invocation fails.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("event cannot be decoded: {0}")]
    Event(#[from] DecodeError),
    #[error("expected a {expected:?} event, got a {got:?} event")]
    WrongKind {
        expected: EventSource,
        got: InputKind,
    },
    #[error("record {index} has no recordId, so no result can be returned for it")]
    MissingRecordId { index: usize },
}

impl DriveError {
    /// The `errorType` Lambda records for the failed invocation (in its log line and in the
    /// on-failure destination's record), instead of the Rust type name.
    pub fn error_type(&self) -> &'static str {
        match self {
            DriveError::Event(_) => "Logsieve.UndecodableEvent",
            DriveError::WrongKind { .. } => "Logsieve.WrongEventKind",
            DriveError::MissingRecordId { .. } => "Logsieve.MissingRecordId",
        }
    }
}

/// Runs one event through the pipeline. Pure: no network, no environment, and the clock only
/// through `limits` (the CPU budget and "now" the Lambda edge passes in; the CLI passes none).
///
/// `own_log_group` is the function's own log group (`AWS_LAMBDA_LOG_GROUP_NAME`); its batches
/// are skipped, so an account-level subscription that forgot to exclude it cannot loop.
pub fn drive(
    source: EventSource,
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
) -> Result<Driven, DriveError> {
    let decoded = decode(source, bytes, pipeline)?;
    drive_decoded(
        source,
        decoded,
        pipeline,
        own_log_group,
        limits,
        Context::default(),
    )
}

/// The first half of [`drive`]: decodes the event and checks its kind, so the edge can look
/// at the batches (their log groups) before they are processed.
pub fn decode(
    source: EventSource,
    bytes: &[u8],
    pipeline: &Pipeline,
) -> Result<Decoded, DriveError> {
    let decoded = decode_input(bytes, &pipeline.config().decode)?;
    if !source.accepts(decoded.kind) {
        return Err(DriveError::WrongKind {
            expected: source,
            got: decoded.kind,
        });
    }
    Ok(decoded)
}

/// [`decode`] with the pipeline a function's handler shares behind a mutex, held only while
/// decoding (the tag lookups that follow wait without it).
pub fn decode_locked(
    source: EventSource,
    bytes: &[u8],
    pipeline: &std::sync::Mutex<Pipeline>,
) -> Result<Decoded, DriveError> {
    // Poisoning needs a panic mid-batch, and panics abort in release; the pipeline's state
    // (caps admitted so far) stays valid either way.
    let pipeline = pipeline.lock().unwrap_or_else(|p| p.into_inner());
    decode(source, bytes, &pipeline)
}

/// The second half of [`drive`], with what the edge knows about the event.
pub fn drive_decoded(
    source: EventSource,
    decoded: Decoded,
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
    context: Context<'_>,
) -> Result<Driven, DriveError> {
    let recent = context
        .recent
        .filter(|_| matches!(source, EventSource::Subscription | EventSource::Kinesis));
    // Batches processed by this invocation: a Kinesis batch holding the same document twice
    // (a producer's retry) counts it once too.
    let mut processed: Vec<Fingerprint> = Vec::new();
    let mut seen_now: HashSet<Fingerprint> = HashSet::new();
    let mut output = Output::default();
    output.stats.counters.merge(&decoded.counters);
    let mut units = Vec::with_capacity(decoded.units.len());
    for (index, unit) in decoded.units.into_iter().enumerate() {
        let record_id = unit.record_id.filter(|id| !id.is_empty());
        // Firehose answers every record by its id, and Lambda treats an unknown Kinesis
        // identifier as a failure of the whole batch: failing loudly here says why.
        if source == EventSource::Firehose && record_id.is_none() {
            return Err(DriveError::MissingRecordId { index });
        }
        let mut outcome = UnitOutcome {
            record_id,
            status: UnitStatus::Processed,
            records: Vec::new(),
            kept: None,
        };
        // Out of time: a record not started is Lambda's to deliver again. One without a
        // sequence number cannot be named, so it runs and its events count as skipped.
        let unstarted = source == EventSource::Kinesis
            && outcome.record_id.is_some()
            && limits.budget.is_some_and(|b| b.clock.now() >= b.deadline);
        match unit.result {
            Err(cause) => {
                if source == EventSource::Subscription {
                    return Err(DriveError::Event(cause));
                }
                output.stats.errors.push(match &outcome.record_id {
                    Some(id) => format!("record {id}: {cause}"),
                    None => cause.to_string(),
                });
                if source == EventSource::Kinesis {
                    output.stats.counters.incr(ck::driver::KINESIS_REJECTED);
                    let redactor = &pipeline.config().fields.redactor;
                    outcome.kept = unit.rejected.as_deref().map(|d| Kept::new(d, redactor));
                }
                outcome.status = UnitStatus::Failed(cause);
            }
            Ok(_) if unstarted => {
                output.stats.counters.incr(ck::driver::KINESIS_RETRY);
                outcome.status = UnitStatus::Retry;
            }
            Ok(batches) => {
                for mut batch in batches {
                    if let Some(recent) = recent {
                        if let Some(fp) = Fingerprint::of(&batch) {
                            if recent.contains(&fp) || seen_now.contains(&fp) {
                                let events = batch.events.len() as u64;
                                let counters = &mut output.stats.counters;
                                counters.incr(ck::dedup::BATCHES_SKIPPED);
                                counters.add(ck::dedup::EVENTS_SKIPPED, events);
                                output.stats.dropped += events;
                                continue;
                            }
                            seen_now.insert(fp.clone());
                            processed.push(fp);
                        }
                    }
                    if let Some(tags) = context
                        .tags
                        .and_then(|t| t.get(&batch.source.log_group))
                        .filter(|t| !t.is_empty())
                    {
                        Arc::make_mut(&mut batch.source).tags = Arc::clone(tags);
                    }
                    let mut out = run_batch(pipeline, batch, own_log_group, limits);
                    if source == EventSource::Firehose {
                        outcome.records.append(&mut out.records);
                    }
                    output.merge(out);
                }
            }
        }
        units.push(outcome);
    }
    Ok(Driven {
        kind: decoded.kind,
        units,
        output,
        processed,
    })
}

fn run_batch(
    pipeline: &mut Pipeline,
    batch: Batch,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
) -> Output {
    if is_own_log_group(&batch.source.log_group, own_log_group) {
        let mut out = Output::default();
        let events = batch.events.len() as u64;
        out.stats
            .counters
            .add(ck::driver::OWN_LOG_GROUP_EVENTS, events);
        out.stats.dropped += events;
        return out;
    }
    pipeline.process_with(batch, limits)
}

/// The (owner, log group) of each batch of `decoded` that [`drive_decoded`] will process, for
/// the edge to look their tags up first: not the function's own log group, and not a batch
/// `recent` holds (a redelivery, skipped). Pure, like the rest of the driver.
pub fn tag_lookups(
    decoded: &Decoded,
    own_log_group: Option<&str>,
    recent: Option<&RecentBatches>,
) -> Vec<(String, String)> {
    decoded
        .batches()
        .filter(|b| !is_own_log_group(&b.source.log_group, own_log_group))
        .filter(|b| recent.is_none_or(|r| Fingerprint::of(b).is_none_or(|fp| !r.contains(&fp))))
        .map(|b| (b.source.owner.clone(), b.source.log_group.clone()))
        .collect()
}

/// True when a batch comes from the function's own log group.
pub fn is_own_log_group(batch_log_group: &str, own_log_group: Option<&str>) -> bool {
    own_log_group.is_some_and(|own| !own.is_empty() && batch_log_group == own)
}

impl Driven {
    /// Units that can never be decoded (Firehose's failed results; Kinesis' rejected records).
    pub fn failed(&self) -> impl Iterator<Item = &UnitOutcome> {
        self.units
            .iter()
            .filter(|u| matches!(u.status, UnitStatus::Failed(_)))
    }

    /// Units left for Lambda's retry, with their ids (Kinesis' partial batch response).
    pub fn retry(&self) -> impl Iterator<Item = &UnitOutcome> {
        self.units
            .iter()
            .filter(|u| matches!(u.status, UnitStatus::Retry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckedConfig;
    use logsieve_testkit::encode::{b64, gzip, subscription_event};
    use serde_json::Value;

    fn pipeline(records: bool) -> Pipeline {
        Pipeline::new(CheckedConfig::default_config().unwrap()).with_records(records)
    }

    fn document(group: &str, messages: &[&str]) -> String {
        let events: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                serde_json::json!({"id": format!("{i}"), "timestamp": 1_764_000_000_000_i64 + i as i64, "message": m})
            })
            .collect();
        serde_json::json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
            "logStream": "s", "subscriptionFilters": ["f"], "logEvents": events
        })
        .to_string()
    }

    fn data(group: &str, n: usize) -> String {
        let messages = vec!["{\"level\":\"ERROR\"}"; n];
        b64(&gzip(document(group, &messages).as_bytes()))
    }

    fn kinesis(records: &[(&str, String)]) -> String {
        let rs: Vec<Value> = records
            .iter()
            .map(|(seq, d)| serde_json::json!({"kinesis": {"sequenceNumber": seq, "data": d}}))
            .collect();
        serde_json::json!({ "Records": rs }).to_string()
    }

    fn firehose(records: &[(Option<&str>, String)]) -> String {
        let rs: Vec<Value> = records
            .iter()
            .map(|(id, d)| match id {
                Some(id) => serde_json::json!({"recordId": id, "data": d}),
                None => serde_json::json!({"data": d}),
            })
            .collect();
        serde_json::json!({ "records": rs }).to_string()
    }

    fn drive_with(source: EventSource, event: &str, recent: &RecentBatches) -> Driven {
        let mut p = pipeline(false);
        let decoded = decode(source, event.as_bytes(), &p).unwrap();
        let context = Context {
            recent: Some(recent),
            tags: None,
        };
        drive_decoded(source, decoded, &mut p, None, Limits::default(), context).unwrap()
    }

    fn skipped(d: &Driven) -> (u64, u64, u64, u64) {
        let c = &d.output.stats.counters;
        (
            d.output.stats.events,
            d.output.stats.dropped,
            c.get(ck::dedup::BATCHES_SKIPPED),
            c.get(ck::dedup::EVENTS_SKIPPED),
        )
    }

    #[test]
    fn a_batch_delivered_again_after_success_is_skipped_and_counted() {
        let event = subscription_event(&document("/aws/lambda/app", &["a", "b", "c"]));
        let mut recent = RecentBatches::new(8);
        let first = drive_with(EventSource::Subscription, &event, &recent);
        assert_eq!(skipped(&first), (3, 0, 0, 0));
        assert_eq!(first.processed.len(), 1);
        // The invocation failed: nothing remembered, so Lambda's retry is processed in full.
        let retry = drive_with(EventSource::Subscription, &event, &recent);
        assert_eq!(skipped(&retry), (3, 0, 0, 0));
        // It succeeded: the next delivery of the same batch is skipped.
        for fp in retry.processed {
            recent.remember(fp);
        }
        let again = drive_with(EventSource::Subscription, &event, &recent);
        assert_eq!(skipped(&again), (0, 3, 1, 3));
        assert!(again.processed.is_empty());
        // Another batch of the same stream is not taken for it.
        let other = subscription_event(&document("/aws/lambda/app", &["a", "b"]));
        assert_eq!(
            skipped(&drive_with(EventSource::Subscription, &other, &recent)),
            (2, 0, 0, 0)
        );
    }

    #[test]
    fn kinesis_duplicates_are_skipped_firehose_records_never() {
        let recent = RecentBatches::new(8);
        let d = data("/g", 2);
        let twice = kinesis(&[("1", d.clone()), ("2", d.clone())]);
        let k = drive_with(EventSource::Kinesis, &twice, &recent);
        assert_eq!(skipped(&k), (2, 2, 1, 2));
        let mut remembered = RecentBatches::new(8);
        for fp in k.processed {
            remembered.remember(fp);
        }
        let fh = firehose(&[(Some("r1"), d.clone()), (Some("r2"), d)]);
        let f = drive_with(EventSource::Firehose, &fh, &remembered);
        assert_eq!(skipped(&f), (4, 0, 0, 0));
    }

    /// The edge looks tags up for exactly the batches the driver will process.
    #[test]
    fn tag_lookups_skip_the_own_group_redeliveries_and_undecodable_records() {
        let p = pipeline(false);
        let done = data("/aws/lambda/done", 1);
        let mut recent = RecentBatches::new(8);
        let first = decode(
            EventSource::Kinesis,
            kinesis(&[("0", done.clone())]).as_bytes(),
            &p,
        );
        for b in first.unwrap().batches() {
            recent.remember(Fingerprint::of(b).unwrap());
        }
        let event = kinesis(&[
            ("1", data("/aws/lambda/app", 2)),
            ("2", data("/aws/lambda/logsieve", 1)),
            ("3", done),
            ("4", b64(b"not gzip")),
            ("5", data("/ecs/api", 1)),
        ]);
        let decoded = decode(EventSource::Kinesis, event.as_bytes(), &p).unwrap();
        let groups = |own, recent| -> Vec<String> {
            tag_lookups(&decoded, own, recent)
                .into_iter()
                .map(|(owner, group)| {
                    assert_eq!(owner, "123456789012");
                    group
                })
                .collect()
        };
        let cases: &[(Option<&str>, Option<&RecentBatches>, &[&str])] = &[
            (
                None,
                None,
                &[
                    "/aws/lambda/app",
                    "/aws/lambda/logsieve",
                    "/aws/lambda/done",
                    "/ecs/api",
                ],
            ),
            (
                Some("/aws/lambda/logsieve"),
                None,
                &["/aws/lambda/app", "/aws/lambda/done", "/ecs/api"],
            ),
            (
                Some("/aws/lambda/logsieve"),
                Some(&recent),
                &["/aws/lambda/app", "/ecs/api"],
            ),
        ];
        for (own, recent, want) in cases {
            assert_eq!(groups(*own, *recent), *want, "own {own:?}");
        }
    }

    #[test]
    fn tags_of_the_log_group_reach_dimensions_annotations_and_records() {
        let config = CheckedConfig::from_toml(
            r#"
[metrics]
namespace = "T"
[[metrics.rule]]
metric_name = "Errors"
filter_pattern = '{ $.level = "ERROR" }'
metric_value = "1"
dimensions = { Team = "$tags.team", Stack = "$tags.aws:cloudformation:stack-name", Owner = "$tags.api_key" }
[traces]
annotations = { team = "$tags.team", service = "$.service" }
[fields]
add = { team = "$tags.team", key = "$tags.api_key" }
"#,
        )
        .unwrap();
        let messages = [
            r#"{"level":"ERROR","service":"api","trace_id":"1-5759e988-bd862e3fe1be46a994272793"}"#,
            r#"{"level":"ERROR","service":"api"}"#,
        ];
        let tagged = "/aws/lambda/app";
        let event = subscription_event(&document(tagged, &messages));
        let untagged = subscription_event(&document("/ecs/other", &messages));
        let tags: BTreeMap<String, Arc<Tags>> = [(
            tagged.to_string(),
            Arc::new(Tags::from([
                ("team".to_string(), "payments".to_string()),
                (
                    "aws:cloudformation:stack-name".to_string(),
                    "shop".to_string(),
                ),
                ("api_key".to_string(), "hunter2".to_string()),
            ])),
        )]
        .into();
        let context = Context {
            recent: None,
            tags: Some(&tags),
        };
        let mut p = Pipeline::new(config);
        let mut run = |event: &str| {
            let decoded = decode(EventSource::Subscription, event.as_bytes(), &p).unwrap();
            drive_decoded(
                EventSource::Subscription,
                decoded,
                &mut p,
                None,
                Limits::default(),
                context,
            )
            .unwrap()
        };
        let d = run(&event);
        let m = &d.output.metrics;
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].dimensions["Team"], "payments");
        assert_eq!(m[0].dimensions["Stack"], "shop");
        // A tag under a sensitive key name is masked like a field of that name.
        assert_eq!(
            m[0].dimensions["Owner"],
            crate::exits::SENSITIVE_MARKER,
            "{m:?}"
        );
        assert_eq!(m[0].counts.iter().sum::<f64>(), 2.0);
        let seg: Value = serde_json::from_str(&d.output.segments[0].document).unwrap();
        assert_eq!(seg["annotations"]["team"], "payments");
        assert_eq!(seg["annotations"]["service"], "api");
        let records = &d.output.records;
        assert_eq!(records.len(), 2);
        for r in records {
            assert_eq!(r.get("team"), Some(Value::from("payments")), "{}", r.json());
            assert_eq!(
                r.get("key"),
                Some(Value::from(crate::exits::SENSITIVE_MARKER))
            );
        }
        // A log group without tags: the sample has no value for the dimension, as for a missing
        // field, and the annotation is left out.
        let d = run(&untagged);
        assert!(d.output.metrics.is_empty());
        assert_eq!(
            d.output.stats.counters.get(ck::metrics::DIMENSION_MISSING),
            2
        );
        let seg: Value = serde_json::from_str(&d.output.segments[0].document).unwrap();
        assert!(seg["annotations"].get("team").is_none(), "{seg}");
        // ... and the records have no field for it.
        assert_eq!(d.output.records.len(), 2);
        for r in &d.output.records {
            assert_eq!(r.get("team"), None, "{}", r.json());
            assert_eq!(r.get("service"), Some(Value::from("api")));
        }
    }

    #[test]
    fn loop_guard() {
        let cases = [
            ("/aws/lambda/logsieve", Some("/aws/lambda/logsieve"), true),
            ("/aws/lambda/app", Some("/aws/lambda/logsieve"), false),
            (
                "/aws/lambda/logsieve-2",
                Some("/aws/lambda/logsieve"),
                false,
            ),
            ("", Some(""), false),
            ("/aws/lambda/logsieve", None, false),
        ];
        for (group, own, expected) in cases {
            assert_eq!(is_own_log_group(group, own), expected, "{group} vs {own:?}");
        }
    }

    #[test]
    fn the_event_kind_must_match_the_source() {
        let sub = subscription_event(&document("/aws/lambda/app", &["x"]));
        let kin = kinesis(&[("1", data("/g", 1))]);
        let fh = firehose(&[(Some("r"), data("/g", 1))]);
        let cases = [
            (EventSource::Subscription, &sub, true),
            (EventSource::Subscription, &kin, false),
            (EventSource::Kinesis, &kin, true),
            (EventSource::Kinesis, &fh, false),
            (EventSource::Firehose, &fh, true),
            (EventSource::Firehose, &sub, false),
            (EventSource::Any, &sub, true),
            (EventSource::Any, &kin, true),
            (EventSource::Any, &fh, true),
        ];
        for (source, event, ok) in cases {
            let r = drive(
                source,
                event.as_bytes(),
                &mut pipeline(false),
                None,
                Limits::default(),
            );
            match (ok, r) {
                (true, Ok(_)) => {}
                (false, Err(e @ DriveError::WrongKind { .. })) => {
                    assert_eq!(e.error_type(), "Logsieve.WrongEventKind")
                }
                (_, other) => panic!("{source:?} on {event}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_own_log_group_is_skipped_counted_and_dropped_for_every_source() {
        let own = "/aws/lambda/logsieve";
        let events = [
            (
                EventSource::Subscription,
                subscription_event(&document(own, &["a", "b"])),
            ),
            (EventSource::Kinesis, kinesis(&[("1", data(own, 2))])),
            (
                EventSource::Firehose,
                firehose(&[(Some("r"), data(own, 2))]),
            ),
        ];
        for (source, event) in events {
            for (guard, processed) in [(Some(own), 0), (Some("/other"), 2), (None, 2)] {
                let d = drive(
                    source,
                    event.as_bytes(),
                    &mut pipeline(true),
                    guard,
                    Limits::default(),
                )
                .unwrap();
                let skipped = 2 - processed;
                assert_eq!(d.output.stats.events, processed, "{source:?} {guard:?}");
                assert_eq!(
                    d.output
                        .stats
                        .counters
                        .get(ck::driver::OWN_LOG_GROUP_EVENTS),
                    skipped,
                    "{source:?} {guard:?}"
                );
                assert!(d.output.stats.dropped >= skipped, "{source:?} {guard:?}");
            }
        }
    }

    fn statuses(d: &Driven) -> Vec<&'static str> {
        d.units
            .iter()
            .map(|u| match u.status {
                UnitStatus::Processed => "processed",
                UnitStatus::Failed(_) => "failed",
                UnitStatus::Retry => "retry",
            })
            .collect()
    }

    #[test]
    fn kinesis_records_not_started_in_time_are_left_for_the_retry() {
        let event = kinesis(&[
            ("1", data("/g", 2)),
            ("2", "!!!".into()),
            ("3", data("/g", 2)),
        ]);
        // A deadline already passed: nothing decodable is started.
        let clock = crate::pipeline::SystemClock;
        let limits = Limits {
            now_ms: None,
            budget: Some(crate::pipeline::Budget {
                deadline: std::time::Instant::now(),
                clock: &clock,
            }),
        };
        let d = drive(
            EventSource::Kinesis,
            event.as_bytes(),
            &mut pipeline(false),
            None,
            limits,
        )
        .unwrap();
        // The undecodable record is still rejected: a retry could not fix it.
        assert_eq!(statuses(&d), ["retry", "failed", "retry"]);
        let retry: Vec<_> = d.retry().filter_map(|u| u.record_id.as_deref()).collect();
        assert_eq!(retry, ["1", "3"]);
        assert_eq!(d.output.stats.events, 0);
        assert_eq!(d.output.stats.counters.get(ck::driver::KINESIS_RETRY), 2);

        // Firehose and the CLI have no retry to leave records to: the budget skips events.
        let fh = firehose(&[(Some("r"), data("/g", 2))]);
        let d = drive(
            EventSource::Firehose,
            fh.as_bytes(),
            &mut pipeline(true),
            None,
            limits,
        )
        .unwrap();
        assert_eq!(statuses(&d), ["processed"]);
        assert_eq!(d.output.stats.counters.get("budget.events_skipped"), 2);
    }

    #[test]
    fn kept_data_is_redacted_and_bounded() {
        let redactor = &CheckedConfig::default_config().unwrap().fields.redactor;
        let k = Kept::new("user alice@example.com failed", redactor);
        assert!(!k.data.contains("alice@example.com"), "{}", k.data);
        assert!(k.data.contains("[REDACTED:email]"), "{}", k.data);
        assert_eq!((k.bytes, k.whole), (29, true));
        // Cut at a character boundary: 'é' is two bytes and straddles the limit.
        let long = format!("{}é{}", "a".repeat(MAX_KEPT_BYTES - 1), "b".repeat(100));
        let k = Kept::new(&long, redactor);
        assert_eq!(k.data, "a".repeat(MAX_KEPT_BYTES - 1));
        assert_eq!((k.bytes, k.whole), (MAX_KEPT_BYTES + 101, false));
    }

    #[test]
    fn failures_per_source() {
        let good = data("/g", 1);
        // Subscription: the payload failing fails the invocation.
        let r = drive(
            EventSource::Subscription,
            b"{\"awslogs\":{\"data\":\"aGVsbG8=\"}}",
            &mut pipeline(false),
            None,
            Limits::default(),
        );
        assert_eq!(r.unwrap_err().error_type(), "Logsieve.UndecodableEvent");

        // Kinesis: a record that can never be decoded is rejected (counted, kept, not
        // reported), and the records after it are processed.
        let event = kinesis(&[
            ("1", good.clone()),
            ("2", "!!!".into()),
            ("3", good.clone()),
        ]);
        let d = drive(
            EventSource::Kinesis,
            event.as_bytes(),
            &mut pipeline(false),
            None,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(statuses(&d), ["processed", "failed", "processed"]);
        assert_eq!(d.failed().next().unwrap().record_id.as_deref(), Some("2"));
        assert_eq!(d.retry().count(), 0);
        assert_eq!(d.output.stats.events, 2);
        assert_eq!(d.output.stats.counters.get(ck::driver::KINESIS_REJECTED), 1);
        assert_eq!(d.output.stats.errors.len(), 1);
        let kept = d.units[1].kept.as_ref().unwrap();
        assert_eq!(
            (kept.data.as_str(), kept.bytes, kept.whole),
            ("!!!", 3, true)
        );
        assert!(d.units[0].kept.is_none() && d.units[2].kept.is_none());

        // Kinesis: a failed record without a sequence number needs none: it is rejected too,
        // and its whole record is what is kept.
        let event = r#"{"Records":[{"kinesis":{"data":7}}]}"#;
        let d = drive(
            EventSource::Kinesis,
            event.as_bytes(),
            &mut pipeline(false),
            None,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(statuses(&d), ["failed"]);
        assert_eq!(
            d.units[0].kept.as_ref().unwrap().data,
            r#"{"kinesis":{"data":7}}"#
        );

        // Firehose: every record has its own result and its own records.
        let event = firehose(&[
            (Some("r1"), good.clone()),
            (Some("r2"), "!!!".into()),
            (Some("r3"), data("/g", 3)),
        ]);
        let d = drive(
            EventSource::Firehose,
            event.as_bytes(),
            &mut pipeline(true),
            None,
            Limits::default(),
        )
        .unwrap();
        let records: Vec<usize> = d.units.iter().map(|u| u.records.len()).collect();
        assert_eq!(records, [1, 0, 3]);
        assert!(matches!(d.units[1].status, UnitStatus::Failed(_)));
        assert!(d.output.records.is_empty());

        // Firehose: a record without recordId fails the invocation, even a good one.
        let event = firehose(&[(Some("r1"), good.clone()), (None, good)]);
        let r = drive(
            EventSource::Firehose,
            event.as_bytes(),
            &mut pipeline(true),
            None,
            Limits::default(),
        );
        assert_eq!(r.unwrap_err().error_type(), "Logsieve.MissingRecordId");
    }
}
