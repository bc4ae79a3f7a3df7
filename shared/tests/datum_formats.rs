//! The three texts a datum leaves as (`logsieve process` JSON, EMF documents, and the unit and
//! resolution PutMetricData sends) pinned byte for byte, so typing the datum's unit and
//! resolution changed nothing on the wire. The datums are built through the aggregator, whose
//! API did not change, so these expectations were first checked against the string-typed datum.

use std::sync::Arc;

use logsieve::metrics::{encode_emf, Aggregator, Dimension, MetricId, Resolution, Unit};
use logsieve::stats::Counters;
use serde_json::Value;

const T0: i64 = 1_700_000_000_000;

fn dim(n: &str, v: &str) -> Dimension {
    (Arc::from(n), v.to_string())
}

fn sample_datums() -> Vec<logsieve::metrics::MetricDatum> {
    let rate = MetricId::new("App", "Throughput", Unit::BytesPerSecond, Resolution::High).unwrap();
    let plain = MetricId::new("App", "Hits", Unit::None, Resolution::Standard).unwrap();
    let per_s =
        MetricId::new("Other", "Calls", Unit::CountPerSecond, Resolution::Standard).unwrap();
    let mut agg = Aggregator::new();
    let mut c = Counters::new();
    agg.add(
        &rate,
        vec![dim("Service", "api")],
        T0 + 1_250,
        2.5,
        2.0,
        &mut c,
    );
    agg.add(
        &plain,
        vec![dim("Service", "api")],
        T0 + 1_250,
        1.0,
        1.0,
        &mut c,
    );
    agg.add(&per_s, vec![], T0 + 30_000, 7.0, 1.0, &mut c);
    agg.finish(&mut c)
}

#[test]
fn cli_json_of_datums_is_unchanged() {
    let text = serde_json::to_string(&sample_datums()).unwrap();
    assert_eq!(
        text,
        r#"[{"namespace":"App","metric_name":"Hits","dimensions":{"Service":"api"},"unit":"None","timestamp":1699999980000,"storage_resolution":60,"values":[1.0],"counts":[1.0]},{"namespace":"App","metric_name":"Throughput","dimensions":{"Service":"api"},"unit":"Bytes/Second","timestamp":1700000001000,"storage_resolution":1,"values":[2.5],"counts":[2.0]},{"namespace":"Other","metric_name":"Calls","dimensions":{},"unit":"Count/Second","timestamp":1699999980000,"storage_resolution":60,"values":[7.0],"counts":[1.0]}]"#
    );
}

#[test]
fn emf_documents_are_unchanged() {
    assert_eq!(
        encode_emf(&sample_datums()),
        [
            r#"{"Hits":[1.0],"Service":"api","_aws":{"CloudWatchMetrics":[{"Dimensions":[["Service"]],"Metrics":[{"Name":"Hits","StorageResolution":60,"Unit":"None"}],"Namespace":"App"}],"Timestamp":1699999980000}}"#,
            r#"{"Service":"api","Throughput":[2.5,2.5],"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Service"]],"Metrics":[{"Name":"Throughput","StorageResolution":1,"Unit":"Bytes/Second"}],"Namespace":"App"}],"Timestamp":1700000001000}}"#,
            r#"{"Calls":[7.0],"_aws":{"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"Calls","StorageResolution":60,"Unit":"Count/Second"}],"Namespace":"Other"}],"Timestamp":1699999980000}}"#,
        ]
    );
}

/// Every unit and both resolutions: the JSON output and the EMF definition carry the CloudWatch
/// spelling and the resolution in seconds, as the string-typed datum did.
#[test]
fn every_unit_and_resolution_is_written_as_cloudwatch_spells_it() {
    for unit in Unit::ALL {
        for (resolution, seconds) in [(Resolution::High, 1), (Resolution::Standard, 60)] {
            let m = MetricId::new("Ns", "M", unit, resolution).unwrap();
            let mut agg = Aggregator::new();
            let mut c = Counters::new();
            agg.add(&m, vec![], T0, 1.0, 1.0, &mut c);
            let datums = agg.finish(&mut c);
            let json = serde_json::to_value(&datums[0]).unwrap();
            assert_eq!(json["unit"], Value::from(unit.as_str()), "{unit:?}");
            assert_eq!(json["storage_resolution"], Value::from(seconds), "{unit:?}");
            let doc: Value = serde_json::from_str(&encode_emf(&datums)[0]).unwrap();
            let def = &doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0];
            assert_eq!(def["Unit"], Value::from(unit.as_str()), "{unit:?}");
            assert_eq!(def["StorageResolution"], Value::from(seconds), "{unit:?}");
        }
    }
}
