//! Kinesis adapter: runs the logsieve pipeline over a Kinesis event whose records each carry one
//! gzip'd CloudWatch Logs document, and answers with Lambda's partial batch response naming the
//! records that could not be decoded.
//!
//! Lambda retries a stream from the lowest sequence number reported as failed, so every good
//! record *after* the first failure comes back on the retry. Processing those now would count
//! their metrics twice; they are deferred instead (counted as `kinesis.deferred_after_failure`)
//! and processed when Lambda redelivers them.

use logsieve::decode::{decode_input, DecodeError, InputKind};
use logsieve::pipeline::{Output, Pipeline};
use logsieve::record::Batch;
use serde::Serialize;

/// Counter: records left for Lambda's retry because an earlier record in the batch failed.
pub const COUNTER_DEFERRED: &str = "kinesis.deferred_after_failure";
/// Counter: batches skipped because they came from this function's own log group.
pub const COUNTER_OWN_LOG_GROUP: &str = "input.own_log_group_skipped";

/// Lambda's partial batch response for stream event sources (`ReportBatchItemFailures`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One failed record, named by its Kinesis sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

/// What one invocation produced: the reply for Lambda and the pipeline output for the sinks.
#[derive(Debug)]
pub struct Response {
    /// Returned to Lambda as the function result.
    pub body: BatchResponse,
    /// Metrics and segments to emit; `stats` counts every skip, deferral and failure.
    pub output: Output,
}

/// Why the whole invocation must fail (Lambda then retries the batch, bisecting it when
/// `BisectBatchOnFunctionError` is on, and finally sends it to the on-failure destination).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("event cannot be decoded: {0}")]
    Event(#[from] DecodeError),
    #[error("expected a Kinesis event, got a {0:?} event")]
    WrongKind(InputKind),
    #[error("record {index} failed to decode ({cause}) and has no sequenceNumber to report it by")]
    Unidentified { index: usize, cause: DecodeError },
}

impl HandleError {
    /// The `errorType` Lambda records for the failed invocation (in its log line and in the
    /// on-failure destination's record), instead of the Rust type name.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandleError::Event(_) => "Logsieve.UndecodableEvent",
            HandleError::WrongKind(_) => "Logsieve.WrongEventKind",
            HandleError::Unidentified { .. } => "Logsieve.UnidentifiedRecord",
        }
    }
}

/// Handles one Kinesis event. Pure: no clock, no network, no environment.
///
/// `own_log_group` is this function's log group; batches from it are skipped so an account-level
/// subscription that forgot to exclude it cannot make the function feed on its own output.
pub fn handle(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
) -> Result<Response, HandleError> {
    let limits = pipeline.config().decode;
    let decoded = decode_input(bytes, &limits)?;
    if decoded.kind != InputKind::Kinesis {
        return Err(HandleError::WrongKind(decoded.kind));
    }
    let mut output = Output::default();
    output.stats.counters.merge(&decoded.counters);
    let mut failures = Vec::new();
    for (index, unit) in decoded.units.into_iter().enumerate() {
        match unit.result {
            Err(cause) => {
                // Lambda treats an empty or unknown identifier as a failure of the whole batch;
                // failing loudly here says why instead of letting it guess.
                let id = match unit.record_id.filter(|id| !id.is_empty()) {
                    Some(id) => id,
                    None => return Err(HandleError::Unidentified { index, cause }),
                };
                output.stats.errors.push(format!("record {id}: {cause}"));
                failures.push(ItemFailure {
                    item_identifier: id,
                });
            }
            Ok(_) if !failures.is_empty() => output.stats.counters.incr(COUNTER_DEFERRED),
            Ok(batches) => {
                for batch in batches {
                    if is_own(&batch, own_log_group) {
                        output.stats.counters.incr(COUNTER_OWN_LOG_GROUP);
                        output.stats.dropped += batch.events.len() as u64;
                        continue;
                    }
                    output.merge(pipeline.process(batch));
                }
            }
        }
    }
    Ok(Response {
        body: BatchResponse {
            batch_item_failures: failures,
        },
        output,
    })
}

fn is_own(batch: &Batch, own_log_group: Option<&str>) -> bool {
    own_log_group.is_some_and(|own| !own.is_empty() && batch.source.log_group == own)
}
