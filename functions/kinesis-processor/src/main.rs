//! The Kinesis Data Streams function: wiring only. `kinesis_processor::handle` runs the
//! library's driver and builds the partial batch response; `logsieve_aws::lambda` sends the
//! results and ends the invocation.

// The SDK's nested futures (emit → PutMetricData → retries) exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_lambda_events::streams::KinesisEventResponse;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;
use logsieve::dedup::RecentBatches;
use logsieve::driver::Context;
use logsieve::pipeline::Pipeline;
use logsieve_aws::lambda::{fail, finish, limits, records_lost, Environment, Sinks};
use logsieve_aws::{Deadline, Emitter};
use serde_json::value::RawValue;

/// mimalloc: fewer instructions per event than glibc malloc on the pipeline's many small
/// allocations (see the README's performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let emitter = Arc::new(Emitter::for_config(&config).await);
    // Records are built only when a records sink takes them: they are the costliest part of
    // selection.
    let mut pipeline = Pipeline::new(config).with_records(emitter.ships_records());
    let env = Arc::new(Environment::from_env());
    // Batches of invocations that succeeded: a record Lambda delivers again is skipped.
    let recent = Arc::new(Mutex::new(RecentBatches::new(env.dedup_batches)));
    run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let started = Instant::now();
        let deadline = Deadline::for_invocation(Some(event.context.deadline));
        // The pipeline is synchronous; run it before the future so no borrow crosses an await.
        let own = env.own_log_group.as_deref();
        let bytes = event.payload.get().as_bytes();
        let result = {
            let seen = recent.lock().unwrap_or_else(|p| p.into_inner());
            let context = Context {
                recent: Some(&seen),
                tags: None,
            };
            kinesis_processor::handle_with(bytes, &mut pipeline, own, limits(&deadline), context)
        };
        let (emitter, env, recent) = (Arc::clone(&emitter), Arc::clone(&env), Arc::clone(&recent));
        async move {
            let response = result.map_err(|e| fail(&e))?;
            let report = finish(
                &env,
                Sinks::Emit(&emitter),
                &response.driven,
                deadline,
                started,
            )
            .await;
            // Records neither delivered nor spilled: the whole batch is retried (duplicates
            // beat losses; see the README's spill section).
            records_lost(&report)?;
            // Only a batch of an invocation that succeeded is remembered; records reported for
            // the retry were not started, so they are not among them.
            let mut seen = recent.lock().unwrap_or_else(|p| p.into_inner());
            for fingerprint in response.driven.processed {
                seen.remember(fingerprint);
            }
            Ok::<KinesisEventResponse, Diagnostic>(response.body)
        }
    }))
    .await
}
