//! The one list of counter keys: every key any stage counts under (`Counters::incr`/`add`), as a
//! named constant with its meaning, grouped by stage, plus the keys built at run time (a records
//! sink's name, an error kind) as patterns with a builder. The README's counter table is
//! rendered from [`ALL`] ([`counters_markdown`]), and tests keep the README equal to it and fail
//! on a key spelled out at a call site instead of taken from here.
//!
//! The key strings are a contract (the summary line, `logsieve process` output, tests, docs and
//! dashboards read them): rename a constant freely, never its text.

/// One registered key and what it counts. A key built at run time shows its variable parts as
/// `<placeholder>` (`records.<sink>.sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterKey {
    pub key: &'static str,
    pub meaning: &'static str,
}

impl CounterKey {
    /// Whether the key has run-time parts (`<sink>`, `<kind>`…).
    pub fn is_pattern(&self) -> bool {
        self.key.contains('<')
    }
}

/// Defines each stage's module of constants (and builders) and [`ALL`] from one list, so a
/// constant cannot exist without its entry in the table, nor the other way round.
macro_rules! registry {
    ($(
        $(#[doc = $stage_doc:literal])*
        mod $stage:ident {
            $( const $name:ident = $key:literal, $meaning:literal; )*
            $( pattern $pkey:literal, $pmeaning:literal; )*
            $( build { $( $builder:item )* } )?
        }
    )*) => {
        $(
            $(#[doc = $stage_doc])*
            pub mod $stage {
                $( #[doc = $meaning] pub const $name: &str = $key; )*
                $( $( $builder )* )?
            }
        )*

        /// Every counter key, grouped by stage in pipeline order.
        pub const ALL: &[CounterKey] = &[
            $(
                $( CounterKey { key: $key, meaning: $meaning }, )*
                $( CounterKey { key: $pkey, meaning: $pmeaning }, )*
            )*
        ];
    };
}

registry! {
    /// Decoding the Lambda event and the CloudWatch Logs documents in it.
    mod decode {
        const CONTROL_MESSAGE = "decode.control_message",
            "`CONTROL_MESSAGE` documents (CloudWatch Logs' reachability check), read as an empty batch.";
        const MISSING_LOG_GROUP = "decode.missing_log_group",
            "Documents without `logGroup`; their events are kept with an empty log group.";
        const ERROR_EMPTY = "decode.error.empty",
            "Payloads that were empty or only whitespace.";
        const ERROR_INVALID_EVENT_JSON = "decode.error.invalid_event_json",
            "Lambda events that were not valid JSON.";
        const ERROR_UNKNOWN_SHAPE = "decode.error.unknown_shape",
            "Events that are neither a subscription, Kinesis, Firehose event nor a CloudWatch Logs document.";
        const ERROR_NOT_A_STRING = "decode.error.not_a_string",
            "Events whose data member (`awslogs.data`, a record's `data`) is not a string.";
        const ERROR_BASE64 = "decode.error.base64",
            "Payloads or records with invalid base64.";
        const ERROR_NOT_GZIP = "decode.error.not_gzip",
            "Payloads or records that are neither gzip nor JSON.";
        const ERROR_GZIP = "decode.error.gzip",
            "Payloads or records with corrupt or truncated gzip.";
        const ERROR_TOO_LARGE = "decode.error.too_large",
            "Payloads or records over `decode.max_decompressed_bytes` once decompressed.";
        const ERROR_INVALID_DOCUMENT = "decode.error.invalid_document",
            "Decompressed payloads that are not a CloudWatch Logs document.";
        const EVENT_SKIPPED_INVALID = "decode.event_skipped.invalid",
            "Log events skipped: not a JSON object with the expected members.";
        const EVENT_SKIPPED_BAD_TIMESTAMP = "decode.event_skipped.bad_timestamp",
            "Log events skipped: timestamp missing, not numeric or out of range.";
        const IGNORED_AWSLOGS = "decode.ignored_part.awslogs",
            "Events with an `awslogs` member that another member's shape overruled (never read).";
        const IGNORED_KINESIS_RECORDS = "decode.ignored_part.Records",
            "Events with a Kinesis `Records` member that another member's shape overruled (never read).";
        const IGNORED_FIREHOSE_RECORDS = "decode.ignored_part.records",
            "Events with a Firehose `records` member that another member's shape overruled (never read).";
        const IGNORED_DOCUMENT = "decode.ignored_part.logEvents",
            "Events with `logEvents`/`messageType` members that another member's shape overruled (never read).";
    }

    /// How the work was done, where a rise is a cost rather than a loss.
    mod perf {
        const ENVELOPE_FALLBACK = "perf.envelope_fallback",
            "Documents the hand-written envelope reader handed to serde_json (a second parse; a rise means AWS changed the document's shape).";
    }

    /// Which batches and records the driver processes at all.
    mod driver {
        const OWN_LOG_GROUP_EVENTS = "loop_guard.own_log_group_events",
            "Events skipped because their batch came from the function's own log group (it would feed on its own output); also counted as dropped.";
        const KINESIS_REJECTED = "kinesis.rejected_records",
            "Kinesis records that can never be decoded (not base64, not gzip, not a CloudWatch Logs document): kept in the invocation's log, not retried.";
        const KINESIS_RETRY = "kinesis.retried_after_budget",
            "Kinesis records not started before the invocation's processing deadline: reported as batch item failures, so Lambda delivers them again.";
        const FIREHOSE_RESPONSE_FULL = "firehose.response_size_exceeded",
            "Firehose records answered `ProcessingFailed` because the response would pass 6 MB.";
        const BUDGET_EVENTS_SKIPPED = "budget.events_skipped",
            "Events not started because the invocation's processing deadline had passed; also counted as dropped.";
    }

    /// Which `[[profile]]` a batch's log group chose (none: the top-level settings).
    mod profile {
        pattern "profile.<name>.batches", "Batches processed with this profile's settings.";
        pattern "profile.<name>.events", "Log events of those batches (before multiline joining).";

        build {
            pub fn batches(name: &str) -> String {
                format!("profile.{name}.batches")
            }
            pub fn events(name: &str) -> String {
                format!("profile.{name}.events")
            }
        }
    }

    /// Joining the lines of one multi-line message (a split stack trace) back into one event.
    mod multiline {
        const JOINED = "multiline.joined",
            "Joined events written, each made of two or more log events (output records carry `@joined`).";
        const EVENTS_MERGED = "multiline.events_merged",
            "Log events appended to an earlier event of their stream (not output on their own; not dropped).";
        const CUT_MAX_LINES = "multiline.cut_max_lines",
            "Joined events cut at `multiline.max_lines`; the rest of the message starts a new event.";
        const CUT_MAX_BYTES = "multiline.cut_max_bytes",
            "Joined events cut at `multiline.max_bytes`; the rest of the message starts a new event.";
        const FLUSHED_AT_BATCH_END = "multiline.flushed_at_batch_end",
            "Events still open when their batch ended, written as they were (the next batch may hold the rest; it is not joined across batches).";
    }

    /// Recognising a batch delivered again to the same execution environment (a retry).
    mod dedup {
        const BATCHES_SKIPPED = "dedup.batches_skipped",
            "Batches skipped because this execution environment already processed the same batch (same owner, log group, stream, subscription filters, first and last event id and event count) in an invocation that succeeded.";
        const EVENTS_SKIPPED = "dedup.events_skipped",
            "Events of those batches; also counted as dropped.";
    }

    /// Looking up the tags of the Lambda function and log group behind a batch (`$tags.<key>`).
    mod tags {
        const HIT = "tags.hit",
            "Log groups whose tags came from the cache without a lookup (fresh, or within the 30 s back-off after a failed lookup).";
        const MISS = "tags.miss",
            "Log groups looked up for the first time in this execution environment.";
        const REFRESHED = "tags.refreshed",
            "Cached tags looked up again after their time to live and replaced.";
        const STALE_KEPT = "tags.stale_kept",
            "Lookups that failed, were throttled or ran out of time while older tags were cached: the older tags were used.";
        const ERROR = "tags.error",
            "Tag lookups that failed (other than throttling); the batch used the cached tags, or none.";
        const THROTTLED = "tags.throttled",
            "Tag lookups refused with a throttling error; the batch used the cached tags, or none.";
        const TIMED_OUT = "tags.timed_out",
            "Tag lookups not finished within the time budget (`LOGSIEVE_TAGS_BUDGET_MS`); the batch used the cached tags, or none, and the lookup is not waited for again.";
    }

    /// Parsing each log event into a record: one count per event, by the format it was read as.
    mod parse {
        const JSON = "parse.json", "Events parsed as a JSON object.";
        const LAMBDA_JSON_PLATFORM = "parse.lambda_json_platform",
            "Events parsed as Lambda platform events in the JSON log format (`platform.report`…).";
        const LAMBDA_JSON_APP = "parse.lambda_json_app",
            "Events parsed as application lines in Lambda's JSON log format.";
        const LAMBDA_TEXT = "parse.lambda_text",
            "Events parsed as Lambda platform lines in the text format (`START`, `END`, `REPORT`).";
        const LAMBDA_TEXT_APP = "parse.lambda_text_app",
            "Events parsed as application lines of Lambda's text format (timestamp, request id, level).";
        const KEY_VALUE = "parse.key_value", "Events parsed as `key=value` pairs.";
        const ACCESS_LOG = "parse.access_log", "Events parsed as an access log line.";
        const CLOUDTRAIL = "parse.cloudtrail",
            "Events recognised as CloudTrail records (`@format` = `cloudtrail`).";
        const TEXT = "parse.text", "Events kept as plain text (no structure recognised).";
        const INVALID_JSON = "parse.invalid_json",
            "Events that started with `{` but were not a valid JSON object (kept as text).";
        const MALFORMED_PLATFORM_LINE = "parse.malformed_platform_line",
            "Lines that looked like a Lambda platform line but whose fields did not parse.";
    }

    /// Selecting, redacting and capping the fields of output records.
    mod select {
        const REDACTED = "select.redacted",
            "Values replaced by a redaction marker (records, metric dimensions, trace annotations and metadata).";
        const TRUNCATED_VALUES = "select.truncated_values",
            "String values shortened to `fields.max_value_bytes`.";
        const RECORD_CAP_DROPPED_FIELDS = "select.record_cap_dropped_fields",
            "Fields removed because the record exceeded `fields.max_record_bytes`.";
        const RECORDS_CAPPED = "select.records_capped",
            "Records that needed fields removed to fit `fields.max_record_bytes`.";
        const RECORDS_OVER_CAP = "select.records_over_cap",
            "Records still over `fields.max_record_bytes` with only metadata left (metadata is never dropped).";
        const METADATA_COLLISIONS = "select.metadata_collisions",
            "Fields named like a metadata key (`@timestamp`…) left out so the metadata stays true.";
        const RENAME_COLLISIONS = "select.rename_collisions",
            "Fields replaced by a rename target, or by a tag from `fields.add`, of the same name.";
    }

    /// Which records leave, and what each records sink did with them.
    mod records {
        const FILTERED_OUT = "records.filtered_out",
            "Records not output because `records.filter_pattern` did not match; also counted as dropped.";
        const SAMPLED_OUT = "records.sampled_out",
            "Records not output because of `records.sample_rate`; also counted as dropped.";
        const ROUTED_NONE = "records.routed_none",
            "Records of log groups no records sink takes.";
        const LOST = "records.lost",
            "Records neither delivered nor spilled (no spill bucket, or the spill failed); the invocation fails so Lambda retries.";
        pattern "records.<sink>.sent", "Records the sink accepted.";
        pattern "records.<sink>.requests", "OTLP requests the endpoint answered with success.";
        pattern "records.<sink>.retries",
            "Retries: OTLP attempts after the first, per request; Firehose rounds resending failed entries.";
        pattern "records.<sink>.rejected",
            "Records an OTLP endpoint refused in a partial success (not resent, as OTLP requires).";
        pattern "records.<sink>.failed_requests", "OTLP requests that failed after their retries.";
        pattern "records.<sink>.http_<status>", "OTLP requests that ended with this HTTP status.";
        pattern "records.<sink>.headers_unavailable",
            "Invocations where a header's secret, parameter or variable could not be read (the sink's records are spilled).";
        pattern "records.<sink>.spilled",
            "Records written to the spill bucket because the sink did not take them in time.";
        pattern "records.<sink>.failed_entries", "Firehose entries `PutRecordBatch` reported failed.";
        pattern "records.<sink>.oversized",
            "Records over Firehose's 1,000 KiB record limit (spilled).";

        build {
            pub fn sent(sink: &str) -> String {
                format!("records.{sink}.sent")
            }
            pub fn requests(sink: &str) -> String {
                format!("records.{sink}.requests")
            }
            pub fn retries(sink: &str) -> String {
                format!("records.{sink}.retries")
            }
            pub fn rejected(sink: &str) -> String {
                format!("records.{sink}.rejected")
            }
            pub fn failed_requests(sink: &str) -> String {
                format!("records.{sink}.failed_requests")
            }
            pub fn http_status(sink: &str, status: impl std::fmt::Display) -> String {
                format!("records.{sink}.http_{status}")
            }
            pub fn headers_unavailable(sink: &str) -> String {
                format!("records.{sink}.headers_unavailable")
            }
            pub fn spilled(sink: &str) -> String {
                format!("records.{sink}.spilled")
            }
            pub fn failed_entries(sink: &str) -> String {
                format!("records.{sink}.failed_entries")
            }
            pub fn oversized(sink: &str) -> String {
                format!("records.{sink}.oversized")
            }
        }
    }

    /// Deriving metric samples from records and folding them into datums.
    mod metrics {
        const VALUE_NOT_NUMERIC = "metrics.value_not_numeric",
            "Samples skipped: the rule's value was missing or not numeric.";
        const DIMENSION_MISSING = "metrics.dimension_missing",
            "Samples skipped: a dimension's value was missing or not a scalar.";
        const DIMENSION_INVALID = "metrics.dimension_invalid",
            "Samples skipped: a dimension name or value CloudWatch would reject (non-ASCII, blank, too long).";
        const DIMENSION_DUPLICATE = "metrics.dimension_duplicate",
            "Samples skipped: two dimensions with the same name.";
        const CARDINALITY_OVERFLOW = "metrics.cardinality_overflow",
            "Dimension values folded into `other` past `max_cardinality` (or log groups past `lambda_max_functions`).";
        const VALUE_OUT_OF_RANGE = "metrics.value_out_of_range",
            "Samples skipped: NaN, infinite, or beyond CloudWatch's magnitude of 2^359.";
        const VALUE_CLAMPED_TO_ZERO = "metrics.value_clamped_to_zero",
            "Values below CloudWatch's smallest magnitude (2^-359), sent as 0.";
        const COUNT_OUT_OF_RANGE = "metrics.count_out_of_range",
            "Samples skipped: a count that is not a positive number within CloudWatch's range.";
        const TOO_MANY_DIMENSIONS = "metrics.too_many_dimensions",
            "Samples skipped: more than 30 dimensions.";
        const TIMESTAMP_OUT_OF_WINDOW = "metrics.timestamp_out_of_window",
            "Samples skipped: more than 14 days older or 2 hours newer than the batch's reference time.";
        const DATUMS = "metrics.datums", "Datums the batch's samples folded into.";
        const LAMBDA_DUPLICATE_TIMEOUT = "metrics.lambda_duplicate_timeout",
            "Repeated timeout signals for a request id already counted (a request counts once).";
        const LAMBDA_DUPLICATE_OUT_OF_MEMORY = "metrics.lambda_duplicate_out_of_memory",
            "Repeated out-of-memory signals for a request id already counted (a request counts once).";
        const EMF_UNREPRESENTABLE = "metrics.emf_unrepresentable",
            "Datums EMF cannot carry (a metric named like a dimension or `_aws`, names over EMF's lengths, non-integral counts).";
        const EMF_TOO_MANY_SAMPLES = "metrics.emf_too_many_samples",
            "Datums whose counts would expand to more than 100,000 EMF values.";
        const EMF_TOO_LARGE = "metrics.emf_too_large",
            "Metric entries that cannot fit a 1 MB EMF document.";
    }

    /// Building X-Ray segments from the records' trace ids.
    mod trace {
        const MALFORMED_ID = "trace.malformed_id", "Records carrying a trace id that does not parse.";
        const RECORDS_WITH_ID = "trace.records_with_id", "Records with a trace id, observed for a segment.";
        const SEGMENTS_OVER_CAP = "trace.segments_over_cap",
            "Records of traces past `traces.max_segments_per_batch` (no segment for them).";
        const UNSAMPLED_SKIPPED = "trace.unsampled_skipped",
            "Traces marked not sampled, for which no segment is written.";
        const SEGMENTS = "trace.segments", "Segments built.";
        const ANNOTATION_NOT_SCALAR = "trace.annotation_not_scalar",
            "Annotation values that were an array or object (X-Ray takes scalars only).";
        const ANNOTATIONS_DROPPED = "trace.annotations_dropped",
            "Annotations past X-Ray's 50 per segment, or that did not fit the document.";
        const METADATA_DROPPED = "trace.metadata_dropped",
            "Metadata entries that did not fit the segment document (64,000 bytes).";
        const DOCUMENT_TRIMMED = "trace.document_trimmed",
            "Segments still over 64,000 bytes, sent without annotations and metadata.";
    }

    /// Sending datums and segments.
    mod sink {
        const METRICS_REQUESTS = "sink.metrics_requests", "PutMetricData requests made.";
        const METRICS_SENT = "sink.metrics_sent", "Datums PutMetricData accepted.";
        const METRICS_FALLBACK_DATUMS = "sink.metrics_fallback_datums",
            "Datums written as EMF because their PutMetricData request failed.";
        const METRICS_EMF_DATUMS = "sink.metrics_emf_datums",
            "Datums written as EMF because EMF is the configured sink.";
        const METRICS_TIMESTAMP_OUT_OF_WINDOW = "sink.metrics_timestamp_out_of_window",
            "Datums dropped at send time: outside PutMetricData's window (14 days back, 2 hours ahead of now).";
        const EMF_WRITE_FAILED = "sink.emf_write_failed", "EMF lines that could not be written to stdout.";
        const SEGMENTS_SENT = "sink.segments_sent", "Segment documents X-Ray accepted.";
        const SEGMENTS_FAILED = "sink.segments_failed",
            "Segment documents X-Ray did not take after one retry.";
        const SEGMENTS_UNPROCESSED = "sink.segments_unprocessed",
            "Segment documents X-Ray returned as unprocessed (retried once).";
        const SEGMENTS_EXPIRED = "sink.segments_expired",
            "Segments outside X-Ray's write window, dropped.";
        pattern "sink.metrics_error.<kind>",
            "Failed PutMetricData requests by kind: `throttled`, `server`, `network`, `timeout`, `deadline_passed`, `rejected`.";
        pattern "sink.segments_error.<kind>",
            "Failed PutTraceSegments calls by kind (as `sink.metrics_error`).";

        build {
            pub fn metrics_error(kind: &str) -> String {
                format!("sink.metrics_error.{kind}")
            }
            pub fn segments_error(kind: &str) -> String {
                format!("sink.segments_error.{kind}")
            }
        }
    }
}

/// The README's counter table, generated from [`ALL`] (a test keeps the README's copy equal).
pub fn counters_markdown() -> String {
    let mut out = String::from("| counter | meaning |\n|---|---|\n");
    for c in ALL {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            c.key,
            c.meaning.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_unique_and_shaped_stage_dot_name() {
        let mut seen = HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.key), "{} listed twice", c.key);
            let (stage, rest) = c.key.split_once('.').unwrap_or(("", ""));
            assert!(!stage.is_empty() && !rest.is_empty(), "{}", c.key);
            assert!(
                c.key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._<>".contains(&b)),
                "{}",
                c.key
            );
            assert!(!c.meaning.is_empty(), "{} has no meaning", c.key);
        }
    }

    /// Every builder makes a key of a listed pattern, and every pattern has a builder.
    #[test]
    fn builders_match_their_patterns() {
        let built = [
            records::sent("<sink>"),
            records::requests("<sink>"),
            records::retries("<sink>"),
            records::rejected("<sink>"),
            records::failed_requests("<sink>"),
            records::http_status("<sink>", "<status>"),
            records::headers_unavailable("<sink>"),
            records::spilled("<sink>"),
            records::failed_entries("<sink>"),
            records::oversized("<sink>"),
            sink::metrics_error("<kind>"),
            sink::segments_error("<kind>"),
            profile::batches("<name>"),
            profile::events("<name>"),
        ];
        let patterns: HashSet<&str> = ALL
            .iter()
            .filter(|c| c.is_pattern())
            .map(|c| c.key)
            .collect();
        let built: HashSet<&str> = built.iter().map(String::as_str).collect();
        assert_eq!(built, patterns);
        assert_eq!(records::http_status("otel", 503), "records.otel.http_503");
    }

    #[test]
    fn markdown_has_one_row_per_key() {
        let md = counters_markdown();
        assert_eq!(md.lines().count(), ALL.len() + 2);
        assert!(md.contains("| `records.<sink>.sent` | Records the sink accepted. |\n"));
        assert!(md.contains(&format!("| `{}` |", decode::CONTROL_MESSAGE)));
    }
}
