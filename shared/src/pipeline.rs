//! The pipeline. (being written)
