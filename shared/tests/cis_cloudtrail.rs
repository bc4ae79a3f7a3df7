//! The `cis-cloudtrail` pack against CloudTrail samples written from AWS's documented event
//! shapes (tests/fixtures/cloudtrail-samples.json): each control's published pattern matches
//! exactly the samples the table says it must (look-alikes included), the fields people slice by
//! are reachable in both parse modes, and the pipeline with the pack on emits the counts the
//! table implies, dimensions included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logsieve::config::CheckedConfig;
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::metrics::packs::cis_cloudtrail_controls;
use logsieve::parse::{parse_event, parse_event_lazy};
use logsieve::pattern::FilterPattern;
use logsieve::pipeline::{match_input, Pipeline};
use logsieve::record::{FieldPath, Format, LogEvent, Record, Source};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Sample {
    name: String,
    matches: Vec<String>,
    event: Value,
}

fn samples() -> Vec<Sample> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/cloudtrail-samples.json"))
        .expect("samples fixture");
    let v: Value = serde_json::from_str(&text).expect("samples are JSON");
    v["samples"]
        .as_array()
        .expect("samples array")
        .iter()
        .map(|s| Sample {
            name: s["name"].as_str().expect("name").to_string(),
            matches: s["matches"]
                .as_array()
                .expect("matches")
                .iter()
                .map(|m| m.as_str().expect("control id").to_string())
                .collect(),
            event: s["event"].clone(),
        })
        .collect()
}

fn record(message: &str, lazy: bool) -> Record {
    let source = Arc::new(Source {
        log_group: "aws-cloudtrail-logs-111122223333-3c7a1b2d".into(),
        ..Source::default()
    });
    let event = LogEvent {
        id: "1".into(),
        timestamp: 1_714_564_800_000,
        message: message.into(),
        extracted_fields: None,
    };
    if lazy {
        parse_event_lazy(&source, event)
    } else {
        parse_event(&source, event)
    }
}

#[test]
fn each_published_pattern_matches_exactly_the_samples_it_must() {
    let controls = cis_cloudtrail_controls().expect("pack");
    let samples = samples();
    for s in &samples {
        for m in &s.matches {
            assert!(
                controls.iter().any(|c| &c.id == m),
                "{}: unknown control {m}",
                s.name
            );
        }
    }
    for c in controls {
        let pattern =
            FilterPattern::compile(&c.filter_pattern).unwrap_or_else(|e| panic!("{}: {e}", c.id));
        let mut positives = 0;
        for s in &samples {
            let want = s.matches.contains(&c.id);
            positives += usize::from(want);
            let message = s.event.to_string();
            for lazy in [false, true] {
                let r = record(&message, lazy);
                assert_eq!(r.format, Format::CloudTrail, "{} (lazy {lazy})", s.name);
                assert_eq!(
                    pattern.is_match(&match_input(&r)),
                    want,
                    "{} on {} (lazy {lazy})",
                    c.id,
                    s.name
                );
            }
        }
        assert!(positives > 0, "{} has no sample that must match", c.id);
    }
    let lookalikes = samples.iter().filter(|s| s.matches.is_empty()).count();
    assert!(lookalikes >= 10, "only {lookalikes} look-alikes");
}

#[test]
fn the_fields_people_slice_by_are_reachable_in_both_parse_modes() {
    let s = samples()
        .into_iter()
        .find(|s| s.name == "kms-access-denied-exception")
        .expect("sample");
    let message = s.event.to_string();
    let want: &[(&str, &str)] = &[
        ("$.eventName", "Decrypt"),
        ("$.eventSource", "kms.amazonaws.com"),
        ("$.userIdentity.type", "AssumedRole"),
        (
            "$.userIdentity.arn",
            "arn:aws:sts::111122223333:assumed-role/Deployer/deploy",
        ),
        ("$.userIdentity.accountId", "111122223333"),
        (
            "$.userIdentity.sessionContext.sessionIssuer.userName",
            "Deployer",
        ),
        ("$.sourceIPAddress", "198.51.100.7"),
        ("$.errorCode", "AccessDeniedException"),
        ("$.recipientAccountId", "111122223333"),
        ("$.awsRegion", "eu-west-1"),
    ];
    for lazy in [false, true] {
        let r = record(&message, lazy);
        assert_eq!(r.format.as_str(), "cloudtrail");
        for (path, value) in want {
            let p = FieldPath::parse(path).expect("path");
            assert_eq!(r.get_str(&p), Some(*value), "{path} (lazy {lazy})");
        }
    }
}

#[test]
fn the_log_group_document_holds_the_samples_in_order_and_one_app_lookalike() {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/cloudtrail.json")).expect("fixture");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let messages: Vec<Value> = doc["logEvents"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| serde_json::from_str(e["message"].as_str().expect("message")).expect("JSON"))
        .collect();
    let samples = samples();
    assert_eq!(
        messages.len(),
        samples.len() + 1,
        "regenerate: python3 tests/fixtures/cloudtrail.py"
    );
    for (m, s) in messages.iter().zip(&samples) {
        assert_eq!(m, &s.event, "{}: regenerate the fixture", s.name);
    }
    let last = record(&messages[samples.len()].to_string(), true);
    assert_eq!(
        last.format,
        Format::Json,
        "the app look-alike is not CloudTrail"
    );
}

/// (metric, dimensions "k=v,…" sorted) → Σ value × count.
fn sums(config: &str, lazy: bool) -> BTreeMap<(String, String), f64> {
    let bytes = std::fs::read(repo().join("tests/fixtures/cloudtrail.json")).expect("fixture");
    let decoded = decode_input(&bytes, &DecodeLimits::default()).expect("decodes");
    let mut pipeline = Pipeline::new(CheckedConfig::from_toml(config).expect("config"))
        .with_records(false)
        .with_lazy_json(lazy);
    let mut out = BTreeMap::new();
    for unit in decoded.units {
        for batch in unit.result.into_iter().flatten() {
            for d in pipeline.process(batch).metrics {
                let dims: Vec<String> = d
                    .dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                    .collect();
                let sum: f64 = d.values.iter().zip(&d.counts).map(|(v, c)| v * c).sum();
                *out.entry((d.metric_name.clone(), dims.join(",")))
                    .or_insert(0.0) += sum;
            }
        }
    }
    out
}

const PACK: &str =
    "[metrics]\nnamespace = \"Sec\"\nlambda_platform = false\npacks = [\"cis-cloudtrail\"]\n";

#[test]
fn the_pipeline_with_the_pack_counts_what_the_table_says() {
    let controls = cis_cloudtrail_controls().expect("pack");
    let samples = samples();
    for lazy in [true, false] {
        let got = sums(PACK, lazy);
        // Bare counts: one per sample the table lists under the control.
        for c in controls {
            let want = samples.iter().filter(|s| s.matches.contains(&c.id)).count() as f64;
            assert_eq!(
                got.get(&(c.metric_name.clone(), String::new())).copied(),
                Some(want),
                "{} {} (lazy {lazy})",
                c.id,
                c.metric_name
            );
        }
        // Hand-worked slices of the fixture.
        let dims = |e: &str, t: &str, r: &str| format!("EventName={e},Region={r},UserType={t}");
        let cases: &[(&str, String, f64)] = &[
            (
                "RootAccountUsage",
                dims("ConsoleLogin", "Root", "us-east-1"),
                2.0,
            ),
            (
                "RootAccountUsage",
                dims("PutBucketPolicy", "Root", "us-east-1"),
                1.0,
            ),
            (
                "UnauthorizedAPICalls",
                dims("Decrypt", "AssumedRole", "eu-west-1"),
                1.0,
            ),
            (
                "UnauthorizedAPICalls",
                dims("GetObject", "AssumedRole", "us-east-1"),
                1.0,
            ),
            (
                "UnauthorizedAPICalls",
                dims("RunInstances", "IAMUser", "us-east-1"),
                1.0,
            ),
            (
                "UnauthorizedAPICalls",
                dims("AuthorizeSecurityGroupIngress", "IAMUser", "us-east-1"),
                1.0,
            ),
            (
                "ConsoleAuthenticationFailures",
                dims("ConsoleLogin", "IAMUser", "us-east-1"),
                1.0,
            ),
            (
                "ConsoleAuthenticationFailures",
                dims("ConsoleLogin", "Root", "us-east-1"),
                1.0,
            ),
            (
                "DisableOrDeleteCMK",
                dims("DisableKey", "AssumedRole", "us-east-1"),
                1.0,
            ),
            (
                "DisableOrDeleteCMK",
                dims("ScheduleKeyDeletion", "IAMUser", "eu-west-1"),
                1.0,
            ),
            (
                "SecurityGroupChanges",
                dims("AuthorizeSecurityGroupIngress", "AssumedRole", "us-east-1"),
                1.0,
            ),
            (
                "SecurityGroupChanges",
                dims("AuthorizeSecurityGroupIngress", "IAMUser", "us-east-1"),
                1.0,
            ),
            (
                "VPCChanges",
                dims("CreateVpc", "AssumedRole", "eu-west-1"),
                1.0,
            ),
            (
                "VPCChanges",
                dims("ModifyVpcAttribute", "AssumedRole", "us-east-1"),
                1.0,
            ),
        ];
        for (metric, d, want) in cases {
            assert_eq!(
                got.get(&(metric.to_string(), d.clone())).copied(),
                Some(*want),
                "{metric} {d} (lazy {lazy})"
            );
        }
        // The table lists 25 matches: each counted once bare and once by its dimensions, and
        // nothing else: the application look-alike (errorCode AccessDenied, eventName
        // DisableKey) is not counted.
        let bare: f64 = got
            .iter()
            .filter(|((_, d), _)| d.is_empty())
            .map(|(_, v)| v)
            .sum();
        let by: f64 = got
            .iter()
            .filter(|((_, d), _)| !d.is_empty())
            .map(|(_, v)| v)
            .sum();
        assert_eq!(bare, 25.0, "lazy {lazy}");
        assert_eq!(by, 25.0, "lazy {lazy}");
        assert!(got.keys().all(|(_, d)| !d.contains("Identity")));
    }
}

#[test]
fn identity_is_a_dimension_only_when_asked_and_capped() {
    let config = "[metrics]\nnamespace = \"Sec\"\nlambda_platform = false\npacks = [{ name = \"cis-cloudtrail\", identity = true, max_identities = 1 }]\n";
    let got = sums(config, true);
    // Unauthorized calls, in fixture order: RunInstances by Alice, GetObject and Decrypt by the
    // Deployer role, AuthorizeSecurityGroupIngress by Alice. With a cap of 1 the first value of
    // each dimension is kept and every later new one is folded into `other`.
    let identity: BTreeMap<String, f64> = got
        .iter()
        .filter(|((m, d), _)| m == "UnauthorizedAPICalls" && d.contains("Identity="))
        .map(|((_, d), v)| (d.clone(), *v))
        .collect();
    let alice = "arn:aws:iam::111122223333:user/Alice";
    let want: BTreeMap<String, f64> = [
        (format!("EventName=RunInstances,Identity={alice}"), 1.0),
        (format!("EventName=other,Identity={alice}"), 1.0),
        ("EventName=other,Identity=other".to_string(), 2.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(identity, want);
    let pack_off = sums(
        "[metrics]\nnamespace = \"Sec\"\nlambda_platform = false\n",
        true,
    );
    assert!(pack_off.keys().all(|(m, _)| m != "RootAccountUsage"));
}

/// The output records of the fixture under `config`, as JSON objects.
fn records(config: &str) -> Vec<serde_json::Map<String, Value>> {
    let bytes = std::fs::read(repo().join("tests/fixtures/cloudtrail.json")).expect("fixture");
    let decoded = decode_input(&bytes, &DecodeLimits::default()).expect("decodes");
    let mut pipeline = Pipeline::new(CheckedConfig::from_toml(config).expect("config"));
    let mut out = Vec::new();
    for unit in decoded.units {
        for batch in unit.result.into_iter().flatten() {
            out.extend(pipeline.process(batch).records.iter().map(|r| r.to_map()));
        }
    }
    out
}

#[test]
fn the_pack_ships_the_matching_records_with_its_keep_list() {
    let samples = samples();
    let got = records(PACK);
    let want: Vec<&str> = samples
        .iter()
        .filter(|s| !s.matches.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        got.len(),
        want.len(),
        "one record per sample that matches a control"
    );
    let attach = got
        .iter()
        .find(|r| r.get("eventName") == Some(&Value::from("AttachRolePolicy")))
        .expect("AttachRolePolicy record");
    let mut keys: Vec<&str> = attach.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "@format",
            "@id",
            "@logGroup",
            "@logStream",
            "@timestamp",
            "awsRegion",
            "eventID",
            "eventName",
            "eventSource",
            "eventTime",
            "eventType",
            "readOnly",
            "recipientAccountId",
            "sourceIPAddress",
            "userAgent",
            "userIdentity",
        ],
        "no requestParameters/responseElements bodies"
    );
    assert_eq!(
        attach["userIdentity"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/Deployer/deploy"
    );
    assert!(
        attach["userIdentity"].get("sessionContext").is_none() || {
            // Only the MFA attribute of the session context is kept.
            attach["userIdentity"]["sessionContext"]
                .as_object()
                .is_some_and(|s| s.keys().all(|k| k == "attributes"))
        }
    );
    // The config's own choices win: every record with its own filter, all fields with its keep.
    let own_filter = format!(
        "{PACK}[records]\nfilter_pattern = '{{ $.eventSource = \"ec2.amazonaws.com\" }}'\n"
    );
    let ec2 = samples
        .iter()
        .filter(|s| s.event["eventSource"] == "ec2.amazonaws.com")
        .count();
    assert_eq!(records(&own_filter).len(), ec2);
    let all = PACK.replace(
        "packs = [\"cis-cloudtrail\"]",
        "packs = [{ name = \"cis-cloudtrail\", records_matching_only = false }]",
    );
    assert_eq!(records(&all).len(), samples.len() + 1);
    let keep_own = format!("{PACK}[fields]\nkeep = [\"eventName\"]\n");
    let r = records(&keep_own);
    assert!(r
        .iter()
        .all(|m| m.keys().all(|k| k.starts_with('@') || k == "eventName")));
}
