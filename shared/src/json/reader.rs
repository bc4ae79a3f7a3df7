//! The cursor both hand-written JSON readers stand on (the CloudWatch Logs envelope in `decode`,
//! the object reader and index in `json::object`): whitespace, punctuation, lists, plain and
//! escaped strings, integers. Each step answers `None` for anything it does not take, and the
//! reader above it then hands the text to serde_json, which decides and words the error.

use super::plain_len;

/// Integers with at most this many digits fit `u64` whatever the digits.
const MAX_U64_DIGITS: usize = 19;

/// A position in JSON text.
pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, pos: 0 }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    #[inline]
    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.bytes.len()
    }

    /// The `:` between a key and its value, with the whitespace around it.
    #[inline]
    pub(crate) fn colon(&mut self) -> Option<()> {
        self.skip_ws();
        self.eat(b':')?;
        self.skip_ws();
        Some(())
    }

    /// `open` and the whitespace after it; `Some(true)` when the list is empty (its `close`
    /// eaten too). Items are then read until [`Cursor::next_item`] says the list is over:
    ///
    /// ```text
    /// if !c.open(b'[', b']')? { loop { item(c)?; if !c.next_item(b']')? { break } } }
    /// ```
    #[inline]
    pub(crate) fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        self.skip_ws();
        Some(self.eat(close).is_some())
    }

    /// After an item: `Some(true)` at a `,` (eaten, with the whitespace around it), `Some(false)`
    /// at `close` (eaten), `None` at anything else.
    #[inline]
    pub(crate) fn next_item(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                self.skip_ws();
                Some(true)
            }
            b if b == close => {
                self.pos += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Whether `word` (`null`, `true`…) is next; eaten when it is.
    #[inline]
    pub(crate) fn keyword(&mut self, word: &[u8]) -> bool {
        let end = self.pos + word.len();
        let found = self.bytes.get(self.pos..end) == Some(word);
        if found {
            self.pos = end;
        }
        found
    }

    /// Where the plain run of string bytes starting at `from` stops: at the quote, an escape or
    /// a (forbidden) control character.
    #[inline]
    pub(crate) fn plain_run(&self, from: usize) -> usize {
        from + plain_len(self.bytes.get(from..).unwrap_or_default())
    }

    /// A string token without escapes or control characters, as the span of its text; `None`
    /// otherwise (and `pos` is then meaningless).
    #[inline]
    pub(crate) fn plain_string(&mut self) -> Option<(usize, usize)> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = self.plain_run(start);
        (self.bytes.get(end)? == &b'"').then(|| {
            self.pos = end + 1;
            (start, end)
        })
    }

    /// A string token's value, escapes decoded. `scratch` is where escaped strings are put back
    /// together; reused, so a string costs one exact allocation however many escapes it has.
    pub(crate) fn string(&mut self, scratch: &mut Vec<u8>) -> Option<String> {
        self.eat(b'"')?;
        let start = self.pos;
        let run = self.plain_run(start);
        match self.bytes.get(run)? {
            b'"' => {
                self.pos = run + 1;
                let plain = self.bytes.get(start..run)?;
                return std::str::from_utf8(plain).ok().map(str::to_string);
            }
            b'\\' => {}
            // A raw control character: not JSON.
            _ => return None,
        }
        let (end, len) = unescape_into(self.bytes, start, scratch)?;
        self.pos = end;
        // Checked here, once per string, as serde_json checks each string it reads.
        std::str::from_utf8(scratch.get(..len)?)
            .ok()
            .map(str::to_string)
    }

    /// An integer that fits `i64` (a float, an exponent or a larger integer: `None`).
    pub(crate) fn int(&mut self) -> Option<i64> {
        let negative = self.eat(b'-').is_some();
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = self.bytes.get(start..self.pos)?;
        let valid = !digits.is_empty()
            && digits.len() <= MAX_U64_DIGITS
            && (digits.len() == 1 || digits.first() != Some(&b'0'))
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        if !valid {
            return None;
        }
        let n = i128::from(
            digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
        );
        i64::try_from(if negative { -n } else { n }).ok()
    }
}

/// Unescapes the string whose text starts at `start` in `bytes` into the front of `out`,
/// returning the position after its closing quote and the text's length; `None` for a raw
/// control character, an invalid escape or an unterminated string.
///
/// A JSON line in a log event has an escape every few bytes (`\"` at each quote), so the cost
/// is per escape, not per byte. Each step stores a whole word at the write position and then
/// advances by its plain prefix: no byte-by-byte copy, no `memcpy` call, no growth check per
/// byte. `out` is a buffer, not a result: it keeps its length (zeroed once, as it grows) so
/// nothing is cleared or refilled between strings, and bytes past the returned length are
/// leftovers.
fn unescape_into(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> Option<(usize, usize)> {
    // Room for a word plus the longest escape (four bytes of UTF-8) at any write position.
    const SLACK: usize = 16;
    let mut at = start;
    let mut w = 0;
    loop {
        if out.len() < w + SLACK {
            out.resize((w + SLACK).max(out.len() * 2).max(256), 0);
        }
        let slot = out.get_mut(w..w + 8)?;
        match bytes
            .get(at..at + 8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
        {
            Some(word) => {
                slot.copy_from_slice(&word);
                let stops = quote_or_backslash(u64::from_le_bytes(word));
                if stops == 0 {
                    at += 8;
                    w += 8;
                    continue;
                }
                // The lowest flag is exact (`quote_or_backslash`).
                let plain = (stops.trailing_zeros() / 8) as usize;
                at += plain;
                w += plain;
            }
            // The last few bytes of the text, too few for a word.
            None => {
                let b = *bytes.get(at)?;
                if !matches!(b, b'"' | b'\\' | 0..=0x1f) {
                    *slot.first_mut()? = b;
                    at += 1;
                    w += 1;
                    continue;
                }
            }
        }
        // At a stop byte.
        match *bytes.get(at)? {
            // Raw control characters were not stops: refused here, in one pass that
            // vectorizes, rather than looked for in every word.
            b'"' => {
                let text = bytes.get(start..at)?;
                let control = text.iter().fold(false, |seen, &b| seen | (b < 0x20));
                return (!control).then_some((at + 1, w));
            }
            b'\\' => {
                let e = *bytes.get(at + 1)?;
                match SIMPLE_ESCAPES.get(usize::from(e)).copied().unwrap_or(0) {
                    0 if e == b'u' => {
                        let (ch, len) = unicode(bytes.get(at + 1..)?)?;
                        w += ch.encode_utf8(out.get_mut(w..w + 4)?).len();
                        at += 1 + len;
                    }
                    0 => return None,
                    ch => {
                        *out.get_mut(w)? = ch;
                        w += 1;
                        at += 2;
                    }
                }
            }
            // A control character at the end, read byte by byte.
            _ => return None,
        }
    }
}

/// The high bit of each byte of `w` (little-endian) that may be a quote or a backslash; like
/// `stop_mask` without control characters, and like it exact at the lowest flag.
#[inline]
fn quote_or_backslash(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\')))) & HIGH
}

/// What each one-character escape (`\n`, `\"`…) stands for; 0 for the others.
static SIMPLE_ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// `uXXXX`, with the low half's `\uXXXX` when the first is a high surrogate.
fn unicode(escape: &[u8]) -> Option<(char, usize)> {
    let high = hex4(escape.get(1..5)?)?;
    match high {
        0xD800..=0xDBFF => {
            let low = escape.get(5..11)?.strip_prefix(b"\\u").and_then(hex4)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let c = 0x1_0000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            Some((char::from_u32(c)?, 11))
        }
        0xDC00..=0xDFFF => None,
        _ => Some((char::from_u32(high)?, 5)),
    }
}

fn hex4(digits: &[u8]) -> Option<u32> {
    if digits.len() != 4 {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &b| {
        let d = char::from(b).to_digit(16)?;
        Some(n << 4 | d)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Cursor;

    /// A string token as the cursor reads it, or `None`.
    fn ours(token: &str) -> Option<String> {
        let mut c = Cursor::new(token.as_bytes());
        let s = c.string(&mut Vec::new())?;
        (c.pos == token.len()).then_some(s)
    }

    #[test]
    fn strings_decode_as_serde_json_or_are_refused() {
        // (token, decoded or None when JSON refuses it)
        let cases: &[(&str, Option<&str>)] = &[
            (r#""plain""#, Some("plain")),
            (r#""a\"b\\c\/d""#, Some("a\"b\\c/d")),
            (r#""\b\f\n\r\t""#, Some("\u{8}\u{c}\n\r\t")),
            (r#""\u00e9\u20ac""#, Some("é€")),
            (r#""\ud83d\ude00 smile""#, Some("😀 smile")),
            (r#""lone \ud83d""#, None),
            (r#""low first \ude00""#, None),
            (r#""\x""#, None),
            (r#""\u12""#, None),
            ("\"raw\ncontrol\"", None),
            // After an escape, a raw control character anywhere is still refused.
            ("\"esc \\\" then a raw\ncontrol further on\"", None),
            ("\"esc \\\"\u{1f}\"", None),
            ("\"esc \\\" and a tab at the very end\t\"", None),
            (r#""unterminated"#, None),
            (r#""escape at end\"#, None),
        ];
        for &(token, want) in cases {
            assert_eq!(ours(token).as_deref(), want, "{token}");
            let serde: Option<String> = serde_json::from_str(token).ok();
            assert_eq!(serde.as_deref(), want, "serde on {token}");
        }
    }

    #[test]
    fn ints_fit_i64_or_are_refused() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("-17", Some(-17)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("01", None),
            ("1.5", None),
            ("1e3", None),
            ("-", None),
        ];
        for &(text, want) in cases {
            assert_eq!(Cursor::new(text.as_bytes()).int(), want, "{text}");
        }
    }

    #[test]
    fn lists_are_walked_item_by_item() {
        let mut c = Cursor::new(b"[ 1 , 2,3 ]  ");
        let mut items = Vec::new();
        if !c.open(b'[', b']').unwrap() {
            loop {
                items.push(c.int().unwrap());
                if !c.next_item(b']').unwrap() {
                    break;
                }
            }
        }
        assert_eq!(items, [1, 2, 3]);
        assert!(c.at_end());
        assert_eq!(Cursor::new(b"[ ]").open(b'[', b']'), Some(true));
        let mut c = Cursor::new(b"[1;2]");
        c.open(b'[', b']');
        c.int();
        assert_eq!(c.next_item(b']'), None);
    }

    proptest! {
        #[test]
        fn any_string_round_trips_through_serde_json(s in "\\PC*|[\\x00-\\x7f]*") {
            let token = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(ours(&token), Some(s));
        }

        /// Strings read one after another through one scratch buffer, each followed by more
        /// text (the words read past the closing quote): no byte of a longer earlier string,
        /// nor of what follows, leaks into a later one.
        #[test]
        fn strings_in_a_row_share_the_scratch_buffer(
            strings in proptest::collection::vec("\\PC{0,40}|[\"\\\\a\\n]{0,40}", 1..6),
        ) {
            let text: String = strings
                .iter()
                .map(|s| serde_json::to_string(s).unwrap())
                .collect::<Vec<_>>()
                .join(",");
            let mut c = Cursor::new(text.as_bytes());
            let mut scratch = Vec::new();
            for (i, want) in strings.iter().enumerate() {
                if i > 0 {
                    prop_assert_eq!(c.eat(b','), Some(()));
                }
                let got = c.string(&mut scratch);
                prop_assert_eq!(got.as_ref(), Some(want));
            }
            prop_assert!(c.at_end());
        }
    }
}
