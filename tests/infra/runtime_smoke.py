"""Runs the deployable zips of the three functions against local stand-ins for the Lambda Runtime
API, so the real lambda_runtime loop (payload deserialization into RawValue, response
serialization, error reporting, the next-event request after each answer) is exercised on the
exact bytes a user deploys, not just the pure handlers.

Each function process gets its own stand-in server on its own ephemeral loopback port: a process
that outlives its last invocation can only ever ask its own server for more, so no event can go to
a process that is gone. Every wait (process, queue, socket) is bounded.

arm64 zips run on an x86_64 host under user-mode emulation (`qemu-aarch64 -L <loader root>`, with
Debian's qemu-user and libc6-arm64-cross), and the other way round on an arm64 host.

Usage: python3 tests/infra/runtime_smoke.py DIR [--repeat N]
  DIR holds <function>/bootstrap.zip (or <function>/bootstrap), e.g. target/lambda/x86_64 from
  package.sh. Prints one line per check, a table per zip (architecture, bootstrap and zip sizes,
  smoke result) and `N passed, M failed`; exits 1 on any failure.
"""

import argparse
import base64
import gzip
import http.server
import json
import os
import platform
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

API = "/2018-06-01/runtime"
NOW_MS = int(time.time() * 1000) - 60_000
FUNCTIONS = ("log-processor", "kinesis-processor", "firehose-filter")
# Bounds for stalls only (emulated arm64 starts in about a second); real figures are printed.
ANSWER_TIMEOUT = 30.0
EXIT_TIMEOUT = 10.0
# ELF e_machine values: https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}
QEMU = {"arm64": ("qemu-aarch64", "/usr/aarch64-linux-gnu"),
        "x86_64": ("qemu-x86_64", "/usr/x86_64-linux-gnu")}


def document(group, messages, control=False):
    if control:
        return {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
                "logStream": "", "subscriptionFilters": [],
                "logEvents": [{"id": "", "timestamp": 1438485463442,
                               "message": "CWL CONTROL MESSAGE: Checking health of destination."}]}
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
            "logStream": "2026/11/27/[$LATEST]abc", "subscriptionFilters": ["logsieve"],
            # Recent times: the functions drop datums outside PutMetricData's window of "now".
            "logEvents": [{"id": str(37620000 + i), "timestamp": NOW_MS + i, "message": m}
                          for i, m in enumerate(messages)]}


def gz64(doc):
    return base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()


ERROR_LINE = json.dumps({"level": "ERROR", "service": "orders", "message": "declined",
                         "user": "alice"})
INFO_LINE = json.dumps({"level": "INFO", "service": "orders", "message": "accepted"})
GOOD = gz64(document("/aws/lambda/orders", [ERROR_LINE]))
# Another batch of the same stream (other events): one error too.
GOOD_NEXT = gz64(document("/aws/lambda/orders", ['{"level": "INFO"}', ERROR_LINE]))


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


class Handler(http.server.BaseHTTPRequestHandler):
    """The Runtime API endpoints a runtime client calls; state lives on the server's StandIn."""

    # Socket timeout: a client that stops mid-request cannot hold a thread forever.
    timeout = ANSWER_TIMEOUT

    def log_message(self, *args):
        pass

    def do_GET(self):
        api = self.server.standin
        if self.path != f"{API}/invocation/next":
            self.send_error(404)
            return
        api.next_requests.put(time.monotonic())
        item = api.take_event()
        if item is None:
            # No more events for this process and it is being stopped: hang up, as the real
            # service never would, since the process is killed right after.
            self.close_connection = True
            return
        request_id, body = item
        payload = json.dumps(body).encode()
        try:
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                             "arn:aws:lambda:us-east-1:123456789012:function:smoke")
            self.send_header("Lambda-Runtime-Trace-Id",
                             "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError as e:
            # The event is lost to this process: say so at once instead of waiting for a timeout.
            api.results.put((request_id, "lost", f"{type(e).__name__}: {e}"))

    def do_POST(self):
        api = self.server.standin
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("/")
        # /2018-06-01/runtime/invocation/<id>/response | /error, or /runtime/init/error
        kind = parts[-1]
        request_id = parts[-2] if len(parts) >= 3 and parts[-3] == "invocation" else "init"
        api.results.put((request_id, kind, body.decode(errors="replace")))
        try:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass


class StandIn:
    """One Runtime API for one function process, on its own ephemeral loopback port."""

    def __init__(self, events):
        self.events = queue.Queue()
        for i, event in enumerate(events):
            self.events.put((f"req-{i}", event))
        self.results = queue.Queue()
        self.next_requests = queue.Queue()
        self.stopping = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.standin = self
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def take_event(self):
        """The next event, or None once the stand-in is stopping (bounded either way)."""
        deadline = time.monotonic() + 2 * ANSWER_TIMEOUT
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                return self.events.get(timeout=0.05)
            except queue.Empty:
                continue
        return None

    def close(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=EXIT_TIMEOUT)


class Run:
    """What one process did: answers in order, whether it came back for more, its output."""

    def __init__(self):
        self.results = []
        self.problem = None
        self.asked_again = False
        self.exit_code = None
        self.untaken = 0
        self.output = ""
        self.seconds = 0.0


def command(path, arch):
    if arch == host_arch():
        return [str(path)]
    qemu, root = QEMU[arch]
    root = os.environ.get("LOGSIEVE_QEMU_LD_PREFIX", root)
    return [qemu, "-L", root, str(path)]


def lambda_env(address, extra):
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": address,
        "AWS_LAMBDA_FUNCTION_NAME": "smoke",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "smoke",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/smoke",
        "AWS_REGION": "us-east-1",
        **extra,
    }


def run(cmd, events, extra_env, workdir, expect_exit=False):
    """Starts one process on its own stand-in and feeds it `events`: collects one answer per
    event, waits for its next-event request after the last one, then kills it. With
    `expect_exit`, waits for the process to exit on its own instead."""
    api = StandIn(events)
    result = Run()
    fd, log = tempfile.mkstemp(dir=workdir, suffix=".log")
    started = time.monotonic()
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen(cmd, env=lambda_env(api.address, extra_env),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        if expect_exit:
            try:
                result.exit_code = proc.wait(timeout=ANSWER_TIMEOUT)
            except subprocess.TimeoutExpired:
                result.problem = f"still running after {ANSWER_TIMEOUT:.0f} s"
        else:
            collect(api, proc, len(events), result)
    finally:
        result.seconds = time.monotonic() - started
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            result.problem = result.problem or "did not exit after SIGKILL"
        api.close()
        # Anything the process sent after its last expected answer (a stray response or error).
        while not api.results.empty():
            result.results.append(api.results.get_nowait())
        result.untaken = api.events.qsize()
    result.output = Path(log).read_text(errors="replace")
    os.unlink(log)
    return result


def collect(api, proc, count, result):
    for _ in range(count):
        deadline = time.monotonic() + ANSWER_TIMEOUT
        answer = None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = api.results.get(timeout=0.05)
            except queue.Empty:
                if proc.poll() is not None and api.results.empty():
                    break
        if answer is None:
            state = (f"exited {proc.returncode}" if proc.poll() is not None
                     else f"no answer within {ANSWER_TIMEOUT:.0f} s")
            result.problem = f"event {len(result.results)}: {state}"
            return
        result.results.append(answer)
    # One next-event request per event, plus one more: the runtime loop survived every answer,
    # errors included, and is waiting for work when it is killed.
    for _ in range(count + 1):
        try:
            api.next_requests.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            return
    result.asked_again = True


def emf_samples(output, namespace, metric, dimensions):
    """Samples of `metric` in the EMF documents on stdout whose dimension values match."""
    samples = []
    for line in output.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        directives = doc["_aws"].get("CloudWatchMetrics", [])
        names = {m["Name"] for d in directives if d.get("Namespace") == namespace
                 for m in d.get("Metrics", [])}
        if metric in names and all(doc.get(k) == v for k, v in dimensions.items()):
            value = doc[metric]
            samples.extend(value if isinstance(value, list) else [value])
    return samples


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def expect(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)


def answers(checks, fn, r, expected):
    """The process answered every event, in order, and nothing else."""
    ids = [rid for rid, _, _ in r.results]
    checks.expect(r.problem is None and ids == [f"req-{i}" for i in range(expected)],
                  f"{fn}: one answer per event, in order ({r.problem or ids}; {r.seconds:.2f} s)"
                  + ("" if r.problem is None else f"\n     output: {r.output.strip()[-400:]}"))
    checks.expect(r.asked_again, f"{fn}: asks for the next event after its last answer")


def smoke_log_processor(checks, cmd, work):
    fn = "log-processor"
    config = ('[metrics]\nnamespace = "Logsieve/Smoke"\nsink = "emf"\n'
              '[[metrics.rule]]\nmetric_name = "Errors"\nfilter_pattern = \'{ $.level = "ERROR" }\'\n'
              'metric_value = "1"\nunit = "Count"\ndimensions = { Service = "$.service" }\n'
              '[traces]\nsink = "none"\n')
    batch = gz64(document("/aws/lambda/orders", [ERROR_LINE, INFO_LINE, ERROR_LINE]))
    r = run(cmd, [{"awslogs": {"data": batch}}, {"awslogs": {"data": "!!!"}}],
            {"LOGSIEVE_CONFIG": config}, work)
    answers(checks, fn, r, 2)
    if len(r.results) < 2:
        return
    _, kind, body = r.results[0]
    checks.expect(kind == "response" and body.strip() == "null",
                  f"{fn}: a subscription batch succeeds ({kind}: {body[:120]})")
    samples = emf_samples(r.output, "Logsieve/Smoke", "Errors", {"Service": "orders"})
    checks.expect(sum(samples) == 2,
                  f"{fn}: EMF on stdout counts the 2 ERROR lines of service orders ({samples})")
    _, kind, body = r.results[1]
    checks.expect(kind == "error" and json.loads(body).get("errorType") == "Logsieve.UndecodableEvent",
                  f"{fn}: an undecodable event fails the invocation ({kind}: {body[:120]})")


PLANTED = Path(__file__).resolve().parents[2] / "shared/tests/fixtures/secrets/planted.jsonl"
# Production mode (records off) with every planted message routed to metric dimensions: what the
# deployed function writes (EMF, its summary and error lines) must hold none of the secrets.
CORPUS_CONFIG = ('[metrics]\nnamespace = "Corpus"\nsink = "emf"\n'
                 '[[metrics.rule]]\nmetric_name = "Messages"\nfilter_pattern = ""\n'
                 'metric_value = "1"\nunit = "Count"\ndimensions = { Message = "$.message" }\n'
                 '[[metrics.rule]]\nmetric_name = "Msgs"\nfilter_pattern = ""\n'
                 'metric_value = "1"\nunit = "Count"\ndimensions = { Msg = "$.msg" }\n'
                 '[[metrics.rule]]\nmetric_name = "Passwords"\nfilter_pattern = ""\n'
                 'metric_value = "1"\nunit = "Count"\ndimensions = { Pw = "$.password" }\n'
                 '[traces]\nsink = "none"\n')


def smoke_planted_secrets(checks, cmd, work):
    fn = "log-processor"
    corpus = [json.loads(line) for line in PLANTED.read_text().splitlines() if line.strip()]
    secrets = {s for entry in corpus for s in entry["secrets"]}
    classes = {entry["class"] for entry in corpus}
    batch = gz64(document("/aws/lambda/orders", [entry["text"] for entry in corpus]))
    for name, env in (("built-in config", {}), ("message fields as dimensions", {"LOGSIEVE_CONFIG": CORPUS_CONFIG})):
        r = run(cmd, [{"awslogs": {"data": batch}}],
                {"LOGSIEVE_METRICS_SINK": "emf", "LOGSIEVE_TRACES_SINK": "none", **env}, work)
        answers(checks, fn, r, 1)
        # A secret may leave as is or JSON-escaped inside a log line.
        leaked = sorted(s for s in secrets if s in r.output or json.dumps(s)[1:-1] in r.output)
        checks.expect(not leaked and bool(r.results),
                      f"{fn} ({name}): none of {len(secrets)} planted secrets ({len(classes)} classes) "
                      f"in anything the binary writes ({leaked[:3]})")


def smoke_kinesis_processor(checks, cmd, work):
    fn = "kinesis-processor"
    # 104 is 101 delivered again: skipped as a duplicate, not counted twice.
    r = run(cmd, [kinesis_event([("101", GOOD), ("102", "***"), ("103", GOOD_NEXT),
                                 ("104", GOOD)]),
                  {"awslogs": {"data": GOOD}}],
            {"LOGSIEVE_METRICS_SINK": "emf", "LOGSIEVE_TRACES_SINK": "none"}, work)
    answers(checks, fn, r, 2)
    if len(r.results) < 2:
        return
    _, kind, body = r.results[0]
    # 102 can never be decoded: it is rejected (counted, kept in the log), not reported for a
    # retry that could not fix it, and the records after it are processed.
    checks.expect(kind == "response" and json.loads(body) == {"batchItemFailures": []},
                  f"{fn}: no record is left for a retry ({kind}: {body[:120]})")
    # The built-in configuration counts ERROR lines as LogErrors: 101's and 103's, not 104's.
    samples = emf_samples(r.output, "Logsieve", "LogErrors", {})
    checks.expect(sum(samples) == 2,
                  f"{fn}: EMF on stdout counts the errors of 101 and 103, not 101's duplicate 104 "
                  f"({samples})")
    kept = [line for line in r.output.splitlines()
            if "can never be decoded" in line and "102" in line and "***" in line]
    checks.expect(len(kept) == 1, f"{fn}: one log line keeps record 102's data ({len(kept)})")
    _, kind, body = r.results[1]
    checks.expect(kind == "error" and json.loads(body).get("errorType") == "Logsieve.WrongEventKind",
                  f"{fn}: a non-Kinesis event fails the invocation ({kind}: {body[:120]})")


def smoke_firehose_filter(checks, cmd, work):
    fn = "firehose-filter"
    config = '[fields]\nkeep = ["level", "service"]\n[metrics]\nsink = "none"\n[traces]\nsink = "none"\n'
    r = run(cmd, [firehose_event([("a", GOOD), ("b", gz64(document("", [], control=True))),
                                  ("c", "%%%")])],
            {"LOGSIEVE_CONFIG": config}, work)
    answers(checks, fn, r, 1)
    if r.results:
        _, kind, body = r.results[0]
        ok = kind == "response"
        records = json.loads(body).get("records", []) if ok else []
        checks.expect([(x.get("recordId"), x.get("result")) for x in records] ==
                      [("a", "Ok"), ("b", "Dropped"), ("c", "ProcessingFailed")],
                      f"{fn}: Ok, Dropped, ProcessingFailed ({kind}: {body[:200]})")
        lines = base64.b64decode(records[0]["data"]).decode().splitlines() if records else []
        first = json.loads(lines[0]) if lines else {}
        checks.expect(len(lines) == 1 and first.get("service") == "orders" and "user" not in first,
                      f"{fn}: Ok data is NDJSON of the kept fields only ({lines})")

    # A bad configuration must stop the function before it takes any event: Lambda then reports
    # an init failure (Runtime.ExitError) instead of processing with wrong rules.
    r = run(cmd, [firehose_event([("a", GOOD)])], {"LOGSIEVE_CONFIG": "[nonsense"}, work,
            expect_exit=True)
    checks.expect(r.problem is None and r.exit_code not in (None, 0)
                  and "configuration" in r.output and not r.results and r.untaken == 1,
                  f"{fn}: a bad LOGSIEVE_CONFIG stops it at init, taking no event "
                  f"(exit {r.exit_code}, answers {r.results}: {r.output.strip()[-160:]})")


def smoke_log_processor_all(checks, cmd, work):
    smoke_log_processor(checks, cmd, work)
    smoke_planted_secrets(checks, cmd, work)


SMOKES = {"log-processor": smoke_log_processor_all, "kinesis-processor": smoke_kinesis_processor,
          "firehose-filter": smoke_firehose_filter}


def host_arch():
    m = platform.machine()
    return {"aarch64": "arm64", "amd64": "x86_64"}.get(m, m)


def elf_arch(path):
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        return None
    return ELF_MACHINES.get(int.from_bytes(head[18:20], "little"))


def unpack(directory, fn, work):
    """The bootstrap to run, from the zip when there is one (the bytes a user deploys), with
    what is known about the zip: its size and whether Lambda could start the bootstrap."""
    base = Path(directory) / fn
    z = base / "bootstrap.zip"
    if not z.exists():
        path = base / "bootstrap"
        return path, {"zip": None, "bootstrap": path.stat().st_size, "executable": os.access(path, os.X_OK)}
    with zipfile.ZipFile(z) as archive:
        info = archive.getinfo("bootstrap")
        target = Path(work) / fn
        archive.extract("bootstrap", target)
    path = target / "bootstrap"
    # Lambda starts /var/task/bootstrap as is: the mode bits stored in the zip must say executable.
    executable = bool((info.external_attr >> 16) & 0o111)
    path.chmod(0o755)
    return path, {"zip": z.stat().st_size, "bootstrap": info.file_size, "executable": executable}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the whole smoke test")
    args = parser.parse_args()

    checks = Checks()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        units = []
        for fn in FUNCTIONS:
            try:
                path, facts = unpack(args.directory, fn, work)
            except (OSError, KeyError, zipfile.BadZipFile) as e:
                checks.expect(False, f"{fn}: deployable bootstrap in {args.directory} ({e})")
                rows.append((fn, "?", None, None, "missing"))
                continue
            arch = elf_arch(path)
            checks.expect(arch is not None and facts["executable"],
                          f"{fn}: bootstrap is an executable ELF for {arch}")
            cmd = command(path, arch) if arch else [str(path)]
            if cmd[0] != str(path) and shutil.which(cmd[0]) is None:
                checks.expect(False, f"{fn}: {cmd[0]} is needed to run {arch} here "
                                     f"(apt-get install qemu-user libc6-arm64-cross)")
                rows.append((fn, arch, facts, None, "not run"))
                continue
            units.append((fn, arch, facts, cmd))

        tallies = {fn: [0, 0] for fn, *_ in units}
        started = time.monotonic()
        for round_no in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"-- round {round_no}/{args.repeat}", flush=True)
            for fn, arch, facts, cmd in units:
                before = len(checks.failed)
                SMOKES[fn](checks, cmd, work)
                tallies[fn][0 if len(checks.failed) == before else 1] += 1
        elapsed = time.monotonic() - started
        for fn, arch, facts, cmd in units:
            good, bad = tallies[fn]
            runner = "native" if len(cmd) == 1 else f"{Path(cmd[0]).name}"
            rows.append((fn, arch, facts, runner,
                         f"{'pass' if bad == 0 else 'FAIL'} ({good}/{good + bad} rounds)"))

    print(f"\npackage summary: {args.directory} ({args.repeat} round(s), {elapsed:.1f} s)")
    print(f"{'arch':<7} {'function':<18} {'bootstrap':>14} {'zip':>12}  {'runner':<13} smoke")
    for fn, arch, facts, runner, smoke in sorted(rows, key=lambda r: FUNCTIONS.index(r[0])):
        size = lambda k: f"{facts[k]:,} B" if facts and facts.get(k) else "-"
        print(f"{arch or '?':<7} {fn:<18} {size('bootstrap'):>14} {size('zip'):>12}  "
              f"{runner or '-':<13} {smoke}")
    print(f"{checks.passed} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
