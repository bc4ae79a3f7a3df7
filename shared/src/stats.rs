//! Named counters every stage adds to, so each skipped event, dropped value or fallback is counted
//! and reported instead of lost silently.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters keyed by `stage.reason` (e.g. `decode.control_message`, `metrics.cardinality_overflow`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Counters(BTreeMap<String, u64>);

impl Counters {
    pub fn new() -> Counters {
        Counters::default()
    }

    pub fn incr(&mut self, key: &str) {
        self.add(key, 1);
    }

    pub fn add(&mut self, key: &str, n: u64) {
        if n == 0 {
            return;
        }
        match self.0.get_mut(key) {
            Some(v) => *v += n,
            None => {
                self.0.insert(key.to_string(), n);
            }
        }
    }

    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_merge_get() {
        let mut a = Counters::new();
        a.incr("x");
        a.add("y", 0);
        let mut b = Counters::new();
        b.add("x", 2);
        b.incr("z");
        a.merge(&b);
        assert_eq!(a.get("x"), 3);
        assert_eq!(a.get("y"), 0);
        assert_eq!(a.get("z"), 1);
        assert_eq!(a.iter().count(), 2);
    }
}
