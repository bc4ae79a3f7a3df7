//! Lambda entry point of the kinesis-processor: loads the configuration once per environment and
//! hands every event's raw bytes to `kinesis_processor::handle`.

// The SDK's nested futures (emit → PutMetricData → retries) exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use kinesis_processor::{handle, BatchResponse, HandleError, Response};
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;

/// mimalloc: fewer instructions per event than glibc malloc on the pipeline's many small
/// allocations (see the README's performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use logsieve::pipeline::Pipeline;
use logsieve_aws::{Deadline, Emitter};
use serde_json::value::RawValue;

/// Set by Lambda to the function's own log group (never processed, see `handle`).
const ENV_OWN_LOG_GROUP: &str = "AWS_LAMBDA_LOG_GROUP_NAME";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad configuration fails the init phase, which Lambda reports on every invocation: louder
    // than processing with a default nobody asked for.
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let emitter = Arc::new(Emitter::load(config.metrics.sink, config.traces.sink).await);
    // Records are only for the Firehose path; building them is the costliest part of selection.
    let mut pipeline = Pipeline::new(config).with_records(false);
    let own_log_group = std::env::var(ENV_OWN_LOG_GROUP).ok();
    run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        // The pipeline is synchronous; run it before the future so no borrow crosses an await.
        let result = handle(
            event.payload.get().as_bytes(),
            &mut pipeline,
            own_log_group.as_deref(),
        );
        let emitter = Arc::clone(&emitter);
        let deadline = event.context.deadline;
        async move { finish(result, &emitter, deadline).await }
    }))
    .await
}

/// Sends what the batch derived (same sinks and fallback as the subscription function) and
/// answers Lambda: the partial batch response, or a named error for an unusable event.
async fn finish(
    result: Result<Response, HandleError>,
    emitter: &Emitter,
    deadline_ms: u64,
) -> Result<BatchResponse, Diagnostic> {
    match result {
        Ok(Response { body, output }) => {
            let mut emf = Vec::new();
            let report = emitter
                .emit(
                    &output,
                    Deadline::for_invocation(Some(deadline_ms)),
                    &mut emf,
                )
                .await;
            logsieve_aws::write_stdout(&emf);
            let stats = &output.stats;
            tracing::info!(
                batches = stats.batches,
                events = stats.events,
                dropped = stats.dropped,
                metrics = output.metrics.len(),
                metrics_sent = report.metrics_sent,
                metrics_fallback = report.metrics_fallback,
                segments = output.segments.len(),
                segments_sent = report.segments_sent,
                failed_records = body.batch_item_failures.len(),
                "logsieve invocation summary"
            );
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
