//! The Firehose transformation function: wiring only. `firehose_filter::handle` runs the
//! library's driver and builds the transformation response; `logsieve_aws::lambda` ends the
//! invocation. Metrics and segments derived here are not sent: the same logs usually also reach
//! log-processor or kinesis-processor and would be counted twice.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::firehose::KinesisFirehoseResponse;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;
use logsieve::pipeline::Pipeline;
use logsieve::sink::EmitReport;
use logsieve_aws::lambda::{close, fail, limits, Environment};
use logsieve_aws::Deadline;
use serde_json::value::RawValue;

/// mimalloc: fewer instructions per event than glibc malloc on the pipeline's many small
/// allocations (see the README's performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let mut pipeline = Pipeline::new(config).with_records(true);
    let env = Arc::new(Environment::from_env());
    run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let started = Instant::now();
        let deadline = Deadline::for_invocation(Some(event.context.deadline));
        // The pipeline is synchronous; run it before the future so no borrow crosses an await.
        let own = env.own_log_group.as_deref();
        let bytes = event.payload.get().as_bytes();
        let result = firehose_filter::handle(bytes, &mut pipeline, own, limits(&deadline));
        let env = Arc::clone(&env);
        async move {
            let response = result.map_err(|e| fail(&e))?;
            close(
                &env,
                &response.driven,
                EmitReport::default(),
                Vec::new(),
                started,
            );
            Ok::<KinesisFirehoseResponse, Diagnostic>(response.body)
        }
    }))
    .await
}
