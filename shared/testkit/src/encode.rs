//! Build the payloads AWS sends (padded base64 of gzip of the JSON), for tests, benches and
//! fixtures; the functions only ever decode them.

use std::io::Write;

use base64::Engine;

/// gzip of `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Standard padded base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `{"awslogs":{"data":…}}` for a CloudWatch Logs document.
pub fn subscription_event(document: &str) -> String {
    format!(
        "{{\"awslogs\":{{\"data\":\"{}\"}}}}",
        b64(&gzip(document.as_bytes()))
    )
}
