//! Export round trip: the rules `export-metric-filters` writes as native metric filters, read
//! back by `import-metric-filters` (as `aws logs describe-metric-filters` would describe the
//! deployed filters), publish the same metrics for the same CloudTrail lines as the rules they
//! came from: patterns, values, units, namespaces and dimensions survive both directions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use logsieve::config::{CheckedConfig, Config};
use logsieve::decode::{decode_input, DecodeLimits};
use logsieve::pipeline::Pipeline;
use logsieve_cli::export::{export_metric_filters, ExportOptions};
use logsieve_cli::import::{import_metric_filters, Severity};
use serde_json::{json, Value};

const GROUP: &str = "aws-cloudtrail-logs-111122223333-3c7a1b2d";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `describe-metric-filters` output for the template's filters, as CloudWatch returns them.
fn describe(template: &Value, group: &str) -> Value {
    let filters: Vec<Value> = template["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == "AWS::Logs::MetricFilter")
        .map(|r| {
            let p = &r["Properties"];
            let transformations: Vec<Value> = p["MetricTransformations"]
                .as_array()
                .expect("transformations")
                .iter()
                .map(|t| {
                    let mut out = json!({
                        "metricName": t["MetricName"],
                        "metricNamespace": t["MetricNamespace"],
                        "metricValue": t["MetricValue"],
                    });
                    if let Some(u) = t.get("Unit") {
                        out["unit"] = u.clone();
                    }
                    if let Some(d) = t.get("DefaultValue") {
                        out["defaultValue"] = d.clone();
                    }
                    if let Some(dims) = t.get("Dimensions").and_then(Value::as_array) {
                        out["dimensions"] = dims
                            .iter()
                            .map(|d| {
                                (
                                    d["Key"].as_str().expect("key").to_string(),
                                    d["Value"].clone(),
                                )
                            })
                            .collect::<serde_json::Map<_, _>>()
                            .into();
                    }
                    out
                })
                .collect();
            json!({
                "filterName": p["FilterName"],
                "filterPattern": p["FilterPattern"],
                "logGroupName": group,
                "metricTransformations": transformations,
                "creationTime": 1_714_564_800_000_i64,
            })
        })
        .collect();
    json!({ "metricFilters": filters })
}

/// The CloudTrail records of the fixture (its last event is an application line, which a
/// trail's log group never holds) → (namespace, metric, dimensions) → Σ value × count.
fn run(config: CheckedConfig) -> BTreeMap<(String, String, String), f64> {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/cloudtrail.json")).expect("fixture");
    let mut doc: Value = serde_json::from_str(&text).expect("JSON");
    let events = doc["logEvents"].as_array_mut().expect("events");
    events.pop();
    assert!(events.len() > 30);
    let bytes = doc.to_string().into_bytes();
    let decoded = decode_input(&bytes, &DecodeLimits::default()).expect("decodes");
    let mut pipeline = Pipeline::new(config).with_records(false);
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
                *out.entry((d.namespace.clone(), d.metric_name.clone(), dims.join(",")))
                    .or_insert(0.0) += sum;
            }
        }
    }
    out
}

#[test]
fn import_of_export_counts_the_same_lines_as_the_pack() {
    let original = "[metrics]\nnamespace = \"Logsieve/Security\"\nlambda_platform = false\n\
                    packs = [{ name = \"cis-cloudtrail\", log_groups = [\"aws-cloudtrail-logs-*\"] }]\n";
    let config = Config::from_toml(original).expect("config");
    let export = export_metric_filters(
        &config,
        &ExportOptions {
            log_group: Some(GROUP.into()),
        },
    )
    .expect("export");
    assert_eq!(export.filters, 28);
    let imported =
        import_metric_filters(&describe(&export.template, GROUP).to_string()).expect("import");
    assert_eq!((imported.rules, imported.skipped), (28, 0));
    assert!(
        imported.issues.iter().all(|i| i.severity == Severity::Note),
        "{:?}",
        imported.issues
    );
    // Imported rules run without the pack's CloudTrail-only gate but on the trail's log group,
    // which holds CloudTrail records only.
    let before = run(CheckedConfig::from_toml(original).expect("original"));
    let after = run(CheckedConfig::from_toml(&imported.toml).expect("imported TOML loads"));
    assert_eq!(before, after);
    // Every control is in there (14 bare counts), and the slices are the pack's.
    assert_eq!(before.keys().filter(|(_, _, d)| d.is_empty()).count(), 14);
    assert_eq!(
        before.get(&(
            "Logsieve/Security".to_string(),
            "RootAccountUsage".to_string(),
            "EventName=ConsoleLogin,Region=us-east-1,UserType=Root".to_string()
        )),
        Some(&2.0)
    );
}
