"""An OTLP/HTTP logs receiver on loopback for the end-to-end tests: it decodes every
`POST /v1/logs` with the official generated messages (PyPI `opentelemetry-proto`), keeps each
request with its headers and the answer it got, and answers as the test scripts it: success
(optionally a partial success), an HTTP error status, a hang, or a dropped connection.

Protocol: https://opentelemetry.io/docs/specs/otlp/#otlphttp (binary protobuf, optional
`Content-Encoding: gzip`, 200 + ExportLogsServiceResponse; 429/502/503/504 retryable)."""

import collections
import dataclasses
import gzip
import http.server
import socket
import threading
import time
from typing import Optional

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

LOGS_PATH = "/v1/logs"
# A hung request is released at the latest after this long, so no thread outlives a test run.
MAX_HANG_SECONDS = 120


@dataclasses.dataclass(frozen=True)
class Answer:
    """What the receiver does with one request. `kind` is "ok", "status", "hang" or "close"."""

    kind: str
    status: int = 200
    headers: tuple = ()
    rejected: int = 0
    message: str = ""

    def label(self) -> str:
        return str(self.status) if self.kind in ("ok", "status") else self.kind


def ok(rejected: int = 0, message: str = "") -> Answer:
    """200 with an ExportLogsServiceResponse; `rejected` > 0 makes it a partial success."""
    return Answer("ok", 200, (), rejected, message)


def status(code: int, retry_after: Optional[str] = None) -> Answer:
    """An error status with an empty body (`Retry-After` when given, e.g. 429 / "1")."""
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Answer("status", code, headers)


HANG = Answer("hang")  # read the request, then never answer until release() or stop()
CLOSE = Answer("close")  # read the request, then close the connection without a response


@dataclasses.dataclass
class Received:
    """One request as it arrived and the answer it got."""

    at: float  # time.monotonic() when the body had been read
    path: str
    headers: dict  # lower-cased names
    body: bytes  # as sent (possibly gzip)
    request: Optional[logs_service_pb2.ExportLogsServiceRequest]
    decode_error: Optional[str]
    answer: Answer

    @property
    def accepted(self) -> bool:
        """The sender was told the records were taken (200, not rejected ones aside)."""
        return self.answer.kind == "ok" and self.request is not None


class OtlpReceiver:
    """Start with OtlpReceiver(); `url` is the OTLP base endpoint (the function appends
    /v1/logs), `logs_url` the full one (`path` replaces /v1/logs, for a full logs endpoint used
    as is). Always stop()."""

    def __init__(self, host: str = "127.0.0.1", path: str = LOGS_PATH):
        self._lock = threading.Lock()
        self._script = collections.deque()
        self._default = ok()
        self._release = threading.Event()
        self.received: list = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
                pass

            def do_POST(self):
                receiver._handle(self)

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.path = path
        self.logs_url = self.url + path
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # --- scripting -------------------------------------------------------------------------
    def script(self, *answers: Answer) -> None:
        """Queue answers for the next requests, in order; afterwards the default applies."""
        with self._lock:
            self._script.extend(answers)

    def set_default(self, answer: Answer) -> None:
        """The answer once the script is used up (initially ok())."""
        with self._lock:
            self._default = answer

    def release(self) -> None:
        """Let every hung request go (their connections are closed without a response); later
        HANG answers hang again."""
        self._release.set()
        self._release = threading.Event()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- what arrived ----------------------------------------------------------------------
    def requests(self) -> list:
        with self._lock:
            return list(self.received)

    def accepted_records(self) -> list:
        """Flattened log records of every request answered 200."""
        return [r for rec in self.requests() if rec.accepted for r in flatten(rec.request)]

    def answers(self) -> list:
        """The answer labels in arrival order, e.g. ["503", "200"]."""
        return [r.answer.label() for r in self.requests()]

    # --- the handler -----------------------------------------------------------------------
    def _next_answer(self) -> Answer:
        with self._lock:
            return self._script.popleft() if self._script else self._default

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        body = read_body(h)
        headers = {k.lower(): v for k, v in h.headers.items()}
        request, error = None, None
        if h.path.split("?")[0] != self.path:
            error = f"unexpected path {h.path}"
        else:
            try:
                raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
                request = logs_service_pb2.ExportLogsServiceRequest()
                request.ParseFromString(raw)
            except Exception as e:  # a malformed body is recorded for the test to see
                request, error = None, f"{type(e).__name__}: {e}"
        answer = self._next_answer() if error is None else status(400)
        release = self._release
        with self._lock:
            self.received.append(
                Received(time.monotonic(), h.path, headers, body, request, error, answer)
            )
        if answer.kind == "hang":
            release.wait(MAX_HANG_SECONDS)
            _drop(h)
        elif answer.kind == "close":
            _drop(h)
        elif answer.kind == "ok":
            resp = logs_service_pb2.ExportLogsServiceResponse()
            if answer.rejected or answer.message:
                resp.partial_success.rejected_log_records = answer.rejected
                resp.partial_success.error_message = answer.message
            _send(h, 200, resp.SerializeToString(), answer.headers)
        else:
            _send(h, answer.status, b"", answer.headers)


def read_body(h) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


def _send(h, code: int, body: bytes, headers) -> None:
    h.send_response(code)
    h.send_header("Content-Type", "application/x-protobuf")
    h.send_header("Content-Length", str(len(body)))
    for k, v in headers:
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


def _drop(h) -> None:
    """Close the connection with no response at all."""
    h.close_connection = True
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# --- flattening ----------------------------------------------------------------------------
def any_value(v):
    """An OTLP AnyValue as plain Python (kvlist → dict, array → list, unset → None)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which)


def key_values(kvs) -> dict:
    return {kv.key: any_value(kv.value) for kv in kvs}


def flatten(request) -> list:
    """One dict per LogRecord: its resource's and scope's data beside its own fields; ids as
    lower-case hex ("" when absent)."""
    out = []
    for rl in request.resource_logs:
        resource = key_values(rl.resource.attributes)
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                out.append(
                    {
                        "resource": resource,
                        "scope": sl.scope.name,
                        "time_unix_nano": lr.time_unix_nano,
                        "observed_time_unix_nano": lr.observed_time_unix_nano,
                        "severity_number": lr.severity_number,
                        "severity_text": lr.severity_text,
                        "body": any_value(lr.body) if lr.HasField("body") else None,
                        "attributes": key_values(lr.attributes),
                        "trace_id": lr.trace_id.hex(),
                        "span_id": lr.span_id.hex(),
                        "flags": lr.flags,
                    }
                )
    return out
