//! Planted-secrets and benign corpora: every planted secret must be gone after redaction, and
//! benign operational values (trace ids, request ids, digests, timestamps…) must be untouched —
//! through the redactor directly and through `logsieve process`.
//!
//! `planted.jsonl`: one entry per line, `id` (unique), `class` (the secret shape it plants),
//! `text` (one log event), `secrets` (every value that must not survive), and `structured`
//! when only the JSON walk can see the secret (a nested object under a sensitive key).

use logsieve::redact::{Redactor, DEFAULT_SENSITIVE_KEYS, MARKER_PREFIX};
use proptest::prelude::*;
use serde_json::Value;

fn corpus(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/../tests/fixtures/secrets/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn all_builtins() -> Redactor {
    static CELL: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    CELL.get_or_init(build_all_builtins).clone()
}

fn build_all_builtins() -> Redactor {
    let names: Vec<String> = Redactor::BUILTIN.iter().map(|s| s.to_string()).collect();
    let keys: Vec<String> = DEFAULT_SENSITIVE_KEYS
        .iter()
        .map(|s| s.to_string())
        .collect();
    Redactor::new(&names, &[], &keys).unwrap()
}

#[test]
fn planted_entries_have_unique_ids_and_classes() {
    let lines = corpus("planted.jsonl");
    let mut ids = std::collections::BTreeSet::new();
    let mut classes = std::collections::BTreeSet::new();
    for line in &lines {
        let id = line["id"].as_str().unwrap();
        assert!(ids.insert(id), "duplicate id {id}");
        classes.insert(line["class"].as_str().unwrap().to_string());
        for s in strs(line, "secrets") {
            assert!(line["text"].as_str().unwrap().contains(&s), "{id}: {s}");
        }
    }
    // The classes issue 21 lists, plus the ones the corpus started with.
    assert!(classes.len() >= 50, "{} classes", classes.len());
    eprintln!(
        "planted corpus: {} entries, {} classes",
        lines.len(),
        classes.len()
    );
}

#[test]
fn no_planted_secret_survives() {
    let lines = corpus("planted.jsonl");
    assert!(lines.len() >= 30);
    for r in [Redactor::default(), all_builtins()] {
        for line in &lines {
            if line["structured"] == true {
                continue;
            }
            let text = line["text"].as_str().unwrap();
            let secrets = strs(line, "secrets");
            assert!(!secrets.is_empty());
            let (out, n) = r.redact_counted(text);
            assert!(n >= 1, "nothing found in {text}");
            for s in &secrets {
                assert!(!out.contains(s.as_str()), "secret {s:?} survived: {out}");
            }
            // Idempotent: a second pass finds nothing new.
            assert_eq!(r.redact(&out), out, "second pass changed {out}");
        }
    }
}

#[test]
fn planted_secrets_in_json_values_are_redacted_too() {
    // The same texts as JSON string values and, where the text is JSON, as parsed objects.
    let r = Redactor::default();
    for line in corpus("planted.jsonl") {
        let text = line["text"].as_str().unwrap();
        if line["structured"] == true {
            // Only the parsed form can be checked: the raw text hides the value in a nested
            // object.
            let mut v: Value = serde_json::from_str(text).unwrap();
            assert!(r.redact_value(&mut v) >= 1);
            let out = v.to_string();
            for s in strs(&line, "secrets") {
                assert!(!out.contains(&s), "secret {s:?} survived: {out}");
            }
            continue;
        }
        let mut v = serde_json::json!({ "message": text });
        if let Ok(parsed) = serde_json::from_str::<Value>(text) {
            v["parsed"] = parsed;
        }
        assert!(r.redact_value(&mut v) >= 1);
        let out = v.to_string();
        for s in strs(&line, "secrets") {
            // Compare against the JSON-escaped form, as that is how it would appear in `out`.
            let escaped = serde_json::to_string(&s).unwrap();
            let inner = &escaped[1..escaped.len() - 1];
            assert!(!out.contains(inner), "secret {s:?} survived: {out}");
        }
    }
}

#[test]
fn benign_values_are_untouched_by_default() {
    let lines = corpus("benign.jsonl");
    assert!(lines.len() >= 20);
    let r = Redactor::default();
    for line in &lines {
        let text = line["text"].as_str().unwrap();
        let out = r.redact(text);
        assert_eq!(out, text, "false positive");
        let mut v: Value = serde_json::from_str(text).unwrap_or(Value::String(text.into()));
        let before = v.clone();
        assert_eq!(r.redact_value(&mut v), 0);
        assert_eq!(v, before);
    }
}

#[test]
fn benign_values_with_ip_detectors_lose_only_the_ips() {
    let r = all_builtins();
    for line in corpus("benign.jsonl") {
        let text = line["text"].as_str().unwrap();
        let mut want = text.to_string();
        for ip in strs(&line, "ips") {
            let label = if ip.contains(':') { "ipv6" } else { "ipv4" };
            want = want.replacen(&ip, &format!("[REDACTED:{label}]"), 1);
        }
        assert_eq!(r.redact(text), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Hostile text (punctuation-heavy, planted fragments, any Unicode) never panics, is
    /// idempotent, and only grows by whole markers: removing the markers from the output leaves
    /// text no longer than the input.
    #[test]
    fn redact_is_idempotent_and_bounded(
        parts in prop::collection::vec(
            prop_oneof![
                Just("AKIAIOSFODNN7EXAMPLE".to_string()),
                Just("password=".to_string()),
                Just("\"token\":\"".to_string()),
                Just("https://u:p@h".to_string()),
                Just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx.sig".to_string()),
                Just("4111 1111 1111 1111".to_string()),
                Just("a@b.io".to_string()),
                Just("Bearer ".to_string()),
                Just("[REDACTED:".to_string()),
                Just("map[secret:".to_string()),
                Just("b'".to_string()),
                "[ :=@./\"'\\-_&;,\n0-9a-fA-F{}\\[\\]]{0,12}",
                "\\PC{0,8}",
            ],
            0..24,
        )
    ) {
        let r = all_builtins();
        // Glued fragments never panic and stay bounded (checked below on `spaced` too).
        let glued: String = parts.concat();
        let (g, _) = r.redact_counted(&glued);
        prop_assert!(g.len() <= glued.len() + 32 * (glued.len() + 1));
        // A replacement can change how its neighbours read (`…siga@b.ioa@b.io`); redaction
        // passes until nothing changes, so glued text is stable under a second pass too.
        prop_assert_eq!(r.redact(&g), g.clone());
        let text = parts.join(" ");
        let (once, n) = r.redact_counted(&text);
        let twice = r.redact(&once);
        prop_assert_eq!(&twice, &once);
        let markers = once.matches(MARKER_PREFIX).count();
        prop_assert!(markers >= n);
        let mut stripped = once.to_string();
        for name in Redactor::BUILTIN.iter().copied().chain(["sensitive_key"]) {
            stripped = stripped.replace(&format!("[REDACTED:{name}]"), "");
        }
        prop_assert!(stripped.len() <= text.len());
        // A planted key standing as its own word never survives, whatever surrounds it.
        prop_assert!(!once.contains("AKIAIOSFODNN7EXAMPLE"));
    }
}

#[test]
fn hostile_inputs_finish_and_stay_bounded() {
    // Punctuation floods and near-miss repetitions that make naive scanners retry everywhere.
    let r = all_builtins();
    let unit_cases: &[&str] = &[
        "a@",
        "1 ",
        ":",
        "=",
        "eyJ.",
        "password=",
        "4111-",
        "1.1.1.",
        "::1:",
        "AKIA",
        "https://u:p@",
        "x\"token\":\"",
        "é@ü.",
    ];
    for unit in unit_cases {
        let text = unit.repeat(200_000 / unit.len());
        let start = std::time::Instant::now();
        let (out, _) = r.redact_counted(&text);
        // Each replacement removes at least one byte and adds a marker of bounded length.
        assert!(out.len() <= text.len() * 32 + 64, "{unit}");
        // Generous even for a debug build on a loaded machine; a quadratic scan takes minutes.
        assert!(
            start.elapsed().as_secs() < 20,
            "{unit:?} took {:?}",
            start.elapsed()
        );
    }
}

/// A CloudWatch Logs document (already decoded) with one event per corpus text.
fn document(texts: &[&str]) -> String {
    let events: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "id": format!("{i:056}"),
                "timestamp": 1_700_000_000_000u64 + i as u64,
                "message": t,
            })
        })
        .collect();
    serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/corpus/app",
        "logStream": "app/main/1",
        "subscriptionFilters": ["logsieve"],
        "logEvents": events,
    })
    .to_string()
}

/// `logsieve process` with the built-in default config (no `--config`), in both metric sinks;
/// returns stdout.
fn process(doc: &str, sink: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "logsieve-corpus-{}-{sink}-{}",
        std::process::id(),
        doc.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("doc.json");
    std::fs::write(&path, doc).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(["process", path.to_str().unwrap()])
        .env_remove("LOGSIEVE_CONFIG")
        .env("LOGSIEVE_METRICS_SINK", sink)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every 16-byte window of a long secret (a PEM line cut in two must not survive either); short
/// secrets whole.
fn fragments(secret: &str) -> Vec<&str> {
    if secret.len() < 24 || !secret.is_ascii() {
        return vec![secret];
    }
    (0..=secret.len() - 16)
        .map(|i| &secret[i..i + 16])
        .collect()
}

#[test]
fn cli_output_holds_no_planted_secret_and_leaves_benign_text_alone() {
    let planted = corpus("planted.jsonl");
    let texts: Vec<&str> = planted
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    let doc = document(&texts);
    for sink in ["cloudwatch", "emf"] {
        let out = process(&doc, sink);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["stats"]["events"], planted.len());
        assert_eq!(v["records"].as_array().unwrap().len(), planted.len());
        // Records, metrics, segments and stats: the whole output, raw (JSON escapes included)
        // and with escapes undone.
        let unescaped = out.replace("\\n", "\n").replace("\\\"", "\"");
        for line in &planted {
            for s in strs(line, "secrets") {
                for f in fragments(&s) {
                    assert!(
                        !out.contains(f) && !unescaped.contains(f),
                        "{sink}: {}: {f:?} of {s:?} leaked",
                        line["id"]
                    );
                }
            }
        }
    }
    let benign = corpus("benign.jsonl");
    let texts: Vec<&str> = benign.iter().map(|l| l["text"].as_str().unwrap()).collect();
    let out = process(&document(&texts), "cloudwatch");
    assert!(!out.contains(MARKER_PREFIX), "benign text redacted: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["stats"]["counters"].get("select.redacted").is_none());
}
