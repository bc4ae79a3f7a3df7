//! Lambda entry point of the kinesis-processor: loads the configuration once per environment and
//! hands every event's raw bytes to `kinesis_processor::handle`.

use kinesis_processor::{handle, BatchResponse, Response};
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;
use logsieve::pipeline::{Output, Pipeline};
use serde_json::value::RawValue;

/// Set by Lambda to the function's own log group (never processed, see `handle`).
const ENV_OWN_LOG_GROUP: &str = "AWS_LAMBDA_LOG_GROUP_NAME";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad configuration fails the init phase, which Lambda reports on every invocation: louder
    // than processing with a default nobody asked for.
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    // Records are only for the Firehose path; building them is the costliest part of selection.
    let mut pipeline = Pipeline::new(config).with_records(false);
    let own_log_group = std::env::var(ENV_OWN_LOG_GROUP).ok();
    run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        // The pipeline is synchronous; do the work before the future so no borrow crosses an await.
        let result = invoke(
            event.payload.get().as_bytes(),
            &mut pipeline,
            own_log_group.as_deref(),
        );
        async move { result }
    }))
    .await
}

fn invoke(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
) -> Result<BatchResponse, Diagnostic> {
    match handle(bytes, pipeline, own_log_group) {
        Ok(Response { body, output }) => {
            emit(&output);
            Ok(body)
        }
        Err(e) => {
            tracing::error!(error = %e, "batch failed; Lambda will retry it");
            Err(Diagnostic {
                error_type: e.error_type().to_string(),
                error_message: e.to_string(),
            })
        }
    }
}

/// EMIT: the AWS sinks (CloudWatch PutMetricData / EMF fallback, X-Ray PutTraceSegments) plug in
/// here once they exist. Until then this is the dry-run sink: a summary at INFO and the full
/// output at DEBUG, so nothing derived is lost silently.
fn emit(output: &Output) {
    let stats = &output.stats;
    tracing::info!(
        batches = stats.batches,
        events = stats.events,
        dropped = stats.dropped,
        metrics = output.metrics.len(),
        segments = output.segments.len(),
        failed_records = stats.errors.len(),
        "processed"
    );
    if tracing::enabled!(tracing::Level::DEBUG) {
        if let Ok(json) = serde_json::to_string(output) {
            tracing::debug!(output = %json, "dry-run output");
        }
    }
}
