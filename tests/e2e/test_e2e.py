"""End to end: log events written to a log group reach the real function binary through a
subscription filter; the metrics and trace segments it derives are read back through the AWS APIs.

Expected values are computed here from the events this test writes, not copied from a run."""

import base64
import datetime as dt
import gzip
import json
import os
import secrets
import time

import pytest

from conftest import REGION, client, free_port

NAMESPACE = "LogsieveE2E"
# The application whose logs are processed: its log group and Lambda function name.
FUNCTION = "shop-api"
APP_GROUP = f"/aws/lambda/{FUNCTION}"
WAIT_SECONDS = 90

CONFIG = f"""
[metrics]
namespace = "{NAMESPACE}"
sink = "cloudwatch"
lambda_platform = true

[[metrics.rule]]
metric_name = "Errors"
filter_pattern = '{{ $.level = "ERROR" }}'
metric_value = "1"
unit = "Count"
dimensions = {{ Service = "$.service" }}

[[metrics.rule]]
metric_name = "Latency"
filter_pattern = '{{ $.latency_ms >= 0 }}'
metric_value = "$.latency_ms"
unit = "Milliseconds"
dimensions = {{ Service = "$.service" }}

[traces]
sink = "xray"
annotations = {{ service = "$.service", http_status = "$.status" }}
"""


def xray_trace_id() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def w3c_trace_id() -> str:
    return f"{int(time.time()):08x}{secrets.token_hex(12)}"


def app_events():
    """Realistic application logs of two services, with trace ids in the usual spellings, a
    REPORT line and a text error. Returns (messages, expected metrics, expected traces)."""
    t1, t2, t4 = xray_trace_id(), xray_trace_id(), xray_trace_id()
    w3c = w3c_trace_id()
    t3 = f"1-{w3c[:8]}-{w3c[8:]}"
    rows = [
        {"level": "INFO", "service": "checkout", "latency_ms": 120, "status": 200,
         "trace_id": t1, "message": "order placed", "path": "/orders"},
        {"level": "ERROR", "service": "checkout", "latency_ms": 480, "status": 503,
         "trace_id": t2, "message": "payment backend unavailable"},
        {"level": "ERROR", "service": "payments", "latency_ms": 30, "status": 500,
         "traceparent": f"00-{w3c}-00f067aa0ba902b7-01", "message": "card declined by issuer"},
        {"level": "INFO", "service": "payments", "latency_ms": 50, "status": 200,
         "xray_trace_id": t4, "message": "charge ok"},
    ]
    messages = [json.dumps(r) for r in rows]
    messages.append(
        "REPORT RequestId: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\tDuration: 12.50 ms\t"
        "Billed Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB\t"
    )
    messages.append("2026-11-27T01:02:03Z ERROR worker crashed: connection reset")
    metrics = {}
    for r in rows:
        if r["level"] == "ERROR":
            key = ("Errors", "Service", r["service"])
            s, c = metrics.get(key, (0.0, 0.0))
            metrics[key] = (s + 1, c + 1)
        key = ("Latency", "Service", r["service"])
        s, c = metrics.get(key, (0.0, 0.0))
        metrics[key] = (s + r["latency_ms"], c + 1)
    # The built-in Lambda metrics of the one REPORT line, named after the log group's function.
    metrics[("Duration", "FunctionName", FUNCTION)] = (12.5, 1.0)
    metrics[("BilledDuration", "FunctionName", FUNCTION)] = (13.0, 1.0)
    metrics[("MaxMemoryUsed", "FunctionName", FUNCTION)] = (41.0, 1.0)
    traces = {
        t1: {"service": "checkout", "http_status": 200},
        t2: {"service": "checkout", "http_status": 503},
        t3: {"service": "payments", "http_status": 500},
        t4: {"service": "payments", "http_status": 200},
    }
    return messages, metrics, traces


def deploy(lam, name: str, zip_bytes: bytes, env: dict) -> str:
    try:
        lam.delete_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        pass
    resp = lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="bootstrap",
        Role="arn:aws:iam::000000000000:role/logsieve-e2e",
        Code={"ZipFile": zip_bytes},
        Timeout=30,
        MemorySize=256,
        Environment={"Variables": env},
    )
    return resp["FunctionArn"]


def function_env(name: str, cloudwatch_url: str, xray_url: str) -> dict:
    return {
        "AWS_ENDPOINT_URL_CLOUDWATCH": cloudwatch_url,
        "AWS_ENDPOINT_URL_XRAY": xray_url,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "LOGSIEVE_CONFIG": CONFIG,
        "RUST_LOG": "info",
    }


def put_events(logs, group: str, messages: list) -> None:
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    stream = f"2026/11/27/[$LATEST]{secrets.token_hex(8)}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )


def subscribe(logs, group: str, function_arn: str) -> None:
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_subscription_filter(
        logGroupName=group, filterName="logsieve", filterPattern="", destinationArn=function_arn
    )


def function_log_lines(logs, name: str) -> list:
    group = f"/aws/lambda/{name}"
    lines = []
    try:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return lines
    for s in streams:
        events = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])
        lines.extend(e["message"] for e in events["events"])
    return lines


def summaries(lines: list) -> list:
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        fields = doc.get("fields") if isinstance(doc, dict) else None
        if isinstance(fields, dict) and fields.get("message") == "logsieve invocation summary":
            out.append(fields)
    return out


def wait_for(what: str, probe, seconds: float = WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"timed out after {seconds}s waiting for {what}; last probe: {last!r}")


def metric_sum_count(cw, namespace: str, name: str, dim: str, value: str):
    now = dt.datetime.now(dt.timezone.utc)
    resp = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": dim, "Value": value}],
        StartTime=now - dt.timedelta(minutes=30),
        EndTime=now + dt.timedelta(minutes=10),
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )
    points = resp["Datapoints"]
    return (sum(p["Sum"] for p in points), sum(p["SampleCount"] for p in points))


def test_logs_in_metrics_and_traces_out(ministack, moto, function_zip):
    lam, logs, cw = client("lambda", ministack), client("logs", ministack), client("cloudwatch", ministack)
    xray = client("xray", moto)
    name = "logsieve-e2e"
    env = function_env(name, ministack.url, moto.url)
    # Self metrics are on by default; the namespace comes from the templates' parameter.
    env["LOGSIEVE_SELF_NAMESPACE"] = "Logsieve/E2E-Self"
    arn = deploy(lam, name, function_zip, env)
    subscribe(logs, APP_GROUP, arn)
    messages, expected_metrics, expected_traces = app_events()
    put_events(logs, APP_GROUP, messages)

    lines = wait_for(
        "the invocation summary",
        lambda: (lambda ls: ls if summaries(ls) else None)(function_log_lines(logs, name)),
    )
    print("SUMMARY", [line for line in lines if "invocation summary" in line][-1])
    summary = summaries(lines)
    assert summary[-1]["events_in"] == len(messages)
    # The processor's own numbers, as EMF in the function's log group.
    own = emf_sums(lines)
    assert own[("Logsieve/E2E-Self", "EventsIn", "FunctionName", name)] == (len(messages), 1)
    assert own[("Logsieve/E2E-Self", "SinkFallbacks", "FunctionName", name)] == (0, 1)

    for (metric, dim, value), (want_sum, want_count) in expected_metrics.items():
        got = wait_for(
            f"{metric}{{{dim}={value}}}",
            lambda: (lambda sc: sc if sc[1] >= want_count else None)(
                metric_sum_count(cw, NAMESPACE, metric, dim, value)
            ),
        )
        assert got == (want_sum, want_count), f"{metric}{{{dim}={value}}}"

    for trace_id, annotations in expected_traces.items():
        traces = wait_for(
            f"trace {trace_id}",
            lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"],
        )
        docs = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        assert docs, trace_id
        for doc in docs:
            assert doc["trace_id"] == trace_id
            got = doc.get("annotations", {})
            for key, want in annotations.items():
                assert str(got.get(key)) == str(want), (trace_id, key, got)


def emf_sums(lines: list) -> dict:
    """(namespace, metric, dimension, value) -> (sum, count) over every EMF document in the
    lines (each datum here has exactly one dimension)."""
    out = {}
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for m in directive["Metrics"]:
                raw = doc[m["Name"]]
                values = raw if isinstance(raw, list) else [raw]
                dims = [d for ds in directive["Dimensions"] for d in ds]
                assert len(dims) == 1, doc
                key = (directive["Namespace"], m["Name"], dims[0], doc[dims[0]])
                s, c = out.get(key, (0.0, 0.0))
                out[key] = (s + sum(values), c + len(values))
    return out


def emf_entry_count(lines: list, skip_namespace: str = "Logsieve/Processor") -> int:
    """Metric entries of every EMF document, but the processor's own (on by default)."""
    n = 0
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            n += sum(len(d["Metrics"]) for d in doc["_aws"]["CloudWatchMetrics"]
                     if d["Namespace"] != skip_namespace)
    return n


def subscription_event(group: str, messages: list) -> bytes:
    now = int(time.time() * 1000)
    doc = {
        "messageType": "DATA_MESSAGE", "owner": "000000000000", "logGroup": group,
        "logStream": "s", "subscriptionFilters": ["logsieve"],
        "logEvents": [{"id": str(i), "timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    }
    data = base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()
    return json.dumps({"awslogs": {"data": data}}).encode()


def test_cloudwatch_down_falls_back_to_emf(ministack, moto, function_zip):
    lam, logs, cw = client("lambda", ministack), client("logs", ministack), client("cloudwatch", ministack)
    name = "logsieve-e2e-fallback"
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    namespace = NAMESPACE + "Fallback"
    env = function_env(name, dead, moto.url)
    env["LOGSIEVE_CONFIG"] = CONFIG.replace(f'namespace = "{NAMESPACE}"', f'namespace = "{namespace}"')
    deploy(lam, name, function_zip, env)
    messages, expected_metrics, _ = app_events()

    resp = lam.invoke(FunctionName=name, Payload=subscription_event(APP_GROUP, messages))
    body = resp["Payload"].read()
    assert "FunctionError" not in resp, body
    assert resp["StatusCode"] == 200

    lines = wait_for(
        "the fallback summary",
        lambda: (lambda ls: ls if summaries(ls) else None)(function_log_lines(logs, name)),
    )
    summary = summaries(lines)[-1]
    print("FALLBACK SUMMARY", json.dumps(summary, sort_keys=True))
    assert summary["metrics_sent"] == 0
    assert summary["metrics_fallback"] == summary["metrics"] > 0
    got = emf_sums(lines)
    want = {(namespace, m, d, v): sc for (m, d, v), sc in expected_metrics.items()}
    assert {k: got.get(k) for k in want} == want
    # Every datum the function derived went out as EMF (the built-in Lambda metrics not listed
    # in `want` included), each exactly once.
    assert emf_entry_count(lines) == summary["metrics"]
    # The alarm the templates set on the processor's own SinkFallbacks sees every one of them.
    own = emf_sums(lines)
    assert own[("Logsieve/Processor", "SinkFallbacks", "FunctionName", name)] == (summary["metrics"], 1)
    # Nothing reached CloudWatch under that namespace: no double count once EMF is ingested.
    assert cw.list_metrics(Namespace=namespace)["Metrics"] == []


def test_xray_down_is_logged_with_trace_ids(ministack, moto, function_zip):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    name = "logsieve-e2e-xray-down"
    dead = f"http://127.0.0.1:{free_port()}"
    deploy(lam, name, function_zip, function_env(name, ministack.url, dead))
    messages, _, expected_traces = app_events()
    resp = lam.invoke(FunctionName=name, Payload=subscription_event(APP_GROUP, messages))
    assert "FunctionError" not in resp, resp["Payload"].read()
    lines = wait_for(
        "the summary",
        lambda: (lambda ls: ls if summaries(ls) else None)(function_log_lines(logs, name)),
    )
    summary = summaries(lines)[-1]
    assert summary["segments_sent"] == 0
    assert summary["segments_failed"] == len(expected_traces)
    failures = [line for line in lines if "PutTraceSegments failed" in line]
    assert failures, lines
    for trace_id in expected_traces:
        assert any(trace_id in line for line in failures), trace_id


def test_undecodable_event_fails_the_invocation(ministack, moto, function_zip):
    lam = client("lambda", ministack)
    name = "logsieve-e2e-bad"
    deploy(lam, name, function_zip, function_env(name, ministack.url, moto.url))
    resp = lam.invoke(FunctionName=name, Payload=b'{"awslogs":{"data":"bm90IGd6aXA="}}')
    body = resp["Payload"].read()
    assert resp.get("FunctionError"), body
    assert json.loads(body)["errorType"] == "Logsieve.UndecodableEvent", body


def test_own_log_group_is_skipped(ministack, moto, function_zip):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    name = "logsieve-e2e-loop"
    deploy(lam, name, function_zip, function_env(name, ministack.url, moto.url))
    messages, _, _ = app_events()
    own = subscription_event(f"/aws/lambda/{name}", messages)
    resp = lam.invoke(FunctionName=name, Payload=own)
    assert "FunctionError" not in resp, resp["Payload"].read()
    summary = wait_for("the summary", lambda: summaries(function_log_lines(logs, name)))[-1]
    assert summary["events_in"] == 0
    assert json.loads(summary["counters"])["loop_guard.own_log_group_events"] == len(messages)
