//! A fixed set of patterns (one of each kind, wildcards and regexes included) matched against
//! arbitrary lines, as text and, after parsing, as JSON records.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use logsieve::parse::parse_event;
use logsieve::pattern::{FilterPattern, MatchInput};
use logsieve::pipeline::match_input;
use logsieve::record::{LogEvent, Source};

const PATTERNS: &[&str] = &[
    "ERROR",
    "?ERROR ?WARN -DEBUG",
    r#""connection reset" timeout"#,
    "%[0-9]{3}ms%",
    "[ip, id, user, timestamp, request, status_code = 4*, size, ...]",
    "[w1, w2 != \"x\", ..., last = %[a-z]+%]",
    r#"{ $.level = "ERROR" || $.status >= 500 }"#,
    r#"{ ($.a.b[*] = 1 && $.c NOT EXISTS) || $.d IS NULL }"#,
    r#"{ $.* = "x*" }"#,
    r#"{ $.latency_ms > 100.5 && $.service != "health" }"#,
    r#"{ $.['dotted.key'] = %^v[0-9]+$% }"#,
];

fn patterns() -> &'static [FilterPattern] {
    static COMPILED: OnceLock<Vec<FilterPattern>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|p| match FilterPattern::compile(p) {
                Ok(c) => c,
                Err(e) => panic!("{p}: {e}"),
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data).into_owned();
    let source = Arc::new(Source::default());
    let record = parse_event(
        &source,
        LogEvent {
            message: line.clone(),
            ..LogEvent::default()
        },
    );
    let as_record = match_input(&record);
    let as_text = MatchInput {
        message: &line,
        json: None,
    };
    for p in patterns() {
        for input in [&as_text, &as_record] {
            let m = p.matches(input);
            assert_eq!(p.is_match(input), m.is_some(), "{}", p.source());
        }
    }
});
