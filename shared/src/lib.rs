//! logsieve: a log processor for CloudWatch Logs subscriptions. The pipeline is pure (bytes in,
//! typed values out); AWS calls live behind the traits in `sink`.

pub mod config;
pub mod config_error;
pub mod counter_keys;
pub mod decode;
pub mod dedup;
pub mod driver;
pub mod exits;
pub mod json;
pub mod metrics;
pub mod multiline;
pub mod parse;
pub mod pattern;
pub mod pipeline;
pub mod plan_config;
pub mod profile;
pub mod record;
pub mod records;
pub mod redact;
pub mod select;
pub mod sink;
pub mod stats;
pub mod telemetry;
pub mod trace;
