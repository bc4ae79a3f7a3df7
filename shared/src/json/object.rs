//! The fast path for the JSON objects application loggers write: one object of strings, numbers,
//! booleans and nulls, with the odd nested value. Profiling put serde_json's generic `Value`
//! visitor at ~770 instructions per member; this reads the common members directly and hands
//! everything else to serde_json, so its answer is always the one serde_json would give.
//!
//! `parse_flat` either returns exactly the map `serde_json` builds from the same text, or `None`,
//! and the caller then parses with serde_json (which also words the error for invalid input).
//! It hands serde_json each nested object or array and each number that is not a small
//! non-negative integer, so float rounding and nesting rules are serde_json's own; strings with
//! escapes are decoded by the cursor the envelope reader uses too (`json::reader`), tested
//! against serde_json. Duplicate keys keep the last value, as serde_json's map does.
//!
//! `index` goes further for the pipeline's lean mode: it finds each member without building
//! any of them (`LazyObject`); a value becomes a `Value` the first time a stage reads it, so the
//! members no rule, trace or annotation reads never cost an allocation. Validation is complete at
//! index time (what `parse_flat` would refuse, `index` refuses too), so a record's format and
//! parse issue do not depend on the mode.

use std::cell::{OnceCell, RefCell};

use serde_json::{Map, Number, Value};

use super::reader::Cursor;

/// Nested values deeper than this go to serde_json whole, so its recursion limit (128, counted
/// from the top-level object) decides what is too deep.
const MAX_FAST_DEPTH: usize = 64;

/// Objects with more members are parsed eagerly: lookups in the index are linear, and the
/// duplicate-key check is quadratic.
const MAX_LAZY_MEMBERS: usize = 32;

/// Plain decimal numbers (no exponent) up to this length stay finite as `f64`, so they need no
/// parse to be known valid.
const MAX_LAZY_NUMBER_LEN: usize = 300;

/// Integers with at most this many digits fit in `u64` whatever the digits.
const MAX_FAST_INT_DIGITS: usize = 19;

/// The members of the object `text` (leading whitespace already trimmed), or `None` when the
/// fast path does not apply or the text is not a valid object.
pub(crate) fn parse_flat(text: &str) -> Option<Map<String, Value>> {
    let mut p = Reader {
        text,
        c: Cursor::new(text.as_bytes()),
        scratch: Vec::new(),
    };
    let mut members: Vec<(String, Value)> = Vec::with_capacity(16);
    p.object(|p| {
        let key = p.string()?;
        p.c.colon()?;
        members.push((key, p.value()?));
        Some(())
    })?;
    Some(members.into_iter().collect())
}

/// A JSON object's members, located but not yet parsed (see the module comment). Spans are
/// byte offsets into the text the object was indexed from, which the record keeps (its message):
/// `base` is where the object starts in it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LazyObject {
    base: usize,
    members: Vec<Member>,
    /// One bit per member's key (`tag_bit`): most lookups are for keys an object lacks (the
    /// trace-id, error-type and request-id candidates), and this answers them without a scan.
    keys: u64,
}

/// A member as `LazyObject::text_or_value` finds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TextOrValue<'a> {
    /// A string's decoded text, read in place.
    Text(&'a str),
    Value(&'a Value),
}

#[derive(Debug, Clone, PartialEq)]
struct Member {
    /// `key_tag` of the key: lookups compare it before any byte.
    tag: u64,
    /// The key's text (keys with escapes send the object to the eager parse).
    key: (usize, usize),
    /// The value's token, for the kinds parsed on first read.
    raw: (usize, usize),
    kind: Kind,
    value: OnceCell<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A string without escapes: `raw` is its text between the quotes.
    Plain,
    /// A number already known valid and finite.
    Number,
    /// Parsed at index time (escaped strings, literals, other numbers).
    Ready,
    /// An object or array, checked at index time and parsed on first read: a CloudTrail
    /// record's request and response bodies are most of its bytes, and most stages never read
    /// them.
    Nested,
}

impl LazyObject {
    /// Where the object starts in the text it was indexed from.
    pub fn base(&self) -> usize {
        self.base
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The value of `key`; `text` is the object's text (from `base`).
    pub fn get<'a>(&'a self, text: &str, key: &str) -> Option<&'a Value> {
        let m = self.member(text, key)?;
        Some(m.value.get_or_init(|| materialize(text, m)))
    }

    /// `key`'s value when it is a string; one not read before is answered from the text
    /// without being parsed (a plain string's text is its value).
    pub fn get_str<'a>(&'a self, text: &'a str, key: &str) -> Option<&'a str> {
        let m = self.member(text, key)?;
        match (m.value.get(), m.kind) {
            (Some(v), _) => v.as_str(),
            (None, Kind::Plain) => Some(span(text, m.raw)),
            (None, Kind::Number) => None,
            (None, Kind::Ready | Kind::Nested) => {
                m.value.get_or_init(|| materialize(text, m)).as_str()
            }
        }
    }

    /// `key`'s value, as its text when it is a plain string not read before (no value built
    /// for it), else as the value: one lookup for readers that take either.
    pub fn text_or_value<'a>(&'a self, text: &'a str, key: &str) -> Option<TextOrValue<'a>> {
        let m = self.member(text, key)?;
        Some(match (m.value.get(), m.kind) {
            (None, Kind::Plain) => TextOrValue::Text(span(text, m.raw)),
            (Some(v), _) => TextOrValue::Value(v),
            (None, _) => TextOrValue::Value(m.value.get_or_init(|| materialize(text, m))),
        })
    }

    pub fn contains_key(&self, text: &str, key: &str) -> bool {
        self.member(text, key).is_some()
    }

    /// Every value, in key order (as a `Map` iterates).
    pub fn values<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.in_key_order(text)
            .map(move |m| m.value.get_or_init(|| materialize(text, m)))
    }

    /// The members sorted by key, the order a `Map` iterates in.
    fn in_key_order<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        let mut order: Vec<&Member> = self.members.iter().collect();
        order.sort_by(|a, b| span(text, a.key).cmp(span(text, b.key)));
        order.into_iter()
    }

    /// Every value in key order like `values`, but a string not yet parsed comes as its text
    /// (`RawValue::Str`) and a number not yet parsed as `RawValue::Number`: a walk that only
    /// reads strings need not allocate one.
    pub fn raw_values<'a>(&'a self, text: &'a str) -> impl Iterator<Item = RawValue<'a>> + 'a {
        self.in_key_order(text)
            .map(move |m| match (m.value.get(), m.kind) {
                (Some(v), _) => RawValue::Value(v),
                (None, Kind::Plain) => RawValue::Str(span(text, m.raw)),
                (None, Kind::Number) => RawValue::Number,
                (None, Kind::Ready | Kind::Nested) => {
                    RawValue::Value(m.value.get_or_init(|| materialize(text, m)))
                }
            })
    }

    /// Every member in the order of the text, each value in the cheapest form that still
    /// says exactly what serde_json would build (the output writer copies plain strings and
    /// small integers as they are).
    pub fn members<'a>(
        &'a self,
        text: &'a str,
    ) -> impl Iterator<Item = (&'a str, MemberValue<'a>)> + 'a {
        self.members.iter().map(move |m| {
            let raw = span(text, m.raw);
            let value = match m.kind {
                Kind::Plain => MemberValue::Plain(raw),
                Kind::Number if plain_int(raw.as_bytes()).is_some() => MemberValue::Int(raw),
                Kind::Number if canonical_decimal(raw).is_some() => MemberValue::Decimal(raw),
                Kind::Number | Kind::Ready | Kind::Nested => {
                    MemberValue::Value(m.value.get_or_init(|| materialize(text, m)))
                }
            };
            (span(text, m.key), value)
        })
    }

    /// `members`, each with where its key's text and its value's token (a plain string's text
    /// between its quotes) are in `text`: the records writer copies runs of unchanged members
    /// by these spans.
    #[allow(clippy::type_complexity)]
    pub fn members_at<'a>(
        &'a self,
        text: &'a str,
    ) -> impl Iterator<Item = (&'a str, MemberValue<'a>, (usize, usize), (usize, usize))> + 'a {
        self.members(text)
            .zip(&self.members)
            .map(|((key, value), m)| (key, value, m.key, m.raw))
    }

    /// Every member parsed, as the eager parse would have built them.
    pub fn to_map(&self, text: &str) -> Map<String, Value> {
        self.members
            .iter()
            .map(|m| {
                let v = m.value.get_or_init(|| materialize(text, m));
                (span(text, m.key).to_string(), v.clone())
            })
            .collect()
    }

    fn member(&self, text: &str, key: &str) -> Option<&Member> {
        let tag = key_tag(key.as_bytes());
        if self.keys & tag_bit(tag) == 0 {
            return None;
        }
        self.members
            .iter()
            .find(|m| m.tag == tag && (key.len() <= 7 || span(text, m.key) == key))
    }
}

/// The key's length and its first seven bytes in one word: equal tags mean equal keys for keys
/// of at most seven bytes, and otherwise rule out almost every unequal pair in one compare.
fn key_tag(key: &[u8]) -> u64 {
    if let Some(word) = key.get(..8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        return tag_of_word(word, key.len());
    }
    // Byte by byte: a copy of a run-time length would be a call to memcpy, per lookup.
    let word = key
        .iter()
        .take(7)
        .enumerate()
        .fold(0u64, |w, (i, &b)| w | (u64::from(b) << (8 * i)));
    word | ((key.len().min(255) as u64) << 56)
}

/// `key_tag` of the `len`-byte key whose first eight bytes (or its bytes and what follows
/// them) are `word`.
fn tag_of_word(word: [u8; 8], len: usize) -> u64 {
    let mask = (1u64 << (8 * len.min(7))) - 1;
    (u64::from_le_bytes(word) & mask) | ((len.min(255) as u64) << 56)
}

/// `key_tag` of the key at `span` in `bytes`, in one load when eight bytes follow its start,
/// as they do for every key of an object but a short last one (its quote and value follow).
fn key_tag_at(bytes: &[u8], (start, end): (usize, usize)) -> u64 {
    match bytes
        .get(start..start + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        Some(word) => tag_of_word(word, end.saturating_sub(start)),
        None => key_tag(bytes.get(start..end).unwrap_or_default()),
    }
}

/// A member's value as `LazyObject::raw_values` gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue<'a> {
    /// A string without escapes: exactly its value's text.
    Str(&'a str),
    /// A valid number, not parsed.
    Number,
    Value(&'a Value),
}

/// A member's value as `LazyObject::members` gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemberValue<'a> {
    /// A string without escapes: exactly its value's text, and valid JSON string content as
    /// it is.
    Plain(&'a str),
    /// A non-negative integer without a leading zero that fits `u64`: its digits are what
    /// serde_json writes for it.
    Int(&'a str),
    /// A decimal whose text is what serde_json prints for it (`canonical_decimal`).
    Decimal(&'a str),
    Value(&'a Value),
}

/// `text[s.0..s.1]`, or "" for a span that does not fit (never the case for an index's own text).
fn span(text: &str, s: (usize, usize)) -> &str {
    text.get(s.0..s.1).unwrap_or_default()
}

fn materialize(text: &str, m: &Member) -> Value {
    let raw = span(text, m.raw);
    match m.kind {
        Kind::Plain => Value::String(raw.to_string()),
        // Validated at index time, so serde_json cannot refuse it; `Null` is unreachable.
        Kind::Number => plain_int(raw.as_bytes())
            .map(Number::from)
            .or_else(|| plain_decimal(raw.as_bytes()).and_then(Number::from_f64))
            .or_else(|| serde_json::from_str::<Number>(raw).ok())
            .map_or(Value::Null, Value::Number),
        Kind::Ready => Value::Null,
        // Checked at index time, so serde_json cannot refuse it.
        Kind::Nested => serde_json::from_str(raw).unwrap_or(Value::Null),
    }
}

/// A non-negative integer without a leading zero that surely fits `u64`.
fn plain_int(token: &[u8]) -> Option<u64> {
    let plain = !token.is_empty()
        && token.len() < MAX_FAST_INT_DIGITS
        && token.iter().all(u8::is_ascii_digit)
        && (token.len() == 1 || token.first() != Some(&b'0'));
    plain.then(|| token.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Powers of ten that are exact as `f64`, as serde_json's table has them.
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal like `-123.45` (no exponent, at most 19 digits, so its digits fit `u64`) as
/// serde_json reads it: without its `float_roundtrip` feature it divides the digits, as an
/// integer, by the power of ten, and these are the same two roundings, so the same `f64`.
/// Latencies and durations are mostly such numbers; this skips a serde_json parse for each.
fn plain_decimal(token: &[u8]) -> Option<f64> {
    let (negative, digits) = match token.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, token),
    };
    let dot = digits.iter().position(|&b| b == b'.')?;
    let (int, frac) = (digits.get(..dot)?, digits.get(dot + 1..)?);
    let all = int.iter().chain(frac);
    if int.is_empty() || frac.is_empty() || int.len() + frac.len() > MAX_FAST_INT_DIGITS {
        return None;
    }
    let mut significand = 0u64;
    for &d in all {
        if !d.is_ascii_digit() {
            return None;
        }
        significand = significand * 10 + u64::from(d - b'0');
    }
    let f = significand as f64 / EXACT_POW10.get(frac.len())?;
    Some(if negative { -f } else { f })
}

/// Most significant digits a decimal may have and still print as itself: distinct decimals
/// of at most 15 significant digits are distinct `f64`s (`f64::DIGITS`), so the shortest text
/// that reads back as the same `f64`, which serde_json prints, is the decimal itself.
const MAX_CANONICAL_DIGITS: usize = f64::DIGITS as usize;

/// The `f64` of a decimal whose text is exactly what serde_json prints for it (`119.5`,
/// `0.25`, `-3.0`), so a writer may copy the text instead of parsing and printing it; `None`
/// for any other number. Canonical: no exponent, no leading zero, no trailing zero in the
/// fraction (but a lone `.0`), at most 15 significant digits, and neither so large nor so
/// small that serde_json would switch to an exponent.
pub fn canonical_decimal(token: &str) -> Option<f64> {
    let bytes = token.as_bytes();
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let dot = digits.iter().position(|&b| b == b'.')?;
    let (int, frac) = (digits.get(..dot)?, digits.get(dot + 1..)?);
    let shaped = !int.is_empty()
        && !frac.is_empty()
        && int.iter().chain(frac).all(u8::is_ascii_digit)
        && (int.len() == 1 || int.first() != Some(&b'0'))
        && (frac.len() == 1 || frac.last() != Some(&b'0'));
    if !shaped {
        return None;
    }
    let significant = if int == b"0" {
        let zeros = frac.iter().take_while(|&&b| b == b'0').count();
        // Below 0.001 the exponent form is near: left to serde_json.
        if zeros > 2 && frac.len() > 1 {
            return None;
        }
        frac.len() - zeros
    } else {
        int.len() + frac.len()
    };
    if significant > MAX_CANONICAL_DIGITS {
        return None;
    }
    plain_decimal(bytes)
}

/// Indexes the object `text` (leading whitespace trimmed) found at `base` in its record's
/// message. `None` when the object does not suit the lazy path (too many members, a duplicate
/// or escaped key) or is not valid JSON; the caller then parses it eagerly.
pub(crate) fn index(text: &str, base: usize) -> Option<LazyObject> {
    let mut p = Reader {
        text,
        c: Cursor::new(text.as_bytes()),
        scratch: Vec::new(),
    };
    let mut members = spare_members();
    let mut keys = 0;
    p.object(|p| {
        if members.len() >= MAX_LAZY_MEMBERS {
            return None;
        }
        let key = p.c.plain_string()?;
        let key_text = span(text, key);
        let tag = key_tag_at(text.as_bytes(), key);
        // A key whose bit is not yet set cannot be a duplicate: most keys skip the scan.
        let bit = tag_bit(tag);
        if keys & bit != 0
            && members
                .iter()
                .any(|m| m.tag == tag && (key_text.len() <= 7 || span(text, m.key) == key_text))
        {
            return None;
        }
        keys |= bit;
        p.c.colon()?;
        members.push(p.lazy_member(tag, key)?);
        Some(())
    })?;
    Some(LazyObject {
        base,
        members,
        keys,
    })
}

/// How many member lists dropped objects leave for the next `index` (a record's object is
/// dropped before the next one is indexed, so one is enough in the pipeline).
const SPARE_LISTS: usize = 4;

thread_local! {
    /// Member lists of dropped objects, emptied. Reusing one keeps the next record's index in
    /// memory that is warm in cache, where a fresh allocation per record (about 1.3 KB, past
    /// the allocator's smallest classes) cost a slow-path allocation and its cache misses.
    static SPARE_MEMBERS: RefCell<Vec<Vec<Member>>> = const { RefCell::new(Vec::new()) };
}

/// An empty member list: a dropped object's, else a new one.
fn spare_members() -> Vec<Member> {
    SPARE_MEMBERS
        .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(16))
}

impl Drop for LazyObject {
    fn drop(&mut self) {
        let mut members = std::mem::take(&mut self.members);
        // Only lists `index` could have filled: anything larger goes back to the allocator.
        if members.capacity() == 0 || members.capacity() > MAX_LAZY_MEMBERS {
            return;
        }
        members.clear();
        let _ = SPARE_MEMBERS.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.len() < SPARE_LISTS {
                    spare.push(members);
                }
            }
        });
    }
}

/// The bit of `LazyObject::keys` for a key with this tag: six well-mixed bits of it.
fn tag_bit(tag: u64) -> u64 {
    1 << (tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

struct Reader<'a> {
    text: &'a str,
    c: Cursor<'a>,
    /// Where escaped strings are put back together (`Cursor::string`).
    scratch: Vec<u8>,
}

impl<'a> Reader<'a> {
    /// Walks `{ member, … }` through to the end of the text (only whitespace may follow the
    /// object), calling `member` at each member's key.
    fn object(&mut self, mut member: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.c.open(b'{', b'}')? {
            loop {
                member(self)?;
                if !self.c.next_item(b'}')? {
                    break;
                }
            }
        }
        self.c.at_end().then_some(())
    }

    /// `text[from..to]`; the bounds always sit next to ASCII bytes, so the slice is valid.
    fn slice(&self, from: usize, to: usize) -> Option<&'a str> {
        self.text.get(from..to)
    }

    /// One member's value, located; parsed now only when it cannot wait (see `Kind`).
    fn lazy_member(&mut self, tag: u64, key: (usize, usize)) -> Option<Member> {
        let start = self.c.pos;
        let member = |raw, kind, value| Member {
            tag,
            key,
            raw,
            kind,
            value,
        };
        match self.c.peek()? {
            b'"' => {
                let end = self.c.plain_run(start + 1);
                if self.c.bytes.get(end)? == &b'"' {
                    self.c.pos = end + 1;
                    return Some(member((start + 1, end), Kind::Plain, OnceCell::new()));
                }
            }
            b'-' | b'0'..=b'9' => {
                while matches!(
                    self.c.peek(),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.c.pos += 1;
                }
                let token = self.c.bytes.get(start..self.c.pos)?;
                let deferred = token.len() <= MAX_LAZY_NUMBER_LEN
                    && !token.iter().any(|b| matches!(b, b'e' | b'E'))
                    && super::is_json_number(token);
                if deferred {
                    return Some(member((start, self.c.pos), Kind::Number, OnceCell::new()));
                }
                self.c.pos = start;
            }
            b'{' | b'[' => {
                self.skip_nested()?;
                return Some(member((start, self.c.pos), Kind::Nested, OnceCell::new()));
            }
            _ => {}
        }
        let value = self.value()?;
        Some(member(
            (start, self.c.pos),
            Kind::Ready,
            OnceCell::from(value),
        ))
    }

    /// A string token at `pos` (which must be `"`), escapes decoded by the cursor.
    fn string(&mut self) -> Option<String> {
        self.c.string(&mut self.scratch)
    }

    fn value(&mut self) -> Option<Value> {
        match self.c.peek()? {
            b'"' => self.string().map(Value::String),
            b'{' | b'[' => self.nested(),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Option<Value> {
        self.c.keyword(word.as_bytes()).then_some(v)
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.c.pos;
        while matches!(
            self.c.peek(),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.c.pos += 1;
        }
        let token = self.c.bytes.get(start..self.c.pos)?;
        if let Some(n) = plain_int(token) {
            return Some(Value::Number(Number::from(n)));
        }
        serde_json::from_str::<Number>(self.slice(start, self.c.pos)?)
            .ok()
            .map(Value::Number)
    }

    /// An object or array value: its extent is found here (strings and brackets only), its
    /// contents are serde_json's to read and validate.
    fn nested(&mut self) -> Option<Value> {
        let start = self.c.pos;
        self.scan_nested()?;
        serde_json::from_str(self.slice(start, self.c.pos)?).ok()
    }

    /// Moves past the object or array at the cursor, checking that serde_json would parse it
    /// into a `Value` (without building one), so a deferred member never fails to parse later.
    fn skip_nested(&mut self) -> Option<()> {
        let start = self.c.pos;
        self.scan_nested()?;
        serde_json::from_str::<Checked>(self.slice(start, self.c.pos)?).ok()?;
        Some(())
    }

    /// Finds the end of the object or array at the cursor by its brackets, skipping strings.
    fn scan_nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.c.peek()? {
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_FAST_DEPTH {
                        return None;
                    }
                    self.c.pos += 1;
                }
                b'}' | b']' => {
                    depth -= 1;
                    self.c.pos += 1;
                    if depth == 0 {
                        break;
                    }
                }
                b'"' => {
                    self.c.pos += 1;
                    loop {
                        let rest = self.c.bytes.get(self.c.pos..)?;
                        self.c.pos += memchr::memchr2(b'"', b'\\', rest)?;
                        if self.c.peek()? == b'\\' {
                            self.c.pos += 2;
                        } else {
                            self.c.pos += 1;
                            break;
                        }
                    }
                }
                _ => self.c.pos += 1,
            }
        }
        Some(())
    }
}

/// A JSON value read as `serde_json::Value` reads it (`deserialize_any`: numbers converted, so
/// an out-of-range one is refused; escapes decoded, so a lone surrogate is refused) and then
/// dropped. `IgnoredAny` skips both checks.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Checked, A::Error> {
        while a.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Checked, A::Error> {
        while a.next_key::<Checked>()?.is_some() {
            a.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(text: &str) -> Option<Map<String, Value>> {
        serde_json::from_str(text).ok()
    }

    /// The contract: whenever the fast path or the index answers, serde_json gives the same
    /// map; and the index, read any way, gives serde_json's values.
    fn agrees(text: &str) {
        if let Some(fast) = parse_flat(text) {
            assert_eq!(Some(fast), serde(text), "{text:?}");
        }
        if let Some(object) = index(text, 0) {
            let want = serde(text).unwrap_or_else(|| panic!("serde refuses {text:?}"));
            assert_eq!(object.len(), want.len(), "{text:?}");
            for (k, v) in &want {
                assert!(object.contains_key(text, k), "{text:?}: {k}");
                assert_eq!(object.get(text, k), Some(v), "{text:?}: {k}");
            }
            assert!(object.values(text).eq(want.values()), "{text:?}");
            assert_eq!(object.to_map(text), want, "{text:?}");
            assert_eq!(object.get(text, "no such key"), None);
        }
    }

    /// A dropped object's member list is reused by the next index, and holds nothing of the
    /// object before: not its members, not the values read from them.
    #[test]
    fn a_reused_member_list_holds_nothing_of_the_last_object() {
        let first = r#"{"a":{"n":[1,2]},"b":"x","c":3.5,"d":true,"e":null,"f":"é\"q"}"#;
        let second = r#"{"b":"y","z":{"k":1}}"#;
        let object = index(first, 0).expect("indexes");
        let read: Vec<Value> = object.values(first).cloned().collect();
        assert_eq!(read.len(), 6);
        let spare_before = SPARE_MEMBERS.with(|s| s.borrow().len());
        drop(object);
        assert_eq!(SPARE_MEMBERS.with(|s| s.borrow().len()), spare_before + 1);
        let object = index(second, 0).expect("indexes");
        assert_eq!(SPARE_MEMBERS.with(|s| s.borrow().len()), spare_before);
        assert_eq!(object.to_map(second), serde(second).expect("valid"));
        assert_eq!(object.get(second, "a"), None);
        agrees(first);
        agrees(second);
        // The spare lists stay few, however many objects are dropped at once.
        let many: Vec<LazyObject> = (0..10).filter_map(|_| index(second, 0)).collect();
        drop(many);
        assert!(SPARE_MEMBERS.with(|s| s.borrow().len()) <= SPARE_LISTS);
    }

    /// Which decimals are copied as they are, and which go through serde_json.
    #[test]
    fn canonical_decimals_table() {
        let rows: &[(&str, bool)] = &[
            ("119.5", true),
            ("-47.72", true),
            ("0.25", true),
            ("0.001", true),
            ("3.0", true),
            ("-0.0", true),
            ("123456789012.345", true),
            // serde_json prints these otherwise (1.5, 1.0, 0.0001 or 1e-5, rounded).
            ("1.50", false),
            ("1.00", false),
            ("0.0001", false),
            ("1234567890123.4567", false),
            ("00.5", false),
            ("1e5", false),
            ("1.5e3", false),
            ("12", false),
            (".5", false),
            ("5.", false),
            ("-", false),
            ("", false),
        ];
        for &(token, canonical) in rows {
            let got = canonical_decimal(token);
            assert_eq!(got.is_some(), canonical, "{token:?}");
            if let Some(f) = got {
                let value: Value = serde_json::from_str(token).unwrap();
                assert_eq!(value.to_string(), token);
                assert_eq!(
                    value.as_f64().map(f64::to_bits),
                    Some(f.to_bits()),
                    "{token}"
                );
            }
        }
    }

    #[test]
    fn nested_members_wait_to_be_read_but_are_judged_as_serde_would() {
        let text = r#"{"eventName":"RunInstances","responseElements":{"items":[{"id":"i-1","n":2.5}]},"tags":["a","b"]}"#;
        let object = index(text, 0).expect("indexed");
        let nested: Vec<&Member> = object
            .members
            .iter()
            .filter(|m| m.kind == Kind::Nested)
            .collect();
        assert_eq!(nested.len(), 2);
        assert!(nested.iter().all(|m| m.value.get().is_none()));
        agrees(text);
        // What serde_json refuses in a nested value, the index refuses too (the eager parse
        // then reports it), though skipping over it would have been cheaper.
        for bad in [
            r#"{"a":{"b":"\ud800"}}"#,
            r#"{"a":[1e309]}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b" 1}}"#,
            "{\"a\":[\"tab\tin string\"]}",
        ] {
            assert!(index(bad, 0).is_none(), "{bad}");
            assert!(serde(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn common_objects_take_the_fast_path_and_match_serde() {
        let cases = [
            r#"{}"#,
            "{ }\n",
            r#"{"a":1}"#,
            r#"{"latency_ms":119.5,"level":"INFO","status":204,"ok":true,"no":false,"x":null}"#,
            "{\"a\" : \"b\" ,\n\t\"c\":-3 }\n",
            r#"{"n":0,"m":18446744073709551615,"big":18446744073709551616,"neg":-0,"e":1e3,"f":-1.5E-7}"#,
            r#"{"esc":"a\"b\\c\/d\n\u00e9\ud83d\ude00","after":"x"}"#,
            r#"{"nested":{"a":[1,{"b":"}]"}],"c":"\\"},"arr":[],"s":"{["}"#,
            r#"{"dup":1,"dup":2}"#,
            r#"{"unicode":"héllo ✓","":"empty key"}"#,
        ];
        for text in cases {
            let fast = parse_flat(text);
            assert!(fast.is_some(), "fast path refused {text:?}");
            assert_eq!(fast, serde(text), "{text:?}");
            agrees(text);
            let lazy = !text.contains("dup");
            assert_eq!(index(text, 0).is_some(), lazy, "{text:?}");
        }
        assert_eq!(
            parse_flat(r#"{"dup":1,"dup":2}"#).and_then(|m| m.get("dup").cloned()),
            Some(Value::from(2))
        );
    }

    #[test]
    fn invalid_objects_are_refused() {
        let cases = [
            "",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":1}x"#,
            r#"{"a":1}{"b":2}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":"unterminated}"#,
            "{\"a\":\"raw\ttab\"}",
            r#"{"a":"bad \x escape"}"#,
            r#"{"a":"lone \ud800 surrogate"}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":{"b":1]}"#,
            r#"{a:1}"#,
            r#"{"a":NaN}"#,
            r#"{"a":1e400}"#,
            r#"["not","an","object"]"#,
        ];
        for text in cases {
            assert_eq!(serde(text), None, "serde accepts {text:?}");
            assert_eq!(parse_flat(text), None, "{text:?}");
            assert_eq!(index(text, 0), None, "{text:?}");
        }
    }

    #[test]
    fn the_index_leaves_awkward_objects_to_the_eager_parse() {
        let many: Vec<String> = (0..=MAX_LAZY_MEMBERS)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect();
        let too_many = format!("{{{}}}", many.join(","));
        let just_enough = format!("{{{}}}", many[1..].join(","));
        for (text, lazy) in [
            (too_many.as_str(), false),
            (just_enough.as_str(), true),
            (r#"{"a":1,"a":2}"#, false),
            (r#"{"\u0061":1}"#, false),
            (
                r#"{"a":"\u0061","b":[1],"c":{"d":true},"e":null,"f":-2.5e3,"g":7}"#,
                true,
            ),
        ] {
            assert_eq!(index(text, 0).is_some(), lazy, "{text}");
            assert!(parse_flat(text).is_some(), "{text}");
            agrees(text);
        }
        // Nothing is parsed until read, and what is read is parsed once.
        let text = r#"{"a":"x","n":12.5}"#;
        let object = index(text, 0).expect("indexes");
        assert!(object.members.iter().all(|m| m.value.get().is_none()));
        assert_eq!(object.get(text, "n"), Some(&Value::from(12.5)));
        assert_eq!(
            object
                .members
                .iter()
                .filter(|m| m.value.get().is_some())
                .count(),
            1
        );
    }

    #[test]
    fn deep_nesting_is_left_to_serde() {
        let deep = |n: usize| format!(r#"{{"a":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        // serde_json's limit of 128 levels counts the object itself: 126 arrays inside it are
        // accepted, 127 are not, and neither takes the fast path.
        assert_eq!(parse_flat(&deep(126)), None, "deep values are serde's");
        assert!(serde(&deep(126)).is_some());
        assert_eq!(parse_flat(&deep(127)), None);
        assert!(serde(&deep(127)).is_none());
        assert!(parse_flat(&deep(MAX_FAST_DEPTH)).is_some());
        agrees(&deep(MAX_FAST_DEPTH));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            "[\"\\\\/\n\t\u{1}a-z{}\\[\\]]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"]{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Decimals read to the very bit serde_json reads them.
        #[test]
        fn plain_decimals_match_serde(
            negative in any::<bool>(),
            int in "0|[1-9][0-9]{0,12}",
            frac in "[0-9]{1,12}",
        ) {
            let token = format!("{}{int}.{frac}", if negative { "-" } else { "" });
            let serde = serde_json::from_str::<Number>(&token).unwrap().as_f64().unwrap();
            let ours = plain_decimal(token.as_bytes());
            // Past 19 digits the integer may not fit `u64`, and serde_json's own path decides.
            let fits = int.len() + frac.len() <= MAX_FAST_INT_DIGITS;
            let want = fits.then(|| serde.to_bits());
            prop_assert_eq!(ours.map(f64::to_bits), want, "{}", token);
        }

        /// A decimal called canonical prints as itself through serde_json, reads to serde_json's
        /// very `f64`, and the ones a log line usually holds are called canonical.
        #[test]
        fn canonical_decimals_print_as_themselves(
            negative in any::<bool>(),
            int in "0|[1-9][0-9]{0,17}",
            frac in "[0-9]{1,18}",
        ) {
            let token = format!("{}{int}.{frac}", if negative { "-" } else { "" });
            let value: Value = serde_json::from_str(&token).unwrap();
            if let Some(f) = canonical_decimal(&token) {
                prop_assert_eq!(value.to_string(), token.clone());
                prop_assert_eq!(Some(f.to_bits()), value.as_f64().map(f64::to_bits), "{}", token);
            }
            let short = int.len() + frac.len() <= 12 && int != "0";
            if short && (frac.len() == 1 || !frac.ends_with('0')) {
                prop_assert!(canonical_decimal(&token).is_some(), "{}", token);
            }
        }

        /// The one-load tag is the byte-by-byte tag, for every span of every text.
        #[test]
        fn key_tags_agree(text in "[a-c\"]{0,20}", a in 0usize..21, b in 0usize..21) {
            let (start, end) = (a.min(b).min(text.len()), a.max(b).min(text.len()));
            let bytes = text.as_bytes();
            let slow = bytes[start..end]
                .iter()
                .take(7)
                .enumerate()
                .fold(0u64, |w, (i, &b)| w | (u64::from(b) << (8 * i)))
                | (((end - start) as u64) << 56);
            prop_assert_eq!(key_tag_at(bytes, (start, end)), slow);
            prop_assert_eq!(key_tag(&bytes[start..end]), slow);
        }

        #[test]
        fn any_object_parses_as_serde_parses_it(
            members in prop::collection::vec(("\\PC{0,6}", json_value()), 0..8),
            pretty in any::<bool>(),
        ) {
            let map: Map<String, Value> = members.into_iter().collect();
            let text = if pretty {
                serde_json::to_string_pretty(&map).unwrap()
            } else {
                serde_json::to_string(&map).unwrap()
            };
            // Compared with serde_json's reading, not `map`: without its `float_roundtrip`
            // feature serde_json may read a float back one ulp off, and we answer as it does.
            let fast = parse_flat(&text);
            prop_assert!(fast.is_some(), "fast path refused {:?}", text);
            prop_assert_eq!(fast, serde(&text));
            agrees(&text);
        }

        #[test]
        fn mangled_text_never_disagrees_with_serde(
            members in prop::collection::vec(("[a-z]{0,4}", json_value()), 1..6),
            cut in any::<prop::sample::Index>(),
            insert in any::<prop::sample::Index>(),
            byte in prop::sample::select(vec!['"', '\\', '{', '}', '[', ']', ',', ':', '0', '-', '.', 'e', ' ', '\u{1}', 'x']),
        ) {
            let map: Map<String, Value> = members.into_iter().collect();
            let text = serde_json::to_string(&map).unwrap();
            let chars: Vec<char> = text.chars().collect();
            let truncated: String = chars[..cut.index(chars.len() + 1)].iter().collect();
            agrees(&truncated);
            let mut inserted = chars.clone();
            inserted.insert(insert.index(chars.len() + 1), byte);
            agrees(&inserted.into_iter().collect::<String>());
        }
    }
}
