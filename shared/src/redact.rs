//! Finds secrets and personal data in strings (built-in detectors plus custom regexes) and
//! replaces just the secret with `[REDACTED:<detector>]`.
//!
//! Cost model: the redactor runs on every string of every record, and almost all of them hold no
//! secret. So each detector first checks cheap necessary conditions computed in ONE table-driven
//! byte pass ([`Hints`]: flags for `@` `:` `=` `.` `_` uppercase, digit count, longest token run,
//! longest card-digit run), at most a `memmem` for a literal (`eyJ`, `xox`, `://`), and, for the
//! detectors that need a keyword context (`api_key=`, `secret_access_key`, `Bearer`, sensitive
//! keys), one shared case-insensitive literal pass. Only when those hold does its regex run, and
//! the regexes carry literal prefixes where they can (`AKIA`, `ghp_`…) so the regex engine's own
//! prefilter skips most of the haystack. Short values like `"200"` or `"INFO"` fail every gate
//! and cost one tiny loop. Checks regexes cannot express (Luhn and card prefixes, IP octets,
//! boundaries — the engine has no look-around) run only on candidates.
//!
//! Known limit: redaction is idempotent for delimited text; for glued text (`…siga@b.ioa@b.io`)
//! a replacement can change a neighbour's context, so a second pass may find more.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use memchr::memmem;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::Value;

/// Prefix of every replacement; values that already start with it are never re-redacted, which
/// keeps redaction idempotent.
pub const MARKER_PREFIX: &str = "[REDACTED:";

/// Literals that every keyword-context built-in pattern contains (`api_key`/`x-api-key`/…
/// contain `key`, `access_token`/`token` contain `token`, `secret_access_key` contains
/// `secret`, `Bearer` itself).
const KEYWORD_ANCHORS: &[&str] = &["key", "token", "secret", "bearer"];

/// Label used for values redacted because of their key name (`password=…`, `"token": "…"`).
pub const SENSITIVE_KEY_LABEL: &str = "sensitive_key";

/// Rejected candidates (failed Luhn, bad IP octets…) after which a string stops retrying one char
/// later and skips whole candidates instead; bounds the work on hostile input.
const MAX_REJECTED_RETRIES: usize = 256;

/// Compiled-size cap for custom patterns from the config, so a pathological pattern fails at
/// start-up instead of eating the function's memory.
const CUSTOM_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Key names whose values are secrets whatever they look like (matched case-insensitively,
/// ignoring `_`, `-`, `.`, and also as a suffix: `db_password`, `csrfToken`).
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "x-api-key",
    "cookie",
    "set-cookie",
    "private_key",
    "client_secret",
    "secret_key",
    "access_key",
    "session_token",
    "credentials",
];

/// Header-style keys whose whole rest of line is secret (`Cookie: a=b; c=d`,
/// `Authorization: Basic …`): the value has spaces and `;`, so the bare-token rule would leak.
const REST_OF_LINE_KEYS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// One built-in detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    AwsAccessKey,
    AwsSecretKey,
    AwsSessionToken,
    BearerToken,
    Jwt,
    ApiKey,
    GithubToken,
    SlackToken,
    PasswordInUrl,
    Email,
    CreditCard,
    Ipv4,
    Ipv6,
}

const ALL_BUILTINS: &[Builtin] = &[
    Builtin::AwsAccessKey,
    Builtin::AwsSecretKey,
    Builtin::AwsSessionToken,
    Builtin::BearerToken,
    Builtin::Jwt,
    Builtin::ApiKey,
    Builtin::GithubToken,
    Builtin::SlackToken,
    Builtin::PasswordInUrl,
    Builtin::Email,
    Builtin::CreditCard,
    Builtin::Ipv4,
    Builtin::Ipv6,
];

impl Builtin {
    fn name(self) -> &'static str {
        match self {
            Builtin::AwsAccessKey => "aws_access_key",
            Builtin::AwsSecretKey => "aws_secret_key",
            Builtin::AwsSessionToken => "aws_session_token",
            Builtin::BearerToken => "bearer_token",
            Builtin::Jwt => "jwt",
            Builtin::ApiKey => "api_key",
            Builtin::GithubToken => "github_token",
            Builtin::SlackToken => "slack_token",
            Builtin::PasswordInUrl => "password_in_url",
            Builtin::Email => "email",
            Builtin::CreditCard => "credit_card",
            Builtin::Ipv4 => "ipv4",
            Builtin::Ipv6 => "ipv6",
        }
    }

    fn from_name(name: &str) -> Option<Builtin> {
        ALL_BUILTINS.iter().copied().find(|b| b.name() == name)
    }

    /// Patterns; when a pattern has a group named `s`, only that group is the secret.
    fn patterns(self) -> &'static [&'static str] {
        match self {
            Builtin::AwsAccessKey => &[
                r"(?-u:\b)(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?-u:\b)",
            ],
            Builtin::AwsSecretKey => &[
                r#"(?i:aws)?[_.\-]?(?i:secret)[_.\-]?(?i:access)?[_.\-]?(?i:key)["']?(?:\s*(?:[:=]|=>)\s*|\s+)["']?(?P<s>[A-Za-z0-9/+]{40})"#,
            ],
            Builtin::AwsSessionToken => &[
                r#"(?i:aws[_.\-]?session[_.\-]?token|session[_.\-]?token|x-amz-security-token)["']?(?:\s*(?:[:=]|=>)\s*|\s+)["']?(?P<s>[A-Za-z0-9/+=%]{16,})"#,
                r"(?-u:\b)(?:FwoGZXIvYXdz|IQoJb3JpZ2lu)[A-Za-z0-9/+=%]{20,}",
            ],
            Builtin::BearerToken => &[r"(?-u:\b)(?i:bearer)\s+(?P<s>[A-Za-z0-9\-._~+/]{12,}=*)"],
            Builtin::Jwt => {
                &[r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"]
            }
            Builtin::ApiKey => &[
                r#"(?:^|[^A-Za-z0-9_\-])["']?(?i:x-api-key|api[_\-]?key|apikey|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token|id[_\-]?token|token)["']?\s*[=:]\s*["']?(?P<s>[A-Za-z0-9_\-.~+/%=]{8,})"#,
            ],
            Builtin::GithubToken => &[
                r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
            ],
            Builtin::SlackToken => &[r"(?-u:\b)xox[abprs]-[A-Za-z0-9-]{10,}"],
            Builtin::PasswordInUrl => &[
                r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/?#@"'<>\[\]]*:(?P<s>[^\s/?#@"'<>\[\]]+)@"#,
            ],
            Builtin::Email => &[
                r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}",
            ],
            Builtin::CreditCard => &[r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)"],
            Builtin::Ipv4 => &[r"(?-u:\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?-u:\b)"],
            Builtin::Ipv6 => {
                &[r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"]
            }
        }
    }

    /// Cheap necessary conditions; false means the regex cannot match (see module doc).
    fn gate(self, h: &Hints, s: &[u8]) -> bool {
        match self {
            Builtin::AwsAccessKey => h.has(UPPER) && h.token_run >= 20,
            Builtin::AwsSecretKey => h.token_run >= 40 && h.keyword,
            Builtin::AwsSessionToken => h.token_run >= 16,
            Builtin::BearerToken => h.len >= 19 && h.has(SPACE) && h.keyword,
            Builtin::Jwt => h.len >= 18 && h.has(DOT) && finder(&EYJ, "eyJ").find(s).is_some(),
            Builtin::ApiKey => h.len >= 13 && (h.has(EQ) || h.has(COLON)) && h.keyword,
            Builtin::GithubToken => {
                h.has(UNDERSCORE)
                    && (h.token_run >= 36 || finder(&GITHUB_PAT, "github_pat_").find(s).is_some())
            }
            Builtin::SlackToken => h.len >= 15 && finder(&XOX, "xox").find(s).is_some(),
            Builtin::PasswordInUrl => {
                h.has(AT) && h.has(COLON) && finder(&SCHEME_SEP, "://").find(s).is_some()
            }
            Builtin::Email => h.len >= 6 && h.has(AT) && h.has(DOT),
            Builtin::CreditCard => h.card_run >= 13,
            Builtin::Ipv4 => h.digits >= 4 && h.has(DOT),
            Builtin::Ipv6 => h.len >= 2 && h.has(COLON),
        }
    }

    /// Whether this detector's patterns all contain one of [`KEYWORD_ANCHORS`], so a string
    /// without any anchor can skip it.
    fn needs_keyword(self) -> bool {
        matches!(
            self,
            Builtin::AwsSecretKey | Builtin::BearerToken | Builtin::ApiKey
        )
    }

    /// Checks a candidate (`secret` is the replaced span, `m` the whole match) beyond the regex.
    fn accept(self, text: &str, m: (usize, usize), secret: (usize, usize)) -> bool {
        let cand = text.get(secret.0..secret.1).unwrap_or("");
        let before = text.get(..m.0).and_then(|t| t.chars().next_back());
        let after = text.get(m.1..).and_then(|t| t.chars().next());
        match self {
            Builtin::AwsSecretKey => {
                !after.is_some_and(|c| c.is_ascii_alphanumeric() || "/+=".contains(c))
            }
            Builtin::ApiKey => {
                // Values like `token=expired` are words, not keys: a real key has a digit or is long.
                cand.bytes().any(|b| b.is_ascii_digit()) || cand.len() >= 20
            }
            Builtin::Email => {
                !before.is_some_and(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }
            Builtin::CreditCard => {
                // A dash-separated digit run that continues past the match (a digit-only UUID or
                // an id) is not a card.
                let prev2 = text.get(..m.0).map(|t| t.as_bytes()).unwrap_or(b"");
                let next2 = text.get(m.1..).map(|t| t.as_bytes()).unwrap_or(b"");
                let glued_before = matches!(prev2, [.., d, b'-'] if d.is_ascii_digit());
                let glued_after = matches!(next2, [b'-', d, ..] if d.is_ascii_digit());
                !glued_before && !glued_after && is_card_number(cand)
            }
            Builtin::Ipv4 => {
                // `1.2.3.4.5` is a version or OID, not an address.
                let dotted_before = before == Some('.');
                let next2 = text.get(m.1..).map(|t| t.as_bytes()).unwrap_or(b"");
                let dotted_after = matches!(next2, [b'.', d, ..] if d.is_ascii_digit());
                !dotted_before
                    && !dotted_after
                    && cand.split('.').all(|o| o.len() == 1 || !o.starts_with('0'))
                    && cand.parse::<std::net::Ipv4Addr>().is_ok()
            }
            Builtin::Ipv6 => {
                !before
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == ':' || c == '.' || c == '_')
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_')
                    && cand.bytes().any(|b| b.is_ascii_digit())
                    && cand.parse::<std::net::Ipv6Addr>().is_ok()
            }
            Builtin::AwsAccessKey
            | Builtin::AwsSessionToken
            | Builtin::BearerToken
            | Builtin::Jwt
            | Builtin::GithubToken
            | Builtin::SlackToken
            | Builtin::PasswordInUrl => true,
        }
    }
}

/// 13–19 digits (spaces/dashes allowed) with a known card-network prefix and a valid Luhn check.
/// The prefix rule is what keeps epoch-millisecond timestamps (13 digits starting with `1`) and
/// other plain numbers out.
fn is_card_number(s: &str) -> bool {
    let mut digits = [0u8; 19];
    let mut n = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            if n == digits.len() {
                return false;
            }
            digits[n] = b - b'0';
            n += 1;
        } else if b != b' ' && b != b'-' {
            return false;
        }
    }
    let d = &digits[..n];
    let prefix = |k: usize| {
        d.iter()
            .take(k)
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x))
    };
    let len_ok = match d.first() {
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => (51..=55).contains(&prefix(2)) && n == 16,
        Some(2) => (2221..=2720).contains(&prefix(4)) && n == 16,
        Some(3) => match prefix(2) {
            34 | 37 => n == 15,
            35 => (3528..=3589).contains(&prefix(4)) && (16..=19).contains(&n),
            36 | 38 => (14..=19).contains(&n),
            30 => (300..=305).contains(&prefix(3)) && (14..=19).contains(&n),
            _ => false,
        },
        Some(6) => {
            (prefix(4) == 6011
                || prefix(2) == 65
                || prefix(2) == 62
                || (644..=649).contains(&prefix(3)))
                && (16..=19).contains(&n)
        }
        _ => false,
    };
    len_ok && luhn(d)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

static EYJ: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static GITHUB_PAT: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static XOX: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static SCHEME_SEP: OnceLock<memmem::Finder<'static>> = OnceLock::new();

fn finder(
    cell: &'static OnceLock<memmem::Finder<'static>>,
    needle: &'static str,
) -> &'static memmem::Finder<'static> {
    cell.get_or_init(|| memmem::Finder::new(needle.as_bytes()))
}

const AT: u16 = 1;
const COLON: u16 = 1 << 1;
const EQ: u16 = 1 << 2;
const DOT: u16 = 1 << 3;
const UNDERSCORE: u16 = 1 << 4;
const UPPER: u16 = 1 << 5;
const SPACE: u16 = 1 << 6;

/// What one pass over the bytes learned; every gate is a function of this plus a literal search.
struct Hints {
    len: usize,
    flags: u16,
    digits: usize,
    /// Longest run of `[A-Za-z0-9+/=%]` — every AWS key, session token and GitHub token is one.
    token_run: usize,
    /// Longest run of digits where single spaces/dashes between digits do not break the run —
    /// a card number needs 13.
    card_run: usize,
    /// Whether a keyword anchor occurs (filled in by the redactor, only when some detector
    /// needs it).
    keyword: bool,
}

/// Byte classes for the one-pass scan: the flag bits above plus run classes.
const DIGIT: u16 = 1 << 8;
const TOKEN: u16 = 1 << 9;
const CARD_SEP: u16 = 1 << 10;

/// Class bits per byte, so the scan is one table load per byte instead of a chain of compares.
static CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0u16;
        if b.is_ascii_digit() {
            c |= DIGIT | TOKEN;
        }
        if b.is_ascii_alphabetic() || b == b'+' || b == b'/' || b == b'=' || b == b'%' {
            c |= TOKEN;
        }
        if b.is_ascii_uppercase() {
            c |= UPPER;
        }
        c |= match b {
            b'@' => AT,
            b':' => COLON,
            b'=' => EQ,
            b'.' => DOT,
            b'_' => UNDERSCORE,
            b' ' => SPACE | CARD_SEP,
            b'-' => CARD_SEP,
            b'\t' | b'\n' | b'\r' => SPACE,
            _ => 0,
        };
        t[i] = c;
        i += 1;
    }
    t
};

impl Hints {
    fn scan(s: &[u8]) -> Hints {
        let mut flags = 0u16;
        let mut digits = 0usize;
        let (mut run, mut token_run) = (0usize, 0usize);
        // `card` counts digits; one separator right after a digit is allowed (`4111 1111`).
        let (mut card, mut card_run, mut after_digit) = (0usize, 0usize, false);
        for &b in s {
            let c = CLASS[usize::from(b)];
            flags |= c;
            run = if c & TOKEN != 0 { run + 1 } else { 0 };
            token_run = token_run.max(run);
            if c & DIGIT != 0 {
                digits += 1;
                card += 1;
                card_run = card_run.max(card);
                after_digit = true;
            } else {
                if !(after_digit && c & CARD_SEP != 0) {
                    card = 0;
                }
                after_digit = false;
            }
        }
        Hints {
            len: s.len(),
            flags,
            digits,
            token_run,
            card_run,
            keyword: false,
        }
    }

    fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
}

/// A user-defined detector from the config (`fields.custom_redact`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// Label used in `[REDACTED:<name>]`; `[A-Za-z0-9_]+`, not a built-in name.
    pub name: String,
    /// Regex (Rust `regex` syntax). If it has a group named `secret`, only that group is
    /// replaced; otherwise the whole match.
    pub pattern: String,
}

/// Why a redactor could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    #[error("unknown detector {name:?}; valid detectors: {}", Redactor::BUILTIN.join(", "))]
    UnknownDetector { name: String },
    #[error("custom detector name {name:?} must be non-empty [A-Za-z0-9_] and not a built-in or repeated name")]
    BadCustomName { name: String },
    #[error("custom detector {name:?}: pattern does not compile: {reason}")]
    BadCustomPattern { name: String, reason: String },
    #[error("custom detector {name:?}: pattern matches the empty string")]
    EmptyMatch { name: String },
    #[error("sensitive key {key:?} must contain a letter or digit")]
    BadSensitiveKey { key: String },
    #[error("sensitive keys do not compile into one pattern (too many or too long?): {reason}")]
    SensitiveKeyPattern { reason: String },
}

#[derive(Debug, Clone)]
enum Kind {
    Builtin(Builtin),
    Custom,
}

#[derive(Debug, Clone)]
struct Detector {
    label: Arc<str>,
    kind: Kind,
    patterns: Vec<Regex>,
    /// Index of the capture group holding the secret, per pattern (None = whole match).
    secret_group: Vec<Option<usize>>,
}

impl Detector {
    fn gate(&self, h: &Hints, s: &[u8]) -> bool {
        match self.kind {
            Kind::Builtin(b) => b.gate(h, s),
            Kind::Custom => true,
        }
    }

    fn accept(&self, text: &str, m: (usize, usize), secret: (usize, usize)) -> bool {
        match self.kind {
            Kind::Builtin(b) => b.accept(text, m, secret),
            Kind::Custom => true,
        }
    }
}

/// Key-name based redaction: `password=…`, `"token": "…"`, `Cookie: …` in text, and every
/// scalar under such a key in JSON.
#[derive(Debug, Clone)]
struct SensitiveKeys {
    /// Normalised (lowercase, no `_ - .`) names; a key matches when its normalised form ends
    /// with one of them.
    normalised: Vec<String>,
    /// `key=value`, `"key": value`, `key: value` at line start.
    text: Regex,
    /// `Cookie: …` / `Authorization: …` up to end of line.
    rest_of_line: Option<Regex>,
}

fn normalise_key(k: &str) -> String {
    k.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// `api_key` → `api[_\-.]?key`, case-insensitive, so `API-KEY` and `apiKey` match too.
fn key_regex(k: &str) -> String {
    let parts: Vec<String> = k
        .split(['_', '-', '.', ' '])
        .filter(|p| !p.is_empty())
        .map(regex::escape)
        .collect();
    format!("(?i:{})", parts.join(r"[_\-.]?"))
}

impl SensitiveKeys {
    fn new(keys: &[String]) -> Result<Option<SensitiveKeys>, RedactError> {
        if keys.is_empty() {
            return Ok(None);
        }
        let mut normalised = Vec::new();
        let mut alts = Vec::new();
        for k in keys {
            let n = normalise_key(k);
            if n.is_empty() || !n.chars().any(|c| c.is_alphanumeric()) {
                return Err(RedactError::BadSensitiveKey { key: k.clone() });
            }
            normalised.push(n);
            alts.push(key_regex(k));
        }
        // Longest first so `set-cookie` wins over `cookie` in the alternation.
        alts.sort_by_key(|a| std::cmp::Reverse(a.len()));
        let keys_alt = alts.join("|");
        // The optional `[A-Za-z0-9_.\-]*` prefix lets `DB_PASSWORD=` and `csrf_token=` match,
        // mirroring the suffix rule used for JSON keys.
        let text = format!(
            r#"(?m)(?:(?:^|[^A-Za-z0-9_.\-"'])[A-Za-z0-9_.\-]*?(?:{keys_alt})\s*=\s*|"[A-Za-z0-9_.\-]*?(?:{keys_alt})"\s*:\s*|^[ \t]*[A-Za-z0-9_.\-]*?(?:{keys_alt})[ \t]*:[ \t]*)(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s&"',;}}\[\]][^\s&"',;}}\]]*))"#
        );
        let text = Regex::new(&text).map_err(|e| RedactError::SensitiveKeyPattern {
            reason: e.to_string(),
        })?;
        let rol: Vec<String> = REST_OF_LINE_KEYS
            .iter()
            .filter(|k| normalised.contains(&normalise_key(k)))
            .map(|k| key_regex(k))
            .collect();
        let rest_of_line = if rol.is_empty() {
            None
        } else {
            let mut rol = rol;
            rol.sort_by_key(|a| std::cmp::Reverse(a.len()));
            let p = format!(
                r#"(?:^|[^A-Za-z0-9_\-"])(?:{})[ \t]*:[ \t]*(?P<s>[^\s"\[][^\r\n"]*)"#,
                rol.join("|")
            );
            Some(
                Regex::new(&p).map_err(|e| RedactError::SensitiveKeyPattern {
                    reason: e.to_string(),
                })?,
            )
        };
        Ok(Some(SensitiveKeys {
            normalised,
            text,
            rest_of_line,
        }))
    }

    fn is_sensitive(&self, key: &str) -> bool {
        // Runs for every key of every record, so the common ASCII case normalises once into a
        // stack buffer and compares suffixes bytewise; only keys that are non-ASCII or longer
        // than the buffer take the general (char-by-char) path.
        const BUF: usize = 64;
        if key.is_ascii() && key.len() <= BUF {
            let mut buf = [0u8; BUF];
            let mut len = 0;
            for &b in key.as_bytes() {
                if !matches!(b, b'_' | b'-' | b'.' | b' ') {
                    buf[len] = b.to_ascii_lowercase();
                    len += 1;
                }
            }
            let norm = &buf[..len];
            let Some(&last) = norm.last() else {
                return false;
            };
            // Comparing last bytes first skips the memcmp call for nearly every name.
            return self.normalised.iter().any(|n| {
                let n = n.as_bytes();
                n.last() == Some(&last) && norm.ends_with(n)
            });
        }
        self.normalised.iter().any(|n| {
            let mut want = n.chars().rev();
            let mut got = key
                .chars()
                .rev()
                .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
                .flat_map(char::to_lowercase);
            loop {
                match want.next() {
                    None => return true,
                    Some(w) => {
                        if got.next() != Some(w) {
                            return false;
                        }
                    }
                }
            }
        })
    }
}

/// A compiled set of detectors. Cloning is cheap (regexes are reference counted).
#[derive(Debug, Clone)]
pub struct Redactor {
    detectors: Vec<Detector>,
    sensitive: Option<SensitiveKeys>,
    /// Case-insensitive alternation of literal anchors (`key`, `token`, each sensitive key's
    /// longest segment…) that keyword-context detectors cannot match without: one DFA pass
    /// lets an ordinary line skip all of them.
    keyword_gate: Option<Regex>,
    /// Tells a `RedactMemo` which redactor filled it (clones share it: they redact alike).
    id: u64,
}

/// Source of `Redactor::id`.
fn next_redactor_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The compiled built-in patterns, shared by every `Redactor` (compiled once per process).
fn builtin_regexes() -> &'static Vec<(Builtin, Vec<Regex>)> {
    static CELL: OnceLock<Vec<(Builtin, Vec<Regex>)>> = OnceLock::new();
    CELL.get_or_init(|| {
        ALL_BUILTINS
            .iter()
            .map(|&b| {
                let res = b
                    .patterns()
                    .iter()
                    .filter_map(|p| match Regex::new(p) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            // Unreachable with the fixed patterns; a unit test compiles them all.
                            debug_assert!(false, "built-in pattern {p}: {e}");
                            None
                        }
                    })
                    .collect();
                (b, res)
            })
            .collect()
    })
}

impl Default for Redactor {
    /// The default detectors and sensitive keys: secure unless configured otherwise.
    fn default() -> Redactor {
        let detectors: Vec<String> = Redactor::DEFAULT.iter().map(|s| s.to_string()).collect();
        let keys: Vec<String> = DEFAULT_SENSITIVE_KEYS
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Cannot fail: fixed names and keys (`empty_and_idempotent` asserts the result is not
        // empty, which is what this fallback would produce).
        Redactor::new(&detectors, &[], &keys).unwrap_or(Redactor::none())
    }
}

impl Redactor {
    /// Names accepted in `fields.redact`.
    pub const BUILTIN: &'static [&'static str] = &[
        "aws_access_key",
        "aws_secret_key",
        "aws_session_token",
        "bearer_token",
        "jwt",
        "api_key",
        "github_token",
        "slack_token",
        "password_in_url",
        "email",
        "credit_card",
        "ipv4",
        "ipv6",
    ];

    /// Detectors used when `fields.redact` is not set: every built-in except `ipv4`/`ipv6`
    /// (the last two of `BUILTIN`). IP addresses are what access logs, WAF and VPC analyses are
    /// for, and they are not credentials; deployments that must treat them as personal data opt in.
    pub const DEFAULT: &'static [&'static str] = Self::BUILTIN.split_at(Self::BUILTIN.len() - 2).0;

    /// A redactor that changes nothing.
    pub fn none() -> Redactor {
        Redactor {
            detectors: Vec::new(),
            sensitive: None,
            keyword_gate: None,
            id: next_redactor_id(),
        }
    }

    /// Builds a redactor from built-in detector names, custom detectors and sensitive key names
    /// (an empty list disables key-name redaction).
    pub fn new(
        detectors: &[String],
        custom: &[CustomDetector],
        sensitive_keys: &[String],
    ) -> Result<Redactor, RedactError> {
        let mut out = Vec::new();
        for name in detectors {
            let b = Builtin::from_name(name)
                .ok_or_else(|| RedactError::UnknownDetector { name: name.clone() })?;
            if out.iter().any(|d: &Detector| &*d.label == b.name()) {
                continue;
            }
            let patterns = builtin_regexes()
                .iter()
                .find(|(x, _)| *x == b)
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            let secret_group = patterns.iter().map(|r| group_index(r, "s")).collect();
            out.push(Detector {
                label: Arc::from(b.name()),
                kind: Kind::Builtin(b),
                patterns,
                secret_group,
            });
        }
        for c in custom {
            let name_ok = !c.name.is_empty()
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && Builtin::from_name(&c.name).is_none()
                && c.name != SENSITIVE_KEY_LABEL
                && !out.iter().any(|d| *d.label == *c.name);
            if !name_ok {
                return Err(RedactError::BadCustomName {
                    name: c.name.clone(),
                });
            }
            let re = RegexBuilder::new(&c.pattern)
                .size_limit(CUSTOM_REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| RedactError::BadCustomPattern {
                    name: c.name.clone(),
                    reason: e.to_string(),
                })?;
            // A pattern matching "" would replace nothing useful and insert markers everywhere.
            if re.is_match("") {
                return Err(RedactError::EmptyMatch {
                    name: c.name.clone(),
                });
            }
            let g = group_index(&re, "secret");
            out.push(Detector {
                label: Arc::from(c.name.as_str()),
                kind: Kind::Custom,
                patterns: vec![re],
                secret_group: vec![g],
            });
        }
        // Fixed order, whatever the config order: `password_in_url` must run before `email`.
        out.sort_by_key(|d| match d.kind {
            Kind::Builtin(b) => ALL_BUILTINS.iter().position(|x| *x == b).unwrap_or(0),
            Kind::Custom => ALL_BUILTINS.len(),
        });
        let sensitive = SensitiveKeys::new(sensitive_keys)?;
        let mut anchors: Vec<String> = Vec::new();
        if out
            .iter()
            .any(|d| matches!(d.kind, Kind::Builtin(b) if b.needs_keyword()))
        {
            anchors.extend(KEYWORD_ANCHORS.iter().map(|a| a.to_string()));
        }
        if sensitive.is_some() {
            for k in sensitive_keys {
                // Any text form of a key contains its longest segment verbatim (case aside).
                if let Some(seg) = k.split(['_', '-', '.', ' ']).max_by_key(|p| p.len()) {
                    anchors.push(seg.to_lowercase());
                }
            }
        }
        anchors.sort();
        anchors.dedup();
        let keyword_gate = if anchors.is_empty() {
            None
        } else {
            let alt: Vec<String> = anchors.iter().map(|a| regex::escape(a)).collect();
            let re = Regex::new(&format!("(?i:{})", alt.join("|"))).map_err(|e| {
                RedactError::SensitiveKeyPattern {
                    reason: e.to_string(),
                }
            })?;
            Some(re)
        };
        Ok(Redactor {
            detectors: out,
            sensitive,
            keyword_gate,
            id: next_redactor_id(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.detectors.is_empty() && self.sensitive.is_none()
    }

    /// Whether a JSON key's value is redacted whole because of the key's name.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.sensitive.as_ref().is_some_and(|s| s.is_sensitive(key))
    }

    /// The string with every secret replaced; borrowed when nothing was found.
    pub fn redact<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.redact_counted(s).0
    }

    /// Like [`Redactor::redact`], also returning how many secrets were replaced.
    pub fn redact_counted<'a>(&self, s: &'a str) -> (Cow<'a, str>, usize) {
        self.redact_impl(s, true)
    }

    /// `gated = false` runs every regex regardless of the prefilters; tests compare both to
    /// prove the gates are only necessary conditions.
    fn redact_impl<'a>(&self, s: &'a str, gated: bool) -> (Cow<'a, str>, usize) {
        if self.is_empty() || s.is_empty() {
            return (Cow::Borrowed(s), 0);
        }
        let bytes = s.as_bytes();
        let mut hints = Hints::scan(bytes);
        // The keyword DFA is the priciest gate: run it only when a detector that needs it
        // (secret key, bearer token, api key, sensitive `key=value` text) could still match.
        let wants_keyword = hints.token_run >= 40
            || hints.has(EQ)
            || hints.has(COLON)
            || (hints.len >= 19 && hints.has(SPACE));
        hints.keyword = wants_keyword && self.keyword_gate.as_ref().is_some_and(|g| g.is_match(s));
        let mut spans: Vec<(usize, usize, &str)> = Vec::new();
        let mut url_passwords: Vec<usize> = Vec::new();
        if let Some(sk) = &self.sensitive {
            if !gated || (hints.has(EQ) || hints.has(COLON)) && hints.keyword {
                for c in sk.text.captures_iter(s) {
                    let bare_literal = c.name("bare").is_some_and(|m| {
                        ["true", "false", "null"]
                            .iter()
                            .any(|l| m.as_str().eq_ignore_ascii_case(l))
                    });
                    if bare_literal {
                        // JSON `"is_secret": false` — the same values the JSON walker leaves alone.
                        continue;
                    }
                    if let Some(m) = c
                        .name("dq")
                        .or_else(|| c.name("sq"))
                        .or_else(|| c.name("bare"))
                    {
                        push_span(&mut spans, s, m.start(), m.end(), SENSITIVE_KEY_LABEL);
                    }
                }
                if let Some(rol) = &sk.rest_of_line {
                    for c in rol.captures_iter(s) {
                        if let Some(m) = c.name("s") {
                            let v = m.as_str().trim_end();
                            push_span(
                                &mut spans,
                                s,
                                m.start(),
                                m.start() + v.len(),
                                SENSITIVE_KEY_LABEL,
                            );
                        }
                    }
                }
            }
        }
        for d in &self.detectors {
            if gated && !d.gate(&hints, bytes) {
                continue;
            }
            for (re, group) in d.patterns.iter().zip(&d.secret_group) {
                let mut pos = 0;
                let mut retries = 0;
                while pos <= s.len() {
                    let Some(c) = re.captures_at(s, pos) else {
                        break;
                    };
                    let Some(whole) = c.get(0) else { break };
                    let next_char = whole.start()
                        + s.get(whole.start()..)
                            .and_then(|t| t.chars().next())
                            .map_or(1, char::len_utf8);
                    let secret = group.and_then(|g| c.get(g)).unwrap_or(whole);
                    let m = (whole.start(), whole.end());
                    let sp = (secret.start(), secret.end());
                    let is_email = matches!(d.kind, Kind::Builtin(Builtin::Email));
                    // `user:pass@host`: the password is already covered; do not eat the host.
                    let url_userinfo = is_email && url_passwords.contains(&sp.0);
                    if secret.is_empty() || url_userinfo || !d.accept(s, m, sp) {
                        // A rejected candidate must not hide an overlapping real one (the host
                        // after a URL password is still an e-mail-like candidate), so retry one
                        // char later — a bounded number of times, so punctuation floods stay
                        // linear.
                        pos = if retries < MAX_REJECTED_RETRIES {
                            retries += 1;
                            next_char
                        } else {
                            whole.end().max(next_char)
                        };
                        continue;
                    }
                    if matches!(d.kind, Kind::Builtin(Builtin::PasswordInUrl)) {
                        url_passwords.push(sp.0);
                    }
                    push_span(&mut spans, s, sp.0, sp.1, &d.label);
                    pos = whole.end().max(next_char);
                }
            }
        }
        if spans.is_empty() {
            return (Cow::Borrowed(s), 0);
        }
        spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out = String::with_capacity(s.len() + 16 * spans.len());
        let mut pos = 0;
        let mut count = 0;
        let mut i = 0;
        while i < spans.len() {
            let (start, mut end, label) = spans[i];
            i += 1;
            // Overlapping findings merge into one replacement so no part of either survives.
            while i < spans.len() && spans[i].0 < end {
                end = end.max(spans[i].1);
                i += 1;
            }
            out.push_str(s.get(pos..start).unwrap_or(""));
            out.push_str(MARKER_PREFIX);
            out.push_str(label);
            out.push(']');
            pos = end;
            count += 1;
        }
        out.push_str(s.get(pos..).unwrap_or(""));
        (Cow::Owned(out), count)
    }

    /// Redacts every string inside `v` in place; returns how many secrets were replaced.
    /// Scalars under a sensitive key (at any depth) are replaced whole. Walks with an explicit
    /// stack, so nesting depth cannot overflow the call stack. Keys are not rewritten.
    pub fn redact_value(&self, v: &mut Value) -> usize {
        self.walk(v, false)
    }

    /// Redacts the value of one object member, honouring the member's own key name (a
    /// top-level `password` field is replaced whole, as a nested one would be).
    pub fn redact_entry(&self, key: &str, v: &mut Value) -> usize {
        self.walk(v, self.is_sensitive_key(key))
    }

    fn walk(&self, v: &mut Value, sensitive: bool) -> usize {
        if self.is_empty() {
            return 0;
        }
        let mut count = 0;
        let mut stack: Vec<(&mut Value, bool)> = vec![(v, sensitive)];
        while let Some((v, sensitive)) = stack.pop() {
            match v {
                Value::String(s) => {
                    if sensitive {
                        if !s.starts_with(MARKER_PREFIX) {
                            *s = sensitive_marker();
                            count += 1;
                        }
                    } else if let (Cow::Owned(new), n) = self.redact_counted(s) {
                        *s = new;
                        count += n;
                    }
                }
                Value::Number(_) if sensitive => {
                    *v = Value::String(sensitive_marker());
                    count += 1;
                }
                Value::Array(a) => stack.extend(a.iter_mut().map(|x| (x, sensitive))),
                Value::Object(m) => {
                    for (k, x) in m.iter_mut() {
                        let s = sensitive || self.is_sensitive_key(k);
                        stack.push((x, s));
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        count
    }
}

fn sensitive_marker() -> String {
    format!("{MARKER_PREFIX}{SENSITIVE_KEY_LABEL}]")
}

/// Records a finding unless it is an earlier replacement (keeps redaction idempotent).
fn push_span<'l>(
    spans: &mut Vec<(usize, usize, &'l str)>,
    s: &str,
    start: usize,
    end: usize,
    label: &'l str,
) {
    if start >= end || s.get(start..).is_some_and(|t| t.starts_with(MARKER_PREFIX)) {
        return;
    }
    spans.push((start, end, label));
}

fn group_index(re: &Regex, name: &str) -> Option<usize> {
    re.capture_names().position(|n| n == Some(name))
}

/// Values longer than this are redacted afresh every time: long values are rarely repeated and
/// would make the memo's memory depend on the input.
const MEMO_MAX_VALUE_BYTES: usize = 128;
/// The memo starts over when it holds this many values (bounded memory on a warm environment
/// that sees many distinct values).
const MEMO_MAX_ENTRIES: usize = 4096;

/// A remembered redaction: the redacted text and how many secrets it replaced.
type Redacted = (Box<str>, usize);

/// Remembers what a `Redactor` made of short values it has seen. The values that leave the
/// pipeline unredacted-at-source (metric dimensions, trace annotations) repeat heavily —
/// `Service=orders-api` on every line — and a hash lookup costs a fraction of running the
/// detectors again. Redaction is a pure function of the value, so a hit is always right; a memo
/// handed another redactor forgets what the first one decided.
#[derive(Debug, Default, Clone)]
pub struct RedactMemo {
    /// `Redactor::id` of the redactor whose answers `seen` holds.
    owner: u64,
    /// `None`: the value is clean. `Some`: its redacted text and how many secrets it held.
    seen: std::collections::HashMap<Box<str>, Option<Redacted>, foldhash::fast::RandomState>,
}

impl RedactMemo {
    pub fn new() -> RedactMemo {
        RedactMemo::default()
    }

    /// [`Redactor::redact_counted`], answered from memory for values seen before.
    pub fn redact_counted<'a>(&mut self, redactor: &Redactor, s: &'a str) -> (Cow<'a, str>, usize) {
        if s.len() > MEMO_MAX_VALUE_BYTES || redactor.is_empty() {
            return redactor.redact_counted(s);
        }
        if self.owner != redactor.id {
            self.seen.clear();
            self.owner = redactor.id;
        }
        if let Some(known) = self.seen.get(s) {
            return match known {
                None => (Cow::Borrowed(s), 0),
                Some((clean, n)) => (Cow::Owned(clean.to_string()), *n),
            };
        }
        let (out, n) = redactor.redact_counted(s);
        if self.seen.len() >= MEMO_MAX_ENTRIES {
            self.seen.clear();
        }
        let entry = match &out {
            Cow::Borrowed(_) => None,
            Cow::Owned(clean) => Some((Box::from(clean.as_str()), n)),
        };
        self.seen.insert(Box::from(s), entry);
        (out, n)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn only(name: &str) -> Redactor {
        Redactor::new(&[name.to_string()], &[], &[]).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// (detector, text, secrets that must be replaced by `[REDACTED:<detector>]`)
    const POSITIVES: &[(&str, &str, &[&str])] = &[
        ("aws_access_key", "key AKIAIOSFODNN7EXAMPLE used", &["AKIAIOSFODNN7EXAMPLE"]),
        ("aws_access_key", "\"ASIAY34FZKBOKMUTVV7A\"", &["ASIAY34FZKBOKMUTVV7A"]),
        ("aws_secret_key", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
        ("aws_secret_key", "{\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}", &["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
        ("aws_secret_key", "secret_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
        ("aws_session_token", "AWS_SESSION_TOKEN=FwoGZXIvYXdzEJr//////////wEaDHVzZXJuYW1l", &["FwoGZXIvYXdzEJr//////////wEaDHVzZXJuYW1l"]),
        ("aws_session_token", "tok IQoJb3JpZ2luX2VjEHcaCXVzLWVhc3QtMSJHMEUCIQD end", &["IQoJb3JpZ2luX2VjEHcaCXVzLWVhc3QtMSJHMEUCIQD"]),
        ("bearer_token", "Authorization: Bearer abcdef0123456789xyz", &["abcdef0123456789xyz"]),
        ("bearer_token", "bearer mF_9.B5f-4.1JqM0123", &["mF_9.B5f-4.1JqM0123"]),
        // Shortest shape the pattern allows (unsigned, `alg: none`): the length gate must admit it.
        ("jwt", "eyJhbGci.eyJzdWIi.", &["eyJhbGci.eyJzdWIi."]),
        ("jwt", "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok", &["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"]),
        ("api_key", "x-api-key: 9f8e7d6c5b4a3f2e1d0c", &["9f8e7d6c5b4a3f2e1d0c"]),
        ("api_key", "GET /v1/items?api_key=AbC123xyz789&page=2", &["AbC123xyz789"]),
        ("api_key", "apikey=0123456789abcdef", &["0123456789abcdef"]),
        ("api_key", "/cb?access_token=ya29.a0AfH6SMB1 HTTP/1.1", &["ya29.a0AfH6SMB1"]),
        ("api_key", "{\"token\": \"abcdefghijklmnopqrstuvwxyz\"}", &["abcdefghijklmnopqrstuvwxyz"]),
        ("github_token", "ghp_1234567890abcdefghijklmnopqrstuvwxyZ", &["ghp_1234567890abcdefghijklmnopqrstuvwxyZ"]),
        ("github_token", "pat github_pat_11ABCDEFG0123456789_abcdefghij!", &["github_pat_11ABCDEFG0123456789_abcdefghij"]),
        ("slack_token", "xoxb-1234567890-1234567890123-AbCdEfGh", &["xoxb-1234567890-1234567890123-AbCdEfGh"]),
        ("password_in_url", "postgres://admin:s3cr3tP4ss@db.example.com:5432/app", &["s3cr3tP4ss"]),
        ("password_in_url", "redis://:pw123456@cache:6379", &["pw123456"]),
        ("email", "mail alice.smith+tag@example.co.uk now", &["alice.smith+tag@example.co.uk"]),
        ("email", "<bob@example.com>", &["bob@example.com"]),
        ("credit_card", "card 4111 1111 1111 1111 ok", &["4111 1111 1111 1111"]),
        ("credit_card", "5500-0000-0000-0004", &["5500-0000-0000-0004"]),
        ("credit_card", "amex 378282246310005, disc 6011111111111117", &["378282246310005", "6011111111111117"]),
        ("ipv4", "client 203.0.113.42 connected", &["203.0.113.42"]),
        ("ipv4", "to 10.0.0.1:8080", &["10.0.0.1"]),
        ("ipv6", "from 2001:db8::1 ok", &["2001:db8::1"]),
        ("ipv6", "[fe80::1ff:fe23:4567:890a]:443", &["fe80::1ff:fe23:4567:890a"]),
        ("ipv6", "::1", &["::1"]),
    ];

    /// (detector, text) that must come back unchanged.
    const NEGATIVES: &[(&str, &str)] = &[
        ("aws_access_key", "AKIAIOSFODNN7EXAMPL is 19 chars"),
        ("aws_access_key", "XAKIAIOSFODNN7EXAMPLE"),
        ("aws_access_key", "akiaiosfodnn7example"),
        (
            "aws_secret_key",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY without context",
        ),
        (
            "aws_secret_key",
            "secret_key_hash=da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        ("aws_secret_key", "secret_key=short"),
        ("aws_session_token", "session_token=abc"),
        ("bearer_token", "WWW-Authenticate: Bearer realm=\"api\""),
        ("bearer_token", "bearer short"),
        ("jwt", "eyJhbGciOiJIUzI1NiJ9 alone"),
        ("jwt", "eyJabc.def.ghi"),
        ("api_key", "token=expired"),
        ("api_key", "max_tokens=4096 next_token=abcdef123456789"),
        ("api_key", "api_key="),
        ("github_token", "ghp_short"),
        ("github_token", "ghx_1234567890abcdefghijklmnopqrstuvwxyZ"),
        ("slack_token", "xoxz-1234567890-abc xoxb-short"),
        ("password_in_url", "https://example.com/a:b@c"),
        ("password_in_url", "https://user@example.com/"),
        ("email", "user@localhost"),
        ("email", "@handle and a@b.c"),
        ("credit_card", "4111 1111 1111 1112"),
        ("credit_card", "epoch 1705321845123 and 1705321845123456"),
        ("credit_card", "12345678901234567890"),
        ("credit_card", "id 42345678-1234-1234-1234-123456789012"),
        ("ipv4", "999.1.1.1"),
        ("ipv4", "version 1.2.3.4.5"),
        ("ipv4", "v1.2.3.4 and 01.2.3.4"),
        ("ipv6", "at 12:30:45"),
        ("ipv6", "std::fmt::Display"),
        ("ipv6", "mac aa:bb:cc:dd:ee:ff"),
    ];

    #[test]
    fn builtin_list_matches_detectors() {
        assert_eq!(Redactor::BUILTIN.len(), ALL_BUILTINS.len());
        for (name, b) in Redactor::BUILTIN.iter().zip(ALL_BUILTINS) {
            assert_eq!(*name, b.name());
            // Every built-in pattern compiles (the static cache would silently drop one that fails).
            assert_eq!(
                b.patterns().len(),
                builtin_regexes()
                    .iter()
                    .find(|(x, _)| x == b)
                    .unwrap()
                    .1
                    .len()
            );
        }
        for d in Redactor::DEFAULT {
            assert!(Redactor::BUILTIN.contains(d));
        }
        // The default is every built-in but the IP detectors.
        assert_eq!(Redactor::DEFAULT.len(), Redactor::BUILTIN.len() - 2);
        assert!(!Redactor::DEFAULT.contains(&"ipv4") && !Redactor::DEFAULT.contains(&"ipv6"));
    }

    #[test]
    fn positives_are_redacted_with_their_label() {
        for (name, text, secrets) in POSITIVES {
            let r = only(name);
            let (out, n) = r.redact_counted(text);
            for s in *secrets {
                assert!(!out.contains(s), "{name}: {s:?} survived in {out:?}");
            }
            let marker = format!("[REDACTED:{name}]");
            assert_eq!(
                out.matches(&marker).count(),
                secrets.len(),
                "{name}: {out:?}"
            );
            assert_eq!(n, secrets.len(), "{name}: {text}");
            // Only the secret is replaced: the rest of the text is still there.
            let mut expected = text.to_string();
            for s in *secrets {
                expected = expected.replacen(s, &marker, 1);
            }
            assert_eq!(out, expected, "{name}");
        }
    }

    #[test]
    fn negatives_are_untouched() {
        for (name, text) in NEGATIVES {
            let r = only(name);
            assert!(
                matches!(r.redact(text), Cow::Borrowed(_)),
                "{name} changed {text:?}: {}",
                r.redact(text)
            );
        }
    }

    #[test]
    fn password_in_url_keeps_user_and_host_even_with_email_enabled() {
        let r = Redactor::new(&strings(&["password_in_url", "email"]), &[], &[]).unwrap();
        let out = r.redact("https://alice:s3cret@example.com/x");
        assert_eq!(
            out,
            "https://alice:[REDACTED:password_in_url]@example.com/x"
        );
    }

    #[test]
    fn sensitive_keys_in_text() {
        let r = Redactor::new(&[], &[], &strings(DEFAULT_SENSITIVE_KEYS)).unwrap();
        let cases: &[(&str, &str)] = &[
            (
                "user=bob password=hunter2 level=info",
                "user=bob password=[REDACTED:sensitive_key] level=info",
            ),
            (
                "{\"password\": \"a b\\\"c\", \"n\": 1}",
                "{\"password\": \"[REDACTED:sensitive_key]\", \"n\": 1}",
            ),
            (
                "DB_PASSWORD='x y' host=h",
                "DB_PASSWORD='[REDACTED:sensitive_key]' host=h",
            ),
            (
                "Cookie: a=b; c=d\nnext",
                "Cookie: [REDACTED:sensitive_key]\nnext",
            ),
            (
                "{\"is_secret\": false, \"token\": null}",
                "{\"is_secret\": false, \"token\": null}",
            ),
            (
                "max_tokens=5 passwordless=true token_count=3",
                "max_tokens=5 passwordless=true token_count=3",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(r.redact(input), *want, "{input}");
        }
    }

    #[test]
    fn sensitive_key_names() {
        let r = Redactor::default();
        for k in [
            "password",
            "DB_PASSWORD",
            "csrfToken",
            "X-Api-Key",
            "Set-Cookie",
            "client_secret",
            "Authorization",
        ] {
            assert!(r.is_sensitive_key(k), "{k}");
        }
        for k in [
            "token_count",
            "passwordless",
            "secretsManagerArn",
            "user",
            "total_tokens",
        ] {
            assert!(!r.is_sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn json_values_keys_and_nesting() {
        let r = Redactor::default();
        let mut v = json!({
            "user": "bob@example.com",
            "password": "hunter2",
            "pin": {"password": 1234},
            "nested": {"headers": {"Authorization": "Basic dXNlcjpwYXNz", "host": "h"}},
            "list": [{"client_secret": ["a", "b"]}, "AKIAIOSFODNN7EXAMPLE"],
            "token_count": 5,
            "is_secret": true
        });
        let n = r.redact_value(&mut v);
        let m = "[REDACTED:sensitive_key]";
        assert_eq!(
            v,
            json!({
                "user": "[REDACTED:email]",
                "password": m,
                "pin": {"password": m},
                "nested": {"headers": {"Authorization": m, "host": "h"}},
                "list": [{"client_secret": [m, m]}, "[REDACTED:aws_access_key]"],
                "token_count": 5,
                "is_secret": true
            })
        );
        // email, password, pin.password, Authorization, two client_secret items, the AWS key.
        assert_eq!(n, 7);
        let mut top = json!("hunter2");
        assert_eq!(r.redact_entry("password", &mut top), 1);
        assert_eq!(top, json!(m));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut v = json!("AKIAIOSFODNN7EXAMPLE");
        for _ in 0..20_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(Redactor::default().redact_value(&mut v), 1);
        // Dismantle iteratively: serde_json's Drop recurses.
        let mut cur = v;
        while let Value::Array(mut a) = cur {
            cur = a.pop().unwrap_or(Value::Null);
        }
        assert_eq!(cur, json!("[REDACTED:aws_access_key]"));
    }

    #[test]
    fn custom_detectors() {
        let custom = vec![
            CustomDetector {
                name: "employee_id".into(),
                pattern: r"EMP-\d{6}".into(),
            },
            CustomDetector {
                name: "pin".into(),
                pattern: r"pin=(?P<secret>\d{4})".into(),
            },
        ];
        let r = Redactor::new(&[], &custom, &[]).unwrap();
        assert_eq!(
            r.redact("by EMP-123456 pin=0042"),
            "by [REDACTED:employee_id] pin=[REDACTED:pin]"
        );
        let bad = |name: &str, pattern: &str| {
            Redactor::new(
                &[],
                &[CustomDetector {
                    name: name.into(),
                    pattern: pattern.into(),
                }],
                &[],
            )
            .unwrap_err()
        };
        assert!(matches!(
            bad("x", "("),
            RedactError::BadCustomPattern { .. }
        ));
        assert!(matches!(bad("x", "a*"), RedactError::EmptyMatch { .. }));
        assert!(matches!(
            bad("email", "x"),
            RedactError::BadCustomName { .. }
        ));
        assert!(matches!(
            bad("bad name", "x"),
            RedactError::BadCustomName { .. }
        ));
        let e = Redactor::new(&strings(&["nope"]), &[], &[]).unwrap_err();
        assert!(
            e.to_string().contains("\"nope\"") && e.to_string().contains("aws_access_key"),
            "{e}"
        );
    }

    #[test]
    fn empty_and_idempotent() {
        assert!(Redactor::none().is_empty());
        assert!(!Redactor::default().is_empty());
        let r = Redactor::default();
        for (_, text, _) in POSITIVES {
            let once = r.redact(text).into_owned();
            assert_eq!(r.redact(&once), once, "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The prefilters are necessary conditions only: gated and ungated runs agree, on text
        /// built from secret fragments, near misses and punctuation.
        #[test]
        fn gates_never_change_the_result(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::Just(POSITIVES[0].1.to_string()),
                    proptest::sample::select(POSITIVES.iter().map(|p| p.1.to_string()).collect::<Vec<_>>()),
                    proptest::sample::select(NEGATIVES.iter().map(|p| p.1.to_string()).collect::<Vec<_>>()),
                    "[ :=@./\"'\\-_&;,\n0-9a-fA-FxoKEY]{0,16}",
                ],
                0..8,
            ),
            sep in proptest::sample::select(vec!["", " ", "=", ":", "\n", "\""]),
        ) {
            let text = parts.join(sep);
            let r = all();
            let gated = r.redact_impl(&text, true);
            let ungated = r.redact_impl(&text, false);
            proptest::prop_assert_eq!(gated, ungated);
        }
    }

    fn all() -> Redactor {
        let names: Vec<String> = Redactor::BUILTIN.iter().map(|s| s.to_string()).collect();
        Redactor::new(&names, &[], &strings(DEFAULT_SENSITIVE_KEYS)).unwrap()
    }

    #[test]
    fn luhn_and_card_prefixes() {
        assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
        assert!(!luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
        assert!(is_card_number("4111111111111111"));
        assert!(!is_card_number("1111111111111117")); // Luhn-valid, no network starts with 1
        assert!(!is_card_number("41111111111111111")); // Visa is 13/16/19 digits, not 17
    }

    #[test]
    fn memo_answers_exactly_as_the_redactor_and_stays_bounded() {
        let r = Redactor::default();
        let mut memo = RedactMemo::new();
        let values = [
            "orders-api",
            "GET",
            "AKIAIOSFODNN7EXAMPLE",
            "contact jane.doe@example.com now",
            "https://user:hunter2@example.com/x",
            "",
            &"x".repeat(MEMO_MAX_VALUE_BYTES + 1),
        ];
        // Twice: the first pass fills the memo, the second answers from it.
        for round in 0..2 {
            for v in values {
                assert_eq!(
                    memo.redact_counted(&r, v),
                    r.redact_counted(v),
                    "round {round}: {v}"
                );
            }
        }
        assert!(
            memo.len() < values.len(),
            "the long value is never remembered"
        );
        // Another redactor (here: emails only) must not be answered from the memo.
        let emails = only("email");
        assert_eq!(
            memo.redact_counted(&emails, "AKIAIOSFODNN7EXAMPLE"),
            (Cow::Borrowed("AKIAIOSFODNN7EXAMPLE"), 0)
        );
        for i in 0..MEMO_MAX_ENTRIES * 2 {
            let v = format!("value-{i}");
            assert_eq!(memo.redact_counted(&r, &v), r.redact_counted(&v));
            assert!(memo.len() <= MEMO_MAX_ENTRIES);
        }
    }
}
