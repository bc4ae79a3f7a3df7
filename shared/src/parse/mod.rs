//! Turns each log event's message into a typed `Record`: JSON application logs, Lambda platform
//! lines (text and JSON log format), Lambda text application lines, access logs, key=value, or
//! plain text. Parsing never fails: anything unrecognised is kept as text.
//!
//! Dispatch looks at the first byte so the common cases cost one comparison before their own
//! parser runs: `{` → JSON; `S`/`E`/`R`/`I` → Lambda text platform lines; a digit → Lambda timeout
//! line or Node app line; `[` → Python app line. Whatever those do not claim is tried as an access
//! log, then as key=value, then kept as text.
//!
//! # `fields` per format (what field paths and JSON filter patterns address)
//!
//! - `Json`, `LambdaJsonApp`, `LambdaJsonPlatform`, `CloudTrail`: the parsed object, unchanged
//!   (so platform records are at `$.record.metrics.durationMs`, as in Lambda's own schema, and a
//!   CloudTrail record's caller at `$.userIdentity.type` / `$.userIdentity.arn`).
//! - `LambdaText` (see `lambda_text.rs`): a flat view with a `type` of `START`, `END`, `REPORT`,
//!   `INIT_START`, `INIT_REPORT`, `TIMEOUT`, `OUT_OF_MEMORY` or `RUNTIME_EXIT` and, when present
//!   on the line: `requestId`, `version`, `durationMs`, `billedDurationMs`, `memorySizeMB`,
//!   `maxMemoryUsedMB`, `initDurationMs`, `restoreDurationMs`, `billedRestoreDurationMs`,
//!   `status`, `errorType`, `xrayTraceId`, `xraySegmentId`, `xraySampled` (bool),
//!   `runtimeVersion`, `runtimeVersionArn`, `phase`, `timestamp`, `seconds`, `detail`.
//!   Durations and sizes are JSON numbers; keys absent from the line are absent here.
//! - `LambdaTextApp`: `timestamp`, `requestId`, `level` (when printed), `message`, plus the
//!   fields of the message when it is itself a JSON object (see `lambda_app.rs`).
//! - `AccessLog`: `remote_addr`, `user`, `time`, `request`, `method`, `path`, `protocol`,
//!   `status` (number), `bytes` (number), `referer`, `user_agent` (see `access.rs`).
//! - `KeyValue`: one field per pair; see `logfmt.rs` for when values become numbers.
//! - `Text`: `message`, the message without its trailing newline.

mod access;
mod lambda_app;
mod lambda_json;
mod lambda_text;
mod logfmt;
mod xray;

use std::sync::Arc;

use serde_json::{Map, Number, Value};

use crate::record::{Format, LogEvent, ParseIssue, PlatformEvent, Record, Source};

pub use crate::json::object::{LazyObject, MemberValue, RawValue};
pub use xray::parse_xray_header;

use crate::json::is_json_number;

/// Parses one event. Never fails: anything unrecognised is kept as text, with `issue` set when
/// the message looked structured but was not.
pub fn parse_event(source: &Arc<Source>, event: LogEvent) -> Record {
    parse_event_with(source, event, false)
}

/// Like [`parse_event`], but a JSON object message may be indexed instead of parsed: its
/// members become values only when a stage reads them (`Record::fields_view`), and
/// `Record::fields` stays empty. For the lean pipeline, whose stages read a few fields and whose
/// records are not output; the format, platform event and parse issue are the same either way.
pub fn parse_event_lazy(source: &Arc<Source>, event: LogEvent) -> Record {
    parse_event_with(source, event, true)
}

fn parse_event_with(source: &Arc<Source>, event: LogEvent, lazy: bool) -> Record {
    let mut rec = Record::text(source.clone(), event);
    let parsed = parse_message(&rec.message, lazy);
    rec.format = parsed.format;
    rec.set_parsed(parsed.fields, parsed.lazy);
    rec.platform = parsed.platform;
    rec.issue = parsed.issue;
    rec
}

/// What one format parser recognised; `parse_event` moves it into the record.
#[derive(Debug)]
struct Parsed {
    format: Format,
    fields: Map<String, Value>,
    /// Set instead of `fields` by the lazy JSON path.
    lazy: Option<LazyObject>,
    platform: Option<PlatformEvent>,
    issue: Option<ParseIssue>,
}

impl Parsed {
    fn new(format: Format, fields: Map<String, Value>) -> Parsed {
        Parsed {
            format,
            fields,
            lazy: None,
            platform: None,
            issue: None,
        }
    }

    /// The fallback: the whole message as `message`.
    fn text(message: &str, issue: Option<ParseIssue>) -> Parsed {
        let mut fields = Map::new();
        fields.insert(
            "message".to_string(),
            Value::String(strip_newline(message).to_string()),
        );
        Parsed {
            issue,
            ..Parsed::new(Format::Text, fields)
        }
    }
}

/// The answer of a parser that claimed the message by its prefix.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per event and moved straight into the record; boxing would add an allocation per event"
)]
enum Attempt {
    Parsed(Parsed),
    /// The prefix promised this format but the rest did not deliver; other parsers may still
    /// claim it, and if none does the text record carries `MalformedPlatformLine`.
    Malformed,
    /// Not this format at all.
    No,
}

fn parse_message(message: &str, lazy: bool) -> Parsed {
    let bytes = message.as_bytes();
    let attempt = match bytes.first() {
        Some(b'S' | b'E' | b'R' | b'I') => lambda_text::parse_platform(message),
        Some(b'0'..=b'9') => match lambda_text::parse_timeout_line(message) {
            Some(p) => Attempt::Parsed(p),
            None => lambda_app::parse_node(message).map_or(Attempt::No, Attempt::Parsed),
        },
        Some(b'[') => lambda_app::parse_python(message).map_or(Attempt::No, Attempt::Parsed),
        Some(b) if b.is_ascii_whitespace() || *b == b'{' => {
            let trimmed = message.trim_start();
            if trimmed.starts_with('{') {
                if lazy {
                    let base = message.len() - trimmed.len();
                    if let Some(p) = lambda_json::parse_lazy(trimmed, base) {
                        return p;
                    }
                }
                return lambda_json::parse(message, trimmed);
            }
            Attempt::No
        }
        _ => Attempt::No,
    };
    let malformed = match attempt {
        Attempt::Parsed(p) => return p,
        Attempt::Malformed => true,
        Attempt::No => false,
    };
    if let Some(p) = access::parse(message) {
        return p;
    }
    if let Some(p) = logfmt::parse(message) {
        return p;
    }
    Parsed::text(
        message,
        malformed.then_some(ParseIssue::MalformedPlatformLine),
    )
}

/// CloudWatch delivers most messages with the writer's trailing newline; fields do not want it.
fn strip_newline(s: &str) -> &str {
    s.trim_end_matches(['\n', '\r'])
}

/// Longer digit strings stay text: no log number needs them, and it bounds float parsing.
const MAX_NUMBER_LEN: usize = 64;

/// `s` as a JSON number when it is one exactly by JSON's grammar (so `007`, `+1`, `1.`, `inf`,
/// `NaN`, `0x10` stay strings) and fits without loss of magnitude: integers must fit `i64`/`u64`
/// (ids beyond that stay strings rather than being rounded), floats must be finite.
fn json_number(s: &str) -> Option<Number> {
    if s.len() > MAX_NUMBER_LEN || !is_json_number(s.as_bytes()) {
        return None;
    }
    if s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        let f: f64 = s.parse().ok()?;
        return Number::from_f64(f);
    }
    match s.parse::<i64>() {
        Ok(i) => Some(Number::from(i)),
        Err(_) => s.parse::<u64>().ok().map(Number::from),
    }
}

#[cfg(test)]
mod tests;
