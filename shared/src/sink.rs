//! Sinks: where metrics and segments go. (being written)
