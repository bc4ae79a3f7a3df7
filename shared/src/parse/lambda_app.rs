//! Application lines that Lambda's managed runtimes print in the text log format:
//! Node `<time>\t<requestId>\t<LEVEL>\t<message>` and Python `[LEVEL]\t<time>\t<requestId>\t<message>`.
//!
//! When the message is itself a JSON object (a structured logger writing through `console.log`
//! or `print`), its fields are merged in, and on a clash:
//! - `timestamp` and `requestId` come from Lambda, so every line of this format carries the same
//!   RFC 3339 string and the id that correlates it with its REPORT line;
//! - `level` comes from the object when it is a level name (the logger knows the severity;
//!   `console.log` is always INFO), else from Lambda (pino's numeric levels are not names);
//! - `message` comes from the object when it has one (the raw line is still `Record::message`).

use serde_json::{Map, Value};

use super::lambda_text::looks_like_rfc3339;
use super::{strip_newline, Parsed};
use crate::record::{Format, Level};

/// Levels the Node runtime prints (`console.trace` … `console.error`, plus FATAL via JSON mode).
const NODE_LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// Longest Python `levelname` we accept between brackets (`CRITICAL` is 8).
const MAX_LEVEL_LEN: usize = 10;

/// Request ids are UUIDs; Node prints `undefined` outside a handler. Anything longer is not one.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Node: `2019-06-07T19:11:20.563Z\t<requestId>\tINFO\tmessage`. Node 8/10 printed no level,
/// so a third column that is not a level is the start of the message.
pub(super) fn parse_node(message: &str) -> Option<Parsed> {
    let (timestamp, rest) = message.split_once('\t')?;
    if !looks_like_rfc3339(timestamp) {
        return None;
    }
    let (request_id, rest) = rest.split_once('\t')?;
    if !plausible_request_id(request_id) {
        return None;
    }
    let (level, text) = match rest.split_once('\t') {
        Some((level, text)) if NODE_LEVELS.contains(&level) => (Some(level), text),
        _ => (None, rest),
    };
    Some(app_line(timestamp, request_id, level, text))
}

/// Python: `[INFO]\t2025-06-04T12:46:22.643Z\t<requestId>\tmessage`; the request id is empty
/// for lines logged during init.
pub(super) fn parse_python(message: &str) -> Option<Parsed> {
    let rest = message.strip_prefix('[')?;
    let close = rest
        .bytes()
        .take(MAX_LEVEL_LEN + 1)
        .position(|b| b == b']')?;
    let (level, rest) = rest.split_at_checked(close)?;
    if level.is_empty() || !level.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let rest = rest.strip_prefix("]\t")?;
    let (timestamp, rest) = rest.split_once('\t')?;
    if !looks_like_rfc3339(timestamp) {
        return None;
    }
    let (request_id, text) = rest.split_once('\t')?;
    if !request_id.is_empty() && !plausible_request_id(request_id) {
        return None;
    }
    Some(app_line(timestamp, request_id, Some(level), text))
}

fn plausible_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && !id.bytes().any(|b| b.is_ascii_whitespace())
}

fn app_line(timestamp: &str, request_id: &str, level: Option<&str>, text: &str) -> Parsed {
    let text = strip_newline(text);
    let mut fields = embedded_object(text).unwrap_or_default();
    fields.insert("timestamp".into(), Value::String(timestamp.to_string()));
    if !request_id.is_empty() {
        fields.insert("requestId".into(), Value::String(request_id.to_string()));
    }
    if let Some(level) = level {
        let own = fields
            .get("level")
            .and_then(Value::as_str)
            .and_then(Level::parse);
        if own.is_none() {
            fields.insert("level".into(), Value::String(level.to_string()));
        }
    }
    fields
        .entry("message")
        .or_insert_with(|| Value::String(text.to_string()));
    Parsed::new(Format::LambdaTextApp, fields)
}

/// The message's own fields when it is exactly one JSON object.
fn embedded_object(text: &str) -> Option<Map<String, Value>> {
    let t = text.trim();
    if !(t.starts_with('{') && t.ends_with('}')) {
        return None;
    }
    super::lambda_json::parse_object(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "8f507cfc-xmpl-4697-b07a-ac58fc914c95";

    #[test]
    fn app_lines() {
        type Parser = fn(&str) -> Option<Parsed>;
        let cases: Vec<(Parser, String, Value)> = vec![
            (
                parse_node,
                format!("2019-06-07T19:11:20.563Z\t{ID}\tINFO\tENVIRONMENT VARIABLES\n"),
                json!({"timestamp": "2019-06-07T19:11:20.563Z", "requestId": ID, "level": "INFO", "message": "ENVIRONMENT VARIABLES"}),
            ),
            // Tabs and newlines inside the message stay in it.
            (
                parse_node,
                format!("2019-06-07T19:11:20.563Z\t{ID}\tERROR\tInvoke Error\tat x\n    at y\n"),
                json!({"timestamp": "2019-06-07T19:11:20.563Z", "requestId": ID, "level": "ERROR", "message": "Invoke Error\tat x\n    at y"}),
            ),
            // Node 8/10: no level column.
            (
                parse_node,
                format!("2019-06-07T19:11:20.563Z\t{ID}\thello"),
                json!({"timestamp": "2019-06-07T19:11:20.563Z", "requestId": ID, "message": "hello"}),
            ),
            (
                parse_node,
                "2019-06-07T19:11:20.563Z\tundefined\tINFO\tinit done".into(),
                json!({"timestamp": "2019-06-07T19:11:20.563Z", "requestId": "undefined", "level": "INFO", "message": "init done"}),
            ),
            (
                parse_python,
                format!("[INFO]\t2025-06-04T12:46:22.643Z\t{ID}\tProcessing order 42\n"),
                json!({"timestamp": "2025-06-04T12:46:22.643Z", "requestId": ID, "level": "INFO", "message": "Processing order 42"}),
            ),
            (
                parse_python,
                "[WARNING]\t2025-06-04T12:46:22.643Z\t\tFound credentials in environment variables.\n".into(),
                json!({"timestamp": "2025-06-04T12:46:22.643Z", "level": "WARNING", "message": "Found credentials in environment variables."}),
            ),
            // Embedded JSON: its fields merge; Lambda's id and time win, the app's level wins.
            (
                parse_node,
                format!("2019-06-07T19:11:20.563Z\t{ID}\tINFO\t{{\"level\":\"error\",\"message\":\"db down\",\"requestId\":\"spoof\",\"retries\":3}}\n"),
                json!({"timestamp": "2019-06-07T19:11:20.563Z", "requestId": ID, "level": "error", "message": "db down", "retries": 3}),
            ),
            // pino: numeric level is not a level name, so Lambda's stays; no message → the raw text.
            (
                parse_python,
                format!("[ERROR]\t2025-06-04T12:46:22.643Z\t{ID}\t{{\"level\":50,\"msg\":\"x\"}}"),
                json!({"timestamp": "2025-06-04T12:46:22.643Z", "requestId": ID, "level": "ERROR", "msg": "x", "message": "{\"level\":50,\"msg\":\"x\"}"}),
            ),
            // Braces that are not JSON stay text.
            (
                parse_node,
                format!("2019-06-07T19:11:20.563Z\t{ID}\tINFO\t{{not json}}"),
                json!({"timestamp": "2019-06-07T19:11:20.563Z", "requestId": ID, "level": "INFO", "message": "{not json}"}),
            ),
        ];
        for (parser, line, want) in cases {
            let p = parser(&line).unwrap_or_else(|| panic!("not parsed: {line:?}"));
            assert_eq!(p.format, Format::LambdaTextApp, "{line:?}");
            assert_eq!(Value::Object(p.fields), want, "{line:?}");
        }
    }

    #[test]
    fn not_app_lines() {
        let node = [
            "2019-06-07T19:11:20.563Z INFO spaces not tabs",
            "2019-06-07\tabc\tINFO\tx",
            "2019-06-07T19:11:20.563Z\tonly one tab",
            "2019-06-07T19:11:20.563Z\t\tINFO\tempty id",
            "12345\tabc\tINFO\tx",
        ];
        for line in node {
            assert!(parse_node(line).is_none(), "{line:?}");
        }
        let python = [
            "[INFO] 2025-06-04T12:46:22.643Z abc spaces",
            "[info]\t2025-06-04T12:46:22.643Z\tabc\tlowercase",
            "[]\t2025-06-04T12:46:22.643Z\tabc\tx",
            "[INFORMATIONAL]\t2025-06-04T12:46:22.643Z\tabc\tx",
            "[ERROR] KeyError: 'x'\nTraceback (most recent call last):",
            "[INFO]\tnot-a-time\tabc\tx",
            "[INFO]\t2025-06-04T12:46:22.643Z\tno message tab",
            "[",
        ];
        for line in python {
            assert!(parse_python(line).is_none(), "{line:?}");
        }
    }
}
