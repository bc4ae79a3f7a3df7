"""End to end: the selected records of a CloudWatch Logs batch reach the records sinks of the real
function binary (OTLP/HTTP to a real decoder, Firehose and S3 in ministack), exactly once, through
receiver faults, Firehose partial failures and spill + `logsieve redrive`.

Every expectation is computed here from the events this test writes (and from the public OTLP,
semantic-convention and X-Ray id formats), not copied from a run. Each test prints the counts it
asserts (`run.sh -s` shows them)."""

import datetime as dt
import base64
import gzip
import json
import os
import re
import secrets
import subprocess
import time

import pytest

from conftest import REGION, client, free_port
from firehose_proxy import destination_objects
from otlp_receiver import CLOSE, HANG, OtlpReceiver, ok, status
from test_e2e import function_log_lines, metric_sum_count, summaries, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The batch's owner: deliberately not ministack's account, so cloud.account.id can only come from
# the batch.
OWNER = "123456789012"
APP_FUNCTION = "shop-api"
APP_GROUP = f"/aws/lambda/{APP_FUNCTION}"
SELF_NAMESPACE = "Logsieve/RecordsE2E-Self"
METRICS_NAMESPACE = "LogsieveRecordsE2E"
# OTLP severity numbers: the lowest of each range
# (https://opentelemetry.io/docs/specs/otel/logs/data-model/#field-severitynumber).
SEVERITY = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
SPILL_FIRST_LINE_KEY = "@spill"
KEY_DATE = r"(\d{4})/(\d{2})/(\d{2})/(\d{2})"


# --- the input ---------------------------------------------------------------------------------
def xray_trace_id() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def otel_trace_id(xray: str) -> str:
    """X-Ray 1-aaaaaaaa-bbbb… → the 32 hex digits OTLP carries (drop `1-` and the dash)."""
    assert xray.startswith("1-")
    return xray[2:].replace("-", "")


class Batch:
    """One subscription batch of application logs: JSON records of two services at every level,
    trace ids in the X-Ray and W3C spellings, a nested object, and one plain-text line. `rows`
    maps each event id to what the function must make of it."""

    def __init__(self, group: str = APP_GROUP):
        self.group = group
        self.stream = f"2026/11/30/[$LATEST]{secrets.token_hex(16)}"
        w3c, w3c_span = f"{int(time.time()):08x}{secrets.token_hex(12)}", secrets.token_hex(8)
        x1, x2, x3 = xray_trace_id(), xray_trace_id(), xray_trace_id()
        rows = [
            ({"level": "INFO", "service": "checkout", "latency_ms": 120, "status": 200,
              "trace_id": x1, "message": "order placed", "path": "/orders"},
             otel_trace_id(x1), ""),
            ({"level": "ERROR", "service": "checkout", "latency_ms": 480, "status": 503,
              "trace_id": x2, "message": "payment backend unavailable"},
             otel_trace_id(x2), ""),
            ({"level": "ERROR", "service": "payments", "status": 500,
              "traceparent": f"00-{w3c}-{w3c_span}-01", "message": "card declined by issuer"},
             w3c, w3c_span),
            ({"level": "WARN", "service": "payments", "xray_trace_id": x3,
              "message": "retrying charge", "http": {"method": "POST", "status": 502},
              "attempt": 2, "cached": False, "ratio": 0.25},
             otel_trace_id(x3), ""),
            ({"level": "debug", "service": "checkout", "message": "cart loaded", "items": 3},
             "", ""),
            ({"level": "TRACE", "service": "checkout", "message": "entering handler"}, "", ""),
            ({"level": "FATAL", "service": "payments", "message": "ledger unreachable"}, "", ""),
        ]
        base = secrets.randbelow(10**49) + 10**49  # AWS event ids are 56-digit strings
        now = int(time.time() * 1000)
        self.events = []
        self.rows = {}
        for i, (row, trace, span) in enumerate(rows):
            eid = f"{base}{i:06d}"
            self.events.append({"id": eid, "timestamp": now + i, "message": json.dumps(row)})
            self.rows[eid] = {"row": row, "timestamp": now + i, "trace_id": trace, "span_id": span}
        text = "2026-11-30T01:02:03Z ERROR worker crashed: connection reset"
        eid = f"{base}{len(rows):06d}"
        self.events.append({"id": eid, "timestamp": now + len(rows), "message": text})
        self.rows[eid] = {"row": None, "text": text, "timestamp": now + len(rows),
                          "trace_id": "", "span_id": ""}
        self.ids = sorted(self.rows)

    def payload(self) -> bytes:
        doc = {
            "messageType": "DATA_MESSAGE", "owner": OWNER, "logGroup": self.group,
            "logStream": self.stream, "subscriptionFilters": ["logsieve"],
            "logEvents": self.events,
        }
        data = base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()
        return json.dumps({"awslogs": {"data": data}}).encode()


# --- fixtures (the receiver and the Firehose proxy are conftest's) ------------------------------
@pytest.fixture(scope="session")
def logsieve_cli() -> str:
    """The CLI that redrives spilled records (run.sh builds it and names it)."""
    path = os.environ.get("LOGSIEVE_E2E_CLI")
    candidates = [path] if path else [
        os.path.join(ROOT, "target", p, "logsieve") for p in ("release", "debug")
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail(f"no logsieve CLI at {candidates}: run tests/e2e/run.sh")


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --- configuration -----------------------------------------------------------------------------
def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def otlp_sink(endpoint: str, name: str = "otlp", extra: str = "") -> str:
    return (f'[[records.sinks]]\nkind = "otlp"\nname = {toml_str(name)}\n'
            f"endpoint = {toml_str(endpoint)}\n{extra}\n")


def firehose_sink(stream: str) -> str:
    return f'[[records.sinks]]\nkind = "firehose"\ndelivery_stream = {toml_str(stream)}\n'


def s3_sink(bucket: str, prefix: str) -> str:
    return (f'[[records.sinks]]\nkind = "s3"\nbucket = {toml_str(bucket)}\n'
            f"prefix = {toml_str(prefix)}\n")


def spill(bucket: str, prefix: str = "spill") -> str:
    return f"[records.spill]\nbucket = {toml_str(bucket)}\nprefix = {toml_str(prefix)}\n"


def config(*sections: str, metrics: bool = False) -> str:
    # No traces, and metrics only where a test checks they still flow: these tests are about
    # records.
    head = '[traces]\nsink = "none"\n\n[records]\nfilter_pattern = ""\nsample_rate = 1\n\n'
    if metrics:
        head = (
            f'[metrics]\nnamespace = "{METRICS_NAMESPACE}"\nsink = "cloudwatch"\n\n'
            '[[metrics.rule]]\nmetric_name = "Errors"\n'
            "filter_pattern = '{ $.level = \"ERROR\" }'\n"
            'metric_value = "1"\nunit = "Count"\ndimensions = { Service = "$.service" }\n\n'
        ) + head
    else:
        head = '[metrics]\nsink = "none"\n\n' + head
    return head + "\n".join(sections)


def function_env(name: str, ministack, moto, proxy=None) -> dict:
    return {
        # S3, Secrets Manager, CloudWatch; Firehose through the fault proxy when there is one.
        "AWS_ENDPOINT_URL": ministack.url,
        "AWS_ENDPOINT_URL_FIREHOSE": (proxy or ministack).url,
        "AWS_ENDPOINT_URL_XRAY": moto.url,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "LOGSIEVE_SELF_NAMESPACE": SELF_NAMESPACE,
        "RUST_LOG": "info",
    }


def deploy(lam, name: str, zip_bytes: bytes, env: dict, timeout: int = 30) -> str:
    try:
        lam.delete_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        pass
    resp = lam.create_function(
        FunctionName=name, Runtime="provided.al2023", Handler="bootstrap",
        Role="arn:aws:iam::000000000000:role/logsieve-e2e", Code={"ZipFile": zip_bytes},
        Timeout=timeout, MemorySize=256, Environment={"Variables": env},
    )
    return resp["FunctionArn"]


def invoke(lam, name: str, batch: Batch):
    """Synchronous invoke; returns (response, payload text, seconds it took)."""
    started = time.monotonic()
    resp = lam.invoke(FunctionName=name, Payload=batch.payload())
    body = resp["Payload"].read().decode("utf-8", "replace")
    return resp, body, time.monotonic() - started


def last_summary(logs, name: str, count: int = 1) -> tuple:
    """(the `count`-th invocation summary, its counters, every log line of the function)."""
    lines = wait_for(
        f"{count} invocation summaries of {name}",
        lambda: (lambda ls: ls if len(summaries(ls)) >= count else None)(
            function_log_lines(logs, name)
        ),
    )
    summary = summaries(lines)[count - 1]
    return summary, json.loads(summary.get("counters") or "{}"), lines


def make_bucket(s3, name: str) -> str:
    s3.create_bucket(Bucket=name)
    return name


def make_delivery_stream(ministack, name: str, bucket: str, prefix: str = "fh/") -> None:
    client("firehose", ministack).create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "RoleARN": "arn:aws:iam::000000000000:role/firehose",
            "Prefix": prefix,
        },
    )


# --- reading what arrived ----------------------------------------------------------------------
def objects(s3, bucket: str, prefix: str) -> dict:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def ndjson(body: bytes) -> list:
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def ids_once(ids: list, want: list, where: str) -> None:
    """Every wanted id exactly once, nothing else."""
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"{where}: delivered more than once: {dupes}"
    assert sorted(ids) == sorted(want), f"{where}: missing {sorted(set(want) - set(ids))}, " \
        f"unexpected {sorted(set(ids) - set(want))}"


def otlp_ids(receiver) -> list:
    return [r["attributes"].get("log.record.uid") for r in receiver.accepted_records()]


def spilled(s3, bucket: str, prefix: str, sink: str) -> dict:
    """Spill objects of one sink: key → (header, records); keys and header checked."""
    out = {}
    key_re = re.compile(rf"^{re.escape(prefix)}/{re.escape(sink)}/{KEY_DATE}/[0-9a-f]{{16}}\.ndjson\.gz$")
    for key, body in objects(s3, bucket, f"{prefix}/").items():
        assert key_re.match(key), f"spill key {key!r} is not {prefix}/{sink}/yyyy/mm/dd/HH/<hash>.ndjson.gz"
        assert body[:2] == b"\x1f\x8b", f"{key} is not gzip"
        lines = ndjson(body)
        assert lines and SPILL_FIRST_LINE_KEY in lines[0], f"{key}: no spill header: {lines[:1]}"
        out[key] = (lines[0][SPILL_FIRST_LINE_KEY], lines[1:])
    return out


def redrive(cli: str, ministack, proxy, config_text: str, tmp_path, url: str):
    """`logsieve redrive URL --config F` with the SDK pointed at ministack (Firehose through the
    proxy). Returns (exit code, objects, records sent, objects left, output)."""
    path = tmp_path / "redrive.toml"
    path.write_text(config_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ENDPOINT_URL": ministack.url,
        "AWS_ENDPOINT_URL_FIREHOSE": (proxy or ministack).url,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
    })
    env.pop("LOGSIEVE_CONFIG", None)
    proc = subprocess.run([cli, "redrive", url, "--config", str(path)], env=env,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    m = re.search(r"redrive: (\d+) objects, (\d+) records sent, (\d+) objects left", out)
    assert m, f"no redrive result line (exit {proc.returncode}):\n{out}"
    return (proc.returncode, int(m[1]), int(m[2]), int(m[3]), out)


def self_metric(lines: list, metric: str, function: str) -> float:
    """Sum of one of the function's own metrics over the EMF documents of its log (namespace
    LOGSIEVE_SELF_NAMESPACE, dimension FunctionName); 0 when never emitted."""
    total = 0.0
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("FunctionName") != function:
            continue
        for directive in (doc.get("_aws") or {}).get("CloudWatchMetrics", []):
            if directive.get("Namespace") != SELF_NAMESPACE:
                continue
            if any(m.get("Name") == metric for m in directive.get("Metrics", [])):
                raw = doc.get(metric, 0)
                total += sum(raw) if isinstance(raw, list) else raw
    return total


def report(test: str, **counts) -> None:
    print(f"RECORDS {test}: " + " ".join(f"{k}={v}" for k, v in counts.items()))


def assert_no_function_error(resp, body: str) -> None:
    assert "FunctionError" not in resp, f"invocation failed: {body}"
    assert resp["StatusCode"] == 200


# --- expectations ------------------------------------------------------------------------------
def check_otlp_record(rec: dict, batch: Batch, service: str = None) -> None:
    eid = rec["attributes"].get("log.record.uid")
    want = batch.rows[eid]
    res = rec["resource"]
    assert res.get("cloud.provider") == "aws", res
    assert res.get("cloud.region") == REGION, res
    assert res.get("cloud.account.id") == OWNER, res
    assert res.get("aws.log.group.names") == [batch.group], res
    assert res.get("aws.log.stream.names") == [batch.stream], res
    if batch.group.startswith("/aws/lambda/"):
        assert res.get("faas.name") == batch.group[len("/aws/lambda/"):], res
    else:
        assert "faas.name" not in res, res
    assert rec["scope"] == "logsieve"
    assert rec["time_unix_nano"] == want["timestamp"] * 1_000_000, eid
    assert rec["observed_time_unix_nano"] > 0, eid
    assert rec["trace_id"] == want["trace_id"], (eid, rec["trace_id"])
    assert rec["span_id"] == want["span_id"], (eid, rec["span_id"])
    row = want["row"]
    if row is None:
        # The plain-text line: the whole line is the body (its `message`); it has no level field,
        # so no severity (0 = unspecified), and no other attributes.
        assert rec["body"] == want["text"], rec
        assert (rec["severity_number"], rec["severity_text"]) == (0, ""), rec
        extra = set(rec["attributes"]) - {"log.record.uid"}
        assert all(k.startswith("@") for k in extra), (eid, sorted(extra))
        if service is not None:
            assert res.get("service.name") == service, res
        return
    level = row["level"].upper()
    assert rec["severity_number"] == SEVERITY[level], (eid, row["level"], rec["severity_number"])
    assert rec["severity_text"] == level, rec
    assert rec["body"] == row["message"], rec
    assert res.get("service.name") == (service or row["service"]), res
    # Every other field of the input, with its type (nested objects as kvlist).
    fields = {k: v for k, v in row.items() if k != "message"}
    got = {k: v for k, v in rec["attributes"].items() if k in fields}
    assert got == fields, (eid, rec["attributes"])
    extra = set(rec["attributes"]) - set(fields) - {"log.record.uid"}
    assert all(k.startswith("@") for k in extra), (eid, sorted(extra))


def check_output_record(rec: dict, batch: Batch, where: str) -> None:
    """A record as the Firehose and S3 sinks write it (the CLI's `records` objects)."""
    eid = rec.get("@id")
    assert eid in batch.rows, f"{where}: unknown record {rec}"
    want = batch.rows[eid]
    assert rec.get("@timestamp") == want["timestamp"], (where, rec)
    assert rec.get("@logGroup") == batch.group and rec.get("@logStream") == batch.stream, (where, rec)
    if want["trace_id"]:
        tid = want["trace_id"]
        assert rec.get("@traceId") == f"1-{tid[:8]}-{tid[8:]}", (where, rec)
    if want["span_id"]:
        assert rec.get("@spanId") == want["span_id"], (where, rec)
    if want["row"] is not None:
        for k, v in want["row"].items():
            assert rec.get(k) == v, (where, eid, k, rec)


# --- the tests ---------------------------------------------------------------------------------
def test_records_reach_otlp_firehose_and_s3(ministack, moto, function_zip, receiver, proxy):
    lam, logs, s3, cw = (client(s, ministack) for s in ("lambda", "logs", "s3", "cloudwatch"))
    name = unique("rec-happy")
    fh_bucket = make_bucket(s3, unique("rec-fh-dest"))
    stream = unique("rec-stream")
    make_delivery_stream(ministack, stream, fh_bucket)
    archive = make_bucket(s3, unique("rec-archive"))
    spill_bucket = make_bucket(s3, unique("rec-spill"))
    cfg = config(
        otlp_sink(receiver.url, "collector",
                  'service_name_field = "service"\nheaders = { "x-test-literal" = "literal-value" }'),
        firehose_sink(stream),
        s3_sink(archive, "logs"),
        spill(spill_bucket),
        metrics=True,
    )
    env = function_env(name, ministack, moto, proxy)
    env["LOGSIEVE_CONFIG"] = cfg
    deploy(lam, name, function_zip, env)
    batch = Batch()
    n = len(batch.ids)

    resp, body, seconds = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    summary, counters, lines = last_summary(logs, name)
    print("SUMMARY", json.dumps(summary, sort_keys=True))

    # OTLP: every record once, mapped field by field; gzip protobuf with the configured header.
    reqs = [r for r in receiver.requests() if r.accepted]
    assert reqs, receiver.answers()
    for r in reqs:
        assert r.headers.get("content-type") == "application/x-protobuf", r.headers
        assert r.headers.get("content-encoding") == "gzip", r.headers
        assert r.headers.get("x-test-literal") == "literal-value", r.headers
    assert [r.decode_error for r in receiver.requests()] == [None] * len(receiver.requests())
    ids_once(otlp_ids(receiver), batch.ids, "OTLP")
    text_id = next(i for i, w in batch.rows.items() if w["row"] is None)
    for rec in receiver.accepted_records():
        eid = rec["attributes"]["log.record.uid"]
        # The text line has no service field: its service.name is derived from the log group.
        check_otlp_record(rec, batch, APP_FUNCTION if eid == text_id else None)

    # Firehose: read back through ministack's S3 destination.
    fh = wait_for(
        "the Firehose destination objects",
        lambda: (lambda recs: recs if len(recs) >= n else None)(
            [x for b in destination_objects(s3, fh_bucket, "fh/") for x in ndjson(b)]
        ),
    )
    ids_once([x.get("@id") for x in fh], batch.ids, "Firehose")
    for rec in fh:
        check_output_record(rec, batch, "Firehose")

    # S3: gzip NDJSON under logs/<group>/yyyy/mm/dd/HH/<hash>.ndjson.gz.
    archived = objects(s3, archive, "logs/")
    key_re = re.compile(rf"^logs/aws/lambda/{APP_FUNCTION}/{KEY_DATE}/[0-9a-f]{{16}}\.ndjson\.gz$")
    s3_records = []
    now = dt.datetime.now(dt.timezone.utc)
    for key, data in archived.items():
        m = key_re.match(key)
        assert m, f"S3 key {key!r}"
        hour = dt.datetime(*map(int, m.groups()), tzinfo=dt.timezone.utc)
        assert abs((now - hour).total_seconds()) < 2 * 3600, key
        assert data[:2] == b"\x1f\x8b", f"{key} is not gzip"
        s3_records.extend(ndjson(data))
    ids_once([x.get("@id") for x in s3_records], batch.ids, "S3")
    for rec in s3_records:
        check_output_record(rec, batch, "S3")

    # Nothing spilled, every sink counted every record; the self metric sums the sinks.
    assert objects(s3, spill_bucket, "") == {}
    sent = {s: counters.get(f"records.{s}.sent", 0) for s in ("collector", "firehose", "s3")}
    assert sent == {"collector": n, "firehose": n, "s3": n}, counters
    assert self_metric(lines, "RecordsSent", name) == 3 * n
    assert self_metric(lines, "RecordsSpilled", name) == 0
    assert self_metric(lines, "RecordsLost", name) == 0

    # Metrics still go to CloudWatch as before.
    errors = {}
    for w in batch.rows.values():
        if w["row"] and w["row"]["level"] == "ERROR":
            errors[w["row"]["service"]] = errors.get(w["row"]["service"], 0) + 1
    for service, count in errors.items():
        got = wait_for(
            f"Errors{{Service={service}}}",
            lambda: (lambda sc: sc if sc[1] >= count else None)(
                metric_sum_count(cw, METRICS_NAMESPACE, "Errors", "Service", service)
            ),
        )
        assert got == (count, count), service
    report("happy", records=n, otlp_requests=len(reqs), otlp_sent=sent["collector"],
           firehose_sent=sent["firehose"], s3_sent=sent["s3"], s3_objects=len(archived),
           firehose_objects=len(destination_objects(s3, fh_bucket, "fh/")), seconds=round(seconds, 2))


def otlp_only(ministack, moto, function_zip, receiver, name: str, timeout: int = 30,
              spill_bucket: str = None, endpoint: str = None, extra: str = ""):
    """Deploy a function whose only records sink is OTLP (named `otlp`), spilling to
    `spill_bucket` when given. Returns the config text."""
    lam = client("lambda", ministack)
    sections = [otlp_sink(endpoint or receiver.url, "otlp", extra)]
    if spill_bucket:
        sections.append(spill(spill_bucket))
    cfg = config(*sections)
    env = function_env(name, ministack, moto)
    env["LOGSIEVE_CONFIG"] = cfg
    deploy(lam, name, function_zip, env, timeout)
    return cfg


@pytest.mark.parametrize("code", [502, 503, 504])
def test_otlp_retryable_status_then_success(ministack, moto, function_zip, receiver, code):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique(f"rec-{code}")
    bucket = make_bucket(s3, unique("rec-spill"))
    otlp_only(ministack, moto, function_zip, receiver, name, spill_bucket=bucket)
    receiver.script(status(code))
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    assert receiver.answers() == [str(code), "200"], receiver.answers()
    ids_once(otlp_ids(receiver), batch.ids, "OTLP")
    assert objects(s3, bucket, "") == {}
    assert counters.get("records.otlp.retries") == 1, counters
    assert counters.get("records.otlp.sent") == len(batch.ids), counters
    assert counters.get("records.otlp.spilled", 0) == 0, counters
    report(f"status-{code}", records=len(batch.ids), answers=receiver.answers(),
           retries=counters.get("records.otlp.retries"), sent=counters.get("records.otlp.sent"),
           spilled=0)


def test_otlp_429_honours_retry_after(ministack, moto, function_zip, receiver):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-429")
    bucket = make_bucket(s3, unique("rec-spill"))
    otlp_only(ministack, moto, function_zip, receiver, name, spill_bucket=bucket)
    receiver.script(status(429, retry_after="1"))
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    reqs = receiver.requests()
    assert [r.answer.label() for r in reqs] == ["429", "200"], receiver.answers()
    gap = reqs[1].at - reqs[0].at
    # Retry-After: 1 means not before a second (the backoff alone would be ~100 ms).
    assert gap >= 0.9, f"retried {gap:.3f}s after a 429 with Retry-After: 1"
    ids_once(otlp_ids(receiver), batch.ids, "OTLP")
    assert objects(s3, bucket, "") == {}
    assert counters.get("records.otlp.retries") == 1, counters
    assert counters.get("records.otlp.sent") == len(batch.ids), counters
    report("429", records=len(batch.ids), retry_gap_s=round(gap, 3),
           retries=counters.get("records.otlp.retries"), sent=counters.get("records.otlp.sent"))


def test_otlp_closed_connection_is_retried(ministack, moto, function_zip, receiver):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-close")
    bucket = make_bucket(s3, unique("rec-spill"))
    otlp_only(ministack, moto, function_zip, receiver, name, spill_bucket=bucket)
    receiver.script(CLOSE)
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    assert receiver.answers() == ["close", "200"], receiver.answers()
    ids_once(otlp_ids(receiver), batch.ids, "OTLP")
    assert objects(s3, bucket, "") == {}
    assert counters.get("records.otlp.retries") == 1, counters
    report("close", records=len(batch.ids), answers=receiver.answers(),
           retries=counters.get("records.otlp.retries"), sent=counters.get("records.otlp.sent"))


def test_otlp_partial_success_is_counted_not_retried(ministack, moto, function_zip, receiver):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    name = unique("rec-partial")
    otlp_only(ministack, moto, function_zip, receiver, name)
    receiver.script(ok(rejected=2, message="2 records over the attribute limit"))
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    assert receiver.answers() == ["200"], receiver.answers()
    assert counters.get("records.otlp.rejected") == 2, counters
    assert counters.get("records.otlp.retries", 0) == 0, counters
    report("partial-success", records=len(batch.ids), rejected=counters.get("records.otlp.rejected"))


def test_otlp_requests_respect_max_request_bytes_uncompressed(ministack, moto, function_zip, receiver):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    name = unique("rec-split")
    limit = 1500  # uncompressed protobuf bytes per request: a few of the batch's records each
    otlp_only(ministack, moto, function_zip, receiver, name,
              extra=f'max_request_bytes = {limit}\ncompression = "none"')
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    reqs = receiver.requests()
    sizes = [len(r.body) for r in reqs]
    assert all("content-encoding" not in r.headers for r in reqs), [r.headers for r in reqs]
    assert len(reqs) > 1 and max(sizes) <= limit, sizes
    ids_once(otlp_ids(receiver), batch.ids, "OTLP")
    for rec in receiver.accepted_records():
        assert rec["attributes"]["log.record.uid"] in batch.rows
    assert counters.get("records.otlp.sent") == len(batch.ids), counters
    report("max-request-bytes", records=len(batch.ids), requests=len(reqs), sizes=sizes)


def spill_then_redrive(test, ministack, proxy, s3, logs, name, batch, bucket, sink, cfg,
                       cli, tmp_path, deliver_ids):
    """After an invocation that could not deliver: every record is in the spill (once), the
    counters and self metrics say so, and `logsieve redrive` delivers each exactly once and
    empties the spill. `deliver_ids()` lists the ids that reached the sink."""
    summary, counters, lines = last_summary(logs, name)
    print("SUMMARY", json.dumps(summary, sort_keys=True))
    n = len(batch.ids)
    spill_objects = spilled(s3, bucket, "spill", sink)
    assert spill_objects, f"nothing spilled; counters {counters}"
    for header, _ in spill_objects.values():
        assert header.get("version") == 1 and header.get("sink") == sink, header
        assert header.get("owner") == OWNER, header
    recs = [r for _, rs in spill_objects.values() for r in rs]
    ids_once([r.get("@id") for r in recs], batch.ids, "spill")
    for r in recs:
        check_output_record(r, batch, "spill")
    assert counters.get(f"records.{sink}.spilled") == n, counters
    assert counters.get(f"records.{sink}.sent", 0) == 0, counters
    assert self_metric(lines, "RecordsSpilled", name) == n
    assert self_metric(lines, "RecordsLost", name) == 0

    code, n_objects, sent, left, out = redrive(cli, ministack, proxy, cfg, tmp_path,
                                               f"s3://{bucket}/spill")
    print("REDRIVE", out.strip())
    assert (code, n_objects, sent, left) == (0, len(spill_objects), n, 0), out
    assert objects(s3, bucket, "spill/") == {}, "redrive left spill objects behind"
    ids_once(deliver_ids(), batch.ids, f"{sink} after redrive")
    report(test, records=n, failed_requests=counters.get(f"records.{sink}.failed_requests"),
           retries=counters.get(f"records.{sink}.retries"), spilled=counters.get(f"records.{sink}.spilled"),
           spill_objects=len(spill_objects), redriven=sent)
    return counters


def test_otlp_hang_spills_before_the_deadline_and_redrive_delivers(
        ministack, moto, function_zip, receiver, logsieve_cli, tmp_path):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-hang")
    bucket = make_bucket(s3, unique("rec-spill"))
    timeout = 6
    cfg = otlp_only(ministack, moto, function_zip, receiver, name, timeout, spill_bucket=bucket)
    receiver.set_default(HANG)
    batch = Batch()
    resp, body, seconds = invoke(lam, name, batch)
    print(f"HANG invocation took {seconds:.2f}s with Timeout={timeout}")
    # Finished by itself: not killed at the deadline (ministack answers Sandbox.Timedout then).
    assert_no_function_error(resp, body)
    assert seconds < timeout + 3, seconds  # a stall guard; the real check is the line above
    assert receiver.requests(), "the function never reached the receiver"
    assert receiver.accepted_records() == []
    receiver.release()
    receiver.set_default(ok())
    spill_then_redrive("hang", ministack, None, s3, logs, name, batch, bucket, "otlp", cfg,
                       logsieve_cli, tmp_path, lambda: otlp_ids(receiver))


def test_otlp_unreachable_spills_and_redrive_delivers(
        ministack, moto, function_zip, receiver, logsieve_cli, tmp_path):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-dead")
    bucket = make_bucket(s3, unique("rec-spill"))
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    otlp_only(ministack, moto, function_zip, receiver, name, 6, spill_bucket=bucket, endpoint=dead)
    batch = Batch()
    resp, body, seconds = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    # The operator fixes the endpoint, then redrives with the fixed configuration.
    fixed = config(otlp_sink(receiver.url, "otlp"), spill(bucket))
    counters = spill_then_redrive("unreachable", ministack, None, s3, logs, name, batch, bucket,
                                  "otlp", fixed, logsieve_cli, tmp_path, lambda: otlp_ids(receiver))
    assert counters.get("records.otlp.failed_requests", 0) >= 1, counters
    print(f"UNREACHABLE invocation took {seconds:.2f}s with Timeout=6")


def test_otlp_tls_failure_names_the_sink_and_spills(
        ministack, moto, function_zip, receiver, logsieve_cli, tmp_path):
    """An https:// endpoint that does not speak TLS (the plain-HTTP receiver): the handshake
    fails, the error line names the sink and the failure, the records are spilled, and a
    redrive with the endpoint fixed delivers them once."""
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-tls")
    bucket = make_bucket(s3, unique("rec-spill"))
    wrong = receiver.url.replace("http://", "https://")
    otlp_only(ministack, moto, function_zip, receiver, name, 6, spill_bucket=bucket, endpoint=wrong)
    batch = Batch()
    resp, body, seconds = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    assert receiver.accepted_records() == []
    _, _, lines = last_summary(logs, name)
    errors = [l for l in lines if "records sink did not take every record" in l]
    assert errors, "no error line for the failed sink"
    assert '"sink":"otlp"' in errors[0] and "no answer" in errors[0], errors[0]
    fixed = config(otlp_sink(receiver.url, "otlp"), spill(bucket))
    assert spilled(s3, bucket, "spill", "otlp"), "nothing spilled after the TLS failure"
    code, n_objects, sent, left, out = redrive(logsieve_cli, ministack, None, fixed, tmp_path,
                                               f"s3://{bucket}/spill")
    assert (code, left) == (0, 0), out
    ids_once(otlp_ids(receiver), batch.ids, "otlp after redrive")
    report("tls-failure", error=errors[0][:160], redriven=sent, seconds=round(seconds, 2))


def test_otlp_unreachable_without_spill_fails_the_invocation(ministack, moto, function_zip, receiver):
    lam = client("lambda", ministack)
    name = unique("rec-dead-nospill")
    dead = f"http://127.0.0.1:{free_port()}"
    otlp_only(ministack, moto, function_zip, receiver, name, 6, endpoint=dead)
    resp, body, seconds = invoke(lam, name, Batch())
    # No spill: the records are kept by failing the invocation (Lambda retries it), and the
    # function fails it itself before the deadline rather than being killed.
    assert resp.get("FunctionError"), body
    # The function's own typed error (like Logsieve.UndecodableEvent), not an init failure
    # (a configuration it cannot read) nor ministack's Sandbox.Timedout.
    assert json.loads(body).get("errorType", "").startswith("Logsieve."), body
    report("unreachable-no-spill", error=json.loads(body).get("errorType"), seconds=round(seconds, 2))


def test_otlp_413_is_not_retried_and_spills(
        ministack, moto, function_zip, receiver, logsieve_cli, tmp_path):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-413")
    bucket = make_bucket(s3, unique("rec-spill"))
    cfg = otlp_only(ministack, moto, function_zip, receiver, name, spill_bucket=bucket)
    receiver.set_default(status(413))
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    # A 4xx other than 429 is never retried.
    assert receiver.answers() == ["413"], receiver.answers()
    receiver.set_default(ok())
    counters = spill_then_redrive("413", ministack, None, s3, logs, name, batch, bucket, "otlp",
                                  cfg, logsieve_cli, tmp_path, lambda: otlp_ids(receiver))
    assert counters.get("records.otlp.retries", 0) == 0, counters
    assert counters.get("records.otlp.failed_requests") == 1, counters


def firehose_only(ministack, moto, function_zip, proxy, name, stream, bucket, timeout=30):
    lam = client("lambda", ministack)
    cfg = config(firehose_sink(stream), spill(bucket))
    env = function_env(name, ministack, moto, proxy)
    env["LOGSIEVE_CONFIG"] = cfg
    deploy(lam, name, function_zip, env, timeout)
    return cfg


def firehose_ids(s3, bucket):
    return [x.get("@id") for b in destination_objects(s3, bucket, "fh/") for x in ndjson(b)]


def test_firehose_partial_failure_resends_only_failed_entries(
        ministack, moto, function_zip, proxy):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-fh-partial")
    dest = make_bucket(s3, unique("rec-fh-dest"))
    stream = unique("rec-stream")
    make_delivery_stream(ministack, stream, dest)
    bucket = make_bucket(s3, unique("rec-spill"))
    firehose_only(ministack, moto, function_zip, proxy, name, stream, bucket)
    # Fail every other entry of the first PutRecordBatch (its only entry if it has one).
    proxy.fail_next(lambda n: set(range(1, n, 2)) if n > 1 else {0})
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    batches = proxy.put_batches()
    assert batches and batches[0].failed, batches
    failed_entries = [batches[0].records[i] for i in batches[0].failed]
    resent = [r for b in batches[1:] for r in b.records]
    # Only the failed entries went again, each once.
    assert sorted(resent) == sorted(failed_entries), (len(resent), len(failed_entries))
    assert all(b.stream == stream for b in batches)
    got = wait_for("the Firehose destination",
                   lambda: (lambda ids: ids if len(ids) >= len(batch.ids) else None)(
                       firehose_ids(s3, dest)))
    ids_once(got, batch.ids, "Firehose")
    assert objects(s3, bucket, "") == {}
    assert counters.get("records.firehose.sent") == len(batch.ids), counters
    assert counters.get("records.firehose.retries", 0) >= 1, counters
    report("firehose-partial", records=len(batch.ids), entries=len(batches[0].records),
           failed_entries=len(failed_entries), resent_entries=len(resent),
           put_calls=len(batches), retries=counters.get("records.firehose.retries"),
           sent=counters.get("records.firehose.sent"))


def test_firehose_pack_puts_many_lines_in_one_record(ministack, moto, function_zip, proxy):
    """`pack = true`: the batch's lines travel in one Firehose record (Firehose bills per record,
    rounded up to 5 KB), and the destination still holds each record exactly once."""
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-fh-pack")
    dest = make_bucket(s3, unique("rec-fh-dest"))
    stream = unique("rec-stream")
    make_delivery_stream(ministack, stream, dest)
    cfg = config(firehose_sink(stream) + "pack = true\n")
    env = function_env(name, ministack, moto, proxy)
    env["LOGSIEVE_CONFIG"] = cfg
    deploy(lam, name, function_zip, env)
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    batches = proxy.put_batches()
    assert len(batches) == 1 and len(batches[0].records) == 1, batches
    got = wait_for("the Firehose destination",
                   lambda: (lambda ids: ids if len(ids) >= len(batch.ids) else None)(
                       firehose_ids(s3, dest)))
    ids_once(got, batch.ids, "Firehose (packed)")
    assert len(destination_objects(s3, dest, "fh/")) == 1
    assert counters.get("records.firehose.sent") == len(batch.ids), counters
    report("firehose-pack", records=len(batch.ids), firehose_records=1, objects=1)


def test_firehose_down_spills_and_redrive_resends(
        ministack, moto, function_zip, proxy, logsieve_cli, tmp_path):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-fh-down")
    dest = make_bucket(s3, unique("rec-fh-dest"))
    stream = unique("rec-stream")
    make_delivery_stream(ministack, stream, dest)
    bucket = make_bucket(s3, unique("rec-spill"))
    cfg = firehose_only(ministack, moto, function_zip, proxy, name, stream, bucket, timeout=6)
    proxy.fail_all()
    batch = Batch()
    resp, body, seconds = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    assert firehose_ids(s3, dest) == []
    proxy.fail_all(False)
    spill_then_redrive("firehose-down", ministack, proxy, s3, logs, name, batch, bucket,
                       "firehose", cfg, logsieve_cli, tmp_path, lambda: firehose_ids(s3, dest))
    print(f"FIREHOSE DOWN invocation took {seconds:.2f}s with Timeout=6")


def test_sinks_route_by_log_group(ministack, moto, function_zip, receiver):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    name = unique("rec-route")
    otlp_only(ministack, moto, function_zip, receiver, name,
              extra='log_groups = ["/aws/lambda/*"]\nservice_name = "shop"')
    other = Batch("/ecs/web")
    resp, body, _ = invoke(lam, name, other)
    assert_no_function_error(resp, body)
    _, counters, _ = last_summary(logs, name)
    assert receiver.requests() == [], "a record of /ecs/web reached a sink for /aws/lambda/*"
    assert counters.get("records.routed_none") == len(other.ids), counters
    app = Batch()
    resp, body, _ = invoke(lam, name, app)
    assert_no_function_error(resp, body)
    last_summary(logs, name, count=2)
    ids_once(otlp_ids(receiver), app.ids, "OTLP")
    for rec in receiver.accepted_records():
        check_otlp_record(rec, app, service="shop")
    report("routing", routed_none=counters.get("records.routed_none"),
           otlp_records=len(receiver.accepted_records()))


def env_otlp_function(ministack, moto, function_zip, receiver, name, extra_env: dict):
    """A function configured like the templates do it: environment only, no [records] sinks."""
    lam = client("lambda", ministack)
    env = function_env(name, ministack, moto)
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "storefront",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e,team=payments",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-literal=a%20b",
        "LOGSIEVE_CONFIG": config(),
    })
    env.update(extra_env)
    deploy(lam, name, function_zip, env)


def secret_string_absent(lines, body, value: str) -> None:
    leaked = [line for line in lines if value in line]
    assert not leaked, f"the secret value is in the function's log: {leaked[:3]}"
    assert value not in body


@pytest.mark.parametrize("form", ["pairs", "json"])
def test_otlp_headers_from_secrets_manager(ministack, moto, function_zip, receiver, form):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    sm = client("secretsmanager", ministack)
    value = "SECRETVALUE123"
    secret_string = (f"x-honeycomb-team={value}" if form == "pairs"
                     else json.dumps({"x-honeycomb-team": value}))
    arn = sm.create_secret(Name=unique("logsieve/otlp-headers"), SecretString=secret_string)["ARN"]
    name = unique(f"rec-secret-{form}")
    env_otlp_function(ministack, moto, function_zip, receiver, name,
                      {"LOGSIEVE_OTLP_HEADERS_SECRET_ARN": arn})
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, lines = last_summary(logs, name)
    reqs = receiver.requests()
    assert reqs and all(r.headers.get("x-honeycomb-team") == value for r in reqs), \
        [r.headers for r in reqs]
    assert all(r.headers.get("x-literal") == "a b" for r in reqs), [r.headers for r in reqs]
    ids_once(otlp_ids(receiver), batch.ids, "OTLP")
    text_id = next(i for i, w in batch.rows.items() if w["row"] is None)
    for rec in receiver.accepted_records():
        check_otlp_record(rec, batch, service="storefront")
        assert rec["resource"].get("deployment.environment") == "e2e", rec["resource"]
        assert rec["resource"].get("team") == "payments", rec["resource"]
    assert text_id in otlp_ids(receiver)
    secret_string_absent(lines, body, value)
    report(f"secret-{form}", records=len(batch.ids), requests=len(reqs),
           sent=counters.get("records.otlp.sent"))


def test_missing_headers_secret_sends_nothing_and_loses_nothing(
        ministack, moto, function_zip, receiver):
    lam, logs, s3 = client("lambda", ministack), client("logs", ministack), client("s3", ministack)
    name = unique("rec-secret-missing")
    bucket = make_bucket(s3, unique("rec-spill"))
    arn = f"arn:aws:secretsmanager:{REGION}:000000000000:secret:logsieve-does-not-exist-AbCdEf"
    env_otlp_function(ministack, moto, function_zip, receiver, name,
                      {"LOGSIEVE_OTLP_HEADERS_SECRET_ARN": arn, "LOGSIEVE_SPILL_BUCKET": bucket})
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    # Never sent without the credentials it was told to use.
    assert receiver.requests() == [], [r.headers for r in receiver.requests()]
    lines = function_log_lines(logs, name)
    assert not [line for line in lines if "panicked" in line], lines
    if resp.get("FunctionError"):
        # Failing the invocation keeps the batch (Lambda retries it); the error names the ARN.
        err = json.loads(body)
        assert err.get("errorType") != "Sandbox.Timedout", body
        assert arn in body or "secret" in body.lower(), body
        report("secret-missing", outcome="invocation failed", error=err.get("errorType"))
    else:
        # Or the records are spilled for a redrive once the secret exists.
        _, counters, _ = last_summary(logs, name)
        recs = [r for _, rs in spilled(s3, bucket, "spill", "otlp").values() for r in rs]
        ids_once([r.get("@id") for r in recs], batch.ids, "spill")
        report("secret-missing", outcome="spilled", spilled=counters.get("records.otlp.spilled"))


def test_full_logs_endpoint_is_used_as_is(ministack, moto, function_zip):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    with OtlpReceiver(path="/ingest/otlp-logs") as custom:
        name = unique("rec-logs-endpoint")
        env = function_env(name, ministack, moto)
        env.update({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": custom.logs_url, "LOGSIEVE_CONFIG": config()})
        deploy(lam, name, function_zip, env)
        batch = Batch()
        resp, body, _ = invoke(lam, name, batch)
        assert_no_function_error(resp, body)
        last_summary(logs, name)
        # Nothing appended: a request to <url>/v1/logs would be refused and recorded with its path.
        paths = [(r.path, r.decode_error) for r in custom.requests()]
        assert paths and paths == [("/ingest/otlp-logs", None)] * len(paths), paths
        ids_once(otlp_ids(custom), batch.ids, "OTLP")


def test_records_through_a_subscription_filter(ministack, moto, function_zip, receiver):
    """The way AWS delivers: PutLogEvents on a subscribed group invokes the function
    asynchronously (ministack's event ids are its own, so records are matched by body)."""
    lam, logs = client("lambda", ministack), client("logs", ministack)
    name = unique("rec-subscribed")
    fn_arn = deploy(lam, name, function_zip, {
        **function_env(name, ministack, moto),
        "LOGSIEVE_CONFIG": config(otlp_sink(receiver.url, "otlp")),
    })
    group = f"/aws/lambda/{unique('shop-sub')}"
    logs.create_log_group(logGroupName=group)
    logs.put_subscription_filter(logGroupName=group, filterName="logsieve", filterPattern="",
                                 destinationArn=fn_arn)
    stream = f"2026/11/30/[$LATEST]{secrets.token_hex(8)}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    rows = [{"level": "INFO", "service": "checkout", "message": f"order {i} placed", "n": i}
            for i in range(5)]
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": now + i, "message": json.dumps(r)} for i, r in enumerate(rows)])
    got = wait_for("the subscribed records at the receiver",
                   lambda: (lambda rs: rs if len(rs) >= len(rows) else None)(receiver.accepted_records()))
    assert sorted(r["body"] for r in got) == sorted(r["message"] for r in rows)
    for rec in got:
        assert rec["resource"].get("aws.log.group.names") == [group], rec["resource"]
        assert rec["resource"].get("aws.log.stream.names") == [stream], rec["resource"]
        assert rec["resource"].get("faas.name") == group[len("/aws/lambda/"):], rec["resource"]
        n = rec["attributes"].get("n")
        assert rec["time_unix_nano"] == (now + n) * 1_000_000, rec
        assert rec["attributes"].get("log.record.uid"), rec
    assert len({r["attributes"]["log.record.uid"] for r in got}) == len(rows)
    report("subscription", records=len(got))


def test_otlp_header_sources_in_the_config(ministack, moto, function_zip, receiver):
    """`headers` values from a Secrets Manager JSON member, an SSM parameter, an environment
    variable and a literal; none of the secret values in the function's log."""
    lam, logs = client("lambda", ministack), client("logs", ministack)
    sm, ssm = client("secretsmanager", ministack), client("ssm", ministack)
    api_key, ssm_value, env_value = "HCKEY456SECRET", "SSMVALUE789SECRET", "ENVVALUE321"
    arn = sm.create_secret(Name=unique("logsieve/honeycomb"),
                           SecretString=json.dumps({"apiKey": api_key, "other": "x"}))["ARN"]
    parameter = f"/logsieve/{unique('otlp')}/x-ssm"
    ssm.put_parameter(Name=parameter, Value=ssm_value, Type="SecureString")
    headers = (
        "headers = { "
        f'"x-honeycomb-team" = {{ secret = {toml_str(arn)}, key = "apiKey" }}, '
        f'"x-ssm" = {{ parameter = {toml_str(parameter)} }}, '
        '"x-env" = { env = "LOGSIEVE_E2E_HEADER" }, "x-other" = "literal" }'
    )
    name = unique("rec-header-sources")
    env = function_env(name, ministack, moto)
    env.update({"LOGSIEVE_CONFIG": config(otlp_sink(receiver.url, "honeycomb", headers)),
                "LOGSIEVE_E2E_HEADER": env_value})
    deploy(lam, name, function_zip, env)
    batch = Batch()
    resp, body, _ = invoke(lam, name, batch)
    assert_no_function_error(resp, body)
    _, counters, lines = last_summary(logs, name)
    want = {"x-honeycomb-team": api_key, "x-ssm": ssm_value, "x-env": env_value, "x-other": "literal"}
    reqs = receiver.requests()
    assert reqs, "nothing arrived"
    for r in reqs:
        assert {k: r.headers.get(k) for k in want} == want, r.headers
    ids_once(otlp_ids(receiver), batch.ids, "OTLP")
    assert counters.get("records.honeycomb.sent") == len(batch.ids), counters
    for value in (api_key, ssm_value):
        secret_string_absent(lines, body, value)
    report("header-sources", records=len(batch.ids), requests=len(reqs))
