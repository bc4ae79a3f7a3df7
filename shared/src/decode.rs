//! Decoding of subscription payloads. (being written)
