//! Packs datums into PutMetricData requests: one namespace per request, at most 1000 datums and
//! an estimated serialized size under 1 MB each.

use super::aggregate::{MetricDatum, MAX_VALUES_PER_DATUM};

/// Datums (`MetricData` entries) per PutMetricData request.
pub const MAX_DATUMS_PER_REQUEST: usize = 1000;
/// Request size limit for HTTP POST (1 MB). Counted as 10^6 bytes, the smaller reading of "MB".
pub const MAX_REQUEST_BYTES: usize = 1_000_000;

/// Characters of the longest shortest-round-trip `f64` text (`-2.2250738585072014e-308`), which
/// is how the SDKs print doubles. Only digits, `.`, `-` and `e` appear, which need no
/// percent-encoding.
const MAX_NUMBER_CHARS: usize = 24;
/// `MetricData.member.1000.`: the member prefix for the largest index.
const MEMBER_PREFIX: usize = "MetricData.member.1000.".len();
/// `Timestamp=2026-11-27T02%3A18%3A12.000Z`, the value with colons percent-encoded.
const TIMESTAMP_FIELD: usize = "Timestamp=".len() + 30;

/// One PutMetricData call's worth of datums (one namespace, within every request limit).
#[derive(Debug, Clone, PartialEq)]
pub struct PutMetricDataRequest {
    pub namespace: String,
    pub datums: Vec<MetricDatum>,
}

/// A string's worst-case size once percent-encoded (every byte as `%XX`).
fn encoded(s: &str) -> usize {
    s.len().saturating_mul(3)
}

/// Upper bound of the request's fixed part: `Action=PutMetricData&Version=2010-08-01&Namespace=…`.
pub fn estimate_request_overhead(namespace: &str) -> usize {
    "Action=PutMetricData&Version=2010-08-01&Namespace=".len() + encoded(namespace)
}

/// Upper bound of one datum's size in a request.
///
/// The estimate is the awsQuery form encoding (`MetricData.member.N.Values.member.M=v&`), the
/// most verbose of the protocols CloudWatch accepts (the JSON and CBOR encodings are smaller),
/// with every string byte counted as percent-encoded (`%XX`, 3 bytes) and every number as the
/// longest `f64` text. The real request is therefore never larger than the sum of estimates.
pub fn estimate_datum_bytes(d: &MetricDatum) -> usize {
    let field = |key: usize, value: usize| MEMBER_PREFIX + key + 1 + value + 1;
    let mut n = field("MetricName".len(), encoded(&d.metric_name));
    for (name, value) in &d.dimensions {
        let value_len = value.as_str().map_or(value.to_string().len(), str::len);
        n = n
            .saturating_add(field("Dimensions.member.30.Name".len(), encoded(name)))
            .saturating_add(field(
                "Dimensions.member.30.Value".len(),
                value_len.saturating_mul(3),
            ));
    }
    n = n
        .saturating_add(field("Unit".len(), encoded(d.unit.as_str())))
        .saturating_add(MEMBER_PREFIX + TIMESTAMP_FIELD + 1)
        .saturating_add(field("StorageResolution".len(), 2));
    let per_value = field("Values.member.150".len(), MAX_NUMBER_CHARS)
        + field("Counts.member.150".len(), MAX_NUMBER_CHARS);
    n.saturating_add(per_value.saturating_mul(d.values.len()))
}

/// Splits datums into PutMetricData requests (≤1000 datums, ≤1 MB each, one namespace each).
///
/// Requests follow the datums' order, grouped by namespace in order of first appearance. Every
/// valid datum fits a request on its own (the largest is about 120 kB by the estimate); an
/// invalid hand-built datum larger than 1 MB would still be sent alone, for CloudWatch to reject.
/// A datum
/// with more than 150 values (not produced by the aggregator, but the type allows it) is split
/// into several datums of the same metric, which CloudWatch accepts in one request.
pub fn encode_put_metric_data(datums: &[MetricDatum]) -> Vec<PutMetricDataRequest> {
    let mut namespaces: Vec<&str> = Vec::new();
    for d in datums {
        if !namespaces.contains(&d.namespace.as_str()) {
            namespaces.push(&d.namespace);
        }
    }
    let mut out = Vec::new();
    for ns in namespaces {
        let overhead = estimate_request_overhead(ns);
        let mut current: Vec<MetricDatum> = Vec::new();
        let mut size = overhead;
        for d in datums.iter().filter(|d| d.namespace == ns) {
            for part in split_values(d) {
                let bytes = estimate_datum_bytes(&part);
                let full = current.len() >= MAX_DATUMS_PER_REQUEST
                    || size.saturating_add(bytes) > MAX_REQUEST_BYTES;
                if full && !current.is_empty() {
                    out.push(PutMetricDataRequest {
                        namespace: ns.to_string(),
                        datums: std::mem::take(&mut current),
                    });
                    size = overhead;
                }
                size = size.saturating_add(bytes);
                current.push(part);
            }
        }
        if !current.is_empty() {
            out.push(PutMetricDataRequest {
                namespace: ns.to_string(),
                datums: current,
            });
        }
    }
    out
}

fn split_values(d: &MetricDatum) -> Vec<MetricDatum> {
    if d.values.len() <= MAX_VALUES_PER_DATUM {
        return vec![d.clone()];
    }
    d.values
        .chunks(MAX_VALUES_PER_DATUM)
        .enumerate()
        .map(|(i, values)| {
            let start = i * MAX_VALUES_PER_DATUM;
            let counts = d
                .counts
                .get(start..start + values.len())
                .map_or_else(|| vec![1.0; values.len()], <[f64]>::to_vec);
            MetricDatum {
                values: values.to_vec(),
                counts,
                ..d.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::aggregate::{Resolution, Unit};
    use super::*;
    use serde_json::{Map, Value};

    fn datum(ns: &str, name: &str, n_values: usize) -> MetricDatum {
        MetricDatum {
            namespace: ns.into(),
            metric_name: name.into(),
            dimensions: Map::new(),
            unit: Unit::Count,
            timestamp: 1_700_000_000_000,
            storage_resolution: Resolution::Standard,
            values: (0..n_values).map(|v| v as f64).collect(),
            counts: vec![1.0; n_values],
        }
    }

    #[test]
    fn datum_count_limit() {
        for (n, want) in [
            (1000usize, vec![1000usize]),
            (1001, vec![1000, 1]),
            (2000, vec![1000, 1000]),
        ] {
            let ds: Vec<_> = (0..n).map(|i| datum("NS", &format!("M{i}"), 1)).collect();
            let reqs = encode_put_metric_data(&ds);
            let lens: Vec<_> = reqs.iter().map(|r| r.datums.len()).collect();
            assert_eq!(lens, want, "{n} datums");
            let back: Vec<_> = reqs.into_iter().flat_map(|r| r.datums).collect();
            assert_eq!(back, ds, "order and content are kept");
        }
    }

    #[test]
    fn size_limit_splits_requests() {
        // Full datums (150 values) are ~20 kB by the estimate, so well under 1000 fit in 1 MB.
        let d = datum("NS", "M", 150);
        let per = estimate_datum_bytes(&d);
        let fit = (MAX_REQUEST_BYTES - estimate_request_overhead("NS")) / per;
        assert!(
            fit > 10 && fit < MAX_DATUMS_PER_REQUEST,
            "{fit} per request"
        );
        for (n, want) in [(fit, vec![fit]), (fit + 1, vec![fit, 1])] {
            let ds = vec![d.clone(); n];
            let lens: Vec<_> = encode_put_metric_data(&ds)
                .iter()
                .map(|r| r.datums.len())
                .collect();
            assert_eq!(lens, want);
        }
    }

    #[test]
    fn estimate_bounds_the_query_encoding() {
        // An actual awsQuery body for a datum, percent-encoded, is no larger than the estimate.
        let mut d = datum("NS", "Latency p/99", 3);
        d.values = vec![-2.2250738585072014e-308, 1e300, 0.1];
        d.dimensions
            .insert("Service Name".into(), Value::String("a&b=c/d".into()));
        d.unit = Unit::BytesPerSecond;
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let p = "MetricData.member.1000.";
        let mut body = format!("{p}MetricName={}&", enc(&d.metric_name));
        body += &format!("{p}Dimensions.member.1.Name={}&", enc("Service Name"));
        body += &format!("{p}Dimensions.member.1.Value={}&", enc("a&b=c/d"));
        body += &format!("{p}Unit={}&", enc(d.unit.as_str()));
        body += &format!("{p}Timestamp={}&", enc("2023-11-14T22:13:20.000Z"));
        body += &format!("{p}StorageResolution=60&");
        for (i, (v, c)) in d.values.iter().zip(&d.counts).enumerate() {
            body += &format!("{p}Values.member.{}={}&", i + 1, enc(&format!("{v:e}")));
            body += &format!("{p}Counts.member.{}={}&", i + 1, enc(&format!("{c:e}")));
        }
        assert!(body.len() <= estimate_datum_bytes(&d), "{}", body.len());
    }

    #[test]
    fn one_namespace_per_request_in_first_seen_order() {
        let ds = vec![datum("B", "x", 1), datum("A", "y", 1), datum("B", "z", 1)];
        let reqs = encode_put_metric_data(&ds);
        let got: Vec<_> = reqs
            .iter()
            .map(|r| {
                let names: Vec<_> = r.datums.iter().map(|d| d.metric_name.as_str()).collect();
                (r.namespace.as_str(), names)
            })
            .collect();
        assert_eq!(got, vec![("B", vec!["x", "z"]), ("A", vec!["y"])]);
    }

    #[test]
    fn oversized_datums_are_split() {
        let d = datum("NS", "M", 151);
        let reqs = encode_put_metric_data(&[d]);
        assert_eq!(reqs.len(), 1);
        let lens: Vec<_> = reqs[0].datums.iter().map(|d| d.values.len()).collect();
        assert_eq!(lens, vec![150, 1]);
        assert_eq!(reqs[0].datums[1].values, vec![150.0]);
        assert!(reqs[0].datums.iter().all(|d| d.check().is_ok()));
    }

    #[test]
    fn largest_valid_datum_fits_one_request() {
        let mut d = datum(&"N".repeat(255), &"M".repeat(255), MAX_VALUES_PER_DATUM);
        for i in 0..30 {
            let name = format!("{i:02}{}", "d".repeat(253));
            d.dimensions.insert(name, Value::String("v".repeat(1024)));
        }
        d.unit = Unit::MegabytesPerSecond;
        assert!(d.check().is_ok());
        let total = estimate_request_overhead(&d.namespace) + estimate_datum_bytes(&d);
        assert!(total < MAX_REQUEST_BYTES / 4, "{total}");
        assert_eq!(encode_put_metric_data(&[d]).len(), 1);
    }

    #[test]
    fn empty_input_gives_no_requests() {
        assert!(encode_put_metric_data(&[]).is_empty());
    }
}
