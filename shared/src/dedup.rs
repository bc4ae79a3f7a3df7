//! Recognising a subscription batch delivered again: a bounded memory of the fingerprints of
//! batches this execution environment finished, so a redelivery is skipped instead of counted
//! twice.
//!
//! Lambda retries a failed asynchronous invocation (twice by default) with the same event
//! <https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html>, and CloudWatch Logs
//! delivers at least once. A retry usually lands in the environment that failed, but not
//! always: one that lands in another environment is not recognised here.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::record::Batch;

/// Fingerprints kept by default: a few minutes of traffic for a busy environment (Lambda's
/// retries come after about one and three minutes), about 300 KB with typical names.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What identifies one delivered batch. CloudWatch Logs event ids are unique within a log
/// group, so the first and last id with the count name the batch; the subscription filters
/// are part of it because two filters sending the same events to one function are two
/// deliveries the user asked for, not a retry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    owner: String,
    log_group: String,
    log_stream: String,
    subscription_filters: Vec<String>,
    first_id: String,
    last_id: String,
    events: usize,
}

impl Fingerprint {
    /// `None` for a batch that cannot be told apart from another (no events, or an event
    /// without an id): such a batch is always processed.
    pub fn of(batch: &Batch) -> Option<Fingerprint> {
        let first = batch.events.first()?;
        let last = batch.events.last()?;
        if first.id.is_empty() || last.id.is_empty() {
            return None;
        }
        let s = &batch.source;
        Some(Fingerprint {
            owner: s.owner.clone(),
            log_group: s.log_group.clone(),
            log_stream: s.log_stream.clone(),
            subscription_filters: s.subscription_filters.clone(),
            first_id: first.id.clone(),
            last_id: last.id.clone(),
            events: batch.events.len(),
        })
    }
}

/// The fingerprints of the last `capacity` batches remembered, oldest forgotten first.
#[derive(Debug, Default)]
pub struct RecentBatches {
    capacity: usize,
    order: VecDeque<Arc<Fingerprint>>,
    set: HashSet<Arc<Fingerprint>>,
}

impl RecentBatches {
    /// A memory of at most `capacity` batches; 0 remembers nothing (duplicates are processed).
    pub fn new(capacity: usize) -> RecentBatches {
        RecentBatches {
            capacity,
            order: VecDeque::with_capacity(capacity.min(DEFAULT_CAPACITY)),
            set: HashSet::with_capacity(capacity.min(DEFAULT_CAPACITY)),
        }
    }

    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.set.contains(fingerprint)
    }

    /// Remembers a batch that was processed *and* whose invocation succeeded: one that failed
    /// is retried by Lambda and must be processed again then.
    pub fn remember(&mut self, fingerprint: Fingerprint) {
        if self.capacity == 0 || self.set.contains(&fingerprint) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        let fingerprint = Arc::new(fingerprint);
        self.order.push_back(Arc::clone(&fingerprint));
        self.set.insert(fingerprint);
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogEvent, Source};

    fn batch(stream: &str, ids: &[&str]) -> Batch {
        Batch {
            source: Arc::new(Source {
                owner: "123456789012".into(),
                log_group: "/aws/lambda/shop".into(),
                log_stream: stream.into(),
                subscription_filters: vec!["all".into()],
                ..Source::default()
            }),
            events: ids
                .iter()
                .map(|id| LogEvent {
                    id: id.to_string(),
                    message: "m".into(),
                    ..LogEvent::default()
                })
                .collect(),
        }
    }

    fn fp(stream: &str, ids: &[&str]) -> Fingerprint {
        Fingerprint::of(&batch(stream, ids)).unwrap()
    }

    #[test]
    fn each_part_of_the_fingerprint_tells_batches_apart() {
        let base = batch("s", &["1", "2", "3"]);
        let same = Fingerprint::of(&base).unwrap();
        let mut variants = Vec::new();
        for change in 0..6 {
            let mut b = base.clone();
            let mut s = (*b.source).clone();
            match change {
                0 => s.owner = "210987654321".into(),
                1 => s.log_group = "/aws/lambda/other".into(),
                2 => s.log_stream = "t".into(),
                3 => s.subscription_filters = vec!["errors".into()],
                4 => b.events.truncate(2),
                _ => b.events.remove(1).id.clear(),
            }
            b.source = Arc::new(s);
            variants.push(Fingerprint::of(&b).unwrap());
        }
        let mut recent = RecentBatches::new(16);
        recent.remember(same.clone());
        for (i, v) in variants.iter().enumerate() {
            assert!(
                !recent.contains(v),
                "variant {i} taken for the remembered batch"
            );
        }
        assert!(recent.contains(&same));
        // The middle events are not compared: a redelivery is the same events by construction.
        assert!(recent.contains(&fp("s", &["1", "x", "3"])));
    }

    #[test]
    fn batches_that_cannot_be_identified_have_no_fingerprint() {
        assert_eq!(Fingerprint::of(&batch("s", &[])), None);
        assert_eq!(Fingerprint::of(&batch("s", &["", "2"])), None);
        assert_eq!(Fingerprint::of(&batch("s", &["1", ""])), None);
    }

    #[test]
    fn the_oldest_is_forgotten_at_capacity() {
        let mut recent = RecentBatches::new(3);
        for i in 0..5 {
            recent.remember(fp("s", &[&i.to_string()]));
        }
        assert_eq!(recent.len(), 3);
        let kept: Vec<bool> = (0..5)
            .map(|i| recent.contains(&fp("s", &[&i.to_string()])))
            .collect();
        assert_eq!(kept, [false, false, true, true, true]);
        // Remembering one already there takes no second slot.
        recent.remember(fp("s", &["4"]));
        recent.remember(fp("s", &["5"]));
        assert!(!recent.contains(&fp("s", &["2"])) && recent.contains(&fp("s", &["3"])));
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let mut recent = RecentBatches::new(0);
        recent.remember(fp("s", &["1"]));
        assert!(recent.is_empty());
        assert!(!recent.contains(&fp("s", &["1"])));
    }
}
