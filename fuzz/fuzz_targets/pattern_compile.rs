//! Arbitrary text as a filter pattern: compiling never panics, and a compiled pattern matches
//! consistently (`is_match` agrees with `matches`) on a few fixed inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logsieve::pattern::{FilterPattern, MatchInput};
use logsieve::record::Fields;
use serde_json::{Map, Value};

const LINES: &[&str] = &[
    "",
    "ERROR something failed: code=500 latency=12.5",
    r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326"#,
    r#"{"level":"ERROR","status":503,"a":{"b":[1,"x",{"c":null}]},"msg":"boom"}"#,
    "REPORT RequestId: 6234\tDuration: 46.84 ms\t",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pattern) = FilterPattern::compile(text) else {
        return;
    };
    for line in LINES {
        let json = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => Some(m),
            _ => None::<Map<String, Value>>,
        };
        let input = MatchInput {
            message: line,
            json: json.as_ref().map(Fields::from),
        };
        assert_eq!(pattern.is_match(&input), pattern.matches(&input).is_some());
    }
});
