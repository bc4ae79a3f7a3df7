//! Common and combined access-log lines (Apache `%h %l %u %t "%r" %>s %b` plus
//! `"%{Referer}i" "%{User-agent}i"`, nginx's default), read with a cursor rather than a regex.
//!
//! `-` means "absent" in this format, so `user`, `bytes`, `referer` and `user_agent` are left out
//! when they are `-`; `status` and `bytes` are numbers. `request` keeps the quoted request line
//! and `method`/`path`/`protocol` are set when it has exactly those three parts (a garbage
//! request from a scanner still gives an access record). Text after the agent (nginx custom
//! formats) is ignored.

use serde_json::{Number, Value};

use super::{strip_newline, Parsed};
use crate::record::Format;

pub(super) fn parse(message: &str) -> Option<Parsed> {
    let mut c = Cursor {
        s: strip_newline(message),
    };
    let remote_addr = c.word()?;
    // A logfmt or JSON-ish first word is not a host.
    if remote_addr.contains(['=', '"', '[']) {
        return None;
    }
    let _ident = c.word()?;
    let user = c.word()?;
    let time = c.bracketed()?;
    let request = c.quoted()?;
    let status = c.word()?;
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bytes = c.word()?;
    if bytes != "-" && !bytes.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let referer = c.quoted();
    let user_agent = referer.as_ref().and_then(|_| c.quoted());

    // Collected, then bulk-built into the map: one sort instead of a tree search per insert.
    let mut f: Vec<(String, Value)> = Vec::with_capacity(11);
    put(&mut f, "remote_addr", remote_addr.to_string());
    if user != "-" {
        put(&mut f, "user", user.to_string());
    }
    put(&mut f, "time", time.to_string());
    let mut parts = request.split(' ');
    if let (Some(method), Some(path), Some(protocol), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        put(&mut f, "method", method.to_string());
        put(&mut f, "path", path.to_string());
        put(&mut f, "protocol", protocol.to_string());
    }
    put(&mut f, "request", request);
    if let Ok(n) = status.parse::<u64>() {
        f.push(("status".into(), Value::Number(Number::from(n))));
    }
    // Digits only, so this fails only past u64::MAX; such a count is kept out rather than wrong.
    if let Ok(n) = bytes.parse::<u64>() {
        f.push(("bytes".into(), Value::Number(Number::from(n))));
    }
    for (name, value) in [("referer", referer), ("user_agent", user_agent)] {
        if let Some(v) = value.filter(|v| v != "-") {
            put(&mut f, name, v);
        }
    }
    Some(Parsed::new(Format::AccessLog, f.into_iter().collect()))
}

fn put(fields: &mut Vec<(String, Value)>, name: &str, value: String) {
    fields.push((name.to_string(), Value::String(value)));
}

/// Reads the line left to right; every method consumes one field and the space after it.
struct Cursor<'a> {
    s: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_spaces(&mut self) {
        self.s = self.s.trim_start_matches(' ');
    }

    fn word(&mut self) -> Option<&'a str> {
        let end = self.s.find([' ', '\t', '\n']).unwrap_or(self.s.len());
        let (word, rest) = self.s.split_at_checked(end)?;
        if word.is_empty() {
            return None;
        }
        self.s = rest;
        self.skip_spaces();
        Some(word)
    }

    /// `[10/Oct/2000:13:55:36 -0700]` → the text inside the brackets.
    fn bracketed(&mut self) -> Option<&'a str> {
        let inner = self.s.strip_prefix('[')?;
        let (time, rest) = inner.split_once(']')?;
        self.s = rest;
        self.skip_spaces();
        Some(time)
    }

    /// A double-quoted field; `\"` and `\\` are unescaped (Apache and nginx escape quotes in
    /// requests and agents), other escapes such as nginx's `\x22` are kept as written.
    fn quoted(&mut self) -> Option<String> {
        let inner = self.s.strip_prefix('"')?;
        // Most fields have no escapes: copy the slice up to the closing quote in one go.
        if let Some(end) = memchr::memchr2(b'"', b'\\', inner.as_bytes()) {
            if inner.as_bytes().get(end) == Some(&b'"') {
                let (text, rest) = inner.split_at_checked(end)?;
                self.s = rest.get(1..)?;
                self.skip_spaces();
                return Some(text.to_string());
            }
        }
        let mut out = String::new();
        let mut chars = inner.char_indices();
        while let Some((i, ch)) = chars.next() {
            match ch {
                '"' => {
                    self.s = inner.get(i + 1..)?;
                    self.skip_spaces();
                    return Some(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => return None,
                },
                _ => out.push(ch),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn access_lines() {
        let cases = [
            (
                r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
                json!({"remote_addr": "127.0.0.1", "user": "frank", "time": "10/Oct/2000:13:55:36 -0700",
                       "request": "GET /apache_pb.gif HTTP/1.0", "method": "GET", "path": "/apache_pb.gif",
                       "protocol": "HTTP/1.0", "status": 200, "bytes": 2326}),
            ),
            (
                "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n",
                json!({"remote_addr": "127.0.0.1", "user": "frank", "time": "10/Oct/2000:13:55:36 -0700",
                       "request": "GET /apache_pb.gif HTTP/1.0", "method": "GET", "path": "/apache_pb.gif",
                       "protocol": "HTTP/1.0", "status": 200, "bytes": 2326,
                       "referer": "http://www.example.com/start.html", "user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)"}),
            ),
            // nginx: `-` bytes/referer, IPv6 host, escaped quote in the agent, extra trailing field.
            (
                r#"2001:db8::1 - - [27/Nov/2026:02:18:12 +0000] "POST /api?a=b HTTP/2.0" 304 - "-" "curl/8 \"x\"" 0.012"#,
                json!({"remote_addr": "2001:db8::1", "time": "27/Nov/2026:02:18:12 +0000",
                       "request": "POST /api?a=b HTTP/2.0", "method": "POST", "path": "/api?a=b",
                       "protocol": "HTTP/2.0", "status": 304, "user_agent": "curl/8 \"x\""}),
            ),
            // A scanner's garbage request: no method/path/protocol, still an access record.
            (
                r#"10.0.0.9 - - [27/Nov/2026:02:18:12 +0000] "\x16\x03\x01" 400 157 "-" "-""#,
                json!({"remote_addr": "10.0.0.9", "time": "27/Nov/2026:02:18:12 +0000",
                       "request": "\\x16\\x03\\x01", "status": 400, "bytes": 157}),
            ),
        ];
        for (line, want) in cases {
            let p = parse(line).unwrap_or_else(|| panic!("not parsed: {line:?}"));
            assert_eq!(p.format, Format::AccessLog);
            assert_eq!(Value::Object(p.fields), want, "{line:?}");
        }
    }

    #[test]
    fn not_access_lines() {
        let cases = [
            "127.0.0.1 - frank 10/Oct/2000 \"GET / HTTP/1.0\" 200 1",
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0 200 1",
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 2000 1",
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 lots",
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200",
            "a=1 b=2 c=3 [x] \"y\" 200 1",
            "hello world",
            "",
        ];
        for line in cases {
            assert!(parse(line).is_none(), "{line:?}");
        }
    }
}
