//! Deterministic generator of realistic CloudWatch Logs batches (Flask-style JSON API logs with
//! trace ids, Lambda platform lines, access logs), for fixtures, tests and benchmarks. Same seed,
//! same bytes.

use serde_json::json;

use crate::encode;

/// Which kind of log lines a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// JSON application logs of an HTTP API, with X-Ray and W3C trace ids.
    JsonApp,
    /// A Lambda function's START/END/REPORT lines, app lines, timeouts and OOMs.
    Lambda,
    /// Combined-format access logs.
    Access,
    /// A third of each.
    Mixed,
}

impl Mix {
    pub const ALL: [Mix; 4] = [Mix::JsonApp, Mix::Lambda, Mix::Access, Mix::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            Mix::JsonApp => "json-app",
            Mix::Lambda => "lambda",
            Mix::Access => "access",
            Mix::Mixed => "mixed",
        }
    }

    pub fn parse(s: &str) -> Option<Mix> {
        Mix::ALL.into_iter().find(|m| m.name() == s)
    }

    fn log_group(self) -> &'static str {
        match self {
            Mix::JsonApp => "/ecs/orders-api",
            Mix::Lambda | Mix::Mixed => "/aws/lambda/checkout",
            Mix::Access => "/nginx/access",
        }
    }
}

/// SplitMix64: tiny, fast and reproducible; quality is ample for fake logs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len() as u64) as usize)
            .copied()
            .unwrap_or("")
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(digits);
        s
    }

    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// Base time of generated batches: 2023-11-14T22:13:20Z.
pub const BASE_TS: i64 = 1_700_000_000_000;

/// One generated log event.
#[derive(Debug, Clone)]
pub struct GenEvent {
    pub id: String,
    pub timestamp: i64,
    pub message: String,
}

/// Generates `n` events of `mix`.
pub fn events(mix: Mix, n: usize, seed: u64) -> Vec<GenEvent> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    let mut ts = BASE_TS + (seed % 1000) as i64;
    let mut lambda = LambdaState::default();
    let mut traces: Vec<(String, String)> = Vec::new();
    for i in 0..n {
        ts += rng.below(40) as i64;
        let kind = match mix {
            Mix::Mixed => [Mix::JsonApp, Mix::Lambda, Mix::Access][i % 3],
            m => m,
        };
        let message = match kind {
            Mix::Lambda => lambda.next(&mut rng, ts),
            Mix::Access => access_line(&mut rng, ts),
            _ => json_app_line(&mut rng, ts, &mut traces),
        };
        out.push(GenEvent {
            id: event_id(ts, seed, i),
            timestamp: ts,
            message,
        });
    }
    out
}

/// CloudWatch event ids are 56-digit decimal strings; ours encode time, seed and index.
fn event_id(ts: i64, seed: u64, i: usize) -> String {
    format!("{ts:020}{:018}{i:018}", seed % 1_000_000_000_000_000_000)
}

fn json_app_line(rng: &mut Rng, ts: i64, traces: &mut Vec<(String, String)>) -> String {
    const PATHS: &[&str] = &[
        "/orders",
        "/orders/{id}",
        "/cart",
        "/checkout",
        "/health",
        "/users/{id}/profile",
    ];
    const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
    // Reuse recent traces so one trace spans several lines, as one request logs several times.
    let (trace_id, span) = if !traces.is_empty() && rng.below(3) > 0 {
        traces[rng.below(traces.len() as u64) as usize].clone()
    } else {
        let t = format!("1-{:08x}-{}", (ts / 1000) as u32, rng.hex(24));
        let s = rng.hex(16);
        if traces.len() >= 8 {
            traces.remove(0);
        }
        traces.push((t.clone(), s.clone()));
        (t, s)
    };
    let roll = rng.below(100);
    let (level, status) = match roll {
        0..=79 => (
            "INFO",
            *[200, 200, 201, 204, 304]
                .get(rng.below(5) as usize)
                .unwrap_or(&200),
        ),
        80..=89 => (
            "WARNING",
            *[400, 404, 409, 429]
                .get(rng.below(4) as usize)
                .unwrap_or(&404),
        ),
        _ => (
            "ERROR",
            *[500, 502, 503].get(rng.below(3) as usize).unwrap_or(&500),
        ),
    };
    let path = rng
        .pick(PATHS)
        .replace("{id}", &rng.below(100_000).to_string());
    let method = rng.pick(METHODS);
    let latency = (rng.below(25_000) as f64) / 100.0 + if status >= 500 { 300.0 } else { 0.0 };
    let mut v = json!({
        "timestamp": iso8601(ts),
        "level": level,
        "logger": "orders.api",
        "service": "orders-api",
        "message": format!("{method} {path} -> {status}"),
        "method": method,
        "path": path,
        "status": status,
        "latency_ms": latency,
        "request_id": rng.uuid(),
    });
    if rng.below(4) == 0 {
        // W3C/OpenTelemetry style for a share of lines.
        let hex32 = trace_id.replace("1-", "").replace('-', "");
        v["traceparent"] = json!(format!("00-{hex32}-{span}-01"));
    } else {
        v["trace_id"] = json!(trace_id);
        v["span_id"] = json!(span);
    }
    if status >= 500 {
        v["error"] = json!({"type": "UpstreamTimeout", "detail": "payments service did not answer in 300ms"});
    }
    if rng.below(10) == 0 {
        v["user"] = json!({"id": rng.below(10_000), "email": format!("user{}@example.com", rng.below(1000))});
    }
    v.to_string()
}

#[derive(Default)]
struct LambdaState {
    request: Option<String>,
    step: u8,
    warm: bool,
}

impl LambdaState {
    fn next(&mut self, rng: &mut Rng, ts: i64) -> String {
        let rid = match &self.request {
            Some(r) => r.clone(),
            None => {
                let r = rng.uuid();
                self.request = Some(r.clone());
                self.step = 0;
                r
            }
        };
        self.step += 1;
        match self.step {
            1 => format!("START RequestId: {rid} Version: $LATEST\n"),
            2 | 3 => {
                let lvl = if rng.below(10) == 0 { "ERROR" } else { "INFO" };
                format!(
                    "{}\t{rid}\t{lvl}\tprocessed order {} in {} ms\n",
                    iso8601(ts),
                    rng.below(100_000),
                    rng.below(300)
                )
            }
            4 => {
                let roll = rng.below(100);
                if roll < 3 {
                    format!(
                        "{} {rid} Task timed out after 3.00 seconds\n\n",
                        iso8601(ts)
                    )
                } else {
                    format!("END RequestId: {rid}\n")
                }
            }
            _ => {
                self.request = None;
                let duration = rng.below(300_000) as f64 / 100.0 + 1.0;
                let billed = duration.ceil();
                let mem_used = 40 + rng.below(80);
                let mut line = format!(
                    "REPORT RequestId: {rid}\tDuration: {duration:.2} ms\tBilled Duration: {billed:.0} ms\tMemory Size: 128 MB\tMax Memory Used: {mem_used} MB\t"
                );
                if !self.warm {
                    self.warm = true;
                    line.push_str(&format!(
                        "Init Duration: {:.2} ms\t",
                        rng.below(50_000) as f64 / 100.0 + 80.0
                    ));
                } else if rng.below(20) == 0 {
                    self.warm = false;
                }
                let roll = rng.below(100);
                if roll < 2 {
                    line.push_str("Status: error\tError Type: Runtime.OutOfMemory\t");
                } else if roll < 4 {
                    line.push_str("Status: timeout\t");
                }
                if rng.below(2) == 0 {
                    let sep = if rng.below(2) == 0 { "\n" } else { "" };
                    line.push_str(&format!(
                        "{sep}XRAY TraceId: 1-{:08x}-{}\tSegmentId: {}\tSampled: true\t",
                        (ts / 1000) as u32,
                        rng.hex(24),
                        rng.hex(16)
                    ));
                }
                line.push('\n');
                line
            }
        }
    }
}

fn access_line(rng: &mut Rng, ts: i64) -> String {
    const PATHS: &[&str] = &[
        "/index.html",
        "/static/app.js",
        "/api/v1/orders?page=2",
        "/login",
        "/favicon.ico",
        "/api/v1/cart",
    ];
    const AGENTS: &[&str] = &[
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        "curl/8.4.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
    ];
    let status = match rng.below(100) {
        0..=84 => 200,
        85..=89 => 304,
        90..=95 => 404,
        96..=97 => 403,
        _ => 500,
    };
    format!(
        "10.0.{}.{} - - [{}] \"{} {} HTTP/1.1\" {status} {} \"-\" \"{}\"",
        rng.below(255),
        rng.below(255),
        clf_time(ts),
        if rng.below(5) == 0 { "POST" } else { "GET" },
        rng.pick(PATHS),
        rng.below(50_000),
        rng.pick(AGENTS)
    )
}

/// A CloudWatch Logs DATA_MESSAGE document holding `events`.
pub fn document(mix: Mix, events: &[GenEvent]) -> String {
    document_for(
        mix.log_group(),
        "2023/11/14/[$LATEST]0123456789abcdef",
        events,
    )
}

pub fn document_for(log_group: &str, log_stream: &str, events: &[GenEvent]) -> String {
    let evs: Vec<_> = events
        .iter()
        .map(|e| json!({"id": e.id, "timestamp": e.timestamp, "message": e.message}))
        .collect();
    json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["logsieve"],
        "logEvents": evs,
    })
    .to_string()
}

/// The Lambda subscription event for `n` events of `mix`.
pub fn subscription_event(mix: Mix, n: usize, seed: u64) -> String {
    encode::subscription_event(&document(mix, &events(mix, n, seed)))
}

fn iso8601(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms.div_euclid(1000));
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        ms.rem_euclid(1000)
    )
}

fn clf_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(ms.div_euclid(1000));
    let mon = MONTHS
        .get((mo as usize).saturating_sub(1))
        .unwrap_or(&"Jan");
    format!("{d:02}/{mon}/{y:04}:{h:02}:{mi:02}:{s:02} +0000")
}

/// Days-from-civil inverse (Howard Hinnant's algorithm): epoch seconds → UTC calendar fields.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsieve::decode::{decode_input, DecodeLimits};

    #[test]
    fn deterministic_and_decodable() {
        for mix in Mix::ALL {
            let a = subscription_event(mix, 50, 7);
            assert_eq!(a, subscription_event(mix, 50, 7), "{}", mix.name());
            assert_ne!(a, subscription_event(mix, 50, 8));
            let d = decode_input(a.as_bytes(), &DecodeLimits::default()).unwrap();
            let b = d.batches().next().unwrap();
            assert_eq!(b.events.len(), 50);
            assert!(b
                .events
                .windows(2)
                .all(|w| w[0].timestamp <= w[1].timestamp));
        }
    }

    #[test]
    fn message_sizes_are_realistic() {
        let evs = events(Mix::JsonApp, 500, 1);
        let avg = evs.iter().map(|e| e.message.len()).sum::<usize>() / evs.len();
        assert!((100..=400).contains(&avg), "avg {avg}");
    }

    #[test]
    fn calendar() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(BASE_TS), "2023-11-14T22:13:20.000Z");
        assert_eq!(clf_time(951_782_400_000), "29/Feb/2000:00:00:00 +0000");
    }
}
