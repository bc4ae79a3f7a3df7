//! Built-in Lambda metrics from platform events (text REPORT lines or JSON `platform.report`
//! records, timeout and out-of-memory lines), one `FunctionName` dimension per log group.
//!
//! Counting rules, so one invocation is never counted twice:
//! - `Invocations`, `Duration`, `BilledDuration`, `MemorySize`, `MaxMemoryUsed`,
//!   `MemoryUtilization`, `InitDuration` (+ `ColdStarts` = 1), `RestoreDuration`,
//!   `EstimatedCost` and `Errors` come only from the report (never from `INIT_REPORT`, whose init
//!   duration the JSON `platform.report` repeats on cold starts).
//! - `Errors` is 0 or 1 per report, so Average is the error rate; failed reports add a second
//!   `Errors` sample with an `ErrorType` dimension (the report's error type, else
//!   `Sandbox.Timedout` for timeouts and `Unknown` otherwise).
//! - `Timeouts` (report status `timeout` or a `Task timed out` line) and `OutOfMemory` (error
//!   type containing `OutOfMemory` or an out-of-memory line) are emitted as 1 only, and only
//!   for the first of the two signals of one request id; the ids are remembered across batches
//!   in [`RecentIds`]. Lines without a request id always count.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::aggregate::{Aggregator, Dimension, MetricId, MetricIdError, Resolution, Unit};
use crate::counter_keys as ck;
use crate::record::{PlatformEvent, Record, Report};
use crate::stats::Counters;

/// Default price of one GB-second: arm64, on-demand, first tier (USD, us-east-1).
pub const DEFAULT_PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Default price of one request (USD).
pub const DEFAULT_PRICE_PER_REQUEST: f64 = 0.000_000_2;
/// Default number of distinct functions (log groups) given their own `FunctionName`.
pub const DEFAULT_MAX_FUNCTIONS: usize = 1000;
/// Request ids remembered per signal for timeout / out-of-memory de-duplication.
pub const RECENT_IDS: usize = 4096;
/// Distinct `ErrorType` values kept before folding into `other`.
pub const MAX_ERROR_TYPES: usize = 100;

const LAMBDA_PREFIX: &str = "/aws/lambda/";

/// The `FunctionName` of a log group: `/aws/lambda/<name>` → `<name>`, anything else itself.
pub fn function_name(log_group: &str) -> &str {
    match log_group.strip_prefix(LAMBDA_PREFIX) {
        Some(name) if !name.is_empty() => name,
        _ => log_group,
    }
}

/// Request ids seen recently, bounded (oldest forgotten first). Stores hashes, not strings.
#[derive(Debug, Default, Clone)]
pub struct RecentIds {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl RecentIds {
    /// True when the id was not seen recently (and remembers it).
    pub fn first_time(&mut self, id: &str) -> bool {
        // DefaultHasher::new() has fixed keys: stable within the process, which is all we need.
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        let key = h.finish();
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > RECENT_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Long-lived state of the built-in metrics (de-duplication across batches).
#[derive(Debug, Default, Clone)]
pub struct LambdaState {
    pub(crate) timeouts: RecentIds,
    pub(crate) out_of_memory: RecentIds,
    pub(crate) error_types: super::rules::SeenValues,
}

/// The checked built-in metric set.
#[derive(Debug, Clone)]
pub struct LambdaMetrics {
    invocations: Arc<MetricId>,
    duration: Arc<MetricId>,
    billed: Arc<MetricId>,
    memory_size: Arc<MetricId>,
    max_memory: Arc<MetricId>,
    utilization: Arc<MetricId>,
    init: Arc<MetricId>,
    cold_starts: Arc<MetricId>,
    restore: Arc<MetricId>,
    errors: Arc<MetricId>,
    timeouts: Arc<MetricId>,
    out_of_memory: Arc<MetricId>,
    cost: Arc<MetricId>,
    price_per_gb_second: f64,
    price_per_request: f64,
    pub(crate) max_functions: usize,
    /// Dimension names, allocated once rather than per sample.
    function_dim: Arc<str>,
    error_type_dim: Arc<str>,
}

const FUNCTION_NAME: &str = "FunctionName";
const ERROR_TYPE: &str = "ErrorType";

impl LambdaMetrics {
    pub fn new(
        namespace: &str,
        price_per_gb_second: f64,
        price_per_request: f64,
        max_functions: usize,
    ) -> Result<LambdaMetrics, MetricIdError> {
        let m = |name: &str, unit: Unit| MetricId::new(namespace, name, unit, Resolution::Standard);
        Ok(LambdaMetrics {
            invocations: m("Invocations", Unit::Count)?,
            duration: m("Duration", Unit::Milliseconds)?,
            billed: m("BilledDuration", Unit::Milliseconds)?,
            memory_size: m("MemorySize", Unit::Megabytes)?,
            max_memory: m("MaxMemoryUsed", Unit::Megabytes)?,
            utilization: m("MemoryUtilization", Unit::Percent)?,
            init: m("InitDuration", Unit::Milliseconds)?,
            cold_starts: m("ColdStarts", Unit::Count)?,
            restore: m("RestoreDuration", Unit::Milliseconds)?,
            errors: m("Errors", Unit::Count)?,
            timeouts: m("Timeouts", Unit::Count)?,
            out_of_memory: m("OutOfMemory", Unit::Count)?,
            // USD has no CloudWatch unit.
            cost: m("EstimatedCost", Unit::None)?,
            price_per_gb_second,
            price_per_request,
            max_functions,
            function_dim: Arc::from(FUNCTION_NAME),
            error_type_dim: Arc::from(ERROR_TYPE),
        })
    }

    /// The name of every built-in metric (what dashboards and alarms may name).
    pub fn names(&self) -> [&str; 13] {
        [
            &self.invocations,
            &self.duration,
            &self.billed,
            &self.memory_size,
            &self.max_memory,
            &self.utilization,
            &self.init,
            &self.cold_starts,
            &self.restore,
            &self.errors,
            &self.timeouts,
            &self.out_of_memory,
            &self.cost,
        ]
        .map(|m| m.name())
    }

    /// Adds the samples of one platform event; `function` is the (cardinality-capped)
    /// `FunctionName` value.
    pub(crate) fn derive(
        &self,
        record: &Record,
        function: &str,
        agg: &mut Aggregator,
        state: &mut LambdaState,
        redactor: Option<&crate::redact::Redactor>,
        counters: &mut Counters,
    ) {
        let Some(event) = &record.platform else {
            return;
        };
        let ts = record.timestamp;
        let dims =
            || -> Vec<Dimension> { vec![(Arc::clone(&self.function_dim), function.to_string())] };
        let mut add = |m: &Arc<MetricId>, v: f64, counters: &mut Counters| {
            agg.add(m, dims(), ts, v, 1.0, counters);
        };
        match event {
            PlatformEvent::Report(r) => {
                self.report(r, &mut add, counters);
                let failed = event.failed();
                add(&self.errors, if failed { 1.0 } else { 0.0 }, counters);
                let timed_out = r.status.as_deref() == Some("timeout");
                if timed_out
                    && first(
                        &mut state.timeouts,
                        Some(&r.request_id),
                        ck::metrics::LAMBDA_DUPLICATE_TIMEOUT,
                        counters,
                    )
                {
                    add(&self.timeouts, 1.0, counters);
                }
                let oom = r
                    .error_type
                    .as_deref()
                    .is_some_and(|e| e.contains("OutOfMemory"));
                if oom
                    && first(
                        &mut state.out_of_memory,
                        Some(&r.request_id),
                        ck::metrics::LAMBDA_DUPLICATE_OUT_OF_MEMORY,
                        counters,
                    )
                {
                    add(&self.out_of_memory, 1.0, counters);
                }
                if failed {
                    let kind = match (&r.error_type, timed_out) {
                        // The application chooses its error type's text; redact it like any
                        // other value that becomes a dimension.
                        (Some(e), _) if !e.trim().is_empty() => match redactor {
                            Some(r) => r.redact(e).into_owned(),
                            None => e.clone(),
                        },
                        (_, true) => "Sandbox.Timedout".to_string(),
                        _ => "Unknown".to_string(),
                    };
                    let kind = state.error_types.admit(kind, MAX_ERROR_TYPES, counters);
                    let mut d = dims();
                    d.push((Arc::clone(&self.error_type_dim), kind));
                    agg.add(&self.errors, d, ts, 1.0, 1.0, counters);
                }
            }
            PlatformEvent::Timeout { request_id, .. } => {
                let fresh = first(
                    &mut state.timeouts,
                    request_id.as_deref(),
                    ck::metrics::LAMBDA_DUPLICATE_TIMEOUT,
                    counters,
                );
                if fresh {
                    add(&self.timeouts, 1.0, counters);
                }
            }
            PlatformEvent::OutOfMemory { request_id } => {
                let fresh = first(
                    &mut state.out_of_memory,
                    request_id.as_deref(),
                    ck::metrics::LAMBDA_DUPLICATE_OUT_OF_MEMORY,
                    counters,
                );
                if fresh {
                    add(&self.out_of_memory, 1.0, counters);
                }
            }
            _ => {}
        }
    }

    fn report(
        &self,
        r: &Report,
        add: &mut impl FnMut(&Arc<MetricId>, f64, &mut Counters),
        counters: &mut Counters,
    ) {
        add(&self.invocations, 1.0, counters);
        let pairs = [
            (&self.duration, r.duration_ms),
            (&self.billed, r.billed_duration_ms),
            (&self.memory_size, r.memory_size_mb),
            (&self.max_memory, r.max_memory_used_mb),
            (&self.init, r.init_duration_ms),
            (&self.restore, r.restore_duration_ms),
        ];
        for (m, v) in pairs {
            if let Some(v) = v {
                add(m, v, counters);
            }
        }
        if r.init_duration_ms.is_some() {
            add(&self.cold_starts, 1.0, counters);
        }
        if let (Some(used), Some(size)) = (r.max_memory_used_mb, r.memory_size_mb) {
            if size > 0.0 {
                add(&self.utilization, used / size * 100.0, counters);
            }
        }
        if let (Some(billed), Some(size)) = (r.billed_duration_ms, r.memory_size_mb) {
            let gb_seconds = billed / 1000.0 * (size / 1024.0);
            add(
                &self.cost,
                gb_seconds * self.price_per_gb_second + self.price_per_request,
                counters,
            );
        }
    }
}

/// Whether this signal is the first for its request id; repeats are counted, not emitted.
fn first(
    ids: &mut RecentIds,
    request_id: Option<&str>,
    duplicate_counter: &str,
    counters: &mut Counters,
) -> bool {
    match request_id.map(str::trim) {
        Some(id) if !id.is_empty() => {
            let fresh = ids.first_time(id);
            if !fresh {
                counters.incr(duplicate_counter);
            }
            fresh
        }
        _ => true,
    }
}
