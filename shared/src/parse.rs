//! Turns each log event's message into a typed `Record`: JSON application logs, Lambda platform
//! lines (text and JSON log format), key=value, access logs, or plain text.
//!
//! STUB: JSON objects and plain text only.

use std::sync::Arc;

use serde_json::Value;

use crate::record::{Format, LogEvent, ParseIssue, Record, Source};

/// Parses one event. Never fails: anything unrecognised is kept as text, with `issue` set when
/// the message looked structured but was not.
pub fn parse_event(source: &Arc<Source>, event: LogEvent) -> Record {
    let mut rec = Record::text(source.clone(), event);
    let trimmed = rec.message.trim();
    if trimmed.starts_with('{') {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(m)) => {
                rec.fields = m;
                rec.format = Format::Json;
            }
            Ok(_) => {}
            Err(e) => rec.issue = Some(ParseIssue::InvalidJson(e.to_string())),
        }
    }
    rec
}
