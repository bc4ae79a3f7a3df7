//! Space-delimited patterns `[ip, user, ..., status_code = 4*, bytes > 1000]`: splits the
//! message into fields and matches them positionally against the pattern's field list.
//!
//! Rules implemented (AWS's page on space-delimited filter patterns leaves the edges open):
//! - Fields are separated by runs of ASCII whitespace; a field that starts with `[` runs to the
//!   next `]`, one that starts with `"` to the next `"` (brackets/quotes stripped from the value).
//!   An unclosed `[`/`"` is an ordinary field.
//! - The pattern must account for the whole message. Without `...`, the last field absorbs any
//!   extra fields (the "blank indicator" of `[w1=ERROR, w2]`); its value is then the raw text
//!   from its first field to the end of the line. With `...`, each named field takes exactly one
//!   field and each `...` takes zero or more; when several alignments fit, earlier fields bind to
//!   the earliest possible positions.
//! - Extracted values: `$name` for named fields; every other message field (taken by `...` or an
//!   empty slot such as the trailing `,` in AWS's `[..., request=*.html*, status_code=4*,]`) as
//!   `$N`, its 1-based position in the message, as TestMetricFilter shows them.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::Value;

use super::operand::{is_word_char, parse_operand, CmpOp, Cursor, Operand, RegexTally};
use super::{PatternError, MAX_NESTING_DEPTH};

#[derive(Debug, Clone)]
enum Cond {
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Cmp(CmpOp, Operand),
}

impl Cond {
    fn eval(&self, value: &str) -> bool {
        match self {
            Cond::Or(items) => items.iter().any(|c| c.eval(value)),
            Cond::And(items) => items.iter().all(|c| c.eval(value)),
            Cond::Cmp(op, operand) => operand.test_text(*op, value),
        }
    }
}

#[derive(Debug, Clone)]
enum Slot {
    Ellipsis,
    Field {
        /// The extracted value's key, `$name` (built once here, not per event).
        name: Option<String>,
        cond: Option<Cond>,
    },
}

impl Slot {
    fn accepts(&self, value: &str) -> bool {
        match self {
            Slot::Ellipsis => true,
            Slot::Field { cond, .. } => cond.as_ref().is_none_or(|c| c.eval(value)),
        }
    }
}

/// A compiled `[ … ]` pattern.
#[derive(Debug, Clone)]
pub(crate) struct Delimited {
    slots: Vec<Slot>,
    has_ellipsis: bool,
    /// Positions of its `%…%` conditions, summed (its regex cost per byte).
    pub(crate) regex_positions: usize,
}

/// Parse result of one slot expression: a bare name, or a condition on a name.
enum Node {
    Name(String, usize),
    Cond(Cond, String, usize),
}

impl Delimited {
    /// Parses the text between the outer brackets (`start..end` in `chars`).
    pub(crate) fn parse(
        chars: &[char],
        start: usize,
        end: usize,
    ) -> Result<Delimited, PatternError> {
        let mut cur = Cursor::new(chars, start, end);
        let mut slots = Vec::new();
        let mut regexes = RegexTally::default();
        let mut names: Vec<String> = Vec::new();
        cur.skip_ws();
        if cur.at_end() {
            return Err(cur.error(start.saturating_sub(1), "empty space-delimited pattern `[]`: name the fields, e.g. `[level, message]` or `[...]`"));
        }
        loop {
            cur.skip_ws();
            let slot = if cur.eat("...") || cur.eat("\u{2026}") {
                Slot::Ellipsis
            } else if cur.at_end() || cur.peek() == Some(',') {
                Slot::Field {
                    name: None,
                    cond: None,
                }
            } else {
                match parse_or(&mut cur, 0, &mut regexes)? {
                    Node::Name(name, at) | Node::Cond(_, name, at) if names.contains(&name) => {
                        return Err(cur.error(at, format!("field `{name}` is named twice")));
                    }
                    Node::Name(name, _) => {
                        names.push(name.clone());
                        Slot::Field {
                            name: Some(format!("${name}")),
                            cond: None,
                        }
                    }
                    Node::Cond(cond, name, _) => {
                        names.push(name.clone());
                        Slot::Field {
                            name: Some(format!("${name}")),
                            cond: Some(cond),
                        }
                    }
                }
            };
            slots.push(slot);
            cur.skip_ws();
            match cur.peek() {
                None => break,
                Some(',') => {
                    cur.bump();
                }
                Some(c) => {
                    let msg = match c {
                        '&' | '|' => format!("use `{c}{c}` to combine conditions"),
                        ')' => "unbalanced `)`".to_string(),
                        _ => format!("expected `,` between fields, found `{c}`"),
                    };
                    return Err(cur.error(cur.pos(), msg));
                }
            }
        }
        let has_ellipsis = slots.iter().any(|s| matches!(s, Slot::Ellipsis));
        Ok(Delimited {
            slots,
            has_ellipsis,
            regex_positions: regexes.positions,
        })
    }

    /// Names of the named fields, in pattern order.
    pub(crate) fn field_names(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Field { name: Some(n), .. } => {
                    Some(n.strip_prefix('$').unwrap_or(n).to_string())
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn is_match(&self, message: &str) -> bool {
        with_tokens(message, self.token_limit(), |toks| {
            self.align(message, toks, None)
        })
    }

    pub(crate) fn extract(
        &self,
        message: &str,
        want: &dyn Fn(&str) -> bool,
    ) -> Option<BTreeMap<String, Value>> {
        with_tokens(message, self.token_limit(), |toks| {
            let mut bound = vec![usize::MAX; self.slots.len()];
            if !self.align(message, toks, Some(&mut bound)) {
                return None;
            }
            // Without `...` the last slot owns the rest of the line.
            let value_of = |t: usize, tok: &Tok| {
                if !self.has_ellipsis && t + 1 == self.slots.len() {
                    absorbed(message, toks, t)
                } else {
                    tok.value(message)
                }
            };
            let mut out = BTreeMap::new();
            let mut taken = vec![false; toks.len()];
            for (slot, &t) in self.slots.iter().zip(&bound) {
                let Slot::Field {
                    name: Some(name), ..
                } = slot
                else {
                    continue;
                };
                if let Some(tok) = toks.get(t) {
                    if want(name) {
                        out.insert(name.clone(), Value::String(value_of(t, tok).to_string()));
                    }
                    if let Some(flag) = taken.get_mut(t) {
                        *flag = true;
                    }
                }
            }
            let limit = if self.has_ellipsis {
                toks.len()
            } else {
                self.slots.len()
            };
            for (i, tok) in toks.iter().enumerate().take(limit) {
                if !taken.get(i).copied().unwrap_or(true) {
                    let key = format!("${}", i + 1);
                    if want(&key) {
                        out.insert(key, Value::String(value_of(i, tok).to_string()));
                    }
                }
            }
            Some(out)
        })
    }

    /// Without `...` only the first `slots + 1` fields matter (the last slot takes the rest).
    fn token_limit(&self) -> usize {
        if self.has_ellipsis {
            usize::MAX
        } else {
            self.slots.len() + 1
        }
    }

    /// Aligns slots with message fields; records each slot's field index in `bound`.
    fn align(&self, message: &str, toks: &[Tok], mut bound: Option<&mut Vec<usize>>) -> bool {
        let k = self.slots.len();
        let n = toks.len();
        if !self.has_ellipsis {
            if n < k {
                return false;
            }
            for (i, slot) in self.slots.iter().enumerate() {
                let Some(tok) = toks.get(i) else { return false };
                let value = if i + 1 == k {
                    absorbed(message, toks, i)
                } else {
                    tok.value(message)
                };
                if !slot.accepts(value) {
                    return false;
                }
                if let Some(b) = bound.as_deref_mut().and_then(|b| b.get_mut(i)) {
                    *b = i;
                }
            }
            return true;
        }
        // Glob matching with `...` as the star: on a mismatch, let the most recent `...` take one
        // more field and retry. O(slots × fields), no allocation.
        let (mut i, mut j) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            match self.slots.get(i) {
                Some(Slot::Ellipsis) => {
                    i += 1;
                    star = Some((i, j));
                    continue;
                }
                Some(slot) if toks.get(j).is_some_and(|t| slot.accepts(t.value(message))) => {
                    if let Some(b) = bound.as_deref_mut().and_then(|b| b.get_mut(i)) {
                        *b = j;
                    }
                    i += 1;
                    j += 1;
                    continue;
                }
                None if j == n => return true,
                _ => {}
            }
            if j == n {
                return false;
            }
            match star {
                Some((si, sj)) => {
                    star = Some((si, sj + 1));
                    i = si;
                    j = sj + 1;
                }
                None => return false,
            }
        }
    }
}

/// The value of the last slot when it takes the rest of the line: the field itself when it is
/// the last one, otherwise the raw text from its start to the end of the last field.
/// Every non-blank byte belongs to some field, so the rest of the line ends where the trimmed
/// message does; this lets the tokenizer stop after `slots + 1` fields.
fn absorbed<'m>(message: &'m str, toks: &[Tok], i: usize) -> &'m str {
    match toks.get(i) {
        Some(t) if i + 1 < toks.len() => {
            let end = message
                .trim_end_matches(|c: char| c.is_ascii_whitespace())
                .len();
            message.get(t.raw_start..end).unwrap_or("")
        }
        Some(t) => t.value(message),
        None => "",
    }
}

fn parse_or(
    cur: &mut Cursor<'_>,
    depth: usize,
    regexes: &mut RegexTally,
) -> Result<Node, PatternError> {
    let first = parse_and(cur, depth, regexes)?;
    let mut items = Vec::new();
    loop {
        cur.skip_ws();
        if !cur.eat("||") {
            break;
        }
        items.push(parse_and(cur, depth, regexes)?);
    }
    combine(first, items, cur, Cond::Or)
}

fn parse_and(
    cur: &mut Cursor<'_>,
    depth: usize,
    regexes: &mut RegexTally,
) -> Result<Node, PatternError> {
    let first = parse_primary(cur, depth, regexes)?;
    let mut items = Vec::new();
    loop {
        cur.skip_ws();
        if !cur.eat("&&") {
            break;
        }
        items.push(parse_primary(cur, depth, regexes)?);
    }
    combine(first, items, cur, Cond::And)
}

fn first_clone_name(n: &Node) -> (String, usize) {
    match n {
        Node::Name(s, at) | Node::Cond(_, s, at) => (s.clone(), *at),
    }
}

/// Joins `first` and `rest` with `wrap`; every operand must be a condition on the same field.
fn combine(
    first: Node,
    rest: Vec<Node>,
    cur: &Cursor<'_>,
    wrap: fn(Vec<Cond>) -> Cond,
) -> Result<Node, PatternError> {
    if rest.is_empty() {
        return Ok(first);
    }
    let (name, at) = first_clone_name(&first);
    let mut conds = Vec::with_capacity(rest.len() + 1);
    for node in std::iter::once(first).chain(rest) {
        match node {
            Node::Name(n, pos) => {
                return Err(cur.error(
                    pos,
                    format!("field `{n}` needs a condition when combined with `&&`/`||`"),
                ));
            }
            Node::Cond(c, n, pos) => {
                if n != name {
                    return Err(cur.error(pos, format!(
                        "conditions in the `{name}` field can only test `{name}`, not `{n}` (give `{n}` its own field)"
                    )));
                }
                conds.push(c);
            }
        }
    }
    Ok(Node::Cond(wrap(conds), name, at))
}

fn parse_primary(
    cur: &mut Cursor<'_>,
    depth: usize,
    regexes: &mut RegexTally,
) -> Result<Node, PatternError> {
    cur.skip_ws();
    let at = cur.pos();
    match cur.peek() {
        Some('(') => {
            if depth >= MAX_NESTING_DEPTH {
                return Err(cur.error(
                    at,
                    format!("parentheses nest deeper than {MAX_NESTING_DEPTH} levels"),
                ));
            }
            cur.bump();
            let node = parse_or(cur, depth + 1, regexes)?;
            cur.skip_ws();
            if !cur.eat(")") {
                return Err(cur.error(
                    cur.pos(),
                    format!("expected `)` to close the `(` at column {}", at + 1),
                ));
            }
            Ok(node)
        }
        Some(c) if is_word_char(c) => {
            let mut name = String::new();
            while let Some(c) = cur.peek().filter(|c| is_word_char(*c)) {
                name.push(c);
                cur.bump();
            }
            cur.skip_ws();
            if matches!(cur.peek(), Some('=' | '!' | '<' | '>')) {
                let op = CmpOp::parse(cur)?;
                let operand = parse_operand(cur, op, regexes)?;
                Ok(Node::Cond(Cond::Cmp(op, operand), name, at))
            } else {
                Ok(Node::Name(name, at))
            }
        }
        None => Err(cur.error(at, "expected a field name")),
        Some(c) => Err(cur.error(
            at,
            format!("expected a field name, `...` or `,`, found `{c}`"),
        )),
    }
}

/// One message field: where it starts (at its `[`/`"`) and the value span inside it.
#[derive(Debug, Clone, Copy)]
struct Tok {
    raw_start: usize,
    start: usize,
    end: usize,
}

impl Tok {
    fn value<'m>(&self, message: &'m str) -> &'m str {
        message.get(self.start..self.end).unwrap_or("")
    }
}

fn is_delim(b: u8) -> bool {
    b.is_ascii_whitespace()
}

/// Splits `message` into at most `limit` fields.
fn tokenize(message: &str, out: &mut Vec<Tok>, limit: usize) {
    let b = message.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < limit {
        if b.get(i).copied().is_some_and(is_delim) {
            i += 1;
            continue;
        }
        let close = match b.get(i) {
            Some(b'[') => Some(b']'),
            Some(b'"') => Some(b'"'),
            _ => None,
        };
        if let Some(close) = close {
            let rest = b.get(i + 1..).unwrap_or(&[]);
            if let Some(off) = memchr::memchr(close, rest) {
                let end = i + 1 + off;
                out.push(Tok {
                    raw_start: i,
                    start: i + 1,
                    end,
                });
                i = end + 1;
                continue;
            }
        }
        let start = i;
        while b.get(i).is_some_and(|c| !is_delim(*c)) {
            i += 1;
        }
        out.push(Tok {
            raw_start: start,
            start,
            end: i,
        });
    }
}

thread_local! {
    /// Reused field buffer so matching a line does not allocate once the buffer has grown.
    static TOKENS: RefCell<Vec<Tok>> = const { RefCell::new(Vec::new()) };
}

/// Buffers above this many fields are released after use instead of kept per thread.
const KEPT_TOKEN_CAPACITY: usize = 1024;

fn with_tokens<R>(message: &str, limit: usize, f: impl FnOnce(&[Tok]) -> R) -> R {
    TOKENS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            tokenize(message, &mut buf, limit);
            let out = f(&buf);
            if buf.capacity() > KEPT_TOKEN_CAPACITY {
                buf.clear();
                buf.shrink_to(KEPT_TOKEN_CAPACITY);
            }
            out
        }
        // Only reachable on reentrant use; fall back to a private buffer.
        Err(_) => {
            let mut buf = Vec::new();
            tokenize(message, &mut buf, limit);
            f(&buf)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_keeps_brackets_and_quotes_together() {
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200  1534"#;
        let mut toks = Vec::new();
        tokenize(line, &mut toks, usize::MAX);
        let vals: Vec<&str> = toks.iter().map(|t| t.value(line)).collect();
        assert_eq!(
            vals,
            [
                "127.0.0.1",
                "-",
                "frank",
                "10/Oct/2000:13:25:15 -0700",
                "GET /apache_pb.gif HTTP/1.0",
                "200",
                "1534"
            ]
        );
        let mut toks = Vec::new();
        tokenize("a [unclosed b \"x", &mut toks, usize::MAX);
        let vals: Vec<&str> = toks.iter().map(|t| t.value("a [unclosed b \"x")).collect();
        assert_eq!(vals, ["a", "[unclosed", "b", "\"x"]);
    }
}
