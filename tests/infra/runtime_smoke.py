"""Runs the built kinesis-processor and firehose-filter binaries against a local stand-in for the
Lambda Runtime API, so the real lambda_runtime loop (payload deserialization into RawValue,
response serialization, error reporting) is exercised, not just the pure handlers.

Usage: python3 tests/infra/runtime_smoke.py DIR   (DIR holds <function>/bootstrap[.zip], e.g.
target/lambda/x86_64 from package.sh; only binaries of this machine's architecture can run).
"""

import base64
import gzip
import http.server
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

API = "/2018-06-01/runtime"


def document(group, messages, control=False):
    if control:
        return {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
                "logStream": "", "subscriptionFilters": [],
                "logEvents": [{"id": "", "timestamp": 1438485463442,
                               "message": "CWL CONTROL MESSAGE: Checking health of destination."}]}
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
            "logStream": "2026/11/27/[$LATEST]abc", "subscriptionFilters": ["logsieve"],
            "logEvents": [{"id": str(37620000 + i), "timestamp": 1700000000000 + i, "message": m}
                          for i, m in enumerate(messages)]}


def gz64(doc):
    return base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()


LINE = json.dumps({"level": "ERROR", "service": "orders", "message": "declined"})


def kinesis_event(datas):
    return {"Records": [{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "k",
                                     "sequenceNumber": seq, "data": data,
                                     "approximateArrivalTimestamp": 1700000000.1},
                         "eventSource": "aws:kinesis", "eventID": f"shardId-000000000000:{seq}",
                         "eventName": "aws:kinesis:record", "awsRegion": "us-east-1",
                         "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s"}
                        for seq, data in datas]}


def firehose_event(datas):
    return {"invocationId": "inv", "region": "us-east-1",
            "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/d",
            "records": [{"recordId": rid, "approximateArrivalTimestamp": 1700000000123, "data": d}
                        for rid, d in datas]}


class Runtime(http.server.BaseHTTPRequestHandler):
    events: "queue.Queue" = queue.Queue()
    results: "queue.Queue" = queue.Queue()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != f"{API}/invocation/next":
            self.send_error(404)
            return
        request_id, body = self.events.get()
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", "99999999999999")
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:smoke")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("/")
        # /2018-06-01/runtime/invocation/<id>/response | /error, or /runtime/init/error
        kind = parts[-1]
        request_id = parts[-2] if parts[-3] == "invocation" else "init"
        self.results.put((request_id, kind, body.decode(errors="replace")))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def binary(directory, name, workdir):
    base = Path(directory) / name
    if (base / "bootstrap").exists():
        return base / "bootstrap"
    target = Path(workdir) / name
    with zipfile.ZipFile(base / "bootstrap.zip") as z:
        z.extract("bootstrap", target)
    path = target / "bootstrap"
    path.chmod(0o755)
    return path


def run(path, port, invocations, extra_env):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "smoke",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "smoke",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/smoke",
        **extra_env,
    }
    for i, event in enumerate(invocations):
        Runtime.events.put((f"req-{i}", event))
    proc = subprocess.Popen([str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []
    try:
        for _ in invocations:
            out.append(Runtime.results.get(timeout=30))
    finally:
        proc.kill()
        proc.wait()
    return out


def main():
    directory = sys.argv[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    failures = []

    def expect(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as work:
        kin = binary(directory, "kinesis-processor", work)
        good = gz64(document("/aws/lambda/orders", [LINE]))
        results = run(kin, port, [
            kinesis_event([("101", good), ("102", "***"), ("103", good)]),
            {"awslogs": {"data": good}},
        ], {})
        rid, kind, body = results[0]
        expect(kind == "response" and json.loads(body) == {"batchItemFailures": [{"itemIdentifier": "102"}]},
               f"kinesis-processor: partial batch response names record 102 ({kind}: {body})")
        rid, kind, body = results[1]
        expect(kind == "error" and json.loads(body).get("errorType") == "Logsieve.WrongEventKind",
               f"kinesis-processor: a non-Kinesis event fails the invocation ({kind}: {body[:120]})")

        fh = binary(directory, "firehose-filter", work)
        config = '[fields]\nkeep = ["level", "service"]\n[metrics]\nsink = "none"\n[traces]\nsink = "none"\n'
        results = run(fh, port, [firehose_event([
            ("a", good), ("b", gz64(document("", [], control=True))), ("c", "%%%")])],
            {"LOGSIEVE_CONFIG": config})
        rid, kind, body = results[0]
        ok = kind == "response"
        records = json.loads(body)["records"] if ok else []
        expect(ok and [(r["recordId"], r["result"]) for r in records] ==
               [("a", "Ok"), ("b", "Dropped"), ("c", "ProcessingFailed")],
               f"firehose-filter: Ok, Dropped, ProcessingFailed ({kind}: {body[:200]})")
        if ok:
            lines = base64.b64decode(records[0]["data"]).decode().splitlines()
            first = json.loads(lines[0]) if lines else {}
            expect(len(lines) == 1 and first.get("service") == "orders",
                   f"firehose-filter: Ok data is NDJSON of the selected record ({lines})")

        # A bad configuration must stop the function before it takes any event: Lambda then
        # reports an init failure (Runtime.ExitError) instead of processing with wrong rules.
        env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
               "LOGSIEVE_CONFIG": "[nonsense"}
        proc = subprocess.run([str(fh)], env=env, capture_output=True, text=True, timeout=30)
        expect(proc.returncode != 0 and "configuration" in proc.stdout + proc.stderr and Runtime.results.empty(),
               f"firehose-filter: a bad LOGSIEVE_CONFIG stops it at init (exit {proc.returncode}: "
               f"{(proc.stdout + proc.stderr).strip()[:160]})")

    server.shutdown()
    print(f"{5 - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
