//! Arbitrary text as the config file: a config is either checked or a `ConfigError` naming a
//! key, never a panic; a config that loads runs a small batch.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use logsieve::config::CheckedConfig;
use logsieve::pipeline::Pipeline;
use logsieve::record::{Batch, LogEvent, Source};

const MESSAGES: &[&str] = &[
    r#"{"level":"ERROR","status":503,"service":"api","latency_ms":12,"trace_id":"1-5759e988-bd862e3fe1be46a994272793"}"#,
    "REPORT RequestId: 6234\tDuration: 46.84 ms\tBilled Duration: 47 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\t",
    r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 404 12 "-" "curl""#,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match CheckedConfig::from_toml(text) {
        Ok(config) => {
            let source = Arc::new(Source {
                log_group: "/aws/lambda/fuzz".into(),
                ..Source::default()
            });
            let events = MESSAGES
                .iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    id: i.to_string(),
                    timestamp: 1_700_000_000_000 + i as i64,
                    message: (*m).to_string(),
                    extracted_fields: None,
                })
                .collect();
            let out = Pipeline::new(config).process(Batch { source, events });
            for d in &out.metrics {
                assert!(d.check().is_ok(), "{d:?}");
            }
        }
        Err(e) => assert!(!e.key.is_empty(), "error without a key: {e}"),
    }
});
