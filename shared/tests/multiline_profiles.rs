//! Multiline joining and profiles through the whole pipeline: the bundled ECS fixture (a Java
//! and a Python trace split one line per event, their streams interleaved in one Kinesis event),
//! pathological batches, and per-log-group profiles.

use std::path::PathBuf;
use std::sync::Arc;

use logsieve::config::CheckedConfig;
use logsieve::counter_keys as ck;
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::multiline::{join, MultilineConfig, JOINED_KEY};
use logsieve::pipeline::{Output, Pipeline};
use logsieve::record::{Batch, LogEvent, Source};
use logsieve::stats::Counters;
use serde_json::{Map, Value};

fn fixture() -> Vec<Batch> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ecs-multiline.json");
    let bytes = std::fs::read(path).unwrap();
    let d = decode_input(&bytes, &DecodeLimits::default()).unwrap();
    d.units
        .into_iter()
        .flat_map(|u| u.result.unwrap())
        .collect()
}

fn run(config: &str, batches: Vec<Batch>) -> Output {
    let mut p = Pipeline::new(CheckedConfig::from_toml(config).unwrap());
    let mut out = Output::default();
    for b in batches {
        out.merge(p.process(b));
    }
    out
}

fn maps(out: &Output) -> Vec<Map<String, Value>> {
    out.records.iter().map(|r| r.to_map()).collect()
}

const COUNT_EXCEPTIONS: &str = r#"
[metrics]
lambda_platform = false
[[metrics.rule]]
metric_name = "Exceptions"
filter_pattern = "Exception"
"#;

fn exceptions_counted(out: &Output) -> f64 {
    out.metrics
        .iter()
        .filter(|m| m.metric_name == "Exceptions")
        .flat_map(|m| m.counts.iter())
        .sum()
}

#[test]
fn split_traces_are_joined_per_stream_and_never_across_streams() {
    let batches = fixture();
    assert_eq!(batches.len(), 3, "api, worker, api again");
    // Every source line, by stream, to check each output record against.
    let lines_of = |stream: &str| -> Vec<String> {
        batches
            .iter()
            .filter(|b| b.source.log_stream == stream)
            .flat_map(|b| b.events.iter().map(|e| e.message.clone()))
            .collect()
    };
    let config = format!(
        "{COUNT_EXCEPTIONS}\n[multiline]\ndetectors = [\"java\", \"python\"]\nlog_groups = [\"/ecs/*\"]\n"
    );
    let out = run(&config, batches.clone());
    let records = maps(&out);
    let joined: Vec<&Map<String, Value>> = records
        .iter()
        .filter(|r| r.contains_key(JOINED_KEY))
        .collect();
    let summary: Vec<(String, u64)> = joined
        .iter()
        .map(|r| {
            let m = r["message"].as_str().unwrap();
            (
                m.lines().next().unwrap().chars().take(30).collect(),
                r[JOINED_KEY].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("java.lang.IllegalStateExceptio".to_string(), 9),
            ("org.springframework.web.client".to_string(), 2),
            ("Traceback (most recent call la".to_string(), 7),
            ("Caused by: java.net.SocketTime".to_string(), 3),
        ]
    );
    // The joined record keeps its first event's id and timestamp.
    let first = &batches[0].events[2];
    assert_eq!(joined[0]["@id"], first.id.as_str());
    assert_eq!(joined[0]["@timestamp"], first.timestamp);
    assert!(joined[0]["message"]
        .as_str()
        .unwrap()
        .ends_with("\t... 2 more"));
    // No record holds a line of another stream, and no line is lost.
    let mut seen = 0;
    for r in &records {
        let stream = r["@logStream"].as_str().unwrap();
        let own = lines_of(stream);
        for line in r
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .lines()
        {
            assert!(own.iter().any(|l| l == line), "{line:?} is not of {stream}");
            seen += 1;
        }
    }
    let json_lines = 2; // their `message` is not the line
    assert_eq!(seen + json_lines, out.stats.events as usize);
    let c = &out.stats.counters;
    assert_eq!(c.get(ck::multiline::JOINED), 4);
    assert_eq!(c.get(ck::multiline::EVENTS_MERGED), 8 + 1 + 6 + 2);
    // The Java trace cut by the end of the first Kinesis record.
    assert_eq!(c.get(ck::multiline::FLUSHED_AT_BATCH_END), 1);
    assert_eq!(out.records.len() as u64, out.stats.events - 17);
    // A metric counts a trace once, not once per line naming an exception.
    assert_eq!(exceptions_counted(&out), 3.0);
    let unjoined = run(COUNT_EXCEPTIONS, batches);
    assert_eq!(exceptions_counted(&unjoined), 4.0);
    assert_eq!(unjoined.records.len() as u64, unjoined.stats.events);
}

#[test]
fn joining_configured_for_other_groups_changes_nothing() {
    let batches = fixture();
    let with = run(
        &format!(
            "{COUNT_EXCEPTIONS}\n[multiline]\ndetectors = [\"java\"]\nlog_groups = [\"/k8s/*\"]\n"
        ),
        batches.clone(),
    );
    let without = run(COUNT_EXCEPTIONS, batches);
    assert_eq!(with.records, without.records);
    assert_eq!(with.metrics, without.metrics);
    assert_eq!(with.stats, without.stats);
}

fn one_char_events(n: usize) -> Vec<LogEvent> {
    (0..n)
        .map(|i| LogEvent {
            id: i.to_string(),
            timestamp: 1_700_000_000_000 + i as i64,
            message: "x".into(),
            extracted_fields: None,
        })
        .collect()
}

/// 100,000 one-character events: (settings, events out, merged, cut at max_lines, flushed).
#[test]
fn pathological_batches_stay_linear_and_bounded() {
    let cases = [
        (
            r#"detectors = ["java", "python", "node", "go", "dotnet"]"#,
            100_000usize,
            0u64,
            0u64,
            0u64,
        ),
        // A start pattern matching every line: nothing to join.
        (r#"start_pattern = "^""#, 100_000, 0, 0, 1),
        // One matching no line: everything continues, cut every 500 lines.
        (r#"start_pattern = "^never""#, 200, 99_800, 199, 1),
    ];
    for (settings, n_out, merged, cut, flushed) in cases {
        let rules = toml::from_str::<MultilineConfig>(settings)
            .unwrap()
            .validate("multiline")
            .unwrap();
        let mut c = Counters::new();
        let out = join(&rules, one_char_events(100_000), &mut c);
        assert_eq!(out.len(), n_out, "{settings}");
        assert_eq!(c.get(ck::multiline::EVENTS_MERGED), merged, "{settings}");
        assert_eq!(c.get(ck::multiline::CUT_MAX_LINES), cut, "{settings}");
        assert_eq!(
            c.get(ck::multiline::FLUSHED_AT_BATCH_END),
            flushed,
            "{settings}"
        );
        assert!(out.iter().all(|j| j.count as usize <= rules.max_lines));
        assert_eq!(out.iter().map(|j| j.count as usize).sum::<usize>(), 100_000);
        println!("{settings}: {:?}", c.iter().collect::<Vec<_>>());
    }
    // The byte bound: 10,000 events of 1 KiB never matching the start pattern fit 255 to a
    // 256 KiB event (255 × 1024 + 254 newlines).
    let rules = toml::from_str::<MultilineConfig>(r#"start_pattern = "^never""#)
        .unwrap()
        .validate("multiline")
        .unwrap();
    let mut events = one_char_events(10_000);
    for e in &mut events {
        e.message = "y".repeat(1024);
    }
    let mut c = Counters::new();
    let out = join(&rules, events, &mut c);
    assert_eq!(out.len(), 40);
    assert!(out.iter().all(|j| j.event.message.len() <= 256 * 1024));
    assert_eq!(out[0].count, 255);
    assert_eq!(c.get(ck::multiline::CUT_MAX_BYTES), 39);
    println!("1 KiB events: {:?}", c.iter().collect::<Vec<_>>());
}

#[test]
fn a_pathological_batch_through_the_pipeline_counts_every_event() {
    let config = "[multiline]\nstart_pattern = \"^never\"\n";
    let batch = Batch {
        source: Arc::new(Source {
            log_group: "/ecs/noisy".into(),
            log_stream: "s".into(),
            ..Source::default()
        }),
        events: one_char_events(100_000),
    };
    let out = run(config, vec![batch]);
    assert_eq!(out.stats.events, 100_000);
    assert_eq!(out.records.len(), 200);
    let first = out.records[0].to_map();
    assert_eq!(first[JOINED_KEY], 500);
    assert_eq!(first["@id"], "0");
    assert_eq!(out.stats.counters.get(ck::multiline::CUT_MAX_LINES), 199);
}

fn batch(group: &str, messages: &[&str]) -> Batch {
    Batch {
        source: Arc::new(Source {
            log_group: group.into(),
            log_stream: "s".into(),
            ..Source::default()
        }),
        events: messages
            .iter()
            .enumerate()
            .map(|(i, m)| LogEvent {
                id: i.to_string(),
                timestamp: 1_700_000_000_000 + i as i64,
                message: (*m).to_string(),
                extracted_fields: None,
            })
            .collect(),
    }
}

const PROFILES: &str = r#"
[metrics]
lambda_platform = false
[[metrics.rule]]
metric_name = "Everything"
filter_pattern = ""

[fields]
keep = ["message"]

[[profile]]
name = "api"
log_groups = ["/ecs/api"]
[profile.fields]
keep = ["message", "status"]
[profile.metrics]
lambda_platform = false
[[profile.metrics.rule]]
metric_name = "ApiErrors"
filter_pattern = '{ $.status >= 500 }'
[profile.multiline]
detectors = ["java"]
"#;

#[test]
fn each_log_group_gets_its_profile_settings_and_counters() {
    let api = [
        r#"{"status":503,"message":"down","secret":"x"}"#,
        "java.lang.IllegalStateException: boom",
        "\tat a.B.c(B.java:1)",
    ];
    let mut p = Pipeline::new(CheckedConfig::from_toml(PROFILES).unwrap());
    let mut out = p.process(batch("/ecs/api", &api));
    out.merge(p.process(batch("/ecs/web", &api)));
    out.merge(p.process(batch("/ecs/api", &api[..1])));
    let names: Vec<(&str, f64)> = out
        .metrics
        .iter()
        .map(|m| (m.metric_name.as_str(), m.counts.iter().sum()))
        .collect();
    // The api group's rules replace the top level's; other groups keep the top level's.
    let total = |name: &str| -> f64 {
        names
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, c)| c)
            .sum()
    };
    assert_eq!(total("ApiErrors"), 2.0);
    assert_eq!(total("Everything"), 3.0);
    let records = maps(&out);
    // api: joined (2 records), status kept; web: not joined (3 records), status dropped.
    assert_eq!(records.len(), 2 + 3 + 1);
    assert_eq!(records[0]["status"], 503);
    assert_eq!(records[1][JOINED_KEY], 2);
    assert!(records[2].get("status").is_none());
    assert!(records[3..5].iter().all(|r| !r.contains_key(JOINED_KEY)));
    let c = &out.stats.counters;
    assert_eq!(c.get(&ck::profile::batches("api")), 2);
    assert_eq!(c.get(&ck::profile::events("api")), 4);
    assert_eq!(
        c.iter().filter(|(k, _)| k.starts_with("profile.")).count(),
        2
    );
}
