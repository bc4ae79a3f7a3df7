//! Configuration. (being written)
