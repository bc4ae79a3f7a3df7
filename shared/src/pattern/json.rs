//! JSON patterns `{ $.a.b = "x" && ($.n > 5 || $.f IS TRUE) }`: selector parsing, the boolean
//! expression grammar (`()` > `&&` > `||`), and evaluation against a parsed JSON object.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::json::object::TextOrValue;
use crate::record::Fields;

use super::operand::{parse_operand, CmpOp, Cursor, Operand, RegexTally};
use super::{
    PatternError, MAX_NESTING_DEPTH, MAX_WILDCARDS_PER_PATTERN, MAX_WILDCARDS_PER_SELECTOR,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    /// `.*` or `[*]`: every element of an array or every value of an object.
    Wildcard,
}

/// A JSON selector such as `$.user.id`, `$.users[0].email`, `$.['cluster.name']`, `$.arr[*]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonSelector {
    text: String,
    steps: Vec<Step>,
}

impl JsonSelector {
    /// Parses a standalone selector (e.g. a metric filter's `metricValue: $.latency`).
    pub fn parse(text: &str) -> Result<JsonSelector, PatternError> {
        let chars: Vec<char> = text.chars().collect();
        let mut cur = Cursor::new(&chars, 0, chars.len());
        cur.skip_ws();
        let mut wildcards = 0;
        let sel = parse_selector(&mut cur, &mut wildcards)?;
        cur.skip_ws();
        if !cur.at_end() {
            return Err(cur.error(cur.pos(), "unexpected text after the selector"));
        }
        Ok(sel)
    }

    /// The key of a selector that is one top-level key (`$.level`).
    fn single_key(&self) -> Option<&str> {
        match self.steps.as_slice() {
            [Step::Key(k)] => Some(k),
            _ => None,
        }
    }

    /// The selector as written, e.g. `$.users[0].email`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first non-container value the selector reaches (document order for wildcards).
    pub fn first<'v>(&self, root: impl Into<Fields<'v>>) -> Option<&'v Value> {
        let root = root.into();
        let mut found = None;
        self.visit(root, &mut |v| {
            if v.is_array() || v.is_object() {
                false
            } else {
                found = Some(v);
                true
            }
        });
        found
    }

    /// Calls `f` on each value the selector reaches until it returns true; reports whether it did.
    fn visit<'v>(&self, root: Fields<'v>, f: &mut dyn FnMut(&'v Value) -> bool) -> bool {
        let Some((first, rest)) = self.steps.split_first() else {
            return false;
        };
        match first {
            Step::Key(k) => root.get(k).is_some_and(|v| walk(v, rest, f)),
            Step::Wildcard => root.values().any(|v| walk(v, rest, f)),
            Step::Index(_) => false,
        }
    }
}

/// Follows `steps` from `v`. A selector holds at most one wildcard, so the recursion at a
/// wildcard is one level deep.
fn walk<'v>(v: &'v Value, steps: &[Step], f: &mut dyn FnMut(&'v Value) -> bool) -> bool {
    let mut cur = v;
    for (i, step) in steps.iter().enumerate() {
        let next = match (step, cur) {
            (Step::Key(k), Value::Object(m)) => m.get(k),
            (Step::Index(n), Value::Array(a)) => a.get(*n),
            (Step::Wildcard, _) => {
                let rest = steps.get(i + 1..).unwrap_or(&[]);
                return match cur {
                    Value::Array(a) => a.iter().any(|c| walk(c, rest, f)),
                    Value::Object(m) => m.values().any(|c| walk(c, rest, f)),
                    _ => false,
                };
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    f(cur)
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '@')
}

fn parse_selector(
    cur: &mut Cursor<'_>,
    pattern_wildcards: &mut usize,
) -> Result<JsonSelector, PatternError> {
    let start = cur.pos();
    if cur.peek() != Some('$') {
        return Err(cur.error(start, "a selector starts with `$`, e.g. `$.level`"));
    }
    cur.bump();
    let mut steps = Vec::new();
    let mut text = String::from("$");
    let mut own_wildcards = 0;
    loop {
        let at = cur.pos();
        let step = match cur.peek() {
            Some('.') => {
                cur.bump();
                match cur.peek() {
                    Some('*') => {
                        cur.bump();
                        Step::Wildcard
                    }
                    Some('[') => bracket(cur)?,
                    Some(c) if is_key_char(c) => {
                        let mut key = String::new();
                        while let Some(c) = cur.peek().filter(|c| is_key_char(*c)) {
                            key.push(c);
                            cur.bump();
                        }
                        Step::Key(key)
                    }
                    _ => {
                        return Err(cur.error(
                            cur.pos(),
                            "expected a property name, `*` or `[…]` after `.` (quote unusual keys: $.['a.b'])",
                        ))
                    }
                }
            }
            Some('[') => bracket(cur)?,
            _ => break,
        };
        if step == Step::Wildcard {
            own_wildcards += 1;
            *pattern_wildcards += 1;
            if own_wildcards > MAX_WILDCARDS_PER_SELECTOR {
                return Err(cur.error(
                    at,
                    format!(
                        "at most {MAX_WILDCARDS_PER_SELECTOR} wildcard is allowed per selector"
                    ),
                ));
            }
            if *pattern_wildcards > MAX_WILDCARDS_PER_PATTERN {
                return Err(cur.error(at, format!(
                    "at most {MAX_WILDCARDS_PER_PATTERN} selector wildcards are allowed per filter pattern"
                )));
            }
        }
        match &step {
            Step::Key(k) if k.chars().all(is_key_char) => {
                text.push('.');
                text.push_str(k);
            }
            Step::Key(k) => {
                text.push_str(".['");
                text.push_str(&k.replace('\\', "\\\\").replace('\'', "\\'"));
                text.push_str("']");
            }
            Step::Index(n) => text.push_str(&format!("[{n}]")),
            Step::Wildcard if steps.is_empty() => text.push_str(".*"),
            Step::Wildcard => text.push_str("[*]"),
        }
        steps.push(step);
    }
    if steps.is_empty() {
        return Err(cur.error(
            start,
            "a selector needs a property after `$`, e.g. `$.level`",
        ));
    }
    Ok(JsonSelector { text, steps })
}

fn bracket(cur: &mut Cursor<'_>) -> Result<Step, PatternError> {
    let open = cur.pos();
    cur.bump();
    let step = match cur.peek() {
        Some('*') => {
            cur.bump();
            Step::Wildcard
        }
        Some(q @ ('\'' | '"')) => Step::Key(cur.quoted(q)?),
        Some(c) if c.is_ascii_digit() => {
            let mut n: usize = 0;
            while let Some(d) = cur.peek().and_then(|c| c.to_digit(10)) {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(d as usize))
                    .ok_or_else(|| cur.error(open, "array index is too large"))?;
                cur.bump();
            }
            Step::Index(n)
        }
        _ => {
            return Err(cur.error(
                cur.pos(),
                "expected an array index, `*` or a quoted key inside `[…]`",
            ))
        }
    };
    if !cur.eat("]") {
        return Err(cur.error(
            cur.pos(),
            format!("expected `]` to close the `[` at column {}", open + 1),
        ));
    }
    Ok(step)
}

#[derive(Debug, Clone)]
enum Test {
    Cmp(CmpOp, Operand),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Cond { selector: usize, test: Test },
}

/// A compiled `{ … }` pattern.
#[derive(Debug, Clone)]
pub(crate) struct JsonPattern {
    root: Expr,
    /// Distinct selectors in order of first use; conditions refer to them by index.
    selectors: Vec<JsonSelector>,
    /// Positions of its `%…%` values, summed (its regex cost per byte).
    pub(crate) regex_positions: usize,
}

impl JsonPattern {
    /// Parses the text between the outer braces (`start..end` in `chars`).
    pub(crate) fn parse(
        chars: &[char],
        start: usize,
        end: usize,
    ) -> Result<JsonPattern, PatternError> {
        let mut p = Parser {
            cur: Cursor::new(chars, start, end),
            selectors: Vec::new(),
            wildcards: 0,
            regexes: RegexTally::default(),
        };
        p.cur.skip_ws();
        if p.cur.at_end() {
            return Err(p.cur.error(
                start.saturating_sub(1),
                "empty JSON pattern `{}`: add a condition such as `$.level = \"ERROR\"`",
            ));
        }
        let root = p.parse_or(0)?;
        p.cur.skip_ws();
        if let Some(c) = p.cur.peek() {
            let msg = match c {
                ')' => "unbalanced `)`".to_string(),
                '&' | '|' => format!("use `{c}{c}` to combine conditions"),
                _ => format!("unexpected `{c}`; combine conditions with `&&` or `||`"),
            };
            return Err(p.cur.error(p.cur.pos(), msg));
        }
        Ok(JsonPattern {
            root,
            selectors: p.selectors,
            regex_positions: p.regexes.positions,
        })
    }

    pub(crate) fn selectors(&self) -> &[JsonSelector] {
        &self.selectors
    }

    pub(crate) fn is_match(&self, root: Fields<'_>) -> bool {
        self.eval(&self.root, root)
    }

    fn eval(&self, e: &Expr, root: Fields<'_>) -> bool {
        match e {
            Expr::Or(items) => items.iter().any(|i| self.eval(i, root)),
            Expr::And(items) => items.iter().all(|i| self.eval(i, root)),
            Expr::Cond { selector, test } => {
                let Some(sel) = self.selectors.get(*selector) else {
                    return false;
                };
                match test {
                    Test::NotExists => !sel.visit(root, &mut |_| true),
                    Test::IsNull => sel.visit(root, &mut |v| v.is_null()),
                    Test::IsTrue => sel.visit(root, &mut |v| v == &Value::Bool(true)),
                    Test::IsFalse => sel.visit(root, &mut |v| v == &Value::Bool(false)),
                    // A string at a top-level key is compared as its text: a lazily indexed
                    // record's plain strings are then read in place, never built into values
                    // (the default rules test `$.level` six ways per event).
                    Test::Cmp(op, operand) => match sel.single_key() {
                        Some(key) => match root.text_or_value(key) {
                            Some(TextOrValue::Text(text)) => operand.test_text(*op, text),
                            Some(TextOrValue::Value(v)) => operand.test_json(*op, v),
                            None => false,
                        },
                        None => sel.visit(root, &mut |v| operand.test_json(*op, v)),
                    },
                }
            }
        }
    }

    /// The value each selector reaches, keyed by its canonical text (`$.a.b`, `$.arr[0]`).
    pub(crate) fn extract(
        &self,
        root: Fields<'_>,
        want: &dyn Fn(&str) -> bool,
    ) -> BTreeMap<String, Value> {
        self.selectors
            .iter()
            .filter(|s| want(&s.text))
            .filter_map(|s| Some((s.text.clone(), s.first(root)?.clone())))
            .collect()
    }
}

struct Parser<'a> {
    cur: Cursor<'a>,
    selectors: Vec<JsonSelector>,
    wildcards: usize,
    regexes: RegexTally,
}

impl Parser<'_> {
    fn parse_or(&mut self, depth: usize) -> Result<Expr, PatternError> {
        let mut items = vec![self.parse_and(depth)?];
        loop {
            self.cur.skip_ws();
            if self.cur.eat("||") {
                items.push(self.parse_and(depth)?);
            } else {
                break;
            }
        }
        Ok(collapse(items, Expr::Or))
    }

    fn parse_and(&mut self, depth: usize) -> Result<Expr, PatternError> {
        let mut items = vec![self.parse_primary(depth)?];
        loop {
            self.cur.skip_ws();
            if self.cur.eat("&&") {
                items.push(self.parse_primary(depth)?);
            } else {
                break;
            }
        }
        Ok(collapse(items, Expr::And))
    }

    fn parse_primary(&mut self, depth: usize) -> Result<Expr, PatternError> {
        self.cur.skip_ws();
        let at = self.cur.pos();
        match self.cur.peek() {
            Some('(') => {
                if depth >= MAX_NESTING_DEPTH {
                    return Err(self.cur.error(
                        at,
                        format!("parentheses nest deeper than {MAX_NESTING_DEPTH} levels"),
                    ));
                }
                self.cur.bump();
                let e = self.parse_or(depth + 1)?;
                self.cur.skip_ws();
                if !self.cur.eat(")") {
                    return Err(self.cur.error(
                        self.cur.pos(),
                        format!("expected `)` to close the `(` at column {}", at + 1),
                    ));
                }
                Ok(e)
            }
            Some('$') => self.parse_condition(),
            None => Err(self
                .cur
                .error(at, "expected a condition such as `$.level = \"ERROR\"`")),
            Some(c) => Err(self.cur.error(
                at,
                format!("expected a selector starting with `$` or `(`, found `{c}`"),
            )),
        }
    }

    fn parse_condition(&mut self) -> Result<Expr, PatternError> {
        let sel = parse_selector(&mut self.cur, &mut self.wildcards)?;
        let selector = match self.selectors.iter().position(|s| s.text == sel.text) {
            Some(i) => i,
            None => {
                self.selectors.push(sel);
                self.selectors.len() - 1
            }
        };
        self.cur.skip_ws();
        let at = self.cur.pos();
        let test = if self.cur.eat_keyword("IS") {
            self.cur.skip_ws();
            let kw = self.cur.pos();
            if self.cur.eat_keyword("NULL") {
                Test::IsNull
            } else if self.cur.eat_keyword("TRUE") {
                Test::IsTrue
            } else if self.cur.eat_keyword("FALSE") {
                Test::IsFalse
            } else if self.cur.eat_keyword("NOT") {
                return Err(self.cur.error(
                    kw,
                    "`IS NOT` is not supported; use `NOT EXISTS`, `!=`, `IS TRUE` or `IS FALSE`",
                ));
            } else {
                return Err(self.cur.error(kw, "expected NULL, TRUE or FALSE after IS"));
            }
        } else if self.cur.eat_keyword("NOT") {
            self.cur.skip_ws();
            if !self.cur.eat_keyword("EXISTS") {
                return Err(self.cur.error(self.cur.pos(), "expected EXISTS after NOT"));
            }
            Test::NotExists
        } else if self.cur.eat_keyword("EXISTS") {
            return Err(self
                .cur
                .error(at, "`EXISTS` is not supported; use `NOT EXISTS` or `= *`"));
        } else {
            let op = CmpOp::parse(&mut self.cur)?;
            let operand = parse_operand(&mut self.cur, op, &mut self.regexes)?;
            Test::Cmp(op, operand)
        };
        Ok(Expr::Cond { selector, test })
    }
}

fn collapse(mut items: Vec<Expr>, wrap: fn(Vec<Expr>) -> Expr) -> Expr {
    match (items.len(), items.pop()) {
        (1, Some(only)) => only,
        (_, Some(last)) => {
            items.push(last);
            wrap(items)
        }
        (_, None) => wrap(items),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    proptest::proptest! {
        /// A top-level value read in one lookup (a string as its text: the fast path) answers
        /// as the same value one level down (reached by the selector walk), on maps and on
        /// indexed objects.
        #[test]
        fn top_level_values_compare_as_nested_ones(
            value in proptest::prop_oneof![
                proptest::sample::select(vec![
                    json!("ERROR"), json!("error"), json!(" ERROR"), json!("ERROR "),
                    json!("ERRORS"), json!("500"), json!("5e2"), json!("true"), json!(""),
                    json!("Err\"or"), json!("ÉRROR"), json!("m"), json!(500), json!(5e2),
                    json!(200.5), json!(-1), json!(true), json!(null), json!(["ERROR"]),
                    json!({"k": "ERROR"}),
                ]),
                proptest::strategy::Strategy::prop_map("[ a-zA-Z0-9\"\\\\é*%]{0,8}", Value::String),
            ],
            condition in proptest::sample::select(vec![
                "= \"ERROR\"", "!= \"ERROR\"", "= \"ERR*\"", "= \"*OR\"", "= *", "= 500",
                "!= 500", "> 200", "<= 5e2", "= %ERR[A-Z]+%", "!= %^ *$%",
            ]),
            absent in proptest::bool::ANY,
        ) {
            use crate::pattern::{FilterPattern, MatchInput};
            // The key is absent when the value is `null` and `absent` is set.
            let key = if absent && value.is_null() { "x" } else { "k" };
            let top = serde_json::to_string(&json!({ key: value })).unwrap();
            let nested = serde_json::to_string(&json!({ "o": { key: value } })).unwrap();
            let fast = FilterPattern::compile(&format!("{{ $.k {condition} }}")).unwrap();
            let walked = FilterPattern::compile(&format!("{{ $.o.k {condition} }}")).unwrap();
            let map = |text: &str| serde_json::from_str::<Map<String, Value>>(text).unwrap();
            let (top_map, nested_map) = (map(&top), map(&nested));
            let want = walked.is_match(&MatchInput {
                message: &nested,
                json: Some(Fields::Map(&nested_map)),
            });
            let on_map = fast.is_match(&MatchInput {
                message: &top,
                json: Some(Fields::Map(&top_map)),
            });
            proptest::prop_assert_eq!(on_map, want, "{} {}", top, condition);
            if let Some(object) = crate::json::index_object(&top) {
                let lazy = fast.is_match(&MatchInput {
                    message: &top,
                    json: Some(Fields::Lazy { object: &object, text: &top }),
                });
                proptest::prop_assert_eq!(lazy, want, "lazy {} {}", top, condition);
            }
        }
    }

    #[test]
    fn standalone_selectors_reach_scalars_only() {
        let doc = obj(json!({
            "a": {"b": [10, {"c": "x"}]},
            "k.v": {"it's": 3},
            "list": [{"n": 1}, {"n": 2}],
        }));
        for (sel, canonical, want) in [
            ("$.a.b[0]", "$.a.b[0]", Some(json!(10))),
            ("$.a.b[1].c", "$.a.b[1].c", Some(json!("x"))),
            ("$.a.b", "$.a.b", None),
            ("$.a.b[9]", "$.a.b[9]", None),
            ("$['k.v']['it\\'s']", "$.['k.v'].['it\\'s']", Some(json!(3))),
            ("$.list.*.n", "$.list[*].n", Some(json!(1))),
            ("$.*", "$.*", None),
        ] {
            let s = JsonSelector::parse(sel).unwrap();
            assert_eq!(s.text(), canonical, "{sel}");
            assert_eq!(s.first(&doc), want.as_ref(), "{sel}");
            let again = JsonSelector::parse(s.text()).unwrap();
            assert_eq!(
                again, s,
                "canonical text of {sel} parses back to the same selector"
            );
        }
    }

    #[test]
    fn standalone_selector_errors() {
        for (sel, col) in [
            ("$", 1),
            ("$.a b", 5),
            ("a.b", 1),
            ("$.a[*][*]", 7),
            ("$.a[99999999999999999999999]", 4),
        ] {
            let e = JsonSelector::parse(sel).unwrap_err();
            assert_eq!(e.column, col, "{sel}: {e}");
        }
    }
}
