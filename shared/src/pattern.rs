//! The CloudWatch Logs filter-pattern language (terms, `%regex%`, JSON `{…}`, space-delimited
//! `[…]`), compiled once into a matcher that also exposes the values a metric filter extracts.
//!
//! STUB: only empty / match-all and plain AND-ed terms are implemented here.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A compile error pointing at the offending column (1-based, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct PatternError {
    pub column: usize,
    pub message: String,
}

/// What a pattern is matched against: the raw message, and its JSON object when it has one.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput<'a> {
    pub message: &'a str,
    pub json: Option<&'a Map<String, Value>>,
}

/// The values a match exposes, keyed as TestMetricFilter shows them: `$name` for space-delimited
/// fields, `$.path` for JSON selectors used by the pattern.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub extracted: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    MatchAll,
    Terms,
    Regex,
    Json,
    Delimited,
}

/// A compiled filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    source: String,
    terms: Vec<String>,
}

impl FilterPattern {
    pub fn compile(source: &str) -> Result<FilterPattern, PatternError> {
        let terms = source
            .split_whitespace()
            .map(|t| t.trim_matches('"').to_string())
            .filter(|t| !t.is_empty())
            .collect();
        Ok(FilterPattern {
            source: source.to_string(),
            terms,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn kind(&self) -> PatternKind {
        if self.terms.is_empty() {
            PatternKind::MatchAll
        } else {
            PatternKind::Terms
        }
    }

    /// True for patterns that match every event (`""`, `" "`): callers skip matching entirely.
    pub fn is_match_all(&self) -> bool {
        self.kind() == PatternKind::MatchAll
    }

    /// Whether the event matches, without building the extracted values.
    pub fn is_match(&self, input: &MatchInput<'_>) -> bool {
        self.terms
            .iter()
            .all(|t| input.message.contains(t.as_str()))
    }

    /// Whether the event matches, with the values a metric filter would extract.
    pub fn matches(&self, input: &MatchInput<'_>) -> Option<Match> {
        self.is_match(input).then(Match::default)
    }
}
