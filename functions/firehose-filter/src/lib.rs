//! Firehose transformation adapter: runs the library's driver over a Firehose event (records of
//! one or more gzip'd CloudWatch Logs documents) and returns, per record, the selected fields of
//! its log events as newline-delimited JSON, so only what is needed is stored downstream.
//!
//! Per record: `Ok` with the selected records, `Dropped` when nothing is left to store (control
//! messages, or every event filtered out), `ProcessingFailed` when the data cannot be decoded
//! (Firehose then writes the original record under the error prefix of the destination).

use aws_lambda_events::firehose::{KinesisFirehoseResponse, KinesisFirehoseResponseRecord};
use logsieve::decode::Decoded;
use logsieve::driver::{
    decode, drive_decoded, Context, DriveError, Driven, EventSource, UnitStatus,
};
use logsieve::pipeline::{Limits, Pipeline};

use logsieve::counter_keys as ck;

/// Lambda's synchronous response limit; Firehose fails the whole invocation beyond it.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Room kept for the JSON around each record's data and for the response envelope.
const RECORD_OVERHEAD_BYTES: usize = 256;

/// Firehose's three transformation results, as the response spells them.
pub const RESULT_OK: &str = "Ok";
pub const RESULT_DROPPED: &str = "Dropped";
pub const RESULT_FAILED: &str = "ProcessingFailed";

/// What one invocation produced: the reply for Lambda, and the driver's outcome for the sinks and
/// the summary line.
#[derive(Debug)]
pub struct Response {
    pub body: KinesisFirehoseResponse,
    pub driven: Driven,
}

/// Handles one Firehose transformation event. Pure: no network, no environment; the clock only
/// through `limits`.
/// The pipeline must collect records (`Pipeline::with_records(true)`, the default).
pub fn handle(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
) -> Result<Response, DriveError> {
    let decoded = decode(EventSource::Firehose, bytes, pipeline)?;
    handle_decoded(decoded, pipeline, own_log_group, limits, Context::default())
}

/// [`handle`] for an event decoded already, with what the edge knows (the log groups' tags, for
/// `[fields] add`). A Firehose record always gets its result: `context.recent` is not used.
pub fn handle_decoded(
    decoded: Decoded,
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
    context: Context<'_>,
) -> Result<Response, DriveError> {
    let mut driven = drive_decoded(
        EventSource::Firehose,
        decoded,
        pipeline,
        own_log_group,
        limits,
        context,
    )?;
    let mut response = KinesisFirehoseResponse::default();
    let mut budget = MAX_RESPONSE_BYTES;
    let stats = &mut driven.output.stats;
    for unit in &mut driven.units {
        // The driver refuses a record without recordId, so every unit has one.
        let record_id = unit.record_id.clone().unwrap_or_default();
        budget = budget.saturating_sub(record_id.len() + RECORD_OVERHEAD_BYTES);
        let (result, data) = match unit.status {
            UnitStatus::Failed(_) => (RESULT_FAILED, Vec::new()),
            _ if unit.records.is_empty() => (RESULT_DROPPED, Vec::new()),
            _ => {
                let mut ndjson = Vec::new();
                for record in unit.records.drain(..) {
                    ndjson.extend_from_slice(record.json().as_bytes());
                    ndjson.push(b'\n');
                }
                // base64 grows the data by 4/3 on the wire.
                let wire = ndjson.len().div_ceil(3) * 4;
                if wire > budget {
                    // Failing this one record keeps the invocation (and every other record)
                    // alive; Firehose keeps the original under the error prefix.
                    stats.counters.incr(ck::driver::FIREHOSE_RESPONSE_FULL);
                    stats.errors.push(format!(
                        "record {record_id}: response would exceed {MAX_RESPONSE_BYTES} bytes"
                    ));
                    (RESULT_FAILED, Vec::new())
                } else {
                    budget -= wire;
                    (RESULT_OK, ndjson)
                }
            }
        };
        let mut record = KinesisFirehoseResponseRecord::default();
        record.record_id = Some(record_id);
        record.result = Some(result.into());
        *record.data = data;
        response.records.push(record);
    }
    Ok(Response {
        body: response,
        driven,
    })
}
