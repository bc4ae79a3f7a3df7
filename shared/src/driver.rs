//! The one adapter loop every entry point runs: the CloudWatch Logs, Kinesis and Firehose
//! functions and the CLI. It decodes the event, checks its kind, skips the function's own log
//! group, runs every decodable unit through the pipeline and says per unit what happened. What
//! differs between event sources is data ([`EventSource`]), not code: each function only turns
//! a [`Driven`] into its Lambda response.

use crate::decode::{decode_input, DecodeError, InputKind};
use crate::pipeline::{Limits, Output, Pipeline};
use crate::record::Batch;

/// Counter: events skipped because their batch came from this function's own log group
/// (processing them would feed the function its own output forever). Also counted as dropped.
pub const COUNTER_OWN_LOG_GROUP_EVENTS: &str = "loop_guard.own_log_group_events";
/// Counter: Kinesis records left for Lambda's retry because an earlier record failed.
pub const COUNTER_DEFERRED: &str = "kinesis.deferred_after_failure";

/// Which event an entry point takes, and so how a unit that fails to decode is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// A CloudWatch Logs subscription: its one payload failing fails the invocation, so Lambda
    /// retries the event and its on-failure destination keeps it.
    Subscription,
    /// Kinesis Data Streams with `ReportBatchItemFailures`: a failed record is reported by its
    /// sequence number. Lambda retries from the lowest one reported, so every good record after
    /// it comes back on the retry; processing those now would count their metrics twice, so they
    /// are deferred.
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
    Failed(DecodeError),
    /// Not processed: left for Lambda's retry (Kinesis, after an earlier failure).
    Deferred,
}

/// One unit's outcome, in input order.
#[derive(Debug)]
pub struct UnitOutcome {
    /// Kinesis sequence number or Firehose recordId.
    pub record_id: Option<String>,
    pub status: UnitStatus,
    /// This unit's selected records (Firehose only; elsewhere they stay in `Driven::output`).
    pub records: Vec<crate::records::OutputRecord>,
}

/// What one event produced.
#[derive(Debug)]
pub struct Driven {
    pub kind: InputKind,
    pub units: Vec<UnitOutcome>,
    /// Metrics, segments, stats (every decode counter, skip and error included) and, except for
    /// Firehose, the selected records.
    pub output: Output,
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
    #[error("record {index} failed to decode ({cause}) and has no sequenceNumber to report it by")]
    Unidentified { index: usize, cause: DecodeError },
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
            DriveError::Unidentified { .. } => "Logsieve.UnidentifiedRecord",
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
    let decode_limits = pipeline.config().decode;
    let decoded = decode_input(bytes, &decode_limits)?;
    if !source.accepts(decoded.kind) {
        return Err(DriveError::WrongKind {
            expected: source,
            got: decoded.kind,
        });
    }
    let mut output = Output::default();
    output.stats.counters.merge(&decoded.counters);
    let mut units = Vec::with_capacity(decoded.units.len());
    let mut failed_before = false;
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
        };
        match unit.result {
            Err(cause) => {
                match (source, &outcome.record_id) {
                    (EventSource::Subscription, _) => return Err(DriveError::Event(cause)),
                    (EventSource::Kinesis, None) => {
                        return Err(DriveError::Unidentified { index, cause })
                    }
                    _ => {}
                }
                output.stats.errors.push(match &outcome.record_id {
                    Some(id) => format!("record {id}: {cause}"),
                    None => cause.to_string(),
                });
                failed_before = true;
                outcome.status = UnitStatus::Failed(cause);
            }
            Ok(_) if failed_before && source == EventSource::Kinesis => {
                output.stats.counters.incr(COUNTER_DEFERRED);
                outcome.status = UnitStatus::Deferred;
            }
            Ok(batches) => {
                for batch in batches {
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
        out.stats.counters.add(COUNTER_OWN_LOG_GROUP_EVENTS, events);
        out.stats.dropped += events;
        return out;
    }
    pipeline.process_with(batch, limits)
}

/// True when a batch comes from the function's own log group.
pub fn is_own_log_group(batch_log_group: &str, own_log_group: Option<&str>) -> bool {
    own_log_group.is_some_and(|own| !own.is_empty() && batch_log_group == own)
}

impl Driven {
    /// Units that failed, with their ids (Kinesis' partial batch response, Firehose's failed
    /// results).
    pub fn failed(&self) -> impl Iterator<Item = &UnitOutcome> {
        self.units
            .iter()
            .filter(|u| matches!(u.status, UnitStatus::Failed(_)))
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
                    d.output.stats.counters.get(COUNTER_OWN_LOG_GROUP_EVENTS),
                    skipped,
                    "{source:?} {guard:?}"
                );
                assert!(d.output.stats.dropped >= skipped, "{source:?} {guard:?}");
            }
        }
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

        // Kinesis: the failed record is reported, the ones after it deferred.
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
        let status: Vec<&str> = d
            .units
            .iter()
            .map(|u| match u.status {
                UnitStatus::Processed => "processed",
                UnitStatus::Failed(_) => "failed",
                UnitStatus::Deferred => "deferred",
            })
            .collect();
        assert_eq!(status, ["processed", "failed", "deferred"]);
        assert_eq!(d.failed().next().unwrap().record_id.as_deref(), Some("2"));
        assert_eq!(d.output.stats.events, 1);
        assert_eq!(d.output.stats.counters.get(COUNTER_DEFERRED), 1);
        assert_eq!(d.output.stats.errors.len(), 1);

        // Kinesis: a failed record without a sequence number cannot be reported.
        let event = r#"{"Records":[{"kinesis":{"data":"!!!"}}]}"#;
        let r = drive(
            EventSource::Kinesis,
            event.as_bytes(),
            &mut pipeline(false),
            None,
            Limits::default(),
        );
        assert_eq!(r.unwrap_err().error_type(), "Logsieve.UnidentifiedRecord");

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
