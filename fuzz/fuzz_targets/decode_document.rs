//! Arbitrary bytes as the decompressed CloudWatch Logs document, wrapped the way AWS sends it
//! (gzip, base64, `{"awslogs":{"data":…}}`), so the fuzzer explores documents and events rather
//! than spending its time on base64 and gzip framing.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use logsieve::decode::{decode_input, DecodeError, DecodeLimits};
use logsieve_testkit::encode;

fuzz_target!(|data: &[u8]| {
    // The hand-written reader of the usual document answers nothing or what serde_json does.
    assert!(logsieve::decode::envelope_agrees_with_serde(data));
    let limits = DecodeLimits {
        max_decompressed_bytes: 1 << 20,
    };
    let event = format!(
        "{{\"awslogs\":{{\"data\":\"{}\"}}}}",
        encode::b64(&encode::gzip(data))
    );
    match decode_input(event.as_bytes(), &limits) {
        Ok(decoded) => {
            // The envelope is always well-formed: only the document can fail.
            if let Some(e) = decoded.first_error() {
                assert!(
                    matches!(
                        e,
                        DecodeError::InvalidDocument(_) | DecodeError::TooLarge { .. }
                    ),
                    "{e}"
                );
            }
            common::run_pipeline(decoded);
        }
        Err(e) => panic!("well-formed envelope rejected: {e}"),
    }
});
