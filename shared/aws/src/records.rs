//! The records sinks' network side: OTLP/HTTP (hyper on the rustls stack the SDK already links),
//! Firehose PutRecordBatch and S3 PutObject, every call of an invocation under its one
//! [`Deadline`], and the spill of whatever a sink did not take in time. Header values from
//! Secrets Manager, Parameter Store or the environment are resolved once per execution
//! environment and never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record as FirehoseRecord;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use hyper::StatusCode;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;

use logsieve::counter_keys as ck;
use logsieve::pipeline::Output;
use logsieve::records::ndjson::{
    firehose_batches, read_spill, s3_object, spill_object, FirehoseEntry, SpillSection,
};
use logsieve::records::{
    otlp, parse_key_values, BatchSpan, BucketPrefix, HeaderSource, OtlpTarget, RecordSink,
    RecordSinks, SinkTarget,
};
use logsieve::stats::Counters;

use crate::{now_ms, Deadline, ATTEMPT_TIMEOUT, CONNECT_TIMEOUT};

/// Time kept back from the invocation's deadline for the spill: sinks stop sending this long
/// before it, so the spill (one PutObject per failing sink) still fits.
pub const SPILL_RESERVE: Duration = Duration::from_millis(1500);
/// OTLP attempts per request, the first included; the deadline usually ends them sooner.
pub const OTLP_MAX_ATTEMPTS: u32 = 5;
const OTLP_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const OTLP_MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Rounds of PutRecordBatch for the entries Firehose reported failed.
pub const FIREHOSE_MAX_ROUNDS: u32 = 3;
/// OTLP requests of one sink in flight at once.
const OTLP_CONCURRENCY: usize = 4;
/// Largest OTLP response body read (a partial-success message is a few hundred bytes).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// What the records sinks did in one invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordsReport {
    pub sent: u64,
    pub spilled: u64,
    pub lost: u64,
    pub counters: Counters,
}

/// The records sinks of one execution environment.
pub struct RecordShipper {
    sinks: RecordSinks,
    http: Result<Client<Https, Full<Bytes>>, String>,
    firehose: Option<aws_sdk_firehose::Client>,
    s3: Option<aws_sdk_s3::Client>,
    secrets: Option<aws_sdk_secretsmanager::Client>,
    ssm: Option<aws_sdk_ssm::Client>,
    /// Resolved OTLP headers by sink name; a failed resolution is tried again next invocation.
    headers: Mutex<HashMap<String, Vec<(HeaderName, HeaderValue)>>>,
}

impl std::fmt::Debug for RecordShipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints header values.
        f.debug_struct("RecordShipper")
            .field(
                "sinks",
                &self.sinks.sinks.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why one part of a sink's records was not delivered (for the log line; never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Undelivered {
    DeadlinePassed,
    Status(u16),
    Transport(String),
    Headers(String),
    Aws(String),
    TooLarge,
}

impl std::fmt::Display for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undelivered::DeadlinePassed => f.write_str("the invocation's deadline came first"),
            Undelivered::Status(s) => write!(f, "the endpoint answered HTTP {s}"),
            Undelivered::Transport(e) => write!(f, "no answer: {e}"),
            Undelivered::Headers(e) => write!(f, "headers unavailable: {e}"),
            Undelivered::Aws(e) => f.write_str(e),
            Undelivered::TooLarge => f.write_str("a record is over Firehose's 1,000 KiB limit"),
        }
    }
}

/// One sink's outcome before the spill.
#[derive(Default)]
struct SinkOutcome {
    sent: u64,
    unsent: Vec<usize>,
    reasons: Vec<Undelivered>,
    counters: Counters,
}

impl SinkOutcome {
    fn fail(&mut self, records: impl IntoIterator<Item = usize>, why: Undelivered) {
        self.unsent.extend(records);
        if !self.reasons.contains(&why) {
            self.reasons.push(why);
        }
    }
}

impl RecordShipper {
    /// Builds the clients the sinks need (none for sinks of other kinds).
    pub fn new(sinks: RecordSinks, shared: &aws_config::SdkConfig) -> RecordShipper {
        let kinds: Vec<&SinkTarget> = sinks.sinks.iter().map(|s| &s.target).collect();
        let any = |f: fn(&SinkTarget) -> bool| kinds.iter().any(|t| f(t));
        let otlp_targets = || {
            kinds.iter().filter_map(|t| match t {
                SinkTarget::Otlp(o) => Some(o),
                _ => None,
            })
        };
        let needs_secrets = otlp_targets().any(|o| {
            o.headers_secret.is_some()
                || o.headers
                    .iter()
                    .any(|(_, h)| matches!(h, HeaderSource::Secret { .. }))
        });
        let needs_ssm = otlp_targets().any(|o| {
            o.headers
                .iter()
                .any(|(_, h)| matches!(h, HeaderSource::Parameter { .. }))
        });
        let timeouts = crate::timeouts();
        let retries = crate::retries();
        let firehose = any(|t| matches!(t, SinkTarget::Firehose { .. })).then(|| {
            aws_sdk_firehose::Client::from_conf(
                aws_sdk_firehose::config::Builder::from(shared)
                    .timeout_config(timeouts.clone())
                    .retry_config(retries.clone())
                    .build(),
            )
        });
        let s3 = (any(|t| matches!(t, SinkTarget::S3 { .. })) || sinks.spill.is_some())
            .then(|| s3_client(shared));
        let secrets = needs_secrets.then(|| {
            aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(shared)
                    .timeout_config(timeouts.clone())
                    .retry_config(retries.clone())
                    .build(),
            )
        });
        let ssm = needs_ssm.then(|| {
            aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(shared)
                    .timeout_config(timeouts.clone())
                    .retry_config(retries.clone())
                    .build(),
            )
        });
        RecordShipper {
            http: http_client(),
            sinks,
            firehose,
            s3,
            secrets,
            ssm,
            headers: Mutex::new(HashMap::new()),
        }
    }

    /// Sends the output's records to every sink whose log groups they belong to, all sinks at
    /// once, until `SPILL_RESERVE` before `deadline`; spills the rest under `deadline`.
    pub async fn ship(&self, output: &Output, deadline: Deadline) -> RecordsReport {
        let mut report = RecordsReport::default();
        if output.records.is_empty() || self.sinks.is_empty() {
            return report;
        }
        // Records no sink takes (their log group matches no sink's globs) are counted, so a
        // routing mistake shows in the summary instead of vanishing.
        let unrouted: u64 = output
            .batches
            .iter()
            .filter(|b| self.sinks.for_group(&b.log_group).next().is_none())
            .map(|b| (b.end - b.start) as u64)
            .sum();
        report.counters.add(ck::records::ROUTED_NONE, unrouted);
        let send_by = deadline.earlier_by(SPILL_RESERVE);
        let outcomes = futures_util::future::join_all(
            self.sinks
                .sinks
                .iter()
                .map(|sink| self.ship_sink(sink, output, send_by)),
        )
        .await;
        let mut spills = Vec::new();
        for (sink, mut outcome) in self.sinks.sinks.iter().zip(outcomes) {
            report.sent += outcome.sent;
            report.counters.merge(&outcome.counters);
            report
                .counters
                .add(&ck::records::sent(&sink.name), outcome.sent);
            if outcome.unsent.is_empty() {
                continue;
            }
            outcome.unsent.sort_unstable();
            outcome.unsent.dedup();
            let reasons: Vec<String> = outcome.reasons.iter().map(|r| r.to_string()).collect();
            tracing::error!(
                sink = %sink.name,
                records = outcome.unsent.len(),
                reasons = %reasons.join("; "),
                "records sink did not take every record"
            );
            spills.push((sink, outcome.unsent));
        }
        let spilled = futures_util::future::join_all(
            spills
                .iter()
                .map(|(sink, unsent)| self.spill(sink, output, unsent, deadline)),
        )
        .await;
        for ((sink, unsent), result) in spills.iter().zip(spilled) {
            let n = unsent.len() as u64;
            match result {
                Ok(key) => {
                    report.spilled += n;
                    report.counters.add(&ck::records::spilled(&sink.name), n);
                    tracing::warn!(sink = %sink.name, records = n, key = %key, "records spilled; `logsieve redrive` sends them again");
                }
                Err(why) => {
                    report.lost += n;
                    report.counters.add(ck::records::LOST, n);
                    tracing::error!(sink = %sink.name, records = n, error = %why, "records neither delivered nor spilled; the invocation fails so that Lambda retries it");
                }
            }
        }
        report
    }

    async fn ship_sink(
        &self,
        sink: &RecordSink,
        output: &Output,
        send_by: Deadline,
    ) -> SinkOutcome {
        let spans: Vec<&BatchSpan> = output
            .batches
            .iter()
            .filter(|b| sink.takes(&b.log_group))
            .collect();
        let mut outcome = SinkOutcome::default();
        if spans.is_empty() {
            return outcome;
        }
        match &sink.target {
            SinkTarget::Otlp(t) => {
                self.ship_otlp(sink, t, output, &spans, send_by, &mut outcome)
                    .await
            }
            SinkTarget::Firehose { .. } => {
                self.ship_firehose(sink, output, &spans, send_by, &mut outcome)
                    .await
            }
            SinkTarget::S3 {
                location,
                gzip_level,
            } => {
                self.ship_s3(location, *gzip_level, output, &spans, send_by, &mut outcome)
                    .await
            }
        }
        outcome
    }

    async fn ship_otlp(
        &self,
        sink: &RecordSink,
        target: &OtlpTarget,
        output: &Output,
        spans: &[&BatchSpan],
        send_by: Deadline,
        outcome: &mut SinkOutcome,
    ) {
        let all = || spans.iter().flat_map(|s| s.start..s.end);
        let client = match &self.http {
            Ok(c) => c,
            Err(e) => return outcome.fail(all(), Undelivered::Transport(e.clone())),
        };
        let headers = match self.otlp_headers(sink, target, send_by).await {
            Ok(h) => h,
            Err(e) => {
                outcome
                    .counters
                    .incr(&ck::records::headers_unavailable(&sink.name));
                return outcome.fail(all(), Undelivered::Headers(e));
            }
        };
        let observed = now_ms().saturating_mul(1_000_000);
        let requests = otlp::encode(&output.records, spans, target, observed);
        let sends = requests.into_iter().map(|r| {
            let body = if target.gzip { gzip(&r.body) } else { r.body };
            let headers = &headers;
            async move {
                let result = send_otlp(
                    client,
                    &target.url,
                    headers,
                    target.gzip,
                    Bytes::from(body),
                    send_by,
                )
                .await;
                (r.records, result)
            }
        });
        use futures_util::StreamExt;
        let mut results = futures_util::stream::iter(sends).buffer_unordered(OTLP_CONCURRENCY);
        let name = &sink.name;
        while let Some((records, result)) = results.next().await {
            let n = records.len() as u64;
            match result {
                Ok(sent) => {
                    outcome
                        .counters
                        .add(&ck::records::retries(name), u64::from(sent.attempts - 1));
                    outcome.counters.incr(&ck::records::requests(name));
                    // Rejected records were refused for good by the backend (OTLP says never
                    // retry a partial success): counted, not spilled.
                    let rejected = sent.rejected.min(n);
                    outcome.counters.add(&ck::records::rejected(name), rejected);
                    if rejected > 0 {
                        tracing::warn!(sink = %name, rejected, message = %sent.message, "OTLP partial success");
                    }
                    outcome.sent += n - rejected;
                }
                Err((attempts, why)) => {
                    outcome.counters.add(
                        &ck::records::retries(name),
                        u64::from(attempts.saturating_sub(1)),
                    );
                    outcome.counters.incr(&ck::records::failed_requests(name));
                    if let Undelivered::Status(s) = why {
                        outcome.counters.incr(&ck::records::http_status(name, s));
                    }
                    outcome.fail(records, why);
                }
            }
        }
    }

    /// The sink's headers, resolved on first use and kept for the execution environment.
    async fn otlp_headers(
        &self,
        sink: &RecordSink,
        target: &OtlpTarget,
        send_by: Deadline,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        if let Some(h) = self
            .headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sink.name)
        {
            return Ok(h.clone());
        }
        let mut out = Vec::new();
        if let Some(arn) = &target.headers_secret {
            let text = self.secret(arn, send_by).await?;
            let pairs: Vec<(String, String)> =
                match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text) {
                    Ok(obj) => obj
                        .into_iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                        .collect(),
                    Err(_) => parse_key_values(&text),
                };
            if pairs.is_empty() {
                return Err(format!("secret {arn} holds no `name=value` headers"));
            }
            for (k, v) in pairs {
                out.push(header(&k, &v)?);
            }
        }
        for (name, source) in &target.headers {
            let value = match source {
                HeaderSource::Literal(v) => v.clone(),
                HeaderSource::Env { env } => std::env::var(env)
                    .map_err(|_| format!("header {name}: environment variable {env} is not set"))?,
                HeaderSource::Secret { secret, key } => {
                    let text = self.secret(secret, send_by).await?;
                    match key {
                        None => text,
                        Some(k) => serde_json::from_str::<serde_json::Value>(&text)
                            .ok()
                            .and_then(|v| v.get(k).and_then(|m| m.as_str()).map(str::to_string))
                            .ok_or_else(|| {
                                format!("header {name}: secret {secret} has no string member {k:?}")
                            })?,
                    }
                }
                HeaderSource::Parameter { parameter } => self.parameter(parameter, send_by).await?,
            };
            out.retain(|(n, _): &(HeaderName, HeaderValue)| n.as_str() != name);
            out.push(header(name, &value)?);
        }
        self.headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sink.name.clone(), out.clone());
        Ok(out)
    }

    async fn secret(&self, arn: &str, send_by: Deadline) -> Result<String, String> {
        let Some(client) = &self.secrets else {
            return Err("no Secrets Manager client".into());
        };
        let call = async {
            client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| crate::map_sdk_error(&e))
        };
        let out = send_by
            .bound(call)
            .await
            .map_err(|e| format!("secret {arn}: {e}"))?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| format!("secret {arn} has no SecretString"))
    }

    async fn parameter(&self, name: &str, send_by: Deadline) -> Result<String, String> {
        let Some(client) = &self.ssm else {
            return Err("no Parameter Store client".into());
        };
        let call = async {
            client
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| crate::map_sdk_error(&e))
        };
        let out = send_by
            .bound(call)
            .await
            .map_err(|e| format!("parameter {name}: {e}"))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| format!("parameter {name} has no value"))
    }

    async fn ship_firehose(
        &self,
        sink: &RecordSink,
        output: &Output,
        spans: &[&BatchSpan],
        send_by: Deadline,
        outcome: &mut SinkOutcome,
    ) {
        let SinkTarget::Firehose {
            delivery_stream: stream,
            pack,
        } = &sink.target
        else {
            return;
        };
        let pack = *pack;
        let indices = spans.iter().flat_map(|s| s.start..s.end);
        let Some(client) = &self.firehose else {
            return outcome.fail(indices, Undelivered::Aws("no Firehose client".into()));
        };
        let (batches, oversized) = firehose_batches(&output.records, indices, pack);
        if !oversized.is_empty() {
            outcome
                .counters
                .add(&ck::records::oversized(&sink.name), oversized.len() as u64);
            outcome.fail(oversized, Undelivered::TooLarge);
        }
        for batch in batches {
            let mut pending = batch;
            let mut backoff = OTLP_INITIAL_BACKOFF;
            for round in 1..=FIREHOSE_MAX_ROUNDS {
                let records: Vec<FirehoseRecord> = pending
                    .iter()
                    .filter_map(|e| {
                        FirehoseRecord::builder()
                            .data(Blob::new(e.data.clone()))
                            .build()
                            .ok()
                    })
                    .collect();
                let call = async {
                    client
                        .put_record_batch()
                        .delivery_stream_name(stream)
                        .set_records(Some(records))
                        .send()
                        .await
                        .map_err(|e| crate::map_sdk_error(&e))
                };
                match send_by.bound(call).await {
                    Ok(out) => {
                        let responses = out.request_responses();
                        let total: usize = pending.iter().map(|e| e.records.len()).sum();
                        let failed: Vec<FirehoseEntry> = pending
                            .into_iter()
                            .enumerate()
                            // A response list shorter than the request counts its missing
                            // entries as failed: nothing is assumed delivered.
                            .filter(|(i, _)| {
                                responses.get(*i).is_none_or(|r| r.error_code().is_some())
                            })
                            .map(|(_, e)| e)
                            .collect();
                        let unsent: usize = failed.iter().map(|e| e.records.len()).sum();
                        outcome.sent += (total - unsent) as u64;
                        if failed.is_empty() {
                            pending = Vec::new();
                            break;
                        }
                        outcome.counters.add(
                            &ck::records::failed_entries(&sink.name),
                            failed.len() as u64,
                        );
                        pending = failed;
                    }
                    Err(e) => {
                        if matches!(
                            e,
                            logsieve::sink::SinkError::DeadlinePassed
                                | logsieve::sink::SinkError::Timeout
                        ) {
                            outcome.fail(
                                pending.iter().flat_map(|e| e.records.iter().copied()),
                                Undelivered::DeadlinePassed,
                            );
                            pending = Vec::new();
                            break;
                        }
                        if round == FIREHOSE_MAX_ROUNDS {
                            outcome.fail(
                                pending.iter().flat_map(|e| e.records.iter().copied()),
                                Undelivered::Aws(e.to_string()),
                            );
                            pending = Vec::new();
                            break;
                        }
                    }
                }
                if round < FIREHOSE_MAX_ROUNDS {
                    outcome.counters.incr(&ck::records::retries(&sink.name));
                    if !send_by.sleep(backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(OTLP_MAX_BACKOFF);
                }
            }
            if !pending.is_empty() {
                outcome.fail(
                    pending.iter().flat_map(|e| e.records.iter().copied()),
                    Undelivered::Aws("Firehose kept failing some entries".into()),
                );
            }
        }
    }

    async fn ship_s3(
        &self,
        loc: &BucketPrefix,
        gzip_level: u32,
        output: &Output,
        spans: &[&BatchSpan],
        send_by: Deadline,
        outcome: &mut SinkOutcome,
    ) {
        let Some(client) = &self.s3 else {
            return outcome.fail(
                spans.iter().flat_map(|s| s.start..s.end),
                Undelivered::Aws("no S3 client".into()),
            );
        };
        let puts = spans.iter().map(|span| {
            let (key, body) = s3_object(loc, &output.records, span, gzip_level);
            async move {
                let r = send_by
                    .bound(put_object(client, &loc.bucket, &key, body))
                    .await;
                (span, r)
            }
        });
        for (span, result) in futures_util::future::join_all(puts).await {
            match result {
                Ok(()) => outcome.sent += (span.end - span.start) as u64,
                Err(e) => outcome.fail(span.start..span.end, Undelivered::Aws(e.to_string())),
            }
        }
    }

    /// Writes `unsent` to the spill location in one object; the key is deterministic for the
    /// records, so a retried invocation overwrites it.
    async fn spill(
        &self,
        sink: &RecordSink,
        output: &Output,
        unsent: &[usize],
        deadline: Deadline,
    ) -> Result<String, String> {
        let (Some(loc), Some(client)) = (&self.sinks.spill, &self.s3) else {
            return Err(
                "no spill bucket is configured (records.spill or LOGSIEVE_SPILL_BUCKET)".into(),
            );
        };
        let sections = sections(sink, output, unsent);
        let (key, body) = spill_object(loc, &sink.name, &sections);
        deadline
            .bound(put_object(client, &loc.bucket, &key, body))
            .await
            .map_err(|e| format!("s3://{}/{key}: {e}", loc.bucket))?;
        Ok(format!("s3://{}/{key}", loc.bucket))
    }

    /// Sends one spill section again (`logsieve redrive`): the records accepted, and the
    /// section left to send (`None` when every record was accepted) with why.
    pub async fn redrive_section(
        &self,
        section: &SpillSection,
        deadline: Deadline,
    ) -> (u64, Option<(SpillSection, String)>) {
        let Some(sink) = self.sinks.by_name(&section.header.sink) else {
            let why = format!(
                "no sink named {:?} in this configuration",
                section.header.sink
            );
            return (0, Some((section.clone(), why)));
        };
        let output = Output {
            records: section.records.clone(),
            batches: vec![section.span()],
            ..Output::default()
        };
        let mut outcome = self.ship_sink(sink, &output, deadline).await;
        if outcome.unsent.is_empty() {
            return (outcome.sent, None);
        }
        outcome.unsent.sort_unstable();
        outcome.unsent.dedup();
        let reasons: Vec<String> = outcome.reasons.iter().map(|r| r.to_string()).collect();
        let left = SpillSection {
            header: section.header.clone(),
            records: outcome
                .unsent
                .iter()
                .filter_map(|&i| section.records.get(i).cloned())
                .collect(),
        };
        (outcome.sent, Some((left, reasons.join("; "))))
    }
}

/// What `logsieve redrive` did.
#[derive(Debug, Default)]
pub struct RedriveReport {
    pub objects: u64,
    pub records_sent: u64,
    /// Objects still holding records, with why.
    pub left: Vec<(String, String)>,
}

/// Sends every spill object under `s3://bucket/prefix` again through `shipper`'s sinks. An
/// object is deleted only once every record in it was accepted; one partly sent is rewritten
/// (same key) with only what is left, so the next run does not send anything twice.
pub async fn redrive(
    shipper: &RecordShipper,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    per_object: Duration,
) -> Result<RedriveReport, String> {
    let mut report = RedriveReport::default();
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| format!("s3://{bucket}/{prefix}: {}", crate::map_sdk_error(&e)))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| k.ends_with(".ndjson.gz"))
                .map(str::to_string),
        );
    }
    for key in keys {
        report.objects += 1;
        let url = format!("s3://{bucket}/{key}");
        let body = match get_object(s3, bucket, &key).await {
            Ok(b) => b,
            Err(e) => {
                report.left.push((url, e));
                continue;
            }
        };
        let sections = match read_spill(&body) {
            Ok(s) => s,
            Err(e) => {
                report.left.push((url, e.to_string()));
                continue;
            }
        };
        let deadline = Deadline::after(per_object);
        let mut left = Vec::new();
        let mut reasons = Vec::new();
        for section in &sections {
            let (sent, rest) = shipper.redrive_section(section, deadline).await;
            report.records_sent += sent;
            if let Some((rest, why)) = rest {
                left.push(rest);
                reasons.push(why);
            }
        }
        let done = if left.is_empty() {
            s3.delete_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("delete: {}", crate::map_sdk_error(&e)))
        } else {
            let body = logsieve::records::ndjson::spill_body(&left);
            put_object(s3, bucket, &key, body)
                .await
                .map_err(|e| format!("rewrite: {e}"))
                .and(Err(reasons.join("; ")))
        };
        if let Err(e) = done {
            report.left.push((url, e));
        }
    }
    Ok(report)
}

async fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("get: {}", crate::map_sdk_error(&e)))?;
    out.body
        .collect()
        .await
        .map(|b| b.into_bytes().to_vec())
        .map_err(|e| format!("get: {e}"))
}

/// The unsent records grouped by the batch they came from.
fn sections(sink: &RecordSink, output: &Output, unsent: &[usize]) -> Vec<SpillSection> {
    let mut out = Vec::new();
    for span in &output.batches {
        let records: Vec<_> = unsent
            .iter()
            .filter(|i| (span.start..span.end).contains(i))
            .filter_map(|&i| output.records.get(i).cloned())
            .collect();
        if !records.is_empty() {
            out.push(SpillSection::new(
                &sink.name,
                sink.target.kind(),
                span,
                records,
            ));
        }
    }
    out
}

async fn put_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<(), logsieve::sink::SinkError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-ndjson")
        .content_encoding("gzip")
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| crate::map_sdk_error(&e))
}

/// S3 with path-style addressing when an endpoint is overridden (S3-compatible servers on a
/// plain host name cannot serve `bucket.host` names).
pub fn s3_client(shared: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(shared)
            .timeout_config(crate::timeouts())
            .retry_config(crate::retries())
            .force_path_style(shared.endpoint_url().is_some())
            .build(),
    )
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{name:?} is not an HTTP header name"))?;
    // The value is never echoed: it is usually a key.
    let mut v = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("header {name}: the value is not valid in an HTTP header"))?;
    v.set_sensitive(true);
    Ok((n, v))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    // Level 1: OTLP bodies are sent once and read once; CPU in the function costs more than
    // the few percent of bytes a higher level saves.
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

/// The HTTPS client for OTLP: the SDK's own stack (hyper, rustls on aws-lc, native roots).
fn http_client() -> Result<Client<Https, Full<Bytes>>, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// An accepted OTLP request.
struct Accepted {
    attempts: u32,
    rejected: u64,
    message: String,
}

/// POSTs one body, retrying 429, 502, 503, 504 and lost connections with backoff (honouring
/// `Retry-After`) while the next attempt can still finish before `send_by`; never other 4xx/5xx
/// (https://opentelemetry.io/docs/specs/otlp/#otlphttp-throttling).
async fn send_otlp(
    client: &Client<Https, Full<Bytes>>,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    gzip: bool,
    body: Bytes,
    send_by: Deadline,
) -> Result<Accepted, (u32, Undelivered)> {
    let mut backoff = OTLP_INITIAL_BACKOFF;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = hyper::Request::post(url).header(CONTENT_TYPE, "application/x-protobuf");
        if gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(body.clone()))
            .map_err(|e| (attempt, Undelivered::Transport(e.to_string())))?;
        let call = async {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(req)).await {
                Err(_) => Ok(Err(Undelivered::Transport("attempt timed out".into()))),
                Ok(Err(e)) => Ok(Err(Undelivered::Transport(transport_text(&e)))),
                Ok(Ok(resp)) => Ok(Ok(resp)),
            }
        };
        let wait = match send_by.bound(call).await {
            Err(_) => return Err((attempt, Undelivered::DeadlinePassed)),
            Ok(Err(why)) => (backoff, why),
            Ok(Ok(resp)) => {
                let status = resp.status();
                if status.is_success() {
                    let body = match tokio::time::timeout(
                        ATTEMPT_TIMEOUT,
                        Limited::new(resp.into_body(), MAX_RESPONSE_BYTES).collect(),
                    )
                    .await
                    {
                        Ok(Ok(b)) => b.to_bytes(),
                        _ => Bytes::new(),
                    };
                    let partial = ExportLogsServiceResponse::decode(body)
                        .ok()
                        .and_then(|r| r.partial_success);
                    return Ok(Accepted {
                        attempts: attempt,
                        rejected: partial
                            .as_ref()
                            .map_or(0, |p| p.rejected_log_records.max(0) as u64),
                        message: partial.map(|p| p.error_message).unwrap_or_default(),
                    });
                }
                let why = Undelivered::Status(status.as_u16());
                if !retryable(status) {
                    return Err((attempt, why));
                }
                let after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, std::time::SystemTime::now()));
                (after.unwrap_or(backoff), why)
            }
        };
        let (wait, why) = wait;
        if attempt >= OTLP_MAX_ATTEMPTS {
            return Err((attempt, why));
        }
        // No attempt starts that could not get its answer before the sink's cut-off.
        if !send_by.sleep(wait).await || send_by.remaining() < CONNECT_TIMEOUT {
            return Err((attempt, why));
        }
        backoff = (backoff * 2).min(OTLP_MAX_BACKOFF);
    }
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A hyper client error with its cause (hyper's own text is just "client error (Connect)").
fn transport_text(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(1_764_500_000);
        let cases: &[(&str, Option<u64>)] = &[
            ("3", Some(3)),
            (" 0 ", Some(0)),
            // 1764500000 = Sun, 30 Nov 2025 10:53:20 GMT.
            ("Sun, 30 Nov 2025 10:53:25 GMT", Some(5)),
            ("Sun, 30 Nov 2025 10:53:00 GMT", Some(0)),
            ("soon", None),
            ("-1", None),
        ];
        for (v, want) in cases {
            assert_eq!(retry_after(v, now).map(|d| d.as_secs()), *want, "{v}");
        }
        assert!(retry_after("1", SystemTime::now()).is_some());
    }

    #[test]
    fn only_throttling_and_gateway_errors_are_retried() {
        for (code, want) in [
            (429, true),
            (502, true),
            (503, true),
            (504, true),
            (500, false),
            (400, false),
            (401, false),
            (413, false),
        ] {
            assert_eq!(
                retryable(StatusCode::from_u16(code).unwrap()),
                want,
                "{code}"
            );
        }
    }

    #[test]
    fn header_values_are_never_echoed() {
        let e = header("x-honeycomb-team", "bad\nSECRETVALUE").unwrap_err();
        assert!(!e.contains("SECRETVALUE"), "{e}");
        let (_, v) = header("X-Honeycomb-Team", "abc").unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("abc"));
    }
}
