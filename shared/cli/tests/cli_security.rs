//! The `cis-cloudtrail` pack through the real binary: `process` on the bundled trail sample with
//! examples/security.toml (exact counts per control), `dashboard --pack`, and
//! `export-metric-filters`.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(args)
        .env_remove("LOGSIEVE_CONFIG")
        .output()
        .expect("runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn process_with_the_pack_counts_each_control_exactly() {
    let v = json_of(&run(&[
        "process",
        "--config",
        &path("examples/security.toml"),
        &path("tests/fixtures/cloudtrail.json"),
    ]));
    // Worked by hand from the samples' table (tests/fixtures/cloudtrail.py).
    let want: &[(&str, f64)] = &[
        ("RootAccountUsage", 3.0),
        ("UnauthorizedAPICalls", 4.0),
        ("ConsoleSignInWithoutMFA", 1.0),
        ("IAMPolicyChanges", 2.0),
        ("CloudTrailConfigChanges", 1.0),
        ("ConsoleAuthenticationFailures", 2.0),
        ("DisableOrDeleteCMK", 2.0),
        ("S3BucketPolicyChanges", 2.0),
        ("AWSConfigChanges", 1.0),
        ("SecurityGroupChanges", 2.0),
        ("NACLChanges", 1.0),
        ("NetworkGatewayChanges", 1.0),
        ("RouteTableChanges", 1.0),
        ("VPCChanges", 2.0),
    ];
    let metrics = v["metrics"].as_array().expect("metrics");
    for (name, count) in want {
        let bare: Vec<&Value> = metrics
            .iter()
            .filter(|m| m["metric_name"] == *name && m["dimensions"] == serde_json::json!({}))
            .collect();
        assert_eq!(bare.len(), 1, "{name}");
        let m = bare[0];
        assert_eq!(m["namespace"], "Logsieve/Security");
        assert_eq!(m["unit"], "Count");
        assert_eq!(m["values"], serde_json::json!([1.0]), "{name}");
        assert_eq!(m["counts"], serde_json::json!([count]), "{name}");
    }
    // One dimensioned datum: CloudWatch.7 by the role in us-east-1.
    let disable = metrics
        .iter()
        .find(|m| {
            m["metric_name"] == "DisableOrDeleteCMK" && m["dimensions"]["EventName"] == "DisableKey"
        })
        .expect("DisableKey datum");
    assert_eq!(
        disable["dimensions"],
        serde_json::json!({"EventName": "DisableKey", "Region": "us-east-1", "UserType": "AssumedRole"})
    );
    assert_eq!(disable["counts"], serde_json::json!([1.0]));
    let counters = &v["stats"]["counters"];
    assert_eq!(counters["parse.cloudtrail"], 38);
    assert_eq!(counters["parse.json"], 1);
}

#[test]
fn dashboard_pack_renders_the_security_dashboard() {
    let v = json_of(&run(&["dashboard", "--pack", "cis-cloudtrail"]));
    let widgets = v["widgets"].as_array().expect("widgets");
    assert_eq!(widgets.len(), 28);
    assert_eq!(
        widgets[4]["properties"]["title"],
        "CloudWatch.3 Management Console sign-in without MFA: ConsoleSignInWithoutMFA"
    );
    let out = run(&["dashboard", "--pack", "cis-cloudtrial"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn export_metric_filters_writes_the_native_filters_and_alarms() {
    let out = run(&[
        "export-metric-filters",
        "--config",
        &path("examples/security.toml"),
        "--log-group",
        "aws-cloudtrail-logs-111122223333-3c7a1b2d",
    ]);
    let v = json_of(&out);
    let resources = v["Resources"].as_object().expect("resources");
    let count = |t: &str| resources.values().filter(|r| r["Type"] == t).count();
    assert_eq!(count("AWS::Logs::MetricFilter"), 28);
    assert_eq!(count("AWS::CloudWatch::Alarm"), 14);
    assert_eq!(
        v["Resources"]["ConsoleAuthenticationFailuresFilter"]["Properties"]["FilterPattern"],
        r#"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("28 metric filter(s), 14 alarm(s)"),
        "{stderr}"
    );
}

#[test]
fn plan_lists_the_pack_s_metrics_as_coming_from_the_pack() {
    let v = json_of(&run(&[
        "plan",
        "--config",
        &path("examples/security.toml"),
        "--events-per-day",
        "1000000",
        "--output",
        "json",
    ]));
    let metrics = v["metrics"].as_array().expect("metrics");
    assert_eq!(metrics.len(), 28);
    assert!(
        metrics.iter().all(|m| m["origin"] == "metrics.packs"),
        "{metrics:?}"
    );
    // The alarmed series: one each, no dimensions.
    let bare = metrics
        .iter()
        .filter(|m| m["dimensions"].as_array().is_some_and(Vec::is_empty))
        .count();
    assert_eq!(bare, 14);
}
