//! Conformance table for the CloudWatch filter-pattern language, built from the examples in
//! AWS's "Filter pattern syntax" and "Supported regular expressions" pages (docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html), plus
//! the edge rules the module documents where AWS is silent.

use logsieve::pattern::{FilterPattern, MatchInput, PatternKind, MAX_NESTING_DEPTH};
use logsieve::record::Fields;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// The CloudTrail-like event from the JSON section of the docs.
const TRAIL: &str = r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111","arrayKey":["value","another value"],"objectList":[{"name":"a","id":1},{"name":"b","id":2}],"SomeObject":null,"ThisFlag":true}"#;
/// The event from the docs' compound-condition examples.
const USERS: &str = r#"{"user":{"id":1,"email":"John.Stiles@example.com"},"users":[{"id":2,"email":"John.Doe@example.com"},{"id":3,"email":"Jane.Doe@example.com"}],"actions":["GET","PUT","DELETE"],"coordinates":[[0,1,2],[4,5,6],[7,8,9]]}"#;
/// Values for the docs' numeric examples (`$.latency`, `$.numbers[0]`, `$.processes[4]`…).
const NUMS: &str = r#"{"latency":600,"numbers":[5,0.001],"processes":[{},{},{},{},{"averageRuntime":55.5}],"errorCode":400}"#;
const DOTTED: &str = r#"{"cluster.name":"prod","cluster":{"name":"dev"}}"#;

/// The Apache access-log lines from the space-delimited section.
const APACHE_200: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#;
const APACHE_500: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324"#;
const APACHE_404: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
const APACHE_410: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 410 1534"#;
const APACHE_403: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 403 1534"#;
const LOCAL_0: &str =
    r#"127.0.0.0 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 200 1534"#;

/// `(pattern, input, expected match, expected extracted values as a JSON object or "")`.
/// Inputs starting with `{` are also handed to the matcher as the event's JSON object.
/// An empty `extracted` means "not checked"; `"{}"` means "nothing extracted".
const CASES: &[(&str, &str, bool, &str)] = &[
    // --- unstructured terms -------------------------------------------------------------
    ("ERROR", "[ERROR] A fatal exception has occurred", true, "{}"),
    ("ERROR", "Exiting with ERRORCODE: -1", true, "{}"),
    ("ERROR", "error: lower case", false, ""),
    ("\"ERROR\" -\"Exiting\"", "Exiting with ERRORCODE: -1", false, ""),
    ("\"ERROR\" -\"Exiting\"", "[ERROR] A fatal exception has occurred", true, ""),
    ("\"ERROR\" - \"Exiting\"", "Exiting with ERRORCODE: -1", false, ""),
    ("ERROR Exception", "[ERROR] Caught IllegalArgumentException", true, ""),
    ("ERROR Exception", "[ERROR] Unhandled Exception", true, ""),
    ("ERROR Exception", "[ERROR] all fine", false, ""),
    ("Failed to process the request", "[WARN] Failed to process the request", true, ""),
    ("Failed to process the request", "[ERROR] Unable to continue: Failed to process the request", true, ""),
    ("Failed to process the request", "request failed to process", false, ""),
    ("ERROR", "ERROR WARN message", true, ""),
    ("ERROR", "WARN message", false, ""),
    ("?ERROR ?WARN", "ERROR WARN message", true, ""),
    ("?ERROR ?WARN", "ERROR message", true, ""),
    ("?ERROR ?WARN", "WARN message", true, ""),
    ("?ERROR ?WARN", "INFO message", false, ""),
    ("ERROR WARN", "ERROR WARN message", true, ""),
    ("ERROR WARN", "ERROR message", false, ""),
    ("ERROR -WARN", "ERROR message", true, ""),
    ("ERROR -WARN", "ERROR WARN message", false, ""),
    // AWS: `?` terms mixed with plain terms are ignored, so this is just `REQUEST`.
    ("?ERROR ?ARGUMENTS REQUEST", "ERROR ARGUMENTS", false, ""),
    ("?ERROR ?ARGUMENTS REQUEST", "REQUEST received", true, ""),
    ("?ERROR ?WARN -DEBUG", "INFO only", true, ""),
    ("\"INTERNAL SERVER ERROR\"", "500 INTERNAL SERVER ERROR", true, ""),
    ("\"INTERNAL SERVER ERROR\"", "INTERNAL ERROR SERVER", false, ""),
    ("?\"Time out\" ?\"Error\"", "Time out after 3s", true, ""),
    ("-DEBUG", "INFO started", true, ""),
    ("-DEBUG", "DEBUG started", false, ""),
    ("ERROR:", "ERROR: disk full", true, ""),
    ("\" \"", "", true, "{}"),
    ("\"\"", "anything", true, ""),
    ("", "anything", true, "{}"),
    // --- standalone regex ----------------------------------------------------------------
    ("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", true, "{}"),
    ("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST", true, ""),
    ("%AUTHORIZED%", "[SUCCESS 200] OK", false, ""),
    ("%^[hc]at%", "hat trick", true, ""),
    ("%^[hc]at%", "that", false, ""),
    ("%[hc]at$%", "a cat", true, ""),
    ("%[hc]at$%", "cats", false, ""),
    ("%colou?r%", "color", true, ""),
    ("%colou?r%", "colour", true, ""),
    ("%a{3,5}%", "baaab", true, ""),
    ("%a{3,5}%", "baab", false, ""),
    ("%a{,2}b%", "b", true, ""),
    ("%[abcx-z]%", "y", true, ""),
    ("%[abcx-z]%", "w", false, ""),
    ("%\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}%", "from 10.0.0.1 ok", true, ""),
    ("%\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}%", "from 10.0.0 ok", false, ""),
    ("%[Ee]rror|[Ff]ail%", "request fail", true, ""),
    ("%[Ee]rror|[Ff]ail%", "Error!", true, ""),
    ("%[Ee]rror|[Ff]ail%", "all good", false, ""),
    ("%\\x21%", "hi!", true, ""),
    ("%a\\sb%", "a\tb", true, ""),
    ("%a\\sb%", "ab", false, ""),
    ("%^\\w+@example\\.com$%", "jane_doe@example.com", true, ""),
    ("%^\\w+@example\\.com$%", "jané@example.com", false, ""),
    ("%\\D\\S\\W%", "a-!", true, ""),
    // AWS's example from "Supported regular expressions": a literal space inside `%…%`.
    ("%^starting|^initializing|^shutting down%", "shutting down the worker", true, "{}"),
    ("%^starting|^initializing|^shutting down%", "initializing cache", true, ""),
    ("%^starting|^initializing|^shutting down%", "worker shutting down", false, ""),
    ("%^starting|^initializing|^shutting down%", "shutting_down", false, ""),
    ("{ $.eventType = %Update Trail% }", TRAIL, false, ""),
    ("{ $.arrayKey[1] = %^another value$% }", TRAIL, true, ""),
    // --- JSON: the docs' CloudTrail example -----------------------------------------------
    ("{ $.eventType = \"UpdateTrail\" }", TRAIL, true, r#"{"$.eventType":"UpdateTrail"}"#),
    ("{ $.eventType = UpdateTrail }", TRAIL, true, ""),
    ("{ $.sourceIPAddress != 123.123.* }", TRAIL, true, r#"{"$.sourceIPAddress":"111.111.111.111"}"#),
    ("{ $.sourceIPAddress = 111.111.* }", TRAIL, true, ""),
    ("{ $.arrayKey[0] = \"value\" }", TRAIL, true, r#"{"$.arrayKey[0]":"value"}"#),
    ("{ $.objectList[1].id = 2 }", TRAIL, true, r#"{"$.objectList[1].id":2}"#),
    ("{ $.objectList[1].id = 1 }", TRAIL, false, ""),
    ("{ $.SomeObject IS NULL }", TRAIL, true, r#"{"$.SomeObject":null}"#),
    ("{ $.eventType IS NULL }", TRAIL, false, ""),
    ("{ $.SomeOtherObject NOT EXISTS }", TRAIL, true, "{}"),
    ("{ $.eventType NOT EXISTS }", TRAIL, false, ""),
    ("{ $.ThisFlag IS TRUE }", TRAIL, true, r#"{"$.ThisFlag":true}"#),
    ("{ $.ThisFlag IS FALSE }", TRAIL, false, ""),
    ("{ $.ThisFlag is true }", TRAIL, true, ""),
    // A selector on an array/object matches neither `=` nor `!=`.
    ("{ $.arrayKey = \"value\" }", TRAIL, false, ""),
    ("{ $.arrayKey != \"value\" }", TRAIL, false, ""),
    ("{ $.objectList != 1 }", TRAIL, false, ""),
    // A missing key or null fails both operators too.
    ("{ $.missing != \"x\" }", TRAIL, false, ""),
    ("{ $.SomeObject != \"x\" }", TRAIL, false, ""),
    ("{ $.SomeObject = * }", TRAIL, false, ""),
    ("{ $.eventType = * }", TRAIL, true, ""),
    ("{ $.eventType != \"UpdateTrail\" }", TRAIL, false, ""),
    // Wildcards in values: only at the ends; a middle `*` is literal.
    ("{ $.eventType = *Trail }", TRAIL, true, ""),
    ("{ $.eventType = Update* }", TRAIL, true, ""),
    ("{ $.eventType = \"*date*\" }", TRAIL, true, ""),
    ("{ $.eventType = Up*Trail }", TRAIL, false, ""),
    // Regex values.
    ("{ $.eventType = %Trail% }", TRAIL, true, ""),
    ("{ $.eventType = %^Trail% }", TRAIL, false, ""),
    ("{ $.eventType != %^Trail% }", TRAIL, true, ""),
    // Selector wildcards: any reached value may satisfy the test.
    ("{ $.arrayKey[*] = \"another value\" }", TRAIL, true, r#"{"$.arrayKey[*]":"value"}"#),
    ("{ $.objectList[*].name = \"b\" }", TRAIL, true, ""),
    ("{ $.objectList[*].name = \"c\" }", TRAIL, false, ""),
    ("{ $.* = \"UpdateTrail\" }", TRAIL, true, ""),
    ("{ $.arrayKey[*] NOT EXISTS }", TRAIL, false, ""),
    // --- JSON: compound conditions ------------------------------------------------------------
    ("{ ($.user.id = 1) && ($.users[0].email = \"John.Doe@example.com\") }", USERS, true,
        r#"{"$.user.id":1,"$.users[0].email":"John.Doe@example.com"}"#),
    ("{ ($.user.id = 2 && $.users[0].email = \"nonmatch\") || $.actions[2] = \"GET\" }", USERS, false, ""),
    ("{ $.user.email = \"John.Stiles@example.com\" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }", USERS, true, ""),
    ("{ ($.user.email = \"John.Stiles@example.com\" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }", USERS, false, ""),
    ("{ $.coordinates[1][2] = 6 }", USERS, true, r#"{"$.coordinates[1][2]":6}"#),
    ("{ $.coordinates[0][1] > 0 }", USERS, true, ""),
    ("{ $.users[5].id = 2 }", USERS, false, ""),
    ("{ $.user[0] = 1 }", USERS, false, ""),
    ("{ $.users[*].id = 3 }", USERS, true, ""),
    ("{$.foo = bar}", r#"{"foo":"bar"}"#, true, ""),
    ("{$.foo = baz }", r#"{"foo":"bar"}"#, false, ""),
    ("{$.foo = bar || $.foo = baz }", r#"{"foo":"baz"}"#, true, ""),
    // --- JSON: numbers -------------------------------------------------------------------------
    ("{ $.latency >= 500 }", NUMS, true, r#"{"$.latency":600}"#),
    ("{ $.numbers[0] < 10e3 }", NUMS, true, ""),
    ("{ $.numbers[0] < 10e-3 }", NUMS, false, ""),
    ("{ $.numbers[1] < 10e-3 }", NUMS, true, ""),
    ("{ $.processes[4].averageRuntime <= 55.5 }", NUMS, true, ""),
    ("{ $.processes[4].averageRuntime < 55.5 }", NUMS, false, ""),
    ("{ $.errorCode = 400 }", NUMS, true, ""),
    ("{ $.errorCode != 500 }", NUMS, true, ""),
    ("{ $.latency > +1000 }", NUMS, false, ""),
    ("{ $.latency > -1 }", NUMS, true, ""),
    ("{ $.latency = 6e2 }", NUMS, true, ""),
    ("{ $.latency < 1e+3 }", NUMS, true, ""),
    ("{ $.latency = * }", NUMS, true, r#"{"$.latency":600}"#),
    // Type mismatches (module rule): numeric literals also read numeric strings; text values
    // compare with numbers as written; relational operators need numbers on both sides.
    ("{ $.status = 200 }", r#"{"status":"200"}"#, true, ""),
    ("{ $.status >= 100 }", r#"{"status":"200"}"#, true, ""),
    ("{ $.status > 1 }", r#"{"status":"OK"}"#, false, ""),
    ("{ $.status != 200 }", r#"{"status":"OK"}"#, true, ""),
    ("{ $.status = \"200\" }", r#"{"status":200}"#, true, ""),
    ("{ $.ok = true }", r#"{"ok":true}"#, true, ""),
    ("{ $.ok > 0 }", r#"{"ok":true}"#, false, ""),
    // --- JSON: bracket notation for dotted keys --------------------------------------------
    ("{ $.['cluster.name'] = \"prod\" }", DOTTED, true, r#"{"$.['cluster.name']":"prod"}"#),
    ("{ $.cluster.name = \"prod\" }", DOTTED, false, ""),
    ("{ $.cluster['name'] = dev }", DOTTED, true, r#"{"$.cluster.name":"dev"}"#),
    // A JSON pattern never matches an event without a JSON object.
    ("{ $.eventType = * }", "eventType=UpdateTrail", false, ""),
    // --- space-delimited ---------------------------------------------------------------------
    ("[ip, user, username, timestamp, request, status_code, bytes]", APACHE_200, true,
        r#"{"$ip":"127.0.0.1","$user":"-","$username":"frank","$timestamp":"10/Oct/2000:13:25:15 -0700","$request":"GET /apache_pb.gif HTTP/1.0","$status_code":"200","$bytes":"1534"}"#),
    ("[..., status_code, bytes]", APACHE_200, true,
        r#"{"$1":"127.0.0.1","$2":"-","$3":"frank","$4":"10/Oct/2000:13:25:15 -0700","$5":"GET /apache_pb.gif HTTP/1.0","$status_code":"200","$bytes":"1534"}"#),
    ("[ip, user, ..., status_code, bytes]", APACHE_500, true, ""),
    ("[ip, user, ...]", APACHE_200, true,
        r#"{"$ip":"127.0.0.1","$user":"-","$3":"frank","$4":"10/Oct/2000:13:25:15 -0700","$5":"GET /apache_pb.gif HTTP/1.0","$6":"200","$7":"1534"}"#),
    ("[ip, user, username, timestamp, request, status_code, bytes > 1000]", APACHE_200, true, ""),
    ("[ip, user, username, timestamp, request, status_code, bytes > 2000]", APACHE_200, false, ""),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", APACHE_200, true, ""),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", APACHE_500, false, ""),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", APACHE_404, true, ""),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", APACHE_200, false, ""),
    ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", APACHE_404, true, ""),
    ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", APACHE_200, false, ""),
    ("[ip=%127\\.0\\.0\\.[1-9]%, user, username, timestamp, request, status_code, bytes]", APACHE_200, true, ""),
    ("[ip=%127\\.0\\.0\\.[1-9]%, user, username, timestamp, request, status_code, bytes]", LOCAL_0, false, ""),
    ("[ip, user, username, timestamp, request=%^GET /index%, status_code, bytes]", APACHE_404, true, ""),
    ("[ip, user, username, timestamp, request=%^GET /index%, status_code, bytes]", APACHE_200, false, ""),
    ("[ip, user, username, timestamp, request, status_code = 404 || status_code = 410, bytes]", APACHE_410, true, ""),
    ("[ip, user, username, timestamp, request, status_code = 404 || status_code = 410, bytes]", APACHE_200, false, ""),
    ("[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]", APACHE_404, true, ""),
    ("[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]", APACHE_403, false, ""),
    // The docs' extraction example (trailing comma = an unnamed last field, shown as `$7`).
    ("[..., request=*.html*, status_code=4*,]", APACHE_404, true,
        r#"{"$status_code":"404","$request":"GET /index.html HTTP/1.0","$7":"1534","$4":"10/Oct/2000:13:25:15 -0700","$3":"frank","$2":"-","$1":"127.0.0.1"}"#),
    // Whole-line rule: the last field absorbs the rest; too few fields never match.
    ("[w1=ERROR, w2]", "ERROR message", true, r#"{"$w1":"ERROR","$w2":"message"}"#),
    ("[w1=ERROR, w2]", "ERROR WARN message", true, r#"{"$w1":"ERROR","$w2":"WARN message"}"#),
    ("[w1=ERROR, w2]", "WARN message", false, ""),
    ("[w1=ERROR, w2]", "ERROR", false, ""),
    ("[w1=ERROR || w1=WARN, w2]", "WARN message", true, ""),
    ("[w1=ERROR || w1=WARN, w2]", "INFO message", false, ""),
    ("[w1!=ERROR && w1!=WARN, w2]", "INFO message", true, ""),
    ("[w1!=ERROR && w1!=WARN, w2]", "ERROR message", false, ""),
    ("[a, b]", "x [y z] w", true, r#"{"$a":"x","$b":"[y z] w"}"#),
    ("[a, b, c]", "x y", false, ""),
    ("[a, ..., b]", "x", false, ""),
    ("[a, ..., b]", "x y", true, r#"{"$a":"x","$b":"y"}"#),
    ("[...]", "", true, "{}"),
    ("[..., level=ERROR, ...]", "t1 req ERROR boom now", true,
        r#"{"$1":"t1","$2":"req","$level":"ERROR","$4":"boom","$5":"now"}"#),
    ("[..., level=ERROR, ...]", "t1 req WARN boom now", false, ""),
    ("[a, n > 10]", "x 9", false, ""),
    ("[a, n > 10]", "x 11", true, ""),
    ("[a, n > 10]", "x abc", false, ""),
    ("[a, n != 5]", "x abc", true, ""),
    ("[a, n = 5]", "x 5.0", true, ""),
    ("[a, b = \"two words\"]", "x \"two words\"", true, r#"{"$a":"x","$b":"two words"}"#),
    ("[a,]", "x y z", true, r#"{"$a":"x","$2":"y z"}"#),
    ("[a, (b = 1 || b = 2) && b != 3]", "x 2", true, ""),
];

/// `(pattern, expected column, words the message must contain)`.
const REJECTIONS: &[(&str, usize, &str)] = &[
    ("\"unterminated", 1, "unterminated"),
    ("ERROR -", 7, "followed by a term"),
    ("\"a\"b", 4, "space after the closing quote"),
    ("%a% ERROR", 1, "whole filter pattern"),
    ("%something!%", 11, "not allowed"),
    ("%(a|b)%", 2, "groups"),
    ("%caf\u{e9}%", 5, "multi-byte"),
    ("%a%b%", 3, "single %…%"),
    ("%\\b%", 2, "unsupported escape"),
    ("%%", 1, "empty"),
    ("%a{1000}{1000}%", 1, "invalid regular expression"),
    (
        "{ $.a = %x% || $.b = %y% || $.c = %z% }",
        35,
        "at most 2 regular expressions",
    ),
    ("{ $.a IS NOT NULL }", 10, "IS NOT"),
    ("{ $.a EXISTS }", 7, "EXISTS"),
    ("{ $.a[*].b[*] = 1 }", 11, "per selector"),
    (
        "{ $.a[*] = 1 || $.b[*] = 1 || $.c[*] = 1 || $.d[*] = 1 }",
        48,
        "per filter pattern",
    ),
    ("{ $.a == 1 }", 7, "=="),
    ("{ $.a > abc }", 9, "need a number"),
    ("{ $.a = 1 & $.b = 2 }", 11, "&&"),
    ("{ $ = 1 }", 3, "property"),
    ("{ a = 1 }", 3, "selector"),
    ("{ $.a = foo!bar }", 12, "double quotes"),
    ("{ $.a = \"abc }", 9, "unterminated"),
    ("{ ($.a = 1 }", 12, "`)`"),
    ("{ $.a = 1 ", 9, "end with `}`"),
    ("{ }", 1, "empty JSON pattern"),
    ("{ $.a = 1 ) }", 11, "unbalanced"),
    ("{ $.a[x] = 1 }", 7, "inside `[…]`"),
    ("{ $.a IS MAYBE }", 10, "NULL, TRUE or FALSE"),
    ("[]", 1, "empty space-delimited"),
    ("[a, b", 5, "end with `]`"),
    ("[a, a]", 5, "named twice"),
    ("[a b]", 4, "expected `,`"),
    (
        "[status_code = 4* && bytes > 1000]",
        22,
        "can only test `status_code`",
    ),
    ("[a = 1 & a = 2]", 8, "&&"),
    ("[w1=ERROR || w2, x]", 14, "needs a condition"),
    ("[a > x]", 6, "need a number"),
    ("[a=%x%, b=%y%, c=%z%]", 18, "at most 2 regular expressions"),
    ("[a, #]", 5, "field name"),
];

fn object(s: &str) -> Option<Map<String, Value>> {
    if !s.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Some(m),
        other => panic!("test input {s} is not a JSON object: {other:?}"),
    }
}

#[test]
fn conformance_table() {
    let mut failures = Vec::new();
    for (i, &(pattern, line, want, extracted)) in CASES.iter().enumerate() {
        let p = match FilterPattern::compile(pattern) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("#{i} {pattern}: compile error {e}"));
                continue;
            }
        };
        let json = object(line);
        let input = MatchInput {
            message: line,
            json: json.as_ref().map(Fields::from),
        };
        let quick = p.is_match(&input);
        let full = p.matches(&input);
        if quick != want || full.is_some() != want {
            failures.push(format!(
                "#{i} {pattern} on {line}: is_match={quick}, matches={}, want {want}",
                full.is_some()
            ));
            continue;
        }
        if let (Some(m), false) = (full, extracted.is_empty()) {
            let expect: std::collections::BTreeMap<String, Value> =
                serde_json::from_str(extracted).expect("expected extracted is a JSON object");
            if m.extracted != expect {
                failures.push(format!(
                    "#{i} {pattern}: extracted {:?}, want {expect:?}",
                    m.extracted
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        CASES.len() >= 80,
        "the table should cover the docs' examples"
    );
}

#[test]
fn rejections_name_the_problem_and_column() {
    let mut failures = Vec::new();
    for &(pattern, column, words) in REJECTIONS {
        match FilterPattern::compile(pattern) {
            Ok(p) => failures.push(format!("{pattern}: compiled as {:?}", p.kind())),
            Err(e) if e.column != column || !e.message.contains(words) => {
                failures.push(format!(
                    "{pattern}: got column {} `{}`, want column {column} containing `{words}`",
                    e.column, e.message
                ));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nesting_is_capped_without_overflowing_the_stack() {
    let nested = |n: usize, open: &str, body: &str, close: &str| {
        format!("{open}{}{body}{}{close}", "(".repeat(n), ")".repeat(n))
    };
    let ok = nested(MAX_NESTING_DEPTH, "{ ", "$.a = 1", " }");
    let p = FilterPattern::compile(&ok).unwrap();
    let j = object(r#"{"a":1}"#);
    assert!(p.is_match(&MatchInput {
        message: "",
        json: j.as_ref().map(Fields::from)
    }));
    let deep = nested(MAX_NESTING_DEPTH + 1, "{ ", "$.a = 1", " }");
    let e = FilterPattern::compile(&deep).unwrap_err();
    assert_eq!(
        e.column,
        2 + MAX_NESTING_DEPTH + 1,
        "points at the first paren too deep"
    );
    let e = FilterPattern::compile(&nested(500, "[", "a = 1", "]")).unwrap_err();
    assert!(e.message.contains("nest deeper"), "{e}");
}

#[test]
fn introspection_lists_selectors_and_fields() {
    let p =
        FilterPattern::compile("{ $.a.b = 1 && ($.a.b > 0 || $.*  = x || $.['k.v'][2] IS NULL) }")
            .unwrap();
    assert_eq!(p.selectors(), ["$.a.b", "$.*", "$.['k.v'][2]"]);
    assert!(p.field_names().is_empty());
    let p = FilterPattern::compile("[ip, ..., status = 5*, , bytes]").unwrap();
    assert_eq!(p.kind(), PatternKind::Delimited);
    assert_eq!(p.field_names(), ["ip", "status", "bytes"]);
    assert!(p.selectors().is_empty());
}

#[test]
fn large_messages_stay_linear() {
    let many = "q ".repeat(200_000);
    let run = |pattern: &str, message: &str| {
        let p = FilterPattern::compile(pattern).unwrap();
        let input = MatchInput {
            message,
            json: None,
        };
        (p.is_match(&input), p.matches(&input))
    };
    // Three `...` stars over 200k fields: glob backtracking is O(slots × fields).
    let (hit, m) = run("[..., a=x, ..., b=y, ..., c=z]", &many);
    assert!(!hit && m.is_none());
    let tail = format!("{many}x y z");
    let (hit, m) = run("[..., a=x, ..., b=y, ..., c=z]", &tail);
    assert!(hit);
    assert_eq!(
        m.unwrap().extracted.len(),
        200_003,
        "every field extracted once"
    );
    // Without `...` the last field takes the rest of the line.
    let (hit, m) = run("[first, rest]", &tail);
    assert!(hit);
    let rest = m.unwrap().extracted["$rest"].clone();
    assert_eq!(rest.as_str().map(str::len), Some(tail.len() - 2));
    let (hit, _) = run("%q\\sx%", &tail);
    assert!(hit);
    let (hit, _) = run("?nothing ?x", &many);
    assert!(!hit);
}

proptest! {
    #[test]
    fn compile_and_match_never_panic(
        pattern in "[\\[\\]{}()$.*%?\"'=!<>&|,: a-zA-Z0-9_\\\\+-]{0,60}",
        message in "[\\[\\]\" a-z0-9.]{0,40}",
    ) {
        if let Ok(p) = FilterPattern::compile(&pattern) {
            let json = object(r#"{"a":[1,"x",{"b":null}],"b":{"c":true},"c":"5"}"#);
            for j in [None, json.as_ref()] {
                let input = MatchInput { message: &message, json: j.map(Fields::from) };
                prop_assert_eq!(p.is_match(&input), p.matches(&input).is_some());
            }
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(pattern in "\\PC{0,80}", message in "\\PC{0,80}") {
        if let Ok(p) = FilterPattern::compile(&pattern) {
            let input = MatchInput { message: &message, json: None };
            prop_assert_eq!(p.is_match(&input), p.matches(&input).is_some());
        }
    }
}
