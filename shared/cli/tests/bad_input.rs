//! The bad-input corpus (tests/fixtures/bad, documented in docs/bad-input.md): every hostile case
//! ends in a typed error or a counted skip, never a panic, within bounded time and memory.
//!
//! Memory is measured with a counting global allocator that tracks the bytes live on the current
//! thread (tests run on parallel threads), so each case's peak is its own. Large cases are built
//! here at run time so the repository stays small. The table in docs/bad-input.md is parsed and
//! compared with `CASES`, so a documented outcome cannot drift from the tested one.

// A counting global allocator needs `unsafe impl GlobalAlloc`; the workspace denies unsafe code
// everywhere else.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DEFAULT_MAX_DECOMPRESSED_BYTES};
use logsieve::pipeline::{Output, Pipeline};
use logsieve_testkit::encode;

// ---------------------------------------------------------------------------------------------
// Per-thread allocation accounting.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

// SAFETY: every call is forwarded to `System` unchanged; only the sizes are noted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Old and new blocks may both be live while the data is copied: count that peak.
            note(new_size as isize);
            note(-(layout.size() as isize));
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, returning its result, the peak bytes it had live above the starting point, and the
/// wall time.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let t = Instant::now();
    let out = f();
    let elapsed = t.elapsed();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0) as usize, elapsed)
}

// ---------------------------------------------------------------------------------------------
// Running a case the way the Lambda function and the CLI do.

const MIB: usize = 1024 * 1024;
/// Generous for a debug build on a shared 2-core machine; release is ~50× faster.
const TIME_BOUND: Duration = Duration::from_secs(5);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bad_dir() -> PathBuf {
    root().join("tests/fixtures/bad")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(bad_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn config(name: &str) -> CheckedConfig {
    let text = String::from_utf8(fixture(name)).unwrap();
    CheckedConfig::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Decode, then every batch through one pipeline; decode failures become counters as in the CLI.
fn run_pipeline(bytes: &[u8], config: CheckedConfig) -> Output {
    let limits = config.decode;
    let mut pipeline = Pipeline::new(config);
    let mut out = Output::default();
    match decode_input(bytes, &limits) {
        Ok(decoded) => {
            out.stats.counters.merge(&decoded.counters);
            for unit in decoded.units {
                match unit.result {
                    Ok(batches) => {
                        for b in batches {
                            out.merge(pipeline.process(b));
                        }
                    }
                    Err(e) => out.stats.errors.push(e.to_string()),
                }
            }
        }
        Err(e) => {
            out.stats.counters.incr(e.key());
            out.stats.errors.push(e.to_string());
        }
    }
    out
}

/// Counter prefixes whose every key a case must list: the outcomes this corpus is about. Parse
/// format counts (`parse.json`, `parse.text`…) are left out; they describe, not judge.
const JUDGED: &[&str] = &[
    "decode.",
    "parse.invalid_json",
    "parse.malformed_platform_line",
    "metrics.",
    "trace.",
];

fn judged(key: &str) -> bool {
    JUDGED.iter().any(|p| key.starts_with(p))
}

// ---------------------------------------------------------------------------------------------
// Generated cases (too large to commit).

const T0: i64 = 1_700_000_000_000;

fn doc(messages: impl IntoIterator<Item = String>) -> String {
    let events: Vec<serde_json::Value> = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"id": format!("{i:056}"), "timestamp": T0 + i as i64, "message": m}))
        .collect();
    serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/hostile",
        "logStream": "2023/11/14/[$LATEST]0001", "subscriptionFilters": ["logsieve"],
        "logEvents": events,
    })
    .to_string()
}

fn gen_ten_thousand_events() -> Vec<u8> {
    let doc = doc((0..10_000).map(|i| format!(r#"{{"latency_ms":{},"service":"svc"}}"#, i % 97)));
    encode::subscription_event(&doc).into_bytes()
}

fn gen_ten_thousand_dimension_values() -> Vec<u8> {
    let doc = doc((0..10_000).map(|i| format!(r#"{{"latency_ms":1,"service":"svc-{i}"}}"#)));
    encode::subscription_event(&doc).into_bytes()
}

fn gen_one_mb_message() -> Vec<u8> {
    let json_mb = format!(
        r#"{{"latency_ms":3,"service":"big","detail":"{}"}}"#,
        "d".repeat(MIB)
    );
    encode::subscription_event(&doc(["M".repeat(MIB), json_mb])).into_bytes()
}

/// Many gzip members of 1 MiB of `A` each: ~1 KB apiece, past the default 32 MiB cap in total.
fn gen_gzip_bomb_default_cap() -> Vec<u8> {
    let member = encode::gzip(&vec![b'A'; MIB]);
    let mut bomb = encode::gzip(br#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"1","timestamp":1,"message":""#);
    for _ in 0..(DEFAULT_MAX_DECOMPRESSED_BYTES / MIB + 8) {
        bomb.extend_from_slice(&member);
    }
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    format!("{{\"awslogs\":{{\"data\":\"{}\"}}}}", encode::b64(&bomb)).into_bytes()
}

const DEEP: usize = 10_000;

fn deep_array() -> String {
    format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP))
}

fn deep_object() -> String {
    format!("{}1{}", r#"{"a":"#.repeat(DEEP), "}".repeat(DEEP))
}

fn gen_deep_envelope() -> Vec<u8> {
    format!(r#"{{"awslogs":{}}}"#, deep_object()).into_bytes()
}

fn gen_deep_kinesis() -> Vec<u8> {
    format!(r#"{{"Records":[{}]}}"#, deep_object()).into_bytes()
}

fn gen_deep_document() -> Vec<u8> {
    let d = format!(
        r#"{{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{},{{"id":"x","timestamp":1,"message":"m","extractedFields":{}}}]}}"#,
        deep_array(),
        deep_object()
    );
    encode::subscription_event(&d).into_bytes()
}

fn gen_deep_message() -> Vec<u8> {
    encode::subscription_event(&doc([deep_array(), deep_object()])).into_bytes()
}

fn gen_deep_plain_document() -> Vec<u8> {
    // An already-decoded document (no gzip), nested inside `logEvents`.
    format!(r#"{{"logEvents":{}}}"#, deep_array()).into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The table.

enum Input {
    File(&'static str),
    Gen(fn() -> Vec<u8>),
}

struct Case {
    /// The name in docs/bad-input.md: a fixture file, or `gen:<name>` for generated cases.
    name: &'static str,
    input: Input,
    config: &'static str,
    /// Every judged counter and its exact value.
    counters: &'static [(&'static str, u64)],
    /// Events that reached the pipeline.
    events: u64,
    /// Peak bytes allocated while decoding and processing.
    max_bytes: usize,
}

const HOSTILE: &str = "hostile.toml";

/// Budget of the small cases: they measure under 100 KB (most of it the inflater's state).
const SMALL: usize = 256 * 1024;

/// Budgets: small cases get `SMALL`; large ones a small multiple of what they measure (records
/// of 10,000 events or a 1 MB message: ~9 MB), so growth proportional to anything else fails.
const CASES: &[Case] = &[
    Case {
        name: "empty.json",
        input: Input::File("empty.json"),
        config: HOSTILE,
        counters: &[("decode.error.empty", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "whitespace.json",
        input: Input::File("whitespace.json"),
        config: HOSTILE,
        counters: &[("decode.error.empty", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "invalid-json-envelope.json",
        input: Input::File("invalid-json-envelope.json"),
        config: HOSTILE,
        counters: &[("decode.error.invalid_event_json", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "invalid-utf8-envelope.json",
        input: Input::File("invalid-utf8-envelope.json"),
        config: HOSTILE,
        counters: &[("decode.error.invalid_event_json", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "invalid-base64.json",
        input: Input::File("invalid-base64.json"),
        config: HOSTILE,
        counters: &[("decode.error.base64", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "base64-not-gzip.json",
        input: Input::File("base64-not-gzip.json"),
        config: HOSTILE,
        counters: &[("decode.error.not_gzip", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "empty-data.json",
        input: Input::File("empty-data.json"),
        config: HOSTILE,
        counters: &[("decode.error.not_gzip", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "truncated-gzip.json",
        input: Input::File("truncated-gzip.json"),
        config: HOSTILE,
        counters: &[("decode.error.gzip", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    // The inflated buffer never exceeds the cap; while it grows, the old and the new block
    // both count (a conservative measure: large reallocations are usually remapped in place).
    Case {
        name: "gzip-bomb.json",
        input: Input::File("gzip-bomb.json"),
        config: "gzip-bomb.toml",
        counters: &[("decode.error.too_large", 1)],
        events: 0,
        max_bytes: 2 * MIB + MIB / 2,
    },
    Case {
        name: "gen:gzip-bomb-default-cap",
        input: Input::Gen(gen_gzip_bomb_default_cap),
        config: HOSTILE,
        counters: &[("decode.error.too_large", 1)],
        events: 0,
        max_bytes: 2 * DEFAULT_MAX_DECOMPRESSED_BYTES,
    },
    Case {
        name: "multi-member-gzip.json",
        input: Input::File("multi-member-gzip.json"),
        config: HOSTILE,
        counters: &[],
        events: 3,
        max_bytes: SMALL,
    },
    Case {
        name: "shape-array.json",
        input: Input::File("shape-array.json"),
        config: HOSTILE,
        counters: &[("decode.error.unknown_shape", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "shape-unknown-object.json",
        input: Input::File("shape-unknown-object.json"),
        config: HOSTILE,
        counters: &[("decode.error.unknown_shape", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "shape-data-number.json",
        input: Input::File("shape-data-number.json"),
        config: HOSTILE,
        counters: &[("decode.error.not_a_string", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "shape-awslogs-without-data.json",
        input: Input::File("shape-awslogs-without-data.json"),
        config: HOSTILE,
        counters: &[("decode.error.unknown_shape", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "shape-kinesis-records-string.json",
        input: Input::File("shape-kinesis-records-string.json"),
        config: HOSTILE,
        counters: &[("decode.error.unknown_shape", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "shape-document-array.json",
        input: Input::File("shape-document-array.json"),
        config: HOSTILE,
        counters: &[("decode.error.invalid_document", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "shape-log-events-object.json",
        input: Input::File("shape-log-events-object.json"),
        config: HOSTILE,
        counters: &[("decode.error.invalid_document", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "missing-log-events.json",
        input: Input::File("missing-log-events.json"),
        config: HOSTILE,
        counters: &[("decode.error.invalid_document", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "kinesis-one-bad-record.json",
        input: Input::File("kinesis-one-bad-record.json"),
        config: HOSTILE,
        counters: &[
            ("decode.error.base64", 1),
            ("decode.error.unknown_shape", 1),
        ],
        events: 1,
        max_bytes: SMALL,
    },
    Case {
        name: "missing-fields.json",
        input: Input::File("missing-fields.json"),
        config: HOSTILE,
        counters: &[
            ("decode.missing_log_group", 1),
            ("decode.event_skipped.invalid", 4),
            ("decode.event_skipped.bad_timestamp", 1),
        ],
        events: 2,
        max_bytes: SMALL,
    },
    Case {
        name: "string-timestamps.json",
        input: Input::File("string-timestamps.json"),
        config: HOSTILE,
        counters: &[("decode.event_skipped.bad_timestamp", 4)],
        events: 2,
        max_bytes: SMALL,
    },
    Case {
        name: "extreme-timestamps.json",
        input: Input::File("extreme-timestamps.json"),
        config: HOSTILE,
        counters: &[
            ("decode.event_skipped.bad_timestamp", 3),
            ("metrics.timestamp_out_of_window", 1),
        ],
        events: 4,
        max_bytes: SMALL,
    },
    Case {
        name: "gen:ten-thousand-events",
        input: Input::Gen(gen_ten_thousand_events),
        config: HOSTILE,
        counters: &[("metrics.datums", 1)],
        events: 10_000,
        max_bytes: 24 * MIB,
    },
    Case {
        name: "gen:one-mb-message",
        input: Input::Gen(gen_one_mb_message),
        config: HOSTILE,
        counters: &[("metrics.datums", 1)],
        events: 2,
        max_bytes: 16 * MIB,
    },
    Case {
        name: "invalid-utf8-message.json",
        input: Input::File("invalid-utf8-message.json"),
        config: HOSTILE,
        counters: &[("decode.error.invalid_document", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "lone-surrogates.json",
        input: Input::File("lone-surrogates.json"),
        config: HOSTILE,
        counters: &[
            ("decode.event_skipped.invalid", 2),
            ("parse.invalid_json", 1),
        ],
        events: 2,
        max_bytes: SMALL,
    },
    Case {
        name: "gen:deep-envelope",
        input: Input::Gen(gen_deep_envelope),
        config: HOSTILE,
        counters: &[("decode.error.unknown_shape", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "gen:deep-kinesis-record",
        input: Input::Gen(gen_deep_kinesis),
        config: HOSTILE,
        counters: &[("decode.error.unknown_shape", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "gen:deep-plain-document",
        input: Input::Gen(gen_deep_plain_document),
        config: HOSTILE,
        counters: &[
            ("decode.event_skipped.invalid", 1),
            ("decode.missing_log_group", 1),
        ],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "gen:deep-document",
        input: Input::Gen(gen_deep_document),
        config: HOSTILE,
        counters: &[("decode.event_skipped.invalid", 2)],
        events: 0,
        max_bytes: MIB,
    },
    Case {
        name: "gen:deep-message",
        input: Input::Gen(gen_deep_message),
        config: HOSTILE,
        counters: &[("parse.invalid_json", 1)],
        events: 2,
        max_bytes: MIB,
    },
    Case {
        name: "numbers.json",
        input: Input::File("numbers.json"),
        config: HOSTILE,
        counters: &[
            ("decode.event_skipped.invalid", 1),
            ("parse.invalid_json", 2),
            ("metrics.value_not_numeric", 2),
            ("metrics.value_out_of_range", 1),
            ("metrics.datums", 1),
        ],
        events: 6,
        max_bytes: SMALL,
    },
    Case {
        name: "nan-token-document.json",
        input: Input::File("nan-token-document.json"),
        config: HOSTILE,
        counters: &[("decode.error.invalid_document", 1)],
        events: 0,
        max_bytes: SMALL,
    },
    Case {
        name: "dimension-control-chars.json",
        input: Input::File("dimension-control-chars.json"),
        config: HOSTILE,
        counters: &[("metrics.dimension_invalid", 6), ("metrics.datums", 1)],
        events: 7,
        max_bytes: SMALL,
    },
    Case {
        name: "dimension-5000-bytes.json",
        input: Input::File("dimension-5000-bytes.json"),
        config: HOSTILE,
        counters: &[("metrics.dimension_invalid", 2), ("metrics.datums", 1)],
        events: 3,
        // The 5,000-byte value is redacted twice, each copy alive at once: at the metric
        // stage's exit and in the output record.
        max_bytes: SMALL + 64 * 1024,
    },
    Case {
        name: "punctuation-keys.json",
        input: Input::File("punctuation-keys.json"),
        config: HOSTILE,
        counters: &[("trace.records_with_id", 2), ("trace.segments", 1)],
        events: 2,
        max_bytes: SMALL,
    },
    Case {
        name: "gen:ten-thousand-dimension-values",
        input: Input::Gen(gen_ten_thousand_dimension_values),
        config: HOSTILE,
        counters: &[
            ("metrics.cardinality_overflow", 9_900),
            ("metrics.datums", 101),
        ],
        events: 10_000,
        max_bytes: 24 * MIB,
    },
    Case {
        name: "fake-report-lines.json",
        input: Input::File("fake-report-lines.json"),
        config: HOSTILE,
        counters: &[
            ("parse.malformed_platform_line", 6),
            ("trace.malformed_id", 1),
            ("metrics.datums", 3),
        ],
        events: 7,
        max_bytes: SMALL,
    },
];

fn input_bytes(case: &Case) -> Vec<u8> {
    match &case.input {
        Input::File(f) => fixture(f),
        Input::Gen(g) => g(),
    }
}

fn check_case(case: &Case) {
    let bytes = input_bytes(case);
    let cfg = config(case.config);
    let (out, peak, elapsed) = measure(|| run_pipeline(&bytes, cfg));
    let name = case.name;
    eprintln!("{name}: peak {peak} bytes in {elapsed:?}");
    assert!(elapsed < TIME_BOUND, "{name}: took {elapsed:?}");
    assert!(
        peak <= case.max_bytes,
        "{name}: peak {peak} bytes > budget {}",
        case.max_bytes
    );
    let want: BTreeMap<&str, u64> = case.counters.iter().copied().collect();
    let got: BTreeMap<&str, u64> = out
        .stats
        .counters
        .iter()
        .filter(|(k, _)| judged(k) || want.contains_key(k))
        .collect();
    assert_eq!(
        got, want,
        "{name}: counters (all: {:?})",
        out.stats.counters
    );
    assert_eq!(out.stats.events, case.events, "{name}: events");
    // Nothing is lost silently: every event that reached the pipeline is a record (no records
    // filter in these configs), with its metadata.
    assert_eq!(out.records.len() as u64, case.events, "{name}: records");
    for r in &out.records {
        let r = r.to_map();
        for key in ["@timestamp", "@logGroup", "@logStream", "@id"] {
            assert!(r.contains_key(key), "{name}: record without {key}");
        }
    }
    // Every decode error is reported as one error line, as the CLI prints them.
    let decode_errors: u64 = out
        .stats
        .counters
        .iter()
        .filter(|(k, _)| k.starts_with("decode.error."))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        out.stats.errors.len() as u64,
        decode_errors,
        "{name}: errors"
    );
    for d in &out.metrics {
        assert!(d.check().is_ok(), "{name}: {d:?}: {:?}", d.check());
    }
    for s in &out.segments {
        let v: serde_json::Value = serde_json::from_str(&s.document).unwrap();
        assert!(v.is_object(), "{name}: segment {}", s.document);
    }
}

#[test]
fn every_case_has_its_documented_outcome_within_bounds() {
    for case in CASES {
        check_case(case);
    }
}

/// Every committed fixture is in the table, and every table file exists.
#[test]
fn corpus_and_table_list_the_same_files() {
    let mut on_disk: Vec<String> = std::fs::read_dir(bad_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES
        .iter()
        .filter_map(|c| match c.input {
            Input::File(f) => Some(f.to_string()),
            Input::Gen(_) => None,
        })
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// `docs/bad-input.md` rows: `| … | `name` | … | `key=n` … | events |`, one per case.
fn documented() -> BTreeMap<String, (BTreeMap<String, u64>, u64)> {
    let text = std::fs::read_to_string(root().join("docs/bad-input.md")).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // ["", case, fixture, outcome, counters, events, ""]
        let [_, _, fixture, _, counters, events, _] = cells[..] else {
            continue;
        };
        let Some(name) = fixture.strip_prefix('`').and_then(|f| f.strip_suffix('`')) else {
            continue;
        };
        if name.ends_with(".toml") {
            continue;
        }
        let counters: BTreeMap<String, u64> = counters
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{name}: {kv}"));
                (k.to_string(), v.replace(',', "").parse().unwrap())
            })
            .collect();
        let events = events.replace(',', "").parse().unwrap();
        assert!(
            rows.insert(name.to_string(), (counters, events)).is_none(),
            "{name} twice"
        );
    }
    rows
}

#[test]
fn documented_table_matches_the_tested_one() {
    let doc = documented();
    let tested: BTreeMap<String, (BTreeMap<String, u64>, u64)> = CASES
        .iter()
        .map(|c| {
            let counters = c
                .counters
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            (c.name.to_string(), (counters, c.events))
        })
        .collect();
    assert_eq!(doc, tested);
}

/// What the fake REPORT lines still produce: the one line with a request id and a parsable
/// `Billed Duration` counts as an invocation; the negative `Duration` is not a sample.
#[test]
fn fake_report_lines_yield_no_negative_or_unparsed_numbers() {
    let out = run_pipeline(&fixture("fake-report-lines.json"), config(HOSTILE));
    let names: Vec<&str> = out.metrics.iter().map(|d| d.metric_name.as_str()).collect();
    assert_eq!(names, ["BilledDuration", "Errors", "Invocations"]);
    for d in &out.metrics {
        assert!(d.values.iter().all(|v| *v >= 0.0), "{d:?}");
    }
}

#[test]
fn annotation_names_of_pure_punctuation_are_a_config_error() {
    let text = String::from_utf8(fixture("annotation-punctuation.toml")).unwrap();
    let e = CheckedConfig::from_toml(&text).unwrap_err();
    assert_eq!(e.key, r#"traces.annotations."!!!""#, "{e}");
}

/// Nested deeper than any recursion limit: a stack overflow would abort the test binary.
#[test]
fn million_deep_nesting_stays_bounded() {
    let depth = 1_000_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let inputs = [
        format!(r#"{{"awslogs":{deep}}}"#),
        format!(r#"{{"Records":[{deep}]}}"#),
        format!(r#"{{"records":[{deep}]}}"#),
        format!(r#"{{"messageType":"DATA_MESSAGE","logEvents":[{deep}]}}"#),
        deep.clone(),
    ];
    for input in inputs {
        let cfg = config(HOSTILE);
        let (out, peak, elapsed) = measure(|| run_pipeline(input.as_bytes(), cfg));
        assert!(elapsed < TIME_BOUND, "{elapsed:?}");
        // The input is 2 MB; a copy of it or an explicit nesting stack is fine, more is not.
        assert!(peak < 8 * MIB, "{peak}");
        assert!(out.records.is_empty());
        let failures =
            out.stats.errors.len() as u64 + out.stats.counters.get("decode.event_skipped.invalid");
        assert_eq!(failures, 1, "{:?}", out.stats);
    }
}

// ---------------------------------------------------------------------------------------------
// Through the CLI binary.

fn cli(args: &[&str], stdin: &[u8]) -> (i32, serde_json::Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(args)
        .current_dir(bad_dir())
        .env_remove("LOGSIEVE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_reports_decode_failures_with_exit_1_and_counters() {
    let cases = [
        ("empty.json", "hostile.toml", "decode.error.empty"),
        ("gzip-bomb.json", "gzip-bomb.toml", "decode.error.too_large"),
        (
            "invalid-utf8-message.json",
            "hostile.toml",
            "decode.error.invalid_document",
        ),
    ];
    for (file, cfg, key) in cases {
        let (code, v, stderr) = cli(&["process", "--config", cfg, file], b"");
        assert_eq!(code, 1, "{file}: {stderr}");
        assert_eq!(v["stats"]["counters"][key], 1, "{file}: {v}");
        assert!(stderr.contains("failed to decode"), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"), "{file}: {stderr}");
    }
}

#[test]
fn cli_counts_skips_and_exits_0() {
    let (code, v, stderr) = cli(
        &[
            "process",
            "--config",
            "hostile.toml",
            "fake-report-lines.json",
            "numbers.json",
        ],
        b"",
    );
    assert_eq!(code, 0, "{stderr}");
    let c = &v["stats"]["counters"];
    assert_eq!(c["parse.malformed_platform_line"], 6, "{c}");
    assert_eq!(c["decode.event_skipped.invalid"], 1, "{c}");
    assert_eq!(v["stats"]["events"], 13);
}

#[test]
fn cli_reads_a_deep_document_from_stdin() {
    let (code, v, stderr) = cli(
        &["process", "--config", "hostile.toml", "-"],
        &gen_deep_message(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        v["stats"]["counters"]["parse.invalid_json"], 1,
        "{}",
        v["stats"]
    );
    assert_eq!(v["stats"]["events"], 2, "{}", v["stats"]);
}

#[test]
fn cli_rejects_punctuation_annotation_names_with_exit_2() {
    let (code, _, stderr) = cli(
        &[
            "process",
            "--config",
            "annotation-punctuation.toml",
            "multi-member-gzip.json",
        ],
        b"",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(r#"traces.annotations."!!!""#), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Fuzz findings, kept as regression tests.

/// fuzz `decode_input`, 45 s in (crash-cfa3cf31…): a JSON log line with an `@logGroup` key
/// replaced the record's `@logGroup`. Any application can print such a line, so it could forge
/// where its records seem to come from (and their `@id` / `@timestamp`).
#[test]

fn fields_cannot_overwrite_record_metadata() {
    let forged = r#"{"@logGroup":"/aws/lambda/admin","@logStream":"x","@id":"forged","@timestamp":0,"@format":"text","msg":"hi"}"#;
    let event = encode::subscription_event(&doc([forged.to_string()]));
    let out = run_pipeline(event.as_bytes(), config(HOSTILE));
    let r = out.records[0].to_map();
    assert_eq!(r["@logGroup"], "/aws/lambda/hostile");
    assert_eq!(r["@logStream"], "2023/11/14/[$LATEST]0001");
    assert_eq!(r["@id"], format!("{:056}", 0));
    assert_eq!(r["@timestamp"], T0);
    assert_eq!(r["@format"], "json");
}

/// The Lambda path (records off) on the densest payload the cap admits: empty events back to
/// back. Each costs ~40 bytes of JSON but a `LogEvent` (80 bytes) plus a raw-value slot while
/// decoding, so peak memory is a fixed multiple of the cap, ~5.1x since the one-pass parse grows
/// its event vector by doubling (at the default 16 MiB cap: ~82 MB, inside a 128 MB function;
/// see docs/bad-input.md). This pins that multiple.
#[test]
fn densest_payload_costs_a_bounded_multiple_of_the_cap() {
    let cap = 4 * MIB;
    let ev = r#"{"id":"","timestamp":1,"message":""},"#;
    let mut doc = String::from(r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":["#);
    let mut n = 0;
    while doc.len() + ev.len() + 2 < cap {
        doc.push_str(ev);
        n += 1;
    }
    doc.pop();
    doc.push_str("]}");
    let event = encode::subscription_event(&doc);
    let text = format!("[decode]\nmax_decompressed_bytes = {cap}\n");
    let cfg = CheckedConfig::from_toml(&text).unwrap();
    let ((events, errors), peak, elapsed) = measure(|| {
        let d = decode_input(event.as_bytes(), &cfg.decode).unwrap();
        let mut p = Pipeline::new(cfg.clone()).with_records(false);
        let mut out = Output::default();
        for unit in d.units {
            for b in unit.result.unwrap() {
                out.merge(p.process(b));
            }
        }
        (out.stats.events, out.stats.errors.len())
    });
    eprintln!(
        "{events} events in {} bytes: peak {peak} bytes in {elapsed:?}",
        doc.len()
    );
    assert_eq!(errors, 0);
    assert_eq!(events, n);
    assert!(elapsed < TIME_BOUND, "{elapsed:?}");
    assert!(
        peak <= cap * 11 / 2,
        "peak {peak} > 5.5x the {cap} byte cap"
    );
}
