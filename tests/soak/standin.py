"""A local stand-in for the Lambda Runtime API, shared by the soak and cold-start runs.

It serves the three endpoints a custom runtime uses (GET invocation/next, POST
invocation/{id}/response and /error) plus CloudWatch's PutMetricData and X-Ray's
PutTraceSegments (answered with success, for AWS_ENDPOINT_URL pointing here), hands out queued events one at a time, and timestamps the first /next and first /response so
callers can measure init and first-event latency. Python stdlib only, so it runs on a fresh
machine without a venv.
"""

import base64
import gzip
import http.server
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

API = "/2018-06-01/runtime"
ROOT = Path(__file__).resolve().parents[2]
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:logsieve-soak"
# Lambda's 60 s timeout of the deployed function (functions/log-processor/Cargo.toml).
DEADLINE_MS = 60_000


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def lambda_env(port, extra=None):
    """The environment Lambda gives a provided.al2023 function, minus credentials."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "logsieve-soak",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]soak",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/logsieve-soak",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.update(extra or {})
    return env


def aws_env(endpoint):
    """SDK sinks aimed at `endpoint` (a stand-in or a dead port) with dummy credentials."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


def trace_header(n):
    """A distinct, well-formed X-Ray trace header per invocation."""
    return f"Root=1-{0x6553F100 + n:08x}-{n:024x};Parent={n:016x};Sampled=1"


def generated_document(logsieve, seed, events, mix="mixed"):
    out = subprocess.run(
        [str(logsieve), "generate", "--mix", mix, "--events", str(events), "--seed", str(seed),
         "--format", "document"],
        check=True, capture_output=True, timeout=60)
    return json.loads(out.stdout)


def subscription_event(document):
    """The payload CloudWatch Logs sends to a subscribed Lambda."""
    data = base64.b64encode(gzip.compress(json.dumps(document).encode(), compresslevel=6))
    return json.dumps({"awslogs": {"data": data.decode()}}).encode()


class StandIn:
    """The Runtime API on a free loopback port. `push` queues events; `results` receives
    `(request_id, kind, body, monotonic_ns)` for every /response and /error POST."""

    def __init__(self, on_result=None):
        self.events = queue.Queue()
        self.results = queue.Queue()
        self.first_next_ns = None
        self.first_result_ns = None
        self.xray_segments = 0
        self.xray_requests = 0
        self.cloudwatch_requests = 0
        self.on_result = on_result
        self._stop = threading.Event()
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # Keep-alive, as the real Runtime API: lambda_runtime reuses one connection.
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the second waits for the
            # client's delayed ACK (40 ms), which no real endpoint adds.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def handle(self):
                # The function is killed at the end of every run, mid keep-alive.
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass

            def do_GET(self):
                now = time.monotonic_ns()
                if standin.first_next_ns is None:
                    standin.first_next_ns = now
                if self.path != f"{API}/invocation/next":
                    self._reply(404, b"")
                    return
                while True:
                    if standin._stop.is_set():
                        self.close_connection = True
                        return
                    try:
                        request_id, body, trace = standin.events.get(timeout=0.2)
                        break
                    except queue.Empty:
                        continue
                deadline = int(time.time() * 1000) + DEADLINE_MS
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                self.send_header("Lambda-Runtime-Trace-Id", trace)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                now = time.monotonic_ns()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/TraceSegments":
                    # X-Ray PutTraceSegments (restJson1), for AWS_ENDPOINT_URL_XRAY pointing here.
                    try:
                        docs = json.loads(body).get("TraceSegmentDocuments", [])
                    except ValueError:
                        docs = []
                    standin.xray_segments += len(docs)
                    standin.xray_requests += 1
                    self._reply(200, b'{"UnprocessedTraceSegments":[]}')
                    return
                if self.path.endswith("/operation/PutMetricData"):
                    # CloudWatch PutMetricData (Smithy RPC v2 CBOR): an empty map is success.
                    standin.cloudwatch_requests += 1
                    self._reply(200, b"\xa0", {"Content-Type": "application/cbor",
                                               "smithy-protocol": "rpc-v2-cbor"})
                    return
                parts = self.path.split("/")
                # /2018-06-01/runtime/invocation/<id>/response | /error, or /runtime/init/error
                kind = parts[-1]
                request_id = parts[-2] if len(parts) >= 3 and parts[-3] == "invocation" else "init"
                if kind == "response" and standin.first_result_ns is None:
                    standin.first_result_ns = now
                # Called before the 202: the function is parked waiting for it, so a memory
                # sample taken here sees it between invocations, always at the same point.
                if standin.on_result is not None:
                    standin.on_result(request_id, kind)
                standin.results.put((request_id, kind, body.decode(errors="replace"), now))
                self._reply(202, b"")

            def _reply(self, status, body, headers=None):
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # The function was killed while we answered its last request.
                    self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def push(self, request_id, body, trace):
        self.events.put((request_id, body, trace))

    def close(self):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def rss_kb(pid):
    """(VmRSS, VmHWM) of a live process in KiB, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def stop(proc):
    """Ends a process we started, by its pid, and reaps it."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
