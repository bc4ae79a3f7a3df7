//! Joins the consecutive events of one log stream that are one multi-line message (a stack trace
//! a container runtime split into one event per line) back into one event, before parsing.
//!
//! Built-in detectors follow the shapes Google's `fluent-plugin-detect-exceptions` and Fluent
//! Bit's built-in multiline parsers recognise (https://docs.fluentbit.io/manual/administration/configuring-fluent-bit/multiline-parsing):
//! a start line opens a trace, and each following line either continues it (a frame, a cause, an
//! exception line) or closes it. A custom `start_pattern` works like the awslogs driver's
//! `awslogs-multiline-pattern` (https://docs.docker.com/engine/logging/drivers/awslogs/): a line
//! matching it starts a new event, every other line is appended to the open one.
//!
//! JSON events, Lambda runtime and platform lines, and events already holding several lines are
//! never joined. Work is linear in the batch: each event is looked at once, against a fixed
//! number of checks, and a joined event is cut at `max_lines` / `max_bytes`.

use globset::GlobSet;
use memchr::memmem;
use regex::Regex;
use serde::Deserialize;

use crate::config_error::ConfigError;
use crate::counter_keys as ck;
use crate::record::LogEvent;
use crate::stats::Counters;

/// The output record member holding how many log events a joined event was made of (present
/// only on joined events).
pub const JOINED_KEY: &str = "@joined";

/// Default `max_lines`: Fluent Bit's and the peers' usual bound on one joined event.
pub const DEFAULT_MAX_LINES: usize = 500;
/// Default `max_bytes`: 256 KiB.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;
/// Largest `max_lines` accepted.
pub const MAX_MAX_LINES: usize = 100_000;
/// Largest `max_bytes` accepted: a CloudWatch Logs event is at most 1 MB, a joined one a few.
pub const MAX_MAX_BYTES: usize = 8 << 20;

/// `[multiline]` (top level or in a profile) as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MultilineConfig {
    /// Built-in start detectors: `java` (also Kotlin and other JVM languages), `python`, `node`,
    /// `go`, `dotnet`.
    pub detectors: Vec<String>,
    /// A line matching this regex starts a new event; other lines continue the open one.
    /// Exclusive with `detectors`.
    pub start_pattern: String,
    /// Most log events in one joined event; the next one starts a new event (counted).
    pub max_lines: usize,
    /// Most bytes of one joined message; the event that would pass it starts a new event.
    pub max_bytes: usize,
    /// Log groups joined (globs); empty: every log group.
    pub log_groups: Vec<String>,
}

impl Default for MultilineConfig {
    fn default() -> Self {
        MultilineConfig {
            detectors: Vec::new(),
            start_pattern: String::new(),
            max_lines: DEFAULT_MAX_LINES,
            max_bytes: DEFAULT_MAX_BYTES,
            log_groups: Vec::new(),
        }
    }
}

/// A built-in detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    Java,
    Python,
    Node,
    Go,
    Dotnet,
}

impl Detector {
    pub const ALL: [Detector; 5] = [
        Detector::Java,
        Detector::Python,
        Detector::Node,
        Detector::Go,
        Detector::Dotnet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Detector::Java => "java",
            Detector::Python => "python",
            Detector::Node => "node",
            Detector::Go => "go",
            Detector::Dotnet => "dotnet",
        }
    }

    fn parse(s: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == s)
    }
}

/// The checked `[multiline]` settings.
#[derive(Debug, Clone)]
pub struct MultilineRules {
    detectors: Vec<Detector>,
    start: Option<Regex>,
    pub max_lines: usize,
    pub max_bytes: usize,
    log_groups: Option<GlobSet>,
    finders: Finders,
}

/// Substring searchers built once (building one per line would cost more than the search).
#[derive(Debug, Clone)]
struct Finders {
    exception: memmem::Finder<'static>,
    error: memmem::Finder<'static>,
    throwable: memmem::Finder<'static>,
}

impl Finders {
    fn new() -> Finders {
        Finders {
            exception: memmem::Finder::new("Exception").into_owned(),
            error: memmem::Finder::new("Error").into_owned(),
            throwable: memmem::Finder::new("Throwable").into_owned(),
        }
    }
}

impl MultilineConfig {
    /// Checks the settings; `key` is where they are (`multiline`, `profile[1].multiline`).
    pub fn validate(&self, key: &str) -> Result<MultilineRules, ConfigError> {
        let mut detectors = Vec::new();
        for (i, d) in self.detectors.iter().enumerate() {
            let det = Detector::parse(d).ok_or_else(|| {
                ConfigError::new(
                    format!("{key}.detectors[{i}]"),
                    format!("unknown detector {d:?} (java | python | node | go | dotnet)"),
                )
            })?;
            if !detectors.contains(&det) {
                detectors.push(det);
            }
        }
        let start = if self.start_pattern.is_empty() {
            None
        } else {
            if !detectors.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}.start_pattern"),
                    "set either `detectors` or `start_pattern`, not both",
                ));
            }
            let re = regex::RegexBuilder::new(&self.start_pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ConfigError::new(format!("{key}.start_pattern"), e.to_string()))?;
            Some(re)
        };
        if detectors.is_empty() && start.is_none() {
            return Err(ConfigError::new(
                key,
                "nothing to join by: set `detectors` (java | python | node | go | dotnet) or `start_pattern`",
            ));
        }
        if !(1..=MAX_MAX_LINES).contains(&self.max_lines) {
            return Err(ConfigError::new(
                format!("{key}.max_lines"),
                format!("{} is not within 1..={MAX_MAX_LINES}", self.max_lines),
            ));
        }
        if !(1..=MAX_MAX_BYTES).contains(&self.max_bytes) {
            return Err(ConfigError::new(
                format!("{key}.max_bytes"),
                format!("{} is not within 1..={MAX_MAX_BYTES}", self.max_bytes),
            ));
        }
        let log_groups = if self.log_groups.is_empty() {
            None
        } else {
            let mut b = globset::GlobSetBuilder::new();
            for (i, g) in self.log_groups.iter().enumerate() {
                b.add(globset::Glob::new(g).map_err(|e| {
                    ConfigError::new(format!("{key}.log_groups[{i}]"), e.to_string())
                })?);
            }
            Some(
                b.build()
                    .map_err(|e| ConfigError::new(format!("{key}.log_groups"), e.to_string()))?,
            )
        };
        Ok(MultilineRules {
            detectors,
            start,
            max_lines: self.max_lines,
            max_bytes: self.max_bytes,
            log_groups,
            finders: Finders::new(),
        })
    }
}

impl MultilineRules {
    /// Whether events of `log_group` are joined.
    pub fn applies_to(&self, log_group: &str) -> bool {
        self.log_groups
            .as_ref()
            .is_none_or(|g| g.is_match(log_group))
    }
}

/// One event after joining, and how many log events it was made of (1: not joined).
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub event: LogEvent,
    pub count: u32,
}

/// Where a trace is: which line shapes may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After `…Exception: …` / `Caused by: …`: frames, causes, blank lines.
    JavaAfterException,
    JavaFrames,
    /// After `Traceback (most recent call last):` or a frame line.
    PythonFrames,
    /// After the exception line: blank lines and chained-exception headers.
    PythonAfterException,
    NodeAfterError,
    NodeFrames,
    GoAfterPanic,
    GoAfterSignal,
    GoGoroutine,
    /// Expecting a function line (`main.main()`) or a new goroutine.
    GoFunction,
    /// Expecting the indented file line of a function.
    GoFile,
    DotnetAfterException,
    DotnetFrames,
    /// `start_pattern` mode: every line that does not match it continues.
    Custom,
}

/// How an event takes part in joining.
enum Shape<'a> {
    /// JSON, Lambda runtime/platform output, or already several lines: kept as it is.
    Whole,
    /// One line of text (trailing newline removed).
    Line(&'a str),
}

fn shape(message: &str) -> Shape<'_> {
    let line = message.trim_end_matches(['\n', '\r']);
    let first = line.bytes().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'{') || memchr::memchr(b'\n', line.as_bytes()).is_some() {
        return Shape::Whole;
    }
    if is_lambda_runtime(line) {
        return Shape::Whole;
    }
    Shape::Line(line)
}

/// Lambda's own lines: the platform's (`START RequestId: …`, `REPORT …`) and a managed
/// runtime's application lines (`<time>\t<request id>\t<LEVEL>\t…`, Python's `[LEVEL]\t…`),
/// which already carry a whole stack trace in one event
/// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html).
fn is_lambda_runtime(line: &str) -> bool {
    const PLATFORM: [&str; 9] = [
        "START RequestId: ",
        "END RequestId: ",
        "REPORT RequestId: ",
        "INIT_START ",
        "INIT_REPORT ",
        "RESTORE_",
        "EXTENSION\t",
        "TELEMETRY\t",
        "RequestId: ",
    ];
    let b = line.as_bytes();
    match b.first() {
        Some(b'S' | b'E' | b'R' | b'I' | b'T') if PLATFORM.iter().any(|p| line.starts_with(p)) => {
            true
        }
        // `[ERROR]\t2024-…`
        Some(b'[') => b
            .iter()
            .position(|&c| c == b']')
            .is_some_and(|end| end > 1 && b.get(end + 1) == Some(&b'\t')),
        // `2024-01-01T00:00:00.000Z\t<36-char request id>\t`
        Some(c) if c.is_ascii_digit() => {
            let Some(tab) = memchr::memchr(b'\t', b) else {
                return false;
            };
            tab >= 20
                && b.get(4) == Some(&b'-')
                && b.get(10) == Some(&b'T')
                && b.get(tab + 37) == Some(&b'\t')
        }
        _ => false,
    }
}

/// `(rest after leading spaces/tabs, whether there were any)`.
fn indent(line: &str) -> (&str, bool) {
    let rest = line.trim_start_matches([' ', '\t']);
    (rest, rest.len() < line.len())
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// `... 12 more` / `... 5 common frames omitted`.
fn is_java_omitted(rest: &str) -> bool {
    rest.strip_prefix("... ").is_some_and(|r| {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0
            && (r[digits..].starts_with(" more") || r[digits..].starts_with(" common frames"))
    })
}

/// `goroutine 1 [running]:`
fn is_goroutine_header(line: &str) -> bool {
    line.strip_prefix("goroutine ").is_some_and(|r| {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && r[digits..].starts_with(" [") && r.ends_with("]:")
    })
}

/// A Go traceback's function line: `main.main()`, `net/http.(*conn).serve(0xc0…)`,
/// `created by main.main in goroutine 1`.
fn is_go_function(line: &str) -> bool {
    if line.starts_with("created by ") {
        return true;
    }
    match line.find('(') {
        Some(p) if p > 0 => !line[..p].contains(char::is_whitespace),
        _ => false,
    }
}

/// A Python exception line: `ValueError: bad`, `pkg.mod.Error: x`, or a bare exception name
/// (`KeyboardInterrupt`, `StopIteration`).
fn is_python_exception(line: &str) -> bool {
    let colon = line.find(':');
    let name = &line[..colon.unwrap_or(line.len())];
    let identifier = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && name.bytes().next().is_some_and(|b| !b.is_ascii_digit());
    identifier
        && (colon.is_some()
            || [
                "Error",
                "Exception",
                "Interrupt",
                "Exit",
                "Iteration",
                "Warning",
            ]
            .iter()
            .any(|s| name.ends_with(s)))
}

impl MultilineRules {
    /// `Exception`, `Error` or `Throwable` followed by `:` or the end of the line, anywhere in it
    /// (`java.lang.IllegalStateException: boom`, `Exception in thread "main" java.…Error`,
    /// `TypeError: x`).
    fn names_exception(&self, line: &str) -> bool {
        let b = line.as_bytes();
        let f = &self.finders;
        [(&f.exception, 9), (&f.error, 5), (&f.throwable, 9)]
            .into_iter()
            .any(|(finder, len)| {
                finder
                    .find_iter(b)
                    .any(|at| matches!(b.get(at + len), None | Some(b':')))
            })
    }

    /// The state a line opens a trace in, when it starts one.
    fn start(&self, line: &str) -> Option<State> {
        if self.start.is_some() {
            // Every line belongs to an event: one that does not match begins a piece whose
            // start was in an earlier batch (or before the first start line).
            return Some(State::Custom);
        }
        for &d in &self.detectors {
            let state = match d {
                Detector::Java => self
                    .names_exception(line)
                    .then_some(State::JavaAfterException),
                Detector::Node => self.names_exception(line).then_some(State::NodeAfterError),
                Detector::Dotnet => self
                    .names_exception(line)
                    .then_some(State::DotnetAfterException),
                Detector::Python => (line.trim_end() == "Traceback (most recent call last):")
                    .then_some(State::PythonFrames),
                Detector::Go => {
                    // The runtime writes these at the start of a line; the words inside a line
                    // (`recovered from panic: …`) are an application's message, not a trace.
                    if is_goroutine_header(line) {
                        Some(State::GoFunction)
                    } else if line.starts_with("panic: ") || line.starts_with("fatal error: ") {
                        Some(State::GoAfterPanic)
                    } else {
                        None
                    }
                }
            };
            if state.is_some() {
                return state;
            }
        }
        None
    }

    /// The state after `line` when it continues a trace in `state`; `None` closes the trace.
    fn next(&self, state: State, line: &str) -> Option<State> {
        let (rest, indented) = indent(line);
        match state {
            State::Custom => {
                let starts = self.start.as_ref().is_some_and(|re| re.is_match(line));
                (!starts).then_some(State::Custom)
            }
            State::JavaAfterException | State::JavaFrames => {
                if indented && (rest.starts_with("at ") || rest.starts_with("eval at ")) {
                    Some(State::JavaFrames)
                } else if rest.starts_with("Caused by:") || rest.starts_with("Suppressed:") {
                    Some(State::JavaAfterException)
                } else if is_java_omitted(rest) {
                    Some(State::JavaFrames)
                } else if state == State::JavaAfterException
                    && (is_blank(line) || rest.starts_with("nested exception is:"))
                {
                    Some(State::JavaAfterException)
                } else {
                    None
                }
            }
            State::NodeAfterError | State::NodeFrames => {
                if indented && rest.starts_with("at ") {
                    Some(State::NodeFrames)
                } else if indented && rest.starts_with("[cause]:") {
                    Some(State::NodeAfterError)
                } else if indented && rest.starts_with("... ") {
                    Some(State::NodeFrames)
                } else {
                    None
                }
            }
            State::DotnetAfterException | State::DotnetFrames => {
                if (indented && rest.starts_with("at ")) || rest.starts_with("--- End of ") {
                    Some(State::DotnetFrames)
                } else if rest.starts_with("---> ") {
                    Some(State::DotnetAfterException)
                } else {
                    None
                }
            }
            State::PythonFrames => {
                if indented && !rest.is_empty() {
                    Some(State::PythonFrames)
                } else if !indented && is_python_exception(line) {
                    Some(State::PythonAfterException)
                } else {
                    None
                }
            }
            State::PythonAfterException => {
                let t = line.trim_end();
                if t == "Traceback (most recent call last):" {
                    Some(State::PythonFrames)
                } else if is_blank(line)
                    || t == "During handling of the above exception, another exception occurred:"
                    || t == "The above exception was the direct cause of the following exception:"
                {
                    Some(State::PythonAfterException)
                } else {
                    None
                }
            }
            State::GoAfterPanic => {
                if is_blank(line) {
                    Some(State::GoGoroutine)
                } else if line.starts_with("[signal ") {
                    Some(State::GoAfterSignal)
                } else if is_goroutine_header(line) {
                    Some(State::GoFunction)
                } else if indented || line.starts_with("panic: ") {
                    // `panic: a [recovered]` followed by `\tpanic: b`.
                    Some(State::GoAfterPanic)
                } else {
                    None
                }
            }
            State::GoAfterSignal | State::GoGoroutine => {
                if is_goroutine_header(line) {
                    Some(State::GoFunction)
                } else if is_blank(line) {
                    Some(State::GoGoroutine)
                } else {
                    None
                }
            }
            State::GoFunction => {
                if is_goroutine_header(line) {
                    Some(State::GoFunction)
                } else if is_blank(line) {
                    Some(State::GoGoroutine)
                } else if !indented && is_go_function(line) {
                    Some(State::GoFile)
                } else {
                    None
                }
            }
            State::GoFile => (indented && !rest.is_empty()).then_some(State::GoFunction),
        }
    }
}

/// The event being built.
struct Open {
    event: LogEvent,
    count: u32,
    state: State,
}

/// Joins one log stream's events (a batch is one stream: never call this with two streams'
/// events mixed). Events come out in order; each joined one keeps its first event's id,
/// timestamp and extracted fields, and its lines are separated by `\n`.
pub fn join(rules: &MultilineRules, events: Vec<LogEvent>, counters: &mut Counters) -> Vec<Joined> {
    let mut out = Vec::with_capacity(events.len());
    let mut open: Option<Open> = None;
    for event in events {
        let line = match shape(&event.message) {
            Shape::Whole => {
                flush(&mut open, &mut out, counters);
                out.push(Joined { event, count: 1 });
                continue;
            }
            Shape::Line(line) => line,
        };
        if let Some(o) = open.as_mut() {
            if let Some(next) = rules.next(o.state, line) {
                let line_len = line.len();
                // Only the first event's trailing newline is dropped: later lines were
                // appended without theirs, and a blank line is a line.
                let joined_len = if o.count == 1 {
                    o.event.message.trim_end_matches(['\n', '\r']).len()
                } else {
                    o.event.message.len()
                };
                let over_lines = o.count as usize >= rules.max_lines;
                let over_bytes = joined_len + 1 + line_len > rules.max_bytes;
                if over_lines || over_bytes {
                    counters.incr(if over_lines {
                        ck::multiline::CUT_MAX_LINES
                    } else {
                        ck::multiline::CUT_MAX_BYTES
                    });
                    flush(&mut open, &mut out, counters);
                    // The rest of the trace goes on joining into the next event.
                    open = Some(Open {
                        event,
                        count: 1,
                        state: next,
                    });
                } else {
                    let msg = &mut o.event.message;
                    msg.truncate(joined_len);
                    msg.reserve(line_len + 1);
                    msg.push('\n');
                    msg.push_str(&event.message[..line_len]);
                    o.count += 1;
                    o.state = next;
                    counters.incr(ck::multiline::EVENTS_MERGED);
                }
                continue;
            }
            flush(&mut open, &mut out, counters);
        }
        match rules.start(line) {
            Some(state) => {
                open = Some(Open {
                    event,
                    count: 1,
                    state,
                })
            }
            None => out.push(Joined { event, count: 1 }),
        }
    }
    if open.is_some() {
        counters.incr(ck::multiline::FLUSHED_AT_BATCH_END);
        flush(&mut open, &mut out, counters);
    }
    out
}

fn flush(open: &mut Option<Open>, out: &mut Vec<Joined>, counters: &mut Counters) {
    if let Some(o) = open.take() {
        if o.count > 1 {
            counters.incr(ck::multiline::JOINED);
        }
        out.push(Joined {
            event: o.event,
            count: o.count,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml_text: &str) -> MultilineRules {
        let cfg: MultilineConfig = toml::from_str(toml_text).unwrap();
        cfg.validate("multiline").unwrap()
    }

    fn events(lines: &[&str]) -> Vec<LogEvent> {
        lines
            .iter()
            .enumerate()
            .map(|(i, m)| LogEvent {
                id: format!("id{i}"),
                timestamp: 1_700_000_000_000 + i as i64,
                message: (*m).to_string(),
                extracted_fields: None,
            })
            .collect()
    }

    /// The joined messages, each with the number of events in it.
    fn joined(r: &MultilineRules, lines: &[&str]) -> (Vec<(String, u32)>, Counters) {
        let mut c = Counters::new();
        let out = join(r, events(lines), &mut c);
        (
            out.into_iter()
                .map(|j| (j.event.message, j.count))
                .collect(),
            c,
        )
    }

    /// (detector, lines, expected grouping as event counts per output event)
    #[test]
    fn each_detector_groups_its_own_shape() {
        let cases: &[(&str, &[&str], &[u32])] = &[
            (
                "java",
                &[
                    "2024-05-01 12:00:00.123 ERROR 1 --- [main] c.e.App : request failed",
                    "java.lang.IllegalStateException: order 42 has no lines",
                    "\tat com.example.Orders.total(Orders.java:88)",
                    "\tat com.example.Api.handle(Api.java:31)",
                    "Caused by: java.lang.NullPointerException: null",
                    "\tat com.example.Lines.sum(Lines.java:12)",
                    "\t... 2 more",
                    "2024-05-01 12:00:01.000 INFO 1 --- [main] c.e.App : next",
                ],
                &[1, 6, 1],
            ),
            (
                "java",
                // Kotlin, with suppressed exceptions and `common frames omitted`.
                &[
                    "Exception in thread \"main\" kotlin.UninitializedPropertyAccessException: lateinit property repo has not been initialized",
                    "\tat com.example.MainKt.main(Main.kt:7)",
                    "\tSuppressed: java.io.IOException: close failed",
                    "\t\tat com.example.Res.close(Res.kt:3)",
                    "\t... 5 common frames omitted",
                ],
                &[5],
            ),
            (
                "python",
                &[
                    "ERROR:root:payment failed",
                    "Traceback (most recent call last):",
                    "  File \"/app/pay.py\", line 10, in charge",
                    "    return 1 / amount",
                    "           ~~^~~~~~~~",
                    "ZeroDivisionError: division by zero",
                    "",
                    "During handling of the above exception, another exception occurred:",
                    "",
                    "Traceback (most recent call last):",
                    "  File \"/app/pay.py\", line 14, in <module>",
                    "    charge(0)",
                    "app.errors.PaymentError: amount must be positive",
                    "INFO:root:next request",
                ],
                &[1, 12, 1],
            ),
            (
                "node",
                &[
                    "TypeError: Cannot read properties of undefined (reading 'id')",
                    "    at handler (/app/index.js:10:15)",
                    "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5) {",
                    "  [cause]: Error: socket hang up",
                    "      at connResetException (node:internal/errors:720:14)",
                    "listening on 8080",
                ],
                &[5, 1],
            ),
            (
                "go",
                &[
                    "panic: runtime error: invalid memory address or nil pointer dereference",
                    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47b0b4]",
                    "",
                    "goroutine 1 [running]:",
                    "main.(*Server).handle(0x0, {0x4c4f20, 0xc000012345})",
                    "\t/app/server.go:42 +0x14",
                    "main.main()",
                    "\t/app/main.go:12 +0x1d",
                    "exit status 2",
                ],
                &[8, 1],
            ),
            (
                "go",
                // awslogs drops empty lines: the goroutine header follows the panic directly.
                &[
                    "panic: boom",
                    "goroutine 7 [running]:",
                    "main.worker()",
                    "\t/app/w.go:9 +0x25",
                    "created by main.main in goroutine 1",
                    "\t/app/main.go:20 +0x5e",
                ],
                &[6],
            ),
            (
                "go",
                &[
                    "fatal error: all goroutines are asleep - deadlock!",
                    "goroutine 1 [chan receive]:",
                    "main.main()",
                    "\t/app/main.go:5 +0x2d",
                ],
                &[4],
            ),
            (
                "go",
                // `panic:` and `fatal error:` inside a line are an application's words: no start,
                // so the indented line after each is not taken as the trace's continuation.
                &[
                    "level=warn msg=\"retrying after panic: timeout\"",
                    "\tattempt=2",
                    "worker 3: fatal error: disk full",
                    "\tretrying",
                    " panic: indented, so not the runtime's",
                    "\tnext",
                ],
                &[1, 1, 1, 1, 1, 1],
            ),
            (
                "dotnet",
                &[
                    "Unhandled exception. System.InvalidOperationException: Sequence contains no elements",
                    " ---> System.ArgumentException: bad id",
                    "   at Orders.Api.Find(Int32 id) in /src/Api.cs:line 31",
                    "   --- End of inner exception stack trace ---",
                    "   at Program.<Main>$(String[] args) in /src/Program.cs:line 3",
                    "info: Microsoft.Hosting.Lifetime[0]",
                ],
                &[5, 1],
            ),
        ];
        for (det, lines, want) in cases {
            let r = rules(&format!("detectors = [\"{det}\"]"));
            let (out, c) = joined(&r, lines);
            let counts: Vec<u32> = out.iter().map(|(_, n)| *n).collect();
            assert_eq!(&counts, want, "{det}: {out:#?}");
            // No line is lost or reordered.
            let back: Vec<&str> = out.iter().flat_map(|(m, _)| m.split('\n')).collect();
            assert_eq!(&back, lines, "{det}");
            let merged = want.iter().map(|n| u64::from(n - 1)).sum::<u64>();
            assert_eq!(c.get(ck::multiline::EVENTS_MERGED), merged, "{det}");
            assert_eq!(
                c.get(ck::multiline::JOINED),
                want.iter().filter(|&&n| n > 1).count() as u64,
                "{det}"
            );
        }
    }

    #[test]
    fn json_lambda_runtime_and_multi_line_events_are_never_joined() {
        let r = rules(r#"detectors = ["java", "python", "node", "go", "dotnet"]"#);
        let lines = [
            "java.lang.RuntimeException: boom",
            r#"{"level":"ERROR","msg":"x"}"#,
            "\tat a.B.c(B.java:1)",
            "2024-01-01T00:00:00.000Z\t8f5c2a1e-3b7d-4e9a-9c1f-2d6b8a4e7f01\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\"}\n",
            "    at handler (/var/task/index.js:3:9)",
            "[ERROR] ZeroDivisionError: division by zero\nTraceback (most recent call last):\n  File \"/var/task/app.py\", line 3\n",
            "  File \"/x.py\", line 1",
            "REPORT RequestId: 8f5c2a1e-3b7d-4e9a-9c1f-2d6b8a4e7f01\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t\n",
            "\tat x.Y.z(Y.java:2)",
        ];
        let (out, c) = joined(&r, &lines);
        assert!(out.iter().all(|(_, n)| *n == 1), "{out:#?}");
        assert_eq!(out.len(), lines.len());
        assert_eq!(c.get(ck::multiline::EVENTS_MERGED), 0);
        // The message of an event left alone is exactly as delivered.
        assert_eq!(out[3].0, lines[3]);
    }

    #[test]
    fn joined_event_keeps_the_first_id_and_timestamp() {
        let r = rules(r#"detectors = ["java"]"#);
        let mut c = Counters::new();
        let mut evs = events(&["x", "java.lang.Error: a\n", "\tat a.b(C.java:1)\n", "y"]);
        evs[1].extracted_fields = Some([("k".to_string(), "v".to_string())].into());
        let out = join(&r, evs, &mut c);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].event.id, "id1");
        assert_eq!(out[1].event.timestamp, 1_700_000_000_001);
        assert_eq!(out[1].count, 2);
        // Trailing newlines are not doubled into the joined message.
        assert_eq!(
            out[1].event.message,
            "java.lang.Error: a\n\tat a.b(C.java:1)"
        );
        assert!(out[1].event.extracted_fields.is_some());
    }

    #[test]
    fn start_pattern_works_like_the_awslogs_driver() {
        let r = rules(r#"start_pattern = '^\d{4}-\d{2}-\d{2} '"#);
        let (out, c) = joined(
            &r,
            &[
                "  leftover of the previous batch",
                "2024-01-01 a",
                "  b",
                "c",
                "2024-01-01 d",
                r#"{"json":true}"#,
                "e",
            ],
        );
        let counts: Vec<u32> = out.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, [1, 3, 1, 1, 1]);
        // The last event was open at the end of the batch.
        assert_eq!(c.get(ck::multiline::FLUSHED_AT_BATCH_END), 1);
    }

    #[test]
    fn a_trace_open_at_the_batch_end_is_flushed_and_counted() {
        let r = rules(r#"detectors = ["python"]"#);
        let (out, c) = joined(
            &r,
            &[
                "ok",
                "Traceback (most recent call last):",
                "  File \"/app/x.py\", line 1, in <module>",
            ],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].1, 2);
        assert_eq!(c.get(ck::multiline::FLUSHED_AT_BATCH_END), 1);
        // A batch ending on a closed trace flushes nothing.
        let (_, c) = joined(&r, &["Traceback (most recent call last):", "ok"]);
        assert_eq!(c.get(ck::multiline::FLUSHED_AT_BATCH_END), 0);
    }

    /// (max_lines, max_bytes, frames after the exception line, events per output event, cuts)
    #[test]
    fn bounds_cut_cleanly_and_the_trace_goes_on_joining() {
        let frame = "\tat com.example.A.b(A.java:1)"; // 29 bytes
        for (max_lines, max_bytes, frames, want, (cut_lines, cut_bytes)) in [
            (500usize, 262_144usize, 3usize, vec![4u32], (0u64, 0u64)),
            (2, 262_144, 4, vec![2, 2, 1], (2, 0)),
            // "java.lang.Error: x" is 18 bytes; 18 + 1 + 29 = 48, + 30 = 78.
            (500, 78, 4, vec![3, 2], (0, 1)),
            (500, 77, 4, vec![2, 2, 1], (0, 2)),
        ] {
            let r = rules(&format!(
                "detectors = [\"java\"]\nmax_lines = {max_lines}\nmax_bytes = {max_bytes}"
            ));
            let mut lines = vec!["java.lang.Error: x"];
            lines.extend(std::iter::repeat_n(frame, frames));
            let (out, c) = joined(&r, &lines);
            let counts: Vec<u32> = out.iter().map(|(_, n)| *n).collect();
            assert_eq!(counts, want, "{max_lines} {max_bytes}");
            assert!(out.iter().all(|(m, _)| m.len() <= max_bytes));
            assert_eq!(c.get(ck::multiline::CUT_MAX_LINES), cut_lines);
            assert_eq!(c.get(ck::multiline::CUT_MAX_BYTES), cut_bytes);
        }
    }

    #[test]
    fn bad_settings_name_their_key() {
        for (text, key) in [
            ("detectors = [\"cobol\"]", "multiline.detectors[0]"),
            ("", "multiline"),
            (
                "detectors = [\"java\"]\nstart_pattern = \"^x\"",
                "multiline.start_pattern",
            ),
            ("start_pattern = \"(\"", "multiline.start_pattern"),
            ("detectors = [\"go\"]\nmax_lines = 0", "multiline.max_lines"),
            ("detectors = [\"go\"]\nmax_bytes = 0", "multiline.max_bytes"),
            (
                "detectors = [\"go\"]\nlog_groups = [\"[\"]",
                "multiline.log_groups[0]",
            ),
        ] {
            let cfg: MultilineConfig = toml::from_str(text).unwrap();
            let e = cfg.validate("multiline").unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
        }
    }

    #[test]
    fn log_groups_choose_where_joining_applies() {
        let r = rules("detectors = [\"java\"]\nlog_groups = [\"/ecs/*\"]");
        assert!(r.applies_to("/ecs/api"));
        assert!(!r.applies_to("/aws/lambda/f"));
        assert!(rules("detectors = [\"java\"]").applies_to("/anything"));
    }
}
