//! The Kinesis Data Streams function: wiring only. `kinesis_processor::handle_decoded` runs the
//! library's driver and builds the partial batch response; `logsieve_aws::tags` looks up the
//! log groups' tags first when the configuration reads one; `logsieve_aws::lambda` sends the
//! results and ends the invocation.

// The SDK's nested futures (emit → PutMetricData → retries) exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_lambda_events::streams::KinesisEventResponse;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;
use logsieve::dedup::RecentBatches;
use logsieve::driver::{decode_locked, Context, EventSource};
use logsieve::pipeline::Pipeline;
use logsieve::stats::Counters;
use logsieve_aws::lambda::{fail, finish, limits, records_lost, Environment, Sinks};
use logsieve_aws::tags::{config_uses_tags, TagCache, TagSettings};
use logsieve_aws::{Deadline, Emitter};
use serde_json::value::RawValue;

/// mimalloc: fewer instructions per event than glibc malloc on the pipeline's many small
/// allocations (see the README's performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Everything kept warm across invocations of one execution environment.
struct State {
    /// The sequential runtime never contends for it; the lock is only for `Send + Sync`.
    pipeline: Mutex<Pipeline>,
    env: Environment,
    emitter: Emitter,
    /// Batches of invocations that succeeded: a record Lambda delivers again is skipped.
    recent: Mutex<RecentBatches>,
    /// `Some` when the configuration reads `$tags.<key>`.
    tags: Option<TagCache>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let emitter = Emitter::for_config(&config).await;
    // Records are built only when a records sink takes them: they are the costliest part of
    // selection.
    let records = emitter.ships_records();
    let tags = match config_uses_tags(&config) {
        true => {
            Some(TagCache::load(TagSettings::from_lookup(|name| std::env::var(name).ok())).await)
        }
        false => None,
    };
    let env = Environment::from_env();
    let state = Arc::new(State {
        pipeline: Mutex::new(Pipeline::new(config).with_records(records)),
        recent: Mutex::new(RecentBatches::new(env.dedup_batches)),
        tags,
        env,
        emitter,
    });
    run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let state = Arc::clone(&state);
        async move { handle(&state, event).await }
    }))
    .await
}

async fn handle(
    state: &State,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<KinesisEventResponse, Diagnostic> {
    let started = Instant::now();
    let deadline = Deadline::for_invocation(Some(event.context.deadline));
    let own = state.env.own_log_group.as_deref();
    let decoded = decode_locked(
        EventSource::Kinesis,
        event.payload.get().as_bytes(),
        &state.pipeline,
    )
    .map_err(|e| fail(&e))?;
    // Within the tags' time budget, and before the pipeline's: the records not started when
    // the deadline nears are still left for the retry.
    let mut tag_counters = Counters::default();
    let tags = TagCache::maybe_for_event(
        state.tags.as_ref(),
        &decoded,
        own,
        Some(&state.recent),
        &mut tag_counters,
    )
    .await;
    let mut response = {
        let mut pipeline = state.pipeline.lock().unwrap_or_else(|p| p.into_inner());
        let recent = state.recent.lock().unwrap_or_else(|p| p.into_inner());
        let context = Context {
            recent: Some(&recent),
            tags: tags.as_ref(),
        };
        kinesis_processor::handle_decoded(decoded, &mut pipeline, own, limits(&deadline), context)
            .map_err(|e| fail(&e))?
    };
    response.driven.output.stats.counters.merge(&tag_counters);
    let report = finish(
        &state.env,
        Sinks::Emit(&state.emitter),
        &response.driven,
        deadline,
        started,
    )
    .await;
    // Records neither delivered nor spilled: the whole batch is retried (duplicates beat
    // losses; see the README's spill section).
    records_lost(&report)?;
    // Only a batch of an invocation that succeeded is remembered; records reported for the
    // retry were not started, so they are not among them.
    let mut recent = state.recent.lock().unwrap_or_else(|p| p.into_inner());
    for fingerprint in response.driven.processed {
        recent.remember(fingerprint);
    }
    Ok(response.body)
}
