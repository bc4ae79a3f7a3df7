//! Lexing shared by the JSON and space-delimited grammars: a character cursor that reports
//! 1-based columns, comparison operators, and the right-hand values they compare against.

use memchr::memmem;
use regex::Regex;
use serde_json::Value;

use super::{regex_subset, PatternError, MAX_REGEXES_PER_PATTERN};

/// A cursor over the pattern's characters; positions are character indexes into the whole source
/// so every error can name the column the user typed.
pub(crate) struct Cursor<'a> {
    chars: &'a [char],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(chars: &'a [char], start: usize, end: usize) -> Self {
        Cursor {
            chars,
            pos: start,
            end: end.min(chars.len()),
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    pub(crate) fn peek_at(&self, n: usize) -> Option<char> {
        let i = self.pos.checked_add(n)?;
        if i < self.end {
            self.chars.get(i).copied()
        } else {
            None
        }
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes `s` if the input continues with it.
    pub(crate) fn eat(&mut self, s: &str) -> bool {
        let matches = s
            .chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c));
        if matches {
            self.pos += s.chars().count();
        }
        matches
    }

    /// Consumes the keyword `word` (ASCII case-insensitive) when it is not followed by more
    /// word characters.
    pub(crate) fn eat_keyword(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let same = word
            .chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i).is_some_and(|p| p.eq_ignore_ascii_case(&c)));
        if same && !self.peek_at(n).is_some_and(is_word_char) {
            self.pos += n;
            true
        } else {
            false
        }
    }

    pub(crate) fn error(&self, pos: usize, message: impl Into<String>) -> PatternError {
        PatternError {
            column: pos + 1,
            message: message.into(),
        }
    }

    /// Reads a double-quoted string starting at the opening quote; `\"` and `\\` are escapes.
    pub(crate) fn quoted(&mut self, quote: char) -> Result<String, PatternError> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error(open, format!("unterminated {quote}…{quote} string")))
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') if matches!(self.peek(), Some(n) if n == quote || n == '\\') => {
                    if let Some(n) = self.bump() {
                        out.push(n);
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }
}

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Comparison operators of JSON conditions and space-delimited field conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(crate) fn parse(cur: &mut Cursor<'_>) -> Result<CmpOp, PatternError> {
        let at = cur.pos();
        if cur.eat("==") {
            return Err(cur.error(at, "`==` is not an operator; use `=`"));
        }
        let op = if cur.eat("!=") {
            CmpOp::Ne
        } else if cur.eat("<=") {
            CmpOp::Le
        } else if cur.eat(">=") {
            CmpOp::Ge
        } else if cur.eat("=") {
            CmpOp::Eq
        } else if cur.eat("<") {
            CmpOp::Lt
        } else if cur.eat(">") {
            CmpOp::Gt
        } else {
            return Err(cur.error(at, "expected a comparison operator (=, !=, <, <=, >, >=)"));
        };
        Ok(op)
    }

    fn is_relational(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// A string value with CloudWatch's wildcard rule: only a leading and/or trailing `*` is a
/// wildcard; a `*` in the middle is literal (the docs: `Ev*ent` only matches `Ev*ent`).
#[derive(Debug, Clone)]
pub(crate) struct WildText {
    core: String,
    leading: bool,
    trailing: bool,
}

impl WildText {
    fn new(text: &str) -> Self {
        let (leading, rest) = match text.strip_prefix('*') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (trailing, core) = match rest.strip_suffix('*') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        WildText {
            core: core.to_string(),
            leading,
            trailing,
        }
    }

    fn matches(&self, s: &str) -> bool {
        let core = self.core.as_str();
        match (self.leading, self.trailing) {
            (false, false) => s == core,
            (true, false) => s.ends_with(core),
            (false, true) => s.starts_with(core),
            (true, true) => memmem::find(s.as_bytes(), core.as_bytes()).is_some(),
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// A lone `*` (bare or quoted): any present scalar.
    Any,
    Text(WildText),
    /// A literal in CloudWatch's number grammar; compared numerically.
    Number(f64),
    Regex(Regex),
}

/// Characters a bare (unquoted) value may contain; anything else has to be quoted.
fn is_bare_value_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '*' | '.' | '-' | '+' | ':' | '/' | '@')
}

/// The `%…%` values of one whole pattern: how many, and their positions summed (the pattern's
/// matching cost per byte, see [`regex_subset::MAX_REGEX_POSITIONS`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RegexTally {
    pub count: usize,
    pub positions: usize,
}

/// Parses a value after `op`. `regexes` counts `%…%` values across the whole pattern.
pub(crate) fn parse_operand(
    cur: &mut Cursor<'_>,
    op: CmpOp,
    regexes: &mut RegexTally,
) -> Result<Operand, PatternError> {
    cur.skip_ws();
    let at = cur.pos();
    let operand = match cur.peek() {
        None => return Err(cur.error(at, "expected a value after the operator")),
        Some('"') => {
            let s = cur.quoted('"')?;
            if s == "*" {
                Operand::Any
            } else {
                Operand::Text(WildText::new(&s))
            }
        }
        Some('%') => {
            regexes.count += 1;
            if regexes.count > MAX_REGEXES_PER_PATTERN {
                return Err(cur.error(
                    at,
                    format!("at most {MAX_REGEXES_PER_PATTERN} regular expressions are allowed per filter pattern"),
                ));
            }
            cur.bump();
            let start = cur.pos();
            while cur.peek().is_some_and(|c| c != '%') {
                cur.bump();
            }
            if cur.peek() != Some('%') {
                return Err(cur.error(at, "unterminated %…% regular expression"));
            }
            let end = cur.pos();
            cur.bump();
            let compiled = regex_subset::compile(cur_chars(cur, start, end), start)?;
            regexes.positions = regexes.positions.saturating_add(compiled.positions);
            Operand::Regex(compiled.regex)
        }
        Some(_) => {
            let mut text = String::new();
            while let Some(c) = cur.peek() {
                if is_bare_value_char(c) {
                    text.push(c);
                    cur.bump();
                } else {
                    break;
                }
            }
            if text.is_empty() {
                let c = cur.peek().unwrap_or(' ');
                return Err(cur.error(
                    at,
                    format!("expected a value, found `{c}` (quote values that contain it)"),
                ));
            }
            if let Some(c) = cur
                .peek()
                .filter(|c| !c.is_whitespace() && !"()&|,".contains(*c))
            {
                return Err(cur.error(
                    cur.pos(),
                    format!("character `{c}` is not allowed in an unquoted value; put the value in double quotes"),
                ));
            }
            if let Some(n) = parse_number(&text) {
                Operand::Number(n)
            } else if text == "*" {
                Operand::Any
            } else {
                Operand::Text(WildText::new(&text))
            }
        }
    };
    if op.is_relational() && !matches!(operand, Operand::Number(_)) {
        return Err(cur.error(
            at,
            "`<`, `<=`, `>` and `>=` need a number (e.g. 200, -1.5, 1e+3)",
        ));
    }
    Ok(operand)
}

fn cur_chars<'a>(cur: &Cursor<'a>, start: usize, end: usize) -> &'a [char] {
    cur.chars.get(start..end).unwrap_or(&[])
}

/// CloudWatch's number grammar: optional sign, digits, optional `.digits`, optional exponent
/// `e[+-]digits`. Stricter than `str::parse::<f64>` (which takes `inf`, `NaN`, `.5`).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl Operand {
    /// Compares a text value (a delimited field, a JSON string).
    pub(crate) fn test_text(&self, op: CmpOp, s: &str) -> bool {
        match (op, self) {
            (CmpOp::Eq, _) => self.equals_text(s),
            (CmpOp::Ne, _) => !self.equals_text(s),
            (_, Operand::Number(n)) => parse_number(s.trim()).is_some_and(|v| relate(op, v, *n)),
            _ => false,
        }
    }

    fn equals_text(&self, s: &str) -> bool {
        match self {
            Operand::Any => true,
            Operand::Text(w) => w.matches(s),
            Operand::Number(n) => parse_number(s.trim()) == Some(*n),
            Operand::Regex(r) => r.is_match(s),
        }
    }

    /// Compares a JSON value. Only scalars compare: null, arrays and objects fail both `=` and
    /// `!=` (the docs: a selector on an array/object does not match either way).
    pub(crate) fn test_json(&self, op: CmpOp, v: &Value) -> bool {
        match v {
            Value::String(s) => self.test_text(op, s),
            Value::Number(num) => match (self, num.as_f64()) {
                (Operand::Number(n), Some(f)) => relate(op, f, *n),
                (_, _) if op.is_relational() => false,
                _ => {
                    // Text and regex values compare against the number as written in the JSON.
                    let text = num.to_string();
                    self.test_text(op, &text)
                }
            },
            Value::Bool(b) => {
                !op.is_relational()
                    && !matches!(self, Operand::Number(_))
                    && self.test_text(op, if *b { "true" } else { "false" })
            }
            Value::Null | Value::Array(_) | Value::Object(_) => false,
        }
    }
}

fn relate(op: CmpOp, v: f64, n: f64) -> bool {
    match op {
        CmpOp::Eq => v == n,
        CmpOp::Ne => v != n,
        CmpOp::Lt => v < n,
        CmpOp::Le => v <= n,
        CmpOp::Gt => v > n,
        CmpOp::Ge => v >= n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_grammar_follows_the_docs() {
        for (s, want) in [
            ("200", Some(200.0)),
            ("+1000", Some(1000.0)),
            ("-5", Some(-5.0)),
            ("55.5", Some(55.5)),
            ("10e3", Some(10_000.0)),
            ("1e+3", Some(1000.0)),
            ("10e-3", Some(0.01)),
            ("1E3", Some(1000.0)),
            (".5", None),
            ("5.", None),
            ("inf", None),
            ("NaN", None),
            ("1e", None),
            ("1e999", None),
            ("12a", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(parse_number(s), want, "{s}");
        }
    }

    #[test]
    fn wildcards_only_at_the_ends() {
        for (pat, s, want) in [
            ("*Event", "PutEvent", true),
            ("*Event", "EventPut", false),
            ("Event*", "EventId", true),
            ("Event*", "MyEventId", false),
            ("*html*", "GET /index.html HTTP/1.0", true),
            ("Ev*ent", "Event", false),
            ("Ev*ent", "Ev*ent", true),
            ("**", "", true),
            ("abc", "abc", true),
            ("abc", "abcd", false),
        ] {
            assert_eq!(WildText::new(pat).matches(s), want, "{pat} vs {s}");
        }
    }
}
