//! Reads the `X-Amzn-Trace-Id` header value (`Root=…;Parent=…;Sampled=…`) found in
//! `platform.*` records' `tracing.value`; the trace stage reuses it for headers found elsewhere.

use crate::record::XrayRef;

/// Parses `Root=1-…;Parent=…;Sampled=1;Lineage=…` in any key order. Unknown keys (`Lineage`,
/// ALB's `Self`, anything a proxy appended) are ignored because AWS says they may be added at any
/// hop. `None` when there is no non-empty `Root`. The ids are not validated here: Lambda's own
/// doc examples carry non-hex ids, so the trace stage decides what it can send to X-Ray.
pub fn parse_xray_header(s: &str) -> Option<XrayRef> {
    let mut trace_id = None;
    let mut segment_id = None;
    let mut sampled = None;
    for part in s.split(';') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if value.is_empty() {
            continue;
        }
        if key.eq_ignore_ascii_case("Root") {
            trace_id = Some(value);
        } else if key.eq_ignore_ascii_case("Parent") {
            segment_id = Some(value);
        } else if key.eq_ignore_ascii_case("Sampled") {
            // `?` means "let the next hop decide": not a decision, so not recorded.
            sampled = match value {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            };
        }
    }
    Some(XrayRef {
        trace_id: trace_id?.to_string(),
        segment_id: segment_id.map(str::to_string),
        sampled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xr(trace: &str, parent: Option<&str>, sampled: Option<bool>) -> Option<XrayRef> {
        Some(XrayRef {
            trace_id: trace.to_string(),
            segment_id: parent.map(str::to_string),
            sampled,
        })
    }

    #[test]
    fn headers() {
        let root = "1-5759e988-bd862e3fe1be46a994272793";
        let cases: Vec<(String, Option<XrayRef>)> = vec![
            (
                format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1"),
                xr(root, Some("53995c3f42cd8ad8"), Some(true)),
            ),
            // Real Lambda value with Lineage, and a reordered one.
            (
                format!("Root={root};Parent=240a548a42a88af4;Sampled=0;Lineage=12326a9d:0"),
                xr(root, Some("240a548a42a88af4"), Some(false)),
            ),
            (
                format!("Sampled=1;Lineage=a87bd80c:1|68fd508a:5;Root={root}"),
                xr(root, None, Some(true)),
            ),
            // ALB's Self and spaces around separators.
            (
                format!("Self=1-67891234-12456789abcdef012345678; Root = {root} ;Sampled=?"),
                xr(root, None, None),
            ),
            (format!("Root={root}"), xr(root, None, None)),
            ("Parent=53995c3f42cd8ad8;Sampled=1".to_string(), None),
            ("Root=;Sampled=1".to_string(), None),
            (String::new(), None),
            (";;;===;".to_string(), None),
        ];
        for (header, want) in cases {
            assert_eq!(parse_xray_header(&header), want, "{header}");
        }
    }
}
