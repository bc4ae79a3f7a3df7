//! CloudWatch's regex dialect (`%…%`): validates the documented subset and translates it to the
//! `regex` crate, so a pattern AWS would reject is rejected here too, with its column.

use regex::{Regex, RegexBuilder};

use super::PatternError;

/// Compiled-program budget: generous for any real 1 KiB pattern, small enough that counted
/// repetitions like `a{1000}{1000}` fail at compile time instead of eating memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_NEST_LIMIT: u32 = 32;

/// Symbols the docs allow as literals (besides alphanumerics).
const SYMBOLS: &str = ":_#=@/;,-";
/// Operators the docs allow.
const OPERATORS: &str = "^$?[]{}|\\*+.";

/// Validates and compiles the body of a `%…%` (without the percent signs). `start` is the
/// character index of the body's first character in the whole pattern.
pub(crate) fn compile(body: &[char], start: usize) -> Result<Regex, PatternError> {
    let err = |i: usize, message: String| PatternError {
        column: start + i + 1,
        message,
    };
    if body.is_empty() {
        return Err(PatternError {
            column: start.max(1),
            message: "empty %…% regular expression".to_string(),
        });
    }
    let mut out = String::with_capacity(body.len() + 8);
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        if !c.is_ascii() {
            return Err(err(
                i,
                format!("multi-byte character `{c}` is not supported in a regular expression"),
            ));
        }
        match c {
            '(' | ')' => {
                return Err(err(
                    i,
                    "`(` and `)` are not supported in a regular expression (no groups)".to_string(),
                ));
            }
            '\\' => {
                let Some(&n) = body.get(i + 1) else {
                    return Err(err(
                        i,
                        "`\\` at the end of a regular expression".to_string(),
                    ));
                };
                match n {
                    // CloudWatch's classes are ASCII; nested-class form works inside `[…]` too.
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str("[\\t\\n ]"),
                    'S' => out.push_str("[^\\t\\n ]"),
                    'x' => {
                        let hex: String = body.iter().skip(i + 2).take(2).collect();
                        if hex.len() != 2 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                            return Err(err(
                                i,
                                "`\\x` needs two hex digits (e.g. \\x21)".to_string(),
                            ));
                        }
                        out.push_str("\\x");
                        out.push_str(&hex);
                        i += 2;
                    }
                    _ if OPERATORS.contains(n) || n == '-' => {
                        out.push('\\');
                        out.push(n);
                    }
                    _ if SYMBOLS.contains(n) => out.push(n),
                    _ => {
                        return Err(err(i, format!(
                            "unsupported escape `\\{n}` (allowed: \\d \\D \\s \\S \\w \\W \\xhh and escaped operators)"
                        )));
                    }
                }
                i += 2;
                continue;
            }
            // `{,n}` is CloudWatch syntax for `{0,n}`; the regex crate wants the lower bound.
            '{' if body.get(i + 1) == Some(&',') => out.push_str("{0"),
            _ if c.is_ascii_alphanumeric() || SYMBOLS.contains(c) => {
                if c == '#' {
                    out.push_str("\\#");
                } else {
                    out.push(c);
                }
            }
            _ if OPERATORS.contains(c) => out.push(c),
            _ => {
                return Err(err(
                    i,
                    format!(
                        "character `{}` is not allowed in a regular expression; use \\x{:02x}",
                        c.escape_default(),
                        u32::from(c)
                    ),
                ));
            }
        }
        i += 1;
    }
    RegexBuilder::new(&out)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| {
            let detail = match &e {
                regex::Error::CompiledTooBig(_) => "it is too large once compiled".to_string(),
                other => other
                    .to_string()
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or("syntax error")
                    .to_string(),
            };
            PatternError {
                column: start.max(1),
                message: format!("invalid regular expression: {detail}"),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(s: &str) -> Result<Regex, PatternError> {
        let chars: Vec<char> = s.chars().collect();
        compile(&chars, 1)
    }

    #[test]
    fn translates_the_documented_escapes_to_ascii() {
        let r = re("^\\w+\\s\\d{2,}$").unwrap();
        assert!(r.is_match("ab_9 42"));
        assert!(!r.is_match("é 42"), "\\w is ASCII-only in CloudWatch");
        let r = re("[\\d\\-]{,3}x").unwrap();
        assert!(r.is_match("1-2x"));
        assert!(re("\\x21").unwrap().is_match("hi!"));
    }

    #[test]
    fn rejects_what_the_docs_exclude_with_columns() {
        for (s, col) in [
            ("a(b)", 3),
            ("some!", 6),
            ("a b", 3),
            ("caf\u{e9}", 5),
            ("\\b", 2),
            ("\\x2", 2),
            ("a\\", 3),
        ] {
            let e = re(s).unwrap_err();
            assert_eq!(e.column, col, "{s}: {e}");
        }
    }

    #[test]
    fn size_limit_stops_blowups() {
        let e = re("a{1000}{1000}").unwrap_err();
        assert!(e.message.contains("invalid regular expression"), "{e}");
    }
}
