//! The error every config `validate()` returns: which key, what is wrong, and (filled in by
//! `config` from the TOML parser's spans when it knows the source text) where.

/// A configuration error naming the offending key, e.g. `metrics.rule[2].filter_pattern`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{key}: {message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub key: String,
    pub message: String,
    pub line: Option<usize>,
    /// The bytes of the config text the error is about, as the TOML parser located them.
    pub span: Option<std::ops::Range<usize>>,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
            line: None,
            span: None,
        }
    }
}
