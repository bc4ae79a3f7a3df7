//! JSON text written by hand on the hot paths (segment documents, output records): strings
//! escaped exactly as serde_json escapes them, so what we write equals what serde_json would.

use crate::parse::plain_len;

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
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
