//! CloudWatch's regex dialect (`%…%`): validates the documented subset and translates it to the
//! `regex` crate, so a pattern AWS would reject is rejected here too, with its column.

use regex::{Regex, RegexBuilder};
use regex_syntax::hir::{Hir, HirKind};

use super::PatternError;

/// Compiled-program budget, a backstop behind [`MAX_REGEX_POSITIONS`].
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_NEST_LIMIT: u32 = 32;

/// Most positions (one per literal byte or class, each counted repetition unrolled) one
/// regular expression may expand to. The `regex` crate runs in time linear in the haystack, but
/// the factor is the number of positions alive at once: when the lazy DFA cannot cache its
/// states (`\w{1,1000}z` needs ~1000 states of ~1000 positions each) it falls back to stepping
/// every live position per byte, and `\w{1,1000}z` cost ~34 µs per byte, ~35 ms per 1 KB
/// message. CloudWatch documents no bound on `{m,n}`; this one keeps every accepted regex below
/// ~4 µs per byte in the worst case measured (`a[ab]{126}c` on random `a`/`b` text, release
/// build), while IP addresses, UUIDs and 64-hex digests fit with room to spare.
pub const MAX_REGEX_POSITIONS: usize = 128;

/// A compiled `%…%` and what it costs per byte of input (see [`MAX_REGEX_POSITIONS`]).
#[derive(Debug, Clone)]
pub(crate) struct CompiledRegex {
    pub regex: Regex,
    pub positions: usize,
}

/// Symbols the docs allow as literals (besides alphanumerics).
const SYMBOLS: &str = ":_#=@/;,-";
/// Operators the docs allow.
const OPERATORS: &str = "^$?[]{}|\\*+.";

/// Validates and compiles the body of a `%…%` (without the percent signs). `start` is the
/// character index of the body's first character in the whole pattern.
pub(crate) fn compile(body: &[char], start: usize) -> Result<CompiledRegex, PatternError> {
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
            // The symbol list omits the space, yet AWS's own example
            // (`%^starting|^initializing|^shutting down%`, regex-expressions.html) has one.
            ' ' => out.push(' '),
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
    let too_complex = |detail: String| PatternError {
        column: start.max(1),
        message: format!("invalid regular expression: {detail}"),
    };
    // Measured on the parsed form before the regex is built, so a pattern far over the limit
    // costs microseconds to refuse, not the milliseconds and megabytes of compiling it.
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .parse(&out)
        .map_err(|e| {
            too_complex(
                e.to_string()
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or("syntax error")
                    .to_string(),
            )
        })?;
    let positions = positions(&hir);
    if positions > MAX_REGEX_POSITIONS {
        return Err(too_complex(format!(
            "it expands to {} positions once counted repetitions are unrolled, more than \
             {MAX_REGEX_POSITIONS} (matching cost grows with it): lower the {{m,n}} bounds or \
             use `+`/`*`",
            if positions == usize::MAX {
                "too many".to_string()
            } else {
                positions.to_string()
            }
        )));
    }
    let regex = RegexBuilder::new(&out)
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
            too_complex(detail)
        })?;
    Ok(CompiledRegex { regex, positions })
}

/// Positions of the Thompson automaton the regex becomes: one per literal byte and per class,
/// `x{m,n}` as `n` copies of `x` and `x{m,}` as `max(m, 1)` copies (the loop reuses the last
/// one). Saturates instead of overflowing on nested counts such as `a{1000}{1000}`.
fn positions(hir: &Hir) -> usize {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(lit) => lit.0.len(),
        HirKind::Class(_) => 1,
        HirKind::Repetition(rep) => {
            let copies = rep.max.unwrap_or(rep.min.max(1));
            positions(&rep.sub).saturating_mul(copies as usize)
        }
        HirKind::Capture(cap) => positions(&cap.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs
            .iter()
            .fold(0usize, |acc, h| acc.saturating_add(positions(h))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(s: &str) -> Result<Regex, PatternError> {
        let chars: Vec<char> = s.chars().collect();
        compile(&chars, 1).map(|c| c.regex)
    }

    fn positions_of(s: &str) -> Result<usize, PatternError> {
        let chars: Vec<char> = s.chars().collect();
        compile(&chars, 1).map(|c| c.positions)
    }

    #[test]
    fn positions_unroll_counted_repetitions() {
        // (pattern, positions): each literal byte and class is one, `{m,n}` is n copies.
        for (s, want) in [
            ("ERROR", 5),
            ("\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}", 15),
            (
                "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                36,
            ),
            ("\\w+", 1),
            ("\\w{3,}", 3),
            ("a*b?", 2),
            ("^ab|cd$", 4),
            ("[0-9a-f]{64}", 64),
            ("\\w{1,127}z", 128),
        ] {
            assert_eq!(positions_of(s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn regexes_over_the_position_limit_are_refused_naming_the_count() {
        for (s, shown) in [
            ("\\w{1,1000}z", "1001 positions"),
            ("\\w{1,128}z", "129 positions"),
            ("a{1000}{1000}", "1000000 positions"),
            ("a{1000}{1000}{1000}{1000}", "positions"),
            ("[ab]{65}c[ab]{65}", "131 positions"),
        ] {
            let e = re(s).unwrap_err();
            assert!(
                e.message.contains(shown) && e.message.contains("more than 128"),
                "{s}: {e}"
            );
            assert_eq!(e.column, 1, "{s}");
        }
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
            ("a\tb", 3),
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
    fn a_literal_space_is_a_character_like_any_other() {
        let r = re("^starting|^initializing|^shutting down").unwrap();
        assert!(r.is_match("shutting down now"));
        assert!(!r.is_match("shutting_down"));
        assert!(!r.is_match("now shutting down"));
    }

    #[test]
    fn size_limit_stops_blowups() {
        let e = re("a{1000}{1000}").unwrap_err();
        assert!(e.message.contains("invalid regular expression"), "{e}");
    }
}
