//! What tests, benches, examples and the CLI's `generate` command need to make input: sample
//! CloudWatch Logs events and the subscription payloads that carry them. Kept out of the
//! `logsieve` crate so no Lambda function links it.

pub mod encode;
pub mod generate;
