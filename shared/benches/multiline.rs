//! What multiline joining and profiles cost: the whole pipeline (decode → process → encode the
//! PutMetricData requests, as the `pipeline` bench's metrics-only path) on the same payload with
//! and without each setting, timed in alternating rounds so both see the same machine. The issue
//! asks for ≥ 80% of the events/s with the Java detector on the JSON mix, and nothing measurable
//! when joining or profiles are configured but do not apply.
//!
//! `cargo bench -p logsieve --bench multiline [-- --quick] [FILTER]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use logsieve::config::{CheckedConfig, Config};
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::metrics::encode_put_metric_data;
use logsieve::multiline::MultilineConfig;
use logsieve::pipeline::Pipeline;
use logsieve_testkit::generate::{self, GenEvent, Mix, BASE_TS};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn calls_per_round(f: &mut impl FnMut(), min_round: Duration) -> u64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < min_round / 2 || calls == 0 {
        f();
        calls += 1;
    }
    (calls * 2).max(1)
}

/// Median seconds per call of `f` and `g` timed in alternating rounds, and the median ratio.
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
    let (mut fs, mut gs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
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

fn multiline(detectors: &[&str], log_groups: &[&str]) -> Option<MultilineConfig> {
    Some(MultilineConfig {
        detectors: detectors.iter().map(|s| s.to_string()).collect(),
        log_groups: log_groups.iter().map(|s| s.to_string()).collect(),
        ..MultilineConfig::default()
    })
}

/// A container's stderr as the awslogs driver delivers it: request lines with a Java stack
/// trace (one event per line) every tenth request.
fn java_service_events(n: usize) -> Vec<GenEvent> {
    const TRACE: &[&str] = &[
        "2023-11-14 22:13:20.101 ERROR 1 --- [nio-8080-exec-3] c.e.orders.OrderController : request failed",
        "java.lang.IllegalStateException: order 1042 has no lines",
        "\tat com.example.orders.OrderService.total(OrderService.java:88)",
        "\tat com.example.orders.OrderController.create(OrderController.java:41)",
        "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
        "Caused by: java.lang.NullPointerException: lines is null",
        "\tat com.example.orders.Order.lineCount(Order.java:23)",
        "\t... 2 more",
    ];
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let ts = BASE_TS + out.len() as i64;
        let line = if i % 10 == 9 {
            TRACE.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        } else {
            vec![format!(
                "2023-11-14 22:13:20.{:03} INFO 1 --- [nio-8080-exec-1] c.e.orders.OrderController : POST /orders 201 {}ms",
                i % 1000,
                i % 97
            )]
        };
        for m in line {
            if out.len() == n {
                break;
            }
            out.push(GenEvent {
                id: format!("{ts:020}{:036}", out.len()),
                timestamp: ts,
                message: m,
            });
        }
        i += 1;
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let filter: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let (min_round, rounds) = if quick {
        (Duration::from_millis(100), 7)
    } else {
        (Duration::from_millis(400), 11)
    };
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/logsieve.toml"
    ))
    .expect("examples/logsieve.toml");
    let config = |edit: &dyn Fn(&mut Config)| -> CheckedConfig {
        let mut c = Config::from_toml(&text).expect("example config parses");
        edit(&mut c);
        c.validate().expect("valid")
    };
    let none = config(&|c| c.multiline = None);
    let java = config(&|c| c.multiline = multiline(&["java"], &[]));
    let all =
        config(&|c| c.multiline = multiline(&["java", "python", "node", "go", "dotnet"], &[]));
    let elsewhere = config(&|c| c.multiline = multiline(&["java"], &["/k8s/*"]));
    let profiles = {
        let mut profile_text = text.clone();
        for i in 0..20 {
            profile_text.push_str(&format!(
                "\n[[profile]]\nname = \"p{i}\"\nlog_groups = [\"/team-{i}/*\"]\n[profile.multiline]\ndetectors = [\"java\"]\n"
            ));
        }
        let mut c = Config::from_toml(&profile_text).expect("parses");
        c.multiline = None;
        c.validate().expect("valid")
    };
    let limits = DecodeLimits::default();
    let json_doc = generate::document(Mix::JsonApp, &generate::events(Mix::JsonApp, 1000, 42));
    let java_doc = generate::document_for(
        "/ecs/orders-api",
        "orders-api/app/1",
        &java_service_events(1000),
    );
    let payload = |doc: &str| logsieve_testkit::encode::subscription_event(doc).into_bytes();
    let (json, text_java) = (payload(&json_doc), payload(&java_doc));
    let cases: [(&str, &[u8], &CheckedConfig); 5] = [
        ("json/java", &json, &java),
        ("json/all-detectors", &json, &all),
        ("json/multiline-other-groups", &json, &elsewhere),
        ("json/20-profiles-unmatched", &json, &profiles),
        ("java-service/java", &text_java, &java),
    ];
    println!(
        "{:<30} {:>14} {:>14} {:>8}",
        "case (1000 events)", "without ev/s", "with ev/s", "ratio"
    );
    for (name, payload, with) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f)) {
            continue;
        }
        let mut a = Pipeline::new(none.clone()).with_records(false);
        let mut b = Pipeline::new(with.clone()).with_records(false);
        let (t_without, t_with, ratio) = measure_pair(
            || metrics_only(&mut a, payload, &limits),
            || metrics_only(&mut b, payload, &limits),
            min_round,
            rounds,
        );
        println!(
            "{:<30} {:>14.0} {:>14.0} {:>7.1}%",
            name,
            1000.0 / t_without,
            1000.0 / t_with,
            100.0 * ratio
        );
    }
}
