//! A fixed workload for profilers (perf, callgrind): decode + process a generated batch `ROUNDS`
//! times. `cargo build --release --example profile_pipeline -p logsieve` then e.g.
//! `valgrind --tool=callgrind target/release/examples/profile_pipeline json-app 1000 5`
//! (a fourth argument `records` profiles the records path, `otlp` that and the OTLP encoding,
//! `baseline` decoding only; a fifth, `default`, uses the built-in default config).

use logsieve::config::CheckedConfig;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::pipeline::Pipeline;
use logsieve_testkit::generate::{self, Mix};

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
    let otlp = args.get(4).is_some_and(|s| s == "otlp");
    let records = otlp || args.get(4).is_some_and(|s| s == "records");
    let target = logsieve::records::OtlpTarget {
        url: "http://127.0.0.1:4318/v1/logs".into(),
        headers: Vec::new(),
        headers_secret: None,
        resource: logsieve::records::ResourceSettings::default(),
        max_request_bytes: logsieve::records::DEFAULT_OTLP_MAX_REQUEST_BYTES,
        gzip: true,
    };
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/logsieve.toml"
    ))
    .expect("example config");
    // A fifth argument `default`: the built-in default config (every field kept) instead.
    let config = if args.get(5).is_some_and(|s| s == "default") {
        CheckedConfig::default_config().expect("valid")
    } else {
        CheckedConfig::from_toml(&text).expect("valid")
    };
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
                    if otlp {
                        let spans: Vec<_> = out.batches.iter().collect();
                        let reqs =
                            logsieve::records::otlp::encode(&out.records, &spans, &target, 1);
                        total += reqs.iter().map(|r| r.body.len()).sum::<usize>();
                    }
                    total += out.metrics.len() + out.segments.len() + out.records.len();
                }
            }
        }
    }
    println!("{total}");
}
