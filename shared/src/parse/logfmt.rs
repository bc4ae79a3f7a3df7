//! key=value lines (logfmt): `level=info msg="hello world" took=12 path=/a?b=c`.
//!
//! A line is key=value when it has at least [`MIN_PAIRS`] pairs and the pairs cover more bytes
//! than the words that are not pairs, so prose that happens to contain `a=b` stays text. Words
//! that are not pairs (a leading timestamp, a bare flag) are dropped from `fields`; the raw line
//! is still `Record::message`.
//!
//! Values: a quoted value is always a string (the writer quoted it on purpose; `\"`, `\\`, `\n`,
//! `\t` are unescaped). A bare value becomes a JSON number only when it is one exactly by JSON's
//! grammar and fits without rounding (`42`, `-1.5`, `1e3`; not `007`, `1.2.3`, `0x1f` or a
//! 25-digit id), so numeric filters such as `{ $.took > 10 }` work while ids and versions keep
//! their spelling. `true`/`false` stay strings: CloudWatch compares them as text anyway, and a
//! value that is sometimes a string and sometimes a bool would split metric dimensions.
//! A repeated key keeps its last value.

use serde_json::{Map, Value};

use super::{json_number, strip_newline, Parsed};
use crate::record::Format;

/// Two pairs at least: a single `a=b` is more often prose than a structured line.
const MIN_PAIRS: usize = 2;

pub(super) fn parse(message: &str) -> Option<Parsed> {
    // Most text lines have no '=' at all; one SIMD scan rules them out.
    memchr::memchr(b'=', message.as_bytes())?;
    let line = strip_newline(message);
    let b = line.as_bytes();
    let mut fields = Map::new();
    let (mut pairs, mut covered, mut other) = (0usize, 0usize, 0usize);
    let mut i = 0;
    loop {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let start = i;
        if start >= b.len() {
            break;
        }
        while b
            .get(i)
            .is_some_and(|&c| !c.is_ascii_whitespace() && c != b'=' && c != b'"')
        {
            i += 1;
        }
        if i > start && b.get(i) == Some(&b'=') {
            // Every boundary below is an ASCII byte, so these slices are on char boundaries.
            let key = line.get(start..i).unwrap_or_default();
            i += 1;
            let value = if b.get(i) == Some(&b'"') {
                let (text, end) = quoted(line, i + 1);
                i = end;
                Value::String(text)
            } else {
                let from = i;
                while b.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                    i += 1;
                }
                let bare = line.get(from..i).unwrap_or_default();
                json_number(bare).map_or_else(|| Value::String(bare.to_string()), Value::Number)
            };
            fields.insert(key.to_string(), value);
            pairs += 1;
            covered += i - start;
        } else {
            while b.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                i += 1;
            }
            other += i - start;
        }
    }
    (pairs >= MIN_PAIRS && covered > other).then(|| Parsed::new(Format::KeyValue, fields))
}

/// The unescaped text of a quoted value whose content starts at byte `from`, and the byte after
/// the closing quote. An unterminated quote takes the rest of the line, as written.
fn quoted(line: &str, from: usize) -> (String, usize) {
    let Some(rest) = line.get(from..) else {
        return (String::new(), line.len());
    };
    // Most values have no escapes: copy the slice up to the closing quote in one go.
    if let Some(end) = memchr::memchr2(b'"', b'\\', rest.as_bytes()) {
        if rest.as_bytes().get(end) == Some(&b'"') {
            let text = rest.get(..end).unwrap_or_default();
            return (text.to_string(), from + end + 1);
        }
    }
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => return (out, from + i + 1),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            _ => out.push(ch),
        }
    }
    (rest.to_string(), line.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_value_lines() {
        let cases = [
            (
                "level=info msg=\"hello world\" took=12 ratio=0.5 big=1e3\n",
                json!({"level": "info", "msg": "hello world", "took": 12, "ratio": 0.5, "big": 1000.0}),
            ),
            (
                r#"at=error code=H12 desc="Request \"timeout\"\tx\\y" method=GET path="/" status=503 bytes=0"#,
                json!({"at": "error", "code": "H12", "desc": "Request \"timeout\"\tx\\y", "method": "GET",
                       "path": "/", "status": 503, "bytes": 0}),
            ),
            // Strings that look numeric but are not exactly numbers keep their spelling.
            (
                "id=007 version=1.2.3 hex=0x1f neg=-4 plus=+4 huge=12345678901234567890123 nan=NaN ok=true",
                json!({"id": "007", "version": "1.2.3", "hex": "0x1f", "neg": -4, "plus": "+4",
                       "huge": "12345678901234567890123", "nan": "NaN", "ok": "true"}),
            ),
            // Empty values, '=' inside a value, a repeated key, a leading timestamp word.
            (
                "2024-01-01T00:00:00Z url=/a?b=c empty= k=1 k=2",
                json!({"url": "/a?b=c", "empty": "", "k": 2}),
            ),
            // Unterminated quote takes the rest of the line.
            (
                "a=1 msg=\"never closed here",
                json!({"a": 1, "msg": "never closed here"}),
            ),
        ];
        for (line, want) in cases {
            let p = parse(line).unwrap_or_else(|| panic!("not parsed: {line:?}"));
            assert_eq!(p.format, Format::KeyValue);
            assert_eq!(Value::Object(p.fields), want, "{line:?}");
        }
    }

    #[test]
    fn not_key_value_lines() {
        let cases = [
            "no pairs at all",
            "only=one",
            "Processing the order now with id=5 user=bob",
            "= = =",
            "==a b==",
            "\"quoted=x\" \"y=z\"",
            "",
        ];
        for line in cases {
            assert!(parse(line).is_none(), "{line:?}");
        }
    }
}
