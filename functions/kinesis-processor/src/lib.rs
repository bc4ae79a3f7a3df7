//! Kinesis adapter: runs the library's driver over a Kinesis event whose records each carry one
//! gzip'd CloudWatch Logs document, and answers with Lambda's partial batch response
//! (`ReportBatchItemFailures`) naming the records a retry can fix: those not started in time.
//! A record that can never be decoded is counted and kept in the log instead, not retried (see
//! `logsieve::driver::EventSource::Kinesis`).

use aws_lambda_events::streams::KinesisEventResponse;
use logsieve::decode::Decoded;
use logsieve::driver::{decode, drive_decoded, Context, DriveError, Driven, EventSource};
use logsieve::pipeline::{Limits, Pipeline};

/// What one invocation produced: the reply for Lambda, and the driver's outcome for the sinks and
/// the summary line.
#[derive(Debug)]
pub struct Response {
    pub body: KinesisEventResponse,
    pub driven: Driven,
}

/// Handles one Kinesis event. Pure: no network, no environment; the clock only through `limits`.
pub fn handle(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
) -> Result<Response, DriveError> {
    handle_with(bytes, pipeline, own_log_group, limits, Context::default())
}

/// [`handle`] with what the edge knows: the batches finished before (a record delivered again
/// is skipped) and the log groups' tags.
pub fn handle_with(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
    context: Context<'_>,
) -> Result<Response, DriveError> {
    let decoded = decode(EventSource::Kinesis, bytes, pipeline)?;
    handle_decoded(decoded, pipeline, own_log_group, limits, context)
}

/// The second half of [`handle_with`], for an edge that looks at the decoded event first (the
/// log groups whose tags it needs).
pub fn handle_decoded(
    decoded: Decoded,
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
    limits: Limits<'_>,
    context: Context<'_>,
) -> Result<Response, DriveError> {
    let driven = drive_decoded(
        EventSource::Kinesis,
        decoded,
        pipeline,
        own_log_group,
        limits,
        context,
    )?;
    let mut response = KinesisEventResponse::default();
    for unit in driven.retry() {
        // The driver leaves only records with a sequence number for the retry.
        if let Some(id) = &unit.record_id {
            response.add_failure(id.clone());
        }
    }
    Ok(Response {
        body: response,
        driven,
    })
}
