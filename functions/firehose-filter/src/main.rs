//! The Firehose transformation function: wiring only. `firehose_filter::handle_decoded` runs the
//! library's driver and builds the transformation response; `logsieve_aws::tags` looks up the
//! log groups' tags first when the selected records read one (`[fields] add`);
//! `logsieve_aws::lambda` ends the invocation. Metrics and segments derived here are not sent:
//! the same logs usually also reach log-processor or kinesis-processor and would be counted
//! twice, so tags read only by them are not looked up here.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_lambda_events::firehose::KinesisFirehoseResponse;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;
use logsieve::driver::{decode_locked, Context, EventSource};
use logsieve::pipeline::Pipeline;
use logsieve::sink::EmitReport;
use logsieve::stats::Counters;
use logsieve_aws::lambda::{close, fail, limits, Environment};
use logsieve_aws::tags::{fields_use_tags, TagCache, TagSettings};
use logsieve_aws::Deadline;
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
    /// `Some` when the selected records read `$tags.<key>`.
    tags: Option<TagCache>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let tags = match fields_use_tags(&config) {
        true => {
            Some(TagCache::load(TagSettings::from_lookup(|name| std::env::var(name).ok())).await)
        }
        false => None,
    };
    let state = Arc::new(State {
        pipeline: Mutex::new(Pipeline::new(config).with_records(true)),
        env: Environment::from_env(),
        tags,
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
) -> Result<KinesisFirehoseResponse, Diagnostic> {
    let started = Instant::now();
    let deadline = Deadline::for_invocation(Some(event.context.deadline));
    let own = state.env.own_log_group.as_deref();
    let decoded = decode_locked(
        EventSource::Firehose,
        event.payload.get().as_bytes(),
        &state.pipeline,
    )
    .map_err(|e| fail(&e))?;
    let mut tag_counters = Counters::default();
    let tags =
        TagCache::maybe_for_event(state.tags.as_ref(), &decoded, own, None, &mut tag_counters)
            .await;
    let mut response = {
        let mut pipeline = state.pipeline.lock().unwrap_or_else(|p| p.into_inner());
        let context = Context {
            recent: None,
            tags: tags.as_ref(),
        };
        firehose_filter::handle_decoded(decoded, &mut pipeline, own, limits(&deadline), context)
            .map_err(|e| fail(&e))?
    };
    response.driven.output.stats.counters.merge(&tag_counters);
    close(
        &state.env,
        &response.driven,
        EmitReport::default(),
        Vec::new(),
        started,
    );
    Ok(response.body)
}
