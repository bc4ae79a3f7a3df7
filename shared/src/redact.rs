//! Finds secrets and personal data in strings (built-in detectors plus custom regexes) and
//! replaces just the secret with `[REDACTED:<detector>]`.
//!
//! Cost model: the redactor runs on every string of every record, and almost all of them hold no
//! secret. A first pass ORs the bytes' classes into flags (`@` `:` `=` `.` `_` `-` `%`, upper
//! case, digits, a lower-case letter past `f`…); the flags and the length pick, from a small
//! cache (`CandidateTable`), the detectors that could fire and the runs their gates read, so most
//! values stop there. Only those runs are counted ([`Hints`]: longest token run, token run at the
//! end, longest card-digit run, letter run), then each candidate checks its cheap necessary
//! conditions: those hints, at most a fixed shape or a `memmem` for a literal
//! (`eyJ`, `xox`, `://`, `AIza`…), and, for the detectors that need a keyword context (`api_key=`,
//! `secret_access_key`, `Bearer`, `AccountKey=`, `sig=`, sensitive keys), one shared
//! case-insensitive literal pass. Only when those hold does its regex run, and
//! the regexes carry literal prefixes where they can (`AKIA`, `ghp_`…) so the regex engine's own
//! prefilter skips most of the haystack. Short values like `"200"` or `"INFO"` fail every gate
//! and cost one tiny loop. Checks regexes cannot express (Luhn and card prefixes, IP octets,
//! boundaries — the engine has no look-around) run only on candidates.
//!
//! Linear time: a rejected candidate never makes the search restart where the work could add up
//! to quadratic (see `Builtin::resume_after_reject`), and length limits are checked on candidates
//! rather than written as counted repetitions, which bloat the automata.
//!
//! Pattern sources (vendor token-format pages, gitleaks rules, RFCs) are cited at each pattern.
//!
//! Known limit: redaction is idempotent for delimited text; for glued text (`…siga@b.ioa@b.io`)
//! a replacement can change a neighbour's context, so a second pass may find more. A private key
//! logged one line per event loses its 64-character body lines, not its shorter last line.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use memchr::memmem;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Prefix of every replacement; values that already start with it are never re-redacted, which
/// keeps redaction idempotent.
pub const MARKER_PREFIX: &str = "[REDACTED:";

/// Passes over a text that held a secret before its result is taken as it is. Each pass that
/// changes anything replaces text that was not a marker, so the passes end; this bounds the
/// work on hostile text to a few linear passes.
const MAX_REDACT_PASSES: usize = 4;

/// Literals that every keyword-context built-in pattern contains (`api_key`/`x-api-key`/
/// `AccountKey` contain `key`, `access_token`/`token` contain `token`, `secret_access_key`
/// contains `secret`, `Bearer` itself, `sig`/`X-Amz-Signature` contain `sig`).
const KEYWORD_ANCHORS: &[&str] = &["key", "token", "secret", "bearer", "sig"];

/// Label used for values redacted because of their key name (`password=…`, `"token": "…"`).
pub const SENSITIVE_KEY_LABEL: &str = "sensitive_key";

/// Compiled-size cap for custom patterns from the config, so a pathological pattern fails at
/// start-up instead of eating the function's memory.
const CUSTOM_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Key names whose values are secrets whatever they look like (matched case-insensitively,
/// ignoring `_`, `-`, `.`, and also as a suffix: `db_password`, `csrfToken`). Names of four
/// characters or fewer (`pwd`, `pass`, `ssn`) match only as a whole word of the key (`DB_PASS`,
/// `dbPass`, not `bypass`). Plural names (`tokens`) leave plain numbers alone: `max_tokens=4096`
/// is a count.
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "password_confirmation",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "secret",
    "secrets",
    "token",
    "tokens",
    "credential",
    "cookies",
    "ssn",
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

/// Names that end like a sensitive key but hold no secret: pagination cursors of AWS, Google
/// and S3 APIs (`nextToken`, `pageToken`, `ContinuationToken`, CloudWatch Logs'
/// `nextForwardToken`…). Normalised; they win over a shorter entry (`token`), never over a
/// configured name that is as long (`sensitive_keys = ["nextToken"]` still redacts it).
const NOT_SENSITIVE_SUFFIXES: &[&str] = &[
    "nexttoken",
    "pagetoken",
    "continuationtoken",
    "paginationtoken",
    "startingtoken",
    "forwardtoken",
    "backwardtoken",
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
    StripeKey,
    GoogleApiKey,
    OpenaiKey,
    SendgridKey,
    NpmToken,
    PrivateKey,
    AzureKey,
    UrlSignature,
    Base64Json,
    PasswordInUrl,
    Email,
    CreditCard,
    Ssn,
    Phone,
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
    Builtin::StripeKey,
    Builtin::GoogleApiKey,
    Builtin::OpenaiKey,
    Builtin::SendgridKey,
    Builtin::NpmToken,
    Builtin::PrivateKey,
    Builtin::AzureKey,
    Builtin::UrlSignature,
    Builtin::Base64Json,
    Builtin::PasswordInUrl,
    Builtin::Email,
    Builtin::CreditCard,
    Builtin::Ssn,
    Builtin::Phone,
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
            Builtin::StripeKey => "stripe_key",
            Builtin::GoogleApiKey => "google_api_key",
            Builtin::OpenaiKey => "openai_key",
            Builtin::SendgridKey => "sendgrid_key",
            Builtin::NpmToken => "npm_token",
            Builtin::PrivateKey => "private_key",
            Builtin::AzureKey => "azure_key",
            Builtin::UrlSignature => "url_signature",
            Builtin::Base64Json => "base64_json",
            Builtin::PasswordInUrl => "password_in_url",
            Builtin::Email => "email",
            Builtin::CreditCard => "credit_card",
            Builtin::Ssn => "ssn",
            Builtin::Phone => "phone",
            Builtin::Ipv4 => "ipv4",
            Builtin::Ipv6 => "ipv6",
        }
    }

    fn from_name(name: &str) -> Option<Builtin> {
        ALL_BUILTINS.iter().copied().find(|b| b.name() == name)
    }

    /// Patterns; when a pattern has a group named `s`, only that group is the secret.
    ///
    /// Length limits live in `accept`, not in counted repetitions: `{1,64}` multiplies the
    /// automaton's states, and on hostile input the lazy DFA then thrashes its cache and falls
    /// back to a far slower engine.
    fn patterns(self) -> &'static [&'static str] {
        match self {
            // Only the credential prefixes of AWS unique ids: AKIA (long-term access key), ASIA
            // (temporary), ABIA (STS bearer), ACCA (context-specific credential). AROA (role),
            // AIDA (user), AGPA, ANPA… name principals, they are not secrets.
            // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
            Builtin::AwsAccessKey => {
                &[r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?-u:\b)"]
            }
            Builtin::AwsSecretKey => &[
                r#"(?i:aws)?[_.\-]?(?i:secret)[_.\-]?(?i:access)?[_.\-]?(?i:key)["']?(?:\s*(?:[:=]|=>)\s*|\s+)["']?(?P<s>[A-Za-z0-9/+]{40})"#,
            ],
            // STS session tokens are base64 of a structure whose bytes 3.. spell `origin`
            // (`IQoJb3JpZ2lu…`, `AgoJb3JpZ2lu…`) or `er/aws` in the older format
            // (`FwoGZXIvYXdz…`): the first four characters vary by region and version, the
            // next eight do not. gitleaks' `aws-access-token` rule matches prefixes only.
            Builtin::AwsSessionToken => &[
                r#"(?i:aws[_.\-]?session[_.\-]?token|session[_.\-]?token|x-amz-security-token)["']?(?:\s*(?:[:=]|=>)\s*|\s+)["']?(?P<s>[A-Za-z0-9/+=%]{16,})"#,
                r"(?-u:\b)[A-Za-z0-9+/]{4}(?:b3JpZ2lu|ZXIvYXdz)[A-Za-z0-9/+=%]{20,}",
            ],
            Builtin::BearerToken => &[r"(?-u:\b)(?i:bearer)\s+(?P<s>[A-Za-z0-9\-._~+/]{12,}=*)"],
            // Header and payload are base64url JSON objects: `{"` encodes to `eyJ`, `{ "` (a
            // space after the brace, as some libraries write) to `eyA`.
            Builtin::Jwt => {
                &[r"(?-u:\b)ey[JA][A-Za-z0-9_-]{5,}\.ey[JA][A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"]
            }
            Builtin::ApiKey => &[
                r#"(?:^|[^A-Za-z0-9_\-])["']?(?i:x-api-key|api[_\-]?key|apikey|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token|id[_\-]?token|token)["']?\s*[=:]\s*["']?(?P<s>[A-Za-z0-9_\-.~+/%=]{8,})"#,
            ],
            Builtin::GithubToken => &[
                r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
            ],
            // Tokens, and incoming-webhook URLs, whose path is the credential:
            // https://api.slack.com/messaging/webhooks ; gitleaks rule `slack-webhook-url`.
            Builtin::SlackToken => &[
                r"(?-u:\b)xox[abprs]-[A-Za-z0-9-]{10,}",
                r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9+/]{20,})",
            ],
            // Secret (`sk_`) and restricted (`rk_`) keys, live and test:
            // https://docs.stripe.com/keys ; gitleaks rule `stripe-access-token`.
            Builtin::StripeKey => &[r"(?-u:\b)[rs]k_(?:live|test|prod)_[A-Za-z0-9]{10,}(?-u:\b)"],
            // `AIza` + 35 chars: gitleaks rule `gcp-api-key`;
            // https://cloud.google.com/docs/authentication/api-keys
            Builtin::GoogleApiKey => &[r"(?-u:\b)AIza[0-9A-Za-z_\-]{35}(?-u:\b)"],
            // Project, service-account and admin keys (`sk-proj-…`, `sk-svcacct-…`,
            // `sk-admin-…`) and the legacy `sk-…T3BlbkFJ…` shape: gitleaks rule `openai-api-key`.
            Builtin::OpenaiKey => &[
                r"(?-u:\b)sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}",
                r"(?-u:\b)sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}(?-u:\b)",
            ],
            // `SG.<22>.<43>`: gitleaks rule `sendgrid-api-token`;
            // https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys
            Builtin::SendgridKey => &[r"(?-u:\b)SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{32,64}"],
            // `npm_` + 36: gitleaks rule `npm-access-token`;
            // https://github.blog/changelog/2021-09-23-npm-has-a-new-access-token-format/
            Builtin::NpmToken => &[r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)"],
            // RFC 7468 §10 (PKCS #8), §13 (OpenSSH and `RSA`/`EC` variants), RFC 4880 armor for
            // PGP; gitleaks rule `private-key`. The body is the secret, header and footer stay
            // so the reader sees what was there. A key cut off (event size cap) has no footer.
            //
            // Second pattern: a key logged one line per event (a `console.log` of each line) puts
            // its body in events of their own, which a per-string redactor cannot tie to the
            // BEGIN line. A PEM body line is exactly 64 base64 characters (RFC 7468 §2);
            // `accept` requires that shape, standing alone at the end of the string, with upper
            // case, lower case and digits mixed (hex digests and words have not all three).
            Builtin::PrivateKey => &[
                r"-----BEGIN[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?P<s>[\s\S]+?)(?:-----END[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z)",
                r"(?:\A|[\t ])(?P<s>[A-Za-z0-9+/]{16,}={0,2})[ \t\r\n]*\z",
            ],
            // Storage account keys and Service Bus/Event Hubs shared access keys in connection
            // strings: https://learn.microsoft.com/en-us/azure/storage/common/storage-configure-connection-string
            Builtin::AzureKey => {
                &[r"(?i:AccountKey|SharedAccessKey)\s*=\s*(?P<s>[A-Za-z0-9+/]{20,}={0,2})"]
            }
            // Query-string signatures that authorize a request on their own: S3/SigV4 presigned
            // URLs (`X-Amz-Signature`, https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html),
            // SigV2 and CloudFront (`Signature`), GCS (`X-Goog-Signature`) and Azure SAS (`sig`,
            // https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas).
            Builtin::UrlSignature => &[
                r#"(?:^|[?&;,\s"'])(?i:x-amz-signature|x-goog-signature|signature|sig)=(?P<s>[A-Za-z0-9%+/=_~.\-]{16,})"#,
            ],
            // Base64 of a JSON object (`{"` → `eyJ`, `{ "` → `eyA`); `accept` decodes it and
            // redacts the whole blob only when the decoded text holds a secret.
            Builtin::Base64Json => &[r"(?-u:\b)ey[JA][A-Za-z0-9+/]{17,}={0,2}"],
            // The password may hold `/` (connection strings are often written unencoded); it
            // ends at the first `@`. Second pattern: the same URL percent-encoded (`%3A%2F%2F`,
            // a URL inside a query string), the password ending at `%40`.
            Builtin::PasswordInUrl => &[
                r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/?#@"'<>\[\]]*:(?P<s>[^\s?#@"'<>\[\]]+)@"#,
                r"(?i)(?-u:\b)[A-Za-z][A-Za-z0-9+.\-]{0,30}%3A%2F%2F(?:[A-Za-z0-9._~!$'()*+,;=\-]|%(?:[013-9A-F][0-9A-F]|2[0-9A-E]))*%3A(?P<s>(?:[A-Za-z0-9._~!$&'()*+,;=\-]|%(?:[0-35-9A-F][0-9A-F]|4[1-9A-F]))+)%40",
            ],
            Builtin::Email => &[
                r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}",
                // Percent-encoded `@` (an address inside a query string).
                r"[A-Za-z0-9._+\-]+%40[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}",
            ],
            // Separators: none, or one or two of space, dash or dot (`4111  1111…`,
            // `4111.1111…`); `accept` requires them uniform.
            Builtin::CreditCard => &[r"(?-u:\b)[0-9](?:[ \-.]{0,2}[0-9]){12,18}(?-u:\b)"],
            // AAA-GG-SSSS; validity (no 000/666/9xx area, 00 group, 0000 serial) in `accept`:
            // https://www.ssa.gov/employer/randomization.html
            Builtin::Ssn => &[r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)"],
            // International numbers written with `+` (ITU-T E.164: at most 15 digits; `accept`
            // wants 10–15), and North American numbers with area code and separators
            // (NANP: area and exchange codes start 2–9, https://nationalnanpa.com/).
            Builtin::Phone => &[
                r"\+[1-9][0-9]{0,3}(?:[ .\-]?(?:\([0-9]{1,4}\)|[0-9]{1,5})){1,7}",
                r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}",
            ],
            Builtin::Ipv4 => &[r"(?-u:\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?-u:\b)"],
            Builtin::Ipv6 => {
                &[r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"]
            }
        }
    }

    /// Cheap necessary conditions; false means the regex cannot match (see module doc).
    fn gate(self, h: &Hints, s: &[u8]) -> bool {
        match self {
            Builtin::AwsAccessKey => h.has(UPPER) && h.token_run >= 20 && has_access_key_prefix(s),
            Builtin::AwsSecretKey => h.token_run >= 40 && h.keyword,
            // The first pattern names the token (`token` is a keyword anchor); the second
            // needs 32 base64 characters around `origin` or `er/aws` in base64.
            Builtin::AwsSessionToken => {
                h.token_run >= 16
                    && (h.keyword
                        || (h.token_run >= 32
                            && h.has(NONHEX)
                            && (finder(&STS_ORIGIN, "b3JpZ2lu").find(s).is_some()
                                || finder(&STS_ER_AWS, "ZXIvYXdz").find(s).is_some())))
            }
            Builtin::BearerToken => h.len >= BLANK_KEYWORD_MIN_LEN && h.has(SPACE) && h.keyword,
            Builtin::Jwt => h.len >= 18 && h.has(DOT) && h.has(UPPER) && has_json_base64(s),
            Builtin::ApiKey => h.len >= 13 && (h.has(EQ) || h.has(COLON)) && h.keyword,
            Builtin::GithubToken => {
                h.has(UNDERSCORE)
                    && (h.token_run >= 36
                        || (h.has(NONHEX) && finder(&GITHUB_PAT, "github_pat_").find(s).is_some()))
            }
            Builtin::SlackToken => {
                h.len >= 15
                    && ((h.has(DASH) && finder(&XOX, "xox").find(s).is_some())
                        // `hooks.slack.com/triggers/` and 20 characters.
                        || (h.len >= 45
                            && h.has(DOT)
                            && finder(&SLACK_HOOKS, "hooks.slack.com/").find(s).is_some()))
            }
            Builtin::StripeKey => h.has(UNDERSCORE) && h.token_run >= 10,
            Builtin::GoogleApiKey => {
                h.has(UPPER) && h.len >= 39 && finder(&AIZA, "AIza").find(s).is_some()
            }
            Builtin::OpenaiKey => {
                h.has(DASH) && h.len >= 28 && finder(&SK_DASH, "sk-").find(s).is_some()
            }
            Builtin::SendgridKey => {
                h.has(UPPER) && h.len >= 52 && finder(&SG_DOT, "SG.").find(s).is_some()
            }
            Builtin::NpmToken => h.has(UNDERSCORE) && h.token_run >= 36,
            // A body line alone is accepted only at exactly 64 characters with upper case in
            // it (`is_pem_body_line`), so trace ids and digests that end a value skip both
            // patterns.
            Builtin::PrivateKey => {
                h.has(UPPER)
                    && (h.tail_run >= PEM_LINE
                        || (h.len >= 11
                            && h.has(SPACE)
                            && finder(&PRIVATE_KEY, "PRIVATE KEY").find(s).is_some()))
            }
            Builtin::AzureKey => h.has(EQ) && h.token_run >= 20 && h.keyword,
            Builtin::UrlSignature => h.has(EQ) && h.len >= 20 && h.keyword,
            Builtin::Base64Json => h.token_run >= 20 && h.has(UPPER) && has_json_base64(s),
            Builtin::PasswordInUrl => {
                (h.has(AT) && h.has(COLON) && finder(&SCHEME_SEP, "://").find(s).is_some())
                    || (h.len >= 20
                        && h.has(PCT)
                        && finder(&PCT_AT, "%40").find(s).is_some()
                        && finder(&PCT_3, "%3").find(s).is_some())
            }
            Builtin::Email => {
                h.len >= 6
                    && h.has(DOT)
                    && (h.has(AT) || (h.has(PCT) && finder(&PCT_AT, "%40").find(s).is_some()))
            }
            Builtin::CreditCard => h.card_run >= 13,
            // A UUID's digit groups make long card runs; the patterns' fixed shapes are rarer.
            Builtin::Ssn => h.has(DASH) && h.card_run >= 9 && has_ssn_shape(s),
            Builtin::Phone => {
                h.card_run >= 10 && (memchr::memchr(b'+', s).is_some() || has_exchange_shape(s))
            }
            // Four dot-separated digit groups: a card run of at least four, and three dots.
            Builtin::Ipv4 => h.card_run >= 4 && h.has(DOT) && count(s, b'.') >= 3,
            // `accept` parses the candidate as an address, which takes `::` or at least six
            // colons (eight groups, or six and an IPv4 tail); a timestamp has two.
            Builtin::Ipv6 => {
                h.len >= 2
                    && h.has(COLON)
                    && (count(s, b':') >= 6 || s.windows(2).any(|w| w == b"::"))
            }
        }
    }

    /// Flags a string must have, and its least length, for this detector to find anything in
    /// it: checked first, with a few compares, so most detectors cost nothing on most values,
    /// and read by the candidate table that lets most values skip the memo and the scan. Each is
    /// implied by the gate or by the shortest match (the gated/ungated equivalence tests hold
    /// them to it).
    fn requirements(self) -> Needs {
        let (all, any, min) = match self {
            Builtin::AwsAccessKey => (UPPER, 0, 20),
            Builtin::AwsSecretKey => (KEYWORD, 0, 40),
            // Its keyword, or a letter past `f` in the base64 of `origin` or `er/aws`.
            Builtin::AwsSessionToken => (0, KEYWORD | NONHEX, 16),
            Builtin::BearerToken => (SPACE | KEYWORD, 0, 19),
            // `has_json_base64`: `ey` then `J` or `A`.
            Builtin::Jwt => (DOT | UPPER | NONHEX, 0, 18),
            Builtin::ApiKey => (KEYWORD, EQ | COLON, 13),
            Builtin::GithubToken => (UNDERSCORE, 0, 0),
            // `xox?-`, or the webhook host and a path.
            Builtin::SlackToken => (NONHEX, DASH | DOT, 15),
            Builtin::StripeKey => (UNDERSCORE, 0, 10),
            Builtin::GoogleApiKey => (UPPER | NONHEX, 0, 39),
            Builtin::OpenaiKey => (DASH | NONHEX, 0, 28),
            Builtin::SendgridKey => (UPPER | DOT, 0, 52),
            Builtin::NpmToken => (UNDERSCORE, 0, 36),
            // A 64-character body line, or `PRIVATE KEY` and a space in 11 bytes or more.
            Builtin::PrivateKey => (UPPER, 0, 11),
            Builtin::AzureKey => (EQ | KEYWORD, 0, 20),
            Builtin::UrlSignature => (EQ | KEYWORD, 0, 20),
            Builtin::Base64Json => (UPPER | NONHEX, 0, 20),
            // `user:pass@host`, or `%40` with `%3A` in 20 bytes or more.
            Builtin::PasswordInUrl => (0, AT | PCT, 0),
            // An `@`, or `%40`.
            Builtin::Email => (DOT, AT | PCT, 6),
            Builtin::CreditCard => (DIGIT, 0, 13),
            Builtin::Ssn => (DASH | DIGIT, 0, 9),
            Builtin::Phone => (DIGIT, 0, 10),
            Builtin::Ipv4 => (DOT | DIGIT, 0, 7),
            // `accept` wants a digit in the candidate.
            Builtin::Ipv6 => (COLON | DIGIT, 0, 2),
        };
        Needs {
            all,
            any,
            min,
            runs: self.runs(),
        }
    }

    /// The runs this detector's gate reads (see [`RUN_TOKEN`]…): a scan computes only those of
    /// the detectors that could still fire.
    fn runs(self) -> u8 {
        match self {
            Builtin::AwsAccessKey
            | Builtin::GithubToken
            | Builtin::StripeKey
            | Builtin::NpmToken
            | Builtin::Base64Json => RUN_TOKEN,
            Builtin::AwsSecretKey
            | Builtin::AwsSessionToken
            | Builtin::BearerToken
            | Builtin::ApiKey
            | Builtin::AzureKey
            | Builtin::UrlSignature => RUN_TOKEN | RUN_KEYWORD,
            Builtin::PrivateKey => RUN_TAIL,
            Builtin::CreditCard | Builtin::Ssn | Builtin::Phone | Builtin::Ipv4 => RUN_CARD,
            Builtin::Jwt
            | Builtin::SlackToken
            | Builtin::GoogleApiKey
            | Builtin::OpenaiKey
            | Builtin::SendgridKey
            | Builtin::PasswordInUrl
            | Builtin::Email
            | Builtin::Ipv6 => 0,
        }
    }

    /// Whether a pattern of this detector contains one of [`KEYWORD_ANCHORS`], so its gate
    /// reads `Hints::keyword` (and the keyword gate must be built).
    fn needs_keyword(self) -> bool {
        matches!(
            self,
            Builtin::AwsSecretKey
                | Builtin::AwsSessionToken
                | Builtin::BearerToken
                | Builtin::ApiKey
                | Builtin::AzureKey
                | Builtin::UrlSignature
        )
    }

    /// Where to search again after a rejected candidate, so that total work stays linear.
    /// Card and phone candidates are at most ~60 bytes and a rejected one can hide a real one
    /// that starts at a later digit group (`12 4111 1111 1111 1111`), so they resume after
    /// the first group: at most a few rescans of 60 bytes per group. IPs likewise resume one
    /// character later (≤ 45 bytes). An e-mail candidate resumes after its `@`: any address
    /// overlapping a rejected one has its `@` further on. Every other detector resumes after
    /// the whole match (an SSN-shaped or token-shaped run cannot overlap another).
    fn resume_after_reject(self, text: &str, m: (usize, usize), next_char: usize) -> usize {
        let t = text.get(m.0..m.1).unwrap_or("");
        match self {
            Builtin::CreditCard | Builtin::Phone => {
                let skip = t
                    .bytes()
                    .position(|b| !b.is_ascii_digit() && b != b'+' && b != b'(')
                    .unwrap_or(t.len());
                m.0 + skip
            }
            Builtin::Ipv4 | Builtin::Ipv6 => next_char,
            Builtin::Email => match t.find('@') {
                Some(i) => m.0 + i + 1,
                None => t.find("%40").map_or(m.1, |i| m.0 + i + 3),
            },
            _ => m.1,
        }
        .max(next_char)
    }

    /// Checks a candidate (`secret` is the replaced span, `m` the whole match) beyond the regex.
    fn accept(self, text: &str, m: (usize, usize), secret: (usize, usize)) -> bool {
        let cand = text.get(secret.0..secret.1).unwrap_or("");
        let whole = text.get(m.0..m.1).unwrap_or("");
        let before = text.get(..m.0).and_then(|t| t.chars().next_back());
        let after = text.get(m.1..).and_then(|t| t.chars().next());
        let prev2 = text.get(..m.0).map(|t| t.as_bytes()).unwrap_or(b"");
        let next2 = text.get(m.1..).map(|t| t.as_bytes()).unwrap_or(b"");
        // Part of a longer dash- or dot-separated digit run (a digit-only UUID, a version,
        // an OID), so not a card, SSN or phone number of its own.
        let glued = matches!(prev2, [.., d, b'-' | b'.'] if d.is_ascii_digit())
            || matches!(next2, [b'-' | b'.', d, ..] if d.is_ascii_digit());
        match self {
            Builtin::AwsSecretKey => {
                !after.is_some_and(|c| c.is_ascii_alphanumeric() || "/+=".contains(c))
            }
            Builtin::ApiKey => {
                // Values like `token=expired` are words, not keys: a real key has a digit or is long.
                cand.bytes().any(|b| b.is_ascii_digit()) || cand.len() >= 20
            }
            Builtin::BearerToken => {
                // `Missing bearer authentication header`: a lower-case word, or a short word,
                // is prose; tokens carry digits, punctuation or mixed case at length.
                let letters = cand.bytes().all(|b| b.is_ascii_alphabetic());
                !(letters && (cand.len() < 24 || cand.bytes().all(|b| b.is_ascii_lowercase())))
            }
            Builtin::PrivateKey => {
                if whole.starts_with("-----BEGIN") {
                    return !cand.trim().is_empty();
                }
                is_pem_body_line(cand)
            }
            Builtin::PasswordInUrl => {
                // `https://host:8080/users/@me`: a port then a path is not a password.
                !cand
                    .split_once('/')
                    .is_some_and(|(p, _)| p.bytes().all(|b| b.is_ascii_digit()))
            }
            Builtin::Email => is_email(whole, before, after),
            Builtin::CreditCard => !glued && is_card_number(cand),
            Builtin::Ssn => !glued && is_ssn(cand),
            Builtin::Phone => {
                let n = cand.bytes().filter(u8::is_ascii_digit).count();
                let word_before =
                    before.is_some_and(|c| c.is_ascii_alphanumeric() || "+._".contains(c));
                let word_after = after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                let digits_ok = if cand.starts_with('+') {
                    (10..=15).contains(&n)
                } else {
                    true
                };
                digits_ok && !word_before && !word_after && !glued
            }
            Builtin::Ipv4 => {
                // `1.2.3.4.5` is a version or OID, not an address.
                let dotted_before = before == Some('.');
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
            // Decided by the redactor itself (it decodes and looks inside).
            Builtin::Base64Json => true,
            Builtin::AwsAccessKey
            | Builtin::AwsSessionToken
            | Builtin::Jwt
            | Builtin::GithubToken
            | Builtin::SlackToken
            | Builtin::StripeKey
            | Builtin::GoogleApiKey
            | Builtin::OpenaiKey
            | Builtin::SendgridKey
            | Builtin::NpmToken
            | Builtin::AzureKey
            | Builtin::UrlSignature => true,
        }
    }
}

/// Characters in a full PEM body line (RFC 7468 §2).
const PEM_LINE: usize = 64;

/// A PEM body line on its own: exactly 64 base64 characters (padding included), mixing upper
/// case, lower case and digits. The shorter last line of a key is not recognised: alone it is
/// indistinguishable from the padded base64 ids and cursors APIs log.
fn is_pem_body_line(cand: &str) -> bool {
    let b = cand.as_bytes();
    b.len() == PEM_LINE
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit)
}

/// An e-mail candidate (`local@domain` or `local%40domain`) with RFC 5321 length limits
/// (local part ≤ 64, labels ≤ 63), standing alone, whose domain is not a version number
/// (`typescript@5.3.0-dev.ts` is a package spec).
fn is_email(whole: &str, before: Option<char>, after: Option<char>) -> bool {
    let (local, domain, encoded) = match whole.split_once('@') {
        Some((l, d)) => (l, d, false),
        None => match whole.split_once("%40") {
            Some((l, d)) => (l, d, true),
            None => return false,
        },
    };
    // An encoded address follows `%3D`/`%2C`…, so `%` may precede it.
    let local_chars = if encoded { "._+-" } else { "._%+-" };
    if local.is_empty()
        || local.len() > 64
        || before.is_some_and(|c| c.is_ascii_alphanumeric() || local_chars.contains(c))
        || after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let numeric = |l: &&str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit());
    labels.iter().all(|l| !l.is_empty() && l.len() <= 63)
        && !labels.windows(2).any(|w| numeric(&w[0]) && numeric(&w[1]))
}

/// AAA-GG-SSSS that the SSA could have issued: area not 000, 666 or 900–999, group not 00,
/// serial not 0000.
fn is_ssn(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(a), Some(g), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    a != "000" && a != "666" && !a.starts_with('9') && g != "00" && n != "0000"
}

/// The candidates for each index of `Redactor::table` (a value's flags and whether a keyword is
/// possible), worked out as they are met and remembered in a small direct-mapped cache: a log
/// stream meets a few dozen indices. A full table of all 16,384 cost ~1.8M instructions per
/// redactor at start-up (a cold start), and a long-lived 128 KB block next to the batch
/// buffers made the allocator commit ~10 MB more at peak.
#[derive(Debug)]
struct CandidateTable {
    /// What each detector (then, when present, the sensitive keys' text search) needs.
    needs: Box<[Needs]>,
    /// `CACHE_SLOTS` words, each one index's entry packed whole (see `pack`), 0 when empty:
    /// a reader sees a word written by one thread or another, never half of each.
    cache: Box<[AtomicU64]>,
}

/// Entries `CandidateTable` remembers (a power of two, 16 KB). A stream meets a few dozen
/// indices; with 256 slots two hot ones collided often enough to recompute 15,000 times per
/// 10,000 events.
const CACHE_SLOTS: usize = 2048;
/// Set in a cache word that holds an entry.
const FILLED: u64 = 1 << 63;

impl CandidateTable {
    fn new(needs: &[Needs]) -> CandidateTable {
        CandidateTable {
            needs: needs.into(),
            cache: (0..CACHE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// `FILLED`, the index (14 bits) at 48, `runs` (4 bits) at 40, `least` capped at 255 at
    /// 32 (a smaller least only sends more values to the scan), the detectors' 32 bits.
    fn pack(index: usize, c: Candidates) -> u64 {
        FILLED
            | (index as u64 & 0x3FFF) << 48
            | u64::from(c.runs & 0xF) << 40
            | u64::from(c.least.min(255)) << 32
            | (c.detectors & 0xFFFF_FFFF)
    }

    /// The entry at `index` (every detector a candidate, every run counted, for an index out
    /// of range).
    #[inline]
    fn get(&self, index: usize) -> Candidates {
        if index >= 2 << QUICK_BITS {
            return Candidates {
                detectors: u64::MAX,
                least: 0,
                runs: RUN_ALL,
            };
        }
        // Indices differ mostly in their high flag bits (digits, `KEYWORD`…): a multiplicative
        // hash spreads them over the slots.
        let at = (index as u32).wrapping_mul(0x9E37_79B9) >> (32 - CACHE_SLOTS.trailing_zeros());
        let Some(slot) = self.cache.get(at as usize) else {
            return self.compute(index);
        };
        let word = slot.load(Ordering::Relaxed);
        if word & FILLED != 0 && (word >> 48) as usize & 0x3FFF == index {
            return Candidates {
                detectors: word & 0xFFFF_FFFF,
                least: u16::from((word >> 32) as u8),
                runs: (word >> 40) as u8 & 0xF,
            };
        }
        let c = self.compute(index);
        slot.store(CandidateTable::pack(index, c), Ordering::Relaxed);
        c
    }

    // Met a few dozen times per redactor: kept out of the inlined lookup.
    #[cold]
    #[inline(never)]
    fn compute(&self, index: usize) -> Candidates {
        // The index's top bit is "a keyword is possible", which `KEYWORD` requirements read.
        let flags = (index as u32 & ((1 << QUICK_BITS) - 1))
            | if index >> QUICK_BITS != 0 { KEYWORD } else { 0 };
        let mut c = Candidates {
            detectors: 0,
            least: u16::MAX,
            runs: 0,
        };
        for (i, n) in self.needs.iter().enumerate() {
            if !n.met(flags, usize::MAX) {
                continue;
            }
            if i < CANDIDATE_BITS {
                c.detectors |= 1 << i;
            }
            c.least = c.least.min(u16::try_from(n.min).unwrap_or(u16::MAX));
            c.runs |= n.runs;
        }
        // No keyword can be wanted: count no letter runs (the token run stays, for the gates
        // that read it).
        if flags & KEYWORD == 0 && c.runs & RUN_KEYWORD != 0 {
            c.runs = c.runs & !RUN_KEYWORD | RUN_TOKEN;
        }
        c
    }
}

/// Whether `s` holds one of the access key pattern's prefixes (`AKIA`, `ASIA`, `ABIA`, `ACCA`,
/// `A3T`).
fn has_access_key_prefix(s: &[u8]) -> bool {
    memchr::memchr_iter(b'A', s).any(|i| {
        matches!(s.get(i + 1..i + 4), Some(b"KIA" | b"SIA" | b"BIA" | b"CCA"))
            || s.get(i + 1..i + 3) == Some(b"3T")
    })
}

/// Whether `s` holds `ddd-dd-dddd`, the SSN pattern's shape (its word boundaries aside).
fn has_ssn_shape(s: &[u8]) -> bool {
    s.windows(11).any(|w| {
        w[3] == b'-'
            && w[6] == b'-'
            && all_digits(&w[..3])
            && all_digits(&w[4..6])
            && all_digits(&w[7..])
    })
}

/// Whether `s` holds `[2-9]dd[ .-]dddd`: the exchange and line number that the North American
/// phone pattern always ends with (the international one needs a `+`).
fn has_exchange_shape(s: &[u8]) -> bool {
    s.windows(8).any(|w| {
        matches!(w[3], b' ' | b'.' | b'-')
            && matches!(w[0], b'2'..=b'9')
            && all_digits(&w[1..3])
            && all_digits(&w[4..])
    })
}

fn all_digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// How many times `b` occurs in `s`.
fn count(s: &[u8], b: u8) -> usize {
    s.iter().filter(|&&x| x == b).count()
}

/// Whether `s` holds `eyJ` or `eyA`, the base64 of `{"` and `{ "` that JWTs and base64 JSON
/// documents start with.
fn has_json_base64(s: &[u8]) -> bool {
    // A plain loop: a `memmem` searcher costs more to build than these short values to scan.
    s.windows(3)
        .any(|w| w[0] == b'e' && w[1] == b'y' && matches!(w[2], b'J' | b'A'))
}

/// 13–19 digits with a known card-network prefix and a valid Luhn check, written plain or in
/// groups split by one uniform separator (`4111 1111…`, `4111-1111…`, `4111.1111…`,
/// `4111  1111…`). Dotted or double-spaced forms need groups of 3–6 digits, so a decimal
/// number is not read as a card. The prefix rule is what keeps epoch-millisecond timestamps
/// (13 digits starting with `1`) and other plain numbers out.
/// The smallest 13-digit number: shorter integers are never card numbers (no need to print
/// every status code and latency to find out).
const MIN_CARD_NUMBER: u64 = 1_000_000_000_000;

fn is_card_number(s: &str) -> bool {
    let mut digits = [0u8; 19];
    let mut n = 0;
    let mut sep: Option<&str> = None;
    let mut groups = 0usize;
    let mut odd_group = false;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if n == digits.len() {
                return false;
            }
            digits[n] = b[i] - b'0';
            n += 1;
            i += 1;
        }
        let len = i - start;
        if len == 0 {
            return false;
        }
        groups += 1;
        odd_group |= !(3..=6).contains(&len);
        let sep_start = i;
        while i < b.len() && matches!(b[i], b' ' | b'-' | b'.') {
            i += 1;
        }
        if i > sep_start {
            let this = s.get(sep_start..i).unwrap_or("");
            if sep.is_some_and(|x| x != this) {
                return false;
            }
            sep = Some(this);
        }
    }
    if sep.is_some_and(|x| (x.contains('.') || x.len() > 1) && (odd_group || groups < 3)) {
        return false;
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

static AIZA: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static SK_DASH: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static SG_DOT: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static PRIVATE_KEY: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static PCT_AT: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static PCT_3: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static GITHUB_PAT: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static XOX: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static SLACK_HOOKS: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static STS_ORIGIN: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static STS_ER_AWS: OnceLock<memmem::Finder<'static>> = OnceLock::new();
static SCHEME_SEP: OnceLock<memmem::Finder<'static>> = OnceLock::new();

fn finder(
    cell: &'static OnceLock<memmem::Finder<'static>>,
    needle: &'static str,
) -> &'static memmem::Finder<'static> {
    cell.get_or_init(|| memmem::Finder::new(needle.as_bytes()))
}

// Flags a detector can require (`Builtin::requirements`), bits 0 to 12: the candidate table
// (`Redactor::table`) is indexed by them.
const AT: u32 = 1;
const COLON: u32 = 1 << 1;
const EQ: u32 = 1 << 2;
const DOT: u32 = 1 << 3;
const UNDERSCORE: u32 = 1 << 4;
const UPPER: u32 = 1 << 5;
const SPACE: u32 = 1 << 6;
const DASH: u32 = 1 << 7;
const DIGIT: u32 = 1 << 8;
const LT: u32 = 1 << 9;
const COMMA: u32 = 1 << 10;
const PCT: u32 = 1 << 11;
/// A lower-case ASCII letter past `f`. Every literal but `SG.` and `PRIVATE KEY` that a gate
/// searches for (`xox`, `sk-`, `AIza`, `b3JpZ2lu`, `ZXIvYXdz`, `github_pat_`) and
/// `has_json_base64`'s `ey` holds one, so hex ids, UUIDs, trace ids and ISO timestamps skip
/// those searches.
const NONHEX: u32 = 1 << 12;
/// Not a byte class: set in `Hints::flags` once a keyword anchor was found.
const KEYWORD: u32 = 1 << 13;
/// How many low flag bits index the candidate table (every requirement flag but `KEYWORD`).
const QUICK_BITS: u32 = 13;
// Run classes, read only by the scan.
const TOKEN: u32 = 1 << 16;
const CARD_SEP: u32 = 1 << 17;
/// An ASCII letter, or any byte of a non-ASCII character (case-insensitive matching folds some
/// of those to ASCII letters: the Kelvin sign to `k`, the long s to `s`).
const ALPHA: u32 = 1 << 18;

/// `Hints::token_run`.
const RUN_TOKEN: u8 = 1;
/// `Hints::card_run`.
const RUN_CARD: u8 = 1 << 1;
/// `Hints::tail_run`.
const RUN_TAIL: u8 = 1 << 2;
/// Whether to look for a keyword: `Hints::letter_run` and `Hints::token_run`, which decide
/// `Hints::wants_keyword`.
const RUN_KEYWORD: u8 = 1 << 3;
const RUN_ALL: u8 = RUN_TOKEN | RUN_CARD | RUN_TAIL | RUN_KEYWORD;

/// How many detectors the candidate table tells apart (one bit each); any past these are
/// always candidates.
const CANDIDATE_BITS: usize = 32;

/// What a string's flags say before any run is counted (`Redactor::table`, indexed by the
/// flags' low [`QUICK_BITS`] and whether a keyword is possible at all).
#[derive(Debug, Clone, Copy)]
struct Candidates {
    /// Detectors whose flag requirements are met, bit `i` for `Redactor::detectors[i]`.
    detectors: u64,
    /// The least length at which any of them, or the sensitive-key text search, could find
    /// something: a shorter string is clean.
    least: u16,
    /// The runs their gates read (`RUN_*`).
    runs: u8,
}

/// What one pass over the bytes learned; every gate is a function of this plus a literal search.
struct Hints {
    len: usize,
    flags: u32,
    /// Longest run of `[A-Za-z0-9+/=%]` — every AWS key, session token and GitHub token is one.
    token_run: usize,
    /// Longest run of digits where up to three spaces, dashes, dots or parentheses between
    /// digits do not break the run — a card number needs 13, a phone number 10 (counted up to
    /// [`CARD_RUN_CAP`]).
    card_run: usize,
    /// Length of the `token_run`-class run that ends the string (trailing whitespace aside).
    tail_run: usize,
    /// Longest run of [`ALPHA`] bytes: a keyword anchor cannot occur in a shorter one.
    letter_run: usize,
    /// Whether the keyword gate is worth running (set by `Redactor::triage`).
    wants_keyword: bool,
    /// Whether a keyword anchor occurs (filled in by the redactor, only when some detector
    /// needs it).
    keyword: bool,
    /// The detectors whose gates are worth asking (`Candidates::detectors`); the runs their
    /// gates read are counted, others are left at 0.
    candidates: u64,
}

/// Class bits per byte, so the scan is one table load per byte instead of a chain of compares.
static CLASS: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0u32;
        if b.is_ascii_digit() {
            c |= DIGIT | TOKEN;
        }
        if b.is_ascii_alphabetic() || b == b'+' || b == b'/' || b == b'=' || b == b'%' {
            c |= TOKEN;
        }
        if b.is_ascii_uppercase() {
            c |= UPPER;
        }
        if b.is_ascii_alphabetic() || b >= 0x80 {
            c |= ALPHA;
        }
        if b.is_ascii_lowercase() && !b.is_ascii_hexdigit() {
            c |= NONHEX;
        }
        c |= match b {
            b'@' => AT,
            b':' => COLON,
            b'=' => EQ,
            b'.' => DOT | CARD_SEP,
            b'_' => UNDERSCORE,
            b' ' => SPACE | CARD_SEP,
            b'-' => DASH | CARD_SEP,
            b'(' | b')' => CARD_SEP,
            b'<' => LT,
            b',' => COMMA,
            b'%' => PCT,
            b'\t' | b'\n' | b'\r' => SPACE,
            _ => 0,
        };
        t[i] = c;
        i += 1;
    }
    t
};

/// The card run's most digits `Hints::card_run` tells apart: past it, "at least this many".
const CARD_RUN_CAP: u8 = 15;

/// The card-run input of each byte: 0 other, 1 digit, 2 separator.
static CARD_INPUT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = CLASS[i];
        t[i] = if c & DIGIT != 0 {
            1
        } else if c & CARD_SEP != 0 {
            2
        } else {
            0
        };
        i += 1;
    }
    t
};

/// One step of the card-run count, at `state << 2 | input`: state `digits << 2 | separators`
/// (digits in the run so far, capped at [`CARD_RUN_CAP`]; separators since the last digit),
/// input from [`CARD_INPUT`]. A digit extends the run; up to three separators after a digit
/// keep it going; anything else ends it.
static CARD_STEP: [u8; 256 * 4] = {
    let mut t = [0u8; 256 * 4];
    let mut digits = 0u8;
    while digits <= CARD_RUN_CAP {
        let mut seps = 0u8;
        while seps < 4 {
            let state = (digits as usize) << 2 | seps as usize;
            let more = if digits < CARD_RUN_CAP {
                digits + 1
            } else {
                digits
            };
            t[state * 4] = 0;
            t[state * 4 + 1] = more << 2;
            t[state * 4 + 2] = if digits > 0 && seps < 3 {
                digits << 2 | (seps + 1)
            } else {
                0
            };
            seps += 1;
        }
        digits += 1;
    }
    t
};

/// Every flag of `s` (an OR of its bytes' classes): the first look at a string.
#[inline]
fn flags_of(s: &[u8]) -> u32 {
    s.iter().fold(0u32, |f, &b| f | CLASS[usize::from(b)])
}

/// Whether a keyword could be wanted from the flags and length alone: the condition of
/// `Redactor::triage` with `token_run >= 40` weakened to the length it implies.
#[inline]
fn keyword_possible(flags: u32, len: usize) -> bool {
    flags & (EQ | COLON | LT | COMMA | PCT) != 0
        || (len >= BLANK_KEYWORD_MIN_LEN && flags & SPACE != 0)
        || len >= 40
}

/// The longest token run, card run and letter run of `s`, each counted only when asked for
/// (0 otherwise): one loop per combination, so each counts nothing it does not need.
fn count_runs<const TOK: bool, const CARD: bool, const LET: bool>(s: &[u8]) -> (usize, u8, usize) {
    let (mut run, mut token_run) = (0usize, 0usize);
    let (mut letters, mut letter_run) = (0usize, 0usize);
    // Every step is branch-free (a table step for the card run): values are short and their
    // bytes vary, so branches mispredict.
    let (mut card, mut card_run) = (0u8, 0u8);
    for &b in s {
        let c = CLASS[usize::from(b)];
        if TOK {
            run = if c & TOKEN != 0 { run + 1 } else { 0 };
            token_run = token_run.max(run);
        }
        if LET {
            letters = if c & ALPHA != 0 { letters + 1 } else { 0 };
            letter_run = letter_run.max(letters);
        }
        if CARD {
            // In bounds by construction (a `u8` state, a two-bit input): no check in the loop.
            card = CARD_STEP[usize::from(card) << 2 | usize::from(CARD_INPUT[usize::from(b)] & 3)];
            card_run = card_run.max(card >> 2);
        }
    }
    (token_run, card_run, letter_run)
}

impl Hints {
    /// Every hint of `s`, every run counted.
    #[cfg(test)]
    fn scan(s: &[u8]) -> Hints {
        Hints::scan_runs(s, flags_of(s), RUN_ALL, u64::MAX)
    }

    /// The hints of `s`, whose flags are `flags`, with only the runs in `runs` counted.
    fn scan_runs(s: &[u8], flags: u32, runs: u8, candidates: u64) -> Hints {
        let tok = runs & (RUN_TOKEN | RUN_KEYWORD) != 0;
        let card = runs & RUN_CARD != 0;
        let letters = runs & RUN_KEYWORD != 0;
        let (token_run, card_run, letter_run) = match (tok, card, letters) {
            (false, false, false) => (0, 0, 0),
            (true, false, false) => count_runs::<true, false, false>(s),
            (false, true, false) => count_runs::<false, true, false>(s),
            (true, true, false) => count_runs::<true, true, false>(s),
            (false, false, true) => count_runs::<false, false, true>(s),
            (true, false, true) => count_runs::<true, false, true>(s),
            (false, true, true) => count_runs::<false, true, true>(s),
            (true, true, true) => count_runs::<true, true, true>(s),
        };
        let tail_run = if runs & RUN_TAIL != 0 {
            let body = s
                .iter()
                .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .map_or(&s[..0], |i| &s[..=i]);
            body.iter()
                .rev()
                .take_while(|&&b| CLASS[usize::from(b)] & TOKEN != 0)
                .count()
        } else {
            0
        };
        Hints {
            len: s.len(),
            flags,
            token_run,
            card_run: usize::from(card_run),
            tail_run,
            letter_run,
            wants_keyword: false,
            keyword: false,
            candidates,
        }
    }

    fn has(&self, f: u32) -> bool {
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

/// What a detector needs of a string before it can find anything: every flag of `all`, one of
/// `any` (when not 0), and `min` bytes.
#[derive(Debug, Clone, Copy)]
struct Needs {
    all: u32,
    any: u32,
    min: usize,
    /// The runs its gate reads (`RUN_*`).
    runs: u8,
}

impl Needs {
    /// No requirement: a candidate for every string.
    const NOTHING: Needs = Needs {
        all: 0,
        any: 0,
        min: 0,
        runs: 0,
    };

    #[inline]
    fn met(self, flags: u32, len: usize) -> bool {
        flags & self.all == self.all && (self.any == 0 || flags & self.any != 0) && len >= self.min
    }
}

/// What a custom pattern needs of a string before it can match, read from its parsed form:
/// the length of its shortest match, and the flags of the literal a match must start with (the
/// flags all of its possible first literals share). A pattern with no bounded set of first
/// literals needs no flag. Without this, every string would go through the memo and the regex.
fn custom_needs(pattern: &str) -> Needs {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    // The parser's defaults are `RegexBuilder`'s, which built the detector's regex.
    let Ok(hir) = regex_syntax::Parser::new().parse(pattern) else {
        return Needs::NOTHING;
    };
    let min = hir.properties().minimum_len().unwrap_or(0);
    let firsts = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let all = match firsts.literals() {
        // A match holds one of these, so the string holds all of its bytes' flags; only the
        // flags the candidate table reads can be required.
        Some(literals) if !literals.is_empty() => literals
            .iter()
            .map(|l| flags_of(l.as_bytes()) & ((1 << QUICK_BITS) - 1))
            .fold(u32::MAX, |all, f| all & f),
        _ => 0,
    };
    Needs {
        all,
        any: 0,
        min,
        runs: 0,
    }
}

#[derive(Debug, Clone)]
struct Detector {
    label: Arc<str>,
    kind: Kind,
    /// `Builtin::requirements` (none for a custom detector).
    needs: Needs,
    patterns: Vec<Regex>,
    /// Index of the capture group holding the secret, per pattern (None = whole match).
    secret_group: Vec<Option<usize>>,
}

impl Detector {
    fn gate(&self, h: &Hints, s: &[u8]) -> bool {
        if !self.needs.met(h.flags, h.len) {
            return false;
        }
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
    /// Normalised (lowercase, no `_ - . space`) names; a key matches when its normalised form
    /// ends with one of them (at a word boundary for short names).
    normalised: Vec<String>,
    /// Key-then-value forms in text (`k`/`kb`/`kf`/`kq` the key, `dq`/`sq`/`bare`… the
    /// value). The regexes find keys that end like a sensitive name;
    /// [`SensitiveKeys::matched`] then decides with the full rules.
    text: Regex,
    /// `key: value` to the end of the phrase (`kc`/`kc2`; `cdq`/`csq`/`phrase`…), Go's
    /// `key:value` (`kt`; `tight`…) and `<key>value</key>` (`kx`; `xml`).
    colon: Regex,
    /// SQL's `PASSWORD 'v'` and `IDENTIFIED BY 'v'` (PostgreSQL's `ALTER ROLE`, MySQL's
    /// `CREATE USER`, as statement logs such as RDS's record them), when `password` is a
    /// sensitive name.
    sql: Option<Regex>,
    /// `Cookie: …` / `Authorization: …` up to end of line.
    rest_of_line: Option<Regex>,
    /// Flat header name/value lists (Node's `rawHeaders`, Python's header tuples):
    /// `'Authorization', 'Bearer …'`.
    pairs: Regex,
}

/// How a key matched a sensitive name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    /// Every scalar under the key is replaced.
    Whole,
    /// A plural name (`tokens`): plain integers are counts and stay.
    Plural,
    /// `pwd`: an absolute path is the shell's working directory (`PWD=/var/task`), not a
    /// password.
    Pwd,
}

impl Sensitivity {
    /// Whether this value, under a key of this kind, is not a secret after all.
    fn spares(self, v: &str) -> bool {
        match self {
            Sensitivity::Whole => false,
            Sensitivity::Plural => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
            Sensitivity::Pwd => v.starts_with('/') && !v.contains(char::is_whitespace),
        }
    }
}

/// Where the bracketed value opening at `start` (`{` or `[`) ends: just past its matching
/// bracket on the same line, skipping brackets inside quotes; the end of the line when it is
/// not closed there (a value cut short, or one spread over lines, whose members are judged
/// by their own keys). Scanning one line at most keeps it linear per value.
fn bracket_end(s: &str, start: usize) -> usize {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut prev = b'{';
    let mut i = start;
    while let Some(&c) = b.get(i) {
        if c == b'\n' || c == b'\r' {
            return i;
        }
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b'"' => quote = Some(c),
                // An apostrophe opens a quote only where a value starts (`{'a': 'b'}`), not
                // inside a word (`{bob's}`).
                b'\'' if matches!(prev, b'{' | b'[' | b',' | b':' | b'=' | b'(') => quote = Some(c),
                _ => {}
            },
        }
        if !c.is_ascii_whitespace() {
            prev = c;
        }
        i += 1;
    }
    s.len()
}

/// Whether a bracketed value holds nothing but whole numbers under keys:
/// `{"input": 10, "output": [1, 2]}`, `{ input: 10 }`.
fn holds_only_counts(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let key_end = match c {
            b'"' | b'\'' => {
                let mut j = i + 1;
                while let Some(&d) = b.get(j) {
                    match d {
                        b'\\' => j += 1,
                        _ if d == c => break,
                        _ => {}
                    }
                    j += 1;
                }
                j + 1
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while b
                    .get(j)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == b'_')
                {
                    j += 1;
                }
                j
            }
            _ if c.is_ascii_digit() || c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                i += 1;
                continue;
            }
            _ => return false,
        };
        // A string or a name is only allowed as a key.
        i = key_end;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if b.get(i) != Some(&b':') {
            return false;
        }
    }
    true
}

fn is_key_separator(c: char) -> bool {
    matches!(c, '_' | '-' | '.' | ' ')
}

fn normalise_key(k: &str) -> String {
    k.chars()
        .filter(|c| !is_key_separator(*c))
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

/// The length from which text with a blank and no other key form is searched for a keyword:
/// `Bearer ` and 12 characters, or a SQL `… PASSWORD '…'`.
const BLANK_KEYWORD_MIN_LEN: usize = 19;

/// The quoted forms of a value after a key, shared by `key=v` and `key: v`, their groups named
/// with `p` in front: `"v"` and `'v'` (also Python's `b'v'`), `\"v\"` (JSON escaped in a
/// string), a quote left open (`dqu`, `squ`: to the end of the line) and an opening bracket
/// (`open`: see `bracket_end`).
fn quoted_value_forms(p: &str) -> String {
    format!(
        r#"b?"(?P<{p}dq>(?:[^"\\]|\\.)*)"|b?'(?P<{p}sq>[^']*)'|\\"(?P<{p}edq>(?:[^"\\]|\\[^"])*)\\"|"(?P<{p}dqu>(?:[^"\\\r\n]|\\.)*)|'(?P<{p}squ>[^'\r\n]*)|(?P<{p}open>[\[{{])"#
    )
}

/// Names this short match only at a word boundary of the key.
const SHORT_KEY: usize = 4;

/// Header names (normalised) whose value in a flat name/value list is secret.
const PAIR_HEADERS: &[&str] = &[
    "authorization",
    "proxyauthorization",
    "cookie",
    "setcookie",
    "xapikey",
    "xauthtoken",
    "xamzsecuritytoken",
    "xcsrftoken",
];

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
            if !normalised.contains(&n) {
                normalised.push(n);
                alts.push(key_regex(k));
            }
        }
        // Longest first so `set-cookie` wins over `cookie` in the alternation.
        alts.sort_by_key(|a| std::cmp::Reverse(a.len()));
        alts.dedup();
        let keys_alt = alts.join("|");
        // Key forms: `key=v`, `key => v`, `key%3Dv` (inside an encoded query string), `--key v` (command lines), `"key": v` / `'key': v`
        // (JSON, Python and Ruby reprs, and `\"key\": \"v\"`, JSON escaped inside a quoted
        // string), `key: v` (YAML, headers, prose; the value runs to the end of the phrase, so
        // `password: x y z` goes whole) and `<key>v</key>` (XML). The optional
        // `[A-Za-z0-9_.\-]*` prefix lets `DB_PASSWORD=` and `csrf_token=` match, mirroring the
        // suffix rule used for JSON keys. A quote left open (a line cut short) takes the rest
        // of its line. A bare value stops before a backslash that escapes a quote: taking it
        // would close a quote that a second pass pairs differently. `user[password]=v` (form
        // fields) and `[password] => v` (PHP's print_r) count as `key=v`; a value that opens
        // a bracket (`{…}`, `[…]`) is matched by `bracket_end`, and Python's `b'v'` is quoted.
        let quoted = quoted_value_forms("");
        let text = format!(
            r#"(?m)(?:(?:^|[^A-Za-z0-9_.\-"'<])(?P<k>[A-Za-z0-9_.\-]*?(?:{keys_alt}))\s*(?:=>|=|%3[Dd])\s*|\[(?P<kb>[A-Za-z0-9_.\-]*?(?:{keys_alt}))\]\s*(?:=>|=)\s*|(?:^|[ \t])--(?P<kf>[A-Za-z0-9_.\-]*?(?:{keys_alt}))[ \t]+|["'](?P<kq>[A-Za-z0-9_.\-]*?(?:{keys_alt}))\\?["']\s*(?::|=>)\s*)(?:{quoted}|(?P<bare>(?:[^\s&"',;{{}}\[\]\\]|\\[^\s"'])(?:[^\s&"',;}}\]\\]|\\[^\s"'])*))"#
        );
        // Mid-line, `key: v` runs to the end of the phrase, `key:v` (Go's `%+v` and maps:
        // `&{User:bob Password:x}`, `map[password:x]`) to the next blank; neither after a `:`
        // or `/`: `…:secret:prod` in an ARN is a path, not a key.
        let quoted_c = quoted_value_forms("c");
        let colon = format!(
            r#"(?m)(?:(?:^[ \t>]*(?P<kc>[A-Za-z0-9_.\-]*?(?:{keys_alt}))[ \t]*:[ \t]*|[^A-Za-z0-9_.\-"'<:/](?P<kc2>[A-Za-z0-9_.\-]*?(?:{keys_alt}))[ \t]*:[ \t]+)(?:{quoted_c}|(?P<phrase>(?:[^\s&"',;{{}}\[\]<>\\]|\\[^\s"'])(?:[^\r\n&"',;}}\]<>\\]|\\[^\r\n"'])*))|[^A-Za-z0-9_.\-"'<:/](?P<kt>[A-Za-z0-9_.\-]*?(?:{keys_alt})):(?:"(?P<tdq>(?:[^"\\]|\\.)*)"|'(?P<tsq>[^']*)'|(?P<topen>[\[{{])|(?P<tight>[^\s&"',;{{}}\[\]<>:/\\][^\s&"',;}}\]<>\\]*))|<(?P<kx>[A-Za-z0-9_.:\-]*?(?:{keys_alt}))(?:\s[^<>]*)?>(?P<xml>[^<>\r\n]+)</)"#
        );
        let colon = Regex::new(&colon).map_err(|e| RedactError::SensitiveKeyPattern {
            reason: e.to_string(),
        })?;
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
                r#"(?:^|[^A-Za-z0-9_\-"])(?:{})[ \t]*:[ \t]*(?P<s>(?:[^\s"\[\\]|\\[^\s"])(?:[^\r\n"\\]|\\[^\r\n"])*)"#,
                rol.join("|")
            );
            Some(
                Regex::new(&p).map_err(|e| RedactError::SensitiveKeyPattern {
                    reason: e.to_string(),
                })?,
            )
        };
        let sql = if normalised.iter().any(|n| n == "password") {
            // A quote inside the value is doubled (`'it''s'`).
            Some(
                Regex::new(
                    r"(?i)(?:\bpassword|\bidentified(?:[ \t]+with[ \t]+\w+)?[ \t]+by)[ \t]+'(?P<v>(?:[^'\r\n]|'')*)'",
                )
                .map_err(|e| RedactError::SensitiveKeyPattern {
                    reason: e.to_string(),
                })?,
            )
        } else {
            None
        };
        let pairs = Regex::new(
            r#"["'](?P<k>[A-Za-z0-9_\-]{4,40})["']\s*,\s*(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>[^']*)')"#,
        )
        .map_err(|e| RedactError::SensitiveKeyPattern {
            reason: e.to_string(),
        })?;
        Ok(Some(SensitiveKeys {
            normalised,
            text,
            colon,
            sql,
            rest_of_line,
            pairs,
        }))
    }

    fn is_sensitive(&self, key: &str) -> bool {
        self.matched(key).is_some()
    }

    /// How `key` matches a sensitive name, if it does. Runs for every key of every record, so
    /// the common ASCII case normalises once into a stack buffer (with a bitmask of where words
    /// start) and compares suffixes bytewise; other keys take the general path.
    fn matched(&self, key: &str) -> Option<Sensitivity> {
        const BUF: usize = 64;
        let mut buf = [0u8; BUF];
        let mut len = 0;
        // Bit i: normalised byte i starts a word (after a separator or punctuation, or an
        // upper-case letter after a lower-case one or a digit).
        let mut starts = 0u64;
        let mut long: Option<(Vec<char>, Vec<bool>)> = None;
        if key.is_ascii() && key.len() <= BUF {
            let mut prev: Option<u8> = None;
            for &b in key.as_bytes() {
                if !matches!(b, b'_' | b'-' | b'.' | b' ') {
                    let start = match prev {
                        None => true,
                        Some(p) => {
                            !p.is_ascii_alphanumeric()
                                || (b.is_ascii_uppercase()
                                    && (p.is_ascii_lowercase() || p.is_ascii_digit()))
                        }
                    };
                    if start {
                        starts |= 1 << len;
                    }
                    buf[len] = b.to_ascii_lowercase();
                    len += 1;
                }
                prev = Some(b);
            }
        } else {
            let mut chars = Vec::new();
            let mut word = Vec::new();
            let mut prev: Option<char> = None;
            for c in key.chars() {
                if !is_key_separator(c) {
                    let start = match prev {
                        None => true,
                        Some(p) => {
                            !p.is_alphanumeric()
                                || (c.is_uppercase() && (p.is_lowercase() || p.is_numeric()))
                        }
                    };
                    for l in c.to_lowercase() {
                        chars.push(l);
                        word.push(start);
                    }
                }
                prev = Some(c);
            }
            long = Some((chars, word));
        }
        let ends_with = |n: &str| -> Option<bool> {
            // Some(word start at the suffix) when the normalised key ends with `n`.
            match &long {
                None => {
                    let norm = &buf[..len];
                    let n = n.as_bytes();
                    // Comparing last bytes first skips the memcmp call for nearly every name.
                    (n.last() == norm.last() && norm.ends_with(n))
                        .then(|| starts & (1 << (len - n.len())) != 0)
                }
                Some((chars, word)) => {
                    let k = n.chars().count();
                    (chars.len() >= k && chars[chars.len() - k..].iter().copied().eq(n.chars()))
                        .then(|| word[chars.len() - k])
                }
            }
        };
        let mut best: Option<&str> = None;
        for n in &self.normalised {
            match ends_with(n) {
                Some(at_word)
                    if (n.len() > SHORT_KEY || at_word)
                        && best.is_none_or(|b| n.len() > b.len()) =>
                {
                    best = Some(n);
                }
                _ => {}
            }
        }
        let best = best?;
        if NOT_SENSITIVE_SUFFIXES
            .iter()
            .any(|x| x.len() > best.len() && ends_with(x).is_some())
        {
            return None;
        }
        Some(if best == "pwd" {
            Sensitivity::Pwd
        } else if best.ends_with('s') && !best.ends_with("ss") {
            Sensitivity::Plural
        } else {
            Sensitivity::Whole
        })
    }

    /// Spans of secrets found by key name in `s`.
    fn find_in_text(&self, s: &str, spans: &mut Vec<(usize, usize, &str)>) {
        let forms: [(&Regex, &[&str], &[&str]); 2] = [
            (
                &self.text,
                &["k", "kb", "kf", "kq"],
                &["dq", "sq", "edq", "dqu", "squ", "open", "bare"],
            ),
            (
                &self.colon,
                &["kc", "kc2", "kt", "kx"],
                &[
                    "cdq", "csq", "cedq", "cdqu", "csqu", "copen", "phrase", "tdq", "tsq", "topen",
                    "tight", "xml",
                ],
            ),
        ];
        for (re, keys, values) in forms {
            // Bracketed values already covered: an inner `{` is not scanned again, which
            // keeps hostile nesting (`password={password={…`) linear.
            let mut covered = 0;
            for c in re.captures_iter(s) {
                let (Some(key), Some(v)) = (
                    keys.iter().find_map(|g| c.name(g)),
                    values.iter().find_map(|g| c.name(g)),
                ) else {
                    continue;
                };
                let Some(how) = self.matched(key.as_str()) else {
                    continue;
                };
                if ["open", "copen", "topen"]
                    .iter()
                    .any(|g| c.name(g).is_some())
                {
                    if v.start() < covered {
                        continue;
                    }
                    covered = bracket_end(s, v.start());
                    // Under a plural name, an object of counts stays, as in JSON
                    // (`"tokens": {"input": 10}`), while `credentials: {…}` goes.
                    let counts = how == Sensitivity::Plural
                        && s.get(v.start()..covered).is_some_and(holds_only_counts);
                    if !counts {
                        push_span(spans, s, v.start(), covered, SENSITIVE_KEY_LABEL);
                    }
                    continue;
                }
                // A phrase ends before trailing blanks.
                let end = v.start() + v.as_str().trim_end().len();
                let value = &s[v.start()..end];
                let unquoted = ["bare", "phrase", "tight"]
                    .iter()
                    .any(|g| c.name(g).is_some());
                let literal = unquoted
                    && ["true", "false", "null"]
                        .iter()
                        .any(|l| value.eq_ignore_ascii_case(l));
                // JSON `"is_secret": false` — the same values the JSON walker leaves alone; a
                // `--password --verbose` has no value, the next flag follows.
                if literal
                    || how.spares(value)
                    || (c.name("kf").is_some() && value.starts_with('-'))
                {
                    continue;
                }
                push_span(spans, s, v.start(), end, SENSITIVE_KEY_LABEL);
            }
        }
        if let Some(rol) = &self.rest_of_line {
            for c in rol.captures_iter(s) {
                if let Some(m) = c.name("s") {
                    let v = m.as_str().trim_end();
                    push_span(
                        spans,
                        s,
                        m.start(),
                        m.start() + v.len(),
                        SENSITIVE_KEY_LABEL,
                    );
                }
            }
        }
        // Shorter text is not searched when gated (no keyword is looked for): neither here,
        // so the gates never change the result.
        let sql = self
            .sql
            .as_ref()
            .filter(|_| s.len() >= BLANK_KEYWORD_MIN_LEN && s.contains('\''));
        if let Some(sql) = sql {
            for c in sql.captures_iter(s) {
                if let Some(v) = c.name("v") {
                    push_span(spans, s, v.start(), v.end(), SENSITIVE_KEY_LABEL);
                }
            }
        }
        for c in self.pairs.captures_iter(s) {
            let header = c
                .name("k")
                .is_some_and(|k| PAIR_HEADERS.contains(&normalise_key(k.as_str()).as_str()));
            if let (true, Some(v)) = (header, c.name("dq").or_else(|| c.name("sq"))) {
                push_span(spans, s, v.start(), v.end(), SENSITIVE_KEY_LABEL);
            }
        }
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
    /// The shortest of the anchors' longest letter runs: a string whose letter runs are all
    /// shorter holds no anchor, and skips the keyword gate (a timestamp, a UUID).
    keyword_letters: usize,
    /// Indexed by a string's requirement flags (`QUICK_BITS` of them) and whether a keyword
    /// is possible (`keyword_possible`): which detectors could fire, from what length, and
    /// which runs their gates read. A string shorter than that is clean without a scan, a memo
    /// lookup or a gate (`orders-api`, `INFO`, `/checkout`); a UUID counts only its card run
    /// and asks three gates.
    table: Arc<CandidateTable>,
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
        "stripe_key",
        "google_api_key",
        "openai_key",
        "sendgrid_key",
        "npm_token",
        "private_key",
        "azure_key",
        "url_signature",
        "base64_json",
        "password_in_url",
        "email",
        "credit_card",
        "ssn",
        "phone",
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
            keyword_letters: 0,
            table: Arc::new(CandidateTable::new(&[])),
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
                needs: b.requirements(),
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
                needs: custom_needs(&c.pattern),
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
        if let Some(sk) = &sensitive {
            for k in sensitive_keys {
                // Any text form of a key contains its longest segment verbatim (case aside).
                if let Some(seg) = k.split(['_', '-', '.', ' ']).max_by_key(|p| p.len()) {
                    anchors.push(seg.to_lowercase());
                }
            }
            if sk.sql.is_some() {
                anchors.push("identified".to_string());
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
        let keyword_letters = anchors
            .iter()
            .map(|a| {
                // In characters: case folding can match a character with one of another byte
                // length (`ſ` and `s`), never two characters with one.
                a.split(|c: char| c.is_ascii() && !c.is_ascii_alphabetic())
                    .map(|run| run.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .min()
            .unwrap_or(0);
        let mut needs: Vec<Needs> = out.iter().map(|d| d.needs).collect();
        // Past `CANDIDATE_BITS` detectors the table cannot name them: every one is then a
        // candidate, with every run counted.
        if needs.len() > CANDIDATE_BITS {
            needs.push(Needs {
                runs: RUN_ALL,
                ..Needs::NOTHING
            });
        }
        if let Some(sk) = &sensitive {
            // `SensitiveKeys::find_in_text` runs on a keyword and one of these forms…
            needs.push(Needs {
                all: KEYWORD,
                any: EQ | COLON | LT | COMMA | PCT | DASH,
                min: 0,
                runs: RUN_KEYWORD,
            });
            // …or, for SQL, a blank in text long enough to want the keyword.
            if sk.sql.is_some() {
                needs.push(Needs {
                    all: KEYWORD | SPACE,
                    any: 0,
                    min: BLANK_KEYWORD_MIN_LEN,
                    runs: RUN_KEYWORD,
                });
            }
        }
        Ok(Redactor {
            table: Arc::new(CandidateTable::new(&needs)),
            detectors: out,
            sensitive,
            keyword_gate,
            keyword_letters,
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

    /// Whether `value` under `key` is replaced whole because of the key's name: the key is
    /// sensitive and the value is not one it spares (a count under `max_tokens`, a path under
    /// `PWD`).
    pub fn is_sensitive_value(&self, key: &str, value: &str) -> bool {
        self.sensitivity(key).is_some_and(|how| !how.spares(value))
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
        self.redact_at(s, gated, false)
    }

    /// `nested`: `s` was decoded from a base64 candidate; nothing is decoded again, so the work
    /// stays linear.
    fn redact_at<'a>(&self, s: &'a str, gated: bool, nested: bool) -> (Cow<'a, str>, usize) {
        if self.is_empty() || s.is_empty() {
            return (Cow::Borrowed(s), 0);
        }
        let hints = if gated {
            match self.triage(s.as_bytes()) {
                Some(h) => h,
                None => return (Cow::Borrowed(s), 0),
            }
        } else {
            self.triage_all(s.as_bytes())
        };
        self.redact_triaged(s, hints, gated, nested)
    }

    /// The first look at `s`: its flags, and its entry in the candidate table.
    #[inline]
    fn look(&self, s: &[u8]) -> (u32, Candidates) {
        let flags = flags_of(s);
        let index = (flags & ((1 << QUICK_BITS) - 1)) as usize
            | usize::from(keyword_possible(flags, s.len())) << QUICK_BITS;
        let entry = self.table.get(index);
        (flags, entry)
    }

    /// Whether no detector can find anything in `s`, from its flags and length alone.
    #[cfg(test)]
    fn certainly_clean(&self, s: &[u8]) -> bool {
        s.len() < usize::from(self.look(s).1.least)
    }

    /// The hints every candidate's gate reads, the keyword itself not yet looked for; `None`
    /// when `s` is too short for any candidate (clean).
    fn triage(&self, s: &[u8]) -> Option<Hints> {
        let (flags, c) = self.look(s);
        if s.len() < usize::from(c.least) {
            return None;
        }
        Some(self.triage_runs(s, flags, c.runs, c.detectors))
    }

    /// Every hint, every detector a candidate: what the ungated path hands over.
    fn triage_all(&self, s: &[u8]) -> Hints {
        self.triage_runs(s, flags_of(s), RUN_ALL, u64::MAX)
    }

    fn triage_runs(&self, s: &[u8], flags: u32, runs: u8, candidates: u64) -> Hints {
        let mut hints = Hints::scan_runs(s, flags, runs, candidates);
        // The keyword DFA is the priciest gate: run it only when a detector that needs it
        // (secret key, bearer token, api key, sensitive `key=value` text) could still match,
        // and a run of letters is long enough to hold an anchor.
        hints.wants_keyword = runs & RUN_KEYWORD != 0
            && (hints.token_run >= 40
                || hints.has(EQ)
                || hints.has(COLON)
                || hints.has(LT)
                || hints.has(COMMA)
                || hints.has(PCT)
                || (hints.len >= BLANK_KEYWORD_MIN_LEN && hints.has(SPACE)))
            && hints.letter_run >= self.keyword_letters;
        hints
    }

    /// [`Redactor::redact_at`] after [`Redactor::triage`]: passes until one finds nothing
    /// more. Replacing a secret can change how its neighbours read (`secret: "token":" …`: once
    /// the first `token` is a marker, the quotes pair differently and another value is a
    /// secret), so redacting the output again must find nothing. Only text that held a secret
    /// pays for the extra pass.
    fn redact_triaged<'a>(
        &self,
        s: &'a str,
        hints: Hints,
        gated: bool,
        nested: bool,
    ) -> (Cow<'a, str>, usize) {
        let (out, n) = self.redact_pass(s, hints, gated, nested);
        // A nested search only asks whether there is a secret.
        let Cow::Owned(mut text) = out else {
            return (out, n);
        };
        if nested {
            return (Cow::Owned(text), n);
        }
        let first_markers = text.matches(MARKER_PREFIX).count();
        let mut changed = false;
        for _ in 1..MAX_REDACT_PASSES {
            let hints = if gated {
                match self.triage(text.as_bytes()) {
                    Some(h) => h,
                    None => break,
                }
            } else {
                self.triage_all(text.as_bytes())
            };
            let (next, _) = self.redact_pass(&text, hints, gated, nested);
            let next = match next {
                Cow::Borrowed(_) => break,
                Cow::Owned(next) => next,
            };
            text = next;
            changed = true;
        }
        // Values replaced: a later pass may merge earlier markers into one.
        let n = if changed {
            (n + text.matches(MARKER_PREFIX).count()).saturating_sub(first_markers)
        } else {
            n
        };
        (Cow::Owned(text), n)
    }

    /// One pass of [`Redactor::redact_triaged`].
    fn redact_pass<'a>(
        &self,
        s: &'a str,
        mut hints: Hints,
        gated: bool,
        nested: bool,
    ) -> (Cow<'a, str>, usize) {
        let bytes = s.as_bytes();
        hints.keyword =
            hints.wants_keyword && self.keyword_gate.as_ref().is_some_and(|g| g.is_match(s));
        if hints.keyword {
            hints.flags |= KEYWORD;
        }
        let mut spans: Vec<(usize, usize, &str)> = Vec::new();
        // End of each URL password (where its `@` is), so the host after it is not an e-mail.
        let mut url_password_ends: Vec<usize> = Vec::new();
        if let Some(sk) = &self.sensitive {
            let forms = hints.has(EQ)
                || hints.has(COLON)
                || hints.has(LT)
                || hints.has(COMMA)
                || hints.has(PCT)
                || hints.has(DASH)
                || (sk.sql.is_some() && hints.has(SPACE) && hints.len >= BLANK_KEYWORD_MIN_LEN);
            if !gated || forms && hints.keyword {
                sk.find_in_text(s, &mut spans);
            }
        }
        // The candidates in order (then any past the table's reach), or every detector.
        let mut todo = if gated { hints.candidates } else { u64::MAX };
        if self.detectors.len() < CANDIDATE_BITS {
            todo &= (1 << self.detectors.len()) - 1;
        }
        let candidates = std::iter::from_fn(|| {
            let i = todo.trailing_zeros() as usize;
            todo &= todo.wrapping_sub(1);
            (i < CANDIDATE_BITS).then_some(i)
        })
        .filter_map(|i| self.detectors.get(i))
        .chain(self.detectors.get(CANDIDATE_BITS..).unwrap_or_default());
        for d in candidates {
            if gated && !d.gate(&hints, bytes) {
                continue;
            }
            let builtin = match d.kind {
                Kind::Builtin(b) => Some(b),
                Kind::Custom => None,
            };
            for (re, group) in d.patterns.iter().zip(&d.secret_group) {
                let mut pos = 0;
                while pos <= s.len() {
                    // Captures only for patterns with a secret group: the plain search is
                    // several times cheaper.
                    let (whole, secret) = match group {
                        Some(g) => re.captures_at(s, pos).map_or((None, None), |c| {
                            let w = c.get(0).map(|m| (m.start(), m.end()));
                            (w, c.get(*g).map(|m| (m.start(), m.end())).or(w))
                        }),
                        None => {
                            let w = re.find_at(s, pos).map(|m| (m.start(), m.end()));
                            (w, w)
                        }
                    };
                    let (Some(m), Some(sp)) = (whole, secret) else {
                        break;
                    };
                    let next_char = m.0
                        + s.get(m.0..)
                            .and_then(|t| t.chars().next())
                            .map_or(1, char::len_utf8);
                    let ok = sp.0 < sp.1
                        && match builtin {
                            // `user:pass@host`: the password is already covered; do not eat
                            // the host.
                            Some(Builtin::Email) => {
                                let t = s.get(m.0..m.1).unwrap_or("");
                                let at = t.find('@').or_else(|| t.find("%40"));
                                !at.is_some_and(|i| url_password_ends.contains(&(m.0 + i)))
                                    && d.accept(s, m, sp)
                            }
                            Some(Builtin::Base64Json) => {
                                !nested && self.decoded_holds_secret(&s[sp.0..sp.1], gated)
                            }
                            _ => d.accept(s, m, sp),
                        };
                    if !ok {
                        pos = match builtin {
                            Some(b) => b.resume_after_reject(s, m, next_char),
                            None => m.1.max(next_char),
                        };
                        continue;
                    }
                    if builtin == Some(Builtin::PasswordInUrl) {
                        url_password_ends.push(sp.1);
                    }
                    push_span(&mut spans, s, sp.0, sp.1, &d.label);
                    pos = m.1.max(next_char);
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

    /// Whether a base64 candidate decodes to text in which this redactor finds a secret (the
    /// base64 of `{"user":"bob","password":"hunter2"}`). Padding is optional; a trailing
    /// partial quantum is dropped.
    fn decoded_holds_secret(&self, b64: &str, gated: bool) -> bool {
        use base64::Engine;
        const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
                .with_decode_allow_trailing_bits(true),
        );
        let body = b64.trim_end_matches('=');
        let body = &body[..body.len() - usize::from(body.len() % 4 == 1)];
        let Ok(bytes) = ENGINE.decode(body) else {
            return false;
        };
        let text = String::from_utf8_lossy(&bytes);
        self.redact_at(&text, gated, true).1 > 0
    }

    /// Redacts every string inside `v` in place; returns how many secrets were replaced.
    /// Scalars under a sensitive key (at any depth) are replaced whole, object keys that hold a
    /// secret are rewritten, and numbers that are card numbers are replaced. Walks with an
    /// explicit stack, so nesting depth cannot overflow the call stack.
    pub fn redact_value(&self, v: &mut Value) -> usize {
        self.walk(v, None, &mut None)
    }

    /// Redacts the value of one object member, honouring the member's own key name (a
    /// top-level `password` field is replaced whole, as a nested one would be).
    pub fn redact_entry(&self, key: &str, v: &mut Value) -> usize {
        self.walk(v, self.sensitivity(key), &mut None)
    }

    /// Redacts a record's top-level members: keys as in [`Redactor::redact_value`], values as
    /// in [`Redactor::redact_entry`].
    pub fn redact_map(&self, m: &mut Map<String, Value>) -> usize {
        if self.is_empty() {
            return 0;
        }
        let mut n = self.redact_keys(m, &mut None);
        for (k, v) in m.iter_mut() {
            n += self.walk(v, self.sensitivity(k), &mut None);
        }
        n
    }

    /// Redacts a value found at `keys` (its path of member names, outermost first): replaced
    /// whole when any of them names a sensitive key, else walked like any value.
    pub fn redact_path_memo(&self, keys: &[&str], v: &mut Value, memo: &mut RedactMemo) -> usize {
        if self.is_empty() {
            return 0;
        }
        let mut memo = Some(memo);
        let how = keys
            .iter()
            .find_map(|k| self.sensitivity_memo(k, &mut memo));
        self.walk(v, how, &mut memo)
    }

    /// How member key `key` matches a sensitive name (`None`: it does not).
    pub fn key_sensitivity(&self, key: &str, memo: &mut RedactMemo) -> Option<Sensitivity> {
        if self.is_empty() {
            return None;
        }
        memo.sensitivity(self, key)
    }

    /// A string found under a member key whose sensitivity is `how` (see
    /// [`Redactor::key_sensitivity`]), as [`Redactor::redact_path_memo`] leaves it, without
    /// building a `Value`: the marker when the key is sensitive, else the detectors' answer.
    pub fn redact_str_under<'a>(
        &self,
        how: Option<Sensitivity>,
        s: &'a str,
        memo: &mut RedactMemo,
    ) -> (Cow<'a, str>, usize) {
        if self.is_empty() {
            return (Cow::Borrowed(s), 0);
        }
        match how {
            Some(how) if !how.spares(s) => {
                if s.starts_with(MARKER_PREFIX) {
                    (Cow::Borrowed(s), 0)
                } else {
                    (Cow::Owned(sensitive_marker()), 1)
                }
            }
            _ => memo.redact_counted(self, s),
        }
    }

    /// Whether a number, boolean or null under a key that is not sensitive is certainly left
    /// as it is (`false` for a number that might be a card number: the walk decides).
    pub fn leaves_scalar_alone(&self, v: &Value) -> bool {
        match v {
            Value::Number(n) => n.as_u64().is_none_or(|x| x < MIN_CARD_NUMBER),
            Value::Bool(_) | Value::Null => true,
            Value::String(_) | Value::Array(_) | Value::Object(_) => false,
        }
    }

    /// Whether a member key would be rewritten by key redaction (`{"alice@example.com": 3}`),
    /// as [`Redactor::redact_keys_memo`] decides.
    pub fn key_holds_secret(&self, key: &str, memo: &mut RedactMemo) -> bool {
        if self.is_empty() || (key.len() < 6 && !self.has_custom()) {
            return false;
        }
        matches!(memo.redact_counted(self, key).0, Cow::Owned(_))
    }

    fn has_custom(&self) -> bool {
        self.detectors
            .iter()
            .any(|d| matches!(d.kind, Kind::Custom))
    }

    /// Rewrites the keys of `m` that hold a secret (see `redact_keys`), with `memo`.
    pub fn redact_keys_memo(&self, m: &mut Map<String, Value>, memo: &mut RedactMemo) -> usize {
        if self.is_empty() {
            return 0;
        }
        self.redact_keys(m, &mut Some(memo))
    }

    fn sensitivity(&self, key: &str) -> Option<Sensitivity> {
        self.sensitive.as_ref().and_then(|s| s.matched(key))
    }

    fn sensitivity_memo(
        &self,
        key: &str,
        memo: &mut Option<&mut RedactMemo>,
    ) -> Option<Sensitivity> {
        match memo {
            Some(m) => m.sensitivity(self, key),
            None => self.sensitivity(key),
        }
    }

    fn redact_str<'a>(
        &self,
        s: &'a str,
        memo: &mut Option<&mut RedactMemo>,
    ) -> (Cow<'a, str>, usize) {
        match memo {
            Some(m) => m.redact_counted(self, s),
            None => self.redact_counted(s),
        }
    }

    /// Rewrites keys that hold a secret (`{"alice@example.com": 3}`). Two keys redacted alike
    /// get ` (2)`, ` (3)`… so no member is lost.
    fn redact_keys(&self, m: &mut Map<String, Value>, memo: &mut Option<&mut RedactMemo>) -> usize {
        // Nothing a built-in finds is shorter than six bytes (`a@b.io`).
        let custom = self.has_custom();
        let renames: Vec<(String, String, usize)> = m
            .keys()
            .filter(|k| custom || k.len() >= 6)
            .filter_map(|k| match self.redact_str(k, memo) {
                (Cow::Owned(new), n) => Some((k.clone(), new, n)),
                (Cow::Borrowed(_), _) => None,
            })
            .collect();
        let mut count = 0;
        for (old, new, n) in renames {
            if let Some(v) = m.remove(&old) {
                let mut key = new.clone();
                let mut i = 2;
                while m.contains_key(&key) {
                    key = format!("{new} ({i})");
                    i += 1;
                }
                m.insert(key, v);
                count += n;
            }
        }
        count
    }

    fn walk(
        &self,
        v: &mut Value,
        sensitive: Option<Sensitivity>,
        memo: &mut Option<&mut RedactMemo>,
    ) -> usize {
        if self.is_empty() {
            return 0;
        }
        let cards = self
            .detectors
            .iter()
            .any(|d| matches!(d.kind, Kind::Builtin(Builtin::CreditCard)));
        // Most values are scalars: no stack for them.
        if !matches!(v, Value::Array(_) | Value::Object(_)) {
            return self.leaf(v, sensitive, memo, cards);
        }
        let mut count = 0;
        let mut stack: Vec<(&mut Value, Option<Sensitivity>)> = vec![(v, sensitive)];
        while let Some((v, sensitive)) = stack.pop() {
            match v {
                Value::Null | Value::Bool(_) | Value::String(_) | Value::Number(_) => {
                    count += self.leaf(v, sensitive, memo, cards);
                }
                Value::Array(a) => stack.extend(a.iter_mut().map(|x| (x, sensitive))),
                Value::Object(m) => {
                    count += self.redact_keys(m, memo);
                    for (k, x) in m.iter_mut() {
                        let s = sensitive.or_else(|| self.sensitivity_memo(k, memo));
                        let flat_headers =
                            s.is_none() && x.is_array() && normalise_key(k).ends_with("headers");
                        if !flat_headers {
                            stack.push((x, s));
                        } else if let Value::Array(items) = x {
                            {
                                // A flat name/value list (Node's `rawHeaders`): the value after
                                // a sensitive header name is secret.
                                let mut after: Option<Sensitivity> = None;
                                let flags: Vec<Option<Sensitivity>> = items
                                    .iter()
                                    .map(|item| {
                                        let this = after.take();
                                        if let Value::String(name) = item {
                                            after = self.sensitivity(name);
                                        }
                                        this
                                    })
                                    .collect();
                                stack.extend(items.iter_mut().zip(flags));
                            }
                        }
                    }
                }
            }
        }
        count
    }

    /// Redacts one scalar (see [`Redactor::redact_value`]); `cards`: the card detector is on.
    fn leaf(
        &self,
        v: &mut Value,
        sensitive: Option<Sensitivity>,
        memo: &mut Option<&mut RedactMemo>,
        cards: bool,
    ) -> usize {
        match v {
            Value::String(s) => match sensitive {
                Some(how) if !how.spares(s) => {
                    if s.starts_with(MARKER_PREFIX) {
                        0
                    } else {
                        *s = sensitive_marker();
                        1
                    }
                }
                _ => match self.redact_str(s, memo) {
                    (Cow::Owned(new), n) => {
                        *s = new;
                        n
                    }
                    (Cow::Borrowed(_), _) => 0,
                },
            },
            Value::Number(n) => {
                let spared = sensitive.is_some_and(|how| how.spares(&n.to_string()));
                if sensitive.is_some() && !spared {
                    *v = Value::String(sensitive_marker());
                    1
                } else if cards
                    && n.as_u64()
                        .is_some_and(|x| x >= MIN_CARD_NUMBER && is_card_number(&x.to_string()))
                {
                    // `"card": 4111111111111111` — a card as a JSON number.
                    *v = Value::String(format!("{MARKER_PREFIX}credit_card]"));
                    1
                } else {
                    0
                }
            }
            Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => 0,
        }
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
/// How many values the memo holds at most: one per slot (bounded memory on a warm environment
/// that sees many distinct values). A power of two.
const MEMO_MAX_ENTRIES: usize = 4096;
/// Slots a memo starts with (a power of two); it grows fourfold, forgetting, each time half
/// its slots are taken, so a small batch does not pay for the full table.
const MEMO_FIRST_SLOTS: usize = 256;

/// A remembered redaction: the redacted text and how many secrets it replaced.
type Redacted = (Box<str>, usize);

/// Remembers what a `Redactor` made of short values it has seen. The values that leave the
/// pipeline unredacted-at-source (metric dimensions, trace annotations) repeat heavily —
/// `Service=orders-api` on every line — and a hash lookup costs a fraction of running the
/// detectors again. Redaction is a pure function of the value, so a hit is always right; a memo
/// handed another redactor forgets what the first one decided.
///
/// Direct-mapped: a value has one slot, picked by its hash, and a new value takes the slot over.
/// Most values a memo sees are never seen again (request ids, timestamps), and a slot reuses
/// its text's allocation, so remembering one costs no allocation, no rehash and no periodic
/// clearing, as a hash map did.
#[derive(Debug, Default, Clone)]
pub struct RedactMemo {
    /// `Redactor::id` of the redactor whose answers `seen` holds.
    owner: u64,
    /// A power of two of slots, up to `MEMO_MAX_ENTRIES`, once the first value is remembered.
    seen: Vec<MemoSlot>,
    /// How many slots hold a value.
    filled: usize,
    hasher: foldhash::fast::RandomState,
    /// How each key name matched a sensitive name.
    keys: std::collections::HashMap<Box<str>, Option<Sensitivity>, foldhash::fast::RandomState>,
}

/// One value a `RedactMemo` remembers.
#[derive(Debug, Default, Clone)]
struct MemoSlot {
    hash: u64,
    /// Empty in an unused slot (the empty string is never remembered).
    value: String,
    /// `None`: the value is clean. `Some`: its redacted text and how many secrets it held.
    answer: Option<Box<Redacted>>,
}

impl RedactMemo {
    pub fn new() -> RedactMemo {
        RedactMemo::default()
    }

    /// The slot for a value with this hash (its top bits: foldhash mixes those best); out of
    /// range while there are no slots.
    fn slot_of(&self, hash: u64) -> usize {
        hash.checked_shr(64 - self.seen.len().trailing_zeros())
            .unwrap_or(u64::MAX) as usize
    }

    /// [`Redactor::redact_counted`], answered from memory for values seen before.
    pub fn redact_counted<'a>(&mut self, redactor: &Redactor, s: &'a str) -> (Cow<'a, str>, usize) {
        if s.len() > MEMO_MAX_VALUE_BYTES || redactor.is_empty() {
            return redactor.redact_counted(s);
        }
        // Cheaper than the lookup, and keeps the memo for values worth remembering.
        if s.is_empty() {
            return (Cow::Borrowed(s), 0);
        }
        let (flags, c) = redactor.look(s.as_bytes());
        if s.len() < usize::from(c.least) {
            return (Cow::Borrowed(s), 0);
        }
        self.own(redactor);
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, s);
        if let Some(slot) = self.seen.get(self.slot_of(hash)) {
            // `s` is not empty, so an unused slot's empty text never matches.
            if slot.hash == hash && slot.value == s {
                return match slot.answer.as_deref() {
                    None => (Cow::Borrowed(s), 0),
                    Some((clean, n)) => (Cow::Owned(clean.to_string()), *n),
                };
            }
        }
        let hints = redactor.triage_runs(s.as_bytes(), flags, c.runs, c.detectors);
        let (out, n) = redactor.redact_triaged(s, hints, true, false);
        let size = self.seen.len();
        if size == 0 || (self.filled * 2 >= size && size < MEMO_MAX_ENTRIES) {
            let grown = (size * 4).clamp(MEMO_FIRST_SLOTS, MEMO_MAX_ENTRIES);
            self.seen = vec![MemoSlot::default(); grown];
            self.filled = 0;
        }
        let at = self.slot_of(hash);
        if let Some(slot) = self.seen.get_mut(at) {
            if slot.value.is_empty() {
                self.filled += 1;
            }
            slot.hash = hash;
            slot.value.clear();
            slot.value.push_str(s);
            slot.answer = match &out {
                Cow::Borrowed(_) => None,
                Cow::Owned(clean) => Some(Box::new((Box::from(clean.as_str()), n))),
            };
        }
        (out, n)
    }

    fn own(&mut self, redactor: &Redactor) {
        if self.owner != redactor.id {
            self.seen.clear();
            self.filled = 0;
            self.keys.clear();
            self.owner = redactor.id;
        }
    }

    /// [`Redactor::sensitivity`], answered from memory for key names seen before.
    fn sensitivity(&mut self, redactor: &Redactor, key: &str) -> Option<Sensitivity> {
        if key.len() > MEMO_MAX_VALUE_BYTES {
            return redactor.sensitivity(key);
        }
        self.own(redactor);
        if let Some(known) = self.keys.get(key) {
            return *known;
        }
        let how = redactor.sensitivity(key);
        if self.keys.len() >= MEMO_MAX_ENTRIES {
            self.keys.clear();
        }
        self.keys.insert(Box::from(key), how);
        how
    }

    pub fn len(&self) -> usize {
        self.filled
    }

    pub fn is_empty(&self) -> bool {
        self.filled == 0
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
        ("slack_token", "posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX now", &["T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"]),
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
        ("aws_session_token", "sts returned AgoJb3JpZ2luX2VjEHcaCXVzLWVhc3QtMSJHMEUCIQDrb9h/ImB/LK777pzNk8cL6j5IXAAjlsHUqJoUD+/Ydua/5ZMs1SWOpQaPRYp for role", &["AgoJb3JpZ2luX2VjEHcaCXVzLWVhc3QtMSJHMEUCIQDrb9h/ImB/LK777pzNk8cL6j5IXAAjlsHUqJoUD+/Ydua/5ZMs1SWOpQaPRYp"]),
        ("jwt", "id eyAiYWxnIjogIkhTMjU2IiwgInR5cCI6ICJKV1QiIH0.eyAic3ViIjogIjEyMzQ1Njc4OTAiIH0.ZAkg05rK-gqv81RKMGHZEM9YpvujA_C5Q52ryFlwRlO", &["eyAiYWxnIjogIkhTMjU2IiwgInR5cCI6ICJKV1QiIH0.eyAic3ViIjogIjEyMzQ1Njc4OTAiIH0.ZAkg05rK-gqv81RKMGHZEM9YpvujA_C5Q52ryFlwRlO"]),
        ("bearer_token", "Authorization: Bearer AbCdEfGhIjKlMnOpQrStUvWxYz", &["AbCdEfGhIjKlMnOpQrStUvWxYz"]),
        ("stripe_key", "charge with sk_live_gd1QsO7jprBGumXxY9B4bZWO, refund rk_live_87mTa5Vsqxezy3Lex7BWr2dr", &["sk_live_gd1QsO7jprBGumXxY9B4bZWO", "rk_live_87mTa5Vsqxezy3Lex7BWr2dr"]),
        ("google_api_key", "maps key=AIzaPtYgjmUhBel31iEl2hpChYgCfrL1spNxnyV&q=x", &["AIzaPtYgjmUhBel31iEl2hpChYgCfrL1spNxnyV"]),
        ("openai_key", "OPENAI_API_KEY=sk-proj-mihA_2O76UMFxFkM_R5Kjp1vRt-1fjORS_6ilI8ihN5KXSc7 and 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", &["sk-proj-mihA_2O76UMFxFkM_R5Kjp1vRt-1fjORS_6ilI8ihN5KXSc7", "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"]),
        ("sendgrid_key", "sg 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 ok", &["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"]),
        ("npm_token", "//registry.npmjs.org/:_authToken=npm_SI6bWHtP3fS2qHx6kwXoIIXGvOoNZYW2mZp0", &["npm_SI6bWHtP3fS2qHx6kwXoIIXGvOoNZYW2mZp0"]),
        ("private_key", "key: -----BEGIN RSA PRIVATE KEY-----\nzXRm/LYODo/xhGOw5LK6KXA0dPBkrGj3APWwKz3GZvRb3qosyu3NK1FXQQ5N7kry\ns09DCgc0R95jbA6AbJV7poTWQx+16tdCTQnhXQJMWEjyPR+m9zYdf2GNFTLnDiDi\npmaN5/R+hGflRtU+yOKhJXvbJWybPk+7SYFG73Awy/lTclLczq3XZLajL7sJrerh\nCcSplyA5dTUrh4sUXIpC2ITPTP0=\n-----END RSA PRIVATE KEY----- loaded", &["\nzXRm/LYODo/xhGOw5LK6KXA0dPBkrGj3APWwKz3GZvRb3qosyu3NK1FXQQ5N7kry\ns09DCgc0R95jbA6AbJV7poTWQx+16tdCTQnhXQJMWEjyPR+m9zYdf2GNFTLnDiDi\npmaN5/R+hGflRtU+yOKhJXvbJWybPk+7SYFG73Awy/lTclLczq3XZLajL7sJrerh\nCcSplyA5dTUrh4sUXIpC2ITPTP0=\n"]),
        ("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\\nzXRm/LYODo/xhGOw5LK6KXA0dPBkrGj3APWwKz3GZvRb3qosyu3NK1FXQQ5N7kry\\n", &["\\nzXRm/LYODo/xhGOw5LK6KXA0dPBkrGj3APWwKz3GZvRb3qosyu3NK1FXQQ5N7kry\\n"]),
        ("private_key", "s09DCgc0R95jbA6AbJV7poTWQx+16tdCTQnhXQJMWEjyPR+m9zYdf2GNFTLnDiDi", &["s09DCgc0R95jbA6AbJV7poTWQx+16tdCTQnhXQJMWEjyPR+m9zYdf2GNFTLnDiDi"]),
        ("private_key", "2024-01-15T12:30:45.123Z\tc6af9ac6\tINFO\tpmaN5/R+hGflRtU+yOKhJXvbJWybPk+7SYFG73Awy/lTclLczq3XZLajL7sJrerh\n", &["pmaN5/R+hGflRtU+yOKhJXvbJWybPk+7SYFG73Awy/lTclLczq3XZLajL7sJrerh"]),
        ("azure_key", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=py2OHV3ZJYkILYUqcSKHPugFrdWJQhZ6OFKGGVxnn5xplORbirEJgBIHCWHzfeQ23f3JnW51r2VHz7EbQgckgg==;EndpointSuffix=core.windows.net", &["py2OHV3ZJYkILYUqcSKHPugFrdWJQhZ6OFKGGVxnn5xplORbirEJgBIHCWHzfeQ23f3JnW51r2VHz7EbQgckgg=="]),
        ("url_signature", "GET /o?X-Amz-Date=20240115T000000Z&X-Amz-Signature=d512c9791e558e08baa7196b50ac2f86702824c1c099724caf4941d4072014b3 200", &["d512c9791e558e08baa7196b50ac2f86702824c1c099724caf4941d4072014b3"]),
        ("url_signature", "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=wOcZCX36hwHpIy8h8oEmh3hpduv8wyf1kxdlJ0upgps%3D", &["wOcZCX36hwHpIy8h8oEmh3hpduv8wyf1kxdlJ0upgps%3D"]),
        ("password_in_url", "postgres://app:pa/ss@db.example.com/app", &["pa/ss"]),
        ("password_in_url", "next=https%3A%2F%2Fadmin%3As3cr3t%40example.com%2Fx", &["s3cr3t"]),
        ("email", "GET /r?to=alice%40example.com&x=1", &["alice%40example.com"]),
        ("credit_card", "dots 4111.1111.1111.1111 and  spaced 5500  0000  0000  0004", &["4111.1111.1111.1111", "5500  0000  0000  0004"]),
        ("ssn", "ssn 536-22-1234 on file", &["536-22-1234"]),
        ("phone", "call +44 20 7946 0958 or (415) 555-0132 or 415.555.0132", &["+44 20 7946 0958", "(415) 555-0132", "415.555.0132"]),
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
        ("slack_token", "see https://hooks.slack.com/services/ and https://api.slack.com/messaging/webhooks"),
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
        ("aws_access_key", "role AROAY34FZKBOKMUTVV7A and user AIDAY34FZKBOKMUTVV7A"),
        ("bearer_token", "Missing bearer authentication header"),
        ("bearer_token", "expected Bearer Authentication"),
        ("email", "installed typescript@5.3.0-dev.ts"),
        ("email", "npm i @types/node@20.1.0.d.ts"),
        ("stripe_key", "sk_live_short pk_live_1234567890abcdef"),
        ("google_api_key", "AIzaShort"),
        ("openai_key", "task-proj-abc and sk-proj-short"),
        ("sendgrid_key", "SG.short.value"),
        ("npm_token", "npm_install_dependencies_for_the_project"),
        ("private_key", "-----BEGIN RSA PRIVATE KEY-----"),
        ("private_key", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----"),
        ("private_key", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("private_key", "sha256 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
        ("private_key", "request 4442587FB7D0A2F9 took 12ms"),
        ("private_key", "CcSplyA5dTUrh4sUXIpC2ITPTP0="),
        ("azure_key", "AccountName=acct;AccountKey=short"),
        ("url_signature", "signature=valid sig=1 X-Amz-SignedHeaders=host"),
        ("base64_json", "cursor=eyJsYXN0S2V5Ijp7InBrIjoib3JkZXIjNDIifSwibGltaXQiOjI1fQ=="),
        ("password_in_url", "https://registry.npmjs.org:443/@types/node"),
        ("credit_card", "pi 4111111111111.111 and 4111 1111-1111 1111"),
        ("ssn", "000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000"),
        ("ssn", "id 123-45-6789-01 and 1.123-45-6789"),
        ("phone", "phone +1 555 0100 at 2024-01-15 12:30:45 epoch 1705321845123"),
        ("phone", "v1.234.567.8901 and 555-0100 and +0000"),
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

    /// (text, what redacting its sensitive keys leaves) for the default names.
    const KEY_FORMS: &[(&str, &str)] = &[
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
        // Python and Ruby reprs.
        (
            "kwargs={'user': 'bob', 'password': 'hunter2'}",
            "kwargs={'user': 'bob', 'password': '[REDACTED:sensitive_key]'}",
        ),
        (
            "params={:password=>\"hunter2\", \"api_key\"=>\"k1\"}",
            "params={:password=>\"[REDACTED:sensitive_key]\", \"api_key\"=>\"[REDACTED:sensitive_key]\"}",
        ),
        (
            "<Login><User>bob</User><ns:Password type=\"x\">hunter2</ns:Password></Login>",
            "<Login><User>bob</User><ns:Password type=\"x\">[REDACTED:sensitive_key]</ns:Password></Login>",
        ),
        (
            "login failed, password: correct horse battery, user=bob",
            "login failed, password: [REDACTED:sensitive_key], user=bob",
        ),
        (
            "exec mysql --user app --password s3cret --host db",
            "exec mysql --user app --password [REDACTED:sensitive_key] --host db",
        ),
        (
            "exec tool --password --verbose",
            "exec tool --password --verbose",
        ),
        (
            "rawHeaders: [ 'Host', 'api', 'Authorization', 'Basic dXNlcjpwYXNz', 'Cookie', 'sid=1' ]",
            "rawHeaders: [ 'Host', 'api', 'Authorization', '[REDACTED:sensitive_key]', 'Cookie', '[REDACTED:sensitive_key]' ]",
        ),
        (
            "> GET / HTTP/1.1\n> cookie: sid=abc; theme=dark\n> Accept: */*",
            "> GET / HTTP/1.1\n> cookie: [REDACTED:sensitive_key]\n> Accept: */*",
        ),
        (
            "next=%2Flogin%3Fuser%3Dbob%26password%3Dhunter2",
            "next=%2Flogin%3Fuser%3Dbob%26password%3D[REDACTED:sensitive_key]",
        ),
        (
            "DB_PASS=pw1 secrets=abc tokens=t1 max_tokens=4096 PWD=/var/task nextToken=abc123def",
            "DB_PASS=[REDACTED:sensitive_key] secrets=[REDACTED:sensitive_key] tokens=[REDACTED:sensitive_key] max_tokens=4096 PWD=/var/task nextToken=abc123def",
        ),
        // JSON escaped inside a text line (a quoted logfmt value, a logged request body).
        (
            r#"request body="{\"user\":\"bob\",\"password\":\"hunter2\"}" status=401"#,
            r#"request body="{\"user\":\"bob\",\"password\":\"[REDACTED:sensitive_key]\"}" status=401"#,
        ),
        (
            r#"body={\"token\": \"abc123secret\", \"user\": \"bob\"}"#,
            r#"body={\"token\": \"[REDACTED:sensitive_key]\", \"user\": \"bob\"}"#,
        ),
        (
            r#"msg="login password=\"hunter2\" user=bob""#,
            r#"msg="login password=\"[REDACTED:sensitive_key]\" user=bob""#,
        ),
        // A quote left open (a line cut by a size cap) hides the value to the end of its
        // line, never past it.
        (
            "password=\"hunter2 and more\nnext line",
            "password=\"[REDACTED:sensitive_key]\nnext line",
        ),
        ("secret='hunter2", "secret='[REDACTED:sensitive_key]"),
        (
            "{\"token\":\"abc123 cut",
            "{\"token\":\"[REDACTED:sensitive_key]",
        ),
        ("password: \"hunter2", "password: \"[REDACTED:sensitive_key]"),
        // A bare value never takes the backslash that escapes a quote: redacting it
        // would close a quote a second pass then reads differently.
        ("\"token\":\" password= \\\"", "\"token\":\"[REDACTED:sensitive_key]"),
        (
            "\"token\":\"abc\nsecret=\\\"",
            "\"token\":\"[REDACTED:sensitive_key]\nsecret=\\\"",
        ),
        // Go's `%+v` and maps, and Python's bytes.
        (
            "request: &{Username:bob Password:s3cr3t Remember:true}",
            "request: &{Username:bob Password:[REDACTED:sensitive_key] Remember:true}",
        ),
        (
            "form: map[password:[s3cr3t] user:[bob]]",
            "form: map[password:[REDACTED:sensitive_key] user:[bob]]",
        ),
        (
            "{'password': b's3cr3t'}",
            "{'password': b'[REDACTED:sensitive_key]'}",
        ),
        // Form fields and PHP's print_r.
        (
            "user[password]=s3cr3t&user[email]=a",
            "user[password]=[REDACTED:sensitive_key]&user[email]=a",
        ),
        ("[password] => s3cr3t", "[password] => [REDACTED:sensitive_key]"),
        // A bracketed value goes whole, to its matching bracket on the line…
        (
            "\"credentials\":{\"secretAccessKey\":\"x\",\"region\":\"eu-west-1\"} ok",
            "\"credentials\":[REDACTED:sensitive_key] ok",
        ),
        ("password=[s3cr3t]", "password=[REDACTED:sensitive_key]"),
        (
            "{secret: {bob's s3cr3t}} after",
            "{secret: [REDACTED:sensitive_key]} after",
        ),
        (
            "{'password': 'a}b', 'user': 'bob'}",
            "{'password': '[REDACTED:sensitive_key]', 'user': 'bob'}",
        ),
        // …or to the end of the line when it is not closed there.
        ("token={a={b={s3cr3t\nnext", "token=[REDACTED:sensitive_key]\nnext"),
        // Counts under a plural name stay, as in JSON; anything else under it goes.
        (
            "\"tokens\": {\"input\": 10, \"output\": [2, 3]}",
            "\"tokens\": {\"input\": 10, \"output\": [2, 3]}",
        ),
        (
            "{ tokens: { input: 10, output: 20 } }",
            "{ tokens: { input: 10, output: 20 } }",
        ),
        ("tokens=[1, 2, abc]", "tokens=[REDACTED:sensitive_key]"),
        // SQL statements, as database statement logs record them.
        (
            "LOG:  statement: ALTER ROLE app WITH LOGIN PASSWORD 'it''s s3cr3t' VALID UNTIL 'infinity'",
            "LOG:  statement: ALTER ROLE app WITH LOGIN PASSWORD '[REDACTED:sensitive_key]' VALID UNTIL 'infinity'",
        ),
        (
            "CREATE USER 'bob'@'%' IDENTIFIED WITH caching_sha2_password BY 's3cr3t'",
            "CREATE USER 'bob'@'%' IDENTIFIED WITH caching_sha2_password BY '[REDACTED:sensitive_key]'",
        ),
        (
            "create user bob identified by 's3cr3t' password expire",
            "create user bob identified by '[REDACTED:sensitive_key]' password expire",
        ),
        // `key:v` is not a key after a `:` or `/` (an ARN's path).
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC",
        ),
    ];

    #[test]
    fn sensitive_keys_in_text() {
        let r = Redactor::new(&[], &[], &strings(DEFAULT_SENSITIVE_KEYS)).unwrap();
        for (input, want) in KEY_FORMS {
            let once = r.redact(input);
            assert_eq!(once, *want, "{input}");
            assert_eq!(r.redact(&once), once, "second pass of {input}");
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
            "secrets",
            "tokens",
            "passphrase",
            "credential",
            "DB_PASS",
            "dbPass",
            "cookies",
            "password_confirmation",
            "MYSQL_PWD",
            "ssn",
        ] {
            assert!(r.is_sensitive_key(k), "{k}");
        }
        for k in [
            "token_count",
            "passwordless",
            "secretsManagerArn",
            "user",
            "bypass",
            "compass",
            "lesson",
            "nextToken",
            "NextContinuationToken",
            "nextForwardToken",
            "pageToken",
        ] {
            assert!(!r.is_sensitive_key(k), "{k}");
        }
        // Plural names spare counts; `PWD` spares the working directory.
        assert!(!r.is_sensitive_value("total_tokens", "1234"));
        assert!(r.is_sensitive_value("tokens", "abc123"));
        assert!(!r.is_sensitive_value("PWD", "/var/task"));
        assert!(r.is_sensitive_value("PWD", "hunter2"));
        // A configured name as long as the exemption wins over it.
        let own = Redactor::new(&[], &[], &strings(&["token", "nextToken"])).unwrap();
        assert!(own.is_sensitive_key("nextToken"));
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
    fn base64_json_is_redacted_only_when_it_holds_a_secret() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("state=eyJ1c2VyIjoiYm9iIiwicGFzc3dvcmQiOiJodW50ZXIyIn0= next"),
            "state=[REDACTED:base64_json] next"
        );
        let benign = "cursor=eyJsYXN0S2V5Ijp7InBrIjoib3JkZXIjNDIifSwibGltaXQiOjI1fQ==";
        assert_eq!(r.redact(benign), benign);
    }

    #[test]
    fn json_numbers_keys_and_header_lists() {
        let r = Redactor::default();
        let m = "[REDACTED:sensitive_key]";
        let mut v = json!({
            "card": 4111111111111111u64,
            "ts": 1705321845123u64,
            "max_tokens": 4096,
            "tokens": ["t1", "t2"],
            "PWD": "/var/task",
            "alice@example.com": {"visits": 3},
            "bob@example.com": 1,
            "req": {"rawHeaders": ["Host", "api", "Authorization", "Basic dXNlcjpwYXNz", "Cookie", "sid=1"]}
        });
        let n = r.redact_value(&mut v);
        assert_eq!(
            v,
            json!({
                "card": "[REDACTED:credit_card]",
                "ts": 1705321845123u64,
                "max_tokens": 4096,
                "tokens": [m, m],
                "PWD": "/var/task",
                "[REDACTED:email]": {"visits": 3},
                "[REDACTED:email] (2)": 1,
                "req": {"rawHeaders": ["Host", "api", "Authorization", m, "Cookie", m]}
            })
        );
        assert_eq!(n, 7);
        let mut top = serde_json::Map::new();
        top.insert("carol@example.com".into(), json!("x"));
        top.insert("password".into(), json!("hunter2"));
        assert_eq!(r.redact_map(&mut top), 2);
        assert_eq!(top.get("[REDACTED:email]"), Some(&json!("x")));
        assert_eq!(top.get("password"), Some(&json!(m)));
    }

    /// Every detector stays linear: a ~110 KB string of candidates that all fail validation
    /// (the shape that made the old e-mail retry loop take seconds). The bound only catches a
    /// stall; the release figure is measured separately.
    #[test]
    fn hostile_rejected_candidates_stay_linear() {
        let r = all();
        for unit in [
            "a@b.c-",
            "x.y@1.2.3.4 ",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.io",
            "4111 1111 1111 1112 ",
            "+1 555 01 ",
            "123-45-0000-",
            "Bearer authentication ",
            "eyJhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg ",
            "https://h:8080/p@",
            "%40a.bc%40",
            "password={",
            " token:[\"",
            "\"secret\":{'",
        ] {
            let text = unit.repeat(110_000 / unit.len());
            let start = std::time::Instant::now();
            let _ = r.redact_counted(&text);
            eprintln!(
                "hostile {unit:?} x{}: {:?}",
                text.len() / unit.len(),
                start.elapsed()
            );
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "{unit:?} took {:?}",
                start.elapsed()
            );
        }
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

    /// What a custom pattern needs of a string: its shortest match, and the flags shared by
    /// every literal a match can start with (none when those literals are unbounded).
    #[test]
    fn custom_needs_table() {
        let cases: &[(&str, usize, u32)] = &[
            (r"EMP-\d{6}", 10, UPPER | DASH),
            // `p`, `i`, `n`: `n` is past `f`.
            (r"pin=(?P<secret>\d{4})", 8, EQ | NONHEX),
            (r"T-[0-9]+", 3, UPPER | DASH | DIGIT),
            // Case-insensitive: `emp` and `EMP` share no case flag.
            (r"(?i)emp-\d+", 5, DASH),
            // Alternatives share only what both bring (`\d` is Unicode's, too large a class to
            // spell out, so no digit is part of either literal).
            (r"acct_\d{4}|ACCT-\d{4}", 9, 0),
            (r"acct_\d{4}|acct-\d{4}", 9, NONHEX),
            // A class first: no bounded literal, so no flag (the length still counts).
            (r"\w+@corp\.example", 14, 0),
            // Non-ASCII: its bytes carry no flag the table reads.
            (r"clé-\d", 6, DASH | NONHEX),
            (r"\bID:\s*\d{3}", 6, UPPER | COLON),
        ];
        for &(pattern, min, all) in cases {
            let n = custom_needs(pattern);
            assert_eq!((n.min, n.all), (min, all), "{pattern}");
            assert_eq!((n.any, n.runs), (0, 0), "{pattern}");
        }
    }

    /// The custom detectors of `custom_needs_never_change_the_result`, alone and among the
    /// built-ins: built once, as compiling them per case was most of the test's time.
    fn custom_redactors() -> &'static [Redactor; 2] {
        static REDACTORS: OnceLock<[Redactor; 2]> = OnceLock::new();
        REDACTORS.get_or_init(|| {
            let custom: Vec<CustomDetector> = [
                ("employee_id", r"EMP-\d{6}"),
                ("pin", r"pin=(?P<secret>\d{4})"),
                ("ticket", r"T-[0-9]+"),
                ("emp_any_case", r"(?i)emp-\d+"),
                ("account", r"acct_\d{4}|ACCT-\d{4}"),
                ("corp_mail", r"\w+@corp\.example"),
                ("accented", r"clé-\d"),
                ("id_field", r"\bID:\s*\d{3}"),
            ]
            .iter()
            .map(|(name, pattern)| CustomDetector {
                name: (*name).into(),
                pattern: (*pattern).into(),
            })
            .collect();
            [
                Redactor::new(&[], &custom, &[]).unwrap(),
                Redactor::new(&strings(Redactor::BUILTIN), &custom, &[]).unwrap(),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Custom detectors' requirements are necessary conditions only: gated and ungated
        /// runs agree on text built from their matches, near misses and case variants, alone
        /// and among the built-in detectors.
        #[test]
        fn custom_needs_never_change_the_result(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "EMP-123456", "emp-123456", "EMP-12345", "EMP123456", "Emp-7",
                        "pin=0042", "PIN=0042", "T-1", "t-1", "acct_1234", "ACCT-1234",
                        "ACCT_1234", "x@corp.example", "clé-1", "cle-1", "ID: 123", "ID:1234",
                    ].into_iter().map(String::from).collect::<Vec<_>>()),
                    "[ :=@._\\-0-9a-zA-Z]{0,12}",
                ],
                0..6,
            ),
            sep in proptest::sample::select(vec!["", " ", "=", "-", "\n"]),
        ) {
            let text = parts.join(sep);
            for r in custom_redactors() {
                proptest::prop_assert_eq!(r.redact_impl(&text, true), r.redact_impl(&text, false));
            }
        }
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

    /// The candidate table only answers "clean" where nothing can be found: every planted secret
    /// gets past it, for every redactor that detects it, and values that are plainly clean
    /// do not.
    #[test]
    fn the_candidate_table_lets_every_secret_through() {
        let r = all();
        for (name, text, _) in POSITIVES {
            assert!(!r.certainly_clean(text.as_bytes()), "{name}: {text}");
            let own = Redactor::new(&strings(&[name]), &[], &[]).unwrap();
            assert!(
                !own.certainly_clean(text.as_bytes()),
                "{name} alone: {text}"
            );
        }
        let custom = Redactor::new(
            &[],
            &[CustomDetector {
                name: "ticket".into(),
                pattern: "T-[0-9]+".into(),
            }],
            &[],
        )
        .unwrap();
        assert!(
            !custom.certainly_clean(b"T-1"),
            "a custom pattern's shortest match gets past the table"
        );
        assert!(
            custom.certainly_clean(b"t-1") && custom.certainly_clean(b"T1"),
            "strings without the flags of `T-` are skipped"
        );
        // With the default sensitive keys, `-`, `=`, `:`… may start `password=…` text, so
        // only values without those forms are skipped.
        for clean in [
            "INFO",
            "orders.api",
            "orders-api",
            "/checkout",
            "GET",
            "true",
        ] {
            assert!(
                Redactor::default().certainly_clean(clean.as_bytes()),
                "{clean}"
            );
        }
        assert!(!Redactor::default().certainly_clean(b"pw=x"));
    }

    /// One case of `lazy_hints_open_the_same_gates_as_full_hints`.
    fn lazy_agrees(r: &Redactor, text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let bytes = text.as_bytes();
        let with_keyword = |mut h: Hints| {
            h.keyword =
                h.wants_keyword && r.keyword_gate.as_ref().is_some_and(|g| g.is_match(text));
            if h.keyword {
                h.flags |= KEYWORD;
            }
            h
        };
        let full = with_keyword(r.triage_all(bytes));
        let lazy = r.triage(bytes).map(with_keyword);
        for (i, d) in r.detectors.iter().enumerate() {
            let want = d.gate(&full, bytes);
            let got = lazy
                .as_ref()
                .is_some_and(|h| h.candidates >> i & 1 != 0 && d.gate(h, bytes));
            proptest::prop_assert_eq!(got, want, "{} on {:?}", d.label, text);
        }
        // The sensitive-key text search reads the keyword.
        let forms = EQ | COLON | LT | COMMA | PCT | DASH;
        let searched = |h: &Hints| h.flags & forms != 0 && h.keyword;
        if r.sensitive.is_some() {
            proptest::prop_assert_eq!(lazy.as_ref().is_some_and(searched), searched(&full));
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The prefilters are necessary conditions only: gated and ungated runs agree, on text
        /// built from secret fragments, near misses and punctuation.
        /// The lazy triage (only the candidates' runs counted) lets exactly the gates through
        /// that the full scan does, so each detector's `runs` names every run its gate reads.
        #[test]
        fn lazy_hints_open_the_same_gates_as_full_hints(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(POSITIVES.iter().map(|p| p.1.to_string()).collect::<Vec<_>>()),
                    proptest::sample::select(NEGATIVES.iter().map(|p| p.1.to_string()).collect::<Vec<_>>()),
                    proptest::sample::select(KEY_FORMS.iter().map(|p| p.0.to_string()).collect::<Vec<_>>()),
                    "[ :=@./\"'\\-_&;,%<\n0-9a-fA-FxoKEYſ]{0,24}",
                ],
                0..6,
            ),
            sep in proptest::sample::select(vec!["", " ", "=", ":", "\n", "-"]),
        ) {
            let text = parts.join(sep);
            // Alone, each detector's runs must stand on their own (together, another's may
            // cover for a missing one).
            let alone = Redactor::BUILTIN
                .iter()
                .map(|name| Redactor::new(&strings(&[name]), &[], &[]).unwrap());
            for r in std::iter::once(all()).chain(alone) {
                lazy_agrees(&r, &text)?;
            }
        }

        #[test]
        fn gates_never_change_the_result(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::Just(POSITIVES[0].1.to_string()),
                    proptest::sample::select(POSITIVES.iter().map(|p| p.1.to_string()).collect::<Vec<_>>()),
                    proptest::sample::select(NEGATIVES.iter().map(|p| p.1.to_string()).collect::<Vec<_>>()),
                    proptest::sample::select(KEY_FORMS.iter().map(|p| p.0.to_string()).collect::<Vec<_>>()),
                    "[ :=@./\"'\\-_&;,\n0-9a-fA-FxoKEY{}\\[\\]]{0,16}",
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

    proptest::proptest! {
        /// The table-driven card run counts as the plain rule does: digits, with up to three
        /// separators between two digits, capped at `CARD_RUN_CAP`.
        #[test]
        fn card_run_table_counts_as_the_rule(s in "[0-9 .()a-]{0,40}") {
            let (mut card, mut seps, mut best) = (0usize, 0u8, 0usize);
            for b in s.bytes() {
                if b.is_ascii_digit() {
                    card += 1;
                    seps = 0;
                    best = best.max(card);
                } else if matches!(b, b' ' | b'-' | b'.' | b'(' | b')') && card > 0 && seps < 3 {
                    seps += 1;
                } else {
                    card = 0;
                    seps = 0;
                }
            }
            let want = best.min(usize::from(CARD_RUN_CAP));
            proptest::prop_assert_eq!(Hints::scan(s.as_bytes()).card_run, want);
        }
    }

    /// The gates tightened for speed (session tokens, PEM lines, the keyword letter run, flag
    /// and length requirements): each row redacts gated exactly as ungated, and finds what it
    /// should, also with only the one detector on (its keyword gate must then exist).
    #[test]
    fn tightened_gates_table() {
        let pem = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
        let cases: &[(&str, &str, bool)] = &[
            (
                "aws_session_token",
                "FwoGZXIvYXdzEBYaDHhBTEXAMPLEtokenABCDEFGH",
                true,
            ),
            (
                "aws_session_token",
                "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH",
                true,
            ),
            (
                "aws_session_token",
                "x-amz-security-token: abcdefgh12345678ijkl",
                true,
            ),
            (
                "aws_session_token",
                "session_token abcdefgh12345678ijkl",
                true,
            ),
            // Case folding: the long s matches `s`, so the anchor is still found.
            (
                "aws_session_token",
                "ſession_token=abcdefgh12345678ijkl",
                true,
            ),
            (
                "aws_session_token",
                "1-6553f100-27cd5f9ec8c694ccf55540b2",
                false,
            ),
            (
                "aws_session_token",
                "6553f1003c821fbf59108163a7ff0d38",
                false,
            ),
            ("private_key", pem, true),
            ("private_key", &pem[..63], false),
            (
                "private_key",
                "71c18690ee42c90b6553f10027cd5f9ec8c694ccf55540b2abcdefabcdef0123",
                false,
            ),
            (
                "private_key",
                "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
                true,
            ),
            ("api_key", "2023-11-14T22:13:20.026Z", false),
            ("api_key", "apikey: 9f8e7d6c5b4a", true),
            ("api_key", "\u{212A}EY=9f8e7d6c5b4a", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "v1.2.3", false),
            ("email", "user%40example.com", true),
            ("email", "orders.api", false),
            ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", true),
            // Hex ids and UUIDs hold no letter past `f`: no literal search runs on them.
            (
                "slack_token",
                "xoxb-1234567890-1234567890123-AbCdEfGh",
                true,
            ),
            ("slack_token", "6775dc77-0156-4f61-9afc-d44d14cf8bfe", false),
            (
                "slack_token",
                "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                true,
            ),
            (
                "openai_key",
                "k=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",
                true,
            ),
            (
                "github_token",
                "pat github_pat_11ABCDEFG0123456789_abcdefghij!",
                true,
            ),
            ("password_in_url", "redis://:pw123456@cache:6379", true),
            ("password_in_url", "https://example.com:8443/orders", false),
            // IPv4 needs three dots; IPv6 needs `::` or six colons (a timestamp has two).
            ("ipv4", "latency 20.026 of 1.5", false),
            ("ipv6", "2023-11-14T22:13:20.026Z", false),
            ("ipv6", "from fe80::1ff:fe23:4567:890a here", true),
            ("ipv6", "2001:0db8:0000:0000:0000:ff00:0042:8329", true),
            ("ipv6", "a:b:c:d:e:1", false),
            // `NONHEX` is lower case only: upper-case literals keep their own gates.
            ("jwt", "2023-11-14T22:13:20.026Z", false),
            // UUIDs' digit groups are long card runs, but not in the SSN's or a phone's shape.
            ("ssn", "38849506-1eb0-6ce1-6c38-537a931e49d7", false),
            ("ssn", "id 123-45-6789.", true),
            ("phone", "14d323b3-6034-9383-984f-0a99b753d18c", false),
            ("phone", "call (415) 555-0132 now", true),
            ("phone", "call +44 20 7946 0958", true),
            ("aws_access_key", "AKIAIOSFODNN7EXAMPLE", true),
            ("aws_access_key", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", false),
            (
                "private_key",
                "-----BEGIN PRIVATE KEY-----\\nABC\\n-----END PRIVATE KEY-----",
                true,
            ),
            (
                "sendgrid_key",
                "SG.WTDDB-XHKAS1VOQG6YYZYN.9ZHYIA4UORGNATMUDJAWTGSU8PO-799NKSNRH9UCAUS",
                true,
            ),
        ];
        for (name, text, found) in cases {
            let text = text.replace("\\n", "\n").replace("\\u{212A}", "\u{212A}");
            for r in [all(), Redactor::new(&strings(&[name]), &[], &[]).unwrap()] {
                let gated = r.redact_impl(&text, true);
                assert_eq!(gated, r.redact_impl(&text, false), "{name}: {text}");
                assert_eq!(gated.1 > 0, *found, "{name}: {text} -> {}", gated.0);
            }
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
