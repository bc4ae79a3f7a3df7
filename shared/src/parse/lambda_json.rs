//! JSON messages: Lambda's JSON log format (platform records and application lines) and any other
//! JSON object. The parsed object becomes the record's fields unchanged.

use serde_json::{Map, Value};

use super::xray::parse_xray_header;
use super::Parsed;
use crate::record::{value_as_f64, Format, ParseIssue, PlatformEvent, Report};

/// Prefix of the `type` of Lambda system-log records (Telemetry API schema).
const PLATFORM_PREFIX: &str = "platform.";

/// Parses `trimmed` (the message without leading whitespace, starting with `{`). serde_json's
/// recursion limit (128) turns hostile nesting into an error before it can exhaust the stack, so
/// deep, truncated or otherwise invalid objects all land here as text with `InvalidJson`.
pub(super) fn parse(message: &str, trimmed: &str) -> Parsed {
    match parse_object(trimmed) {
        Ok(map) => classify(map),
        Err(e) => Parsed::text(message, Some(ParseIssue::InvalidJson(e.to_string()))),
    }
}

/// A top-level JSON object as a `Map`: the flat-object fast path (`object::parse_flat`) for
/// the objects loggers write, serde_json for the rest and for the wording of every error.
pub(super) fn parse_object(text: &str) -> Result<Map<String, Value>, serde_json::Error> {
    match crate::json::object::parse_flat(text) {
        Some(map) => Ok(map),
        None => serde_json::from_str(text),
    }
}

/// The lazy path: `Some` for any valid object that is not a Lambda platform record (those are
/// parsed eagerly: the platform event reads most of them anyway), `None` to parse eagerly.
pub(super) fn parse_lazy(trimmed: &str, base: usize) -> Option<Parsed> {
    let object = crate::json::object::index(trimmed, base)?;
    let platform_type = object
        .get(trimmed, "type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with(PLATFORM_PREFIX));
    if platform_type && object.contains_key(trimmed, "record") {
        return None;
    }
    let has = |k: &str| object.contains_key(trimmed, k);
    // `requestId` first: the member that most JSON loggers lack settles it in one lookup.
    let format = if has("requestId") && has("timestamp") && has("level") && has("message") {
        Format::LambdaJsonApp
    } else if is_cloudtrail(has) {
        Format::CloudTrail
    } else {
        Format::Json
    };
    Some(Parsed {
        lazy: Some(object),
        ..Parsed::new(format, Map::new())
    })
}

fn classify(map: Map<String, Value>) -> Parsed {
    let kind = match map.get("type") {
        Some(Value::String(t)) if t.starts_with(PLATFORM_PREFIX) => Some(t.as_str()),
        _ => None,
    };
    if let (Some(kind), Some(Value::Object(record))) = (kind, map.get("record")) {
        let (platform, issue) = match platform_event(kind, record) {
            Some(p) => (p, None),
            // A known type without the request id it always carries: still counted by kind.
            None => (
                PlatformEvent::Other {
                    kind: kind.to_string(),
                },
                Some(ParseIssue::MalformedPlatformLine),
            ),
        };
        return Parsed {
            platform: Some(platform),
            issue,
            ..Parsed::new(Format::LambdaJsonPlatform, map)
        };
    }
    // `requestId` is what tells Lambda's own JSON app format apart from any JSON logger that
    // also writes timestamp/level/message (Flask, pino, structlog…). Lambda's init-phase lines
    // have none and are read as plain JSON, which yields the same fields.
    let is_app = map.contains_key("timestamp")
        && map.contains_key("level")
        && map.contains_key("message")
        && map.contains_key("requestId");
    let format = if is_app {
        Format::LambdaJsonApp
    } else if is_cloudtrail(|k| map.contains_key(k)) {
        Format::CloudTrail
    } else {
        Format::Json
    };
    Parsed::new(format, map)
}

/// A CloudTrail record: every one carries these three members (CloudTrail record contents,
/// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html),
/// and application loggers do not write `eventVersion`, which is tried first so other objects
/// cost one lookup.
fn is_cloudtrail(has: impl Fn(&str) -> bool) -> bool {
    has("eventVersion") && has("eventSource") && has("eventName")
}

/// The typed event of a `platform.*` record; `None` when a type that always names its request
/// has none. Unknown types become `Other` with the full `type` value as `kind`.
fn platform_event(kind: &str, record: &Map<String, Value>) -> Option<PlatformEvent> {
    let text = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_string);
    let metrics = record.get("metrics").and_then(Value::as_object);
    let metric = |key: &str| metrics.and_then(|m| m.get(key)).and_then(value_as_f64);
    let request_id = text("requestId");
    Some(match kind {
        "platform.start" => PlatformEvent::Start {
            request_id: request_id?,
            version: text("version"),
        },
        "platform.report" => PlatformEvent::Report(Report {
            request_id: request_id?,
            duration_ms: metric("durationMs"),
            billed_duration_ms: metric("billedDurationMs"),
            memory_size_mb: metric("memorySizeMB"),
            max_memory_used_mb: metric("maxMemoryUsedMB"),
            init_duration_ms: metric("initDurationMs"),
            restore_duration_ms: metric("restoreDurationMs"),
            billed_restore_duration_ms: metric("billedRestoreDurationMs"),
            status: text("status"),
            error_type: text("errorType"),
            xray: record
                .get("tracing")
                .and_then(|t| t.get("value"))
                .and_then(Value::as_str)
                .and_then(parse_xray_header),
        }),
        "platform.runtimeDone" => PlatformEvent::RuntimeDone {
            request_id: request_id?,
            status: text("status"),
            error_type: text("errorType"),
            duration_ms: metric("durationMs"),
        },
        "platform.initStart" => PlatformEvent::InitStart {
            runtime_version: text("runtimeVersion"),
            runtime_version_arn: text("runtimeVersionArn"),
        },
        "platform.initReport" => PlatformEvent::InitReport {
            init_duration_ms: metric("durationMs"),
            phase: text("phase"),
            status: text("status"),
            error_type: text("errorType"),
        },
        _ => PlatformEvent::Other {
            kind: kind.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::XrayRef;

    fn run(line: &str) -> Parsed {
        parse(line, line.trim_start())
    }

    fn report(line: &str) -> Report {
        match run(line).platform {
            Some(PlatformEvent::Report(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn report_with_init_duration() {
        let r = report(
            r#"{"time":"2025-01-01T07:30:29.470Z","type":"platform.report","record":{"requestId":"79b5e81f","metrics":{"durationMs":1233.96,"billedDurationMs":1698,"memorySizeMB":256,"maxMemoryUsedMB":123,"initDurationMs":463.512},"status":"success"}}"#,
        );
        let want = Report {
            request_id: "79b5e81f".into(),
            duration_ms: Some(1233.96),
            billed_duration_ms: Some(1698.0),
            memory_size_mb: Some(256.0),
            max_memory_used_mb: Some(123.0),
            init_duration_ms: Some(463.512),
            status: Some("success".into()),
            ..Report::default()
        };
        assert_eq!(r, want);
    }

    #[test]
    fn report_out_of_memory_and_restore() {
        let r = report(
            r#"{"time":"2024-12-30T23:20:29.823Z","type":"platform.report","record":{"requestId":"671dc475","metrics":{"durationMs":32973.233,"billedDurationMs":32974,"memorySizeMB":128,"maxMemoryUsedMB":125,"restoreDurationMs":12.5,"billedRestoreDurationMs":13},"status":"error","errorType":"Runtime.OutOfMemory"}}"#,
        );
        assert_eq!(r.status.as_deref(), Some("error"));
        assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert_eq!(r.max_memory_used_mb, Some(125.0));
        assert_eq!(r.restore_duration_ms, Some(12.5));
        assert_eq!(r.billed_restore_duration_ms, Some(13.0));
        assert_eq!(r.init_duration_ms, None);
    }

    #[test]
    fn report_managed_instances_has_only_duration() {
        let r = report(
            r#"{"time":"t","type":"platform.report","record":{"requestId":"abc","metrics":{"durationMs":12.3},"spans":[{"name":"responseLatency","durationMs":3.1}],"status":"success"}}"#,
        );
        assert_eq!(r.duration_ms, Some(12.3));
        assert_eq!(r.billed_duration_ms, None);
        assert_eq!(r.memory_size_mb, None);
        assert_eq!(r.max_memory_used_mb, None);
    }

    #[test]
    fn report_with_tracing() {
        let r = report(
            r#"{"type":"platform.report","record":{"requestId":"abc","metrics":{"durationMs":1},"status":"success","tracing":{"spanId":"ab","type":"X-Amzn-Trace-Id","value":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}}"#,
        );
        assert_eq!(
            r.xray,
            Some(XrayRef {
                trace_id: "1-5759e988-bd862e3fe1be46a994272793".into(),
                segment_id: Some("53995c3f42cd8ad8".into()),
                sampled: Some(true),
            })
        );
    }

    #[test]
    fn other_platform_events() {
        let cases: &[(&str, PlatformEvent)] = &[
            (
                r#"{"time":"t","type":"platform.start","record":{"requestId":"r1","functionArn":"arn","version":"$LATEST","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-a-b;Sampled=0"}}}"#,
                PlatformEvent::Start {
                    request_id: "r1".into(),
                    version: Some("$LATEST".into()),
                },
            ),
            (
                r#"{"time":"t","type":"platform.runtimeDone","record":{"requestId":"r2","status":"timeout","errorType":"Sandbox.Timedout","metrics":{"durationMs":3000.5,"producedBytes":0}}}"#,
                PlatformEvent::RuntimeDone {
                    request_id: "r2".into(),
                    status: Some("timeout".into()),
                    error_type: Some("Sandbox.Timedout".into()),
                    duration_ms: Some(3000.5),
                },
            ),
            (
                r#"{"time":"t","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","runtimeVersion":"nodejs:22.v40","runtimeVersionArn":"arn:aws:lambda:eu-central-1::runtime:x","functionName":"f","functionVersion":"$LATEST","instanceMaxMemory":268435456}}"#,
                PlatformEvent::InitStart {
                    runtime_version: Some("nodejs:22.v40".into()),
                    runtime_version_arn: Some("arn:aws:lambda:eu-central-1::runtime:x".into()),
                },
            ),
            (
                r#"{"time":"t","type":"platform.initReport","record":{"initializationType":"snap-start","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":551.73}}}"#,
                PlatformEvent::InitReport {
                    init_duration_ms: Some(551.73),
                    phase: Some("init".into()),
                    status: Some("error".into()),
                    error_type: Some("Runtime.ExitError".into()),
                },
            ),
            (
                r#"{"time":"t","type":"platform.logsDropped","record":{"droppedBytes":10,"droppedRecords":1,"reason":"x"}}"#,
                PlatformEvent::Other {
                    kind: "platform.logsDropped".into(),
                },
            ),
            (
                r#"{"time":"t","type":"platform.invokeSummary","record":{}}"#,
                PlatformEvent::Other {
                    kind: "platform.invokeSummary".into(),
                },
            ),
        ];
        for (line, want) in cases {
            let p = run(line);
            assert_eq!(p.format, Format::LambdaJsonPlatform, "{line}");
            assert_eq!(p.platform.as_ref(), Some(want), "{line}");
            assert_eq!(p.issue, None, "{line}");
            assert!(
                p.fields.contains_key("record"),
                "fields are the object: {line}"
            );
        }
    }

    #[test]
    fn platform_report_without_request_id_is_counted_but_flagged() {
        let p = run(r#"{"type":"platform.report","record":{"metrics":{"durationMs":1}}}"#);
        assert_eq!(p.format, Format::LambdaJsonPlatform);
        assert_eq!(
            p.platform,
            Some(PlatformEvent::Other {
                kind: "platform.report".into()
            })
        );
        assert_eq!(p.issue, Some(ParseIssue::MalformedPlatformLine));
    }

    #[test]
    fn formats_of_objects() {
        let cases: &[(&str, Format)] = &[
            (
                r#"{"timestamp":"2023-10-27T19:17:45.586Z","level":"INFO","message":"Inside the handler function","logger":"root","requestId":"79b4f56e-95b1-4643-9700-2807f4e68189"}"#,
                Format::LambdaJsonApp,
            ),
            // Without requestId it is any JSON logger's line (Flask, pino…).
            (
                r#"{"timestamp":"t","level":"ERROR","message":"boom"}"#,
                Format::Json,
            ),
            (r#"{"level":"info","msg":"x"}"#, Format::Json),
            // `type` that is not platform.*, and platform.* without a record object.
            (r#"{"type":"order","record":{}}"#, Format::Json),
            (r#"{"type":"platform.report","record":"x"}"#, Format::Json),
            (r#"{"type":"platform.report"}"#, Format::Json),
            ("  {\"a\":1}\n", Format::Json),
            ("{}", Format::Json),
        ];
        for (line, want) in cases {
            let p = run(line);
            assert_eq!(p.format, *want, "{line}");
            assert_eq!(p.issue, None, "{line}");
            assert_eq!(p.platform, None, "{line}");
        }
    }

    #[test]
    fn cloudtrail_records_are_recognised_eagerly_and_lazily() {
        let cases: &[(&str, Format)] = &[
            (
                r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","errorCode":"AccessDenied","recipientAccountId":"111122223333"}"#,
                Format::CloudTrail,
            ),
            // Missing one of the three members: any JSON object.
            (
                r#"{"eventSource":"s3.amazonaws.com","eventName":"PutObject"}"#,
                Format::Json,
            ),
            (
                r#"{"eventVersion":"1.08","eventName":"x","level":"INFO"}"#,
                Format::Json,
            ),
            // Lambda's JSON app format wins: its members are checked first.
            (
                r#"{"timestamp":"t","level":"INFO","message":"m","requestId":"r","eventVersion":"1","eventSource":"s","eventName":"n"}"#,
                Format::LambdaJsonApp,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(run(line).format, *want, "eager: {line}");
            let lazy = parse_lazy(line, 0).expect("a valid object is indexed");
            assert_eq!(lazy.format, *want, "lazy: {line}");
        }
    }

    #[test]
    fn invalid_json_is_text_with_issue() {
        let deep = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
        let cases = [
            r#"{"a":1"#.to_string(),
            r#"{"a":}"#.to_string(),
            r#"{"a":"\ud800"}"#.to_string(),
            r#"{"a":1} trailing"#.to_string(),
            "{not json}".to_string(),
            deep,
        ];
        for line in &cases {
            let p = run(line);
            assert_eq!(p.format, Format::Text, "{line:.40}");
            assert!(
                matches!(p.issue, Some(ParseIssue::InvalidJson(ref e)) if !e.is_empty()),
                "{line:.40}: {:?}",
                p.issue
            );
            assert_eq!(
                p.fields.get("message").and_then(Value::as_str),
                Some(line.as_str())
            );
        }
    }
}
