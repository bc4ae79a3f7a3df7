//! Standard output for bulk writes (records, whole JSON documents).
//!
//! `io::stdout()` is line-buffered whatever it is connected to: every buffer handed to it is
//! searched for its last newline and the text after it copied again. A profile of `process`
//! put that at ~3% of the run. Writing to the descriptor itself through one large buffer skips
//! both; output that must appear line by line as it happens (`tail`) keeps `io::stdout()`.

use std::io::{self, BufWriter, Write};

/// Buffer size for bulk output: a few records' worth per `write` call.
const BULK_BUFFER_BYTES: usize = 64 * 1024;

/// A buffered writer to standard output that bypasses its line buffering (on Unix; elsewhere,
/// or when the descriptor cannot be duplicated, `io::stdout()` buffered the same way). Flush it
/// before exiting; nothing else may write to standard output meanwhile.
pub fn bulk() -> BufWriter<Box<dyn Write>> {
    BufWriter::with_capacity(BULK_BUFFER_BYTES, raw())
}

#[cfg(unix)]
fn raw() -> Box<dyn Write> {
    use std::os::fd::AsFd;
    match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(io::stdout()),
    }
}

#[cfg(not(unix))]
fn raw() -> Box<dyn Write> {
    Box::new(io::stdout())
}
