//! Arbitrary text as one log message: the parser never panics and keeps the message, and the
//! lazy JSON path (the lean pipeline's) agrees with the eager one in every respect.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use logsieve::parse::{parse_event, parse_event_lazy};
use logsieve::record::{Format, LogEvent, Source};

fuzz_target!(|data: &[u8]| {
    let message = String::from_utf8_lossy(data).into_owned();
    let source = Arc::new(Source {
        log_group: "/aws/lambda/fuzz".into(),
        ..Source::default()
    });
    let event = LogEvent {
        id: "1".into(),
        timestamp: 1_700_000_000_000,
        message: message.clone(),
        extracted_fields: None,
    };
    let lazy = parse_event_lazy(&source, event.clone());
    let mut record = parse_event(&source, event);
    assert_eq!(lazy.format, record.format);
    assert_eq!(lazy.issue, record.issue);
    assert_eq!(lazy.platform, record.platform);
    assert_eq!(record.message, message);
    let fields = record.fields_mut().clone();
    for (k, v) in &fields {
        assert_eq!(lazy.fields_view().get(k), Some(v), "{k}");
    }
    assert_eq!(lazy.into_fields(), fields);
    if record.format == Format::Text {
        assert!(fields.contains_key("message"));
    }
    // The JSON view must serialize (the selector writes it to `records`).
    assert!(serde_json::to_string(&fields).is_ok());
});
