//! End-to-end throughput: the whole pipeline (decode → parse → redact → derive → aggregate →
//! encode, dry-run sinks, nothing printed) against the decode-only baseline (base64 + gunzip +
//! envelope JSON: the floor no processor can beat), measured in the same run on the same bytes.
//! Prints events/s, MB/s (decompressed) and the ratio; writes `target/bench/summary.json`.
//!
//! Under the built-in default config, the records path is also timed as the OTLP sink and as the
//! S3 sink run it (protobuf bodies; gzip'd NDJSON objects), each against metrics-only.
//!
//! Then a CloudTrail mix (2–8 KB records, as a trail delivers them to its log group) through the
//! `cis-cloudtrail` pack (examples/security.toml): `cloudtrail` in the summary.
//!
//! `cargo bench -p logsieve --bench pipeline [-- --quick] [cloudtrail]` (`cloudtrail` runs only
//! the CloudTrail mix and leaves the summary alone)

use std::hint::black_box;
use std::time::{Duration, Instant};

use logsieve::config::CheckedConfig;

/// mimalloc: the pipeline allocates many small strings per event; it measured ~17% fewer
/// instructions than glibc malloc on the JSON mix (callgrind, examples/profile_pipeline).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::metrics::encode_put_metric_data;
use logsieve::pipeline::Pipeline;
use logsieve::records::{
    ndjson, otlp, BucketPrefix, OtlpTarget, ResourceSettings, DEFAULT_OTLP_MAX_REQUEST_BYTES,
    DEFAULT_S3_GZIP_LEVEL,
};
use logsieve_testkit::generate::{self, Mix};
use serde_json::json;

fn otlp_target() -> OtlpTarget {
    OtlpTarget {
        url: "http://127.0.0.1:4318/v1/logs".into(),
        headers: Vec::new(),
        headers_secret: None,
        resource: ResourceSettings {
            region: Some("us-east-1".into()),
            ..ResourceSettings::default()
        },
        max_request_bytes: DEFAULT_OTLP_MAX_REQUEST_BYTES,
        gzip: true,
    }
}

/// What the OTLP sink does to each body before sending it (level 1, as in logsieve-aws).
fn gzip_fast(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

/// A 128 MB function, in GB.
const LAMBDA_GB: f64 = 128.0 / 1024.0;
/// Lambda arm64 on-demand price per GB-second (us-east-1, first tier).
const ARM64_PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Share of a vCPU a 128 MB function gets (Lambda: one full vCPU at 1,769 MB).
const LAMBDA_CPU_SHARE: f64 = 128.0 / 1769.0;
/// Lambda price per request.
const PRICE_PER_REQUEST: f64 = 0.000_000_2;

struct Case {
    mix: Mix,
    events: usize,
    payload: Vec<u8>,
    decompressed_bytes: usize,
}

/// Runs `f` in rounds of at least `min_round`, returning the median seconds per call.
fn measure(mut f: impl FnMut(), min_round: Duration, rounds: usize) -> f64 {
    // Warm-up: caches, allocator, lazily built regexes.
    let start = Instant::now();
    let mut calls_per_round = 0u64;
    while start.elapsed() < min_round / 2 || calls_per_round == 0 {
        f();
        calls_per_round += 1;
    }
    calls_per_round = (calls_per_round * 2).max(1);
    let mut per_call: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls_per_round {
                f();
            }
            t.elapsed().as_secs_f64() / calls_per_round as f64
        })
        .collect();
    per_call.sort_by(|a, b| a.total_cmp(b));
    per_call[per_call.len() / 2]
}

/// Calls per round of at least `min_round` for `f` (after a warm-up).
fn calls_per_round(f: &mut impl FnMut(), min_round: Duration) -> u64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < min_round / 2 || calls == 0 {
        f();
        calls += 1;
    }
    (calls * 2).max(1)
}

/// Times `f` and `g` in alternating rounds, so both see the same machine (shared machines drift
/// by tens of percent within a run): the median seconds per call of each, and the median of
/// the per-round ratios `f`/`g`.
fn measure_pair(
    mut f: impl FnMut(),
    mut g: impl FnMut(),
    min_round: Duration,
    rounds: usize,
) -> (f64, f64, f64) {
    let (nf, ng) = (
        calls_per_round(&mut f, min_round),
        calls_per_round(&mut g, min_round),
    );
    let time = |h: &mut dyn FnMut(), n: u64| {
        let t = Instant::now();
        for _ in 0..n {
            h();
        }
        t.elapsed().as_secs_f64() / n as f64
    };
    let mut fs = Vec::new();
    let mut gs = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let a = time(&mut f, nf);
        let b = time(&mut g, ng);
        fs.push(a);
        gs.push(b);
        ratios.push(a / b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    (median(&mut fs), median(&mut gs), median(&mut ratios))
}

/// One call of the metrics-only path: decode, process, encode the PutMetricData requests.
fn metrics_only(pipeline: &mut Pipeline, payload: &[u8], limits: &DecodeLimits) {
    let d = decode_input(black_box(payload), limits).expect("decodes");
    for unit in d.units {
        for batch in unit.result.expect("decodes") {
            let out = pipeline.process(batch);
            black_box(encode_put_metric_data(&out.metrics));
            black_box(out.segments.len());
        }
    }
}

/// One call of the records path as the OTLP sink runs it: decode, process, encode the request
/// bodies. Returns the protobuf bytes.
fn records_otlp(
    pipeline: &mut Pipeline,
    payload: &[u8],
    limits: &DecodeLimits,
    target: &OtlpTarget,
) -> usize {
    let d = decode_input(black_box(payload), limits).expect("decodes");
    let mut bytes = 0;
    for unit in d.units {
        for batch in unit.result.expect("decodes") {
            let out = pipeline.process(batch);
            let spans: Vec<_> = out.batches.iter().collect();
            let reqs = otlp::encode(&out.records, &spans, target, 1);
            bytes += reqs.iter().map(|r| r.body.len()).sum::<usize>();
            black_box(reqs);
        }
    }
    bytes
}

/// One call of the records path as the S3 sink runs it: decode, process, build each batch's
/// object (gzip'd NDJSON at `level`). Returns the objects' bytes.
fn records_s3(pipeline: &mut Pipeline, payload: &[u8], limits: &DecodeLimits, level: u32) -> usize {
    let location = BucketPrefix {
        bucket: "bench".into(),
        prefix: "logs".into(),
    };
    let d = decode_input(black_box(payload), limits).expect("decodes");
    let mut bytes = 0;
    for unit in d.units {
        for batch in unit.result.expect("decodes") {
            let out = pipeline.process(batch);
            for span in out.batches.iter() {
                let (key, body) = ndjson::s3_object(&location, &out.records, span, level);
                bytes += body.len();
                black_box(key);
            }
        }
    }
    bytes
}

/// A subscription payload of `n` CloudTrail records, 2–8 KB each (sizes cycle through
/// 2, 3, … 8 KB): the bundled samples with their event ids renumbered and a response body of EC2
/// instance items grown to size (the bulk of large real records is request/response detail).
fn cloudtrail_payload(n: usize) -> (Vec<u8>, usize) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/cloudtrail-samples.json"
    ))
    .expect("tests/fixtures/cloudtrail-samples.json");
    let samples: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let samples = samples["samples"].as_array().expect("samples").clone();
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        let mut e = samples[i % samples.len()]["event"].clone();
        e["eventID"] = json!(format!("bench-{i:08}"));
        let target = (2 + i % 7) * 1024;
        let mut items = Vec::new();
        let mut message = e.to_string();
        while message.len() < target {
            items.push(json!({
                "instanceId": format!("i-0{:016x}", i * 31 + items.len()),
                "imageId": "ami-0abcdef1234567890",
                "instanceState": {"code": 0, "name": "pending"},
                "privateDnsName": format!("ip-10-0-{}-{}.ec2.internal", items.len() % 250, i % 250),
                "instanceType": "m7g.large",
                "placement": {"availabilityZone": "us-east-1a", "tenancy": "default"},
                "monitoring": {"state": "disabled"},
            }));
            e["responseElements"] = json!({"instancesSet": {"items": items}});
            message = e.to_string();
        }
        events.push(json!({
            "id": format!("{:056}", i),
            "timestamp": 1_714_564_800_000_i64 + i as i64,
            "message": message,
        }));
    }
    let doc = json!({
        "messageType": "DATA_MESSAGE", "owner": "111122223333",
        "logGroup": "aws-cloudtrail-logs-111122223333-3c7a1b2d",
        "logStream": "111122223333_CloudTrail_us-east-1", "subscriptionFilters": ["logsieve"],
        "logEvents": events,
    })
    .to_string();
    (
        logsieve_testkit::encode::subscription_event(&doc).into_bytes(),
        doc.len(),
    )
}

/// The CloudTrail mix through the pack, metrics only and with records: one summary entry.
fn cloudtrail_case(min_round: Duration, rounds: usize, limits: &DecodeLimits) -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/security.toml"
    ))
    .expect("examples/security.toml");
    let config = CheckedConfig::from_toml(&text).expect("valid security config");
    let events = 1000;
    let (payload, decompressed) = cloudtrail_payload(events);
    let mut pipeline = Pipeline::new(config.clone()).with_records(false);
    let metrics = measure(
        || metrics_only(&mut pipeline, &payload, limits),
        min_round,
        rounds,
    );
    let mut with_records = Pipeline::new(config);
    let records = measure(
        || {
            let d = decode_input(black_box(&payload), limits).expect("decodes");
            for unit in d.units {
                for batch in unit.result.expect("decodes") {
                    black_box(with_records.process(batch).records.len());
                }
            }
        },
        min_round,
        rounds,
    );
    let baseline = measure(
        || {
            let d = decode_input(black_box(&payload), limits).expect("decodes");
            black_box(d.batches().map(|b| b.events.len()).sum::<usize>());
        },
        min_round,
        rounds,
    );
    let eps = |secs: f64| events as f64 / secs;
    let mbps = |secs: f64| decompressed as f64 / secs / 1e6;
    println!(
        "cloudtrail {events} events ({:.1} KB avg), cis-cloudtrail pack: metrics-only {:.0} ev/s {:.1} MB/s ({:.0}% of decode-only {:.1} MB/s); with records {:.0} ev/s {:.1} MB/s (decompressed)",
        decompressed as f64 / events as f64 / 1024.0,
        eps(metrics),
        mbps(metrics),
        baseline / metrics * 100.0,
        mbps(baseline),
        eps(records),
        mbps(records),
    );
    json!({
        "events": events,
        "payload_bytes": payload.len(),
        "decompressed_bytes": decompressed,
        "pipeline_events_per_sec": eps(metrics),
        "pipeline_mb_per_sec": mbps(metrics),
        "pipeline_with_records_events_per_sec": eps(records),
        "pipeline_with_records_mb_per_sec": mbps(records),
        "baseline_mb_per_sec": mbps(baseline),
        "pipeline_over_baseline": baseline / metrics,
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().skip(1).any(|a| a == "cloudtrail") {
        let (min_round, rounds) = if quick {
            (Duration::from_millis(100), 3)
        } else {
            (Duration::from_millis(400), 7)
        };
        cloudtrail_case(min_round, rounds, &DecodeLimits::default());
        return;
    }
    let (min_round, rounds) = if quick {
        (Duration::from_millis(100), 3)
    } else {
        (Duration::from_millis(400), 7)
    };
    let config_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/logsieve.toml"
    ))
    .expect("examples/logsieve.toml");
    let config = CheckedConfig::from_toml(&config_text).expect("valid example config");
    let limits = DecodeLimits::default();

    let sizes: &[usize] = if quick {
        &[1, 1000]
    } else {
        &[1, 100, 1000, 10_000]
    };
    let mut cases = Vec::new();
    for mix in Mix::ALL {
        for &n in sizes {
            let evs = generate::events(mix, n, 42);
            let doc = generate::document(mix, &evs);
            let payload = logsieve_testkit::encode::subscription_event(&doc).into_bytes();
            cases.push(Case {
                mix,
                events: n,
                payload,
                decompressed_bytes: doc.len(),
            });
        }
    }

    println!(
        "{:<9} {:>6} {:>13} {:>9} {:>13} {:>9} {:>7} {:>13}",
        "mix", "events", "pipeline ev/s", "MB/s", "baseline ev/s", "MB/s", "ratio", "with-records"
    );
    // The records path as the OTLP sink runs it: pipeline with records, then the protobuf
    // request bodies, then (as sent) their gzip.
    let otlp_target = otlp_target();
    let mut results = Vec::new();
    for case in &cases {
        let baseline = measure(
            || {
                let d = decode_input(black_box(&case.payload), &limits).expect("decodes");
                black_box(d.batches().map(|b| b.events.len()).sum::<usize>());
            },
            min_round,
            rounds,
        );
        let mut with_records = Pipeline::new(config.clone());
        let full_records = measure(
            || {
                let d = decode_input(black_box(&case.payload), &limits).expect("decodes");
                for unit in d.units {
                    for batch in unit.result.expect("decodes") {
                        black_box(with_records.process(batch).records.len());
                    }
                }
            },
            min_round,
            rounds,
        );
        // Metrics-only and records+OTLP in alternating rounds: their ratio is the figure the
        // records path is judged by.
        let mut pipeline = Pipeline::new(config.clone()).with_records(false);
        let mut with_otlp = Pipeline::new(config.clone());
        let mut otlp_bytes = (0usize, 0usize);
        let (full, full_otlp, otlp_share) = measure_pair(
            || metrics_only(&mut pipeline, &case.payload, &limits),
            || otlp_bytes.0 = records_otlp(&mut with_otlp, &case.payload, &limits, &otlp_target),
            min_round,
            rounds.max(5),
        );
        let mut with_otlp_gzip = Pipeline::new(config.clone());
        let full_otlp_gzip = measure(
            || {
                let d = decode_input(black_box(&case.payload), &limits).expect("decodes");
                for unit in d.units {
                    for batch in unit.result.expect("decodes") {
                        let out = with_otlp_gzip.process(batch);
                        let spans: Vec<_> = out.batches.iter().collect();
                        let reqs = otlp::encode(&out.records, &spans, &otlp_target, 1);
                        otlp_bytes.1 = reqs.iter().map(|r| gzip_fast(&r.body).len()).sum();
                    }
                }
            },
            min_round,
            rounds,
        );
        let eps = |secs: f64| case.events as f64 / secs;
        let mbps = |secs: f64| case.decompressed_bytes as f64 / secs / 1e6;
        let ratio = baseline / full;
        println!(
            "{:<9} {:>6} {:>13.0} {:>9.1} {:>13.0} {:>9.1} {:>6.1}% {:>13.0}",
            case.mix.name(),
            case.events,
            eps(full),
            mbps(full),
            eps(baseline),
            mbps(baseline),
            ratio * 100.0,
            eps(full_records)
        );
        println!(
            "{:<9} {:>6}   records+OTLP {:>10.0} ev/s ({:.0}% of metrics-only, alternating rounds), +gzip {:>10.0} ev/s; {:.0} B/event protobuf, {:.0} B/event gzip'd",
            "",
            "",
            eps(full_otlp),
            otlp_share * 100.0,
            eps(full_otlp_gzip),
            otlp_bytes.0 as f64 / case.events as f64,
            otlp_bytes.1 as f64 / case.events as f64,
        );
        results.push(json!({
            "mix": case.mix.name(),
            "events": case.events,
            "payload_bytes": case.payload.len(),
            "decompressed_bytes": case.decompressed_bytes,
            "pipeline_events_per_sec": eps(full),
            "pipeline_mb_per_sec": mbps(full),
            "pipeline_with_records_events_per_sec": eps(full_records),
            "records_otlp_events_per_sec": eps(full_otlp),
            "records_otlp_gzip_events_per_sec": eps(full_otlp_gzip),
            "records_otlp_over_metrics_only": otlp_share,
            "otlp_protobuf_bytes_per_event": otlp_bytes.0 as f64 / case.events as f64,
            "otlp_gzip_bytes_per_event": otlp_bytes.1 as f64 / case.events as f64,
            "baseline_events_per_sec": eps(baseline),
            "baseline_mb_per_sec": mbps(baseline),
            "pipeline_over_baseline": ratio,
            "ms_per_batch": full * 1e3,
            "records_otlp_gzip_ms_per_batch": full_otlp_gzip * 1e3,
        }));
    }
    // The records path under the built-in default config, which keeps every field and runs
    // every default detector on every value: what a deployment without a `[fields]` section
    // pays. JSON mix, largest batch; metrics-only and records+OTLP in alternating rounds.
    let default_config = CheckedConfig::default_config().expect("the default config is valid");
    let mut default_results = Vec::new();
    if let Some(case) = cases
        .iter()
        .filter(|c| c.mix == Mix::JsonApp)
        .max_by_key(|c| c.events)
    {
        let mut metrics_pipeline = Pipeline::new(default_config.clone()).with_records(false);
        let mut with_otlp = Pipeline::new(default_config.clone());
        let (full, full_otlp, share) = measure_pair(
            || metrics_only(&mut metrics_pipeline, &case.payload, &limits),
            || {
                black_box(records_otlp(
                    &mut with_otlp,
                    &case.payload,
                    &limits,
                    &otlp_target,
                ));
            },
            min_round,
            rounds.max(5),
        );
        // The S3 sink's object is gzip'd at level 6 by default, which costs about as much as
        // the rest of the records path: measured here, and at level 1, so the trade is seen.
        let mut s3 = Vec::new();
        for level in [DEFAULT_S3_GZIP_LEVEL, 1] {
            let mut with_s3 = Pipeline::new(default_config.clone());
            let mut bytes = 0;
            let (_, secs, share) = measure_pair(
                || metrics_only(&mut metrics_pipeline, &case.payload, &limits),
                || bytes = records_s3(&mut with_s3, &case.payload, &limits, level),
                min_round,
                rounds.max(5),
            );
            s3.push((level, secs, share, bytes));
        }
        let eps = |secs: f64| case.events as f64 / secs;
        println!(
            "default config (every field kept), {} {}: metrics-only {:.0} ev/s, records+OTLP {:.0} ev/s ({:.0}% of metrics-only, alternating rounds)",
            case.mix.name(),
            case.events,
            eps(full),
            eps(full_otlp),
            share * 100.0
        );
        let mut s3_results = Vec::new();
        for &(level, secs, s3_share, bytes) in &s3 {
            println!(
                "default config (every field kept), {} {}: records+S3 object at gzip level {level}: {:.0} ev/s ({:.0}% of metrics-only, alternating rounds); {:.0} B/event",
                case.mix.name(),
                case.events,
                eps(secs),
                s3_share * 100.0,
                bytes as f64 / case.events as f64,
            );
            s3_results.push(json!({
                "gzip_level": level,
                "events_per_sec": eps(secs),
                "over_metrics_only": s3_share,
                "gzip_bytes_per_event": bytes as f64 / case.events as f64,
            }));
        }
        default_results.push(json!({
            "mix": case.mix.name(),
            "events": case.events,
            "pipeline_events_per_sec": eps(full),
            "records_otlp_events_per_sec": eps(full_otlp),
            "records_otlp_over_metrics_only": share,
            "records_s3": s3_results,
        }));
    }
    // Lambda cost per million log events on a 128 MB arm64 function, from the JSON mix's
    // largest batch: compute (GB-seconds × price) plus one request per batch. Lambda gives a
    // function CPU in proportion to memory (one vCPU at 1,769 MB), so a 128 MB function runs the
    // same work ~13.8x slower than this full core: the measured time is scaled by that share.
    let cost_of = |field: &str| {
        results
            .iter()
            .filter(|r| r["mix"] == "json-app")
            .max_by_key(|r| r["events"].as_u64().unwrap_or(0))
            .map(|r| {
                let events = r["events"].as_f64().unwrap_or(1.0);
                let batches = 1e6 / events;
                let secs = r[field].as_f64().unwrap_or(0.0) / 1e3 / LAMBDA_CPU_SHARE;
                let compute = batches * secs * LAMBDA_GB * ARM64_PRICE_PER_GB_SECOND;
                let requests = batches * PRICE_PER_REQUEST;
                json!({"events_per_batch": events, "lambda_seconds_per_batch": secs,
                       "compute_usd": compute, "requests_usd": requests,
                       "total_usd_per_million_events": compute + requests})
            })
    };
    // Metrics only, and a deployment that also ships every record over OTLP (gzip'd bodies;
    // the network wait is not CPU, and Lambda bills it alike: see docs/cost.md).
    let cost = cost_of("ms_per_batch");
    let records_cost = cost_of("records_otlp_gzip_ms_per_batch");
    for (what, c) in [("metrics only", &cost), ("records+OTLP", &records_cost)] {
        if let Some(c) = c {
            println!(
                "Lambda cost per million events, {what} (128 MB arm64, {} events/batch, CPU share scaled): ${:.6} compute + ${:.6} requests = ${:.6}",
                c["events_per_batch"], c["compute_usd"].as_f64().unwrap_or(0.0),
                c["requests_usd"].as_f64().unwrap_or(0.0),
                c["total_usd_per_million_events"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let cloudtrail = cloudtrail_case(min_round, rounds, &limits);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench");
    let summary = json!({
        "quick": quick,
        "cloudtrail": cloudtrail,
        "results": results,
        "default_config": default_results,
        "lambda_cost_per_million_events": cost,
        "lambda_cost_per_million_events_records_otlp": records_cost,
    });
    if std::fs::create_dir_all(dir).is_ok() {
        let path = format!("{dir}/summary.json");
        match std::fs::write(
            &path,
            serde_json::to_string_pretty(&summary).unwrap_or_default(),
        ) {
            Ok(()) => println!("wrote {path}"),
            Err(e) => eprintln!("cannot write {path}: {e}"),
        }
    }
}
