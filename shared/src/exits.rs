//! Redaction at the pipeline's exits that the value alone cannot decide: a value read from a
//! field path naming a sensitive key (`$.password`, `$.headers.Authorization`) is replaced whole,
//! and source names (log group, log stream) pass through the redactor before they become a
//! segment name, segment metadata, a `FunctionName` dimension or record metadata.
//!
//! Whether a path names a sensitive key is a property of the config, so it is decided once at
//! load (`path_is_sensitive`) and applied in both pipeline modes: with records, whole-record
//! redaction has already replaced such values and the mask is a no-op; without records, the
//! exits would otherwise see only `hunter2`, which no value detector recognises.

use std::borrow::Cow;

use serde_json::Value;

use crate::record::{FieldPath, PathSegment};
use crate::redact::{Redactor, MARKER_PREFIX};

/// What a value under a sensitive key becomes: `MARKER_PREFIX` + `SENSITIVE_KEY_LABEL` + `]`, the
/// same text whole-record redaction writes (a unit test ties them together).
pub const SENSITIVE_MARKER: &str = "[REDACTED:sensitive_key]";

/// Whether any key the path walks through is a sensitive key name: record redaction replaces
/// every scalar below such a key, so the value the path reads is secret.
pub fn path_is_sensitive(path: &FieldPath, redactor: &Redactor) -> bool {
    path.segments()
        .iter()
        .any(|s| matches!(s, PathSegment::Key(k) if redactor.is_sensitive_key(k)))
}

/// Whether a `$name` of a space-delimited pattern (or a subscription filter's extracted field)
/// names a sensitive key; whole-record redaction treats extracted fields' names that way.
pub fn name_is_sensitive(name: &str, redactor: &Redactor) -> bool {
    redactor.is_sensitive_key(name.strip_prefix('$').unwrap_or(name))
}

/// A scalar read from a sensitive path, as dimension or annotation text: what whole-record
/// redaction leaves there. Strings and numbers become the marker (an earlier marker is kept as
/// it is), booleans stay (record redaction keeps them: `"is_secret": false` holds none), null,
/// arrays and objects give `None` (not a scalar). The flag tells whether a secret was replaced.
pub fn masked_scalar_text(v: &Value) -> Option<(Cow<'_, str>, bool)> {
    match v {
        Value::String(s) if s.starts_with(MARKER_PREFIX) => Some((Cow::Borrowed(s), false)),
        Value::String(_) | Value::Number(_) => Some((Cow::Borrowed(SENSITIVE_MARKER), true)),
        Value::Bool(b) => Some((Cow::Owned(b.to_string()), false)),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Replaces every string and number inside `v` with the marker, as record redaction does below a
/// sensitive key (booleans and nulls stay; earlier markers are kept). Returns how many were
/// replaced. Walks with an explicit stack: nesting depth cannot overflow the call stack.
pub fn mask_value(v: &mut Value) -> usize {
    let mut count = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.starts_with(MARKER_PREFIX) => {}
            Value::String(_) | Value::Number(_) => {
                *v = Value::String(SENSITIVE_MARKER.to_string());
                count += 1;
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::Object(m) => stack.extend(m.values_mut()),
            Value::Null | Value::Bool(_) => {}
        }
    }
    count
}

/// A source name (log group, log stream) with its secrets replaced: names are chosen by whoever
/// creates the group or stream and may carry an e-mail address or a token.
pub fn redact_name<'a>(name: &'a str, redactor: Option<&Redactor>) -> Cow<'a, str> {
    match redactor {
        Some(r) => r.redact(name),
        None => Cow::Borrowed(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::SENSITIVE_KEY_LABEL;
    use serde_json::json;

    #[test]
    fn marker_is_what_record_redaction_writes() {
        assert_eq!(
            SENSITIVE_MARKER,
            format!("{MARKER_PREFIX}{SENSITIVE_KEY_LABEL}]")
        );
        let r = Redactor::default();
        let mut v = json!({"password": "hunter2"});
        r.redact_value(&mut v);
        assert_eq!(v["password"], SENSITIVE_MARKER);
    }

    #[test]
    fn paths_through_a_sensitive_key_are_sensitive() {
        let r = Redactor::default();
        for (path, want) in [
            ("$.password", true),
            ("$.headers.Authorization", true),
            ("$.db.password", true),
            ("$.credentials.user", true),
            ("$.token[0]", true),
            ("$['x-api-key']", true),
            ("$.user", false),
            ("$.headers.host", false),
            ("$.password_policy", false),
            ("$.tokens[0]", true),
            ("$.bypass", false),
        ] {
            let p = FieldPath::parse(path).unwrap();
            assert_eq!(path_is_sensitive(&p, &r), want, "{path}");
        }
        assert!(name_is_sensitive("$password", &r));
        assert!(name_is_sensitive("session_token", &r));
        assert!(!name_is_sensitive("$user", &r));
        let none = Redactor::none();
        let p = FieldPath::parse("$.password").unwrap();
        assert!(!path_is_sensitive(&p, &none));
    }

    /// The mask must leave exactly what record redaction leaves below a sensitive key, or the
    /// two pipeline modes would send different values.
    #[test]
    fn mask_matches_record_redaction_below_a_sensitive_key() {
        let r = Redactor::default();
        let inner = json!({
            "a": "hunter2", "n": 1234, "f": 1.5, "b": true, "z": null,
            "list": ["x", 2, false, {"deep": "s3cret"}],
            "kept": "[REDACTED:email]"
        });
        let mut by_record = json!({ "password": inner.clone() });
        r.redact_value(&mut by_record);
        let mut masked = inner;
        let n = mask_value(&mut masked);
        assert_eq!(by_record["password"], masked);
        assert_eq!(n, 6);
        for v in [json!("x"), json!(7), json!(true), json!("[REDACTED:jwt]")] {
            let mut rec = json!({ "password": v.clone() });
            r.redact_value(&mut rec);
            let (text, _) = masked_scalar_text(&v).unwrap();
            assert_eq!(crate::record::scalar_text(&rec["password"]).unwrap(), text);
        }
        assert!(masked_scalar_text(&json!(null)).is_none());
        assert!(masked_scalar_text(&json!([1])).is_none());
    }

    #[test]
    fn names_lose_their_secrets() {
        let r = Redactor::default();
        let got = redact_name("/aws/lambda/orders-alice@example.com", Some(&r));
        assert_eq!(got, "/aws/lambda/[REDACTED:email]");
        let got = redact_name(
            "2026/11/30/[$LATEST]ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            Some(&r),
        );
        assert_eq!(got, "2026/11/30/[$LATEST][REDACTED:github_token]");
        assert_eq!(
            redact_name("/aws/lambda/orders", Some(&r)),
            "/aws/lambda/orders"
        );
        assert_eq!(redact_name("a@b.io", None), "a@b.io");
    }
}
