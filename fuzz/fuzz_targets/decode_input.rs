//! Arbitrary bytes as the Lambda event: decode, then the whole pipeline.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use logsieve::decode::{decode_input, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_decompressed_bytes: 1 << 20,
    };
    if let Ok(decoded) = decode_input(data, &limits) {
        common::run_pipeline(decoded);
    }
});
