//! Lambda platform lines in the text log format: `START`, `END`, `REPORT`, `INIT_START`,
//! `INIT_REPORT`, `<time> <requestId> Task timed out after N seconds` and
//! `RequestId: <id> Error: …` / `RequestId: <id> Process exited before completing request`.
//!
//! The `Key: value [unit]` lines are read by one tokenizer ([`Pairs`]) rather than a regex per
//! layout: Lambda separates pairs with tabs, older lines add spaces (`47 ms \t`), the X-Ray
//! suffix may sit on the next line, and unknown keys appear over time. A tab or newline always
//! ends a pair; without tabs, single spaces still work because every known value is one word.
//!
//! Field names are listed in the parent module; the `type` values are the line's first word
//! (`START`…`INIT_REPORT`) or `TIMEOUT`, `OUT_OF_MEMORY`, `RUNTIME_EXIT`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{json_number, strip_newline, Attempt, Parsed};
use crate::record::{Format, ParseIssue, PlatformEvent, Report, XrayRef};

/// Parses a message starting with `START `, `END `, `REPORT `, `INIT_START `, `INIT_REPORT ` or
/// `RequestId: `. Any other message is `No`; a message with such a prefix but without the
/// fields that identify the line (the request id, for invocation lines) is `Malformed`.
pub(super) fn parse_platform(message: &str) -> Attempt {
    let Some((word, rest)) = first_word(message) else {
        return Attempt::No;
    };
    match word {
        "START" => start(rest),
        "END" => end(rest),
        "REPORT" => report(rest),
        "INIT_START" => init_start(rest),
        "INIT_REPORT" => init_report(rest),
        "RequestId:" => request_error(rest),
        _ => Attempt::No,
    }
}

/// `<RFC3339> <requestId> Task timed out after 300.09 seconds` (space- or tab-separated, as the
/// Node runtime prints it inside its own line layout).
pub(super) fn parse_timeout_line(message: &str) -> Option<Parsed> {
    let mut tokens = Tokens::new(message);
    let (_, timestamp, _) = tokens.next()?;
    if !looks_like_rfc3339(timestamp) {
        return None;
    }
    let (_, request_id, _) = tokens.next()?;
    let (start, _, _) = tokens.clone().next()?;
    let seconds = timed_out_seconds(message.get(start..)?)?;
    let mut fields = Map::new();
    put(&mut fields, "type", "TIMEOUT");
    put(&mut fields, "timestamp", timestamp);
    put(&mut fields, "requestId", request_id);
    put_number(&mut fields, "seconds", seconds);
    Some(Parsed {
        platform: Some(PlatformEvent::Timeout {
            request_id: Some(request_id.to_string()),
            seconds,
        }),
        ..Parsed::new(Format::LambdaText, fields)
    })
}

/// `YYYY-MM-DDTHH:MM:SS…`: enough to tell Lambda's timestamp prefix from other leading digits.
pub(super) fn looks_like_rfc3339(s: &str) -> bool {
    const SHAPE: &[u8; 19] = b"0000-00-00T00:00:00";
    let b = s.as_bytes();
    b.len() >= SHAPE.len()
        && b.len() <= 40
        && SHAPE.iter().zip(b).all(|(shape, c)| match shape {
            b'0' => c.is_ascii_digit(),
            _ => shape == c,
        })
}

/// The N of `Task timed out after N seconds` at the start of `s`.
fn timed_out_seconds(s: &str) -> Option<f64> {
    let rest = s.strip_prefix("Task timed out after ")?;
    let (n, _) = rest.split_once(" seconds").unwrap_or((rest, ""));
    json_number(n.trim())?.as_f64()
}

/// The first whitespace-delimited word and what follows it (which may be empty).
fn first_word(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| c.is_ascii_whitespace()).unwrap_or(s.len());
    let (word, rest) = s.split_at_checked(end)?;
    Some((word, rest))
}

fn start(rest: &str) -> Attempt {
    let mut line = Line::new("START");
    let mut version = None;
    for pair in Pairs::new(rest) {
        match norm(pair.key).as_ref() {
            "RequestId" => line.request_id(pair.value),
            "Version" => {
                version = pair.value;
                line.text("version", pair.value);
            }
            _ => {}
        }
    }
    line.finish(|request_id| PlatformEvent::Start {
        request_id,
        version: version.map(str::to_string),
    })
}

fn end(rest: &str) -> Attempt {
    let mut line = Line::new("END");
    for pair in Pairs::new(rest) {
        if norm(pair.key) == "RequestId" {
            line.request_id(pair.value);
        }
    }
    line.finish(|request_id| PlatformEvent::End { request_id })
}

fn report(rest: &str) -> Attempt {
    let mut line = Line::new("REPORT");
    let mut r = Report::default();
    let mut xray = XrayRef::default();
    for pair in Pairs::new(rest) {
        let v = pair.value;
        match norm(pair.key).as_ref() {
            "RequestId" => line.request_id(v),
            "Duration" => r.duration_ms = line.number("durationMs", v),
            "Billed Duration" => r.billed_duration_ms = line.number("billedDurationMs", v),
            "Memory Size" => r.memory_size_mb = line.number("memorySizeMB", v),
            "Max Memory Used" => r.max_memory_used_mb = line.number("maxMemoryUsedMB", v),
            "Init Duration" => r.init_duration_ms = line.number("initDurationMs", v),
            "Restore Duration" => r.restore_duration_ms = line.number("restoreDurationMs", v),
            "Billed Restore Duration" => {
                r.billed_restore_duration_ms = line.number("billedRestoreDurationMs", v)
            }
            "Status" => r.status = line.text("status", v),
            "Error Type" => r.error_type = line.text("errorType", v),
            "XRAY TraceId" => xray.trace_id = line.text("xrayTraceId", v).unwrap_or_default(),
            "SegmentId" => xray.segment_id = line.text("xraySegmentId", v),
            "Sampled" => {
                xray.sampled = match v {
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    _ => None,
                };
                if let Some(b) = xray.sampled {
                    line.fields.insert("xraySampled".into(), Value::Bool(b));
                }
            }
            _ => {}
        }
    }
    if !xray.trace_id.is_empty() {
        r.xray = Some(xray);
    }
    line.finish(|request_id| {
        r.request_id = request_id;
        PlatformEvent::Report(r)
    })
}

fn init_start(rest: &str) -> Attempt {
    let mut line = Line::new("INIT_START");
    let (mut version, mut arn) = (None, None);
    for pair in Pairs::new(rest) {
        match norm(pair.key).as_ref() {
            "Runtime Version" => version = line.text("runtimeVersion", pair.value),
            "Runtime Version ARN" => arn = line.text("runtimeVersionArn", pair.value),
            _ => {}
        }
    }
    if version.is_none() && arn.is_none() {
        return Attempt::Malformed;
    }
    line.finish_without_request(PlatformEvent::InitStart {
        runtime_version: version,
        runtime_version_arn: arn,
    })
}

fn init_report(rest: &str) -> Attempt {
    let mut line = Line::new("INIT_REPORT");
    let (mut duration, mut phase, mut status, mut error_type) = (None, None, None, None);
    let mut seen = false;
    for pair in Pairs::new(rest) {
        let v = pair.value;
        match norm(pair.key).as_ref() {
            "Init Duration" => duration = line.number("initDurationMs", v),
            "Phase" => phase = line.text("phase", v),
            "Status" => status = line.text("status", v),
            "Error Type" => error_type = line.text("errorType", v),
            _ => continue,
        }
        seen = true;
    }
    if !seen {
        return Attempt::Malformed;
    }
    line.finish_without_request(PlatformEvent::InitReport {
        init_duration_ms: duration,
        phase,
        status,
        error_type,
    })
}

/// `RequestId: <id> Error: <detail>` or `RequestId: <id> Process exited before completing
/// request`, optionally followed by the error type on the next line (`Runtime.ExitError`).
fn request_error(rest: &str) -> Attempt {
    let rest = rest.trim_start();
    let Some((request_id, after)) = first_word(rest) else {
        return Attempt::Malformed;
    };
    let after = after.trim_start();
    let (first, tail) = after.split_once('\n').unwrap_or((after, ""));
    let first = first.trim_end();
    if request_id.is_empty() || first.is_empty() {
        return Attempt::Malformed;
    }
    let mut fields = Map::new();
    put(&mut fields, "requestId", request_id);
    let request = Some(request_id.to_string());
    let (kind, platform) = match first.strip_prefix("Error: ") {
        Some(detail) => match timed_out_seconds(detail) {
            Some(seconds) => {
                put_number(&mut fields, "seconds", seconds);
                (
                    "TIMEOUT",
                    PlatformEvent::Timeout {
                        request_id: request,
                        seconds,
                    },
                )
            }
            // The platform's wording for the kernel's OOM kill.
            None if detail.starts_with("Runtime exited with error: signal: killed") => {
                put(&mut fields, "detail", detail);
                (
                    "OUT_OF_MEMORY",
                    PlatformEvent::OutOfMemory {
                        request_id: request,
                    },
                )
            }
            None => {
                put(&mut fields, "detail", detail);
                (
                    "RUNTIME_EXIT",
                    PlatformEvent::RuntimeExit {
                        request_id: request,
                        detail: detail.to_string(),
                    },
                )
            }
        },
        None if first.starts_with("Process exited before completing request") => {
            put(&mut fields, "detail", first);
            (
                "RUNTIME_EXIT",
                PlatformEvent::RuntimeExit {
                    request_id: request,
                    detail: first.to_string(),
                },
            )
        }
        None => return Attempt::Malformed,
    };
    put(&mut fields, "type", kind);
    if let Some(error_type) = error_type_line(tail) {
        put(&mut fields, "errorType", error_type);
    }
    Attempt::Parsed(Parsed {
        platform: Some(platform),
        ..Parsed::new(Format::LambdaText, fields)
    })
}

/// The `Runtime.ExitError`-style line Lambda prints under a crash: one dotted word.
fn error_type_line(tail: &str) -> Option<&str> {
    let line = strip_newline(tail)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())?;
    let plausible =
        line.len() <= 128 && line.contains('.') && !line.bytes().any(|b| b.is_ascii_whitespace());
    plausible.then_some(line)
}

/// Fields being collected for one platform line, and whether any known field failed to parse.
struct Line {
    fields: Map<String, Value>,
    request_id: Option<String>,
    bad: bool,
}

impl Line {
    fn new(kind: &str) -> Line {
        let mut fields = Map::new();
        put(&mut fields, "type", kind);
        Line {
            fields,
            request_id: None,
            bad: false,
        }
    }

    fn request_id(&mut self, value: Option<&str>) {
        if let Some(id) = value {
            self.request_id = Some(id.to_string());
            put(&mut self.fields, "requestId", id);
        }
    }

    fn text(&mut self, name: &str, value: Option<&str>) -> Option<String> {
        let v = value?;
        put(&mut self.fields, name, v);
        Some(v.to_string())
    }

    /// A number field; a missing, non-numeric or negative value marks the line malformed (it
    /// is still kept: the other numbers are real). Every number Lambda prints on these lines is
    /// a duration or a size, so a negative one means the line was not printed by Lambda, and
    /// would otherwise become a negative `Duration` sample.
    fn number(&mut self, name: &str, value: Option<&str>) -> Option<f64> {
        let parsed = value
            .and_then(json_number)
            .filter(|n| n.as_f64().is_some_and(|f| f >= 0.0));
        let Some(n) = parsed else {
            self.bad = true;
            return None;
        };
        let f = n.as_f64();
        self.fields.insert(name.to_string(), Value::Number(n));
        f
    }

    /// Invocation lines are only worth keeping with the request id they are about.
    fn finish(self, event: impl FnOnce(String) -> PlatformEvent) -> Attempt {
        match self.request_id {
            Some(id) => Attempt::Parsed(Parsed {
                format: Format::LambdaText,
                platform: Some(event(id)),
                issue: self.bad.then_some(ParseIssue::MalformedPlatformLine),
                fields: self.fields,
                lazy: None,
            }),
            None => Attempt::Malformed,
        }
    }

    fn finish_without_request(self, event: PlatformEvent) -> Attempt {
        Attempt::Parsed(Parsed {
            format: Format::LambdaText,
            platform: Some(event),
            issue: self.bad.then_some(ParseIssue::MalformedPlatformLine),
            fields: self.fields,
            lazy: None,
        })
    }
}

fn put(fields: &mut Map<String, Value>, name: &str, value: &str) {
    fields.insert(name.to_string(), Value::String(value.to_string()));
}

fn put_number(fields: &mut Map<String, Value>, name: &str, value: f64) {
    if let Some(n) = serde_json::Number::from_f64(value) {
        fields.insert(name.to_string(), Value::Number(n));
    }
}

/// Keys compare with single spaces; a stray double space (`Billed  Duration`) is rare enough to
/// pay an allocation for.
fn norm(key: &str) -> Cow<'_, str> {
    if key.contains("  ") {
        Cow::Owned(key.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
    } else {
        Cow::Borrowed(key)
    }
}

/// Whitespace-separated tokens with their byte offset and whether a tab or line break (rather
/// than only spaces) came before them.
#[derive(Clone)]
struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Tokens<'a> {
        Tokens { s, pos: 0 }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = (usize, &'a str, bool);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.s.as_bytes();
        let mut broke = false;
        while let Some(&b) = bytes.get(self.pos).filter(|b| b.is_ascii_whitespace()) {
            broke |= b != b' ';
            self.pos += 1;
        }
        let start = self.pos;
        while bytes
            .get(self.pos)
            .is_some_and(|b| !b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
        // Both ends sit next to ASCII whitespace or the ends of the string: char boundaries.
        let token = self.s.get(start..self.pos).filter(|t| !t.is_empty())?;
        Some((start, token, broke))
    }
}

/// One `Key: value [unit]` of a platform line. `value` is `None` when the key ends its pair
/// (`Status:` followed by a tab or the end of the line).
struct Pair<'a> {
    key: &'a str,
    value: Option<&'a str>,
}

struct Pairs<'a> {
    s: &'a str,
    tokens: Tokens<'a>,
}

impl<'a> Pairs<'a> {
    fn new(s: &'a str) -> Pairs<'a> {
        Pairs {
            s,
            tokens: Tokens::new(s),
        }
    }

    /// The next token if it belongs to the same pair (no tab or line break before it).
    fn same_pair_token(&mut self) -> Option<&'a str> {
        let mut ahead = self.tokens.clone();
        match ahead.next() {
            Some((_, token, false)) => {
                self.tokens = ahead;
                Some(token)
            }
            _ => None,
        }
    }
}

/// Units Lambda prints after numbers; skipped so they are not read as the start of a key.
const UNITS: &[&str] = &["ms", "MB", "seconds"];

impl<'a> Iterator for Pairs<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        let mut key_start = None;
        loop {
            let (start, token, broke) = self.tokens.next()?;
            if broke {
                key_start = None;
            }
            let from = *key_start.get_or_insert(start);
            let Some(last_word) = token.strip_suffix(':') else {
                continue;
            };
            let key = self.s.get(from..start + last_word.len()).unwrap_or("");
            let value = self.same_pair_token();
            if value.is_some() {
                let mut ahead = self.tokens.clone();
                if let Some((_, unit, false)) = ahead.next() {
                    if UNITS.contains(&unit) {
                        self.tokens = ahead;
                    }
                }
            }
            return Some(Pair { key, value });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "c793869b-ee49-115b-a5b6-4fd21e8dedac";

    fn parsed(line: &str) -> Parsed {
        match parse_platform(line) {
            Attempt::Parsed(p) => p,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn report_of(line: &str) -> (Report, Parsed) {
        let p = parsed(line);
        match p.platform.clone() {
            Some(PlatformEvent::Report(r)) => (r, p),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn base_report() -> Report {
        Report {
            request_id: ID.into(),
            duration_ms: Some(128.83),
            billed_duration_ms: Some(200.0),
            memory_size_mb: Some(128.0),
            max_memory_used_mb: Some(74.0),
            ..Report::default()
        }
    }

    fn xray(trace: &str, segment: &str, sampled: bool) -> Option<XrayRef> {
        Some(XrayRef {
            trace_id: trace.into(),
            segment_id: Some(segment.into()),
            sampled: Some(sampled),
        })
    }

    #[test]
    fn report_lines() {
        let head = format!(
            "REPORT RequestId: {ID}\tDuration: 128.83 ms\tBilled Duration: 200 ms\tMemory Size: 128 MB\tMax Memory Used: 74 MB"
        );
        let trace = "1-5d9d007f-0a8c7fd02xmpl480aed55ef0";
        let cases: Vec<(String, Report)> = vec![
            (format!("{head}\t\n"), base_report()),
            (
                format!("{head}\tInit Duration: 166.62 ms\t\n"),
                Report {
                    init_duration_ms: Some(166.62),
                    ..base_report()
                },
            ),
            // X-Ray suffix on the same line (Node doc example)...
            (
                format!("{head}\tInit Duration: 166.62 ms\tXRAY TraceId: {trace}\tSegmentId: 3d752xmpl1bbe37e\tSampled: true\n"),
                Report {
                    init_duration_ms: Some(166.62),
                    xray: xray(trace, "3d752xmpl1bbe37e", true),
                    ..base_report()
                },
            ),
            // ...and on the next line of the same message (Go doc example).
            (
                format!("{head}\t\nXRAY TraceId: {trace}\tSegmentId: 3d752xmpl1bbe37e\tSampled: false\t\n"),
                Report {
                    xray: xray(trace, "3d752xmpl1bbe37e", false),
                    ..base_report()
                },
            ),
            (
                format!("{head}\tStatus: error\tError Type: Runtime.OutOfMemory\n"),
                Report {
                    status: Some("error".into()),
                    error_type: Some("Runtime.OutOfMemory".into()),
                    ..base_report()
                },
            ),
            (
                format!("{head}\tInit Duration: 551.73 ms\tStatus: error\tError Type: Runtime.OutOfMemory"),
                Report {
                    init_duration_ms: Some(551.73),
                    status: Some("error".into()),
                    error_type: Some("Runtime.OutOfMemory".into()),
                    ..base_report()
                },
            ),
            // SnapStart restore: no Init Duration, two restore numbers.
            (
                format!("{head}\tRestore Duration: 474.16 ms\tBilled Restore Duration: 236 ms\t\n"),
                Report {
                    restore_duration_ms: Some(474.16),
                    billed_restore_duration_ms: Some(236.0),
                    ..base_report()
                },
            ),
            // Older layout with a space before the tab, unknown key, missing Memory fields.
            (
                format!("REPORT RequestId: {ID}\tDuration: 128.83 ms \tBilled Duration: 200 ms \tNew Thing: 7 units\t\n"),
                Report {
                    memory_size_mb: None,
                    max_memory_used_mb: None,
                    ..base_report()
                },
            ),
            // Spaces only, no tabs at all.
            (
                format!("REPORT RequestId: {ID} Duration: 128.83 ms Billed Duration: 200 ms Memory Size: 128 MB Max Memory Used: 74 MB Status: timeout"),
                Report {
                    status: Some("timeout".into()),
                    ..base_report()
                },
            ),
        ];
        for (line, want) in cases {
            let (r, p) = report_of(&line);
            assert_eq!(r, want, "{line:?}");
            assert_eq!(p.format, Format::LambdaText);
            assert_eq!(p.issue, None, "{line:?}");
        }
    }

    #[test]
    fn timeout_report_with_two_spaces_in_a_key() {
        let line = format!("REPORT RequestId: {ID}\tDuration: 120000.00 ms\tBilled  Duration: 120000 ms\tMemory Size: 1024 MB\tMax Memory Used: 90 MB\tStatus: timeout");
        let (r, _) = report_of(&line);
        assert_eq!(r.duration_ms, Some(120000.0));
        assert_eq!(r.billed_duration_ms, Some(120000.0));
        assert_eq!(r.status.as_deref(), Some("timeout"));
    }

    #[test]
    fn report_fields_are_typed() {
        let line = format!("REPORT RequestId: {ID}\tDuration: 128.83 ms\tBilled Duration: 200 ms\tStatus: error\tXRAY TraceId: 1-a-b\tSegmentId: s1\tSampled: true\n");
        let p = parsed(&line);
        let want = serde_json::json!({
            "type": "REPORT",
            "requestId": ID,
            "durationMs": 128.83,
            "billedDurationMs": 200,
            "status": "error",
            "xrayTraceId": "1-a-b",
            "xraySegmentId": "s1",
            "xraySampled": true,
        });
        assert_eq!(Value::Object(p.fields), want);
    }

    #[test]
    fn damaged_report_keeps_what_parses() {
        let cases = [
            format!("REPORT RequestId: {ID}\tDuration: banana ms\tBilled Duration: 200 ms"),
            format!("REPORT RequestId: {ID}\tDuration: inf ms\tBilled Duration: 200 ms"),
            format!("REPORT RequestId: {ID}\tDuration:\tBilled Duration: 200 ms"),
            format!("REPORT RequestId: {ID}\tDuration: -5 ms\tBilled Duration: 200 ms"),
        ];
        for line in &cases {
            let (r, p) = report_of(line);
            assert_eq!(r.request_id, ID, "{line:?}");
            assert_eq!(r.duration_ms, None, "{line:?}");
            assert_eq!(r.billed_duration_ms, Some(200.0), "{line:?}");
            assert_eq!(p.issue, Some(ParseIssue::MalformedPlatformLine), "{line:?}");
            assert!(!p.fields.contains_key("durationMs"));
        }
        // The spec's own example: spaces, and the id right before a damaged number.
        let (r, p) = report_of("REPORT RequestId: x Duration: banana ms");
        assert_eq!((r.request_id.as_str(), r.duration_ms), ("x", None));
        assert_eq!(p.issue, Some(ParseIssue::MalformedPlatformLine));
    }

    #[test]
    fn lines_that_only_look_like_platform_lines() {
        let malformed = [
            "REPORT card printed",
            "REPORT",
            "REPORT RequestId:",
            "REPORT RequestId:\tDuration: 1 ms",
            "START the engine",
            "END of file",
            "INIT_START something",
            "INIT_REPORT nothing here",
            "RequestId: abc",
            "RequestId: abc did something odd",
            "RequestId:",
        ];
        for line in malformed {
            assert!(
                matches!(parse_platform(line), Attempt::Malformed),
                "{line:?}"
            );
        }
        for line in [
            "STARTED job",
            "ENDING",
            "REPORTS: 3",
            "Request done",
            "I am here",
        ] {
            assert!(matches!(parse_platform(line), Attempt::No), "{line:?}");
        }
    }

    #[test]
    fn start_end_init() {
        let cases: Vec<(String, PlatformEvent, Value)> = vec![
            (
                format!("START RequestId: {ID} Version: $LATEST\n"),
                PlatformEvent::Start {
                    request_id: ID.into(),
                    version: Some("$LATEST".into()),
                },
                serde_json::json!({"type": "START", "requestId": ID, "version": "$LATEST"}),
            ),
            (
                format!("START RequestId: {ID}"),
                PlatformEvent::Start {
                    request_id: ID.into(),
                    version: None,
                },
                serde_json::json!({"type": "START", "requestId": ID}),
            ),
            (
                format!("END RequestId: {ID}\n"),
                PlatformEvent::End {
                    request_id: ID.into(),
                },
                serde_json::json!({"type": "END", "requestId": ID}),
            ),
            (
                "INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc123\n".into(),
                PlatformEvent::InitStart {
                    runtime_version: Some("python:3.12.v18".into()),
                    runtime_version_arn: Some("arn:aws:lambda:us-east-1::runtime:abc123".into()),
                },
                serde_json::json!({"type": "INIT_START", "runtimeVersion": "python:3.12.v18", "runtimeVersionArn": "arn:aws:lambda:us-east-1::runtime:abc123"}),
            ),
            (
                "INIT_REPORT Init Duration: 10006.42 ms\tPhase: init\tStatus: timeout\n".into(),
                PlatformEvent::InitReport {
                    init_duration_ms: Some(10006.42),
                    phase: Some("init".into()),
                    status: Some("timeout".into()),
                    error_type: None,
                },
                serde_json::json!({"type": "INIT_REPORT", "initDurationMs": 10006.42, "phase": "init", "status": "timeout"}),
            ),
            (
                "INIT_REPORT Init Duration: 551.73 ms Phase: invoke Status: error Error Type: Runtime.ExitError".into(),
                PlatformEvent::InitReport {
                    init_duration_ms: Some(551.73),
                    phase: Some("invoke".into()),
                    status: Some("error".into()),
                    error_type: Some("Runtime.ExitError".into()),
                },
                serde_json::json!({"type": "INIT_REPORT", "initDurationMs": 551.73, "phase": "invoke", "status": "error", "errorType": "Runtime.ExitError"}),
            ),
        ];
        for (line, event, fields) in cases {
            let p = parsed(&line);
            assert_eq!(p.platform, Some(event), "{line:?}");
            assert_eq!(Value::Object(p.fields), fields, "{line:?}");
            assert_eq!(p.issue, None);
        }
    }

    #[test]
    fn crash_lines() {
        let cases: Vec<(String, PlatformEvent, Option<&str>)> = vec![
            (
                format!("RequestId: {ID} Error: Runtime exited with error: signal: killed\nRuntime.ExitError\n"),
                PlatformEvent::OutOfMemory {
                    request_id: Some(ID.into()),
                },
                Some("Runtime.ExitError"),
            ),
            (
                format!("RequestId: {ID} Error: Runtime exited with error: signal: killed"),
                PlatformEvent::OutOfMemory {
                    request_id: Some(ID.into()),
                },
                None,
            ),
            (
                format!("RequestId: {ID} Error: Runtime exited with error: exit status 1\n\tRuntime.ExitError"),
                PlatformEvent::RuntimeExit {
                    request_id: Some(ID.into()),
                    detail: "Runtime exited with error: exit status 1".into(),
                },
                Some("Runtime.ExitError"),
            ),
            (
                format!("RequestId: {ID} Process exited before completing request\n"),
                PlatformEvent::RuntimeExit {
                    request_id: Some(ID.into()),
                    detail: "Process exited before completing request".into(),
                },
                None,
            ),
            (
                format!("RequestId: {ID} Error: Task timed out after 3.00 seconds"),
                PlatformEvent::Timeout {
                    request_id: Some(ID.into()),
                    seconds: 3.0,
                },
                None,
            ),
        ];
        for (line, event, error_type) in cases {
            let p = parsed(&line);
            assert_eq!(p.platform, Some(event), "{line:?}");
            assert_eq!(p.format, Format::LambdaText);
            assert_eq!(p.fields.get("requestId"), Some(&Value::from(ID)));
            assert_eq!(
                p.fields.get("errorType").and_then(Value::as_str),
                error_type,
                "{line:?}"
            );
        }
    }

    #[test]
    fn timeout_lines() {
        let cases = [
            (
                "2019-02-13T20:12:38.950Z 41a10717-e9af-11e7-892c-5bb1a4054ed6 Task timed out after 300.09 seconds\n",
                Some(300.09),
            ),
            (
                "2019-02-13T20:12:38.950Z\t41a10717-e9af-11e7-892c-5bb1a4054ed6\tTask timed out after 3.00 seconds",
                Some(3.0),
            ),
            ("2019-02-13T20:12:38.950Z 41a1 Task timed out after soon seconds", None),
            ("2019-02-13T20:12:38.950Z 41a1 Task finished", None),
            ("2019-02-13 41a1 Task timed out after 3 seconds", None),
            ("12 41a1 Task timed out after 3 seconds", None),
        ];
        for (line, seconds) in cases {
            let p = parse_timeout_line(line);
            assert_eq!(
                p.as_ref().and_then(|p| match p.platform {
                    Some(PlatformEvent::Timeout { seconds, .. }) => Some(seconds),
                    _ => None,
                }),
                seconds,
                "{line:?}"
            );
            if let Some(p) = p {
                assert_eq!(p.fields.get("type"), Some(&Value::from("TIMEOUT")));
                assert_eq!(
                    p.fields.get("requestId"),
                    Some(&Value::from("41a10717-e9af-11e7-892c-5bb1a4054ed6"))
                );
            }
        }
    }

    #[test]
    fn tokens_report_breaks() {
        let toks: Vec<_> = Tokens::new(" a\tb  c\nd ").collect();
        assert_eq!(
            toks,
            vec![
                (1, "a", false),
                (3, "b", true),
                (6, "c", false),
                (8, "d", true)
            ]
        );
    }
}
