//! Unstructured term patterns: `ERROR Exception`, `?ERROR ?WARN`, `ERROR -DEBUG`,
//! `"INTERNAL SERVER ERROR"`; case-sensitive substring search with prebuilt finders.

use memchr::memmem::Finder;

use super::operand::Cursor;
use super::PatternError;

#[derive(Debug, Clone)]
pub(crate) struct Terms {
    all: Vec<Finder<'static>>,
    any: Vec<Finder<'static>>,
    none: Vec<Finder<'static>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    All,
    Any,
    None,
}

impl Terms {
    pub(crate) fn parse(chars: &[char]) -> Result<Terms, PatternError> {
        let mut cur = Cursor::new(chars, 0, chars.len());
        let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
        let mut has_plain = false;
        loop {
            cur.skip_ws();
            let Some(c) = cur.peek() else { break };
            let op_at = cur.pos();
            let role = match c {
                '?' => Role::Any,
                '-' => Role::None,
                _ => Role::All,
            };
            if role != Role::All {
                cur.bump();
                // `"ERROR" - "Exiting"` (a detached minus) appears in AWS's own examples.
                if cur.peek().is_none_or(char::is_whitespace) {
                    cur.skip_ws();
                    if cur.at_end() {
                        return Err(cur.error(op_at, format!("`{c}` must be followed by a term")));
                    }
                }
            }
            let at = cur.pos();
            let text = match cur.peek() {
                Some('"') => {
                    let s = cur.quoted('"')?;
                    if let Some(n) = cur.peek().filter(|n| !n.is_whitespace()) {
                        return Err(cur.error(
                            cur.pos(),
                            format!("expected a space after the closing quote, found `{n}`"),
                        ));
                    }
                    s
                }
                Some('%') => {
                    return Err(cur.error(
                        at,
                        "a %regex% must be the whole filter pattern (or a value inside {…} / […])",
                    ));
                }
                _ => {
                    let mut s = String::new();
                    while let Some(c) = cur.peek().filter(|c| !c.is_whitespace()) {
                        s.push(c);
                        cur.bump();
                    }
                    s
                }
            };
            // `" "` and `""` are AWS's spelling of "match everything": blank terms constrain nothing.
            if text.trim().is_empty() {
                continue;
            }
            if role != Role::Any {
                has_plain = true;
            }
            let finder = Finder::new(text.as_bytes()).into_owned();
            match role {
                Role::All => all.push(finder),
                Role::Any => any.push(finder),
                Role::None => none.push(finder),
            }
        }
        // AWS: when `?` terms are combined with any non-`?` term, the `?` terms are ignored.
        if has_plain {
            any.clear();
        }
        Ok(Terms { all, any, none })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty() && self.any.is_empty() && self.none.is_empty()
    }

    pub(crate) fn is_match(&self, message: &str) -> bool {
        let hay = message.as_bytes();
        self.all.iter().all(|f| f.find(hay).is_some())
            && !self.none.iter().any(|f| f.find(hay).is_some())
            && (self.any.is_empty() || self.any.iter().any(|f| f.find(hay).is_some()))
    }
}
