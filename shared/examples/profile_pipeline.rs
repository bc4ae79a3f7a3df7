//! A fixed workload for profilers (perf, callgrind): decode + process a generated batch `ROUNDS`
//! times. `cargo build --release --example profile_pipeline -p logsieve` then e.g.
//! `valgrind --tool=callgrind target/release/examples/profile_pipeline json-app 1000 5`
//! (a fourth argument `records` profiles the records path, `baseline` decoding only).

use logsieve::config::CheckedConfig;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::generate::{self, Mix};
use logsieve::pipeline::Pipeline;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mix = args
        .get(1)
        .and_then(|m| Mix::parse(m))
        .unwrap_or(Mix::JsonApp);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let baseline_only = args.get(4).is_some_and(|s| s == "baseline");
    // `records`: the records path (what a records sink needs) instead of metrics only.
    let records = args.get(4).is_some_and(|s| s == "records");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/logsieve.toml"
    ))
    .expect("example config");
    let config = CheckedConfig::from_toml(&text).expect("valid");
    let payload = generate::subscription_event(mix, n, 42);
    let mut pipeline = Pipeline::new(config).with_records(records);
    let mut total = 0usize;
    for _ in 0..rounds {
        let d = decode_input(payload.as_bytes(), &DecodeLimits::default()).expect("decodes");
        for unit in d.units {
            for batch in unit.result.expect("decodes") {
                if baseline_only {
                    total += batch.events.len();
                } else {
                    let out = pipeline.process(batch);
                    total += out.metrics.len() + out.segments.len() + out.records.len();
                }
            }
        }
    }
    println!("{total}");
}
