//! The invocation deadline against a server that accepts connections and never answers: the
//! emit ends before Lambda's deadline, every datum leaves exactly once (as EMF, since none was
//! accepted), no PutMetricData request is sent twice, and no call starts after the deadline.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::config::{Credentials, Region};
use logsieve::metrics::{encode_put_metric_data, MetricDatum, MetricSinkKind, Resolution, Unit};
use logsieve::pipeline::Output;
use logsieve::trace::{Segment, TraceSinkKind};
use logsieve_aws::{AwsClients, Deadline, Emitter, ATTEMPT_TIMEOUT, DEADLINE_SAFETY_MARGIN};

/// One request line seen by the silent server: when it arrived and its path.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    path: String,
}

/// Accepts every connection, reads whatever comes, answers nothing. Connections stay open until
/// the test process ends, like a hung endpoint.
fn silent_server() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || read_forever(stream, &log));
        }
    });
    (format!("http://{addr}"), seen)
}

fn read_forever(mut stream: TcpStream, log: &Mutex<Vec<Seen>>) {
    let mut buf = vec![0u8; 1 << 16];
    let mut carry = Vec::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        carry.extend_from_slice(&buf[..n]);
        // Request lines start a request; bodies here are CBOR/JSON and never hold "POST /".
        while let Some(pos) = find(&carry, b"POST /") {
            let rest = &carry[pos + 5..];
            let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let path = String::from_utf8_lossy(&rest[..end]).into_owned();
            log.lock().unwrap().push(Seen {
                at: Instant::now(),
                path,
            });
            carry.drain(..pos + 6);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn output(datums: usize, segments: usize) -> Output {
    let now = now_ms();
    let metrics = (0..datums)
        .map(|i| {
            let mut dimensions = serde_json::Map::new();
            dimensions.insert("Shard".into(), serde_json::json!(format!("s{i}")));
            MetricDatum {
                namespace: "DeadlineTest".into(),
                metric_name: "Hits".into(),
                dimensions,
                unit: Unit::Count,
                timestamp: now,
                storage_resolution: Resolution::Standard,
                values: vec![1.0],
                counts: vec![1.0],
            }
        })
        .collect();
    let segments = (0..segments)
        .map(|i| Segment {
            trace_id: format!("1-{:08x}-{i:024x}", now / 1000),
            id: format!("{i:016x}"),
            document: format!("{{\"id\":\"{i:016x}\"}}"),
            start_time_ms: now,
            end_time_ms: now,
        })
        .collect();
    Output {
        metrics,
        segments,
        ..Output::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_silent_endpoint_cannot_push_the_invocation_past_its_deadline() {
    let (endpoint, seen) = silent_server();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "test-secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let emitter = Emitter::with_clients(
        MetricSinkKind::Cloudwatch,
        TraceSinkKind::Xray,
        Some(AwsClients::from_conf(&shared)),
    );
    // 1,200 datums make two PutMetricData requests; 60 segments make two X-Ray chunks.
    let out = output(1_200, 60);
    let requests = encode_put_metric_data(&out.metrics).len();
    assert_eq!(requests, 2);

    // Longer than one attempt's timeout, so the SDK would have had time to retry a timed-out
    // PutMetricData and to start the later X-Ray chunks.
    let budget = ATTEMPT_TIMEOUT + Duration::from_millis(1_500);
    let started = Instant::now();
    let deadline = Deadline::after(budget);
    let mut emf = Vec::new();
    let report = emitter.emit(&out, deadline, &mut emf).await;
    let elapsed = started.elapsed();

    // Every datum leaves exactly once: none accepted, all written as EMF.
    assert_eq!(report.metrics_sent, 0);
    assert_eq!(report.metrics_fallback, 1_200);
    let text = String::from_utf8(emf).unwrap();
    let mut shards: Vec<String> = text
        .lines()
        .flat_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            // One EMF document per dimension set here, so one shard per line.
            vec![v["Shard"].as_str().unwrap().to_string()]
        })
        .collect();
    assert_eq!(shards.len(), 1_200);
    shards.sort();
    shards.dedup();
    assert_eq!(shards.len(), 1_200, "a datum was written twice");

    // Segments: none sent, all counted as failed.
    assert_eq!(report.segments_sent, 0);
    assert_eq!(report.segments_failed, 60);

    // Give in-flight connections a moment to deliver what they wrote, then look at the server.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap().clone();
    let cloudwatch: Vec<&Seen> = seen
        .iter()
        .filter(|s| !s.path.starts_with("/TraceSegments"))
        .collect();
    assert_eq!(
        cloudwatch.len(),
        requests,
        "each PutMetricData request once, never retried after a timeout: {seen:?}"
    );
    let deadline_at = deadline.instant();
    for s in &seen {
        assert!(
            s.at <= deadline_at,
            "a call started after the deadline: {s:?}"
        );
    }
    assert!(
        seen.iter().any(|s| s.path.starts_with("/TraceSegments")),
        "X-Ray was called: {seen:?}"
    );

    // Lambda's own deadline is ours plus the safety margin: the invocation ends before it.
    assert!(
        elapsed < budget + DEADLINE_SAFETY_MARGIN,
        "emit took {elapsed:?}, budget {budget:?}"
    );
    assert!(deadline.passed());
}
