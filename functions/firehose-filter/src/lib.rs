//! Firehose transformation adapter: for every Firehose record (one or more gzip'd CloudWatch Logs
//! documents) returns the selected fields of its log events as newline-delimited JSON, so only
//! what is needed is stored downstream.
//!
//! Per record: `Ok` with the selected records, `Dropped` when nothing is left to store (control
//! messages, or every event filtered out), `ProcessingFailed` when the data cannot be decoded
//! (Firehose then writes the original record under the error prefix of the destination).

use base64::Engine;
use logsieve::decode::{decode_input, DecodeError, InputKind};
use logsieve::pipeline::{Output, Pipeline};
use serde::Serialize;

/// Lambda's synchronous response limit; Firehose fails the whole invocation beyond it.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Room kept for the JSON around each record's data and for the response envelope.
const RECORD_OVERHEAD_BYTES: usize = 256;

/// Counter: records answered `ProcessingFailed` because the response would pass 6 MB.
pub const COUNTER_RESPONSE_FULL: &str = "firehose.response_size_exceeded";
/// Counter: batches skipped because they came from this function's own log group.
pub const COUNTER_OWN_LOG_GROUP: &str = "input.own_log_group_skipped";

/// The transformation response Firehose expects.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct FirehoseResponse {
    pub records: Vec<FirehoseRecord>,
}

/// The result for one input record; `record_id` echoes the input's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    pub record_id: String,
    pub result: RecordResult,
    /// base64 of the newline-delimited JSON records; empty unless `Ok`.
    pub data: String,
}

/// Firehose's three transformation results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RecordResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

/// What one invocation produced: the reply for Firehose and the pipeline output (stats, and the
/// metrics and segments should a caller want them; the records themselves are in `body`).
#[derive(Debug)]
pub struct Response {
    pub body: FirehoseResponse,
    pub output: Output,
}

/// Why the whole invocation must fail (Firehose retries it, then sends every record to the error
/// prefix).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("event cannot be decoded: {0}")]
    Event(#[from] DecodeError),
    #[error("expected a Firehose event, got a {0:?} event")]
    WrongKind(InputKind),
    #[error("record {index} has no recordId, so no result can be returned for it")]
    MissingRecordId { index: usize },
}

impl HandleError {
    /// The `errorType` Lambda records for the failed invocation (in its log line and in the
    /// on-failure destination's record), instead of the Rust type name.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandleError::Event(_) => "Logsieve.UndecodableEvent",
            HandleError::WrongKind(_) => "Logsieve.WrongEventKind",
            HandleError::MissingRecordId { .. } => "Logsieve.MissingRecordId",
        }
    }
}

/// Handles one Firehose transformation event. Pure: no clock, no network, no environment.
/// The pipeline must collect records (`Pipeline::with_records(true)`, the default).
///
/// `own_log_group` is this function's log group; its batches are dropped (see kinesis-processor).
pub fn handle(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
) -> Result<Response, HandleError> {
    let limits = pipeline.config().decode;
    let decoded = decode_input(bytes, &limits)?;
    if decoded.kind != InputKind::Firehose {
        return Err(HandleError::WrongKind(decoded.kind));
    }
    let mut output = Output::default();
    output.stats.counters.merge(&decoded.counters);
    let mut records = Vec::with_capacity(decoded.units.len());
    let mut budget = MAX_RESPONSE_BYTES;
    let mut ndjson = Vec::new();
    for (index, unit) in decoded.units.into_iter().enumerate() {
        let record_id = match unit.record_id {
            Some(id) if !id.is_empty() => id,
            _ => return Err(HandleError::MissingRecordId { index }),
        };
        budget = budget.saturating_sub(record_id.len() + RECORD_OVERHEAD_BYTES);
        let batches = match unit.result {
            Ok(batches) => batches,
            Err(e) => {
                output.stats.errors.push(format!("record {record_id}: {e}"));
                records.push(answer(
                    record_id,
                    RecordResult::ProcessingFailed,
                    String::new(),
                ));
                continue;
            }
        };
        ndjson.clear();
        for batch in batches {
            if own_log_group.is_some_and(|own| !own.is_empty() && batch.source.log_group == own) {
                output.stats.counters.incr(COUNTER_OWN_LOG_GROUP);
                output.stats.dropped += batch.events.len() as u64;
                continue;
            }
            let mut out = pipeline.process(batch);
            for record in out.records.drain(..) {
                // A Map of JSON values always serializes.
                if serde_json::to_writer(&mut ndjson, &record).is_ok() {
                    ndjson.push(b'\n');
                }
            }
            output.merge(out);
        }
        if ndjson.is_empty() {
            records.push(answer(record_id, RecordResult::Dropped, String::new()));
            continue;
        }
        let data = base64::engine::general_purpose::STANDARD.encode(&ndjson);
        if data.len() > budget {
            // Failing this one record keeps the invocation (and every other record) alive;
            // Firehose keeps the original under the error prefix.
            output.stats.counters.incr(COUNTER_RESPONSE_FULL);
            output.stats.errors.push(format!(
                "record {record_id}: response would exceed {MAX_RESPONSE_BYTES} bytes"
            ));
            records.push(answer(
                record_id,
                RecordResult::ProcessingFailed,
                String::new(),
            ));
            continue;
        }
        budget -= data.len();
        records.push(answer(record_id, RecordResult::Ok, data));
    }
    Ok(Response {
        body: FirehoseResponse { records },
        output,
    })
}

fn answer(record_id: String, result: RecordResult, data: String) -> FirehoseRecord {
    FirehoseRecord {
        record_id,
        result,
        data,
    }
}
