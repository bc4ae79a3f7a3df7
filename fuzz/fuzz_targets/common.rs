//! Shared by the targets: the config every pipeline run uses, and the checks every output must
//! pass (typed values within AWS limits, metadata kept).

use std::sync::OnceLock;

use logsieve::config::CheckedConfig;
use logsieve::decode::Decoded;
use logsieve::pipeline::Pipeline;

/// The bad-input corpus config: a metric rule with a value and a dimension from JSON, the
/// built-in Lambda metrics and an annotation, so fuzzed records reach every stage.
const CONFIG: &str = include_str!("../../tests/fixtures/bad/hostile.toml");

pub fn config() -> &'static CheckedConfig {
    static CONFIG_ONCE: OnceLock<CheckedConfig> = OnceLock::new();
    CONFIG_ONCE.get_or_init(|| match CheckedConfig::from_toml(CONFIG) {
        Ok(c) => c,
        Err(e) => panic!("hostile.toml: {e}"),
    })
}

/// Runs every decoded batch through a fresh pipeline and checks the output.
pub fn run_pipeline(decoded: Decoded) {
    let mut pipeline = Pipeline::new(config().clone());
    for unit in decoded.units {
        let Ok(batches) = unit.result else { continue };
        for batch in batches {
            let group = batch.source.log_group.clone();
            // select.rs reserves `@` keys, so no message can overwrite a record's metadata
            // (regression test `fields_cannot_overwrite_record_metadata`): every record is checked.
            let ids: Vec<(String, i64)> = batch
                .events
                .iter()
                .map(|e| (e.id.clone(), e.timestamp))
                .collect();
            let out = pipeline.process(batch);
            assert_eq!(out.records.len(), ids.len(), "a record per event");
            for (r, (id, ts)) in out.records.iter().zip(&ids) {
                let r = r.to_map();
                assert_eq!(r.get("@id").and_then(|v| v.as_str()), Some(id.as_str()));
                assert_eq!(r.get("@timestamp").and_then(|v| v.as_i64()), Some(*ts));
                assert_eq!(
                    r.get("@logGroup").and_then(|v| v.as_str()),
                    Some(group.as_str())
                );
            }
            for d in &out.metrics {
                if let Err(e) = d.check() {
                    panic!("invalid datum {d:?}: {e}");
                }
            }
            for s in &out.segments {
                let doc: serde_json::Value = match serde_json::from_str(&s.document) {
                    Ok(v) => v,
                    Err(e) => panic!("segment is not JSON: {e}"),
                };
                assert!(doc.is_object());
                assert!(s.document.len() <= 64 * 1024, "segment over 64 KB");
            }
        }
    }
}
