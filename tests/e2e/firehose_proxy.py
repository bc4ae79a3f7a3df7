"""An HTTP proxy in front of ministack that forwards every request unchanged, except that it can
make chosen entries of a Firehose PutRecordBatch fail the way Firehose reports partial failures:
HTTP 200, `FailedPutCount` > 0, and `RequestResponses[i]` (in request order) carrying
`ErrorCode`/`ErrorMessage` for the failed entries. Only the other entries are forwarded, so what
reaches ministack's destination is exactly what Firehose would have accepted.

API: https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html"""

import base64
import collections
import dataclasses
import http.client
import http.server
import json
import threading
import urllib.parse

from otlp_receiver import read_body

PUT_RECORD_BATCH = "Firehose_20150804.PutRecordBatch"
# Hop-by-hop or recomputed headers, never copied between the two connections.
_SKIP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclasses.dataclass
class Batch:
    """One PutRecordBatch as the client sent it."""

    stream: str
    records: list  # decoded Data of each entry, in request order
    failed: list  # indices this proxy failed


class FirehoseProxy:
    """FirehoseProxy(upstream_url); point AWS_ENDPOINT_URL_FIREHOSE at `url`. Always stop()."""

    def __init__(self, upstream: str, host: str = "127.0.0.1"):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname, parsed.port or 80)
        self._lock = threading.Lock()
        self._plan = collections.deque()
        self._fail_all = False
        self.batches: list = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
                pass

            def do_POST(self):
                proxy._handle(self)

            def do_GET(self):
                proxy._handle(self)

            def do_PUT(self):
                proxy._handle(self)

            def do_DELETE(self):
                proxy._handle(self)

            def do_HEAD(self):
                proxy._handle(self)

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, *plans) -> None:
        """The next PutRecordBatch calls fail these entry indices: one plan per call, each an
        iterable of indices or a function of the entry count returning them."""
        with self._lock:
            self._plan.extend(p if callable(p) else set(p) for p in plans)

    def fail_all(self, on: bool = True) -> None:
        """Fail every entry of every PutRecordBatch (after the planned ones) while on."""
        with self._lock:
            self._fail_all = on

    def put_batches(self) -> list:
        with self._lock:
            return list(self.batches)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _failures(self, n: int) -> set:
        with self._lock:
            if self._plan:
                plan = self._plan.popleft()
                return {i for i in (plan(n) if callable(plan) else plan) if 0 <= i < n}
            return set(range(n)) if self._fail_all else set()

    def _handle(self, h) -> None:
        body = read_body(h)
        headers = [(k, v) for k, v in h.headers.items() if k.lower() not in _SKIP]
        if h.headers.get("X-Amz-Target") == PUT_RECORD_BATCH:
            try:
                doc = json.loads(body)
                entries = doc["Records"]
            except (ValueError, KeyError, TypeError):
                doc = None
            if doc is not None:
                self._put_record_batch(h, headers, doc, entries)
                return
        code, resp_headers, resp_body = self._forward(h.command, h.path, headers, body)
        _reply(h, code, resp_headers, resp_body)

    def _put_record_batch(self, h, headers, doc, entries) -> None:
        failed = self._failures(len(entries))
        with self._lock:
            self.batches.append(
                Batch(
                    doc.get("DeliveryStreamName", ""),
                    [base64.b64decode(e.get("Data", "")) for e in entries],
                    sorted(failed),
                )
            )
        kept = [e for i, e in enumerate(entries) if i not in failed]
        upstream_responses = []
        upstream_failed = 0
        code, resp_headers = 200, [("Content-Type", "application/x-amz-json-1.1")]
        if kept:
            fwd = json.dumps({**doc, "Records": kept}).encode()
            code, resp_headers, resp_body = self._forward(h.command, h.path, headers, fwd)
            if code != 200:  # a whole-call error of ministack goes back as it is
                _reply(h, code, resp_headers, resp_body)
                return
            upstream = json.loads(resp_body)
            upstream_responses = upstream.get("RequestResponses", [])
            upstream_failed = upstream.get("FailedPutCount", 0)
        merged, it = [], iter(upstream_responses)
        for i in range(len(entries)):
            if i in failed:
                merged.append(
                    {
                        "ErrorCode": "ServiceUnavailableException",
                        "ErrorMessage": "Slow down. (failed by the test's Firehose proxy)",
                    }
                )
            else:
                merged.append(next(it))
        out = json.dumps(
            {
                "FailedPutCount": len(failed) + upstream_failed,
                "Encrypted": False,
                "RequestResponses": merged,
            }
        ).encode()
        _reply(h, code, resp_headers, out)

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()


def _reply(h, code, headers, body) -> None:
    h.send_response(code)  # adds its own Server and Date
    for k, v in headers:
        if k.lower() not in _SKIP and k.lower() not in ("server", "date"):
            h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def destination_objects(s3, bucket: str, prefix: str = "") -> list:
    """Bodies of the objects a Firehose S3 destination wrote under `prefix`, oldest key first.
    ministack writes one object per record, synchronously with the put (AWS buffers records
    into larger objects; either way each object is the concatenation of record Data)."""
    bodies = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            bodies.append(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    return bodies
