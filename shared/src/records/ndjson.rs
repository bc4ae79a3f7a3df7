//! Output records as newline-delimited JSON: Firehose PutRecordBatch entries, S3 objects with
//! deterministic keys, and the spill objects `logsieve redrive` reads back. Pure: bytes and keys
//! only.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{BatchSpan, BucketPrefix, OutputRecord, SinkKind};

/// PutRecordBatch limits (https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html):
/// at most 500 records and 4 MiB per call, each record's data at most 1,000 KiB.
pub const FIREHOSE_MAX_BATCH_RECORDS: usize = 500;
pub const FIREHOSE_MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
pub const FIREHOSE_MAX_RECORD_BYTES: usize = 1_024_000;
/// Largest spill object `redrive` inflates: far above what one invocation can spill (a 1 MB
/// Lambda event inflates to at most the decode cap), and a bound against a planted bomb.
pub const MAX_SPILL_INFLATED_BYTES: usize = 256 * 1024 * 1024;
/// The spill format's version, in each section header.
pub const SPILL_VERSION: u32 = 1;

/// One Firehose record: its data, and the output records (indices) it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseEntry {
    pub records: Vec<usize>,
    pub data: Vec<u8>,
}

/// The entries of one PutRecordBatch call.
pub type FirehoseBatch = Vec<FirehoseEntry>;

/// Splits `indices` into PutRecordBatch calls within the API's limits: one line per entry, or
/// with `pack` as many lines per entry as fit in `FIREHOSE_MAX_RECORD_BYTES`. Records whose line
/// alone is over that cannot be sent at all: they come back in the second list (the caller
/// spills them so they are not lost; `fields.max_record_bytes` prevents them).
pub fn firehose_batches(
    records: &[OutputRecord],
    indices: impl IntoIterator<Item = usize>,
    pack: bool,
) -> (Vec<FirehoseBatch>, Vec<usize>) {
    let mut entries: Vec<FirehoseEntry> = Vec::new();
    let mut oversized = Vec::new();
    for i in indices {
        let Some(r) = records.get(i) else { continue };
        let data = r.line();
        if data.len() > FIREHOSE_MAX_RECORD_BYTES {
            oversized.push(i);
            continue;
        }
        match entries.last_mut() {
            Some(e) if pack && e.data.len() + data.len() <= FIREHOSE_MAX_RECORD_BYTES => {
                e.data.extend_from_slice(&data);
                e.records.push(i);
            }
            _ => entries.push(FirehoseEntry {
                records: vec![i],
                data,
            }),
        }
    }
    let mut batches = Vec::new();
    let mut current: FirehoseBatch = Vec::new();
    let mut bytes = 0;
    for e in entries {
        if current.len() == FIREHOSE_MAX_BATCH_RECORDS
            || bytes + e.data.len() > FIREHOSE_MAX_BATCH_BYTES
        {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += e.data.len();
        current.push(e);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    (batches, oversized)
}

/// Gzip of the records' lines at `level` (0-9).
pub fn gzip_lines<'a>(records: impl IntoIterator<Item = &'a OutputRecord>, level: u32) -> Vec<u8> {
    let mut gz = gzip_writer(Compression::new(level.min(9)));
    for r in records {
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(r.json().as_bytes());
        let _ = gz.write_all(b"\n");
    }
    gzip_finish(gz)
}

/// Input the compressor is handed at a time. A record's line is a few hundred bytes, and each
/// write to the encoder is a call into deflate: buffering them measured 8% less time per
/// object at level 6 and 15–25% at level 1 (zlib-rs, 1,000-record objects).
const GZIP_INPUT_BYTES: usize = 64 * 1024;

fn gzip_writer(level: Compression) -> std::io::BufWriter<GzEncoder<Vec<u8>>> {
    std::io::BufWriter::with_capacity(GZIP_INPUT_BYTES, GzEncoder::new(Vec::new(), level))
}

fn gzip_finish(gz: std::io::BufWriter<GzEncoder<Vec<u8>>>) -> Vec<u8> {
    // Writing to a Vec cannot fail, so neither can the last flush.
    gz.into_inner()
        .ok()
        .and_then(|gz| gz.finish().ok())
        .unwrap_or_default()
}

/// Hex of a stable 64-bit hash of a set of records: their log group, stream and event ids. A
/// retried invocation computes the same, so its objects overwrite instead of duplicating.
pub fn records_hash<'a>(
    parts: impl IntoIterator<Item = (&'a str, &'a str, &'a OutputRecord)>,
) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (group, stream, r) in parts {
        for piece in [group, stream, r.id()] {
            h.update(piece.as_bytes());
            h.update(&[0]);
        }
        h.update(&r.timestamp().to_le_bytes());
    }
    format!("{:016x}", h.digest())
}

/// `yyyy/mm/dd/HH` (UTC) of an epoch-milliseconds time.
pub fn hour_path(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let (y, m, d) = civil_date(secs.div_euclid(86_400));
    let h = secs.rem_euclid(86_400) / 3600;
    format!("{y:04}/{m:02}/{d:02}/{h:02}")
}

/// Days since 1970-01-01 → UTC (year, month, day): Howard Hinnant's `civil_from_days`
/// (https://howardhinnant.github.io/date_algorithms.html#civil_from_days), exact over the whole
/// proleptic Gregorian calendar, so any `i64` timestamp names an hour without a date crate.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The S3 sink's object for one batch: key
/// `prefix/<log group>/yyyy/mm/dd/HH/<hash>.ndjson.gz` (hour of the batch's first event) and the
/// lines gzip'd at `gzip_level`. The key names the records, not the level: a retry under a
/// changed config overwrites the object it replaces.
pub fn s3_object(
    location: &BucketPrefix,
    records: &[OutputRecord],
    span: &BatchSpan,
    gzip_level: u32,
) -> (String, Vec<u8>) {
    let slice = records.get(span.start..span.end).unwrap_or(&[]);
    let first = slice.first().map_or(0, OutputRecord::timestamp);
    let hash = records_hash(
        slice
            .iter()
            .map(|r| (span.log_group.as_str(), span.log_stream.as_str(), r)),
    );
    let group = span.log_group.trim_start_matches('/');
    let key = join_key(&[
        &location.prefix,
        group,
        &hour_path(first),
        &format!("{hash}.ndjson.gz"),
    ]);
    (key, gzip_lines(slice, gzip_level))
}

fn join_key(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// The header line of a spill section: which sink the records were meant for and the batch
/// they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpillHeader {
    pub version: u32,
    pub sink: String,
    pub kind: String,
    #[serde(rename = "logGroup")]
    pub log_group: String,
    #[serde(rename = "logStream")]
    pub log_stream: String,
    #[serde(default)]
    pub owner: String,
}

/// Records of one batch that one sink did not take.
#[derive(Debug, Clone, PartialEq)]
pub struct SpillSection {
    pub header: SpillHeader,
    pub records: Vec<OutputRecord>,
}

impl SpillSection {
    pub fn new(
        sink: &str,
        kind: SinkKind,
        span: &BatchSpan,
        records: Vec<OutputRecord>,
    ) -> SpillSection {
        SpillSection {
            header: SpillHeader {
                version: SPILL_VERSION,
                sink: sink.to_string(),
                kind: kind.as_str().to_string(),
                log_group: span.log_group.clone(),
                log_stream: span.log_stream.clone(),
                owner: span.owner.clone(),
            },
            records,
        }
    }

    /// The span these records form on their own (for re-encoding them).
    pub fn span(&self) -> BatchSpan {
        BatchSpan {
            log_group: self.header.log_group.clone(),
            log_stream: self.header.log_stream.clone(),
            owner: self.header.owner.clone(),
            // Not kept in a spill object: a redriven record's resource has no tag attributes.
            tags: Default::default(),
            start: 0,
            end: self.records.len(),
        }
    }
}

/// A sink's spill object for one invocation: key `prefix/<sink>/yyyy/mm/dd/HH/<hash>.ndjson.gz`
/// (hour of the first record, hash of every record), and gzip'd NDJSON where each section is a
/// `{"@spill": header}` line followed by its records.
pub fn spill_object(
    location: &BucketPrefix,
    sink: &str,
    sections: &[SpillSection],
) -> (String, Vec<u8>) {
    let first = sections
        .iter()
        .flat_map(|s| s.records.first())
        .next()
        .map_or(0, OutputRecord::timestamp);
    let hash = records_hash(sections.iter().flat_map(|s| {
        s.records
            .iter()
            .map(move |r| (s.header.log_group.as_str(), s.header.log_stream.as_str(), r))
    }));
    let key = join_key(&[
        &location.prefix,
        sink,
        &hour_path(first),
        &format!("{hash}.ndjson.gz"),
    ]);
    (key, spill_body(sections))
}

/// The gzip'd NDJSON of spill sections: each a `{"@spill": header}` line, then its records.
pub fn spill_body(sections: &[SpillSection]) -> Vec<u8> {
    // Spill objects are read back once, by `redrive`: the default level.
    let mut gz = gzip_writer(Compression::default());
    for s in sections {
        let header = serde_json::json!({ "@spill": &s.header });
        let _ = serde_json::to_writer(&mut gz, &header);
        let _ = gz.write_all(b"\n");
        for r in &s.records {
            let _ = gz.write_all(r.json().as_bytes());
            let _ = gz.write_all(b"\n");
        }
    }
    gzip_finish(gz)
}

/// Why a spill object could not be read back.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpillError {
    #[error("not a gzip'd spill object: {0}")]
    Inflate(String),
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("line {line}: a record before any `@spill` header")]
    NoHeader { line: usize },
    #[error("spill format version {0} is newer than this logsieve reads ({SPILL_VERSION})")]
    Version(u32),
}

/// Reads a spill object back into its sections.
pub fn read_spill(gzipped: &[u8]) -> Result<Vec<SpillSection>, SpillError> {
    let text = crate::decode::gunzip_capped(gzipped, MAX_SPILL_INFLATED_BYTES)
        .map_err(|e| SpillError::Inflate(e.to_string()))?;
    let mut sections: Vec<SpillSection> = Vec::new();
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = n + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut value: Map<String, Value> =
            serde_json::from_slice(raw).map_err(|e| SpillError::Line {
                line,
                reason: e.to_string(),
            })?;
        if let Some(h) = value.remove("@spill") {
            let header: SpillHeader = serde_json::from_value(h).map_err(|e| SpillError::Line {
                line,
                reason: e.to_string(),
            })?;
            if header.version > SPILL_VERSION {
                return Err(SpillError::Version(header.version));
            }
            sections.push(SpillSection {
                header,
                records: Vec::new(),
            });
            continue;
        }
        match sections.last_mut() {
            Some(s) => s.records.push(OutputRecord::from_map(&value)),
            None => return Err(SpillError::NoHeader { line }),
        }
    }
    Ok(sections)
}
