//! Lambda entry point of the firehose-filter: loads the configuration once per environment and
//! hands every event's raw bytes to `firehose_filter::handle`.

use firehose_filter::{handle, FirehoseResponse};
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;
use logsieve::pipeline::Pipeline;
use serde_json::value::RawValue;

/// Set by Lambda to the function's own log group (never processed, see `handle`).
const ENV_OWN_LOG_GROUP: &str = "AWS_LAMBDA_LOG_GROUP_NAME";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad configuration fails the init phase, which Lambda reports on every invocation.
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let mut pipeline = Pipeline::new(config).with_records(true);
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

/// This function only transforms: metrics and traces derived here are not emitted, because the
/// same logs usually also reach log-processor or kinesis-processor and would be counted twice.
fn invoke(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    own_log_group: Option<&str>,
) -> Result<FirehoseResponse, Diagnostic> {
    match handle(bytes, pipeline, own_log_group) {
        Ok(response) => {
            let stats = &response.output.stats;
            tracing::info!(
                records = response.body.records.len(),
                events = stats.events,
                selected = stats.selected,
                dropped = stats.dropped,
                failed_records = stats.errors.len(),
                "transformed"
            );
            Ok(response.body)
        }
        Err(e) => {
            tracing::error!(error = %e, "invocation failed; Firehose will retry it");
            Err(Diagnostic {
                error_type: e.error_type().to_string(),
                error_message: e.to_string(),
            })
        }
    }
}
