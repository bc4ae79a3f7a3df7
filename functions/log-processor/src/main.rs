//! The CloudWatch Logs subscription function: wiring only. The library's driver decodes and
//! processes each event; `logsieve_aws::lambda` sends the results and ends the invocation.

// The SDK's nested futures (emit → PutMetricData → retries) exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use logsieve::config::CheckedConfig;
use logsieve::dedup::RecentBatches;
use logsieve::driver::{decode_locked, drive_decoded, Context, EventSource};
use logsieve::pipeline::Pipeline;
use logsieve_aws::lambda::{
    fail, finish, flag, limits, records_lost, Environment, Sinks, ENV_DRY_RUN,
};
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
    /// `None` in dry-run mode.
    emitter: Option<Emitter>,
    /// Batches finished by invocations that succeeded: Lambda's retry of one is skipped.
    recent: Mutex<RecentBatches>,
    /// `Some` when the configuration reads `$tags.<key>` (and not in dry-run mode).
    tags: Option<TagCache>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad configuration fails the init phase, which Lambda reports on every invocation: louder
    // than processing with a default nobody asked for.
    let config = CheckedConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let dry_run = flag(ENV_DRY_RUN);
    let emitter = match dry_run {
        true => None,
        false => Some(Emitter::for_config(&config).await),
    };
    // Records are built only when something takes them: they are the costliest part of
    // selection.
    let records = dry_run || emitter.as_ref().is_some_and(Emitter::ships_records);
    let tags = match !dry_run && config_uses_tags(&config) {
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let state = Arc::clone(&state);
        async move { handle(&state, event).await }
    }))
    .await
}

async fn handle(state: &State, event: LambdaEvent<Box<RawValue>>) -> Result<(), Diagnostic> {
    let started = Instant::now();
    let deadline = Deadline::for_invocation(Some(event.context.deadline));
    let source = EventSource::Subscription;
    let own = state.env.own_log_group.as_deref();
    let decoded = decode_locked(source, event.payload.get().as_bytes(), &state.pipeline)
        .map_err(|e| fail(&e))?;
    let mut tag_counters = logsieve::stats::Counters::default();
    let tags = TagCache::maybe_for_event(
        state.tags.as_ref(),
        &decoded,
        own,
        Some(&state.recent),
        &mut tag_counters,
    )
    .await;
    let mut driven = {
        let mut pipeline = state.pipeline.lock().unwrap_or_else(|p| p.into_inner());
        let recent = state.recent.lock().unwrap_or_else(|p| p.into_inner());
        let context = Context {
            recent: Some(&recent),
            tags: tags.as_ref(),
        };
        drive_decoded(
            source,
            decoded,
            &mut pipeline,
            own,
            limits(&deadline),
            context,
        )
        .map_err(|e| fail(&e))?
    };
    driven.output.stats.counters.merge(&tag_counters);
    let sinks = match &state.emitter {
        Some(emitter) => Sinks::Emit(emitter),
        None => Sinks::DryRun,
    };
    let report = finish(&state.env, sinks, &driven, deadline, started).await;
    records_lost(&report)?;
    // Only now is the event done: a batch of a failed invocation is Lambda's to retry and must
    // be processed again then.
    let mut recent = state.recent.lock().unwrap_or_else(|p| p.into_inner());
    for fingerprint in driven.processed {
        recent.remember(fingerprint);
    }
    Ok(())
}
