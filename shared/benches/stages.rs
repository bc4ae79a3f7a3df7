//! Per-stage criterion benches: decode, parse by format, redact + select, pattern match,
//! derive + aggregate, encode. Throughput is reported in events.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::metrics::{encode_emf, encode_put_metric_data, Aggregator, MetricState};
use logsieve::parse::parse_event;
use logsieve::pattern::FilterPattern;
use logsieve::pipeline::{match_input, Pipeline};
use logsieve::record::{LogEvent, Record, Source};
use logsieve::stats::Counters;
use logsieve_testkit::generate::{self, Mix};

const N: usize = 1000;

fn config() -> CheckedConfig {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/logsieve.toml"
    ))
    .expect("example config");
    CheckedConfig::from_toml(&text).expect("valid")
}

fn log_events(mix: Mix) -> Vec<LogEvent> {
    generate::events(mix, N, 7)
        .into_iter()
        .map(|e| LogEvent {
            id: e.id,
            timestamp: e.timestamp,
            message: e.message,
            extracted_fields: None,
        })
        .collect()
}

fn source() -> Arc<Source> {
    Arc::new(Source {
        log_group: "/aws/lambda/checkout".into(),
        log_stream: "s".into(),
        ..Source::default()
    })
}

fn records(mix: Mix) -> Vec<Record> {
    let src = source();
    log_events(mix)
        .into_iter()
        .map(|e| parse_event(&src, e))
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(N as u64));
    let payload = generate::subscription_event(Mix::JsonApp, N, 7);
    let limits = DecodeLimits::default();
    g.bench_function("subscription_json_app", |b| {
        b.iter(|| decode_input(black_box(payload.as_bytes()), &limits))
    });
    g.finish();
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(N as u64));
    let src = source();
    for mix in [Mix::JsonApp, Mix::Lambda, Mix::Access] {
        let evs = log_events(mix);
        g.bench_function(mix.name(), |b| {
            b.iter_batched(
                || evs.clone(),
                |evs| {
                    for e in evs {
                        black_box(parse_event(&src, e));
                    }
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn bench_select(c: &mut Criterion) {
    let mut g = c.benchmark_group("select");
    g.throughput(Throughput::Elements(N as u64));
    let cfg = config();
    let recs = records(Mix::JsonApp);
    g.bench_function("redact_json_app", |b| {
        b.iter_batched(
            || recs.clone(),
            |mut recs| {
                for r in &mut recs {
                    black_box(cfg.fields.redact_record(r));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("select_json_app", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(cfg.fields.select(r));
            }
        })
    });
    g.finish();
}

fn bench_pattern(c: &mut Criterion) {
    let mut g = c.benchmark_group("pattern");
    g.throughput(Throughput::Elements(N as u64));
    let json = records(Mix::JsonApp);
    let access = records(Mix::Access);
    let cases = [
        ("terms", "?ERROR ?WARNING", &json),
        (
            "json",
            r#"{ $.status >= 500 && $.service = "orders-*" }"#,
            &json,
        ),
        (
            "delimited",
            "[ip, id, user, timestamp, request, status_code = 4*, size, referer, agent]",
            &access,
        ),
        // AWS's regex subset has no literal space: `\s` stands for it.
        ("regex", "%latency_ms.:[0-9]{3}%", &json),
    ];
    for (name, pattern, recs) in cases {
        let p = FilterPattern::compile(pattern).expect("bench patterns compile");
        g.bench_function(name, |b| {
            b.iter(|| recs.iter().filter(|r| p.is_match(&match_input(r))).count())
        });
    }
    g.finish();
}

/// 1,024 messages of 1 KiB of pseudo-random `a`/`b` (xorshift), the worst input found for the
/// worst regex accepted at load.
fn random_ab_events() -> Vec<String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..1024)
        .map(|_| {
            (0..1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x & 1 == 0 {
                        'a'
                    } else {
                        'b'
                    }
                })
                .collect()
        })
        .collect()
}

/// The per-byte bound of accepted regexes, on 1 MiB as 1,024 events of 1 KiB: the worst case
/// found (`a[ab]{126}c`, 128 positions: every `a` opens an attempt the lazy DFA cannot cache) and
/// the issue's shape at the limit (`\w{1,127}z`, which at `{1,1000}` cost ~35 ms per KiB).
fn bench_pattern_worst(c: &mut Criterion) {
    let mut g = c.benchmark_group("pattern_worst");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(1 << 20));
    let positions = logsieve::pattern::MAX_REGEX_POSITIONS;
    let random = random_ab_events();
    let all_a: Vec<String> = (0..1024).map(|_| "a".repeat(1024)).collect();
    let cases = [
        (
            "regex_1mib",
            format!("%a[ab]{{{}}}c%", positions - 2),
            &random,
        ),
        (
            "wide_repetition_1mib",
            format!("%\\w{{1,{}}}z%", positions - 1),
            &all_a,
        ),
    ];
    for (name, pattern, events) in cases {
        let p = FilterPattern::compile(&pattern).expect("at the limit, accepted");
        g.bench_function(name, |b| {
            b.iter(|| {
                events
                    .iter()
                    .filter(|m| {
                        p.is_match(&logsieve::pattern::MatchInput {
                            message: m,
                            json: None,
                        })
                    })
                    .count()
            })
        });
    }
    g.finish();
}

fn bench_aggregate(c: &mut Criterion) {
    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(N as u64));
    let cfg = config();
    for mix in [Mix::JsonApp, Mix::Lambda] {
        let recs = records(mix);
        g.bench_function(format!("derive_finish_{}", mix.name()), |b| {
            b.iter(|| {
                let mut counters = Counters::new();
                let mut agg = Aggregator::new();
                let mut state = MetricState::new();
                for r in &recs {
                    cfg.metrics.derive(r, &mut agg, &mut state, &mut counters);
                }
                black_box(agg.finish(&mut counters))
            })
        });
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let mut p = Pipeline::new(config()).with_records(false);
    let payload = generate::subscription_event(Mix::Mixed, N, 7);
    let d = decode_input(payload.as_bytes(), &DecodeLimits::default()).expect("decodes");
    let datums: Vec<_> = d
        .units
        .into_iter()
        .flat_map(|u| u.result.unwrap_or_default())
        .flat_map(|b| p.process(b).metrics)
        .collect();
    g.throughput(Throughput::Elements(datums.len().max(1) as u64));
    g.bench_function("put_metric_data", |b| {
        b.iter(|| encode_put_metric_data(black_box(&datums)))
    });
    g.bench_function("emf", |b| b.iter(|| encode_emf(black_box(&datums))));
    g.finish();
}

criterion_group!(
    benches,
    bench_decode,
    bench_parse,
    bench_select,
    bench_pattern,
    bench_pattern_worst,
    bench_aggregate,
    bench_encode
);
criterion_main!(benches);
