//! The CloudWatch Logs filter-pattern language (terms, `%regex%`, JSON `{…}`, space-delimited
//! `[…]`), compiled once into a matcher that also exposes the values a metric filter extracts.
//!
//! Behaviour the AWS docs leave open, and what this module does (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):
//! - Terms are case-sensitive substring searches (the docs' `ERROR` matches `ERRORCODE`).
//!   Mixing `?` terms with any other term (`-` exclusions included) drops the `?` terms.
//! - JSON comparisons only see scalars: a missing key, `null`, an array or an object fails both
//!   `=` and `!=` (only `IS NULL` / `NOT EXISTS` see those). A numeric literal compares
//!   numerically with JSON numbers *and* with strings in the number grammar (`{ $.status = 200 }`
//!   matches `200`, `200.0` and `"200"`); text/wildcard/regex values compare with strings and
//!   with numbers/booleans as JSON writes them. Relational operators need a number on both sides.
//!   A wildcard selector (`[*]`, `.*`) matches when *any* reached value passes the test.
//!   Numbers compare as `f64` (integers beyond 2^53 lose precision).
//! - `IS`, `NULL`, `TRUE`, `FALSE`, `NOT`, `EXISTS` are accepted in any letter case.
//! - [`Match::extracted`] for JSON patterns holds, per selector in the pattern, the first
//!   non-container value it reaches (document order for wildcards), keyed by the selector's
//!   canonical text (`$.a.b`, `$.arr[0]`, `$.['k.v']`, `$.arr[*]`, `$.*`), see
//!   [`FilterPattern::selectors`]. Terms and regex patterns extract nothing.
//! - Space-delimited alignment and extraction rules are documented in `delimited.rs`.

mod delimited;
mod json;
mod operand;
mod regex_subset;
mod terms;

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use crate::record::Fields;

pub use json::JsonSelector;
pub use regex_subset::MAX_REGEX_POSITIONS;

/// Most regex positions (see [`MAX_REGEX_POSITIONS`]) summed over every filter
/// pattern of the config: the regex work per byte of each event is bounded by this sum. It is
/// eight regexes at the per-regex limit, or hundreds of ordinary ones (`%\d{3}%` is 3);
/// CloudWatch itself allows 5 regex filter patterns of 2 regexes each per log group
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
pub const MAX_CONFIG_REGEX_POSITIONS: usize = 1024;

/// The error text when the regexes of a config add up to more than the budget.
pub(crate) fn regex_budget_message(positions: usize) -> String {
    format!(
        "the regular expressions of the config add up to {positions} positions, more than \
         {MAX_CONFIG_REGEX_POSITIONS}: every one is tried on every event, so fewer or smaller \
         regexes (or plain terms) keep each batch within its time"
    )
}

/// AWS `FilterPattern` length limit (characters).
pub const MAX_PATTERN_CHARS: usize = 1024;
/// AWS quota: regular expressions per filter pattern.
pub const MAX_REGEXES_PER_PATTERN: usize = 2;
/// AWS limit: wildcards (`[*]`, `.*`) in one JSON selector.
pub const MAX_WILDCARDS_PER_SELECTOR: usize = 1;
/// AWS limit: selector wildcards in one JSON pattern.
pub const MAX_WILDCARDS_PER_PATTERN: usize = 3;
/// Parenthesis nesting cap, so hostile patterns cannot exhaust the stack.
pub const MAX_NESTING_DEPTH: usize = 32;

/// A compile error pointing at the offending column (1-based, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct PatternError {
    /// 1-based character column of the offending character.
    pub column: usize,
    /// What is wrong, naming the rule.
    pub message: String,
}

/// What a pattern is matched against: the raw message, and its JSON object when it has one.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput<'a> {
    /// The raw log message (terms, regex and space-delimited patterns read this).
    pub message: &'a str,
    /// The message parsed as a JSON object, if it is one (JSON patterns read only this).
    pub json: Option<Fields<'a>>,
}

/// The values a match exposes, keyed as TestMetricFilter shows them: `$name` for space-delimited
/// fields, `$.path` for JSON selectors used by the pattern.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    /// `$name` → `Value::String` for delimited fields; `$.path` → the JSON value for selectors.
    pub extracted: BTreeMap<String, Value>,
}

/// Which of the four grammars a pattern uses (decided by its first and last characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    /// Empty, blank or only blank quoted terms (`""`, `" "`).
    MatchAll,
    /// Unstructured terms: `ERROR -DEBUG`, `?WARN ?ERROR`, `"exact phrase"`.
    Terms,
    /// A standalone `%regex%`.
    Regex,
    /// `{ $.selector … }`, evaluated against the event's JSON object.
    Json,
    /// `[field, …]`, evaluated against the space-separated fields of the message.
    Delimited,
}

#[derive(Debug, Clone)]
enum Compiled {
    MatchAll,
    Terms(terms::Terms),
    Regex(Regex, usize),
    Json(json::JsonPattern),
    Delimited(delimited::Delimited),
}

/// A compiled filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    source: String,
    compiled: Compiled,
}

impl FilterPattern {
    /// Parses and validates `source` (≤ [`MAX_PATTERN_CHARS`] characters) once, up front.
    pub fn compile(source: &str) -> Result<FilterPattern, PatternError> {
        let chars: Vec<char> = source.chars().take(MAX_PATTERN_CHARS + 1).collect();
        if chars.len() > MAX_PATTERN_CHARS {
            return Err(PatternError {
                column: MAX_PATTERN_CHARS + 1,
                message: format!("filter pattern is longer than {MAX_PATTERN_CHARS} characters"),
            });
        }
        let first = chars.iter().position(|c| !c.is_whitespace());
        let last = chars.iter().rposition(|c| !c.is_whitespace());
        let compiled = match (first, last) {
            (Some(f), Some(l)) => Self::compile_trimmed(&chars, f, l)?,
            _ => Compiled::MatchAll,
        };
        Ok(FilterPattern {
            source: source.to_string(),
            compiled,
        })
    }

    /// `first..=last` are the first and last non-blank characters.
    fn compile_trimmed(
        chars: &[char],
        first: usize,
        last: usize,
    ) -> Result<Compiled, PatternError> {
        let opener = chars.get(first).copied();
        let closer = chars.get(last).copied();
        let unclosed = |want: char, kind: &str| PatternError {
            column: last + 1,
            message: format!("a {kind} pattern must end with `{want}`"),
        };
        Ok(match opener {
            Some('{') if closer == Some('}') && last > first => {
                Compiled::Json(json::JsonPattern::parse(chars, first + 1, last)?)
            }
            Some('{') => return Err(unclosed('}', "JSON")),
            Some('[') if closer == Some(']') && last > first => {
                Compiled::Delimited(delimited::Delimited::parse(chars, first + 1, last)?)
            }
            Some('[') => return Err(unclosed(']', "space-delimited")),
            Some('%') if closer == Some('%') && last > first => {
                let body = chars.get(first + 1..last).unwrap_or(&[]);
                if let Some(i) = body.iter().position(|c| *c == '%') {
                    return Err(PatternError {
                        column: first + i + 2,
                        message:
                            "a regex pattern is a single %…%; use `|` inside it for alternatives"
                                .to_string(),
                    });
                }
                let c = regex_subset::compile(body, first + 1)?;
                Compiled::Regex(c.regex, c.positions)
            }
            _ => {
                let t = terms::Terms::parse(chars)?;
                if t.is_empty() {
                    Compiled::MatchAll
                } else {
                    Compiled::Terms(t)
                }
            }
        })
    }

    /// The pattern exactly as given to [`FilterPattern::compile`].
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Positions of all its `%…%` regular expressions, summed: the bound on the regex work per
    /// byte of input (see [`MAX_REGEX_POSITIONS`]); 0 without regexes.
    pub fn regex_positions(&self) -> usize {
        match &self.compiled {
            Compiled::Regex(_, n) => *n,
            Compiled::Json(p) => p.regex_positions,
            Compiled::Delimited(d) => d.regex_positions,
            Compiled::MatchAll | Compiled::Terms(_) => 0,
        }
    }

    /// Which grammar the pattern uses.
    pub fn kind(&self) -> PatternKind {
        match self.compiled {
            Compiled::MatchAll => PatternKind::MatchAll,
            Compiled::Terms(_) => PatternKind::Terms,
            Compiled::Regex(..) => PatternKind::Regex,
            Compiled::Json(_) => PatternKind::Json,
            Compiled::Delimited(_) => PatternKind::Delimited,
        }
    }

    /// True for patterns that match every event (`""`, `" "`): callers skip matching entirely.
    pub fn is_match_all(&self) -> bool {
        self.kind() == PatternKind::MatchAll
    }

    /// The JSON selectors a `{…}` pattern uses, in canonical form (the keys of
    /// [`Match::extracted`]); empty for other kinds.
    pub fn selectors(&self) -> Vec<String> {
        match &self.compiled {
            Compiled::Json(p) => p.selectors().iter().map(|s| s.text().to_string()).collect(),
            _ => Vec::new(),
        }
    }

    /// The named fields of a `[…]` pattern, in order (extracted as `$name`); empty otherwise.
    pub fn field_names(&self) -> Vec<String> {
        match &self.compiled {
            Compiled::Delimited(d) => d.field_names(),
            _ => Vec::new(),
        }
    }

    /// Whether the event matches, without building the extracted values.
    pub fn is_match(&self, input: &MatchInput<'_>) -> bool {
        match &self.compiled {
            Compiled::MatchAll => true,
            Compiled::Terms(t) => t.is_match(input.message),
            Compiled::Regex(r, _) => r.is_match(input.message),
            Compiled::Json(p) => input.json.is_some_and(|j| p.is_match(j)),
            Compiled::Delimited(d) => d.is_match(input.message),
        }
    }

    /// Whether the event matches, with the values a metric filter would extract.
    pub fn matches(&self, input: &MatchInput<'_>) -> Option<Match> {
        self.matches_where(input, |_| true)
    }

    /// Like [`FilterPattern::matches`], extracting only the `wanted` keys (`$name`, `$.path`):
    /// a metric rule reads one or two of them, and building the rest cost a string each.
    pub fn matches_only(&self, input: &MatchInput<'_>, wanted: &[String]) -> Option<Match> {
        self.matches_where(input, |key| wanted.iter().any(|w| w == key))
    }

    fn matches_where(&self, input: &MatchInput<'_>, want: impl Fn(&str) -> bool) -> Option<Match> {
        match &self.compiled {
            Compiled::Json(p) => {
                let j = input.json?;
                p.is_match(j).then(|| Match {
                    extracted: p.extract(j, &want),
                })
            }
            Compiled::Delimited(d) => d
                .extract(input.message, &want)
                .map(|extracted| Match { extracted }),
            _ => self.is_match(input).then(Match::default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(p: &str, msg: &str) -> bool {
        FilterPattern::compile(p).unwrap().is_match(&MatchInput {
            message: msg,
            json: None,
        })
    }

    #[test]
    fn matches_only_is_matches_narrowed_to_the_wanted_keys() {
        let json: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"a":{"b":3},"c":"x","arr":[1,2]}"#).unwrap();
        let access =
            r#"10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 404 512 "-" "curl""#;
        let cases: &[(&str, &str, bool, &[&str])] = &[
            ("{ $.a.b = 3 && $.c = * }", "", true, &["$.a.b"]),
            (
                "{ $.a.b = 3 && $.c = * }",
                "",
                true,
                &["$.c", "$.a.b", "$.nope"],
            ),
            ("{ $.arr[*] > 1 }", "", true, &["$.arr[*]"]),
            (
                "[ip, id, user, ts, request, status = 4*, size, ...]",
                access,
                false,
                &["$size"],
            ),
            (
                "[ip, id, user, ts, request, status = 4*, size, ...]",
                access,
                false,
                &["$status", "$ip"],
            ),
            (
                "[ip, id, user, ts, request, status, size]",
                access,
                false,
                &["$size", "$8", "$9"],
            ),
            (
                "[ip, id, user, ts, request, status = 5*, size, ...]",
                access,
                false,
                &["$size"],
            ),
        ];
        for &(pattern, message, is_json, wanted) in cases {
            let p = FilterPattern::compile(pattern).unwrap();
            let input = MatchInput {
                message,
                json: is_json.then(|| Fields::from(&json)),
            };
            let wanted: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
            let all = p.matches(&input);
            let only = p.matches_only(&input, &wanted);
            let narrowed = all.map(|m| Match {
                extracted: m
                    .extracted
                    .into_iter()
                    .filter(|(k, _)| wanted.contains(k))
                    .collect(),
            });
            assert_eq!(only, narrowed, "{pattern}");
        }
    }

    #[test]
    fn kinds_are_detected_from_the_outer_characters() {
        for (p, kind) in [
            ("", PatternKind::MatchAll),
            ("   ", PatternKind::MatchAll),
            ("\" \"", PatternKind::MatchAll),
            ("ERROR", PatternKind::Terms),
            ("%ERR%", PatternKind::Regex),
            ("{ $.a = 1 }", PatternKind::Json),
            ("[a, b]", PatternKind::Delimited),
        ] {
            assert_eq!(FilterPattern::compile(p).unwrap().kind(), kind, "{p:?}");
        }
    }

    #[test]
    fn length_limit_counts_characters() {
        let ok = "é".repeat(MAX_PATTERN_CHARS);
        assert!(FilterPattern::compile(&ok).is_ok());
        let e = FilterPattern::compile(&format!("{ok}x")).unwrap_err();
        assert_eq!(e.column, MAX_PATTERN_CHARS + 1);
    }

    #[test]
    fn terms_use_substring_and_exclusion() {
        assert!(hit("ERROR", "Exiting with ERRORCODE: -1"));
        assert!(!hit("ERROR -Exiting", "Exiting with ERRORCODE: -1"));
        assert!(hit("?ERROR ?WARN", "WARN message"));
    }
}

#[cfg(test)]
pub(crate) mod stall_tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_issue_stall_pattern_is_refused_at_load_with_its_column() {
        let started = Instant::now();
        let e = FilterPattern::compile(r"{ $.a = %\w{1,1000}z% }").unwrap_err();
        assert!(e.message.contains("1001 positions"), "{e}");
        assert_eq!(e.column, 9, "{e}: the opening `%`");
        for p in [r"%\w{1,1000}z%", r"[a, b = %\w{1,1000}z%]"] {
            let e = FilterPattern::compile(p).unwrap_err();
            assert!(e.message.contains("more than 128"), "{p}: {e}");
        }
        // Refused before the regex is built: generous bound, catches only a stall.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn regex_positions_sum_over_the_whole_pattern() {
        for (p, want) in [
            ("ERROR", 0),
            (r"%ab\d%", 3),
            (r"{ $.a = %ab% || $.b = %\d{4}% }", 6),
            (r"[ip = %\d{1,3}%, user, status = %5\d\d%]", 6),
            (r#"{ $.a = "x" }"#, 0),
        ] {
            assert_eq!(
                FilterPattern::compile(p).unwrap().regex_positions(),
                want,
                "{p}"
            );
        }
    }

    /// The worst case found for an accepted regex: every `a` opens a match attempt that stays
    /// alive for 126 bytes, and the lazy DFA cannot cache the 2^126 combinations, so each byte
    /// steps every live attempt. 1 MiB as 1,024 events of 1 KiB must still finish: the bound is
    /// generous for a debug build (release figure in the bench `pattern/worst_regex_1mib`).
    #[test]
    fn worst_case_accepted_regex_is_bounded_on_a_mebibyte() {
        let p =
            FilterPattern::compile(&format!("%a[ab]{{{}}}c%", MAX_REGEX_POSITIONS - 2)).unwrap();
        assert_eq!(p.regex_positions(), MAX_REGEX_POSITIONS);
        let events = worst_case_events();
        let started = Instant::now();
        let hits = events
            .iter()
            .filter(|m| {
                p.is_match(&MatchInput {
                    message: m,
                    json: None,
                })
            })
            .count();
        assert_eq!(hits, 0, "no `c` in the input: nothing may match");
        let took = started.elapsed();
        // Debug build: 26-44 s on a loaded 2-core machine (release: ~4.4 s); before the limit,
        // `\w{1,1000}z` alone took ~35 ms per KiB in release.
        assert!(took < Duration::from_secs(300), "{took:?} for 1 MiB");
    }

    /// 1,024 messages of 1 KiB of pseudo-random `a`/`b`.
    pub(crate) fn worst_case_events() -> Vec<String> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..1024)
            .map(|_| {
                (0..1024)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if x & 1 == 0 {
                            'a'
                        } else {
                            'b'
                        }
                    })
                    .collect()
            })
            .collect()
    }
}
