//! Encoders end to end: every EMF document validates against the published schema and respects
//! every EMF limit; aggregation and both encodings preserve each metric's sum and sample count.

use std::collections::BTreeMap;
use std::sync::Arc;

use logsieve::metrics::{
    encode_emf, encode_emf_counted, encode_put_metric_data, estimate_datum_bytes,
    estimate_request_overhead, Aggregator, Dimension, MetricDatum, MetricId, Resolution, Unit,
    MAX_DATUMS_PER_REQUEST, MAX_EMF_DIMENSION_KEYS, MAX_EMF_DOCUMENT_BYTES,
    MAX_EMF_METRICS_PER_DIRECTIVE, MAX_EMF_VALUES_PER_METRIC, MAX_REQUEST_BYTES,
};
use logsieve::stats::Counters;
use proptest::prelude::*;
use serde_json::{Map, Value};

const T0: i64 = 1_699_999_980_000;

/// (namespace, name, dims, unit, resolution, timestamp): what CloudWatch aggregates by.
type Key = (String, String, Vec<(String, String)>, String, u32, i64);

/// The schema published with the EMF specification, unchanged in the fixture. Its `$id`s are
/// JSON-pointer fragments (`#/properties/_aws`), which draft 7 does not allow as identifiers and
/// the validator rejects as base URIs; they are labels without constraints, so they are removed.
fn schema() -> jsonschema::Validator {
    fn strip_ids(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("$id");
                m.values_mut().for_each(strip_ids);
            }
            Value::Array(a) => a.iter_mut().for_each(strip_ids),
            _ => {}
        }
    }
    let text = include_str!("fixtures/emf-schema.json");
    let mut schema: Value = serde_json::from_str(text).unwrap();
    strip_ids(&mut schema);
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn schema_rejects_broken_documents() {
    let v = schema();
    let good = serde_json::json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
        {"Namespace": "NS", "Dimensions": [[]], "Metrics": [{"Name": "M", "Unit": "Count"}]}]}, "M": [1]});
    assert!(v.is_valid(&good));
    for bad in [
        serde_json::json!({"M": 1}),
        serde_json::json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
            {"Namespace": "NS", "Dimensions": [[]], "Metrics": [{"Name": "M", "Unit": "Counts"}]}]}}),
        serde_json::json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
            {"Namespace": "NS", "Dimensions": [], "Metrics": []}]}}),
    ] {
        assert!(!v.is_valid(&bad), "{bad}");
    }
}

fn datum_key(d: &MetricDatum) -> Key {
    let dims = d
        .dimensions
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    (
        d.namespace.clone(),
        d.metric_name.clone(),
        dims,
        d.unit.as_str().to_string(),
        d.storage_resolution.seconds(),
        d.timestamp,
    )
}

/// Σ value×count and Σ count per key.
fn totals(ds: &[MetricDatum]) -> BTreeMap<Key, (f64, f64)> {
    let mut m = BTreeMap::new();
    for d in ds {
        let e = m.entry(datum_key(d)).or_insert((0.0, 0.0));
        for (v, c) in d.values.iter().zip(&d.counts) {
            e.0 += v * c;
            e.1 += c;
        }
    }
    m
}

/// Validates every document (schema and limits) and returns its totals, read back from the JSON
/// the way CloudWatch would extract them.
fn check_emf(docs: &[String]) -> BTreeMap<Key, (f64, f64)> {
    let validator = schema();
    let mut m = BTreeMap::new();
    for text in docs {
        assert!(text.len() <= MAX_EMF_DOCUMENT_BYTES, "{} bytes", text.len());
        let doc: Value = serde_json::from_str(text).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{text}");
        let root = doc.as_object().unwrap();
        let aws = &root["_aws"];
        let ts = aws["Timestamp"].as_i64().unwrap();
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let dir = &directives[0];
        let ns = dir["Namespace"].as_str().unwrap();
        let sets = dir["Dimensions"].as_array().unwrap();
        assert_eq!(sets.len(), 1);
        let keys = sets[0].as_array().unwrap();
        assert!(keys.len() <= MAX_EMF_DIMENSION_KEYS);
        let mut dims: Vec<(String, String)> = keys
            .iter()
            .map(|k| {
                let k = k.as_str().unwrap();
                (k.to_string(), root[k].as_str().unwrap().to_string())
            })
            .collect();
        dims.sort();
        let metrics = dir["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty());
        assert!(metrics.len() <= MAX_EMF_METRICS_PER_DIRECTIVE);
        let mut names = std::collections::HashSet::new();
        for def in metrics {
            let name = def["Name"].as_str().unwrap();
            assert!(names.insert(name), "{name} twice in one document");
            let values = root[name].as_array().unwrap();
            assert!(!values.is_empty() && values.len() <= MAX_EMF_VALUES_PER_METRIC);
            let key = (
                ns.to_string(),
                name.to_string(),
                dims.clone(),
                def["Unit"].as_str().unwrap().to_string(),
                def["StorageResolution"].as_u64().unwrap() as u32,
                ts,
            );
            let e = m.entry(key).or_insert((0.0, 0.0));
            for v in values {
                e.0 += v.as_f64().unwrap();
                e.1 += 1.0;
            }
        }
    }
    m
}

fn check_requests(ds: &[MetricDatum]) {
    let reqs = encode_put_metric_data(ds);
    let mut back = Vec::new();
    for r in &reqs {
        assert!(!r.datums.is_empty());
        assert!(r.datums.len() <= MAX_DATUMS_PER_REQUEST);
        let size: usize = estimate_request_overhead(&r.namespace)
            + r.datums.iter().map(estimate_datum_bytes).sum::<usize>();
        assert!(size <= MAX_REQUEST_BYTES, "{size}");
        for d in &r.datums {
            assert_eq!(d.namespace, r.namespace);
            d.check().unwrap();
        }
        back.extend(r.datums.iter().cloned());
    }
    assert_eq!(totals(&back), totals(ds));
}

fn id(ns: &str, name: &str, unit: Unit) -> Arc<MetricId> {
    MetricId::new(ns, name, unit, Resolution::Standard).unwrap()
}

fn dim(k: &str, v: &str) -> Dimension {
    (Arc::from(k), v.to_string())
}

#[test]
fn emf_boundaries_validate_and_preserve_totals() {
    let mut agg = Aggregator::new();
    let mut c = Counters::new();
    // 100 and 101 samples of one metric (distinct values), 40 repeats of one value.
    let hundred = id("NS", "Hundred", Unit::Milliseconds);
    let hundred_one = id("NS", "HundredOne", Unit::Milliseconds);
    for i in 0..100 {
        agg.add(&hundred, vec![], T0, i as f64, 1.0, &mut c);
    }
    for i in 0..101 {
        agg.add(&hundred_one, vec![], T0, i as f64, 1.0, &mut c);
    }
    let repeated = id("NS", "Repeated", Unit::Count);
    agg.add(&repeated, vec![], T0, 1.0, 250.0, &mut c);
    // 101 metrics in one (namespace, dimensions, timestamp) group.
    for i in 0..101 {
        let m = id("Wide", &format!("M{i:03}"), Unit::Count);
        agg.add(&m, vec![dim("Service", "api")], T0, 1.0, 1.0, &mut c);
    }
    // 30 dimensions, and the same name with a second unit in one group.
    let thirty: Vec<Dimension> = (0..30).map(|i| dim(&format!("D{i:02}"), "v")).collect();
    agg.add(
        &id("NS", "Thirty", Unit::Count),
        thirty,
        T0,
        2.0,
        1.0,
        &mut c,
    );
    agg.add(
        &id("NS", "Hundred", Unit::Seconds),
        vec![],
        T0,
        0.5,
        1.0,
        &mut c,
    );
    let high = MetricId::new("NS", "Fast", Unit::None, Resolution::High).unwrap();
    agg.add(&high, vec![], T0 + 1_500, -3.25, 2.0, &mut c);
    let ds = agg.finish(&mut c);
    let docs = encode_emf(&ds);
    let got = check_emf(&docs);
    assert_eq!(got, totals(&ds));
    // Repeated (250 samples) needs 3 documents; Wide (101 metrics) needs 2.
    let docs_with = |name: &str| {
        docs.iter()
            .filter(|d| d.contains(&format!("\"{name}\":[")))
            .count()
    };
    assert_eq!(docs_with("Repeated"), 3);
    assert_eq!(
        docs_with("Hundred"),
        2,
        "Milliseconds and Seconds variants apart"
    );
    assert_eq!(docs_with("HundredOne"), 2);
    let wide_docs = docs.iter().filter(|d| d.contains("\"Wide\"")).count();
    assert_eq!(wide_docs, 2);
    check_requests(&ds);
}

#[test]
fn emf_skips_what_it_cannot_represent() {
    let base = MetricDatum {
        namespace: "NS".into(),
        metric_name: "M".into(),
        dimensions: Map::new(),
        unit: Unit::Count,
        timestamp: T0,
        storage_resolution: Resolution::Standard,
        values: vec![1.0],
        counts: vec![1.0],
    };
    let mut clash = base.clone();
    clash
        .dimensions
        .insert("M".into(), Value::String("x".into()));
    let mut long_key = base.clone();
    long_key
        .dimensions
        .insert("k".repeat(251), Value::String("x".into()));
    let mut fractional = base.clone();
    fractional.counts = vec![1.5];
    let mut huge = base.clone();
    huge.counts = vec![1e9];
    let mut c = Counters::new();
    let docs = encode_emf_counted(&[base, clash, long_key, fractional, huge], &mut c);
    assert_eq!(docs.len(), 1);
    assert_eq!(c.get("metrics.emf_unrepresentable"), 3);
    assert_eq!(c.get("metrics.emf_too_many_samples"), 1);
    check_emf(&docs);
}

#[test]
fn emf_documents_split_before_one_megabyte() {
    // Control characters are escaped as \u0001 (6 bytes), so 100 metrics with 1000-character
    // names (each written twice) and 100 values exceed 1 MB: the group needs two documents.
    let datums: Vec<MetricDatum> = (0..100)
        .map(|i| MetricDatum {
            namespace: "NS".into(),
            metric_name: format!("{i:03}{}", "\u{1}".repeat(1000)),
            dimensions: Map::new(),
            unit: Unit::Count,
            timestamp: T0,
            storage_resolution: Resolution::Standard,
            values: (0..100)
                .map(|v| f64::from(v) + 0.123_456_789_012_345)
                .collect(),
            counts: vec![1.0; 100],
        })
        .collect();
    let docs = encode_emf(&datums);
    assert_eq!(docs.len(), 2);
    assert!(docs
        .iter()
        .any(|d| d.len() > MAX_EMF_DOCUMENT_BYTES * 3 / 4));
    assert_eq!(check_emf(&docs), totals(&datums));
}

#[test]
fn request_near_one_megabyte() {
    // Long dimension values make each datum large; the request must split before 1 MB.
    let ds: Vec<MetricDatum> = (0..60)
        .map(|i| MetricDatum {
            namespace: "NS".into(),
            metric_name: "Big".into(),
            dimensions: (0..30)
                .map(|d| {
                    (
                        format!("D{d:02}"),
                        Value::String(format!("{i:04}{}", "v".repeat(1020))),
                    )
                })
                .collect(),
            unit: Unit::Count,
            timestamp: T0,
            storage_resolution: Resolution::Standard,
            values: (0..150).map(f64::from).collect(),
            counts: vec![1.0; 150],
        })
        .collect();
    let reqs = encode_put_metric_data(&ds);
    assert!(
        reqs.len() > 1,
        "60 datums of ~110 kB cannot share one request"
    );
    check_requests(&ds);
    // Requests are packed: all but the last could not take the next datum.
    let per = estimate_datum_bytes(&ds[0]);
    for r in &reqs[..reqs.len() - 1] {
        let used: usize = estimate_request_overhead("NS")
            + r.datums.iter().map(estimate_datum_bytes).sum::<usize>();
        assert!(used + per > MAX_REQUEST_BYTES, "{used} + {per}");
    }
    // The serialized datums themselves (JSON, unescaped) are below the estimate.
    for r in &reqs {
        let json = serde_json::to_string(&r.datums).unwrap();
        assert!(json.len() < MAX_REQUEST_BYTES, "{}", json.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn aggregation_and_encodings_preserve_sum_and_count(
        samples in prop::collection::vec(
            (0usize..4, 0usize..3, 0i64..180_000, -400i32..400, 1u8..4, any::<bool>(), 0u8..20),
            0..700,
        )
    ) {
        let metrics = [
            id("A", "Latency", Unit::Milliseconds),
            id("A", "Hits", Unit::Count),
            id("B", "Latency", Unit::Milliseconds),
            MetricId::new("B", "Fast", Unit::None, Resolution::High).unwrap(),
        ];
        let services = ["api", "db", "queue"];
        let mut agg = Aggregator::new();
        let mut c = Counters::new();
        let mut want: BTreeMap<Key, (f64, f64)> = BTreeMap::new();
        let mut rejected = 0;
        for &(m, s, dt, v, count, with_dim, poison) in &samples {
            let metric = &metrics[m];
            // Halves and integers: sums stay exact in f64 whatever the order.
            let value = f64::from(v) / 2.0;
            let ts = T0 + dt;
            let dims = if with_dim { vec![dim("Service", services[s])] } else { vec![] };
            // One sample in twenty is non-finite: counted and left out of every total.
            if poison == 0 {
                let bad = [f64::NAN, f64::INFINITY, -f64::INFINITY][s];
                agg.add(metric, dims, ts, bad, 1.0, &mut c);
                rejected += 1;
                continue;
            }
            agg.add(metric, dims.clone(), ts, value, f64::from(count), &mut c);
            let bucket_ms = i64::from(metric.resolution().seconds()) * 1000;
            let key = (
                metric.namespace().to_string(),
                metric.name().to_string(),
                dims.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
                metric.unit().as_str().to_string(),
                metric.resolution().seconds(),
                ts.div_euclid(bucket_ms) * bucket_ms,
            );
            let e = want.entry(key).or_insert((0.0, 0.0));
            e.0 += value * f64::from(count);
            e.1 += f64::from(count);
        }
        let ds = agg.finish(&mut c);
        prop_assert_eq!(c.get("metrics.value_out_of_range"), rejected);
        for d in &ds {
            prop_assert!(d.check().is_ok(), "{:?}", d.check());
        }
        prop_assert_eq!(&totals(&ds), &want);
        check_requests(&ds);
        prop_assert_eq!(&check_emf(&encode_emf(&ds)), &want);
    }
}
