//! JSON text on the hot paths, read and written by hand: the scanners the readers share (the
//! envelope decoder, the lazy object index) to find where a string's plain run ends, and the
//! string writer of segment documents and output records, which escapes exactly as serde_json
//! does, so what we write equals what serde_json would. [`object`] reads the JSON objects
//! application loggers write (the flat fast path and the lazy index).

pub mod object;
pub(crate) mod reader;

/// Bytes that end the plain run of a string: the closing quote, an escape, a control character.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// How many leading bytes of `bytes` a JSON string can hold as they are: up to the first quote,
/// backslash or control character: what the readers copy without unescaping and the writers
/// below copy without escaping.
#[inline]
pub fn plain_len(bytes: &[u8]) -> usize {
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let stops = stop_mask(u64::from_le_bytes(word));
        if stops != 0 {
            // The lowest flag is exact (see `stop_mask`): no byte-by-byte rescan of the word.
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if STRING_STOP[usize::from(b)] {
            break;
        }
        i += 1;
    }
    i
}

/// The high bit of each byte of `w` (little-endian) that may be a quote, a backslash or below
/// 0x20. The lowest flag is always exact: a subtraction borrows only out of a byte that is a
/// stop, so a byte can be flagged wrongly only above a real stop.
pub fn stop_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    (has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\'))) | control)
        & HIGH
}

/// serde_json's escape for each byte that needs one (`0` for none): the short forms, else `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `s` as a JSON string (quotes included) appended to `out`.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut rest = s;
    loop {
        let n = plain_len(rest.as_bytes());
        // `n` stops at an ASCII byte (or the end), so both cuts are at char boundaries.
        let (plain, tail) = rest.split_at_checked(n).unwrap_or((rest, ""));
        out.push_str(plain);
        let Some(&b) = tail.as_bytes().first() else {
            break;
        };
        rest = tail.get(1..).unwrap_or_default();
        let esc = ESCAPE[usize::from(b)];
        out.push('\\');
        out.push(char::from(esc));
        if esc == b'u' {
            out.push_str("00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out.push('"');
}

/// [`push_str`] into bytes.
pub fn push_str_bytes(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut rest = s.as_bytes();
    loop {
        let n = plain_len(rest);
        out.extend_from_slice(rest.get(..n).unwrap_or_default());
        let Some((&b, tail)) = rest.get(n..).and_then(<[u8]>::split_first) else {
            break;
        };
        rest = tail;
        let esc = ESCAPE[usize::from(b)];
        out.push(b'\\');
        out.push(esc);
        if esc == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
    }
    out.push(b'"');
}

/// Whether `b` is exactly one JSON number (RFC 8259 grammar).
pub fn is_json_number(b: &[u8]) -> bool {
    let digits_from = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_from(i + 1),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits_from(i + 1);
        if end == i + 1 {
            return false;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits_from(i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == b.len()
}

/// The members of a JSON object `text` (the whole text, no leading whitespace), located but not
/// parsed; `None` for text the lazy index does not take (see `object::index`).
pub(crate) fn index_object(text: &str) -> Option<object::LazyObject> {
    object::index(text, 0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::plain_len;

    proptest! {
        /// `plain_len` is its definition, the first quote, backslash or control byte, on
        /// bytes dense in stops and in bytes next to them (0x1f/0x20, 0x7f-0xff), which is
        /// where a word-at-a-time test can go wrong.
        #[test]
        fn plain_len_stops_at_the_first_stop_byte(
            bytes in proptest::collection::vec(proptest::sample::select(
                vec![b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa0, 0xdf, 0xe2, 0xff]
            ), 0..40),
            pad in 0usize..16,
        ) {
            let mut input = vec![b'x'; pad];
            input.extend_from_slice(&bytes);
            let want = input
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(input.len());
            prop_assert_eq!(plain_len(&input), want);
        }

        #[test]
        fn both_writers_escape_as_serde_json(s in "\\PC*|[\\x00-\\x7f]*") {
            let expected = serde_json::to_string(&s).unwrap();
            let mut text = String::new();
            super::push_str(&mut text, &s);
            prop_assert_eq!(&text, &expected);
            let mut bytes = Vec::new();
            super::push_str_bytes(&mut bytes, &s);
            prop_assert_eq!(bytes, expected.into_bytes());
        }
    }
}
